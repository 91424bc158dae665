/* The calls of version 0.2 (C-API.md "Additions of version 0.2"):
   usocket_read_for, usocket_accept_for, usocket_receive_for (bounded by
   their own timeout, never reading or changing the socket's SO_RCVTIMEO),
   usocket_connect_for, usocket_dup_fd, usocket_server_next, usocket_server_next_datagram,
   usocket_server_reply and usocket_host_by_name (literals and "localhost"
   here; a name whose resolver order is IPv6 first in test_resolve_netns).
   Also: a close from another thread wakes each blocking one, signals keep
   their deadlines, bad input is INVALID_ARGUMENT / INVALID_HANDLE /
   WRONG_KIND. */
#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>

#include "check.h"

/* SO_RCVTIMEO of the descriptor, in ms. */
static long raw_rcvtimeo(usocket_t s)
{
    int32_t fd = -1;
    struct timeval tv;
    socklen_t len = sizeof tv;
    REQUIRE_OK(usocket_fd(s, &fd));
    REQUIRE(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0);
    return (long)tv.tv_sec * 1000 + (long)tv.tv_usec / 1000;
}

/* The socket's timeout as usocket reports it is `ms`, and its descriptor's
   SO_RCVTIMEO too (the kernel keeps it in jiffies: up to 10 ms more). */
static void timeout_is(usocket_t s, int64_t ms)
{
    int64_t v = -1;
    long raw = raw_rcvtimeo(s);
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, ms);
    CHECK_MSG(raw >= ms && raw <= ms + 10, "SO_RCVTIMEO is %ld ms, the socket's timeout %lld ms", raw, (long long)ms);
}

/* ------------------------------------------------------------------ */
/* A thread blocked in a call                                          */

enum op { OP_READ_FOR, OP_ACCEPT_FOR, OP_RECEIVE_FOR, OP_SERVER_NEXT, OP_NEXT_DATAGRAM };

struct call {
    enum op op;
    usocket_t h;
    int64_t timeout;
    int32_t rc;
    size_t n;
    uint8_t buf[64];
    usocket_t out;
    int tid;
    int returned;
    double returned_at;
};

static void *call_thread(void *arg)
{
    struct call *c = arg;
    usocket_address peer;
    __atomic_store_n(&c->tid, check_gettid(), __ATOMIC_SEQ_CST);
    switch (c->op) {
    case OP_READ_FOR:
        c->rc = usocket_read_for(c->h, c->buf, sizeof c->buf, c->timeout, &c->n);
        break;
    case OP_ACCEPT_FOR:
        c->rc = usocket_accept_for(c->h, c->timeout, &c->out, &peer);
        break;
    case OP_RECEIVE_FOR:
        c->rc = usocket_receive_for(c->h, c->buf, sizeof c->buf, c->timeout, &c->n, &peer);
        break;
    case OP_SERVER_NEXT:
        c->rc = usocket_server_next(c->h, c->timeout, &c->out, &peer);
        break;
    case OP_NEXT_DATAGRAM:
        c->rc = usocket_server_next_datagram(c->h, c->timeout, c->buf, sizeof c->buf, &c->n, &peer);
        break;
    }
    c->returned_at = now_ms();
    __atomic_store_n(&c->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Starts the call on a thread and waits (bounded) until it sleeps in the kernel. */
static void start_call(pthread_t *t, struct call *c)
{
    c->tid = 0;
    c->returned = 0;
    c->rc = 1;
    REQUIRE(pthread_create(t, NULL, call_thread, c) == 0);
    wait_blocked(&c->tid, &c->returned);
}

static void close_wakes(enum op op, usocket_t victim, int64_t timeout)
{
    pthread_t t;
    struct call c;
    double closed_at;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.h = victim;
    c.timeout = timeout;
    start_call(&t, &c);
    closed_at = now_ms();
    CHECK_OK(usocket_close(victim));
    pthread_join(t, NULL);
    CHECK_RC(c.rc, USOCKET_ERR_INVALID_HANDLE);
    CHECK_BETWEEN(c.returned_at - closed_at, 0, 100 * slow());
}

/* ------------------------------------------------------------------ */

static void test_read_for_timeouts(void)
{
    usocket_t c, s;
    uint8_t buf[16];
    size_t n = 77;
    int64_t own[] = {0, 40, 5000};
    size_t i;
    double t0;
    tcp_pair(&c, &s);
    for (i = 0; i < 3; i++) {
        CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, own[i]));
        timeout_is(s, own[i]);
        n = 77;
        t0 = now_ms();
        CHECK_RC(usocket_read_for(s, buf, sizeof buf, 0, &n), USOCKET_ERR_TIMEOUT);
        CHECK_BETWEEN(now_ms() - t0, 0, 30 * slow());
        CHECK_EQ_INT(n, 77);
        t0 = now_ms();
        CHECK_RC(usocket_read_for(s, buf, sizeof buf, 150, &n), USOCKET_ERR_TIMEOUT);
        CHECK_BETWEEN(now_ms() - t0, 140, 1000 * slow());
        timeout_is(s, own[i]);
        /* nothing consumed: what comes next is read whole */
        send_str(c, "after");
        CHECK_OK(usocket_read_for(s, buf, sizeof buf, 5000, &n));
        CHECK(n == 5 && memcmp(buf, "after", 5) == 0);
        timeout_is(s, own[i]);
    }
    /* < 0: forever, though the socket's own timeout is 40 ms */
    {
        pthread_t t;
        struct call cl;
        memset(&cl, 0, sizeof cl);
        CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 40));
        cl.op = OP_READ_FOR;
        cl.h = s;
        cl.timeout = -1;
        start_call(&t, &cl);
        timeout_is(s, 40); /* not changed during the call */
        sleep_ms(300);
        CHECK_MSG(!__atomic_load_n(&cl.returned, __ATOMIC_SEQ_CST), "read_for(-1) returned %d with nothing sent", cl.rc);
        send_str(c, "late");
        pthread_join(t, NULL);
        CHECK_OK(cl.rc);
        CHECK(cl.n == 4 && memcmp(cl.buf, "late", 4) == 0);
        timeout_is(s, 40);
    }
    /* end of file */
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_read_for(s, buf, sizeof buf, 1000, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_close(s));
}

