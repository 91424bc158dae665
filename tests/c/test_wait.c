/* Waiting for input: usocket_wait_for_input (states, counts, remaining
   time, every kind of socket, 1,500 sockets past FD_SETSIZE) and wait lists
   (add, remove, clear, free, a closed socket leaves the list, remaining
   time, a wait costs O(ready)). */
#include <sys/select.h>

#include "check.h"

static void test_wait_states(void)
{
    usocket_t c, s, hs[2];
    uint8_t st[2] = { 9, 9 };
    size_t n = 9;
    int64_t rem = 9;
    double t0;

    tcp_pair(&c, &s);
    hs[0] = c;
    hs[1] = s;
    /* nothing to read: timeout 0 just looks */
    t0 = now_ms();
    CHECK_OK(usocket_wait_for_input(hs, 2, 0, st, &n, &rem));
    CHECK(now_ms() - t0 < 50 * slow());
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(st[0], USOCKET_STATE_NONE);
    CHECK_EQ_INT(st[1], USOCKET_STATE_NONE);
    CHECK_EQ_INT(rem, 0);
    /* a timeout that passes */
    t0 = now_ms();
    CHECK_OK(usocket_wait_for_input(hs, 2, 150, st, &n, &rem));
    CHECK_BETWEEN(now_ms() - t0, 145, 150 + 100 * slow());
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rem, 0);
    /* data on s */
    send_str(c, "x");
    t0 = now_ms();
    CHECK_OK(usocket_wait_for_input(hs, 2, 1000, st, &n, &rem));
    CHECK(now_ms() - t0 < 100 * slow());
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(st[0], USOCKET_STATE_NONE);
    CHECK_EQ_INT(st[1], USOCKET_STATE_READ);
    CHECK_BETWEEN(rem, 1000 - 100 * slow(), 1000);
    /* forever: remaining is -1 */
    CHECK_OK(usocket_wait_for_input(hs, 2, -1, st, &n, &rem));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rem, -1);
    /* remaining may be NULL */
    CHECK_OK(usocket_wait_for_input(hs, 2, -1, st, &n, NULL));
    CHECK_EQ_INT(n, 1);
    /* the same socket twice */
    hs[0] = s;
    CHECK_OK(usocket_wait_for_input(hs, 2, 0, st, &n, NULL));
    CHECK_EQ_INT(n, 2);
    CHECK(st[0] == USOCKET_STATE_READ && st[1] == USOCKET_STATE_READ);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

struct delayed_write {
    usocket_t s;
    double delay_ms;
};

static void *delayed_writer(void *arg)
{
    struct delayed_write *d = arg;
    size_t n;
    sleep_ms(d->delay_ms);
    usocket_write(d->s, (const uint8_t *)"late", 4, &n);
    return NULL;
}

