/* No descriptor and no handle leaked after 10,000 connect/close cycles with
   errors mixed in (USOCKET_TEST_CYCLES overrides the count; run.sh lowers
   it under valgrind). Counts /proc/self/fd and usocket_open_handles()
   before and after. */
#include "check.h"

static long cycles(void) { return env_long("USOCKET_TEST_CYCLES", 10000); }

static void test_connect_close_cycles(void)
{
    long n = cycles(), i;
    int fds0 = count_fds();
    size_t handles0 = usocket_open_handles();
    usocket_listen_options lo;
    usocket_t l;
    uint16_t port, refused = closed_port();
    long ok = 0, errors = 0;

    usocket_listen_options_init(&lo);
    lo.backlog = 128;
    REQUIRE_OK(usocket_listen("127.0.0.1", 0, &lo, &l));
    port = local_port(l);

    for (i = 0; i < n; i++) {
        usocket_t c = 0, s = 0, x = 0;
        uint8_t b = 0;
        size_t k = 0;
        REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
        REQUIRE_OK(usocket_accept(l, &s));
        /* one byte each way */
        REQUIRE_OK(usocket_write(c, (const uint8_t *)"p", 1, &k));
        REQUIRE_OK(usocket_read(s, &b, 1, &k));
        REQUIRE(k == 1 && b == 'p');
        ok++;

        /* the errors, in turn */
        switch (i % 10) {
        case 0: /* refused */
            CHECK_RC(usocket_connect("127.0.0.1", refused, NULL, &x), USOCKET_ERR_CONNECTION_REFUSED);
            break;
        case 1: /* address in use */
            CHECK_RC(usocket_listen("127.0.0.1", port, NULL, &x), USOCKET_ERR_ADDRESS_IN_USE);
            break;
        case 2: /* read timeout (a 1 ms timeout lasts a timer tick: not every time) */
            if (i % 100 == 2) {
                CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 1));
                CHECK_RC(usocket_read(s, &b, 1, &k), USOCKET_ERR_TIMEOUT);
            } else {
                CHECK_RC(usocket_read(l, &b, 1, &k), USOCKET_ERR_WRONG_KIND);
                CHECK_RC(usocket_read(0, &b, 1, &k), USOCKET_ERR_INVALID_HANDLE);
            }
            break;
        case 3: /* wrong kind, bad argument */
            CHECK_RC(usocket_accept(c, &x), USOCKET_ERR_WRONG_KIND);
            CHECK_RC(usocket_connect("127.0.0.1", port, NULL, NULL), USOCKET_ERR_INVALID_ARGUMENT);
            break;
        case 4: { /* a datagram socket, bound to a port in use */
            usocket_connect_options o;
            usocket_t d = udp_socket(NULL);
            usocket_connect_options_init(&o);
            o.protocol = USOCKET_DATAGRAM;
            o.local_host = "127.0.0.1";
            o.local_port = local_port(d);
            CHECK_RC(usocket_connect(NULL, 0, &o, &x), USOCKET_ERR_ADDRESS_IN_USE);
            CHECK_OK(usocket_close(d));
            break;
        }
        case 5: { /* a wait list holding both ends, freed while they live */
            usocket_t w;
            REQUIRE_OK(usocket_wait_list_new(&w));
            CHECK_OK(usocket_wait_list_add(w, c));
            CHECK_OK(usocket_wait_list_add(w, s));
            CHECK_OK(usocket_wait_list_free(w));
            break;
        }
        case 6: { /* a wait list outliving its sockets */
            usocket_t w, ready;
            REQUIRE_OK(usocket_wait_list_new(&w));
            CHECK_OK(usocket_wait_list_add(w, s));
            CHECK_OK(usocket_close(s));
            CHECK_OK(usocket_wait_list_wait(w, 0, &ready, 1, &k, NULL));
            CHECK_OK(usocket_close(w));
            s = 0;
            break;
        }
        case 7: /* reset by peer */
            CHECK_OK(usocket_close(c));
            c = 0;
            CHECK_RC2(usocket_write(s, (const uint8_t *)"zz", 2, &k), USOCKET_OK, USOCKET_ERR_CONNECTION_RESET);
            break;
        case 8: { /* a connect bound to a port in use */
            usocket_connect_options o;
            usocket_connect_options_init(&o);
            o.local_host = "127.0.0.1";
            o.local_port = port;
            CHECK_RC(usocket_connect("127.0.0.1", port, &o, &x), USOCKET_ERR_ADDRESS_IN_USE);
            break;
        }
        case 9: /* shutdown, then EOF */
            CHECK_OK(usocket_shutdown(c, USOCKET_SHUT_BOTH));
            CHECK_OK(usocket_read(s, &b, 1, &k));
            CHECK_EQ_INT(k, 0);
            break;
        }
        errors++;

        /* close, in either order, and a double close */
        if (i % 2) {
            if (c)
                CHECK_OK(usocket_close(c));
            if (s)
                CHECK_OK(usocket_close(s));
        } else {
            if (s)
                CHECK_OK(usocket_close(s));
            if (c)
                CHECK_OK(usocket_close(c));
        }
        if (c)
            CHECK_RC(usocket_close(c), USOCKET_ERR_INVALID_HANDLE);
        if (__atomic_load_n(&check_failures_, __ATOMIC_SEQ_CST) > 20) {
            printf("    too many failures, stopping at cycle %ld\n", i);
            break;
        }
    }
    CHECK_OK(usocket_close(l));
    printf("    %ld cycles, %ld with an error path\n", ok, errors);
    CHECK_EQ_INT(count_fds(), fds0);
    CHECK_EQ_INT(usocket_open_handles(), handles0);
}

static void test_connect_timeouts_do_not_leak(void)
{
    usocket_t fill[64], x;
    size_t nfill, i;
    uint16_t port;
    int fds0 = count_fds();
    usocket_t l = full_listener(&port, fill, 64, &nfill);
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.connect_timeout_ms = 5;
    for (i = 0; i < 20; i++)
        CHECK_RC(usocket_connect("127.0.0.1", port, &o, &x), USOCKET_ERR_TIMEOUT);
    for (i = 0; i < nfill; i++)
        CHECK_OK(usocket_close(fill[i]));
    CHECK_OK(usocket_close(l));
    CHECK_EQ_INT(count_fds(), fds0);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void *failing_thread(void *arg)
{
    /* a failure stores a message in this thread's last error */
    (void)arg;
    usocket_close(0);
    return NULL;
}

static void test_threads_do_not_leak(void)
{
    /* the per-thread last error of short-lived threads is freed with them */
    int i;
    for (i = 0; i < 50; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, failing_thread, NULL) == 0);
        pthread_join(t, NULL);
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static const struct check_case cases[] = {
    CHECK_CASE(test_connect_close_cycles),
    CHECK_CASE(test_connect_timeouts_do_not_leak),
    CHECK_CASE(test_threads_do_not_leak),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
