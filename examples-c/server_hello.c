/* A line-based "hello" service on libusocket's socket server.
 *
 * For each line NAME a client sends, the server answers "hello, NAME".
 * "quit" ends the client's session ("bye"); "shutdown" stops the whole
 * server from inside the handler ("stopping"). Lines may arrive in pieces
 * or several in one read; CR LF and LF both end a line.
 *
 *   server_hello           self-check on a free port, exit 0 when all passed
 *   server_hello --serve   print the port, serve until stdin is closed or a
 *                          client sends "shutdown"
 *
 * Build: make examples (build/examples/server_hello). */
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

enum { MAX_LINE = 1024 };

static int send_text(usocket_t s, const char *text) {
    size_t w = 0;
    return usocket_write(s, (const uint8_t *)text, strlen(text), &w);
}

/* Answers one line; returns 0 to go on, 1 to end this client. */
static int answer(usocket_t server, usocket_t client, char *line) {
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
    if (strcmp(line, "quit") == 0) {
        send_text(client, "bye\n");
        return 1;
    }
    if (strcmp(line, "shutdown") == 0) {
        usocket_server_stop(server); /* from inside a handler: fine */
        send_text(client, "stopping\n");
        return 1;
    }
    char reply[MAX_LINE + 16];
    snprintf(reply, sizeof reply, "hello, %s\n", len ? line : "stranger");
    return send_text(client, reply) != USOCKET_OK;
}

/* The handler: user_data points to the server's handle. */
static void hello_handler(void *user_data, usocket_t client, const usocket_address *peer) {
    (void)peer;
    usocket_t server = *(const usocket_t *)user_data;
    char line[MAX_LINE + 1];
    size_t have = 0;
    for (;;) {
        size_t n = 0;
        if (usocket_read(client, (uint8_t *)line + have, MAX_LINE - have, &n) != USOCKET_OK || n == 0) return;
        have += n;
        /* Answer every complete line in the buffer. */
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (line[i] != '\n') continue;
            line[i] = '\0';
            if (answer(server, client, line + start)) return;
            start = i + 1;
        }
        memmove(line, line + start, have - start);
        have -= start;
        if (have == MAX_LINE) {
            send_text(client, "line too long\n");
            return;
        }
    }
}

static usocket_t g_server;

static void new_server(void) {
    usocket_server_options o;
    usocket_server_options_init(&o);
    o.multi_threading = true;
    CHECK(usocket_server_new("127.0.0.1", 0, &o, hello_handler, NULL, &g_server, &g_server));
}

static uint16_t port_of(usocket_t server) {
    usocket_address a;
    CHECK(usocket_local_name(server, &a));
    return a.port;
}

/* Reads one line (without its LF) from a client socket. */
static void read_line(usocket_t s, char *buf, size_t cap) {
    size_t have = 0;
    while (have + 1 < cap) {
        size_t n = 0;
        CHECK(usocket_read(s, (uint8_t *)buf + have, 1, &n));
        if (n == 0) break;
        if (buf[have] == '\n') break;
        have++;
    }
    buf[have] = '\0';
}

static int expect(usocket_t s, const char *want) {
    char got[MAX_LINE];
    read_line(s, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "server_hello: expected \"%s\", got \"%s\"\n", want, got);
        return 1;
    }
    return 0;
}

static int self_check(void) {
    new_server();
    uint16_t port = port_of(g_server);
    CHECK(usocket_server_spawn(g_server));
    usocket_connect_options co;
    usocket_connect_options_init(&co);
    co.timeout_ms = 10000;
    usocket_t a, b;
    CHECK(usocket_connect("127.0.0.1", port, &co, &a));
    CHECK(usocket_connect("127.0.0.1", port, &co, &b));
    int bad = 0;
    /* Two sessions at once, interleaved. */
    CHECK(send_text(a, "Ada\n"));
    CHECK(send_text(b, "Grace\r\n"));
    bad |= expect(b, "hello, Grace");
    bad |= expect(a, "hello, Ada");
    /* A line in pieces, and two lines in one write. */
    CHECK(send_text(a, "Bar"));
    CHECK(send_text(a, "bara\nEdsger\n"));
    bad |= expect(a, "hello, Barbara");
    bad |= expect(a, "hello, Edsger");
    CHECK(send_text(a, "quit\n"));
    bad |= expect(a, "bye");
    /* The server closes the session after quit: end of file. */
    char rest[8];
    size_t n = 1;
    CHECK(usocket_read(a, (uint8_t *)rest, sizeof rest, &n));
    if (n != 0) {
        fprintf(stderr, "server_hello: data after bye\n");
        bad = 1;
    }
    /* Stop the server from inside its handler. */
    CHECK(send_text(b, "shutdown\n"));
    bad |= expect(b, "stopping");
    CHECK(usocket_server_wait(g_server, 10000));
    usocket_t late;
    int32_t rc = usocket_connect("127.0.0.1", port, &co, &late);
    if (rc != USOCKET_ERR_CONNECTION_REFUSED) {
        fprintf(stderr, "server_hello: connect after shutdown gave %s\n", usocket_error_name(rc));
        bad = 1;
    }
    CHECK(usocket_close(a));
    CHECK(usocket_close(b));
    CHECK(usocket_close(g_server));
    if (!bad) printf("server_hello: ok\n");
    return bad;
}

static void *watch_stdin(void *arg) {
    (void)arg;
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {
    }
    usocket_server_stop(g_server);
    return NULL;
}

static int serve(void) {
    new_server();
    printf("%u\n", (unsigned)port_of(g_server));
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_stdin, NULL) != 0) return 1;
    pthread_detach(t); /* a "shutdown" client may end serving first */
    CHECK(usocket_server_run(g_server));
    if (usocket_server_wait(g_server, 5000) != USOCKET_OK)
        fprintf(stderr, "server_hello: handlers still running at exit\n");
    CHECK(usocket_close(g_server));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve();
    return self_check();
}