static void test_wait_wakes_on_data(void)
{
    usocket_t c, s;
    uint8_t st = 9;
    size_t n = 9;
    int64_t rem = 9;
    pthread_t t;
    struct delayed_write d;
    double t0, dt;
    tcp_pair(&c, &s);
    d.s = c;
    d.delay_ms = 100;
    REQUIRE(pthread_create(&t, NULL, delayed_writer, &d) == 0);
    t0 = now_ms();
    CHECK_OK(usocket_wait_for_input(&s, 1, 2000, &st, &n, &rem));
    dt = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(st, USOCKET_STATE_READ);
    CHECK_BETWEEN(dt, 90, 100 + 100 * slow());
    /* the time left is what the wait did not use */
    CHECK_BETWEEN(rem, 2000 - dt - 5, 2000 - dt + 10 * slow());
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_wait_kinds(void)
{
    /* a listener is ready when a client waits, a datagram socket when a
       datagram does, a stream at end of file */
    uint16_t lport, dport;
    usocket_t l = listener_on("127.0.0.1", &lport), d = udp_socket(&dport), c, s, x, hs[3];
    uint8_t st[3];
    size_t n;
    tcp_pair(&c, &s);
    hs[0] = l;
    hs[1] = d;
    hs[2] = s;
    CHECK_OK(usocket_wait_for_input(hs, 3, 0, st, &n, NULL));
    CHECK_EQ_INT(n, 0);

    REQUIRE_OK(usocket_connect("127.0.0.1", lport, NULL, &x));
    CHECK_OK(usocket_wait_for_input(hs, 3, 1000, st, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK(st[0] == USOCKET_STATE_READ && st[1] == USOCKET_STATE_NONE && st[2] == USOCKET_STATE_NONE);
    {
        usocket_t acc;
        CHECK_OK(usocket_accept(l, &acc));
        CHECK_OK(usocket_close(acc));
    }
    {
        usocket_t snd = udp_socket(NULL);
        size_t k;
        CHECK_OK(usocket_send(snd, (const uint8_t *)"dg", 2, "127.0.0.1", dport, &k));
        CHECK_OK(usocket_close(snd));
    }
    CHECK_OK(usocket_wait_for_input(hs, 3, 1000, st, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK(st[0] == USOCKET_STATE_NONE && st[1] == USOCKET_STATE_READ && st[2] == USOCKET_STATE_NONE);
    {
        uint8_t b[4];
        size_t k;
        CHECK_OK(usocket_receive(d, b, 4, &k, NULL));
    }
    CHECK_OK(usocket_close(c)); /* EOF on s */
    CHECK_OK(usocket_wait_for_input(hs, 3, 1000, st, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK(st[0] == USOCKET_STATE_NONE && st[1] == USOCKET_STATE_NONE && st[2] == USOCKET_STATE_READ);
    CHECK_OK(usocket_close(x));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(d));
}

static void test_wait_bad_members(void)
{
    usocket_t c, s, w, hs[2];
    uint8_t st[2] = { 7, 7 };
    size_t n = 7;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    send_str(c, "ready");
    hs[0] = s;
    hs[1] = c;
    CHECK_OK(usocket_close(c));
    CHECK_RC(usocket_wait_for_input(hs, 2, 0, st, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
    hs[1] = w;
    CHECK_RC(usocket_wait_for_input(hs, 2, 0, st, &n, NULL), USOCKET_ERR_WRONG_KIND);
    hs[1] = 0;
    CHECK_RC(usocket_wait_for_input(hs, 2, 0, st, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
    CHECK(st[0] == 7 && st[1] == 7);
    CHECK_EQ_INT(n, 7);
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(w));
}

/* 1,500 sockets (750 connected pairs), most with descriptors >= FD_SETSIZE */
enum { PAIRS = 750, SOCKS = 2 * PAIRS };

static void make_pairs(usocket_t *socks)
{
    uint16_t port;
    usocket_listen_options lo;
    usocket_t l;
    size_t i;
    long limit = raise_nofile();
    if (limit < SOCKS + 100)
        SKIP("RLIMIT_NOFILE hard limit %ld is below %d: cannot open 1,500 sockets", limit, SOCKS + 100);
    usocket_listen_options_init(&lo);
    lo.backlog = 128;
    REQUIRE_OK(usocket_listen("127.0.0.1", 0, &lo, &l));
    port = local_port(l);
    for (i = 0; i < PAIRS; i++) {
        REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &socks[2 * i]));
        REQUIRE_OK(usocket_accept(l, &socks[2 * i + 1]));
    }
    CHECK_OK(usocket_close(l));
}

static void close_all(const usocket_t *socks, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        CHECK_OK(usocket_close(socks[i]));
}

static void test_wait_1500_sockets(void)
{
    static usocket_t socks[SOCKS];
    static uint8_t st[SOCKS];
    static const size_t ready_ix[] = { 1, 777, SOCKS - 1 };
    size_t n = 0, i, nready = 0;
    int fd = -1;
    int fds0 = count_fds();
    make_pairs(socks);
    CHECK_OK(usocket_fd(socks[SOCKS - 1], &fd));
    CHECK_MSG(fd >= FD_SETSIZE, "the last socket's descriptor %d is past FD_SETSIZE (%d)", fd, FD_SETSIZE);

    memset(st, 9, sizeof st);
    CHECK_OK(usocket_wait_for_input(socks, SOCKS, 0, st, &n, NULL));
    CHECK_EQ_INT(n, 0);
    for (i = 0; i < SOCKS; i++)
        if (st[i] != USOCKET_STATE_NONE)
            nready++;
    CHECK_EQ_INT(nready, 0);

    /* make three sockets readable, among them the one with the highest descriptor */
    for (i = 0; i < 3; i++)
        send_str(socks[ready_ix[i] - 1], "r");
    sleep_ms(20);
    CHECK_OK(usocket_wait_for_input(socks, SOCKS, 1000, st, &n, NULL));
    CHECK_EQ_INT(n, 3);
    nready = 0;
    for (i = 0; i < SOCKS; i++) {
        int want = i == ready_ix[0] || i == ready_ix[1] || i == ready_ix[2];
        if (st[i] == USOCKET_STATE_READ)
            nready++;
        CHECK_MSG(st[i] == (want ? USOCKET_STATE_READ : USOCKET_STATE_NONE), "state of socket %zu is %d", i, st[i]);
    }
    CHECK_EQ_INT(nready, 3);

    /* the same sockets in a wait list */
    {
        usocket_t w, ready[8];
        size_t k, seen = 0;
        REQUIRE_OK(usocket_wait_list_new(&w));
        for (i = 0; i < SOCKS; i++)
            REQUIRE_OK(usocket_wait_list_add(w, socks[i]));
        CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 8, &n, NULL));
        CHECK_EQ_INT(n, 3);
        for (k = 0; k < n; k++)
            for (i = 0; i < 3; i++)
                if (ready[k] == socks[ready_ix[i]])
                    seen++;
        CHECK_EQ_INT(seen, 3);
        CHECK_OK(usocket_wait_list_free(w));
    }
    close_all(socks, SOCKS);
    CHECK_EQ_INT(count_fds(), fds0);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_wait_list_basic(void)
{
    usocket_t c[3], s[3], w, ready[4];
    size_t n = 9, i;
    int64_t rem = 9;
    uint8_t b[8];
    for (i = 0; i < 3; i++)
        tcp_pair(&c[i], &s[i]);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK(w != 0);
    for (i = 0; i < 3; i++)
        CHECK_OK(usocket_wait_list_add(w, s[i]));
    CHECK_OK(usocket_wait_list_add(w, s[1])); /* twice: harmless */

    CHECK_OK(usocket_wait_list_wait(w, 0, ready, 4, &n, &rem));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rem, 0);

    send_str(c[1], "b");
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, &rem));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], s[1]);
    CHECK_BETWEEN(rem, 1000 - 100 * slow(), 1000);
    /* level-triggered: still ready until read */
    CHECK_OK(usocket_wait_list_wait(w, -1, ready, 4, &n, &rem));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rem, -1);

    /* removed: no longer reported though readable */
    CHECK_OK(usocket_wait_list_remove(w, s[1]));
    CHECK_OK(usocket_wait_list_remove(w, s[1])); /* not there: harmless */
    CHECK_OK(usocket_wait_list_remove(w, c[0])); /* never there: harmless */
    CHECK_OK(usocket_wait_list_wait(w, 50, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 0);
    /* added back */
    CHECK_OK(usocket_wait_list_add(w, s[1]));
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], s[1]);

    /* two ready */
    send_str(c[2], "c");
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 2);
    CHECK((ready[0] == s[1] && ready[1] == s[2]) || (ready[0] == s[2] && ready[1] == s[1]));

    /* cleared: nothing */
    CHECK_OK(usocket_wait_list_clear(w));
    CHECK_OK(usocket_wait_list_wait(w, 50, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_wait_list_clear(w)); /* empty: harmless */
    CHECK_OK(usocket_wait_list_add(w, s[2]));
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], s[2]);

    /* freed: the handle is dead, the sockets live on */
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_RC(usocket_wait_list_wait(w, 0, ready, 4, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_wait_list_add(w, s[0]), USOCKET_ERR_INVALID_HANDLE);
    read_exactly(s[1], b, 1);
    read_exactly(s[2], b, 1);
    CHECK_EQ_INT(b[0], 'c');
    for (i = 0; i < 3; i++) {
        CHECK_OK(usocket_close(c[i]));
        CHECK_OK(usocket_close(s[i]));
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_wait_list_kinds(void)
{
    uint16_t lport, dport;
    usocket_t l = listener_on("127.0.0.1", &lport), d = udp_socket(&dport), c, s, w, ready[4], x;
    size_t n;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, l));
    CHECK_OK(usocket_wait_list_add(w, d));
    CHECK_OK(usocket_wait_list_add(w, s));
    CHECK_OK(usocket_wait_list_wait(w, 0, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 0);
    REQUIRE_OK(usocket_connect("127.0.0.1", lport, NULL, &x));
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], l);
    {
        usocket_t acc;
        CHECK_OK(usocket_accept(l, &acc));
        CHECK_OK(usocket_close(acc));
    }
    {
        usocket_t snd = udp_socket(NULL);
        size_t k;
        CHECK_OK(usocket_send(snd, (const uint8_t *)"dg", 2, "127.0.0.1", dport, &k));
        CHECK_OK(usocket_close(snd));
    }
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], d);
    {
        uint8_t b[4];
        size_t k;
        CHECK_OK(usocket_receive(d, b, 4, &k, NULL));
    }
    CHECK_OK(usocket_close(c)); /* EOF */
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], s);
    CHECK_OK(usocket_close(w));
    CHECK_OK(usocket_close(x));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(d));
}

