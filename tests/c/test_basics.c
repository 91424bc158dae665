/* The functions that touch no socket: version, error names, the per-thread
   last error, address formatting, literal resolution, option defaults. */
#include <limits.h>

#include "check.h"

static void test_version(void)
{
    const char *v = usocket_version();
    unsigned a, b, c;
    char rest;
    REQUIRE(v != NULL);
    CHECK_MSG(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &rest) == 3, "version \"%s\" is not MAJOR.MINOR.PATCH", v);
    CHECK(usocket_version() == v); /* static */
}

static void test_error_names(void)
{
    static const struct { int32_t code; const char *name; } table[] = {
        { USOCKET_OK, NULL }, /* any static string */
        { USOCKET_ERR_INVALID_ARGUMENT, "invalid-argument-error" },
        { USOCKET_ERR_INVALID_HANDLE, "invalid-handle-error" },
        { USOCKET_ERR_WRONG_KIND, "wrong-kind-error" },
        { USOCKET_ERR_INTERNAL, "internal-error" },
        { USOCKET_ERR_UNKNOWN, "unknown-error" },
        { USOCKET_ERR_ADDRESS_IN_USE, "address-in-use-error" },
        { USOCKET_ERR_ADDRESS_NOT_AVAILABLE, "address-not-available-error" },
        { USOCKET_ERR_BAD_FILE_DESCRIPTOR, "bad-file-descriptor-error" },
        { USOCKET_ERR_CONNECTION_REFUSED, "connection-refused-error" },
        { USOCKET_ERR_CONNECTION_ABORTED, "connection-aborted-error" },
        { USOCKET_ERR_CONNECTION_RESET, "connection-reset-error" },
        { USOCKET_ERR_NO_BUFFERS, "no-buffers-error" },
        { USOCKET_ERR_OPERATION_NOT_SUPPORTED, "operation-not-supported-error" },
        { USOCKET_ERR_OPERATION_NOT_PERMITTED, "operation-not-permitted-error" },
        { USOCKET_ERR_PROTOCOL_NOT_SUPPORTED, "protocol-not-supported-error" },
        { USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED, "socket-type-not-supported-error" },
        { USOCKET_ERR_NETWORK_UNREACHABLE, "network-unreachable-error" },
        { USOCKET_ERR_NETWORK_DOWN, "network-down-error" },
        { USOCKET_ERR_NETWORK_RESET, "network-reset-error" },
        { USOCKET_ERR_HOST_DOWN, "host-down-error" },
        { USOCKET_ERR_HOST_UNREACHABLE, "host-unreachable-error" },
        { USOCKET_ERR_SHUTDOWN, "shutdown-error" },
        { USOCKET_ERR_TIMEOUT, "timeout-error" },
        { USOCKET_ERR_INVALID_SOCKET, "invalid-socket-error" },
        { USOCKET_ERR_NS_HOST_NOT_FOUND, "ns-host-not-found-error" },
        { USOCKET_ERR_NS_TRY_AGAIN, "ns-try-again-condition" },
        { USOCKET_ERR_NS_NO_RECOVERY, "ns-no-recovery-error" },
        { USOCKET_ERR_NS_UNKNOWN, "ns-unknown-error" },
        { USOCKET_ERR_INVALID_SOCKET_STREAM, "invalid-socket-stream-error" },
    };
    static const int32_t unused[] = { 1, 2, 100, -30, -31, -1000, INT32_MIN, INT32_MAX };
    size_t i, j;
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *name = usocket_error_name(table[i].code);
        REQUIRE(name != NULL);
        CHECK(*name != '\0');
        CHECK(usocket_error_name(table[i].code) == name); /* static */
        if (table[i].name != NULL)
            CHECK_EQ_STR(name, table[i].name);
        /* codes are distinct and negative */
        if (table[i].code != USOCKET_OK)
            CHECK(table[i].code < 0);
        for (j = 0; j < i; j++)
            CHECK(table[i].code != table[j].code);
    }
    for (i = 0; i < sizeof unused / sizeof unused[0]; i++)
        CHECK_EQ_STR(usocket_error_name(unused[i]), "unknown-error");
    /* The codes the spec fixes by name are never renumbered. */
    CHECK_EQ_INT(USOCKET_OK, 0);
    CHECK_EQ_INT(USOCKET_ERR_INVALID_ARGUMENT, -1);
    CHECK_EQ_INT(USOCKET_ERR_INVALID_HANDLE, -2);
}

struct last_error_seen {
    int32_t code, os_error;
    char message[512];
    int message_was_null;
};

static void *fresh_thread(void *arg)
{
    struct last_error_seen *seen = arg;
    const char *m = usocket_last_error_message();
    seen->code = usocket_last_error();
    seen->os_error = usocket_last_os_error();
    seen->message_was_null = m == NULL;
    snprintf(seen->message, sizeof seen->message, "%s", m ? m : "");
    return NULL;
}

