/* UDP over loopback: connected and unconnected sockets, send with a
   destination, receive with the sender, truncation, empty and maximum-size
   datagrams, timeouts, ICMP refusals, local binding. */
#include "check.h"

static void same_address(const usocket_address *a, const usocket_address *b)
{
    char ta[USOCKET_ADDRESS_STRLEN], tb[USOCKET_ADDRESS_STRLEN];
    REQUIRE_OK(usocket_address_format(a, ta, sizeof ta));
    REQUIRE_OK(usocket_address_format(b, tb, sizeof tb));
    CHECK_EQ_STR(ta, tb);
    CHECK_EQ_INT(a->port, b->port);
}

static void test_unconnected_exchange(void)
{
    uint16_t pa, pb;
    usocket_t a = udp_socket(&pa), b = udp_socket(&pb);
    usocket_address from, la;
    uint8_t buf[64];
    size_t n = 0;
    int32_t kind = -1;
    char text[USOCKET_ADDRESS_STRLEN];

    CHECK_OK(usocket_kind(a, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_DATAGRAM);
    CHECK(pa != 0 && pb != 0 && pa != pb);
    CHECK_OK(usocket_send(a, (const uint8_t *)"ping", 4, "127.0.0.1", pb, &n));
    CHECK_EQ_INT(n, 4);
    memset(&from, 0, sizeof from);
    CHECK_OK(usocket_receive(b, buf, sizeof buf, &n, &from));
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_OK(usocket_local_name(a, &la));
    same_address(&from, &la);
    /* answer the sender */
    CHECK_OK(usocket_address_format(&from, text, sizeof text));
    CHECK_OK(usocket_send(b, (const uint8_t *)"pong!", 5, text, from.port, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(usocket_receive(a, buf, sizeof buf, &n, NULL)); /* from may be NULL */
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(buf, "pong!", 5) == 0);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_connected_exchange(void)
{
    uint16_t ps;
    usocket_t srv = udp_socket(&ps), c;
    usocket_address from, peer, cl, sl;
    uint8_t buf[64];
    size_t n = 0;
    char text[USOCKET_ADDRESS_STRLEN];
    usocket_connect_options o;

    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect("127.0.0.1", ps, &o, &c));
    CHECK_OK(usocket_peer_name(c, &peer));
    CHECK_OK(usocket_local_name(srv, &sl));
    same_address(&peer, &sl);
    CHECK_OK(usocket_send(c, (const uint8_t *)"hello", 5, NULL, 0, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(usocket_receive(srv, buf, sizeof buf, &n, &from));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(usocket_local_name(c, &cl));
    same_address(&from, &cl);
    CHECK_OK(usocket_address_format(&from, text, sizeof text));
    CHECK_OK(usocket_send(srv, (const uint8_t *)"world", 5, text, from.port, &n));
    memset(&from, 0, sizeof from);
    CHECK_OK(usocket_receive(c, buf, sizeof buf, &n, &from));
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    same_address(&from, &sl);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(srv));
}

static void test_ipv6(void)
{
    usocket_connect_options o;
    usocket_t srv, c;
    usocket_address a, from;
    uint8_t buf[16];
    size_t n;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = "::1";
    REQUIRE_OK(usocket_connect(NULL, 0, &o, &srv));
    CHECK_OK(usocket_local_name(srv, &a));
    CHECK_EQ_INT(a.family, 6);
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect("::1", a.port, &o, &c));
    CHECK_OK(usocket_send(c, (const uint8_t *)"six", 3, NULL, 0, &n));
    CHECK_OK(usocket_receive(srv, buf, sizeof buf, &n, &from));
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(from.family, 6);
    /* send to a bracketed literal */
    CHECK_OK(usocket_send(c, (const uint8_t *)"x", 1, NULL, 0, &n));
    CHECK_OK(usocket_receive(srv, buf, sizeof buf, &n, NULL));
    CHECK_OK(usocket_send(srv, (const uint8_t *)"back", 4, "[::1]", from.port, &n));
    CHECK_OK(usocket_receive(c, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 4);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(srv));
}

static void test_wildcard_unconnected(void)
{
    usocket_connect_options o;
    usocket_t s;
    usocket_address a;
    char text[USOCKET_ADDRESS_STRLEN];
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect(NULL, 0, &o, &s));
    CHECK_OK(usocket_local_name(s, &a));
    CHECK_EQ_INT(a.family, 4);
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "0.0.0.0");
    CHECK(a.port != 0);
    {
        /* reachable through loopback */
        usocket_t c = udp_socket(NULL);
        uint8_t b[4];
        size_t n;
        CHECK_OK(usocket_send(c, (const uint8_t *)"w", 1, "127.0.0.1", a.port, &n));
        CHECK_OK(usocket_receive(s, b, sizeof b, &n, NULL));
        CHECK_EQ_INT(n, 1);
        CHECK_OK(usocket_close(c));
    }
    CHECK_OK(usocket_close(s));
}

