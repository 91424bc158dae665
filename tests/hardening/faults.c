/*
 * faults.c: the C runner of the shared fault table (faults.tsv).
 *
 *   build/hardening/faults tests/hardening/faults.tsv
 *
 * Provokes each fault whose `c` column says `run` and checks that the call
 * fails with the code whose usocket_error_name() is the table's `expected`
 * (or, for `end-of-file`, that the read returned 0 bytes). After each fault
 * the library's open handles and this process's descriptors must be what
 * they were before it: error paths leak nothing.
 *
 * SIGPIPE is at its default disposition (set so explicitly): the faults that
 * write to a reset or shut-down peer would kill the process if the library
 * raised it.
 *
 * Faults marked `netns` run only when USOCKET_HARDENING_NETNS=1 and
 * /etc/nsswitch.conf says "hosts: files" (run.sh runs this program in such a
 * namespace); otherwise they fail rather than ask the real resolver.
 *
 * Prints one line per fault and "N passed, M failed" last; exit status 0
 * only when nothing failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdint.h>

#include "hcommon.h"

#define EOF_NAME "end-of-file"

static char setup_text[256];

/* A fault's outcome: usocket's name of the code, "ok", "end-of-file", or a
 * setup failure. */
static const char *outcome(int32_t rc)
{
    return rc == USOCKET_OK ? "ok" : usocket_error_name(rc);
}

static const char *setup_failed(const char *what, int32_t rc)
{
    snprintf(setup_text, sizeof setup_text, "setup failed: %s: %s (%s)", what, usocket_error_name(rc),
             usocket_last_error_message());
    return setup_text;
}

#define SETUP(what, call)                                                                                    \
    do {                                                                                                     \
        int32_t setup_rc_ = (call);                                                                          \
        if (setup_rc_ != USOCKET_OK)                                                                         \
            return setup_failed(what, setup_rc_);                                                            \
    } while (0)

static const char *LO4 = "127.0.0.1";
static const char *UNKNOWN = "no-such-host.invalid";

/* An unconnected datagram socket bound to 127.0.0.1 (port 0: any). */
static int32_t udp_bound(uint16_t port, int64_t timeout_ms, usocket_t *out)
{
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = LO4;
    o.local_port = port;
    o.timeout_ms = timeout_ms;
    return usocket_connect(NULL, 0, &o, out);
}

static uint16_t port_of(usocket_t s)
{
    usocket_address a;
    memset(&a, 0, sizeof a);
    usocket_local_name(s, &a);
    return a.port;
}

/* ------------------------------------------------------------------ */
/* The faults                                                          */

static const char *f_connect_refused(void)
{
    usocket_t c;
    int32_t rc = h_connect(LO4, h_dead_port(LO4), 0, 2000, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    return outcome(rc);
}

static const char *f_connect_refused_ipv6(void)
{
    usocket_t c;
    uint16_t port = h_dead_port("::1");
    if (port == 0)
        return "setup failed: no ::1";
    int32_t rc = h_connect("::1", port, 0, 2000, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    return outcome(rc);
}

static const char *f_connect_timeout_full_backlog(void)
{
    usocket_t l, c1, c2;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 0, &l, &port));
    int32_t rc = h_connect(LO4, port, 0, 2000, &c1);
    if (rc != USOCKET_OK) {
        usocket_close(l);
        return setup_failed("first connect", rc);
    }
    double t0 = h_now_ms();
    rc = h_connect(LO4, port, 0, 200, &c2);
    double took = h_now_ms() - t0;
    if (rc == USOCKET_OK)
        usocket_close(c2);
    usocket_close(c1);
    usocket_close(l);
    if (rc == USOCKET_ERR_TIMEOUT && (took < 180 || took > 400)) {
        snprintf(setup_text, sizeof setup_text, "timeout-error after %.0f ms, not ~200", took);
        return setup_text;
    }
    return outcome(rc);
}