static void test_accept_for(void)
{
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port), c, h = 55;
    usocket_address peer, mine;
    double t0;
    CHECK_OK(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 40));
    memset(&peer, 0, sizeof peer);
    t0 = now_ms();
    CHECK_RC(usocket_accept_for(l, 0, &h, &peer), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 0, 30 * slow());
    CHECK_EQ_INT(h, 55);
    t0 = now_ms();
    CHECK_RC(usocket_accept_for(l, 200, &h, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 190, 1000 * slow());
    timeout_is(l, 40);
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
    CHECK_OK(usocket_accept_for(l, 5000, &h, &peer));
    REQUIRE_OK(usocket_local_name(c, &mine));
    CHECK_EQ_INT(peer.family, 4);
    CHECK_EQ_INT(peer.port, mine.port);
    send_str(c, "hi");
    {
        uint8_t buf[2];
        read_exactly(h, buf, 2);
        CHECK(memcmp(buf, "hi", 2) == 0);
    }
    timeout_is(l, 40);
    CHECK_OK(usocket_close(h));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(l));
}

static void test_receive_for(void)
{
    uint16_t port, vport;
    usocket_t u = udp_socket(&port), v = udp_socket(&vport);
    uint8_t buf[16];
    size_t n = 66, sent;
    usocket_address from;
    double t0;
    CHECK_OK(usocket_set_option(u, USOCKET_OPT_RECEIVE_TIMEOUT, 5000));
    t0 = now_ms();
    CHECK_RC(usocket_receive_for(u, buf, sizeof buf, 0, &n, &from), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 0, 30 * slow());
    CHECK_EQ_INT(n, 66);
    t0 = now_ms();
    CHECK_RC(usocket_receive_for(u, buf, sizeof buf, 150, &n, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 140, 1000 * slow());
    timeout_is(u, 5000);
    CHECK_OK(usocket_send(v, (const uint8_t *)"0123456789", 10, "127.0.0.1", port, &sent));
    CHECK_OK(usocket_receive_for(u, buf, 4, 5000, &n, &from));
    CHECK(n == 4 && memcmp(buf, "0123", 4) == 0);
    CHECK_EQ_INT(from.port, vport);
    CHECK_OK(usocket_send(v, NULL, 0, "127.0.0.1", port, &sent));
    CHECK_OK(usocket_receive_for(u, buf, sizeof buf, 5000, &n, NULL));
    CHECK_EQ_INT(n, 0);
    timeout_is(u, 5000);
    CHECK_OK(usocket_close(u));
    CHECK_OK(usocket_close(v));
}

static void test_dup_fd(void)
{
    usocket_t c, s;
    int32_t fd = -1, own = -1;
    uint8_t buf[16];
    size_t n;
    struct pollfd p;
    ssize_t got;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_dup_fd(s, &fd));
    REQUIRE_OK(usocket_fd(s, &own));
    CHECK(fd >= 0 && fd != own);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(send(fd, "dup", 3, MSG_NOSIGNAL) == 3);
    read_exactly(c, buf, 3);
    CHECK(memcmp(buf, "dup", 3) == 0);
    /* The handle closed, the duplicate and the connection stay. */
    CHECK_OK(usocket_close(s));
    CHECK(fcntl(fd, F_GETFD) >= 0);
    CHECK_RC(usocket_read_for(c, buf, sizeof buf, 100, &n), USOCKET_ERR_TIMEOUT);
    send_str(c, "still");
    p.fd = fd;
    p.events = POLLIN;
    CHECK(poll(&p, 1, 5000) == 1);
    got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(got == 5 && memcmp(buf, "still", 5) == 0);
    close(fd);
    CHECK_OK(usocket_read_for(c, buf, sizeof buf, 5000, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_close(c));
    /* shutdown ends it for the duplicate too */
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_dup_fd(s, &fd));
    CHECK_OK(usocket_shutdown(s, USOCKET_SHUT_BOTH));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_read_for(c, buf, sizeof buf, 5000, &n));
    CHECK_EQ_INT(n, 0);
    CHECK(recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0);
    close(fd);
    CHECK_OK(usocket_close(c));
}

