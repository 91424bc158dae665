/*
 * hostile_server.c: the C server the hostile-peer driver attacks: the core's
 * socket server (usocket_server_*), TCP with multi_threading (echo: every
 * byte read is written back, until the client closes) and UDP (a datagram of
 * 0 bytes is answered "empty", any other is echoed).
 *
 *   build/hardening/hostile_server
 *
 * Prints "READY <tcp-port> <udp-port>" when both listen on 127.0.0.1, then
 * serves until its stdin reaches end of file; then stops both servers and
 * exits 0. Same protocol as hostile_server.py and hostile-server.lisp.
 */
#include <signal.h>

#include "hcommon.h"

static void echo_handler(void *user_data, usocket_t client, const usocket_address *peer)
{
    (void)user_data;
    (void)peer;
    uint8_t buf[4096];
    for (;;) {
        size_t n = 0, written = 0;
        if (usocket_read(client, buf, sizeof buf, &n) != USOCKET_OK || n == 0)
            return;
        if (usocket_write(client, buf, n, &written) != USOCKET_OK)
            return;
    }
}

static size_t udp_handler(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer,
                          uint8_t *reply, size_t reply_cap)
{
    (void)user_data;
    (void)peer;
    if (len == 0) {
        memcpy(reply, "empty", 5);
        return 5;
    }
    size_t n = len < reply_cap ? len : reply_cap;
    memcpy(reply, data, n);
    return n;
}

#define DIE(what, rc)                                                                                        \
    do {                                                                                                     \
        fprintf(stderr, "hostile_server: %s: %s: %s\n", what, usocket_error_name(rc),                         \
                usocket_last_error_message());                                                               \
        return 1;                                                                                            \
    } while (0)

int main(void)
{
    h_raise_nofile();
    usocket_server_options o;
    usocket_t tcp, udp;
    usocket_server_options_init(&o);
    o.multi_threading = true;
    int32_t rc = usocket_server_new("127.0.0.1", 0, &o, echo_handler, NULL, NULL, &tcp);
    if (rc)
        DIE("tcp server", rc);
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    rc = usocket_server_new("127.0.0.1", 0, &o, NULL, udp_handler, NULL, &udp);
    if (rc)
        DIE("udp server", rc);
    if ((rc = usocket_server_spawn(tcp)) || (rc = usocket_server_spawn(udp)))
        DIE("spawn", rc);
    usocket_address a, b;
    usocket_local_name(tcp, &a);
    usocket_local_name(udp, &b);
    printf("READY %u %u\n", a.port, b.port);
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0)
        ;
    usocket_server_stop(tcp);
    usocket_server_stop(udp);
    usocket_close(tcp);
    usocket_close(udp);
    return 0;
}
