/* A Unix-domain stream server on libusocket's socket server, one thread per
 * client. Each client is first told who it is, as the kernel sees it
 * (SO_PEERCRED: "you are pid P uid U gid G"), then gets an echo of
 * everything it sends.
 *
 *   server_local                self-check: serve on a socket file in a new
 *                               directory and on an abstract name, on a
 *                               thread of the server's own; 10 clients at
 *                               once; stop; the file is gone at once and a
 *                               late client finds nothing; exit 0 when all passed
 *   server_local --serve PATH   print PATH, serve on this thread until stdin
 *                               is closed (for socat UNIX-CONNECT:PATH, or
 *                               ABSTRACT-CONNECT:name for PATH "@name")
 *
 * Build: make examples (build/examples/server_local). */
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

/* The handler: greet with the client's credentials, then echo until it
 * closes. `peer` is family 0 for a Unix-domain client: the credentials and
 * usocket_peer_path tell about it instead. The server closes the client's
 * handle when this returns. */
static void whoami_echo(void *user_data, usocket_t client, const usocket_address *peer) {
    const int *verbose = user_data;
    int32_t pid = 0;
    uint32_t uid = 0, gid = 0;
    char line[128];
    size_t n = 0, written = 0;
    (void)peer;
    if (usocket_peer_credentials(client, &pid, &uid, &gid) != USOCKET_OK) return;
    if (*verbose) fprintf(stderr, "server_local: client pid %d uid %u\n", (int)pid, (unsigned)uid);
    n = (size_t)snprintf(line, sizeof line, "you are pid %d uid %u gid %u\n", (int)pid, (unsigned)uid, (unsigned)gid);
    if (usocket_write(client, (const uint8_t *)line, n, &written) != USOCKET_OK) return;
    uint8_t buf[4096];
    for (;;) {
        if (usocket_read(client, buf, sizeof buf, &n) != USOCKET_OK || n == 0) return;
        if (usocket_write(client, buf, n, &written) != USOCKET_OK) return;
    }
}

static usocket_t new_server(const char *path, int *verbose) {
    usocket_server_options o;
    usocket_server_options_init(&o); /* reuse_address: a stale file is replaced */
    o.multi_threading = true;
    usocket_t server = 0;
    CHECK(usocket_server_new_local(path, &o, whoami_echo, verbose, &server));
    return server;
}

/* Reads one line (up to '\n') into buf. */
static void read_line(usocket_t s, char *buf, size_t cap) {
    size_t got = 0;
    while (got + 1 < cap) {
        size_t n = 0;
        CHECK(usocket_read(s, (uint8_t *)buf + got, 1, &n));
        if (n == 0) break;
        if (buf[got++] == '\n') break;
    }
    buf[got] = '\0';
}

static int check_one(const char *path) {
    enum { CLIENTS = 10 };
    int verbose = 0;
    usocket_t server = new_server(path, &verbose);
    char where[128];
    size_t where_len = 0;
    CHECK(usocket_local_path(server, where, sizeof where, &where_len));
    if (strcmp(where, path) != 0) {
        fprintf(stderr, "server_local: the server says its path is %s, not %s\n", where, path);
        return 1;
    }
    CHECK(usocket_server_spawn(server));

    usocket_connect_options co;
    usocket_connect_options_init(&co);
    co.timeout_ms = 10000; /* a lost answer fails instead of hanging */
    usocket_t clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_connect_local(path, &co, &clients[i]));
    char want[128], line[128];
    snprintf(want, sizeof want, "you are pid %d uid %u gid %u\n", (int)getpid(), (unsigned)getuid(),
             (unsigned)getgid());
    for (int i = 0; i < CLIENTS; i++) {
        read_line(clients[i], line, sizeof line);
        if (strcmp(line, want) != 0) {
            fprintf(stderr, "server_local: client %d was told \"%s\", not \"%s\"\n", i, line, want);
            return 1;
        }
        char msg[64];
        size_t len = (size_t)snprintf(msg, sizeof msg, "message %d\n", i), w = 0;
        CHECK(usocket_write(clients[i], (const uint8_t *)msg, len, &w));
        read_line(clients[i], line, sizeof line);
        if (strcmp(line, msg) != 0) {
            fprintf(stderr, "server_local: client %d got a wrong echo: %s\n", i, line);
            return 1;
        }
    }
    for (int i = 0; i < CLIENTS; i++) CHECK(usocket_close(clients[i]));

    /* Stop: the listening socket closes and its file goes at once. */
    CHECK(usocket_server_stop(server));
    if (path[0] != '@' && access(path, F_OK) == 0) {
        fprintf(stderr, "server_local: %s is still there after the stop\n", path);
        return 1;
    }
    usocket_t late = 0;
    int32_t rc = usocket_connect_local(path, &co, &late);
    int32_t want_rc = path[0] == '@' ? USOCKET_ERR_CONNECTION_REFUSED : USOCKET_ERR_UNKNOWN; /* ENOENT */
    if (rc != want_rc) {
        fprintf(stderr, "server_local: a connect after the stop gave %s\n", usocket_error_name(rc));
        return 1;
    }
    CHECK(usocket_server_wait(server, 10000));
    CHECK(usocket_close(server));
    printf("server_local: %s: %d clients told who they are and echoed: ok\n", path[0] == '@' ? "abstract" : "file",
           CLIENTS);
    return 0;
}

static int self_check(void) {
    char dir[] = "/tmp/server_local.XXXXXX", path[64], name[64];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/whoami.sock", dir);
    snprintf(name, sizeof name, "@usocket-server-local-%d", (int)getpid());
    int rc = check_one(path) || check_one(name);
    rmdir(dir);
    return rc;
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

static int serve(const char *path) {
    static int verbose = 1;
    g_server = new_server(path, &verbose);
    printf("%s\n", path);
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, watch_stdin, NULL) != 0) return 1;
    CHECK(usocket_server_run(g_server)); /* until stdin is closed */
    pthread_join(t, NULL);
    if (usocket_server_wait(g_server, 5000) != USOCKET_OK)
        fprintf(stderr, "server_local: handlers still running at exit\n");
    CHECK(usocket_close(g_server));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--serve") == 0) return serve(argv[2]);
    if (argc > 1) {
        fprintf(stderr, "usage: server_local [--serve PATH]\n");
        return 2;
    }
    return self_check();
}