static void test_last_error_initially_none(void)
{
    pthread_t t;
    struct last_error_seen seen;
    memset(&seen, 0x55, sizeof seen);
    /* A thread that never failed: OK, 0 and "". */
    REQUIRE(pthread_create(&t, NULL, fresh_thread, &seen) == 0);
    pthread_join(t, NULL);
    CHECK_EQ_INT(seen.code, USOCKET_OK);
    CHECK_EQ_INT(seen.os_error, 0);
    CHECK(!seen.message_was_null);
    CHECK_EQ_STR(seen.message, "");
}

/* A thread that fails with `code` and then reads its own last error. */
struct failing {
    int refused; /* 1: a refused connect; 0: a bad handle */
    uint16_t port;
    struct last_error_seen seen;
    pthread_barrier_t *barrier;
};

static void *failing_thread(void *arg)
{
    struct failing *f = arg;
    usocket_t s = 0;
    int32_t rc;
    if (f->refused)
        rc = usocket_connect("127.0.0.1", f->port, NULL, &s);
    else
        rc = usocket_close((usocket_t)0x7777777700000001ULL);
    (void)rc;
    /* both threads have failed before either reads */
    pthread_barrier_wait(f->barrier);
    fresh_thread(&f->seen);
    return NULL;
}

static void test_last_error_per_thread(void)
{
    pthread_barrier_t barrier;
    pthread_t t1, t2;
    struct failing a, b;
    uint16_t port = closed_port();
    usocket_t s;
    const char *m;

    pthread_barrier_init(&barrier, NULL, 2);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.refused = 1;
    a.port = port;
    a.barrier = &barrier;
    b.refused = 0;
    b.barrier = &barrier;
    REQUIRE(pthread_create(&t1, NULL, failing_thread, &a) == 0);
    REQUIRE(pthread_create(&t2, NULL, failing_thread, &b) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&barrier);

    CHECK_EQ_INT(a.seen.code, USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(a.seen.os_error, ECONNREFUSED);
    CHECK(strlen(a.seen.message) > 0);
    CHECK_EQ_INT(b.seen.code, USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(b.seen.os_error, 0);
    CHECK(strlen(b.seen.message) > 0);

    /* This thread has not failed yet. */
    CHECK_EQ_INT(usocket_last_error(), USOCKET_OK);
    CHECK_EQ_STR(usocket_last_error_message(), "");

    /* A failure, then a success: the success does not clear it. */
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &s), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_last_os_error(), ECONNREFUSED);
    m = usocket_last_error_message();
    REQUIRE(m != NULL);
    CHECK(strlen(m) > 0);
    {
        usocket_t l = listener_on("127.0.0.1", NULL);
        CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_CONNECTION_REFUSED);
        CHECK_OK(usocket_close(l));
    }
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_last_os_error(), ECONNREFUSED);

    /* A failure without errno sets the errno to 0. */
    CHECK_RC(usocket_close(0), USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(usocket_last_os_error(), 0);
}

static usocket_address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    usocket_address x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.octets[0] = a;
    x.octets[1] = b;
    x.octets[2] = c;
    x.octets[3] = d;
    x.port = port;
    return x;
}

