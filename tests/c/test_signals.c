/* Signals: no call raises SIGPIPE (the process keeps the default, deadly
   disposition here), and no call returns because of EINTR: interrupted
   calls are retried with the time that is left. */
#include <netinet/in.h>

#include "check.h"

/* ------------------------------------------------------------------ */
/* SIGPIPE                                                             */

static void default_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGPIPE, &sa, NULL) == 0);
    {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        REQUIRE(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
    }
}

/* Writes until the write fails; returns the status. */
static int32_t write_until_error(usocket_t s)
{
    static uint8_t chunk[4096];
    int i;
    for (i = 0; i < 1000; i++) {
        size_t n = 0;
        int32_t rc = usocket_write(s, chunk, sizeof chunk, &n);
        if (rc != USOCKET_OK)
            return rc;
        sleep_ms(1);
    }
    return USOCKET_OK;
}

static void test_sigpipe_peer_closed(void)
{
    usocket_t c, s;
    default_sigpipe();
    tcp_pair(&c, &s);
    CHECK_OK(usocket_close(s));
    sleep_ms(10);
    /* the first write may still succeed; the peer answers with RST; then
       EPIPE. We are still alive to check the status. */
    CHECK_RC2(write_until_error(c), USOCKET_ERR_SHUTDOWN, USOCKET_ERR_CONNECTION_RESET);
    CHECK_RC2(write_until_error(c), USOCKET_ERR_SHUTDOWN, USOCKET_ERR_CONNECTION_RESET);
    CHECK_OK(usocket_close(c));
}

static void test_sigpipe_peer_reset(void)
{
    usocket_t c, s;
    int fd;
    struct linger lg;
    default_sigpipe();
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_fd(s, &fd));
    lg.l_onoff = 1;
    lg.l_linger = 0;
    REQUIRE(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    CHECK_OK(usocket_close(s));
    sleep_ms(10);
    CHECK_RC2(write_until_error(c), USOCKET_ERR_CONNECTION_RESET, USOCKET_ERR_SHUTDOWN);
    /* after the reset has been reported: EPIPE */
    CHECK_RC2(write_until_error(c), USOCKET_ERR_SHUTDOWN, USOCKET_ERR_CONNECTION_RESET);
    CHECK_OK(usocket_close(c));
}

static void test_sigpipe_own_shutdown(void)
{
    usocket_t c, s;
    size_t n;
    default_sigpipe();
    tcp_pair(&c, &s);
    CHECK_OK(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
    CHECK_RC(usocket_write(c, (const uint8_t *)"x", 1, &n), USOCKET_ERR_SHUTDOWN);
    CHECK_EQ_INT(usocket_last_os_error(), EPIPE);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_sigpipe_datagram(void)
{
    /* a connected datagram socket after its own shutdown */
    usocket_connect_options o;
    uint16_t port;
    usocket_t srv = udp_socket(&port), d;
    size_t n;
    int32_t rc;
    default_sigpipe();
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &o, &d));
    CHECK_OK(usocket_shutdown(d, USOCKET_SHUT_OUTPUT));
    rc = usocket_send(d, (const uint8_t *)"x", 1, NULL, 0, &n);
    CHECK_MSG(rc == USOCKET_ERR_SHUTDOWN, "send after shutdown returned %d (%s)", rc, usocket_error_name(rc));
    CHECK_OK(usocket_close(d));
    CHECK_OK(usocket_close(srv));
}

/* ------------------------------------------------------------------ */
/* EINTR                                                               */

static volatile sig_atomic_t signals_caught;

static void on_sigusr1(int sig)
{
    (void)sig;
    signals_caught++;
}

/* SIGUSR1 with a handler and without SA_RESTART: system calls fail with EINTR. */
static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
    signals_caught = 0;
}

enum op { OP_READ, OP_ACCEPT, OP_RECEIVE, OP_WAIT, OP_WAIT_LIST, OP_CONNECT, OP_WRITE };