static const char *f_read_timeout(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 100);
    uint8_t buf[8];
    size_t n;
    double t0 = h_now_ms();
    int32_t rc = usocket_read(c, buf, sizeof buf, &n);
    double took = h_now_ms() - t0;
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    if (rc == USOCKET_ERR_TIMEOUT && (took < 90 || took > 200)) {
        snprintf(setup_text, sizeof setup_text, "timeout-error after %.0f ms, not ~100", took);
        return setup_text;
    }
    return outcome(rc);
}

static const char *f_accept_timeout(void)
{
    usocket_t l, c;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 100);
    int32_t rc = usocket_accept(l, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_receive_timeout(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 100, &u));
    uint8_t buf[16];
    size_t n;
    int32_t rc = usocket_receive(u, buf, sizeof buf, &n, NULL);
    usocket_close(u);
    return outcome(rc);
}

/* A pair whose server side was closed with a RST; returns once the RST has
 * reached the client (its input is ready). */
static const char *reset_pair(usocket_t *c)
{
    usocket_t s, l;
    SETUP("pair", h_pair(LO4, c, &s, &l));
    usocket_close(l);
    if (h_linger0(s) != 0) {
        usocket_close(*c);
        usocket_close(s);
        return "setup failed: SO_LINGER";
    }
    usocket_close(s);
    if (!h_wait_input(*c, 2000)) {
        usocket_close(*c);
        return "setup failed: the RST did not arrive within 2 s";
    }
    return NULL;
}

static const char *f_reset_by_peer_read(void)
{
    usocket_t c;
    const char *e = reset_pair(&c);
    if (e)
        return e;
    uint8_t buf[8];
    size_t n = 99;
    int32_t rc = usocket_read(c, buf, sizeof buf, &n);
    usocket_close(c);
    return rc == USOCKET_OK && n == 0 ? EOF_NAME : outcome(rc);
}

static const char *f_write_after_peer_reset(void)
{
    usocket_t c;
    const char *e = reset_pair(&c);
    if (e)
        return e;
    size_t n;
    int32_t rc = usocket_write(c, (const uint8_t *)"x", 1, &n);
    usocket_close(c);
    return outcome(rc);
}

static const char *f_write_after_reset_reported(void)
{
    usocket_t c;
    const char *e = reset_pair(&c);
    if (e)
        return e;
    size_t n;
    int32_t first = usocket_write(c, (const uint8_t *)"x", 1, &n);
    int32_t rc = usocket_write(c, (const uint8_t *)"y", 1, &n);
    usocket_close(c);
    if (first != USOCKET_ERR_CONNECTION_RESET) {
        snprintf(setup_text, sizeof setup_text, "the first write gave %s, not connection-reset-error",
                 outcome(first));
        return setup_text;
    }
    return outcome(rc);
}