static void tcp_handler(void *ud, usocket_t client, const usocket_address *peer)
{
    (void)ud;
    (void)client;
    (void)peer;
}

static void test_server_next(void)
{
    usocket_server_options o;
    usocket_t srv, cl[3], h = 0;
    usocket_address peer, mine;
    uint16_t port;
    double t0;
    int i;
    usocket_server_options_init(&o);
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &srv));
    port = local_port(srv);
    t0 = now_ms();
    CHECK_RC(usocket_server_next(srv, 0, &h, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 0, 30 * slow());
    t0 = now_ms();
    CHECK_RC(usocket_server_next(srv, 150, &h, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 140, 1000 * slow());
    CHECK_RC(usocket_server_run(srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_spawn(srv), USOCKET_ERR_INVALID_ARGUMENT);
    for (i = 0; i < 3; i++)
        REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &cl[i]));
    for (i = 0; i < 3; i++) {
        CHECK_OK(usocket_server_next(srv, 5000, &h, &peer));
        REQUIRE_OK(usocket_local_name(cl[i], &mine));
        CHECK_EQ_INT(peer.port, mine.port);
        CHECK_OK(usocket_close(h));
        CHECK_OK(usocket_close(cl[i]));
    }
    CHECK_OK(usocket_server_stop(srv));
    CHECK_RC(usocket_server_next(srv, 0, &h, NULL), USOCKET_ERR_SHUTDOWN);
    CHECK_RC(usocket_server_next(srv, -1, &h, NULL), USOCKET_ERR_SHUTDOWN);
    CHECK_OK(usocket_close(srv));
    /* A server that spawn serves: INVALID_ARGUMENT. */
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, tcp_handler, NULL, NULL, &srv));
    REQUIRE_OK(usocket_server_spawn(srv));
    CHECK_RC(usocket_server_next(srv, 0, &h, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_close(srv));
    CHECK_RC(usocket_server_wait(srv, 0), USOCKET_ERR_INVALID_HANDLE);
}