static void test_local_port(void)
{
    usocket_connect_options o;
    usocket_t s, s2 = 4;
    uint16_t port = 0;
    usocket_t first = udp_socket(&port);
    usocket_address a;
    CHECK_OK(usocket_close(first));
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = "127.0.0.1";
    o.local_port = port;
    REQUIRE_OK(usocket_connect(NULL, 0, &o, &s));
    CHECK_OK(usocket_local_name(s, &a));
    CHECK_EQ_INT(a.port, port);
    /* the port is taken now */
    CHECK_RC(usocket_connect(NULL, 0, &o, &s2), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_EQ_INT(s2, 4);
    CHECK_RC(usocket_connect("127.0.0.1", 9, &o, &s2), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_OK(usocket_close(s));
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_send_without_destination(void)
{
    usocket_t s = udp_socket(NULL);
    size_t n = 5;
    CHECK_RC(usocket_send(s, (const uint8_t *)"x", 1, NULL, 0, &n), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(n, 5);
    CHECK_OK(usocket_close(s));
}

static void test_truncated(void)
{
    uint16_t pb;
    usocket_t a = udp_socket(NULL), b = udp_socket(&pb);
    uint8_t big[100], buf[100];
    size_t n = 0, i;
    for (i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    CHECK_OK(usocket_send(a, big, 100, "127.0.0.1", pb, &n));
    CHECK_OK(usocket_send(a, (const uint8_t *)"next", 4, "127.0.0.1", pb, &n));
    memset(buf, 0xee, sizeof buf);
    CHECK_OK(usocket_receive(b, buf, 10, &n, NULL));
    CHECK_EQ_INT(n, 10);
    CHECK(memcmp(buf, big, 10) == 0);
    CHECK_EQ_INT(buf[10], 0xee);
    /* the rest of the first datagram is gone: the next receive is the next datagram */
    CHECK_OK(usocket_receive(b, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(buf, "next", 4) == 0);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_empty_datagram(void)
{
    uint16_t pb;
    usocket_t a = udp_socket(NULL), b = udp_socket(&pb);
    uint8_t buf[8];
    size_t n = 9;
    usocket_address from;
    CHECK_OK(usocket_send(a, NULL, 0, "127.0.0.1", pb, &n));
    CHECK_EQ_INT(n, 0);
    n = 9;
    CHECK_OK(usocket_receive(b, buf, sizeof buf, &n, &from));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(from.family, 4);
    /* receiving into a zero-length buffer consumes a datagram */
    CHECK_OK(usocket_send(a, (const uint8_t *)"abc", 3, "127.0.0.1", pb, &n));
    n = 9;
    CHECK_OK(usocket_receive(b, NULL, 0, &n, NULL));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_max_size(void)
{
    uint16_t pb;
    usocket_t a = udp_socket(NULL), b = udp_socket(&pb);
    uint8_t *out = malloc(USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1), *in = malloc(USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1);
    size_t n = 0, i;
    REQUIRE(out && in);
    CHECK_EQ_INT(USOCKET_MAX_DATAGRAM_PACKET_SIZE, 65507);
    for (i = 0; i <= USOCKET_MAX_DATAGRAM_PACKET_SIZE; i++)
        out[i] = (uint8_t)(i * 13);
    CHECK_OK(usocket_send(a, out, USOCKET_MAX_DATAGRAM_PACKET_SIZE, "127.0.0.1", pb, &n));
    CHECK_EQ_INT(n, USOCKET_MAX_DATAGRAM_PACKET_SIZE);
    CHECK_OK(usocket_receive(b, in, USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1, &n, NULL));
    CHECK_EQ_INT(n, USOCKET_MAX_DATAGRAM_PACKET_SIZE);
    CHECK(memcmp(in, out, USOCKET_MAX_DATAGRAM_PACKET_SIZE) == 0);
    n = 3;
    CHECK_RC(usocket_send(a, out, USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1, "127.0.0.1", pb, &n),
             USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(n, 3);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
    free(out);
    free(in);
}

static void test_receive_timeout(void)
{
    usocket_connect_options o;
    usocket_t s;
    uint8_t buf[8];
    size_t n = 7;
    int64_t v = -1;
    double t0;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = "127.0.0.1";
    o.timeout_ms = 150;
    REQUIRE_OK(usocket_connect(NULL, 0, &o, &s));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 150);
    t0 = now_ms();
    CHECK_RC(usocket_receive(s, buf, sizeof buf, &n, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 140, 150 + 150 * slow());
    CHECK_EQ_INT(n, 7);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 60));
    t0 = now_ms();
    CHECK_RC(usocket_receive(s, buf, sizeof buf, &n, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 55, 60 + 150 * slow());
    CHECK_OK(usocket_close(s));
}

static void test_icmp_refused(void)
{
    /* A connected datagram socket learns from ICMP port-unreachable that
       nobody listens: the next receive (or send) reports it. */
    usocket_connect_options o;
    usocket_t c;
    uint16_t port;
    uint8_t buf[8];
    size_t n = 0;
    int32_t rc;
    {
        usocket_t tmp = udp_socket(&port);
        CHECK_OK(usocket_close(tmp));
    }
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 1000;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &o, &c));
    CHECK_OK(usocket_send(c, (const uint8_t *)"anyone?", 7, NULL, 0, &n));
    rc = usocket_receive(c, buf, sizeof buf, &n, NULL);
    CHECK_RC(rc, USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_OK(usocket_close(c));
}

static void test_datagram_options(void)
{
    usocket_t s = udp_socket(NULL);
    int64_t v = -1;
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_BROADCAST, 1));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_BROADCAST, &v));
    CHECK_EQ_INT(v, 1);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_REUSE_ADDRESS, 1));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_REUSE_ADDRESS, &v));
    CHECK_EQ_INT(v, 1);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 100000));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_BUFFER, &v));
    CHECK(v >= 100000);
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_SEND_TIMEOUT, 10));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_SEND_TIMEOUT, &v));
    CHECK_EQ_INT(v, 10);
    CHECK_OK(usocket_close(s));
}

