/* Bad arguments everywhere: NULL pointers, non-UTF-8 strings, lengths that
   do not fit, unknown enum values. Each is USOCKET_ERR_INVALID_ARGUMENT,
   never a crash, writes no out-pointer, and leaks neither a handle nor a
   descriptor. */
#include <stdint.h>

#include "check.h"

#define BAD_UTF8 "127.0.0.\xff"
#define HUGE_LEN (SIZE_MAX / 2 + 1) /* larger than isize::MAX */

/* Each check also confirms the last error says the same. */
#define CHECK_INVALID(expr)                                                  \
    do {                                                                     \
        CHECK_RC(expr, USOCKET_ERR_INVALID_ARGUMENT);                        \
        CHECK_EQ_INT(usocket_last_error(), USOCKET_ERR_INVALID_ARGUMENT);     \
        CHECK(strlen(usocket_last_error_message()) > 0);                     \
    } while (0)

static int fds_before;
static size_t handles_before;

static void baseline(void)
{
    fds_before = count_fds();
    handles_before = usocket_open_handles();
}

static void nothing_leaked(void)
{
    CHECK_EQ_INT(count_fds(), fds_before);
    CHECK_EQ_INT(usocket_open_handles(), handles_before);
}

static void test_connect_args(void)
{
    usocket_connect_options o;
    usocket_t s = 11;
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port);
    baseline();

    CHECK_INVALID(usocket_connect("127.0.0.1", port, NULL, NULL));   /* out NULL */
    CHECK_INVALID(usocket_connect(NULL, port, NULL, &s));            /* stream needs a host */
    CHECK_INVALID(usocket_connect(BAD_UTF8, port, NULL, &s));
    CHECK_INVALID(usocket_connect("\xc0\xaf", port, NULL, &s));      /* overlong encoding */
    usocket_connect_options_init(&o);
    o.protocol = 2;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    o.protocol = -1;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    o.protocol = INT32_MAX;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    usocket_connect_options_init(&o);
    o.local_host = BAD_UTF8;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    o.protocol = USOCKET_DATAGRAM;
    CHECK_INVALID(usocket_connect(NULL, 0, &o, &s));
    CHECK_INVALID(usocket_connect(BAD_UTF8, 9, &o, &s));
    usocket_connect_options_init(&o);
    o.timeout_ms = INT64_MAX;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    usocket_connect_options_init(&o);
    o.connect_timeout_ms = (int64_t)1 << 40;
    CHECK_INVALID(usocket_connect("127.0.0.1", port, &o, &s));
    CHECK_EQ_INT(s, 11);
    sleep_ms(20);
    {
        /* none of them reached the listener */
        bool avail = true;
        CHECK_OK(usocket_input_available(l, &avail));
        CHECK_MSG(!avail, "a connect with bad arguments must not connect");
    }
    nothing_leaked();
    CHECK_OK(usocket_close(l));
}

static void test_listen_args(void)
{
    usocket_listen_options lo;
    usocket_t s = 12;
    baseline();
    CHECK_INVALID(usocket_listen("127.0.0.1", 0, NULL, NULL));
    CHECK_INVALID(usocket_listen(BAD_UTF8, 0, NULL, &s));
    usocket_listen_options_init(&lo);
    lo.backlog = -1;
    CHECK_INVALID(usocket_listen("127.0.0.1", 0, &lo, &s));
    CHECK_EQ_INT(s, 12);
    nothing_leaked();
}

static void test_socket_call_args(void)
{
    usocket_t c, s, l, d;
    uint8_t buf[8] = { 0 };
    tcp_pair(&c, &s);
    l = listener_on("127.0.0.1", NULL);
    d = udp_socket(NULL);
    baseline();

    CHECK_INVALID(usocket_accept(l, NULL));
    CHECK_INVALID(usocket_accept_from(l, NULL, NULL));
    CHECK_INVALID(usocket_kind(c, NULL));
    CHECK_INVALID(usocket_fd(c, NULL));
    CHECK_INVALID(usocket_shutdown(c, 0));
    CHECK_INVALID(usocket_shutdown(c, 4));
    CHECK_INVALID(usocket_shutdown(c, INT32_MIN));
    CHECK_INVALID(usocket_input_available(c, NULL));
    CHECK_INVALID(usocket_local_name(c, NULL));
    CHECK_INVALID(usocket_peer_name(c, NULL));
    CHECK_INVALID(usocket_get_option(c, USOCKET_OPT_KEEPALIVE, NULL));
    CHECK_INVALID(usocket_get_option(c, 8, NULL));
    {
        int64_t v = 5;
        CHECK_INVALID(usocket_get_option(c, 8, &v));
        CHECK_INVALID(usocket_get_option(c, -1, &v));
        CHECK_INVALID(usocket_set_option(c, 8, 0));
        CHECK_INVALID(usocket_set_option(c, INT32_MIN, 0));
        CHECK_EQ_INT(v, 5);
    }

    /* read */
    {
        size_t n = 13;
        CHECK_INVALID(usocket_read(c, NULL, 8, &n));
        CHECK_INVALID(usocket_read(c, buf, 8, NULL));
        CHECK_INVALID(usocket_read(c, buf, HUGE_LEN, &n));
        CHECK_INVALID(usocket_read(c, buf, SIZE_MAX, &n));
        CHECK_EQ_INT(n, 13);
    }
    /* write */
    {
        size_t n = 14;
        CHECK_INVALID(usocket_write(c, NULL, 8, &n));
        CHECK_INVALID(usocket_write(c, buf, 8, NULL));
        CHECK_INVALID(usocket_write(c, buf, HUGE_LEN, &n));
        CHECK_INVALID(usocket_write(c, buf, SIZE_MAX, &n));
        CHECK_EQ_INT(n, 14);
    }
    /* send */
    {
        size_t n = 15;
        CHECK_INVALID(usocket_send(d, NULL, 8, "127.0.0.1", 9, &n));
        CHECK_INVALID(usocket_send(d, buf, 8, "127.0.0.1", 9, NULL));
        CHECK_INVALID(usocket_send(d, buf, 8, BAD_UTF8, 9, &n));
        {
            uint8_t *big = calloc(1, 65508);
            REQUIRE(big);
            CHECK_INVALID(usocket_send(d, big, 65508, "127.0.0.1", 9, &n));
            free(big);
        }
        CHECK_INVALID(usocket_send(d, buf, HUGE_LEN, "127.0.0.1", 9, &n));
        CHECK_INVALID(usocket_send(d, buf, SIZE_MAX, "127.0.0.1", 9, &n));
        CHECK_EQ_INT(n, 15);
    }
    /* receive */
    {
        size_t n = 16;
        usocket_address a;
        CHECK_INVALID(usocket_receive(d, NULL, 8, &n, &a));
        CHECK_INVALID(usocket_receive(d, buf, 8, NULL, &a));
        CHECK_INVALID(usocket_receive(d, buf, HUGE_LEN, &n, &a));
        CHECK_INVALID(usocket_receive(d, buf, SIZE_MAX, &n, NULL));
        CHECK_EQ_INT(n, 16);
    }
    /* the sockets are unharmed */
    {
        size_t n;
        uint8_t r[3];
        CHECK_OK(usocket_write(c, (const uint8_t *)"abc", 3, &n));
        read_exactly(s, r, 3);
        CHECK(memcmp(r, "abc", 3) == 0);
    }
    nothing_leaked();
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_OK(usocket_close(d));
}