static void test_server_datagrams(void)
{
    usocket_server_options o;
    usocket_t srv, u;
    uint16_t port, uport;
    uint8_t buf[64];
    size_t n = 0, sent;
    usocket_address peer, from;
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.max_buffer_size = 32;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &srv));
    port = local_port(srv);
    CHECK_RC(usocket_server_next_datagram(srv, 0, buf, sizeof buf, &n, &peer), USOCKET_ERR_TIMEOUT);
    u = udp_socket(&uport);
    CHECK_OK(usocket_send(u, (const uint8_t *)"hello world", 11, "127.0.0.1", port, &sent));
    CHECK_OK(usocket_server_next_datagram(srv, 5000, buf, 5, &n, &peer));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_EQ_INT(peer.port, uport);
    CHECK_OK(usocket_server_reply(srv, (const uint8_t *)"pong", 4, &peer));
    CHECK_OK(usocket_receive_for(u, buf, sizeof buf, 5000, &n, &from));
    CHECK(n == 4 && memcmp(buf, "pong", 4) == 0);
    CHECK_EQ_INT(from.port, port);
    memset(buf, 1, sizeof buf);
    CHECK_OK(usocket_server_reply(srv, buf, 32, &peer));
    CHECK_RC(usocket_server_reply(srv, buf, 33, &peer), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_reply(srv, buf, 1, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_next_datagram(srv, 0, buf, sizeof buf, NULL, &peer), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_server_stop(srv));
    CHECK_RC(usocket_server_next_datagram(srv, 0, buf, sizeof buf, &n, &peer), USOCKET_ERR_SHUTDOWN);
    CHECK_OK(usocket_close(srv));
    CHECK_OK(usocket_close(u));
}

static void test_host_by_name(void)
{
    usocket_address a;
    char text[USOCKET_ADDRESS_STRLEN];
    CHECK_OK(usocket_host_by_name("127.0.0.1", &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "127.0.0.1");
    CHECK_OK(usocket_host_by_name("[::1]", &a));
    CHECK_EQ_INT(a.family, 6);
    CHECK_EQ_INT(a.port, 0);
    /* localhost: 127.0.0.1 whether or not /etc/hosts also gives ::1 (IPv4 first) */
    CHECK_OK(usocket_host_by_name("localhost", &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "127.0.0.1");
    a.family = 99;
    CHECK_RC(usocket_host_by_name(NULL, &a), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_host_by_name("127.0.0.1", NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_host_by_name("\xff\xfe", &a), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_host_by_name("", &a), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(a.family, 99);
}

static void test_close_wakes_each_blocking_call(void)
{
    usocket_t c, s, l, u, srv;
    usocket_server_options o;
    int k;
    for (k = 0; k < 2; k++) {
        int64_t timeout = k ? 60000 : -1;
        tcp_pair(&c, &s);
        close_wakes(OP_READ_FOR, s, timeout);
        CHECK_OK(usocket_close(c));
        l = listener_on("127.0.0.1", NULL);
        close_wakes(OP_ACCEPT_FOR, l, timeout);
        u = udp_socket(NULL);
        close_wakes(OP_RECEIVE_FOR, u, timeout);
        usocket_server_options_init(&o);
        REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &srv));
        close_wakes(OP_SERVER_NEXT, srv, timeout);
        o.protocol = USOCKET_DATAGRAM;
        REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &srv));
        close_wakes(OP_NEXT_DATAGRAM, srv, timeout);
    }
}

static void test_stop_wakes_server_next_with_shutdown(void)
{
    usocket_server_options o;
    pthread_t t;
    struct call c;
    double at;
    usocket_server_options_init(&o);
    memset(&c, 0, sizeof c);
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &c.h));
    c.op = OP_SERVER_NEXT;
    c.timeout = -1;
    start_call(&t, &c);
    at = now_ms();
    CHECK_OK(usocket_server_stop(c.h));
    pthread_join(t, NULL);
    CHECK_RC(c.rc, USOCKET_ERR_SHUTDOWN);
    CHECK_BETWEEN(c.returned_at - at, 0, 100 * slow());
    CHECK_OK(usocket_close(c.h));
}

static void on_usr2(int sig) { (void)sig; }

/* Each _for call's timeout holds (±10%) with SIGUSR2 every millisecond. */
static void test_signals_keep_the_deadline(void)
{
    struct sigaction sa;
    usocket_t c, s, l, u, srv;
    usocket_server_options o;
    enum op ops[4] = {OP_READ_FOR, OP_ACCEPT_FOR, OP_RECEIVE_FOR, OP_SERVER_NEXT};
    int i;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    tcp_pair(&c, &s);
    l = listener_on("127.0.0.1", NULL);
    u = udp_socket(NULL);
    usocket_server_options_init(&o);
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, NULL, NULL, &srv));
    for (i = 0; i < 4; i++) {
        pthread_t t;
        struct call cl;
        double t0;
        int sent = 0;
        memset(&cl, 0, sizeof cl);
        cl.op = ops[i];
        cl.h = i == 0 ? s : i == 1 ? l : i == 2 ? u : srv;
        cl.timeout = 300;
        t0 = now_ms();
        REQUIRE(pthread_create(&t, NULL, call_thread, &cl) == 0);
        while (!__atomic_load_n(&cl.returned, __ATOMIC_SEQ_CST) && now_ms() - t0 < 10000 * slow()) {
            int tid = __atomic_load_n(&cl.tid, __ATOMIC_SEQ_CST);
            if (tid != 0) {
                syscall(SYS_tgkill, getpid(), tid, SIGUSR2);
                sent++;
            }
            sleep_ms(1);
        }
        pthread_join(t, NULL);
        CHECK_RC(cl.rc, USOCKET_ERR_TIMEOUT);
        CHECK_BETWEEN(cl.returned_at - t0, 270, 330 * slow());
        CHECK_MSG(sent > 50, "only %d signals reached op %d", sent, i);
    }
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(u));
    CHECK_OK(usocket_close(srv));
}

