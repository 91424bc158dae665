/* Echo server throughput and memory: libusocket's socket server
 * (usocket_server_*, multi_threading) against a plain C
 * thread-per-connection server, driven by the same client.
 *
 *   bench_server rps --server c|lib --clients 100 --seconds 1 [--warmup 0.3] [--size 64]
 *   bench_server mem --server c|lib --clients 5000
 *
 * The server runs in a forked child; the client (this process) is one
 * thread driving every connection through epoll, closed loop: each client
 * sends a request of --size bytes and sends the next one when the whole
 * echo is back. Built with -DHAVE_USOCKET_SERVER when the library exports
 * usocket_server_new; without it, --server lib reports "unavailable". */
#include "common.h"
#include <pthread.h>
#include <sys/epoll.h>
#ifdef HAVE_USOCKET_SERVER
#include "usocket.h"
#endif

/* ---- plain C thread-per-connection echo server ---- */
static void *c_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (write_all(fd, buf, (size_t)r) != 0) break;
    }
    close(fd);
    return NULL;
}

static void c_server(int lfd) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) { if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue; _exit(1); }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &at, c_conn, (void *)(intptr_t)c) != 0) close(c);
    }
}

#ifdef HAVE_USOCKET_SERVER
static void lib_handler(void *user, usocket_t client, const usocket_address *peer) {
    (void)user; (void)peer;
    uint8_t buf[4096];
    for (;;) {
        size_t r = 0, w = 0;
        if (usocket_read(client, buf, sizeof buf, &r) != USOCKET_OK || r == 0) break;
        if (usocket_write(client, buf, r, &w) != USOCKET_OK) break;
    }
}
#endif

/* Fork the server; returns its port. */
static uint16_t start_server(const char *kind) {
    int pfd[2];
    if (pipe(pfd) != 0) fail("pipe");
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        raise_nofile();
        uint16_t port = 0;
        if (!strcmp(kind, "c")) {
            int lfd = raw_listener(4096, &port);
            if (write(pfd[1], &port, sizeof port) != sizeof port) _exit(1);
            c_server(lfd);
        }
#ifdef HAVE_USOCKET_SERVER
        usocket_server_options o;
        usocket_server_options_init(&o);
        o.protocol = USOCKET_STREAM;
        o.multi_threading = true;
        o.backlog = 4096;
        usocket_t srv = 0;
        if (usocket_server_new("127.0.0.1", 0, &o, lib_handler, NULL, NULL, &srv) != USOCKET_OK) _exit(1);
        usocket_address a;
        if (usocket_local_name(srv, &a) != USOCKET_OK) _exit(1);
        port = a.port;
        if (write(pfd[1], &port, sizeof port) != sizeof port) _exit(1);
        usocket_server_run(srv);
#endif
        _exit(1);
    }
    g_child = pid;
    close(pfd[1]);
    uint16_t port = 0;
    if (read(pfd[0], &port, sizeof port) != sizeof port) fail("server (%s) did not start", kind);
    close(pfd[0]);
    return port;
}

typedef struct { int fd; long left; } conn_t;

static void m_rps(const char *kind) {
    long clients = opt_long("clients", 100), size = opt_long("size", 64);
    double secs = opt_double("seconds", 1.0), warm = opt_double("warmup", 0.3);
    raise_nofile();
    uint16_t port = start_server(kind);
    conn_t *cs = calloc((size_t)clients, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static char out[65536], in[65536];
    memset(out, 'r', sizeof out);
    for (long i = 0; i < clients; i++) {
        cs[i].fd = raw_connect(port, 1);
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    for (long i = 0; i < clients; i++) {
        if (send(cs[i].fd, out, (size_t)size, MSG_NOSIGNAL) != size) fail("send: %s", strerror(errno));
        cs[i].left = size;
    }
    struct epoll_event evs[256];
    double t_start = now_s(), t_meas = t_start + warm, t_end = t_meas + secs;
    long done = 0, done_at_meas = -1;
    double t0 = 0;
    for (;;) {
        double t = now_s();
        if (done_at_meas < 0 && t >= t_meas) { done_at_meas = done; t0 = t; }
        if (t >= t_end) break;
        int r = epoll_wait(ep, evs, 256, 2000);
        if (r < 0) { if (errno == EINTR) continue; fail("epoll_wait: %s", strerror(errno)); }
        if (r == 0) fail("no echo for 2 s (%ld done)", done);
        for (int j = 0; j < r; j++) {
            conn_t *c = &cs[evs[j].data.u64];
            ssize_t g = recv(c->fd, in, sizeof in, 0);
            if (g < 0) { if (errno == EAGAIN || errno == EINTR) continue; fail("recv: %s", strerror(errno)); }
            if (g == 0) fail("server closed a connection");
            c->left -= g;
            if (c->left <= 0) {
                done++;
                if (send(c->fd, out, (size_t)size, MSG_NOSIGNAL) != size) fail("send: %s", strerror(errno));
                c->left = size;
            }
        }
    }
    double el = now_s() - t0;
    long n = done - done_at_meas;
    for (long i = 0; i < clients; i++) close(cs[i].fd);
    kill_child();
    char extra[64];
    snprintf(extra, sizeof extra, ",\"clients\":%ld", clients);
    result((double)n / el, "req/s", n, el, extra);
}

static void m_mem(const char *kind) {
    long clients = opt_long("clients", 5000);
    raise_nofile();
    uint16_t port = start_server(kind);
    /* settle, then the baseline */
    usleep(100000);
    long before = proc_status_kb(g_child, "VmRSS");
    int *fds = calloc((size_t)clients, sizeof(int));
    double t0 = now_s();
    for (long i = 0; i < clients; i++) {
        fds[i] = raw_connect(port, 1);
        char b = 'm', e;
        if (send(fds[i], &b, 1, MSG_NOSIGNAL) != 1) fail("send: %s", strerror(errno));
        struct timeval tv = {5, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (recv(fds[i], &e, 1, 0) != 1) fail("client %ld got no echo: %s", i, strerror(errno));
        if (now_s() - t0 > 60) fail("time limit after %ld clients", i);
    }
    double el = now_s() - t0;
    long after = proc_status_kb(g_child, "VmRSS");
    long threads = proc_status_kb(g_child, "Threads");
    for (long i = 0; i < clients; i++) close(fds[i]);
    kill_child();
    char extra[160];
    snprintf(extra, sizeof extra, ",\"clients\":%ld,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"threads\":%ld",
             clients, before, after, threads);
    result((double)(after - before) * 1024.0 / (double)clients, "B/conn", clients, el, extra);
}

int main(int argc, char **argv) {
    g_argc = argc;
    g_argv = argv;
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) fail("usage: bench_server rps|mem --server c|lib [--clients N] [--seconds S]");
    g_measure = argv[1];
    const char *kind = opt_str("server", "c");
    g_impl = !strcmp(kind, "lib") ? "lib-server" : "c-threads";
    if (strcmp(kind, "c") && strcmp(kind, "lib")) fail("--server c|lib");
#ifndef HAVE_USOCKET_SERVER
    if (!strcmp(kind, "lib")) unavailable("libusocket has no usocket_server_new (built without the server API)");
#endif
    if (!strcmp(argv[1], "rps")) m_rps(kind);
    else if (!strcmp(argv[1], "mem")) m_mem(kind);
    else fail("unknown measure %s", argv[1]);
    return 0;
}