struct call {
    enum op op;
    usocket_t h;
    uint16_t port;        /* OP_CONNECT */
    int64_t timeout;      /* for waits and connect */
    int32_t rc;
    size_t count;
    int64_t remaining;
    double started, ended;
    int done;
    uint8_t *big;         /* OP_WRITE */
    size_t big_len;
};

static void *call_thread(void *arg)
{
    struct call *c = arg;
    uint8_t buf[64], st;
    usocket_t out, ready[2];
    c->started = now_ms();
    switch (c->op) {
    case OP_READ:
        c->rc = usocket_read(c->h, buf, sizeof buf, &c->count);
        break;
    case OP_ACCEPT:
        c->rc = usocket_accept(c->h, &out);
        if (c->rc == USOCKET_OK)
            usocket_close(out);
        break;
    case OP_RECEIVE:
        c->rc = usocket_receive(c->h, buf, sizeof buf, &c->count, NULL);
        break;
    case OP_WAIT:
        c->rc = usocket_wait_for_input(&c->h, 1, c->timeout, &st, &c->count, &c->remaining);
        break;
    case OP_WAIT_LIST:
        c->rc = usocket_wait_list_wait(c->h, c->timeout, ready, 2, &c->count, &c->remaining);
        break;
    case OP_CONNECT: {
        usocket_connect_options o;
        usocket_connect_options_init(&o);
        o.connect_timeout_ms = c->timeout;
        c->rc = usocket_connect("127.0.0.1", c->port, &o, &out);
        if (c->rc == USOCKET_OK)
            usocket_close(out);
        break;
    }
    case OP_WRITE:
        c->rc = usocket_write(c->h, c->big, c->big_len, &c->count);
        break;
    }
    c->ended = now_ms();
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Runs the call on a thread, pelting it with SIGUSR1 every `every_ms` for
   `for_ms` (or until it returns), then returns with the thread joined. */
static void pelt(struct call *c, double every_ms, double for_ms, void (*then)(void *), void *arg)
{
    pthread_t t;
    double t0;
    install_handler();
    c->rc = 1;
    c->done = 0;
    REQUIRE(pthread_create(&t, NULL, call_thread, c) == 0);
    t0 = now_ms();
    while (now_ms() - t0 < for_ms && !__atomic_load_n(&c->done, __ATOMIC_SEQ_CST)) {
        sleep_ms(every_ms);
        pthread_kill(t, SIGUSR1);
    }
    if (then)
        then(arg);
    pthread_join(t, NULL);
    CHECK_MSG(signals_caught > 0, "no signal reached the handler");
}

static void write_abc(void *arg)
{
    size_t n;
    CHECK_OK(usocket_write(*(usocket_t *)arg, (const uint8_t *)"abc", 3, &n));
}

static void test_eintr_read_no_timeout(void)
{
    usocket_t c, s;
    struct call k;
    tcp_pair(&c, &s);
    memset(&k, 0, sizeof k);
    k.op = OP_READ;
    k.h = s;
    pelt(&k, 10, 300, write_abc, &c);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 3);
    CHECK(k.ended - k.started >= 290);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_eintr_read_timeout(void)
{
    /* 400 ms receive timeout, signals all along: TIMEOUT after ~400 ms */
    usocket_t c, s;
    struct call k;
    tcp_pair(&c, &s);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 400));
    memset(&k, 0, sizeof k);
    k.op = OP_READ;
    k.h = s;
    pelt(&k, 15, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 395, 400 + 100 * slow());
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

/* One signal late in a 400 ms timeout: the retry gets only the time left,
   so the call still ends ~400 ms after it began (not 300 + 400 ms). */
static void late_signal(struct call *k, const char *what, int32_t expect)
{
    pthread_t t;
    install_handler();
    k->rc = 1;
    k->done = 0;
    REQUIRE(pthread_create(&t, NULL, call_thread, k) == 0);
    sleep_ms(300);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);
    CHECK_MSG(signals_caught == 1, "%s: the signal was caught", what);
    CHECK_MSG(k->rc == expect, "%s returned %d (%s), expected %s", what, k->rc, usocket_error_name(k->rc),
              usocket_error_name(expect));
    CHECK_MSG(k->ended - k->started >= 395 && k->ended - k->started <= 400 + 100 * slow(),
              "%s with a 400 ms timeout, interrupted once at 300 ms, took %.0f ms", what, k->ended - k->started);
}

