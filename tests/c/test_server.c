/* The socket server (usocket's socket-server): options, argument errors,
   TCP and UDP handlers with their user data and peers, run / spawn / stop /
   close / wait, stop from a handler, multi-threading that a stuck handler
   cannot stop, UDP replies and truncation, stack sizes, and no leaks. */
#include "check.h"

struct tcp_state {
    int calls;              /* handler calls, atomically */
    usocket_t server;       /* for handlers that stop their server */
    int stop_in_handler;
    int wait_in_handler_rc; /* what usocket_server_wait said inside a handler */
    uint16_t last_peer_port;
    uint8_t last_peer_family;
    usocket_t last_client;
    int echo_once;          /* echo one read, then return without closing */
    /* a gate that holds the first handler */
    int hold_first;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int released;
};

static void state_init(struct tcp_state *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->wait_in_handler_rc = 1;
}

static void state_release(struct tcp_state *st)
{
    pthread_mutex_lock(&st->mu);
    st->released = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* Echoes until EOF (or once, with echo_once). */
static void tcp_handler(void *user_data, usocket_t client, const usocket_address *peer)
{
    struct tcp_state *st = user_data;
    uint8_t buf[4096];
    int call = __atomic_add_fetch(&st->calls, 1, __ATOMIC_SEQ_CST);
    st->last_peer_port = peer->port;
    st->last_peer_family = peer->family;
    st->last_client = client;
    if (st->hold_first && call == 1) {
        pthread_mutex_lock(&st->mu);
        while (!st->released)
            pthread_cond_wait(&st->cv, &st->mu);
        pthread_mutex_unlock(&st->mu);
    }
    if (st->stop_in_handler) {
        st->wait_in_handler_rc = usocket_server_wait(st->server, 10);
        usocket_server_stop(st->server);
    }
    for (;;) {
        size_t n = 0, w;
        if (usocket_read(client, buf, sizeof buf, &n) != USOCKET_OK || n == 0)
            return;
        if (usocket_write(client, buf, n, &w) != USOCKET_OK)
            return;
        if (st->echo_once)
            return; /* the server closes the client */
    }
}

static usocket_t tcp_server(struct tcp_state *st, const usocket_server_options *o, uint16_t *port)
{
    usocket_t srv = 0;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, o, tcp_handler, NULL, st, &srv));
    st->server = srv;
    if (port)
        *port = local_port(srv);
    return srv;
}

/* Connects, sends text, checks the echo; returns the client (open). */
static usocket_t echo_through(uint16_t port, const char *text)
{
    usocket_t c;
    usocket_connect_options o;
    uint8_t buf[256];
    usocket_connect_options_init(&o);
    o.timeout_ms = 5000;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &o, &c));
    send_str(c, text);
    read_exactly(c, buf, strlen(text));
    CHECK(memcmp(buf, text, strlen(text)) == 0);
    return c;
}

static void test_server_options_init(void)
{
    usocket_server_options o;
    memset(&o, 0x5a, sizeof o);
    usocket_server_options_init(&o);
    CHECK_EQ_INT(o.protocol, USOCKET_STREAM);
    CHECK(o.reuse_address == true);
    CHECK_MSG(o.backlog >= 128, "the default backlog is SOMAXCONN, got %d", o.backlog);
    CHECK(o.multi_threading == false);
    CHECK_EQ_INT(o.timeout_ms, 1000);
    CHECK_EQ_INT(o.max_buffer_size, 65507);
    usocket_server_options_init(NULL);
}

static size_t udp_echo(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer, uint8_t *reply,
                       size_t reply_cap);