static const char *f_write_after_shutdown_output(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    int32_t rc = usocket_shutdown(c, USOCKET_SHUT_OUTPUT);
    size_t n;
    if (rc == USOCKET_OK)
        rc = usocket_write(c, (const uint8_t *)"x", 1, &n);
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_eof_read(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    usocket_close(s);
    uint8_t buf[8];
    size_t n = 99;
    int32_t rc = usocket_read(c, buf, sizeof buf, &n);
    usocket_close(c);
    usocket_close(l);
    return rc == USOCKET_OK && n == 0 ? EOF_NAME : outcome(rc);
}

static const char *f_datagram_refused(void)
{
    usocket_t gone, u;
    SETUP("datagram socket", udp_bound(0, 0, &gone));
    uint16_t port = port_of(gone);
    usocket_close(gone);
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 2000;
    SETUP("datagram connect", usocket_connect(LO4, port, &o, &u));
    size_t n;
    int32_t rc = usocket_send(u, (const uint8_t *)"ping", 4, NULL, 0, &n);
    if (rc == USOCKET_OK) {
        uint8_t buf[16];
        rc = usocket_receive(u, buf, sizeof buf, &n, NULL);
    }
    usocket_close(u);
    return outcome(rc);
}

static const char *f_unknown_host_connect(void)
{
    usocket_t c;
    int32_t rc = h_connect(UNKNOWN, 80, 0, 2000, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    return outcome(rc);
}

static const char *f_unknown_host_resolve(void)
{
    size_t count = 0;
    return outcome(usocket_resolve(UNKNOWN, NULL, 0, &count));
}

static const char *f_unknown_host_send(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    size_t n;
    int32_t rc = usocket_send(u, (const uint8_t *)"x", 1, UNKNOWN, 9, &n);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_unknown_local_host(void)
{
    usocket_t l;
    int32_t rc = usocket_listen(UNKNOWN, 0, NULL, &l);
    if (rc == USOCKET_OK)
        usocket_close(l);
    return outcome(rc);
}

static const char *f_empty_host(void)
{
    usocket_t c;
    int32_t rc = h_connect("", h_dead_port(LO4), 0, 2000, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    return outcome(rc);
}

static const char *f_invalid_utf8_host(void)
{
    usocket_t c;
    int32_t rc = h_connect("\xff\xfe", 80, 0, 2000, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    return outcome(rc);
}

static const char *f_address_in_use_tcp(void)
{
    usocket_t l, l2;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    int32_t rc = usocket_listen(LO4, port, NULL, &l2);
    if (rc == USOCKET_OK)
        usocket_close(l2);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_address_in_use_udp(void)
{
    usocket_t u, u2;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    int32_t rc = udp_bound(port_of(u), 0, &u2);
    if (rc == USOCKET_OK)
        usocket_close(u2);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_local_port_in_use(void)
{
    usocket_t l, c;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.local_host = LO4;
    o.local_port = port;
    o.connect_timeout_ms = 2000;
    int32_t rc = usocket_connect(LO4, port, &o, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_address_not_available(void)
{
    usocket_t l;
    int32_t rc = usocket_listen("192.0.2.1", 0, NULL, &l);
    if (rc == USOCKET_OK)
        usocket_close(l);
    return outcome(rc);
}

static const char *f_local_host_family_mismatch(void)
{
    usocket_t l, c;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.local_host = "::1";
    o.connect_timeout_ms = 2000;
    int32_t rc = usocket_connect(LO4, port, &o, &c);
    if (rc == USOCKET_OK)
        usocket_close(c);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_use_after_close(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_close(l);
    usocket_address a;
    return outcome(usocket_local_name(l, &a));
}

static const char *f_read_after_close(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    usocket_close(c);
    uint8_t buf[4];
    size_t n;
    int32_t rc = usocket_read(c, buf, sizeof buf, &n);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_stale_handle(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    usocket_close(u);
    uint8_t buf[4];
    size_t n;
    return outcome(usocket_read(u, buf, sizeof buf, &n));
}

static const char *f_zero_handle(void)
{
    uint8_t buf[4];
    size_t n;
    return outcome(usocket_read(0, buf, sizeof buf, &n));
}

static const char *f_double_close(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    SETUP("first close", usocket_close(l));
    return outcome(usocket_close(l));
}

static const char *f_double_free_wait_list(void)
{
    usocket_t wl;
    SETUP("wait list", usocket_wait_list_new(&wl));
    SETUP("first free", usocket_wait_list_free(wl));
    return outcome(usocket_wait_list_free(wl));
}

static const char *f_wait_on_closed_socket(void)
{
    usocket_t l, l2;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    SETUP("listen", h_listen(LO4, 5, &l2, &port));
    usocket_close(l);
    usocket_t list[2] = {l2, l};
    uint8_t states[2];
    size_t nready;
    int64_t left;
    int32_t rc = usocket_wait_for_input(list, 2, 100, states, &nready, &left);
    usocket_close(l2);
    return outcome(rc);
}

static const char *f_wait_list_add_closed(void)
{
    usocket_t l, wl;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_close(l);
    SETUP("wait list", usocket_wait_list_new(&wl));
    int32_t rc = usocket_wait_list_add(wl, l);
    usocket_wait_list_free(wl);
    return outcome(rc);
}

static const char *f_wait_on_freed_wait_list(void)
{
    usocket_t wl;
    SETUP("wait list", usocket_wait_list_new(&wl));
    usocket_wait_list_free(wl);
    usocket_t ready[4];
    size_t nready;
    int64_t left;
    return outcome(usocket_wait_list_wait(wl, 100, ready, 4, &nready, &left));
}

static const char *f_wrong_kind_read_datagram(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    uint8_t buf[4];
    size_t n;
    int32_t rc = usocket_read(u, buf, sizeof buf, &n);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_wrong_kind_accept_stream(void)
{
    usocket_t c, s, l, x;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    int32_t rc = usocket_accept(c, &x);
    if (rc == USOCKET_OK)
        usocket_close(x);
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_send_stream(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    size_t n;
    int32_t rc = usocket_send(c, (const uint8_t *)"x", 1, NULL, 0, &n);
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_receive_listener(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    uint8_t buf[4];
    size_t n;
    int32_t rc = usocket_receive(l, buf, sizeof buf, &n, NULL);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_write_listener(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    size_t n;
    int32_t rc = usocket_write(l, (const uint8_t *)"x", 1, &n);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_nodelay_datagram(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    int32_t rc = usocket_set_option(u, USOCKET_OPT_TCP_NODELAY, 1);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_wrong_kind_peer_name_listener(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    usocket_address a;
    int32_t rc = usocket_peer_name(l, &a);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_shutdown_listener(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    int32_t rc = usocket_shutdown(l, USOCKET_SHUT_BOTH);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_wrong_kind_wait_list_as_socket(void)
{
    usocket_t wl;
    SETUP("wait list", usocket_wait_list_new(&wl));
    uint8_t buf[4];
    size_t n;
    int32_t rc = usocket_read(wl, buf, sizeof buf, &n);
    usocket_wait_list_free(wl);
    return outcome(rc);
}

static const char *f_datagram_too_large(void)
{
    usocket_t r, u;
    SETUP("receiver", udp_bound(0, 0, &r));
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    int32_t rc = usocket_connect(LO4, port_of(r), &o, &u);
    if (rc != USOCKET_OK) {
        usocket_close(r);
        return setup_failed("datagram connect", rc);
    }
    static uint8_t big[USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1];
    size_t n;
    rc = usocket_send(u, big, sizeof big, NULL, 0, &n);
    usocket_close(u);
    usocket_close(r);
    return outcome(rc);
}

static const char *f_send_unconnected_no_host(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    size_t n;
    int32_t rc = usocket_send(u, (const uint8_t *)"x", 1, NULL, 0, &n);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_bad_option(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    int64_t v;
    int32_t rc = usocket_get_option(u, 99, &v);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_bad_option_value(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    int32_t rc = usocket_set_option(u, USOCKET_OPT_RECEIVE_BUFFER, 0);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_negative_timeout_option(void)
{
    usocket_t u;
    SETUP("datagram socket", udp_bound(0, 0, &u));
    int32_t rc = usocket_set_option(u, USOCKET_OPT_RECEIVE_TIMEOUT, -1);
    usocket_close(u);
    return outcome(rc);
}

static const char *f_shutdown_bad_direction(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    int32_t rc = usocket_shutdown(c, 7);
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_negative_backlog(void)
{
    usocket_listen_options o;
    usocket_listen_options_init(&o);
    o.backlog = -1;
    usocket_t l;
    int32_t rc = usocket_listen(LO4, 0, &o, &l);
    if (rc == USOCKET_OK)
        usocket_close(l);
    return outcome(rc);
}

static const char *f_wait_forever_on_nothing(void)
{
    size_t nready;
    return outcome(usocket_wait_for_input(NULL, 0, -1, NULL, &nready, NULL));
}

static const char *f_null_out_pointer(void)
{
    usocket_t l;
    uint16_t port;
    SETUP("listen", h_listen(LO4, 5, &l, &port));
    int32_t rc = usocket_connect(LO4, port, NULL, NULL);
    usocket_close(l);
    return outcome(rc);
}

static const char *f_huge_length(void)
{
    usocket_t c, s, l;
    SETUP("pair", h_pair(LO4, &c, &s, &l));
    uint8_t buf[4];
    size_t n;
    int32_t rc = usocket_read(c, buf, SIZE_MAX, &n);
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    return outcome(rc);
}

/* ------------------------------------------------------------------ */

struct fault {
    const char *id;
    const char *(*fn)(void);
    int seen;
};

static struct fault faults[] = {
    {"connect-refused", f_connect_refused, 0},
    {"connect-refused-ipv6", f_connect_refused_ipv6, 0},
    {"connect-timeout-full-backlog", f_connect_timeout_full_backlog, 0},
    {"read-timeout", f_read_timeout, 0},
    {"accept-timeout", f_accept_timeout, 0},
    {"receive-timeout", f_receive_timeout, 0},
    {"reset-by-peer-read", f_reset_by_peer_read, 0},
    {"write-after-peer-reset", f_write_after_peer_reset, 0},
    {"write-after-reset-reported", f_write_after_reset_reported, 0},
    {"write-after-shutdown-output", f_write_after_shutdown_output, 0},
    {"eof-read", f_eof_read, 0},
    {"datagram-refused", f_datagram_refused, 0},
    {"unknown-host-connect", f_unknown_host_connect, 0},
    {"unknown-host-resolve", f_unknown_host_resolve, 0},
    {"unknown-host-send", f_unknown_host_send, 0},
    {"unknown-local-host", f_unknown_local_host, 0},
    {"empty-host", f_empty_host, 0},
    {"invalid-utf8-host", f_invalid_utf8_host, 0},
    {"address-in-use-tcp", f_address_in_use_tcp, 0},
    {"address-in-use-udp", f_address_in_use_udp, 0},
    {"local-port-in-use", f_local_port_in_use, 0},
    {"address-not-available", f_address_not_available, 0},
    {"local-host-family-mismatch", f_local_host_family_mismatch, 0},
    {"use-after-close", f_use_after_close, 0},
    {"read-after-close", f_read_after_close, 0},
    {"stale-handle", f_stale_handle, 0},
    {"zero-handle", f_zero_handle, 0},
    {"double-close", f_double_close, 0},
    {"double-free-wait-list", f_double_free_wait_list, 0},
    {"wait-on-closed-socket", f_wait_on_closed_socket, 0},
    {"wait-list-add-closed", f_wait_list_add_closed, 0},
    {"wait-on-freed-wait-list", f_wait_on_freed_wait_list, 0},
    {"wrong-kind-read-datagram", f_wrong_kind_read_datagram, 0},
    {"wrong-kind-accept-stream", f_wrong_kind_accept_stream, 0},
    {"wrong-kind-send-stream", f_wrong_kind_send_stream, 0},
    {"wrong-kind-receive-listener", f_wrong_kind_receive_listener, 0},
    {"wrong-kind-write-listener", f_wrong_kind_write_listener, 0},
    {"wrong-kind-nodelay-datagram", f_wrong_kind_nodelay_datagram, 0},
    {"wrong-kind-peer-name-listener", f_wrong_kind_peer_name_listener, 0},
    {"wrong-kind-shutdown-listener", f_wrong_kind_shutdown_listener, 0},
    {"wrong-kind-wait-list-as-socket", f_wrong_kind_wait_list_as_socket, 0},
    {"datagram-too-large", f_datagram_too_large, 0},
    {"send-unconnected-no-host", f_send_unconnected_no_host, 0},
    {"bad-option", f_bad_option, 0},
    {"bad-option-value", f_bad_option_value, 0},
    {"negative-timeout-option", f_negative_timeout_option, 0},
    {"shutdown-bad-direction", f_shutdown_bad_direction, 0},
    {"negative-backlog", f_negative_backlog, 0},
    {"wait-forever-on-nothing", f_wait_forever_on_nothing, 0},
    {"null-out-pointer", f_null_out_pointer, 0},
    {"huge-length", f_huge_length, 0},
};
#define NFAULTS (sizeof faults / sizeof faults[0])

static int in_private_namespace(void)
{
    const char *env = getenv("USOCKET_HARDENING_NETNS");
    if (!env || strcmp(env, "1") != 0)
        return 0;
    FILE *f = fopen("/etc/nsswitch.conf", "r");
    if (!f)
        return 0;
    char line[256];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok || strcmp(tok, "hosts:") != 0)
            continue;
        /* exactly one source, "files" */
        tok = strtok_r(NULL, " \t\r\n", &save);
        ok = tok && strcmp(tok, "files") == 0 && strtok_r(NULL, " \t\r\n", &save) == NULL;
    }
    fclose(f);
    return ok;
}

/* Splits a line at tabs in place; returns the number of fields. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    char *nl = strpbrk(fields[n - 1], "\r\n");
    if (nl)
        *nl = '\0';
    return n;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/hardening/faults.tsv";
    signal(SIGPIPE, SIG_DFL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("cannot open %s: %s\n0 passed, 1 failed\n", path, strerror(errno));
        return 1;
    }
    int netns = in_private_namespace();
    int passed = 0, failed = 0, na = 0, rows = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *col[8];
        int n = split_tabs(line, col, 8);
        if (n != 7) {
            printf("FAIL table: a row with %d columns, not 7: %s\n", n, col[0]);
            failed++;
            continue;
        }
        rows++;
        const char *id = col[0], *expected = col[1], *mine = col[2], *needs = col[5];
        struct fault *ft = NULL;
        for (size_t i = 0; i < NFAULTS; i++)
            if (strcmp(faults[i].id, id) == 0)
                ft = &faults[i];
        if (strncmp(mine, "n/a", 3) == 0) {
            if (ft) {
                printf("FAIL %s: marked n/a for C but the runner implements it\n", id);
                failed++;
                ft->seen = 1;
            } else {
                printf("n/a  %s (%s)\n", id, mine);
                na++;
            }
            continue;
        }
        if (strcmp(mine, "run") != 0) {
            printf("FAIL %s: the c column says %s, not run or n/a: ...\n", id, mine);
            failed++;
            continue;
        }
        if (!ft) {
            printf("FAIL %s: no C implementation of this fault\n", id);
            failed++;
            continue;
        }
        ft->seen = 1;
        if (strcmp(needs, "netns") == 0 && !netns) {
            printf("FAIL %s: not inside the private namespace (USOCKET_HARDENING_NETNS=1, hosts: files); "
                   "refusing to ask the real resolver\n",
                   id);
            failed++;
            continue;
        }
        size_t handles0 = usocket_open_handles();
        int fds0 = h_fd_count();
        double t0 = h_now_ms();
        const char *got = ft->fn();
        double took = h_now_ms() - t0;
        size_t handles1 = usocket_open_handles();
        int fds1 = h_fd_count();
        if (strcmp(got, expected) != 0) {
            printf("FAIL %s: expected %s, got %s", id, expected, got);
            if (strcmp(got, "ok") != 0 && strcmp(got, EOF_NAME) != 0 && strncmp(got, "setup", 5) != 0)
                printf(" (%s)", usocket_last_error_message());
            printf("\n");
            failed++;
        } else if (handles1 != handles0 || fds1 != fds0) {
            printf("FAIL %s: %s, but handles %zu -> %zu, descriptors %d -> %d\n", id, got, handles0, handles1,
                   fds0, fds1);
            failed++;
        } else {
            printf("ok   %s: %s (%.0f ms)\n", id, got, took);
            passed++;
        }
    }
    fclose(f);
    for (size_t i = 0; i < NFAULTS; i++)
        if (!faults[i].seen) {
            printf("FAIL %s: implemented in C but not in the table\n", faults[i].id);
            failed++;
        }
    if (rows < 30) {
        printf("FAIL table: only %d faults, issue 7 asks for at least 30\n", rows);
        failed++;
    }
    printf("faults (C): %d rows, %d passed, %d failed, %d n/a\n", rows, passed, failed, na);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
