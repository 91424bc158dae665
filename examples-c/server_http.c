/* A tiny HTTP/1.0 server on libusocket's socket server (for curl).
 *
 * GET /            200, "hello from usocket\n"
 * GET /echo/TEXT   200, "TEXT\n"
 * GET /peer        200, the client's address and port
 * anything else    404; a request that is not HTTP: 400; not GET: 405
 * Each response closes the connection (HTTP/1.0).
 *
 *   server_http           self-check on a free port, exit 0 when all passed
 *   server_http --serve   print the port, serve until stdin is closed
 *
 * Build: make examples (build/examples/server_http). */
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

enum { MAX_REQUEST = 8192 };

static void respond(usocket_t client, const char *status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nServer: usocket-example\r\n\r\n",
                     status, strlen(body));
    size_t w = 0;
    if (usocket_write(client, (const uint8_t *)head, (size_t)n, &w) == USOCKET_OK)
        usocket_write(client, (const uint8_t *)body, strlen(body), &w);
}

/* The handler: read the request head, answer, return (the server closes). */
static void http_handler(void *user_data, usocket_t client, const usocket_address *peer) {
    (void)user_data;
    char req[MAX_REQUEST + 1];
    size_t have = 0;
    /* A client that never finishes its request must not hold a thread forever. */
    usocket_set_option(client, USOCKET_OPT_RECEIVE_TIMEOUT, 10000);
    while (have < MAX_REQUEST) {
        size_t n = 0;
        if (usocket_read(client, (uint8_t *)req + have, MAX_REQUEST - have, &n) != USOCKET_OK || n == 0) return;
        have += n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[have] = '\0';
    char method[16], path[2048], version[16];
    if (sscanf(req, "%15s %2047s %15s", method, path, version) != 3 || strncmp(version, "HTTP/", 5) != 0) {
        respond(client, "400 Bad Request", "bad request\n");
        return;
    }
    if (strcmp(method, "GET") != 0) {
        respond(client, "405 Method Not Allowed", "only GET\n");
        return;
    }
    char body[2200];
    if (strcmp(path, "/") == 0) {
        respond(client, "200 OK", "hello from usocket\n");
    } else if (strncmp(path, "/echo/", 6) == 0) {
        snprintf(body, sizeof body, "%s\n", path + 6);
        respond(client, "200 OK", body);
    } else if (strcmp(path, "/peer") == 0) {
        char host[USOCKET_ADDRESS_STRLEN] = "?";
        usocket_address_format(peer, host, sizeof host);
        snprintf(body, sizeof body, "%s %u\n", host, (unsigned)peer->port);
        respond(client, "200 OK", body);
    } else {
        respond(client, "404 Not Found", "not found\n");
    }
}

static usocket_t new_server(void) {
    usocket_server_options o;
    usocket_server_options_init(&o);
    o.multi_threading = true;
    usocket_t server = 0;
    CHECK(usocket_server_new("127.0.0.1", 0, &o, http_handler, NULL, NULL, &server));
    return server;
}

static uint16_t port_of(usocket_t server) {
    usocket_address a;
    CHECK(usocket_local_name(server, &a));
    return a.port;
}

/* Sends a request, reads the whole response (until the server closes). */
static void fetch(uint16_t port, const char *request, char *response, size_t cap) {
    usocket_connect_options co;
    usocket_connect_options_init(&co);
    co.timeout_ms = 10000;
    usocket_t s;
    CHECK(usocket_connect("127.0.0.1", port, &co, &s));
    size_t w = 0, have = 0;
    CHECK(usocket_write(s, (const uint8_t *)request, strlen(request), &w));
    for (;;) {
        size_t n = 0;
        CHECK(usocket_read(s, (uint8_t *)response + have, cap - 1 - have, &n));
        if (n == 0 || have + n == cap - 1) {
            have += n;
            break;
        }
        have += n;
    }
    response[have] = '\0';
    CHECK(usocket_close(s));
}

static int expect(uint16_t port, const char *request, const char *status, const char *body) {
    char resp[4096];
    fetch(port, request, resp, sizeof resp);
    const char *b = strstr(resp, "\r\n\r\n");
    if (strncmp(resp, status, strlen(status)) != 0 || !b || strcmp(b + 4, body) != 0) {
        fprintf(stderr, "server_http: for %.40s expected %s / %s, got:\n%s\n", request, status, body, resp);
        return 1;
    }
    return 0;
}

static int self_check(void) {
    usocket_t server = new_server();
    uint16_t port = port_of(server);
    CHECK(usocket_server_spawn(server));
    int bad = 0;
    bad |= expect(port, "GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK", "hello from usocket\n");
    bad |= expect(port, "GET /echo/abc HTTP/1.0\r\nHost: x\r\n\r\n", "HTTP/1.0 200 OK", "abc\n");
    bad |= expect(port, "GET /nowhere HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found", "not found\n");
    bad |= expect(port, "POST / HTTP/1.0\r\n\r\n", "HTTP/1.0 405", "only GET\n");
    bad |= expect(port, "hello\r\n\r\n", "HTTP/1.0 400", "bad request\n");
    CHECK(usocket_server_stop(server));
    CHECK(usocket_server_wait(server, 10000));
    CHECK(usocket_close(server));
    if (!bad) printf("server_http: ok\n");
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
    g_server = new_server();
    printf("%u\n", (unsigned)port_of(g_server));
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_stdin, NULL) != 0) return 1;
    CHECK(usocket_server_run(g_server));
    pthread_join(t, NULL);
    if (usocket_server_wait(g_server, 15000) != USOCKET_OK)
        fprintf(stderr, "server_http: handlers still running at exit\n");
    CHECK(usocket_close(g_server));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve();
    return self_check();
}
