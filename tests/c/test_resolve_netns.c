/* Name resolution and unknown hosts. These cases ask the resolver, so they
   run only inside the private network and mount namespace run.sh makes:
   `unshare -n -m` with /etc/nsswitch.conf bind-mounted to "hosts: files" and
   /etc/hosts to a file of our own (see run.sh), never the real resolver.
   Run any other way, every case skips. */
#include "check.h"

#define MULTI "usocket-multi.test" /* ::1 and 127.0.0.1 in run.sh's hosts file */
#define V4ONLY "usocket-v4.test"   /* 127.0.0.1 */
#define UNKNOWN "no-such-host.invalid"

/* True only when /etc/nsswitch.conf resolves hosts from files alone and
   run.sh says we are in its namespace. */
static void require_private_resolver(void)
{
    FILE *f;
    char line[256];
    int files_only = 0, other = 0;
    if (getenv("USOCKET_TEST_NETNS") == NULL)
        SKIP("not inside run.sh's private namespace (USOCKET_TEST_NETNS unset): never asking the real resolver");
    /* Inside run.sh's namespace, a resolver that is not ours is run.sh's
       failure, not a reason to skip. */
    f = fopen("/etc/nsswitch.conf", "r");
    if (f == NULL) {
        check_fail_(__FILE__, __LINE__, "no /etc/nsswitch.conf inside run.sh's namespace");
        check_abort_();
    }
    while (fgets(line, sizeof line, f)) {
        char word[64], rest[128];
        int k = sscanf(line, " hosts: %63s %127s", word, rest);
        if (k == 1 && strcmp(word, "files") == 0)
            files_only = 1;
        else if (k >= 1)
            other = 1;
    }
    fclose(f);
    if (!files_only || other) {
        check_fail_(__FILE__, __LINE__,
                    "/etc/nsswitch.conf inside run.sh's namespace does not say \"hosts: files\": never asking the real resolver");
        check_abort_();
    }
}

static void test_unknown_host(void)
{
    usocket_address out[2];
    size_t count = 77;
    usocket_t s = 78;
    usocket_connect_options o;
    require_private_resolver();

    CHECK_RC(usocket_resolve(UNKNOWN, out, 2, &count), USOCKET_ERR_NS_HOST_NOT_FOUND);
    CHECK_EQ_INT(count, 77);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_NS_HOST_NOT_FOUND);
    CHECK_MSG(strstr(usocket_last_error_message(), UNKNOWN) != NULL, "the message names the host: \"%s\"",
              usocket_last_error_message());
    CHECK_EQ_STR(usocket_error_name(usocket_last_error()), "ns-host-not-found-error");

    CHECK_RC(usocket_connect(UNKNOWN, 80, NULL, &s), USOCKET_ERR_NS_HOST_NOT_FOUND);
    CHECK_RC(usocket_listen(UNKNOWN, 0, NULL, &s), USOCKET_ERR_NS_HOST_NOT_FOUND);
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    CHECK_RC(usocket_connect(UNKNOWN, 80, &o, &s), USOCKET_ERR_NS_HOST_NOT_FOUND);
    o.local_host = UNKNOWN;
    CHECK_RC(usocket_connect(NULL, 0, &o, &s), USOCKET_ERR_NS_HOST_NOT_FOUND);
    usocket_connect_options_init(&o);
    o.local_host = UNKNOWN;
    {
        uint16_t port;
        usocket_t l = listener_on("127.0.0.1", &port);
        CHECK_RC(usocket_connect("127.0.0.1", port, &o, &s), USOCKET_ERR_NS_HOST_NOT_FOUND);
        CHECK_OK(usocket_close(l));
    }
    {
        usocket_t d = udp_socket(NULL);
        size_t n = 79;
        CHECK_RC(usocket_send(d, (const uint8_t *)"x", 1, UNKNOWN, 9, &n), USOCKET_ERR_NS_HOST_NOT_FOUND);
        CHECK_EQ_INT(n, 79);
        CHECK_OK(usocket_close(d));
    }
    CHECK_EQ_INT(s, 78);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_malformed_literals(void)
{
    /* not literals, so names; no such names */
    static const char *bad[] = { "256.0.0.1", "[::1", "::1]", "1.2.3.4.5", "[127.0.0.1]x" };
    size_t i, count;
    usocket_address out[1];
    usocket_t s;
    require_private_resolver();
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t rc = usocket_resolve(bad[i], out, 1, &count);
        CHECK_MSG(rc == USOCKET_ERR_NS_HOST_NOT_FOUND || rc == USOCKET_ERR_NS_UNKNOWN,
                  "resolving \"%s\" gave %d (%s)", bad[i], rc, usocket_error_name(rc));
        rc = usocket_connect(bad[i], 80, NULL, &s);
        CHECK_MSG(rc == USOCKET_ERR_NS_HOST_NOT_FOUND || rc == USOCKET_ERR_NS_UNKNOWN,
                  "connecting to \"%s\" gave %d (%s)", bad[i], rc, usocket_error_name(rc));
    }
}