static void test_eintr_late_signal_keeps_deadline(void)
{
    usocket_t c, s, l, d, w;
    uint16_t port;
    struct call k;
    usocket_t fill[64];
    size_t nfill, i;

    tcp_pair(&c, &s);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 400));
    memset(&k, 0, sizeof k);
    k.op = OP_READ;
    k.h = s;
    late_signal(&k, "usocket_read", USOCKET_ERR_TIMEOUT);

    l = listener_on("127.0.0.1", NULL);
    CHECK_OK(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 400));
    memset(&k, 0, sizeof k);
    k.op = OP_ACCEPT;
    k.h = l;
    late_signal(&k, "usocket_accept", USOCKET_ERR_TIMEOUT);

    d = udp_socket(NULL);
    CHECK_OK(usocket_set_option(d, USOCKET_OPT_RECEIVE_TIMEOUT, 400));
    memset(&k, 0, sizeof k);
    k.op = OP_RECEIVE;
    k.h = d;
    late_signal(&k, "usocket_receive", USOCKET_ERR_TIMEOUT);

    /* waits report timeouts as nready 0, not as an error */
    memset(&k, 0, sizeof k);
    k.op = OP_WAIT;
    k.h = s;
    k.timeout = 400;
    late_signal(&k, "usocket_wait_for_input", USOCKET_OK);
    CHECK_EQ_INT(k.count, 0);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    memset(&k, 0, sizeof k);
    k.op = OP_WAIT_LIST;
    k.h = w;
    k.timeout = 400;
    late_signal(&k, "usocket_wait_list_wait", USOCKET_OK);
    CHECK_EQ_INT(k.count, 0);

    {
        usocket_t fl = full_listener(&port, fill, 64, &nfill);
        memset(&k, 0, sizeof k);
        k.op = OP_CONNECT;
        k.port = port;
        k.timeout = 400;
        late_signal(&k, "usocket_connect", USOCKET_ERR_TIMEOUT);
        for (i = 0; i < nfill; i++)
            CHECK_OK(usocket_close(fill[i]));
        CHECK_OK(usocket_close(fl));
    }
    CHECK_OK(usocket_close(w));
    CHECK_OK(usocket_close(d));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void connect_to_listener(void *arg)
{
    usocket_t x;
    CHECK_OK(usocket_connect("127.0.0.1", *(uint16_t *)arg, NULL, &x));
    sleep_ms(50);
    CHECK_OK(usocket_close(x));
}

static void test_eintr_accept(void)
{
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port);
    struct call k;
    memset(&k, 0, sizeof k);
    k.op = OP_ACCEPT;
    k.h = l;
    pelt(&k, 10, 250, connect_to_listener, &port);
    CHECK_OK(k.rc);
    CHECK_OK(usocket_close(l));
}

static void test_eintr_accept_timeout(void)
{
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port);
    struct call k;
    CHECK_OK(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 300));
    memset(&k, 0, sizeof k);
    k.op = OP_ACCEPT;
    k.h = l;
    pelt(&k, 10, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 295, 300 + 100 * slow());
    CHECK_OK(usocket_close(l));
}

static void send_datagram(void *arg)
{
    usocket_t d = udp_socket(NULL);
    size_t n;
    CHECK_OK(usocket_send(d, (const uint8_t *)"dg", 2, "127.0.0.1", *(uint16_t *)arg, &n));
    CHECK_OK(usocket_close(d));
}

static void test_eintr_receive(void)
{
    uint16_t port;
    usocket_t d = udp_socket(&port);
    struct call k;
    memset(&k, 0, sizeof k);
    k.op = OP_RECEIVE;
    k.h = d;
    pelt(&k, 10, 250, send_datagram, &port);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 2);
    /* and with a timeout */
    CHECK_OK(usocket_set_option(d, USOCKET_OPT_RECEIVE_TIMEOUT, 300));
    pelt(&k, 10, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 295, 300 + 100 * slow());
    CHECK_OK(usocket_close(d));
}

