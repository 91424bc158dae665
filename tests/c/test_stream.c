/* TCP over loopback: connect, listen, accept, read, write, shutdown, names,
   kinds, options, and the stream error paths: refused, connect timeout,
   read/accept/send timeouts, address in use, EOF, reset by peer, bad and
   closed handles, wrong kinds. */
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "check.h"

static void names_of(usocket_t s, char *local, char *peer, uint16_t *lport, uint16_t *pport)
{
    usocket_address a;
    if (local) {
        REQUIRE_OK(usocket_local_name(s, &a));
        REQUIRE_OK(usocket_address_format(&a, local, USOCKET_ADDRESS_STRLEN));
        *lport = a.port;
    }
    if (peer) {
        REQUIRE_OK(usocket_peer_name(s, &a));
        REQUIRE_OK(usocket_address_format(&a, peer, USOCKET_ADDRESS_STRLEN));
        *pport = a.port;
    }
}

static void echo_once(usocket_t from, usocket_t to, const char *text)
{
    uint8_t buf[256];
    size_t len = strlen(text);
    send_str(from, text);
    read_exactly(to, buf, len);
    CHECK(memcmp(buf, text, len) == 0);
}

static void exchange(const char *listen_host, const char *connect_host, int family)
{
    usocket_t l, c, s;
    usocket_address peer, a;
    uint16_t port, cl_port, cp_port, sl_port, sp_port;
    char cl[USOCKET_ADDRESS_STRLEN], cp[USOCKET_ADDRESS_STRLEN], sl[USOCKET_ADDRESS_STRLEN], sp[USOCKET_ADDRESS_STRLEN];
    int32_t kind = -1, fd1 = -1, fd2 = -1;
    size_t base = usocket_open_handles();

    l = listener_on(listen_host, &port);
    CHECK(port != 0);
    REQUIRE_OK(usocket_connect(connect_host, port, NULL, &c));
    memset(&peer, 0, sizeof peer);
    REQUIRE_OK(usocket_accept_from(l, &s, &peer));
    CHECK(c != 0 && s != 0 && c != s && l != c && l != s);
    CHECK_EQ_INT(usocket_open_handles(), base + 3);

    CHECK_OK(usocket_kind(l, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM_SERVER);
    CHECK_OK(usocket_kind(c, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM);
    CHECK_OK(usocket_kind(s, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM);
    CHECK_OK(usocket_fd(c, &fd1));
    CHECK_OK(usocket_fd(s, &fd2));
    CHECK(fd1 >= 0 && fd2 >= 0 && fd1 != fd2);

    names_of(c, cl, cp, &cl_port, &cp_port);
    names_of(s, sl, sp, &sl_port, &sp_port);
    CHECK_EQ_STR(cl, sp);
    CHECK_EQ_INT(cl_port, sp_port);
    CHECK_EQ_STR(cp, sl);
    CHECK_EQ_INT(cp_port, port);
    CHECK_EQ_INT(sl_port, port);
    CHECK_EQ_INT(peer.port, cl_port);
    CHECK_OK(usocket_local_name(c, &a));
    CHECK_EQ_INT(a.family, family);
    CHECK_EQ_INT(peer.family, family);

    echo_once(c, s, "hello, server");
    echo_once(s, c, "hello, client");

    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_EQ_INT(usocket_open_handles(), base);
}

static void test_exchange_ipv4(void) { exchange("127.0.0.1", "127.0.0.1", 4); }
static void test_exchange_ipv6(void) { exchange("::1", "::1", 6); }
static void test_exchange_ipv6_brackets(void) { exchange("[::1]", "[::1]", 6); }

static void test_listen_wildcards(void)
{
    const char *hosts[] = { NULL, "", "0.0.0.0" };
    size_t i;
    for (i = 0; i < 3; i++) {
        uint16_t port;
        usocket_t l = listener_on(hosts[i], &port), c, s;
        usocket_address a;
        char text[USOCKET_ADDRESS_STRLEN];
        CHECK_OK(usocket_local_name(l, &a));
        CHECK_EQ_INT(a.family, 4);
        CHECK_OK(usocket_address_format(&a, text, sizeof text));
        CHECK_EQ_STR(text, "0.0.0.0");
        REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
        REQUIRE_OK(usocket_accept(l, &s));
        echo_once(c, s, "wild");
        CHECK_OK(usocket_close(c));
        CHECK_OK(usocket_close(s));
        CHECK_OK(usocket_close(l));
    }
}

static void test_listen_dual_stack(void)
{
    /* "::" listens on every interface, IPv6 and IPv4 */
    uint16_t port;
    usocket_t l = listener_on("::", &port), c, s;
    usocket_address peer;
    REQUIRE_OK(usocket_connect("::1", port, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    echo_once(c, s, "v6");
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
    REQUIRE_OK(usocket_accept_from(l, &s, &peer));
    echo_once(c, s, "v4");
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

struct writer {
    usocket_t s;
    const uint8_t *buf;
    size_t len;
    int32_t rc;
    size_t written;
};

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    w->rc = usocket_write(w->s, w->buf, w->len, &w->written);
    return NULL;
}

static void test_large_write_is_complete(void)
{
    /* One write of 8 MiB: all of it arrives, in order. */
    const size_t len = 8u << 20;
    uint8_t *out = malloc(len), *in = malloc(len);
    struct writer w;
    pthread_t t;
    usocket_t c, s;
    size_t i;
    REQUIRE(out && in);
    for (i = 0; i < len; i++)
        out[i] = (uint8_t)(i * 7 + (i >> 16));
    tcp_pair(&c, &s);
    w.s = c;
    w.buf = out;
    w.len = len;
    w.rc = 1;
    w.written = 0;
    REQUIRE(pthread_create(&t, NULL, writer_thread, &w) == 0);
    read_exactly(s, in, len);
    pthread_join(t, NULL);
    CHECK_OK(w.rc);
    CHECK_EQ_INT(w.written, len);
    CHECK(memcmp(in, out, len) == 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    free(out);
    free(in);
}

static void test_read_zero_length(void)
{
    usocket_t c, s;
    uint8_t b = 0;
    size_t n = 99;
    double t0;
    tcp_pair(&c, &s);
    t0 = now_ms();
    CHECK_OK(usocket_read(s, &b, 0, &n)); /* no data: returns at once */
    CHECK_EQ_INT(n, 0);
    n = 99;
    CHECK_OK(usocket_read(s, NULL, 0, &n));
    CHECK_EQ_INT(n, 0);
    CHECK(now_ms() - t0 < 100 * slow());
    n = 99;
    CHECK_OK(usocket_write(c, NULL, 0, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_eof(void)
{
    usocket_t c, s;
    uint8_t buf[16];
    size_t n = 99;
    bool avail = false;
    tcp_pair(&c, &s);
    send_str(c, "last");
    CHECK_OK(usocket_close(c));
    read_exactly(s, buf, 4);
    CHECK(memcmp(buf, "last", 4) == 0);
    CHECK_OK(usocket_input_available(s, &avail));
    CHECK_MSG(avail, "input_available is true at end of file");
    CHECK_OK(usocket_read(s, buf, sizeof buf, &n));
    CHECK_EQ_INT(n, 0);
    n = 99;
    CHECK_OK(usocket_read(s, buf, sizeof buf, &n)); /* EOF again */
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_close(s));
}

static void test_shutdown(void)
{
    usocket_t c, s;
    uint8_t buf[16];
    size_t n = 99;
    tcp_pair(&c, &s);
    /* half close: the peer sees EOF, the other direction still works */
    CHECK_OK(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
    CHECK_OK(usocket_read(s, buf, sizeof buf, &n));
    CHECK_EQ_INT(n, 0);
    echo_once(s, c, "still open");
    /* writing after our own SHUT_OUTPUT: shutdown-error (EPIPE), no SIGPIPE */
    n = 99;
    CHECK_RC(usocket_write(c, (const uint8_t *)"x", 1, &n), USOCKET_ERR_SHUTDOWN);
    CHECK_EQ_INT(n, 99);
    /* SHUT_INPUT: reads see end of file */
    CHECK_OK(usocket_shutdown(s, USOCKET_SHUT_INPUT));
    n = 99;
    CHECK_OK(usocket_read(s, buf, sizeof buf, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_shutdown(s, USOCKET_SHUT_BOTH));
    /* bad directions */
    CHECK_RC(usocket_shutdown(c, 0), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_shutdown(c, 4), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_shutdown(c, -1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_input_available(void)
{
    usocket_t l, c, s;
    uint16_t port;
    bool avail = true;
    l = listener_on("127.0.0.1", &port);
    CHECK_OK(usocket_input_available(l, &avail));
    CHECK_MSG(!avail, "a listener with nobody waiting is not ready");
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
    sleep_ms(20);
    CHECK_OK(usocket_input_available(l, &avail));
    CHECK_MSG(avail, "a listener with a client waiting is ready");
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_input_available(s, &avail));
    CHECK(!avail);
    send_str(c, "x");
    sleep_ms(20);
    CHECK_OK(usocket_input_available(s, &avail));
    CHECK(avail);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

static void test_refused(void)
{
    uint16_t port = closed_port();
    usocket_t s = 12345;
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &s), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(s, 12345); /* not written */
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_last_os_error(), ECONNREFUSED);
    CHECK(strlen(usocket_last_error_message()) > 0);
    CHECK_RC(usocket_connect("::1", port, NULL, &s), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_connect_timeout(void)
{
    usocket_t fill[64], s = 777;
    size_t nfill = 0, i;
    uint16_t port;
    usocket_connect_options o;
    double t0, dt;
    usocket_t l = full_listener(&port, fill, 64, &nfill);

    /* connect_timeout_ms */
    usocket_connect_options_init(&o);
    o.connect_timeout_ms = 300;
    t0 = now_ms();
    CHECK_RC(usocket_connect("127.0.0.1", port, &o, &s), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 290, 300 + 200 * slow());
    CHECK_EQ_INT(s, 777);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_TIMEOUT);

    /* timeout_ms alone also bounds the connect */
    usocket_connect_options_init(&o);
    o.timeout_ms = 250;
    t0 = now_ms();
    CHECK_RC(usocket_connect("127.0.0.1", port, &o, &s), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 240, 250 + 200 * slow());

    /* connect_timeout_ms wins over timeout_ms */
    o.timeout_ms = 5000;
    o.connect_timeout_ms = 150;
    t0 = now_ms();
    CHECK_RC(usocket_connect("127.0.0.1", port, &o, &s), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 140, 150 + 200 * slow());

    for (i = 0; i < nfill; i++)
        CHECK_OK(usocket_close(fill[i]));
    CHECK_OK(usocket_close(l));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_read_timeout(void)
{
    usocket_t l, c, s;
    uint16_t port;
    usocket_connect_options o;
    uint8_t buf[8];
    size_t n = 99;
    int64_t v = -1;
    double t0, dt;

    l = listener_on("127.0.0.1", &port);
    usocket_connect_options_init(&o);
    o.timeout_ms = 200;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &o, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 200);
    t0 = now_ms();
    CHECK_RC(usocket_read(c, buf, sizeof buf, &n), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 190, 200 + 150 * slow());
    CHECK_EQ_INT(n, 99);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_TIMEOUT);
    /* the socket still works after a timeout */
    echo_once(s, c, "late");
    /* changed with set_option */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 80));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 80);
    t0 = now_ms();
    CHECK_RC(usocket_read(c, buf, sizeof buf, &n), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 75, 80 + 150 * slow());
    /* 0: no timeout again */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 0));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

static void test_accept_timeout(void)
{
    usocket_t l, c, s = 5;
    uint16_t port;
    int64_t v = -1;
    double t0;
    l = listener_on("127.0.0.1", &port);
    CHECK_OK(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 150));
    t0 = now_ms();
    CHECK_RC(usocket_accept(l, &s), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 140, 150 + 150 * slow());
    CHECK_EQ_INT(s, 5);
    CHECK_RC(usocket_accept_from(l, &s, NULL), USOCKET_ERR_TIMEOUT);
    /* the accepted socket inherits the receive timeout */
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
    REQUIRE_OK(usocket_accept_from(l, &s, NULL));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 150);
    {
        uint8_t b;
        size_t n;
        t0 = now_ms();
        CHECK_RC(usocket_read(s, &b, 1, &n), USOCKET_ERR_TIMEOUT);
        CHECK_BETWEEN(now_ms() - t0, 140, 150 + 150 * slow());
    }
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

static void test_send_timeout(void)
{
    usocket_t c, s;
    const size_t len = 16u << 20;
    uint8_t *buf = calloc(1, len);
    size_t n = 99;
    int64_t v = -1;
    double t0, dt;
    REQUIRE(buf);
    tcp_pair(&c, &s);
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_TIMEOUT, 200));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_SEND_TIMEOUT, &v));
    CHECK_EQ_INT(v, 200);
    /* send and receive timeouts are separate */
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 0);
    t0 = now_ms();
    CHECK_RC(usocket_write(c, buf, len, &n), USOCKET_ERR_TIMEOUT); /* the peer never reads */
    dt = now_ms() - t0;
    CHECK_MSG(dt >= 190 && dt < 3000 * slow(), "write with a 200 ms send timeout took %.0f ms", dt);
    CHECK_EQ_INT(n, 99);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    free(buf);
}

static void test_address_in_use(void)
{
    usocket_t l, l2 = 3, c;
    uint16_t port;
    usocket_listen_options lo;
    usocket_connect_options co;
    int64_t v = -1;

    l = listener_on("127.0.0.1", &port);
    CHECK_RC(usocket_listen("127.0.0.1", port, NULL, &l2), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_EQ_INT(l2, 3);
    CHECK_EQ_INT(usocket_last_os_error(), EADDRINUSE);
    CHECK_RC(usocket_listen("0.0.0.0", port, NULL, &l2), USOCKET_ERR_ADDRESS_IN_USE);
    /* SO_REUSEADDR does not let two sockets listen on one port */
    usocket_listen_options_init(&lo);
    lo.reuse_address = true;
    CHECK_RC(usocket_listen("127.0.0.1", port, &lo, &l2), USOCKET_ERR_ADDRESS_IN_USE);

    /* a connect bound to a local port in use */
    usocket_connect_options_init(&co);
    co.local_host = "127.0.0.1";
    co.local_port = port;
    CHECK_RC(usocket_connect("127.0.0.1", port, &co, &c), USOCKET_ERR_ADDRESS_IN_USE);

    CHECK_OK(usocket_get_option(l, USOCKET_OPT_REUSE_ADDRESS, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_OK(usocket_close(l));
    /* the port is free again once the listener is closed */
    REQUIRE_OK(usocket_listen("127.0.0.1", port, &lo, &l2));
    CHECK_OK(usocket_get_option(l2, USOCKET_OPT_REUSE_ADDRESS, &v));
    CHECK_EQ_INT(v, 1);
    CHECK_OK(usocket_close(l2));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_connect_local_binding(void)
{
    usocket_t l, c, s;
    uint16_t port, want = closed_port();
    usocket_connect_options co;
    usocket_address a, peer;
    char text[USOCKET_ADDRESS_STRLEN];

    l = listener_on("127.0.0.1", &port);
    usocket_connect_options_init(&co);
    co.local_host = "127.0.0.1";
    co.local_port = want;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &c));
    REQUIRE_OK(usocket_accept_from(l, &s, &peer));
    CHECK_OK(usocket_local_name(c, &a));
    CHECK_EQ_INT(a.port, want);
    CHECK_EQ_INT(peer.port, want);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));

    /* local host only: any port */
    usocket_connect_options_init(&co);
    co.local_host = "127.0.0.1";
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_local_name(c, &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "127.0.0.1");
    CHECK(a.port != 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));

    /* local wildcards */
    co.local_host = "0.0.0.0";
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));

    /* a local address of the other family cannot reach the peer */
    co.local_host = "::1";
    CHECK_RC(usocket_connect("127.0.0.1", port, &co, &c), USOCKET_ERR_ADDRESS_NOT_AVAILABLE);
    CHECK_OK(usocket_close(l));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_nodelay(void)
{
    usocket_t l, c, s;
    uint16_t port;
    usocket_connect_options co;
    int64_t v = -1;
    int fd = -1, raw = -1;
    socklen_t len = sizeof raw;

    l = listener_on("127.0.0.1", &port);
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_TCP_NODELAY, &v));
    CHECK_MSG(v == 1, "nodelay is on by default, got %lld", (long long)v);
    CHECK_OK(usocket_fd(c, &fd));
    CHECK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &raw, &len) == 0 && raw != 0);
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_TCP_NODELAY, &v));
    CHECK_MSG(v == 1, "an accepted socket inherits nodelay, got %lld", (long long)v);
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_TCP_NODELAY, 0));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_TCP_NODELAY, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));

    usocket_connect_options_init(&co);
    co.nodelay = false;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_TCP_NODELAY, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