static void test_address_format(void)
{
    char buf[USOCKET_ADDRESS_STRLEN];
    usocket_address a = v4(127, 0, 0, 1, 80), b;
    size_t i;

    CHECK_OK(usocket_address_format(&a, buf, sizeof buf));
    CHECK_EQ_STR(buf, "127.0.0.1");
    a = v4(255, 255, 255, 255, 0);
    CHECK_OK(usocket_address_format(&a, buf, sizeof buf));
    CHECK_EQ_STR(buf, "255.255.255.255");
    /* exactly enough room: 15 characters and the NUL */
    CHECK_OK(usocket_address_format(&a, buf, 16));
    CHECK_EQ_STR(buf, "255.255.255.255");
    /* one byte short: an error, and the buffer is not touched */
    memset(buf, 'x', sizeof buf);
    CHECK_RC(usocket_address_format(&a, buf, 15), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK(buf[0] == 'x' && buf[14] == 'x');

    memset(&b, 0, sizeof b);
    b.family = 6;
    b.octets[15] = 1;
    CHECK_OK(usocket_address_format(&b, buf, sizeof buf));
    CHECK_EQ_STR(buf, "::1");
    memset(b.octets, 0, 16);
    CHECK_OK(usocket_address_format(&b, buf, sizeof buf));
    CHECK_EQ_STR(buf, "::");
    b.octets[0] = 0xfe;
    b.octets[1] = 0x80;
    b.octets[15] = 0x01;
    CHECK_OK(usocket_address_format(&b, buf, sizeof buf));
    CHECK_EQ_STR(buf, "fe80::1");
    /* the longest IPv6 text fits in USOCKET_ADDRESS_STRLEN */
    for (i = 0; i < 16; i++)
        b.octets[i] = 0xff;
    CHECK_OK(usocket_address_format(&b, buf, sizeof buf));
    CHECK_EQ_STR(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    memset(b.octets, 0, 16);
    b.octets[10] = b.octets[11] = 0xff;
    for (i = 12; i < 16; i++)
        b.octets[i] = 0xff;
    CHECK_OK(usocket_address_format(&b, buf, sizeof buf));
    CHECK_EQ_STR(buf, "::ffff:255.255.255.255");

    /* bad families */
    a = v4(127, 0, 0, 1, 0);
    a.family = 0;
    CHECK_RC(usocket_address_format(&a, buf, sizeof buf), USOCKET_ERR_INVALID_ARGUMENT);
    a.family = 5;
    CHECK_RC(usocket_address_format(&a, buf, sizeof buf), USOCKET_ERR_INVALID_ARGUMENT);
    a.family = 255;
    CHECK_RC(usocket_address_format(&a, buf, sizeof buf), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_INVALID_ARGUMENT);
    /* NULLs and a zero-length buffer */
    a.family = 4;
    CHECK_RC(usocket_address_format(NULL, buf, sizeof buf), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_address_format(&a, NULL, sizeof buf), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_address_format(&a, NULL, 0), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_address_format(&a, buf, 0), USOCKET_ERR_INVALID_ARGUMENT);
}

static void test_resolve_literals(void)
{
    usocket_address out[4];
    size_t count = 99;
    char text[USOCKET_ADDRESS_STRLEN];

    memset(out, 0xee, sizeof out);
    CHECK_OK(usocket_resolve("127.0.0.1", out, 4, &count));
    CHECK_EQ_INT(count, 1);
    CHECK_EQ_INT(out[0].family, 4);
    CHECK(out[0].octets[0] == 127 && out[0].octets[1] == 0 && out[0].octets[2] == 0 && out[0].octets[3] == 1);
    CHECK_EQ_INT(out[0].port, 0);
    CHECK_MSG(out[1].family == 0xee, "only `count` entries are written");

    CHECK_OK(usocket_resolve("::1", out, 4, &count));
    CHECK_EQ_INT(count, 1);
    CHECK_EQ_INT(out[0].family, 6);
    CHECK_OK(usocket_address_format(&out[0], text, sizeof text));
    CHECK_EQ_STR(text, "::1");

    /* brackets */
    count = 0;
    CHECK_OK(usocket_resolve("[::1]", out, 4, &count));
    CHECK_EQ_INT(count, 1);
    CHECK_EQ_INT(out[0].family, 6);

    CHECK_OK(usocket_resolve("10.1.2.3", out, 1, &count));
    CHECK_OK(usocket_address_format(&out[0], text, sizeof text));
    CHECK_EQ_STR(text, "10.1.2.3");

    /* cap 0: just the count, out may be NULL */
    count = 0;
    CHECK_OK(usocket_resolve("127.0.0.1", NULL, 0, &count));
    CHECK_EQ_INT(count, 1);
    count = 0;
    CHECK_OK(usocket_resolve("127.0.0.1", out, 0, &count));
    CHECK_EQ_INT(count, 1);

    /* argument errors; count untouched */
    count = 42;
    CHECK_RC(usocket_resolve(NULL, out, 4, &count), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_resolve("127.0.0.1", NULL, 4, &count), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_resolve("127.0.0.1", out, 4, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_resolve("\xff\xfe", out, 4, &count), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_resolve("127.0.0.\xc3", out, 4, &count), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_resolve("127.0.0.1", out, (size_t)-1, &count), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_MSG(usocket_resolve("", out, 4, &count) < 0, "resolving \"\" must fail");
    CHECK_EQ_INT(count, 42);
}

static void test_options_init(void)
{
    usocket_connect_options co;
    usocket_listen_options lo;
    memset(&co, 0x5a, sizeof co);
    usocket_connect_options_init(&co);
    CHECK_EQ_INT(co.protocol, USOCKET_STREAM);
    CHECK_EQ_INT(co.timeout_ms, 0);
    CHECK_EQ_INT(co.connect_timeout_ms, 0);
    CHECK(co.nodelay == true);
    CHECK(co.local_host == NULL);
    CHECK_EQ_INT(co.local_port, 0);
    memset(&lo, 0x5a, sizeof lo);
    usocket_listen_options_init(&lo);
    CHECK(lo.reuse_address == false);
    CHECK_EQ_INT(lo.backlog, 5);
    /* NULL is ignored */
    usocket_connect_options_init(NULL);
    usocket_listen_options_init(NULL);
}

static void test_open_handles(void)
{
    size_t base = usocket_open_handles();
    usocket_t a, b, l, w;
    CHECK_EQ_INT(base, 0);
    tcp_pair(&a, &b);
    CHECK_EQ_INT(usocket_open_handles(), base + 2);
    l = listener_on("127.0.0.1", NULL);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_EQ_INT(usocket_open_handles(), base + 4);
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_EQ_INT(usocket_open_handles(), base);
    /* failures do not count */
    CHECK_RC(usocket_close(a), USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(usocket_open_handles(), base);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_version),
    CHECK_CASE(test_error_names),
    CHECK_CASE(test_last_error_initially_none),
    CHECK_CASE(test_last_error_per_thread),
    CHECK_CASE(test_address_format),
    CHECK_CASE(test_resolve_literals),
    CHECK_CASE(test_options_init),
    CHECK_CASE(test_open_handles),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