static void test_server_new_args(void)
{
    usocket_server_options o;
    usocket_t srv = 7, l;
    struct tcp_state st;
    uint16_t port;
    int fds = count_fds();
    state_init(&st);

    CHECK_RC(usocket_server_new("127.0.0.1", 0, NULL, tcp_handler, NULL, &st, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    /* 0.2: the handler of the other protocol is ignored, and a NULL handler
       of the server's own makes a server the caller serves with
       usocket_server_next (run and spawn refuse it). */
    usocket_server_options_init(&o);
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, NULL, NULL, udp_echo, &st, &srv));
    CHECK_RC(usocket_server_run(srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_next(srv, 0, &l, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_OK(usocket_close(srv));
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, tcp_handler, NULL, &st, &srv));
    CHECK_RC(usocket_server_spawn(srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_close(srv));
    srv = 7;
    CHECK_RC(usocket_server_new("127.0.0.\xff", 0, NULL, tcp_handler, NULL, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.max_buffer_size = 0;
    CHECK_RC(usocket_server_new("127.0.0.1", 0, &o, NULL, udp_echo, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    o.max_buffer_size = 65508;
    CHECK_RC(usocket_server_new("127.0.0.1", 0, &o, NULL, udp_echo, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    usocket_server_options_init(&o);
    o.protocol = 2;
    CHECK_RC(usocket_server_new("127.0.0.1", 0, &o, tcp_handler, NULL, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    o.protocol = -1;
    CHECK_RC(usocket_server_new("127.0.0.1", 0, &o, tcp_handler, udp_echo, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    usocket_server_options_init(&o);
    o.backlog = -1;
    CHECK_RC(usocket_server_new("127.0.0.1", 0, &o, tcp_handler, NULL, &st, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    /* a port in use */
    l = listener_on("127.0.0.1", &port);
    CHECK_RC(usocket_server_new("127.0.0.1", port, NULL, tcp_handler, NULL, &st, &srv), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_OK(usocket_close(l));
    CHECK_EQ_INT(srv, 7);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    CHECK_EQ_INT(count_fds(), fds);
}

static void test_tcp_spawn(void)
{
    struct tcp_state st;
    usocket_t srv, c, w;
    uint16_t port;
    usocket_address a, cl;
    int32_t k;
    uint8_t b[8];
    size_t n;
    int fds = count_fds();

    state_init(&st);
    st.echo_once = 1;
    srv = tcp_server(&st, NULL, &port);
    CHECK(port != 0);
    CHECK_OK(usocket_local_name(srv, &a));
    CHECK_EQ_INT(a.family, 4);
    CHECK_OK(usocket_server_spawn(srv));

    c = echo_through(port, "spawned");
    /* the handler returned without closing: the server closes the client */
    n = 99;
    CHECK_OK(usocket_read(c, b, sizeof b, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(usocket_local_name(c, &cl));
    CHECK_EQ_INT(st.last_peer_port, cl.port);
    CHECK_EQ_INT(st.last_peer_family, 4);
    CHECK_EQ_INT(__atomic_load_n(&st.calls, __ATOMIC_SEQ_CST), 1);
    CHECK_OK(usocket_close(c));
    /* the client's handle is dead once the handler has returned */
    sleep_ms(20);
    CHECK_RC(usocket_kind(st.last_client, &k), USOCKET_ERR_INVALID_HANDLE);

    /* a server handle is not a socket */
    CHECK_RC(usocket_kind(srv, &k), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_read(srv, b, 1, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_accept(srv, &c), USOCKET_ERR_WRONG_KIND);
    REQUIRE_OK(usocket_wait_list_new(&w));
    CHECK_RC(usocket_wait_list_add(w, srv), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_wait_list_free(srv), USOCKET_ERR_WRONG_KIND);
    CHECK_OK(usocket_wait_list_free(w));
    /* and sockets are not servers */
    c = udp_socket(NULL);
    CHECK_RC(usocket_server_run(c), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_spawn(c), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_stop(c), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_wait(c, 0), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_server_set_stack_size(c, 0), USOCKET_ERR_WRONG_KIND);
    CHECK_OK(usocket_close(c));

    /* stop: refused at once; the handle stays valid until closed */
    CHECK_OK(usocket_server_stop(srv));
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_OK(usocket_server_stop(srv)); /* twice: harmless */
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_local_name(srv, &a));
    CHECK_OK(usocket_close(srv));
    CHECK_RC(usocket_close(srv), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_server_stop(srv), USOCKET_ERR_INVALID_HANDLE);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    CHECK_EQ_INT(count_fds(), fds);
}

struct runner {
    usocket_t srv;
    int32_t rc;
    double returned_at;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = usocket_server_run(r->srv);
    r->returned_at = now_ms();
    return NULL;
}

static void test_run_and_stop(void)
{
    struct tcp_state st;
    struct runner r;
    pthread_t t;
    uint16_t port;
    usocket_t c;
    double stopped_at;
    state_init(&st);
    r.srv = tcp_server(&st, NULL, &port);
    r.rc = 1;
    REQUIRE(pthread_create(&t, NULL, run_thread, &r) == 0);
    c = echo_through(port, "run");
    CHECK_OK(usocket_close(c));
    c = echo_through(port, "again");
    CHECK_OK(usocket_close(c));
    /* a server serves once: no second run or spawn while it serves */
    CHECK_RC(usocket_server_run(r.srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_spawn(r.srv), USOCKET_ERR_INVALID_ARGUMENT);
    sleep_ms(20);
    stopped_at = now_ms();
    CHECK_OK(usocket_server_stop(r.srv));
    pthread_join(t, NULL);
    CHECK_OK(r.rc);
    CHECK_MSG(r.returned_at - stopped_at < 100 * slow(), "run returned %.0f ms after the stop",
              r.returned_at - stopped_at);
    CHECK_EQ_INT(__atomic_load_n(&st.calls, __ATOMIC_SEQ_CST), 2);
    /* stopped: a run returns at once, nothing is served */
    stopped_at = now_ms();
    CHECK_OK(usocket_server_run(r.srv));
    CHECK(now_ms() - stopped_at < 100 * slow());
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_OK(usocket_server_wait(r.srv, 5000));
    CHECK_OK(usocket_close(r.srv));
}

static void test_run_on_stopped_server(void)
{
    struct tcp_state st;
    usocket_t srv;
    double t0;
    state_init(&st);
    srv = tcp_server(&st, NULL, NULL);
    CHECK_OK(usocket_server_stop(srv));
    t0 = now_ms();
    CHECK_OK(usocket_server_run(srv)); /* returns at once */
    CHECK(now_ms() - t0 < 100 * slow());
    CHECK_OK(usocket_close(srv));
}

static void test_stop_from_handler(void)
{
    struct tcp_state st;
    struct runner r;
    pthread_t t;
    uint16_t port;
    usocket_t c;
    state_init(&st);
    st.stop_in_handler = 1;
    st.echo_once = 1;
    r.srv = tcp_server(&st, NULL, &port);
    r.rc = 1;
    REQUIRE(pthread_create(&t, NULL, run_thread, &r) == 0);
    c = echo_through(port, "stop now");
    pthread_join(t, NULL);
    CHECK_OK(r.rc);
    CHECK_RC(st.wait_in_handler_rc, USOCKET_ERR_INVALID_ARGUMENT); /* a handler cannot wait for itself */
    CHECK_OK(usocket_close(c));
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_OK(usocket_server_wait(r.srv, 5000));
    CHECK_OK(usocket_close(r.srv));
}

static void test_close_stops_and_frees(void)
{
    struct tcp_state st;
    usocket_t srv, c;
    uint16_t port;
    int fds = count_fds();
    state_init(&st);
    srv = tcp_server(&st, NULL, &port);
    CHECK_OK(usocket_server_spawn(srv));
    c = echo_through(port, "before close");
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(srv));
    CHECK_RC(usocket_connect("127.0.0.1", port, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_RC(usocket_server_wait(srv, 0), USOCKET_ERR_INVALID_HANDLE);
    sleep_ms(50); /* the serving thread winds down on its own */
    CHECK_EQ_INT(usocket_open_handles(), 0);
    CHECK_EQ_INT(count_fds(), fds);
}

static void test_close_under_run(void)
{
    /* usocket_close on a server another thread runs: run returns */
    struct tcp_state st;
    struct runner r;
    pthread_t t;
    double closed_at;
    state_init(&st);
    r.srv = tcp_server(&st, NULL, NULL);
    r.rc = 1;
    REQUIRE(pthread_create(&t, NULL, run_thread, &r) == 0);
    sleep_ms(100);
    closed_at = now_ms();
    CHECK_OK(usocket_close(r.srv));
    pthread_join(t, NULL);
    CHECK_OK(r.rc);
    CHECK(r.returned_at - closed_at < 100 * slow());
}

static void test_multi_threading(void)
{
    /* a stuck handler and a silent client do not stop others being served */
    struct tcp_state st;
    usocket_server_options o;
    usocket_t srv, stuck, silent, c;
    uint16_t port;
    int i;
    state_init(&st);
    st.hold_first = 1;
    usocket_server_options_init(&o);
    o.multi_threading = true;
    srv = tcp_server(&st, &o, &port);
    CHECK_OK(usocket_server_spawn(srv));
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &stuck)); /* its handler holds */
    sleep_ms(50);
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &silent)); /* never sends */
    for (i = 0; i < 10; i++) {
        char text[32];
        snprintf(text, sizeof text, "meanwhile %d", i);
        c = echo_through(port, text);
        CHECK_OK(usocket_close(c));
    }
    state_release(&st);
    CHECK_OK(usocket_close(stuck));
    CHECK_OK(usocket_close(silent));
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000)); /* every handler has ended */
    CHECK_EQ_INT(__atomic_load_n(&st.calls, __ATOMIC_SEQ_CST), 12);
    CHECK_OK(usocket_close(srv));
}

static void test_one_client_at_a_time(void)
{
    /* without multi_threading a held handler holds the next client */
    struct tcp_state st;
    usocket_t srv, first, second;
    uint16_t port;
    usocket_connect_options co;
    uint8_t b[8];
    size_t n;
    state_init(&st);
    st.hold_first = 1;
    srv = tcp_server(&st, NULL, &port);
    CHECK_OK(usocket_server_spawn(srv));
    REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &first));
    sleep_ms(50);
    usocket_connect_options_init(&co);
    co.timeout_ms = 200;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &second)); /* queued in the backlog */
    send_str(second, "wait");
    CHECK_RC(usocket_read(second, b, 4, &n), USOCKET_ERR_TIMEOUT);
    state_release(&st);
    CHECK_OK(usocket_close(first));
    CHECK_OK(usocket_set_option(second, USOCKET_OPT_RECEIVE_TIMEOUT, 5000));
    read_exactly(second, b, 4);
    CHECK(memcmp(b, "wait", 4) == 0);
    CHECK_OK(usocket_close(second));
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_close(srv));
}

/* ---- UDP ---------------------------------------------------------------- */

struct udp_state {
    int calls;
    size_t last_len;
    size_t last_cap;
    uint16_t last_peer_port;
    size_t overshoot; /* return reply_cap + this when non-zero */
};

/* Replies with the datagram upper-cased; nothing to an empty datagram. */
static size_t udp_echo(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer, uint8_t *reply,
                       size_t reply_cap)
{
    struct udp_state *st = user_data;
    size_t i;
    __atomic_add_fetch(&st->calls, 1, __ATOMIC_SEQ_CST);
    st->last_len = len;
    st->last_cap = reply_cap;
    st->last_peer_port = peer->port;
    for (i = 0; i < len && i < reply_cap; i++)
        reply[i] = (uint8_t)((data[i] >= 'a' && data[i] <= 'z') ? data[i] - 32 : data[i]);
    if (st->overshoot)
        return reply_cap + st->overshoot;
    return len;
}

static void test_udp_server(void)
{
    struct udp_state st;
    usocket_server_options o;
    usocket_t srv, a, b;
    uint16_t port;
    uint8_t buf[128];
    size_t n;
    usocket_address la, lb;
    usocket_connect_options co;
    memset(&st, 0, sizeof st);
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 100;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, udp_echo, &st, &srv));
    port = local_port(srv);
    CHECK_OK(usocket_server_spawn(srv));

    usocket_connect_options_init(&co);
    co.protocol = USOCKET_DATAGRAM;
    co.timeout_ms = 2000;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &a));
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &b));
    CHECK_OK(usocket_local_name(a, &la));
    CHECK_OK(usocket_local_name(b, &lb));
    /* each sender gets its own reply */
    CHECK_OK(usocket_send(a, (const uint8_t *)"from a", 6, NULL, 0, &n));
    CHECK_OK(usocket_send(b, (const uint8_t *)"from b", 6, NULL, 0, &n));
    CHECK_OK(usocket_receive(a, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 6);
    CHECK(memcmp(buf, "FROM A", 6) == 0);
    CHECK_OK(usocket_receive(b, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 6);
    CHECK(memcmp(buf, "FROM B", 6) == 0);
    CHECK_EQ_INT(st.last_cap, 65507);
    CHECK(st.last_peer_port == la.port || st.last_peer_port == lb.port);
    /* an empty datagram reaches the handler; a 0 return sends nothing */
    CHECK_OK(usocket_send(a, NULL, 0, NULL, 0, &n));
    CHECK_OK(usocket_set_option(a, USOCKET_OPT_RECEIVE_TIMEOUT, 300));
    CHECK_RC(usocket_receive(a, buf, sizeof buf, &n, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_EQ_INT(__atomic_load_n(&st.calls, __ATOMIC_SEQ_CST), 3);
    CHECK_EQ_INT(st.last_len, 0);
    /* the loop keeps serving across its own receive timeouts (100 ms) */
    sleep_ms(250);
    CHECK_OK(usocket_set_option(a, USOCKET_OPT_RECEIVE_TIMEOUT, 2000));
    CHECK_OK(usocket_send(a, (const uint8_t *)"still", 5, NULL, 0, &n));
    CHECK_OK(usocket_receive(a, buf, sizeof buf, &n, NULL));
    CHECK(n == 5 && memcmp(buf, "STILL", 5) == 0);

    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_close(srv));
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
}

static void test_udp_buffer_size(void)
{
    struct udp_state st;
    usocket_server_options o;
    usocket_t srv, a;
    uint16_t port;
    uint8_t buf[128];
    size_t n;
    usocket_connect_options co;
    memset(&st, 0, sizeof st);
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.max_buffer_size = 16;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, udp_echo, &st, &srv));
    port = local_port(srv);
    CHECK_OK(usocket_server_spawn(srv));
    usocket_connect_options_init(&co);
    co.protocol = USOCKET_DATAGRAM;
    co.timeout_ms = 2000;
    REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &a));
    /* a longer datagram is cut to max_buffer_size */
    CHECK_OK(usocket_send(a, (const uint8_t *)"abcdefghijklmnopqrstuvwxyz", 26, NULL, 0, &n));
    CHECK_OK(usocket_receive(a, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 16);
    CHECK(memcmp(buf, "ABCDEFGHIJKLMNOP", 16) == 0);
    CHECK_EQ_INT(st.last_len, 16);
    CHECK_EQ_INT(st.last_cap, 16);
    /* a handler returning more than reply_cap: cut to reply_cap */
    st.overshoot = 1000;
    CHECK_OK(usocket_send(a, (const uint8_t *)"xy", 2, NULL, 0, &n));
    CHECK_OK(usocket_receive(a, buf, sizeof buf, &n, NULL));
    CHECK_EQ_INT(n, 16);
    CHECK_OK(usocket_close(srv)); /* close without a stop first */
    CHECK_OK(usocket_close(a));
}

static void test_server_wait(void)
{
    struct tcp_state st;
    usocket_t srv;
    double t0;
    state_init(&st);
    srv = tcp_server(&st, NULL, NULL);
    CHECK_OK(usocket_server_spawn(srv));
    t0 = now_ms();
    CHECK_RC(usocket_server_wait(srv, 100), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 95, 100 + 100 * slow());
    CHECK_RC(usocket_server_wait(srv, 0), USOCKET_ERR_TIMEOUT);
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, -1));
    CHECK_OK(usocket_server_wait(srv, 0));
    CHECK_OK(usocket_close(srv));
    CHECK_RC(usocket_server_wait(srv, 0), USOCKET_ERR_INVALID_HANDLE);
    CHECK_RC(usocket_server_wait(0, 0), USOCKET_ERR_INVALID_HANDLE);
}