static void test_options(void)
{
    usocket_t c, s;
    int64_t v = -1;
    static const int32_t flags[] = { USOCKET_OPT_TCP_NODELAY, USOCKET_OPT_REUSE_ADDRESS, USOCKET_OPT_KEEPALIVE,
                                     USOCKET_OPT_BROADCAST };
    size_t i;
    tcp_pair(&c, &s);
    for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        CHECK_OK(usocket_set_option(c, flags[i], 1));
        v = -1;
        CHECK_OK(usocket_get_option(c, flags[i], &v));
        CHECK_MSG(v == 1, "option %d set to 1 reads %lld", flags[i], (long long)v);
        CHECK_OK(usocket_set_option(c, flags[i], 0));
        CHECK_OK(usocket_get_option(c, flags[i], &v));
        CHECK_MSG(v == 0, "option %d set to 0 reads %lld", flags[i], (long long)v);
    }
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_RECEIVE_BUFFER, 65536));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_BUFFER, &v));
    CHECK_MSG(v >= 65536, "SO_RCVBUF set to 65536 reads %lld", (long long)v);
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 32768));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_SEND_BUFFER, &v));
    CHECK_MSG(v >= 32768, "SO_SNDBUF set to 32768 reads %lld", (long long)v);
    /* timeouts: 0 .. 2^31-1 */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 2147483647LL));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 2147483647LL);
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_TIMEOUT, 1234));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_SEND_TIMEOUT, &v));
    CHECK_EQ_INT(v, 1234);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 2147483648LL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, -1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_SEND_TIMEOUT, -5), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_RECEIVE_BUFFER, 0), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, -1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 1LL << 40), USOCKET_ERR_INVALID_ARGUMENT);
    /* the failed sets changed nothing */
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 2147483647LL);
    /* unknown options */
    v = 42;
    CHECK_RC(usocket_get_option(c, 8, &v), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_get_option(c, -1, &v), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_get_option(c, 1000, &v), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(v, 42);
    CHECK_RC(usocket_set_option(c, 8, 1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_set_option(c, -1, 1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_reset_by_peer(void)
{
    usocket_t c, s;
    int fd = -1;
    struct linger lg;
    uint8_t buf[16];
    size_t n = 99;
    tcp_pair(&c, &s);
    /* SO_LINGER {1, 0}: close sends RST */
    REQUIRE_OK(usocket_fd(s, &fd));
    lg.l_onoff = 1;
    lg.l_linger = 0;
    REQUIRE(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    CHECK_OK(usocket_close(s));
    sleep_ms(20);
    CHECK_RC(usocket_read(c, buf, sizeof buf, &n), USOCKET_ERR_CONNECTION_RESET);
    CHECK_EQ_INT(n, 99);
    CHECK_EQ_INT(usocket_last_os_error(), ECONNRESET);
    CHECK_OK(usocket_close(c));
}

static void test_bad_handles(void)
{
    static const usocket_t bad[] = { 0, 1, 2, 0xffffffffULL, 0x100000000ULL, 0xdeadbeef12345678ULL, ~(usocket_t)0 };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        usocket_t h = bad[i], out = 77;
        uint8_t buf[4];
        size_t n = 77;
        int32_t k = 77;
        bool b = false;
        int64_t v = 77;
        usocket_address a;
        memset(&a, 0x77, sizeof a);
        CHECK_RC(usocket_close(h), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_accept(h, &out), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_accept_from(h, &out, &a), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_shutdown(h, USOCKET_SHUT_BOTH), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_kind(h, &k), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_fd(h, &k), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_read(h, buf, 4, &n), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_write(h, buf, 4, &n), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_input_available(h, &b), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_send(h, buf, 4, "127.0.0.1", 9, &n), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_receive(h, buf, 4, &n, &a), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_local_name(h, &a), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_peer_name(h, &a), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_get_option(h, USOCKET_OPT_KEEPALIVE, &v), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_set_option(h, USOCKET_OPT_KEEPALIVE, 1), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_wait_list_add(h, h), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_wait_list_remove(h, h), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_wait_list_clear(h), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_wait_list_wait(h, 0, &out, 1, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_wait_list_free(h), USOCKET_ERR_INVALID_HANDLE);
        {
            uint8_t st = 77;
            CHECK_RC(usocket_wait_for_input(&h, 1, 0, &st, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
            CHECK_EQ_INT(st, 77);
        }
        CHECK_EQ_INT(out, 77);
        CHECK_EQ_INT(n, 77);
        CHECK_EQ_INT(k, 77);
        CHECK(!b);
        CHECK_EQ_INT(v, 77);
        CHECK_EQ_INT(a.family, 0x77);
        CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_INVALID_HANDLE);
    }
}

static void test_closed_handle_stays_dead(void)
{
    /* double close, and every call on a closed handle */
    usocket_t c, s, l, w, d;
    uint8_t buf[4];
    size_t n = 5;
    int32_t k = 5;
    tcp_pair(&c, &s);
    l = listener_on("127.0.0.1", NULL);
    d = udp_socket(NULL);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_close(c));
    CHECK_RC(usocket_close(c), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_close(c), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_read(c, buf, 4, &n), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_write(c, buf, 4, &n), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_kind(c, &k), USOCKET_ERR_INVALID_HANDLE);
    CHECK_OK(usocket_close(l));
    CHECK_RC(usocket_close(l), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_accept(l, &c), USOCKET_ERR_INVALID_HANDLE);
    CHECK_OK(usocket_close(d));
    CHECK_RC(usocket_close(d), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_receive(d, buf, 4, &n, NULL), USOCKET_ERR_INVALID_HANDLE);
    /* a wait list: usocket_close and usocket_wait_list_free are one */
    CHECK_OK(usocket_close(w));
    CHECK_RC(usocket_wait_list_free(w), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_close(w), USOCKET_ERR_INVALID_HANDLE);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_RC(usocket_close(w), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_wait_list_free(w), USOCKET_ERR_INVALID_HANDLE);
    /* the peer is untouched by the failed calls */
    CHECK_OK(usocket_kind(s, &k));
    CHECK_OK(usocket_close(s));
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_handles_never_reused(void)
{
    enum { N = 2000 };
    static usocket_t seen[N];
    size_t i, j;
    usocket_t old;
    int32_t k;
    for (i = 0; i < N; i++) {
        usocket_t h;
        if (i % 3 == 0)
            REQUIRE_OK(usocket_wait_list_new(&h));
        else
            h = udp_socket(NULL);
        REQUIRE(h != 0);
        seen[i] = h;
        REQUIRE_OK(usocket_close(h));
    }
    for (i = 0; i < N; i++)
        for (j = i + 1; j < N; j++)
            if (seen[i] == seen[j]) {
                CHECK_MSG(0, "handle %llu was given out twice (%zu and %zu)", (unsigned long long)seen[i], i, j);
                return;
            }
    /* an old handle is still dead while new objects live */
    old = seen[0];
    {
        usocket_t live = udp_socket(NULL);
        CHECK(live != old);
        CHECK_RC(usocket_kind(old, &k), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_close(old), USOCKET_ERR_INVALID_HANDLE);
        CHECK_OK(usocket_kind(live, &k)); /* closing `old` did not close `live` */
        CHECK_OK(usocket_close(live));
    }
}

static void test_wrong_kind(void)
{
    usocket_t c, s, l, d, w, x = 9;
    uint8_t buf[8] = "abcdefg";
    size_t n = 9;
    int32_t k = 9;
    int64_t v = 9;
    bool b = false;
    usocket_address a;
    memset(&a, 0x77, sizeof a);
    tcp_pair(&c, &s);
    l = listener_on("127.0.0.1", NULL);
    d = udp_socket(NULL);
    REQUIRE_OK(usocket_wait_list_new(&w));

    /* stream calls on a datagram socket and on a listener */
    CHECK_RC(usocket_read(d, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_write(d, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_read(l, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_write(l, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept(c, &x), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept(d, &x), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept_from(c, &x, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_shutdown(l, USOCKET_SHUT_BOTH), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_name(l, &a), USOCKET_ERR_WRONG_KIND);
    /* datagram calls on stream sockets */
    CHECK_RC(usocket_send(c, buf, 8, NULL, 0, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_send(c, buf, 8, "127.0.0.1", 9, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive(c, buf, 8, &n, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive(l, buf, 8, &n, NULL), USOCKET_ERR_WRONG_KIND);
    /* TCP_NODELAY on a datagram socket */
    CHECK_RC(usocket_set_option(d, USOCKET_OPT_TCP_NODELAY, 1), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_get_option(d, USOCKET_OPT_TCP_NODELAY, &v), USOCKET_ERR_WRONG_KIND);
    /* socket calls on a wait list, wait-list calls on sockets */
    CHECK_RC(usocket_read(w, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_write(w, buf, 8, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_kind(w, &k), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_fd(w, &k), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept(w, &x), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_shutdown(w, USOCKET_SHUT_BOTH), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_input_available(w, &b), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_send(w, buf, 8, "127.0.0.1", 9, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive(w, buf, 8, &n, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_local_name(w, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_name(w, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_get_option(w, USOCKET_OPT_KEEPALIVE, &v), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_set_option(w, USOCKET_OPT_KEEPALIVE, 1), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_add(c, s), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_add(w, w), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_remove(c, s), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_clear(c), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_wait(c, 0, &x, 1, &n, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_free(c), USOCKET_ERR_WRONG_KIND);
    {
        uint8_t st[2] = { 7, 7 };
        usocket_t hs[2] = { c, w };
        CHECK_RC(usocket_wait_for_input(hs, 2, 0, st, &n, NULL), USOCKET_ERR_WRONG_KIND);
        CHECK(st[0] == 7 && st[1] == 7);
    }
    /* nothing was written, and nothing was closed by the failures */
    CHECK_EQ_INT(x, 9);
    CHECK_EQ_INT(n, 9);
    CHECK_EQ_INT(k, 9);
    CHECK_EQ_INT(v, 9);
    CHECK_EQ_INT(a.family, 0x77);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_WRONG_KIND);
    CHECK_OK(usocket_kind(c, &k));
    echo_once(c, s, "still fine");
    CHECK_EQ_INT(usocket_open_handles(), 5);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(d));
    CHECK_OK(usocket_wait_list_free(w));
}

/* ---- usocket_write_some ---------------------------------------------- */

/* Fills the send path of c (the peer does not read) with write_some(0). */
static size_t fill_with_write_some(usocket_t c)
{
    static uint8_t chunk[65536];
    size_t total = 0;
    int i;
    for (i = 0; i < 100000; i++) {
        size_t n = 0;
        int32_t rc = usocket_write_some(c, chunk, sizeof chunk, 0, &n);
        if (rc == USOCKET_ERR_TIMEOUT)
            return total;
        REQUIRE_OK(rc);
        REQUIRE(n >= 1 && n <= sizeof chunk);
        total += n;
    }
    CHECK_MSG(0, "write_some with timeout 0 never found the buffer full");
    return total;
}

static void test_write_some(void)
{
    usocket_t c, s;
    uint8_t buf[64];
    size_t n = 99, filled;
    double t0;
    tcp_pair(&c, &s);
    /* len 0 */
    CHECK_OK(usocket_write_some(c, NULL, 0, 0, &n));
    CHECK_EQ_INT(n, 0);
    /* room: at least one byte, here all */
    CHECK_OK(usocket_write_some(c, (const uint8_t *)"hello", 5, 0, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(usocket_write_some(c, (const uint8_t *)" world", 6, -1, &n));
    CHECK_EQ_INT(n, 6);
    CHECK_OK(usocket_write_some(c, (const uint8_t *)"!", 1, 1000, &n));
    CHECK_EQ_INT(n, 1);
    read_exactly(s, buf, 12);
    CHECK(memcmp(buf, "hello world!", 12) == 0);

    /* full: timeout 0 gives TIMEOUT at once, nothing written */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
    filled = fill_with_write_some(c);
    CHECK(filled > 0);
    n = 77;
    t0 = now_ms();
    CHECK_RC(usocket_write_some(c, (const uint8_t *)"x", 1, 0, &n), USOCKET_ERR_TIMEOUT);
    CHECK(now_ms() - t0 < 50 * slow());
    CHECK_EQ_INT(n, 77);
    /* a timeout: waits for room that never comes */
    t0 = now_ms();
    CHECK_RC(usocket_write_some(c, (const uint8_t *)"x", 1, 150, &n), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 145, 150 + 100 * slow());
    CHECK_EQ_INT(n, 77);
    /* < 0: as a blocking write, bounded by the send timeout */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_TIMEOUT, 120));
    t0 = now_ms();
    CHECK_RC(usocket_write_some(c, (const uint8_t *)"x", 1, -1, &n), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 115, 120 + 100 * slow());
    CHECK_EQ_INT(n, 77);
    /* every byte write_some counted arrives, and no other: no byte is lost */
    {
        static uint8_t sink[65536];
        size_t got = 0, k;
        CHECK_OK(usocket_close(c)); /* EOF after the queued bytes */
        for (;;) {
            REQUIRE_OK(usocket_read(s, sink, sizeof sink, &k));
            if (k == 0)
                break;
            got += k;
        }
        CHECK_EQ_INT(got, filled);
    }
    CHECK_OK(usocket_close(s));
}

static void test_write_some_errors(void)
{
    usocket_t c, s, l, d;
    uint8_t b[4] = { 0 };
    size_t n = 9;
    int i;
    int32_t rc = USOCKET_OK;
    tcp_pair(&c, &s);
    l = listener_on("127.0.0.1", NULL);
    d = udp_socket(NULL);
    CHECK_RC(usocket_write_some(c, NULL, 4, 0, &n), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_write_some(c, b, 4, 0, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_write_some(c, b, SIZE_MAX, 0, &n), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_write_some(d, b, 4, 0, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_write_some(l, b, 4, 0, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_write_some(0, b, 4, 0, &n), USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(n, 9);
    /* after own shutdown: shutdown-error, no SIGPIPE */
    CHECK_OK(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
    CHECK_RC(usocket_write_some(c, b, 4, 0, &n), USOCKET_ERR_SHUTDOWN);
    CHECK_RC(usocket_write_some(c, b, 4, -1, &n), USOCKET_ERR_SHUTDOWN);
    CHECK_OK(usocket_close(c));
    /* to a peer that has gone */
    CHECK_OK(usocket_close(s));
    tcp_pair(&c, &s);
    CHECK_OK(usocket_close(s));
    sleep_ms(10);
    for (i = 0; i < 100 && rc == USOCKET_OK; i++) {
        rc = usocket_write_some(c, b, 4, 100, &n);
        sleep_ms(1);
    }
    CHECK_RC2(rc, USOCKET_ERR_SHUTDOWN, USOCKET_ERR_CONNECTION_RESET);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(d));
}

struct some_writer {
    usocket_t c;
    int64_t timeout;
    int32_t rc;
    double returned_at;
};

static void *write_some_thread(void *arg)
{
    struct some_writer *w = arg;
    static uint8_t big[1 << 16];
    size_t n;
    for (;;) {
        w->rc = usocket_write_some(w->c, big, sizeof big, w->timeout, &n);
        if (w->rc != USOCKET_OK)
            break;
    }
    w->returned_at = now_ms();
    return NULL;
}

static void test_close_under_write_some(void)
{
    /* blocked in write_some, with a wait and without: close wakes it */
    int k;
    for (k = 0; k < 2; k++) {
        usocket_t c, s;
        struct some_writer w;
        pthread_t t;
        double closed_at;
        tcp_pair(&c, &s);
        CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
        CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
        w.c = c;
        w.timeout = k ? -1 : 100000;
        w.rc = 1;
        REQUIRE(pthread_create(&t, NULL, write_some_thread, &w) == 0);
        sleep_ms(150);
        closed_at = now_ms();
        CHECK_OK(usocket_close(c));
        pthread_join(t, NULL);
        CHECK_RC(w.rc, USOCKET_ERR_INVALID_HANDLE);
        CHECK_MSG(w.returned_at - closed_at <= 100 * slow(), "write_some (timeout %lld) returned %.0f ms after the close",
                  (long long)w.timeout, w.returned_at - closed_at);
        CHECK_OK(usocket_close(s));
    }
}

static const struct check_case cases[] = {
    CHECK_CASE(test_exchange_ipv4),
    CHECK_CASE(test_exchange_ipv6),
    CHECK_CASE(test_exchange_ipv6_brackets),
    CHECK_CASE(test_listen_wildcards),
    CHECK_CASE(test_listen_dual_stack),
    CHECK_CASE(test_large_write_is_complete),
    CHECK_CASE(test_read_zero_length),
    CHECK_CASE(test_eof),
    CHECK_CASE(test_shutdown),
    CHECK_CASE(test_input_available),
    CHECK_CASE(test_refused),
    CHECK_CASE(test_connect_timeout),
    CHECK_CASE(test_read_timeout),
    CHECK_CASE(test_accept_timeout),
    CHECK_CASE(test_send_timeout),
    CHECK_CASE(test_address_in_use),
    CHECK_CASE(test_connect_local_binding),
    CHECK_CASE(test_nodelay),
    CHECK_CASE(test_options),
    CHECK_CASE(test_reset_by_peer),
    CHECK_CASE(test_bad_handles),
    CHECK_CASE(test_closed_handle_stays_dead),
    CHECK_CASE(test_handles_never_reused),
    CHECK_CASE(test_wrong_kind),
    CHECK_CASE(test_write_some),
    CHECK_CASE(test_write_some_errors),
    CHECK_CASE(test_close_under_write_some),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
