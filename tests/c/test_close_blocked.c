/* usocket_close from another thread while a thread is blocked on the
   handle: read, write (to a full buffer), accept, receive, wait_for_input,
   wait_list_wait, once the call sleeps in the kernel (checked in
   /proc/self/task). The blocked call returns USOCKET_ERR_INVALID_HANDLE within
   100 ms, and the descriptor is released once it has returned. */
#include "check.h"

enum op { OP_READ, OP_WRITE, OP_ACCEPT, OP_RECEIVE, OP_WAIT, OP_WAIT_LIST };

struct blocked {
    enum op op;
    usocket_t h;          /* the handle the call blocks on */
    usocket_t others[2];  /* for OP_WAIT: all the sockets waited on */
    size_t nothers;
    int32_t rc;
    int returned;         /* set (atomically) when the call returned */
    int tid;              /* the blocked thread's kernel id, once it runs */
    double returned_at;
    size_t count;
};

static void *blocked_thread(void *arg)
{
    struct blocked *b = arg;
    static uint8_t big[16u << 20];
    uint8_t buf[64], st[2];
    usocket_t out, ready[4];
    __atomic_store_n(&b->tid, check_gettid(), __ATOMIC_SEQ_CST);
    switch (b->op) {
    case OP_READ:
        b->rc = usocket_read(b->h, buf, sizeof buf, &b->count);
        break;
    case OP_WRITE:
        b->rc = usocket_write(b->h, big, sizeof big, &b->count);
        break;
    case OP_ACCEPT:
        b->rc = usocket_accept(b->h, &out);
        break;
    case OP_RECEIVE:
        b->rc = usocket_receive(b->h, buf, sizeof buf, &b->count, NULL);
        break;
    case OP_WAIT:
        b->rc = usocket_wait_for_input(b->others, b->nothers, -1, st, &b->count, NULL);
        break;
    case OP_WAIT_LIST:
        b->rc = usocket_wait_list_wait(b->h, -1, ready, 4, &b->count, NULL);
        break;
    }
    b->returned_at = now_ms();
    __atomic_store_n(&b->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Starts the call, lets it block, closes `victim` (by usocket_close or, for
   wait lists, usocket_wait_list_free), and checks how the call ended. */
static void close_under(struct blocked *b, usocket_t victim, int use_free)
{
    pthread_t t;
    double closed_at, limit = 100 * slow();
    b->rc = 1;
    b->returned = 0;
    b->tid = 0;
    REQUIRE(pthread_create(&t, NULL, blocked_thread, b) == 0);
    /* The close must come while the call sleeps in the kernel (recv, send,
       accept, poll, epoll_wait), not before it started. */
    wait_blocked(&b->tid, &b->returned);
    CHECK_MSG(!__atomic_load_n(&b->returned, __ATOMIC_SEQ_CST),
              "the call returned %d (%s) before the close: not blocked", b->rc, usocket_error_name(b->rc));
    closed_at = now_ms();
    if (use_free)
        CHECK_OK(usocket_wait_list_free(victim));
    else
        CHECK_OK(usocket_close(victim));
    pthread_join(t, NULL);
    CHECK_RC(b->rc, USOCKET_ERR_INVALID_HANDLE);
    CHECK_MSG(b->returned_at - closed_at <= limit, "the blocked call returned %.1f ms after the close (limit %.0f ms)",
              b->returned_at - closed_at, limit);
    /* the handle is dead afterwards */
    CHECK_RC(usocket_close(victim), USOCKET_ERR_INVALID_HANDLE);
}

static void test_close_under_read(void)
{
    usocket_t c, s;
    struct blocked b;
    int fds;
    tcp_pair(&c, &s);
    fds = count_fds();
    memset(&b, 0, sizeof b);
    b.op = OP_READ;
    b.h = s;
    close_under(&b, s, 0);
    /* the descriptor was released once the read returned */
    CHECK_EQ_INT(count_fds(), fds - 1);
    CHECK_OK(usocket_close(c));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_close_under_read_with_timeout(void)
{
    /* a read with a long receive timeout is woken too */
    usocket_t c, s;
    struct blocked b;
    tcp_pair(&c, &s);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 10000));
    memset(&b, 0, sizeof b);
    b.op = OP_READ;
    b.h = s;
    close_under(&b, s, 0);
    CHECK_OK(usocket_close(c));
}

static void test_close_under_write(void)
{
    usocket_t c, s;
    struct blocked b;
    int fds;
    tcp_pair(&c, &s);
    /* small buffers, a peer that never reads: the write blocks */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
    fds = count_fds();
    memset(&b, 0, sizeof b);
    b.op = OP_WRITE;
    b.h = c;
    close_under(&b, c, 0);
    CHECK_EQ_INT(count_fds(), fds - 1);
    CHECK_OK(usocket_close(s));
}

static void test_close_under_accept(void)
{
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port), x = 0;
    struct blocked b;
    int fds = count_fds();
    memset(&b, 0, sizeof b);
    b.op = OP_ACCEPT;
    b.h = l;
    close_under(&b, l, 0);
    CHECK_EQ_INT(count_fds(), fds - 1);
    /* nobody listens there any more */
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &x), USOCKET_ERR_CONNECTION_REFUSED);
}