static void test_set_stack_size(void)
{
    struct tcp_state st;
    usocket_server_options o;
    usocket_t srv, c;
    uint16_t port;
    state_init(&st);
    usocket_server_options_init(&o);
    o.multi_threading = true;
    srv = tcp_server(&st, &o, &port);
    CHECK_RC(usocket_server_set_stack_size(srv, 65535), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_set_stack_size(srv, 1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_set_stack_size(srv, ((size_t)1 << 30) + 1), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_set_stack_size(srv, SIZE_MAX), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_server_set_stack_size(srv, (size_t)1 << 30));
    CHECK_OK(usocket_server_set_stack_size(srv, 0));
    CHECK_OK(usocket_server_set_stack_size(srv, 65536));
    CHECK_OK(usocket_server_set_stack_size(srv, 256 * 1024));
    CHECK_OK(usocket_server_spawn(srv));
    c = echo_through(port, "on a 256 KiB stack");
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_close(srv));
    CHECK_RC(usocket_server_set_stack_size(srv, 0), USOCKET_ERR_INVALID_HANDLE);
}

static void test_server_hosts(void)
{
    struct tcp_state st;
    usocket_t srv, c;
    usocket_address a;
    uint16_t port;
    state_init(&st);
    REQUIRE_OK(usocket_server_new(NULL, 0, NULL, tcp_handler, NULL, &st, &srv));
    CHECK_OK(usocket_local_name(srv, &a));
    CHECK_EQ_INT(a.family, 4);
    CHECK_OK(usocket_close(srv));
    REQUIRE_OK(usocket_server_new("::", 0, NULL, tcp_handler, NULL, &st, &srv));
    CHECK_OK(usocket_local_name(srv, &a));
    CHECK_EQ_INT(a.family, 6);
    port = a.port;
    CHECK_OK(usocket_server_spawn(srv));
    c = echo_through(port, "dual stack"); /* over IPv4 */
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_close(srv));
}