static void test_wait_list_cap(void)
{
    /* more ready sockets than room: cap at a time, and every one comes up */
    enum { K = 5 };
    usocket_t c[K], s[K], w, ready[2];
    int seen[K] = { 0 };
    size_t n, i, j, round;
    REQUIRE_OK(usocket_wait_list_new(&w));
    for (i = 0; i < K; i++) {
        tcp_pair(&c[i], &s[i]);
        CHECK_OK(usocket_wait_list_add(w, s[i]));
        send_str(c[i], "x");
    }
    sleep_ms(20);
    for (round = 0; round < K; round++) {
        CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 2, &n, NULL));
        CHECK_EQ_INT(n, 2);
        CHECK(ready[0] != ready[1]);
        for (j = 0; j < n; j++)
            for (i = 0; i < K; i++)
                if (ready[j] == s[i])
                    seen[i]++;
    }
    for (i = 0; i < K; i++)
        CHECK_MSG(seen[i] > 0, "ready socket %zu was never reported in %d waits of cap 2", i, K);
    CHECK_OK(usocket_wait_list_wait(w, 0, ready, 1, &n, NULL));
    CHECK_EQ_INT(n, 1);
    for (i = 0; i < K; i++) {
        CHECK_OK(usocket_close(c[i]));
        CHECK_OK(usocket_close(s[i]));
    }
    CHECK_OK(usocket_wait_list_free(w));
}