static void test_bad_input(void)
{
    usocket_t c, s, l = listener_on("127.0.0.1", NULL), u = udp_socket(NULL), w, h;
    uint8_t buf[8];
    size_t n;
    int32_t fd = 4321;
    usocket_address a;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_RC(usocket_read_for(s, NULL, 8, 0, &n), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_read_for(s, buf, 8, 0, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_read_for(s, buf, SIZE_MAX, 0, &n), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_accept_for(l, 0, NULL, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_receive_for(u, NULL, 8, 0, &n, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_receive_for(u, buf, 8, 0, NULL, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_dup_fd(s, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_next(0, 0, &h, NULL), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_read_for(0, buf, 8, 0, &n), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_accept_for(UINT64_MAX, 0, &h, NULL), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_receive_for(12345, buf, 8, 0, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_dup_fd(0, &fd), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_read_for(l, buf, 8, 0, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_read_for(u, buf, 8, 0, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept_for(s, 0, &h, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive_for(s, buf, 8, 0, &n, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_dup_fd(w, &fd), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_next(s, 0, &h, NULL), USOCKET_ERR_WRONG_KIND);
    a = (usocket_address){4, {127, 0, 0, 1}, 9};
    CHECK_RC(usocket_server_reply(s, buf, 1, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_next_datagram(w, 0, buf, 8, &n, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_EQ_INT(fd, 4321);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(u));
    CHECK_OK(usocket_close(w));
}

static void test_connect_for(void)
{
    usocket_t fillers[64], l, c = 77, s;
    usocket_connect_options o;
    size_t nfill, i;
    uint16_t port;
    double t0;
    l = full_listener(&port, fillers, 64, &nfill);
    usocket_connect_options_init(&o);
    o.connect_timeout_ms = 5000; /* the call's own timeout wins */
    o.timeout_ms = 300;
    t0 = now_ms();
    CHECK_RC(usocket_connect_for("127.0.0.1", port, &o, 200, &c), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 180, 1000 * slow());
    t0 = now_ms();
    CHECK_RC(usocket_connect_for("127.0.0.1", port, &o, 0, &c), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 0, 50 * slow());
    CHECK_EQ_INT(c, 77);
    for (i = 0; i < nfill; i++)
        CHECK_OK(usocket_close(fillers[i]));
    CHECK_OK(usocket_close(l));
    /* a live listener: connected, with the options' receive timeout */
    l = listener_on("127.0.0.1", &port);
    CHECK_OK(usocket_connect_for("127.0.0.1", port, &o, -1, &c));
    timeout_is(c, 300);
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_RC(usocket_connect_for("127.0.0.1", port, NULL, 1000, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_RC(usocket_connect_for(NULL, port, NULL, 1000, &c), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_connect_for("127.0.0.1", port, NULL, 1000, NULL), USOCKET_ERR_INVALID_ARGUMENT);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_connect_for),
    CHECK_CASE(test_read_for_timeouts),
    CHECK_CASE(test_accept_for),
    CHECK_CASE(test_receive_for),
    CHECK_CASE(test_dup_fd),
    CHECK_CASE(test_server_next),
    CHECK_CASE(test_server_datagrams),
    CHECK_CASE(test_host_by_name),
    CHECK_CASE(test_close_wakes_each_blocking_call),
    CHECK_CASE(test_stop_wakes_server_next_with_shutdown),
    CHECK_CASE(test_signals_keep_the_deadline),
    CHECK_CASE(test_bad_input),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