static void test_eintr_wait_for_input(void)
{
    usocket_t c, s;
    struct call k;
    tcp_pair(&c, &s);
    memset(&k, 0, sizeof k);
    k.op = OP_WAIT;
    k.h = s;
    k.timeout = 300;
    pelt(&k, 10, 5000, NULL, NULL);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 0);
    CHECK_EQ_INT(k.remaining, 0);
    CHECK_BETWEEN(k.ended - k.started, 295, 300 + 100 * slow());
    /* forever, until data */
    k.timeout = -1;
    pelt(&k, 10, 250, write_abc, &c);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 1);
    CHECK_EQ_INT(k.remaining, -1);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_eintr_wait_list(void)
{
    usocket_t c, s, w;
    struct call k;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_add(w, s));
    memset(&k, 0, sizeof k);
    k.op = OP_WAIT_LIST;
    k.h = w;
    k.timeout = 300;
    pelt(&k, 10, 5000, NULL, NULL);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 0);
    CHECK_EQ_INT(k.remaining, 0);
    CHECK_BETWEEN(k.ended - k.started, 295, 300 + 100 * slow());
    k.timeout = -1;
    pelt(&k, 10, 250, write_abc, &c);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 1);
    CHECK_OK(usocket_close(w));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_eintr_connect_timeout(void)
{
    usocket_t fill[64];
    size_t nfill, i;
    uint16_t port;
    usocket_t l = full_listener(&port, fill, 64, &nfill);
    struct call k;
    memset(&k, 0, sizeof k);
    k.op = OP_CONNECT;
    k.port = port;
    k.timeout = 300;
    pelt(&k, 10, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 295, 300 + 100 * slow());
    for (i = 0; i < nfill; i++)
        CHECK_OK(usocket_close(fill[i]));
    CHECK_OK(usocket_close(l));
}

struct drain_arg {
    usocket_t s;
    size_t len;
    struct call *writer;
};

static void drain(void *arg)
{
    static uint8_t sink[65536];
    struct drain_arg *d = arg;
    size_t total = 0, n;
    CHECK_MSG(!__atomic_load_n(&d->writer->done, __ATOMIC_SEQ_CST), "the write did not block on the full buffer");
    while (total < d->len) {
        if (usocket_read(d->s, sink, sizeof sink, &n) != USOCKET_OK || n == 0)
            break;
        total += n;
    }
    CHECK_EQ_INT(total, d->len);
}

static void test_eintr_write(void)
{
    /* a write blocked on a full buffer, interrupted again and again, still
       writes every byte */
    usocket_t c, s;
    struct call k;
    struct drain_arg d;
    tcp_pair(&c, &s);
    memset(&k, 0, sizeof k);
    k.op = OP_WRITE;
    k.h = c;
    k.big_len = 64u << 20; /* far more than the socket buffers hold */
    k.big = calloc(1, k.big_len);
    REQUIRE(k.big);
    d.s = s;
    d.len = k.big_len;
    d.writer = &k;
    pelt(&k, 5, 200, drain, &d);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, k.big_len);
    free(k.big);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static const struct check_case cases[] = {
    CHECK_CASE(test_sigpipe_peer_closed),
    CHECK_CASE(test_sigpipe_peer_reset),
    CHECK_CASE(test_sigpipe_own_shutdown),
    CHECK_CASE(test_sigpipe_datagram),
    CHECK_CASE(test_eintr_read_no_timeout),
    CHECK_CASE(test_eintr_read_timeout),
    CHECK_CASE(test_eintr_late_signal_keeps_deadline),
    CHECK_CASE(test_eintr_accept),
    CHECK_CASE(test_eintr_accept_timeout),
    CHECK_CASE(test_eintr_receive),
    CHECK_CASE(test_eintr_wait_for_input),
    CHECK_CASE(test_eintr_wait_list),
    CHECK_CASE(test_eintr_connect_timeout),
    CHECK_CASE(test_eintr_write),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