static void test_wait_list_remaining(void)
{
    usocket_t c, s, w, ready[1];
    size_t n = 9;
    int64_t rem = 9;
    double t0, dt;
    pthread_t t;
    struct delayed_write d;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    t0 = now_ms();
    CHECK_OK(usocket_wait_list_wait(w, 200, ready, 1, &n, &rem));
    CHECK_BETWEEN(now_ms() - t0, 195, 200 + 100 * slow());
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rem, 0);
    /* an empty list with a timeout just sleeps */
    {
        usocket_t e;
        REQUIRE_OK(usocket_wait_list_new(&e));
        t0 = now_ms();
        CHECK_OK(usocket_wait_list_wait(e, 80, ready, 1, &n, &rem));
        CHECK_BETWEEN(now_ms() - t0, 75, 80 + 100 * slow());
        CHECK_EQ_INT(n, 0);
        CHECK_OK(usocket_wait_list_free(e));
    }
    d.s = c;
    d.delay_ms = 100;
    REQUIRE(pthread_create(&t, NULL, delayed_writer, &d) == 0);
    t0 = now_ms();
    CHECK_OK(usocket_wait_list_wait(w, 3000, ready, 1, &n, &rem));
    dt = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK_EQ_INT(n, 1);
    CHECK_BETWEEN(dt, 90, 100 + 100 * slow());
    CHECK_BETWEEN(rem, 3000 - dt - 5, 3000 - dt + 10 * slow());
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(w));
}