static void test_resolve_names(void)
{
    usocket_address out[4];
    size_t count = 0, i;
    char text[USOCKET_ADDRESS_STRLEN];
    int has4 = 0, has6 = 0;
    require_private_resolver();

    CHECK_OK(usocket_resolve("localhost", out, 4, &count));
    CHECK(count >= 1);
    for (i = 0; i < count && i < 4; i++) {
        CHECK_OK(usocket_address_format(&out[i], text, sizeof text));
        if (strcmp(text, "127.0.0.1") == 0)
            has4 = 1;
        CHECK_EQ_INT(out[i].port, 0);
    }
    CHECK_MSG(has4, "localhost resolves to 127.0.0.1");

    has4 = has6 = 0;
    CHECK_OK(usocket_resolve(MULTI, out, 4, &count));
    CHECK_EQ_INT(count, 2);
    for (i = 0; i < count && i < 4; i++) {
        CHECK_OK(usocket_address_format(&out[i], text, sizeof text));
        has4 |= strcmp(text, "127.0.0.1") == 0;
        has6 |= strcmp(text, "::1") == 0;
    }
    CHECK(has4 && has6);
    /* cap smaller than the count: only cap written, the whole count told */
    memset(out, 0xee, sizeof out);
    CHECK_OK(usocket_resolve(MULTI, out, 1, &count));
    CHECK_EQ_INT(count, 2);
    CHECK(out[0].family == 4 || out[0].family == 6);
    CHECK_EQ_INT(out[1].family, 0xee);
    CHECK_OK(usocket_resolve(MULTI, NULL, 0, &count));
    CHECK_EQ_INT(count, 2);
}

/* A name with two addresses reaches a server listening on either one:
   connect tries each address in order. */
static void connect_by_name(const char *listen_host, int family)
{
    uint16_t port;
    usocket_t l = listener_on(listen_host, &port), c, s;
    usocket_address peer;
    REQUIRE_OK(usocket_connect(MULTI, port, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_peer_name(c, &peer));
    CHECK_EQ_INT(peer.family, family);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
}

static void test_connect_tries_each_address(void)
{
    require_private_resolver();
    connect_by_name("127.0.0.1", 4);
    connect_by_name("::1", 6);
    /* neither listens: the last failure is reported */
    {
        usocket_t s;
        CHECK_RC(usocket_connect(MULTI, closed_port(), NULL, &s), USOCKET_ERR_CONNECTION_REFUSED);
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_names_elsewhere(void)
{
    /* names as listen host, local host, datagram peer and destination */
    uint16_t port;
    usocket_t l, c, s, d, d2;
    usocket_connect_options o;
    usocket_address a;
    char text[USOCKET_ADDRESS_STRLEN];
    uint8_t buf[8];
    size_t n;
    require_private_resolver();

    REQUIRE_OK(usocket_listen(V4ONLY, 0, NULL, &l));
    port = local_port(l);
    CHECK_OK(usocket_local_name(l, &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "127.0.0.1");
    usocket_connect_options_init(&o);
    o.local_host = V4ONLY;
    REQUIRE_OK(usocket_connect(V4ONLY, port, &o, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));

    d = udp_socket(&port);
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_connect(V4ONLY, port, &o, &d2));
    CHECK_OK(usocket_send(d2, (const uint8_t *)"n", 1, NULL, 0, &n));
    CHECK_OK(usocket_receive(d, buf, sizeof buf, &n, &a));
    CHECK_OK(usocket_send(d, (const uint8_t *)"m", 1, V4ONLY, a.port, &n));
    CHECK_OK(usocket_receive(d2, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(buf[0], 'm');
    CHECK_OK(usocket_close(d));
    CHECK_OK(usocket_close(d2));
}

/* usocket_host_by_name: the first IPv4 address, else the first IPv6, whatever
   order the resolver gives (run.sh's hosts file lists ::1 first for
   usocket-v6first.test and only ::1 for usocket-v6.test). */
static void test_host_by_name(void)
{
    usocket_address out[4], a;
    size_t count = 0;
    char text[USOCKET_ADDRESS_STRLEN];
    require_private_resolver();
    REQUIRE_OK(usocket_resolve("usocket-v6first.test", out, 4, &count));
    REQUIRE(count == 2);
    CHECK_MSG(out[0].family == 6, "the resolver gives ::1 first (the case this test is about)");
    CHECK_OK(usocket_host_by_name("usocket-v6first.test", &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "127.0.0.1");
    CHECK_EQ_INT(a.port, 0);
    CHECK_OK(usocket_host_by_name("usocket-v6.test", &a));
    CHECK_OK(usocket_address_format(&a, text, sizeof text));
    CHECK_EQ_STR(text, "::1");
    a.family = 99;
    CHECK_RC(usocket_host_by_name(UNKNOWN, &a), USOCKET_ERR_NS_HOST_NOT_FOUND);
    CHECK_EQ_INT(a.family, 99);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_host_by_name),
    CHECK_CASE(test_unknown_host),
    CHECK_CASE(test_malformed_literals),
    CHECK_CASE(test_resolve_names),
    CHECK_CASE(test_connect_tries_each_address),
    CHECK_CASE(test_names_elsewhere),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
