/* A UDP echo server on libusocket's socket server.
 *
 * The handler gets each datagram (zero-length ones too) and its sender, and
 * returns the reply it wrote into the server's reply buffer; the server
 * sends it to that sender.
 *
 *   server_udp_echo           self-check on a free port, exit 0 when all passed
 *   server_udp_echo --serve   print the port, serve until stdin is closed
 *
 * Build: make examples (build/examples/server_udp_echo). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usocket.h"

#define CHECK(call)                                                                   \
    do {                                                                              \
        int32_t rc_ = (call);                                                         \
        if (rc_ != USOCKET_OK) {                                                      \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,         \
                    usocket_error_name(rc_), usocket_last_error_message());           \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* The handler: the reply is the datagram itself. */
static size_t echo_handler(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer,
                           uint8_t *reply, size_t reply_cap) {
    (void)user_data;
    (void)peer;
    size_t n = len < reply_cap ? len : reply_cap;
    memcpy(reply, data, n);
    return n; /* an empty datagram gets no reply: 0 means "none" */
}

/* A handler that answers every datagram, the empty one with "(empty)". */
static size_t echo_or_empty(void *user_data, const uint8_t *data, size_t len, const usocket_address *peer,
                            uint8_t *reply, size_t reply_cap) {
    if (len == 0 && reply_cap >= 7) {
        memcpy(reply, "(empty)", 7);
        return 7;
    }
    return echo_handler(user_data, data, len, peer, reply, reply_cap);
}

static usocket_t new_server(usocket_udp_handler handler) {
    usocket_server_options o;
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    usocket_t server = 0;
    CHECK(usocket_server_new("127.0.0.1", 0, &o, NULL, handler, NULL, &server));
    return server;
}

static uint16_t port_of(usocket_t server) {
    usocket_address a;
    CHECK(usocket_local_name(server, &a));
    return a.port;
}

static int self_check(void) {
    enum { CLIENTS = 3, EACH = 200 };
    usocket_t server = new_server(echo_or_empty);
    uint16_t port = port_of(server);
    CHECK(usocket_server_spawn(server));

    /* Unconnected client sockets, each checking it gets its own replies. */
    usocket_connect_options co;
    usocket_connect_options_init(&co);
    co.protocol = USOCKET_DATAGRAM;
    co.local_host = "127.0.0.1";
    co.timeout_ms = 5000;
    usocket_t c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_connect(NULL, 0, &co, &c[i]));

    static uint8_t out[65507], in[65507];
    int bad = 0;
    for (int k = 0; k < EACH && !bad; k++) {
        for (int i = 0; i < CLIENTS && !bad; i++) {
            size_t len = (size_t)((k * 997 + i * 131) % 1500);
            if (k == EACH - 1) len = sizeof out; /* the largest datagram */
            for (size_t j = 0; j < len; j++) out[j] = (uint8_t)(i + k + j);
            size_t sent = 0, got = 0;
            CHECK(usocket_send(c[i], out, len, "127.0.0.1", port, &sent));
            usocket_address from;
            CHECK(usocket_receive(c[i], in, sizeof in, &got, &from));
            if (from.port != port) bad = 1;
            if (len == 0 ? (got != 7 || memcmp(in, "(empty)", 7) != 0) : (got != len || memcmp(in, out, len) != 0)) {
                fprintf(stderr, "server_udp_echo: client %d, datagram %d: wrong reply (%zu bytes for %zu)\n", i, k, got, len);
                bad = 1;
            }
        }
    }
    CHECK(usocket_server_stop(server));
    CHECK(usocket_server_wait(server, 10000));
    CHECK(usocket_close(server));
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_close(c[i]));
    if (!bad) printf("server_udp_echo: %d datagrams echoed to their senders: ok\n", CLIENTS * EACH);
    return bad;
}

static usocket_t g_server;

static void *watch_stdin(void *arg) {
    (void)arg;
    char b[256];
    while (read(0, b, sizeof b) > 0) {
    }
    usocket_server_stop(g_server);
    return NULL;
}

static int serve(void) {
    g_server = new_server(echo_handler);
    printf("%u\n", (unsigned)port_of(g_server));
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_stdin, NULL) != 0) return 1;
    CHECK(usocket_server_run(g_server));
    pthread_join(t, NULL);
    CHECK(usocket_close(g_server));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve();
    return self_check();
}
