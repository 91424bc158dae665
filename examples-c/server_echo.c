/* A TCP echo server on libusocket's socket server, one thread per client.
 *
 *   server_echo           self-check: serve on a free port (port 0) on a
 *                         thread of the server's own, connect 20 clients at
 *                         once, check every echo, stop; exit 0 when all passed
 *   server_echo --serve   print the port, serve on this thread until stdin
 *                         is closed (for nc, socat and friends)
 *
 * Build: make examples (build/examples/server_echo). */
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

/* The handler: echo until the client closes. The server closes the
 * client's handle when this returns. */
static void echo_handler(void *user_data, usocket_t client, const usocket_address *peer) {
    const int *verbose = user_data;
    if (*verbose) {
        char host[USOCKET_ADDRESS_STRLEN];
        if (usocket_address_format(peer, host, sizeof host) == USOCKET_OK)
            fprintf(stderr, "server_echo: client %s:%u\n", host, (unsigned)peer->port);
    }
    uint8_t buf[4096];
    for (;;) {
        size_t n = 0, written = 0;
        if (usocket_read(client, buf, sizeof buf, &n) != USOCKET_OK || n == 0) return;
        if (usocket_write(client, buf, n, &written) != USOCKET_OK) return;
    }
}

static usocket_t new_server(int *verbose) {
    usocket_server_options o;
    usocket_server_options_init(&o);
    o.multi_threading = true;
    usocket_t server = 0;
    CHECK(usocket_server_new("127.0.0.1", 0, &o, echo_handler, NULL, verbose, &server));
    return server;
}

static uint16_t port_of(usocket_t server) {
    usocket_address a;
    CHECK(usocket_local_name(server, &a));
    return a.port;
}

/* Reads exactly len bytes. */
static void read_all(usocket_t s, uint8_t *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        CHECK(usocket_read(s, buf + got, len - got, &n));
        if (n == 0) {
            fprintf(stderr, "server_echo: end of file after %zu of %zu bytes\n", got, len);
            exit(1);
        }
        got += n;
    }
}

static int self_check(void) {
    enum { CLIENTS = 20, CHUNK = 4096 };
    static const size_t sizes[] = {1, 17, 4096, 100000};
    int verbose = 0;
    usocket_t server = new_server(&verbose);
    uint16_t port = port_of(server);
    CHECK(usocket_server_spawn(server));

    usocket_connect_options co;
    usocket_connect_options_init(&co);
    co.timeout_ms = 10000; /* a lost echo fails instead of hanging */
    usocket_t clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_connect("127.0.0.1", port, &co, &clients[i]));

    uint8_t *out = malloc(CHUNK), *in = malloc(CHUNK);
    if (!out || !in) return 1;
    size_t checked = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int i = 0; i < CLIENTS; i++) {
            /* Send the message in chunks, reading each chunk's echo back. */
            for (size_t done = 0; done < sizes[k]; done += CHUNK) {
                size_t len = sizes[k] - done < CHUNK ? sizes[k] - done : CHUNK;
                for (size_t j = 0; j < len; j++) out[j] = (uint8_t)(i * 31 + k * 7 + done + j);
                size_t w = 0;
                CHECK(usocket_write(clients[i], out, len, &w));
                read_all(clients[i], in, len);
                if (memcmp(in, out, len) != 0) {
                    fprintf(stderr, "server_echo: client %d got a wrong echo\n", i);
                    return 1;
                }
                checked += len;
            }
        }
    }
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_close(clients[i]));

    /* Stop: new clients are refused; the handlers end as their clients went. */
    CHECK(usocket_server_stop(server));
    usocket_t late = 0;
    int32_t rc = usocket_connect("127.0.0.1", port, &co, &late);
    if (rc != USOCKET_ERR_CONNECTION_REFUSED) {
        fprintf(stderr, "server_echo: a connect after stop gave %s\n", usocket_error_name(rc));
        return 1;
    }
    CHECK(usocket_server_wait(server, 10000));
    CHECK(usocket_close(server));
    free(out);
    free(in);
    printf("server_echo: %d clients, %zu bytes echoed: ok\n", CLIENTS, checked);
    return 0;
}

static usocket_t g_server;

/* Stops the server when stdin is closed. */
static void *watch_stdin(void *arg) {
    (void)arg;
    char b[256];
    while (read(0, b, sizeof b) > 0) {
    }
    usocket_server_stop(g_server);
    return NULL;
}

static int serve(void) {
    static int verbose = 1;
    g_server = new_server(&verbose);
    printf("%u\n", (unsigned)port_of(g_server));
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_stdin, NULL) != 0) return 1;
    CHECK(usocket_server_run(g_server)); /* until stdin is closed */
    pthread_join(t, NULL);
    if (usocket_server_wait(g_server, 5000) != USOCKET_OK)
        fprintf(stderr, "server_echo: handlers still running at exit\n");
    CHECK(usocket_close(g_server));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve();
    return self_check();
}