static void test_wait_args(void)
{
    usocket_t c, s, w, ready[2];
    uint8_t st[2] = { 9, 9 };
    size_t n = 17;
    int64_t rem = 18;
    double t0;
    tcp_pair(&c, &s);
    REQUIRE_OK(usocket_wait_list_new(&w));
    REQUIRE_OK(usocket_wait_list_add(w, s));
    baseline();

    CHECK_INVALID(usocket_wait_for_input(NULL, 1, 0, st, &n, &rem));
    CHECK_INVALID(usocket_wait_for_input(&s, 1, 0, NULL, &n, &rem));
    CHECK_INVALID(usocket_wait_for_input(&s, 1, 0, st, NULL, &rem));
    CHECK_INVALID(usocket_wait_for_input(&s, (size_t)USOCKET_WAIT_MAX + 1, 0, st, &n, &rem));
    CHECK_INVALID(usocket_wait_for_input(&s, SIZE_MAX, 0, st, &n, &rem));
    CHECK_INVALID(usocket_wait_for_input(&s, SIZE_MAX / 8 + 1, 0, st, &n, &rem));
    CHECK_INVALID(usocket_wait_for_input(NULL, 0, -1, NULL, &n, &rem)); /* forever on nothing */
    CHECK_EQ_INT(n, 17);
    CHECK_EQ_INT(rem, 18);
    CHECK(st[0] == 9);
    /* n = 0 with a timeout just sleeps */
    t0 = now_ms();
    CHECK_OK(usocket_wait_for_input(NULL, 0, 60, NULL, &n, &rem));
    CHECK_BETWEEN(now_ms() - t0, 55, 60 + 100 * slow());
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rem, 0);
    n = 17;
    CHECK_OK(usocket_wait_for_input(NULL, 0, 0, NULL, &n, NULL));
    CHECK_EQ_INT(n, 0);

    n = 19;
    CHECK_INVALID(usocket_wait_list_new(NULL));
    CHECK_INVALID(usocket_wait_list_wait(w, 0, NULL, 1, &n, &rem));
    CHECK_INVALID(usocket_wait_list_wait(w, 0, ready, 0, &n, &rem));
    CHECK_INVALID(usocket_wait_list_wait(w, 0, ready, 2, NULL, &rem));
    CHECK_INVALID(usocket_wait_list_wait(w, 0, ready, SIZE_MAX, &n, &rem));
    CHECK_INVALID(usocket_wait_list_wait(w, 0, ready, HUGE_LEN, &n, &rem));
    CHECK_EQ_INT(n, 19);
    /* remaining_ms may be NULL */
    CHECK_OK(usocket_wait_list_wait(w, 0, ready, 2, &n, NULL));
    CHECK_EQ_INT(n, 0);
    nothing_leaked();
    CHECK_OK(usocket_wait_list_free(w));
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
}

static void test_args_do_not_touch_memory(void)
{
    /* Bad lengths with valid small buffers: the library must reject them
       before touching the (too small) memory. Guard pages around the buffer
       would catch an overrun; valgrind does too. */
    usocket_t c, s;
    uint8_t *small = malloc(1);
    size_t n = 1;
    REQUIRE(small);
    tcp_pair(&c, &s);
    CHECK_INVALID(usocket_read(c, small, SIZE_MAX - 7, &n));
    CHECK_INVALID(usocket_write(c, small, SIZE_MAX - 7, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    free(small);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_connect_args),
    CHECK_CASE(test_listen_args),
    CHECK_CASE(test_socket_call_args),
    CHECK_CASE(test_wait_args),
    CHECK_CASE(test_args_do_not_touch_memory),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