static void test_close_under_receive(void)
{
    usocket_t d = udp_socket(NULL);
    struct blocked b;
    int fds = count_fds();
    memset(&b, 0, sizeof b);
    b.op = OP_RECEIVE;
    b.h = d;
    close_under(&b, d, 0);
    CHECK_EQ_INT(count_fds(), fds - 1);
}

static void test_close_under_receive_connected(void)
{
    usocket_connect_options o;
    uint16_t port;
    usocket_t srv = udp_socket(&port), d;
    struct blocked b;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &o, &d));
    memset(&b, 0, sizeof b);
    b.op = OP_RECEIVE;
    b.h = d;
    close_under(&b, d, 0);
    CHECK_OK(usocket_close(srv));
}

static void test_close_under_wait_for_input(void)
{
    usocket_t c, s, c2, s2;
    struct blocked b;
    tcp_pair(&c, &s);
    tcp_pair(&c2, &s2);
    memset(&b, 0, sizeof b);
    b.op = OP_WAIT;
    b.others[0] = s;
    b.others[1] = s2;
    b.nothers = 2;
    /* closing one of the sockets waited on */
    close_under(&b, s2, 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(c2));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_close_under_wait_for_listener(void)
{
    usocket_t l = listener_on("127.0.0.1", NULL);
    struct blocked b;
    memset(&b, 0, sizeof b);
    b.op = OP_WAIT;
    b.others[0] = l;
    b.nothers = 1;
    close_under(&b, l, 0);
}

static void test_close_under_wait_list(void)
{
    usocket_t c, s, w;
    struct blocked b;
    int fds;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    fds = count_fds();
    memset(&b, 0, sizeof b);
    b.op = OP_WAIT_LIST;
    b.h = w;
    close_under(&b, w, 0);
    /* the list's own descriptors are gone, the socket lives */
    CHECK(count_fds() < fds);
    send_str(c, "alive");
    {
        uint8_t buf[5];
        read_exactly(s, buf, 5);
    }
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_free_under_wait_list(void)
{
    usocket_t w;
    struct blocked b;
    REQUIRE_OK(usocket_wait_list_new(&w)); /* empty, waiting forever */
    memset(&b, 0, sizeof b);
    b.op = OP_WAIT_LIST;
    b.h = w;
    close_under(&b, w, 1);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_close_under_two_readers(void)
{
    /* every call blocked on the handle returns */
    usocket_t c, s;
    struct blocked b1, b2;
    pthread_t t1, t2;
    double closed_at;
    int fds;
    tcp_pair(&c, &s);
    fds = count_fds();
    memset(&b1, 0, sizeof b1);
    memset(&b2, 0, sizeof b2);
    b1.op = b2.op = OP_READ;
    b1.h = b2.h = s;
    REQUIRE(pthread_create(&t1, NULL, blocked_thread, &b1) == 0);
    REQUIRE(pthread_create(&t2, NULL, blocked_thread, &b2) == 0);
    wait_blocked(&b1.tid, &b1.returned);
    wait_blocked(&b2.tid, &b2.returned);
    closed_at = now_ms();
    CHECK_OK(usocket_close(s));
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_RC(b1.rc, USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(b2.rc, USOCKET_ERR_INVALID_HANDLE);
    CHECK(b1.returned_at - closed_at <= 100 * slow());
    CHECK(b2.returned_at - closed_at <= 100 * slow());
    CHECK_EQ_INT(count_fds(), fds - 1);
    CHECK_OK(usocket_close(c));
}

static void test_close_races(void)
{
    /* many quick close-under-read races: never a crash, a hang, or a wrong
       status; each ends with the handle dead and nothing leaked */
    int i, rounds = under_valgrind() ? 20 : 300;
    int fds = count_fds();
    for (i = 0; i < rounds; i++) {
        usocket_t c, s;
        struct blocked b;
        pthread_t t;
        tcp_pair(&c, &s);
        memset(&b, 0, sizeof b);
        b.op = (i % 2) ? OP_READ : OP_WAIT;
        b.h = s;
        b.others[0] = s;
        b.nothers = 1;
        b.rc = 1;
        REQUIRE(pthread_create(&t, NULL, blocked_thread, &b) == 0);
        if (i % 3)
            sleep_ms(i % 5);
        CHECK_OK(usocket_close(s));
        pthread_join(t, NULL);
        /* the call may have started after the close (INVALID_HANDLE as well) */
        CHECK_RC(b.rc, USOCKET_ERR_INVALID_HANDLE);
        CHECK_OK(usocket_close(c));
    }
    CHECK_EQ_INT(count_fds(), fds);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_calls_beside_a_blocked_call(void)
{
    /* every other call works on a handle another thread is blocked on */
    usocket_t c, s, w, ready[2];
    struct blocked b;
    pthread_t t;
    int32_t k;
    int fd;
    int64_t v;
    bool avail = true;
    usocket_address a;
    uint8_t st;
    size_t n;
    tcp_pair(&c, &s);
    memset(&b, 0, sizeof b);
    b.op = OP_READ;
    b.h = s;
    b.rc = 1;
    REQUIRE(pthread_create(&t, NULL, blocked_thread, &b) == 0);
    wait_blocked(&b.tid, &b.returned);
    CHECK_OK(usocket_kind(s, &k));
    CHECK_OK(usocket_fd(s, &fd));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_BUFFER, &v));
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_KEEPALIVE, 1));
    CHECK_OK(usocket_local_name(s, &a));
    CHECK_OK(usocket_peer_name(s, &a));
    CHECK_OK(usocket_input_available(s, &avail));
    CHECK(!avail);
    CHECK_OK(usocket_wait_for_input(&s, 1, 0, &st, &n, NULL));
    CHECK_EQ_INT(n, 0);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    CHECK_OK(usocket_wait_list_wait(w, 0, ready, 2, &n, NULL));
    CHECK_EQ_INT(n, 0);
    CHECK(!__atomic_load_n(&b.returned, __ATOMIC_SEQ_CST));
    send_str(c, "wake");
    pthread_join(t, NULL);
    CHECK_OK(b.rc);
    CHECK_EQ_INT(b.count, 4);
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static const struct check_case cases[] = {
    CHECK_CASE(test_close_under_read),
    CHECK_CASE(test_close_under_read_with_timeout),
    CHECK_CASE(test_close_under_write),
    CHECK_CASE(test_close_under_accept),
    CHECK_CASE(test_close_under_receive),
    CHECK_CASE(test_close_under_receive_connected),
    CHECK_CASE(test_close_under_wait_for_input),
    CHECK_CASE(test_close_under_wait_for_listener),
    CHECK_CASE(test_close_under_wait_list),
    CHECK_CASE(test_free_under_wait_list),
    CHECK_CASE(test_close_under_two_readers),
    CHECK_CASE(test_close_races),
    CHECK_CASE(test_calls_beside_a_blocked_call),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