static void test_datagram_input_available(void)
{
    uint16_t pb;
    usocket_t a = udp_socket(NULL), b = udp_socket(&pb);
    bool avail = true;
    size_t n;
    uint8_t buf[4];
    CHECK_OK(usocket_input_available(b, &avail));
    CHECK(!avail);
    CHECK_OK(usocket_send(a, (const uint8_t *)"d", 1, "127.0.0.1", pb, &n));
    sleep_ms(20);
    CHECK_OK(usocket_input_available(b, &avail));
    CHECK(avail);
    CHECK_OK(usocket_receive(b, buf, sizeof buf, &n, NULL));
    CHECK_OK(usocket_input_available(b, &avail));
    CHECK(!avail);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_many_datagrams(void)
{
    uint16_t pb;
    usocket_t a = udp_socket(NULL), b = udp_socket(&pb);
    uint32_t i, got;
    size_t n;
    for (i = 0; i < 200; i++) {
        CHECK_OK(usocket_send(a, (const uint8_t *)&i, sizeof i, "127.0.0.1", pb, &n));
        CHECK_OK(usocket_receive(b, (uint8_t *)&got, sizeof got, &n, NULL));
        CHECK_EQ_INT(n, sizeof got);
        CHECK_EQ_INT(got, i);
    }
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_unmapped_errno(void)
{
    /* an errno usocket does not map (ENOTCONN: an unconnected socket has no
       peer) is unknown-error, with the errno kept */
    usocket_t s = udp_socket(NULL);
    usocket_address a;
    memset(&a, 0x77, sizeof a);
    CHECK_RC(usocket_peer_name(s, &a), USOCKET_ERR_UNKNOWN);
    CHECK_EQ_INT(usocket_last_os_error(), ENOTCONN);
    CHECK(strlen(usocket_last_error_message()) > 0);
    CHECK_EQ_INT(a.family, 0x77);
    CHECK_OK(usocket_close(s));
}

static const struct check_case cases[] = {
    CHECK_CASE(test_unconnected_exchange),
    CHECK_CASE(test_connected_exchange),
    CHECK_CASE(test_ipv6),
    CHECK_CASE(test_wildcard_unconnected),
    CHECK_CASE(test_local_port),
    CHECK_CASE(test_send_without_destination),
    CHECK_CASE(test_truncated),
    CHECK_CASE(test_empty_datagram),
    CHECK_CASE(test_max_size),
    CHECK_CASE(test_receive_timeout),
    CHECK_CASE(test_icmp_refused),
    CHECK_CASE(test_datagram_options),
    CHECK_CASE(test_datagram_input_available),
    CHECK_CASE(test_many_datagrams),
    CHECK_CASE(test_unmapped_errno),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