static void test_server_cycles_do_not_leak(void)
{
    int i, rounds = under_valgrind() ? 10 : 100;
    int fds = count_fds();
    for (i = 0; i < rounds; i++) {
        struct tcp_state st;
        usocket_server_options o;
        usocket_t srv, c;
        uint16_t port;
        state_init(&st);
        usocket_server_options_init(&o);
        o.multi_threading = i % 2;
        srv = tcp_server(&st, &o, &port);
        CHECK_OK(usocket_server_spawn(srv));
        c = echo_through(port, "cycle");
        CHECK_OK(usocket_close(c));
        CHECK_OK(usocket_server_stop(srv));
        CHECK_OK(usocket_server_wait(srv, 5000));
        CHECK_OK(usocket_close(srv));
    }
    sleep_ms(20);
    CHECK_EQ_INT(count_fds(), fds);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}


/* ---- the threads the server creates ------------------------------------- */

struct mask_seen {
    int seen;
    int async_blocked;  /* SIGINT, SIGTERM, SIGUSR1, SIGALRM, SIGCHLD, SIGPIPE all blocked */
    int sync_open;      /* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP all unblocked */
    pthread_t thread;
};

static void record_mask(struct mask_seen *m)
{
    static const int async[] = { SIGINT, SIGTERM, SIGUSR1, SIGALRM, SIGCHLD, SIGPIPE };
    static const int sync[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
    sigset_t set;
    size_t i;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    m->async_blocked = 1;
    for (i = 0; i < sizeof async / sizeof async[0]; i++)
        if (!sigismember(&set, async[i]))
            m->async_blocked = 0;
    m->sync_open = 1;
    for (i = 0; i < sizeof sync / sizeof sync[0]; i++)
        if (sigismember(&set, sync[i]))
            m->sync_open = 0;
    m->thread = pthread_self();
    __atomic_store_n(&m->seen, 1, __ATOMIC_SEQ_CST);
}

static void mask_tcp_handler(void *user_data, usocket_t client, const usocket_address *peer)
{
    (void)client;
    (void)peer;
    record_mask(user_data);
}

static size_t mask_udp_handler(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer,
                               uint8_t *reply, size_t reply_cap)
{
    (void)data;
    (void)len;
    (void)peer;
    (void)reply_cap;
    record_mask(user_data);
    reply[0] = 'k';
    return 1;
}

static void check_mask(struct mask_seen *m, const char *which)
{
    CHECK_MSG(m->seen, "%s: the handler ran", which);
    CHECK_MSG(m->async_blocked, "%s: the library's thread blocks asynchronous signals", which);
    CHECK_MSG(m->sync_open, "%s: the library's thread leaves SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP unblocked",
              which);
    CHECK_MSG(!pthread_equal(m->thread, pthread_self()), "%s: the handler ran on a thread of the library's", which);
}

static void test_server_threads_block_signals(void)
{
    usocket_server_options o;
    struct mask_seen m;
    usocket_t srv, c;
    uint16_t port;
    uint8_t b[4];
    size_t n;
    int multi;
    /* the main thread blocks nothing, so anything blocked was the library's doing */
    {
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
    }
    for (multi = 0; multi < 2; multi++) {
        memset(&m, 0, sizeof m);
        usocket_server_options_init(&o);
        o.multi_threading = multi;
        REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, mask_tcp_handler, NULL, &m, &srv));
        port = local_port(srv);
        CHECK_OK(usocket_server_spawn(srv));
        REQUIRE_OK(usocket_connect("127.0.0.1", port, NULL, &c));
        CHECK_OK(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 5000));
        CHECK_OK(usocket_read(c, b, sizeof b, &n)); /* EOF once the handler returned */
        CHECK_OK(usocket_close(c));
        CHECK_OK(usocket_server_stop(srv));
        CHECK_OK(usocket_server_wait(srv, 5000));
        CHECK_OK(usocket_close(srv));
        check_mask(&m, multi ? "TCP client thread" : "TCP serving thread");
    }
    memset(&m, 0, sizeof m);
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    REQUIRE_OK(usocket_server_new("127.0.0.1", 0, &o, NULL, mask_udp_handler, &m, &srv));
    port = local_port(srv);
    CHECK_OK(usocket_server_spawn(srv));
    {
        usocket_connect_options co;
        usocket_connect_options_init(&co);
        co.protocol = USOCKET_DATAGRAM;
        co.timeout_ms = 5000;
        REQUIRE_OK(usocket_connect("127.0.0.1", port, &co, &c));
        CHECK_OK(usocket_send(c, (const uint8_t *)"m", 1, NULL, 0, &n));
        CHECK_OK(usocket_receive(c, b, sizeof b, &n, NULL));
        CHECK_OK(usocket_close(c));
    }
    CHECK_OK(usocket_server_stop(srv));
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_OK(usocket_close(srv));
    check_mask(&m, "UDP serving thread");
}

static const struct check_case cases[] = {
    CHECK_CASE(test_server_options_init),
    CHECK_CASE(test_server_new_args),
    CHECK_CASE(test_tcp_spawn),
    CHECK_CASE(test_run_and_stop),
    CHECK_CASE(test_run_on_stopped_server),
    CHECK_CASE(test_stop_from_handler),
    CHECK_CASE(test_close_stops_and_frees),
    CHECK_CASE(test_close_under_run),
    CHECK_CASE(test_multi_threading),
    CHECK_CASE(test_one_client_at_a_time),
    CHECK_CASE(test_udp_server),
    CHECK_CASE(test_udp_buffer_size),
    CHECK_CASE(test_server_wait),
    CHECK_CASE(test_set_stack_size),
    CHECK_CASE(test_server_hosts),
    CHECK_CASE(test_server_cycles_do_not_leak),
    CHECK_CASE(test_server_threads_block_signals),
};

int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