static void test_wait_list_closed_socket_leaves(void)
{
    usocket_t c, s, c2, s2, w, w2, ready[4];
    size_t n;
    int fds;
    tcp_pair(&c, &s);
    tcp_pair(&c2, &s2);
    REQUIRE_OK(usocket_wait_list_new(&w));
    REQUIRE_OK(usocket_wait_list_new(&w2));
    CHECK_OK(usocket_wait_list_add(w, s));
    CHECK_OK(usocket_wait_list_add(w2, s)); /* in two lists */
    CHECK_OK(usocket_wait_list_add(w, s2));
    send_str(c, "pending");
    fds = count_fds();
    CHECK_OK(usocket_close(s));
    /* the lists do not keep it alive: its descriptor is gone at once */
    CHECK_EQ_INT(count_fds(), fds - 1);
    /* and they do not report it, though it had data pending */
    CHECK_OK(usocket_wait_list_wait(w, 50, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_wait_list_wait(w2, 50, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 0);
    CHECK_RC(usocket_wait_list_remove(w, s), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_wait_list_add(w, s), USOCKET_ERR_INVALID_HANDLE);
    /* the other member still works */
    send_str(c2, "y");
    CHECK_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ready[0], s2);
    /* a list freed first does not hold its sockets either */
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_OK(usocket_wait_list_free(w2));
    fds = count_fds();
    CHECK_OK(usocket_close(s2));
    CHECK_EQ_INT(count_fds(), fds - 1);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(c2));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

struct list_waiter {
    usocket_t w;
    int64_t timeout;
    int32_t rc;
    size_t n;
    usocket_t ready[4];
    double returned_at;
};

static void *list_wait_thread(void *arg)
{
    struct list_waiter *lw = arg;
    lw->rc = usocket_wait_list_wait(lw->w, lw->timeout, lw->ready, 4, &lw->n, NULL);
    lw->returned_at = now_ms();
    return NULL;
}

static void test_wait_list_member_closed_during_wait(void)
{
    /* closing a member under a wait: the wait goes on, never reporting it */
    usocket_t c, s, w;
    struct list_waiter lw;
    pthread_t t;
    double t0;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    memset(&lw, 0, sizeof lw);
    lw.w = w;
    lw.timeout = 400;
    lw.rc = 1;
    t0 = now_ms();
    REQUIRE(pthread_create(&t, NULL, list_wait_thread, &lw) == 0);
    sleep_ms(100);
    CHECK_OK(usocket_close(s));
    pthread_join(t, NULL);
    CHECK_OK(lw.rc);
    CHECK_EQ_INT(lw.n, 0);
    CHECK_BETWEEN(lw.returned_at - t0, 390, 400 + 150 * slow());
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(w));
}

/* The mean time of one wait (µs) on a list of `idle` idle pairs plus one
   ready socket. */
static double list_wait_cost(size_t idle, usocket_t *socks)
{
    usocket_t w, ready[4], c, s;
    size_t i, n;
    double t0, best = 1e30;
    int round;
    REQUIRE_OK(usocket_wait_list_new(&w));
    for (i = 0; i < 2 * idle; i++)
        REQUIRE_OK(usocket_wait_list_add(w, socks[i]));
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_add(w, s));
    send_str(c, "r");
    sleep_ms(10);
    for (round = 0; round < 5; round++) {
        t0 = now_ms();
        for (i = 0; i < 2000; i++) {
            REQUIRE_OK(usocket_wait_list_wait(w, 1000, ready, 4, &n, NULL));
            REQUIRE(n == 1 && ready[0] == s);
        }
        if ((now_ms() - t0) < best)
            best = now_ms() - t0;
    }
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    return best * 1000.0 / 2000.0;
}

static void test_wait_list_cost_is_o_ready(void)
{
    static usocket_t socks[SOCKS];
    double small, large;
    if (under_valgrind())
        SKIP("timing comparison not meaningful under valgrind");
    make_pairs(socks);
    small = list_wait_cost(5, socks);
    large = list_wait_cost(PAIRS, socks);
    printf("    one ready of 10 idle: %.2f us per wait; of %d idle: %.2f us\n", small, SOCKS, large);
    /* a wait that scanned every member would cost ~150 times more */
    CHECK_MSG(large < 4 * small + 5, "a wait on 1,500 idle + 1 ready costs %.2f us, on 10 idle + 1 ready %.2f us",
              large, small);
    close_all(socks, SOCKS);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_wait_states),
    CHECK_CASE(test_wait_wakes_on_data),
    CHECK_CASE(test_wait_kinds),
    CHECK_CASE(test_wait_bad_members),
    CHECK_CASE(test_wait_1500_sockets),
    CHECK_CASE(test_wait_list_basic),
    CHECK_CASE(test_wait_list_kinds),
    CHECK_CASE(test_wait_list_cap),
    CHECK_CASE(test_wait_list_remaining),
    CHECK_CASE(test_wait_list_closed_socket_leaves),
    CHECK_CASE(test_wait_list_member_closed_during_wait),
    CHECK_CASE(test_wait_list_cost_is_o_ready),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
