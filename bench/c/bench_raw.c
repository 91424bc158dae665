/* Raw-syscall baselines for the usocket-core benchmark suite.
 *
 *   bench_raw rtt      --size 1 --iters 200000 --seconds 1 [--warmup 2000]
 *   bench_raw bulk     --bytes 2147483648 [--read 65536]
 *   bench_raw udp      --size 64 --iters 200000 --seconds 1
 *   bench_raw wait-poll  --n 1000 --iters 100000 --seconds 0.5
 *   bench_raw wait-epoll --n 1000 --iters 100000 --seconds 0.5
 *   bench_raw accept   --count 4000 [--backlog 4096] [--rounds 5] [--close-each 1]
 *   bench_raw mem      --count 10000
 *   bench_raw local-rtt  --size 1 --iters 200000 --seconds 1   (AF_UNIX stream)
 *   bench_raw local-bulk --bytes 2147483648 [--read 65536]     (AF_UNIX stream)
 *
 * Prints one JSON line (see common.h). Meant to be run under
 * `taskset -c 0`, so the forked peer shares the client's CPU. */
#include "common.h"
#include <poll.h>
#include <sys/epoll.h>

static int recv_exact(int fd, char *p, size_t n) {
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        if (r == 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

/* local: over a Unix-domain stream socket instead of TCP on 127.0.0.1 */
static void m_rtt(int local) {
    long size = opt_long("size", 1), iters = opt_long("iters", 200000), warm = opt_long("warmup", 2000);
    double secs = opt_double("seconds", 1.0);
    if (size < 1 || size > 65536) fail("bad size");
    uint16_t port;
    char path[108];
    int lfd = local ? (local_bench_path(path, sizeof path, "rtt"), raw_local_listener(path, 16)) : raw_listener(16, &port);
    fork_tcp_echo(lfd);
    close(lfd);
    int fd = local ? raw_local_connect(path) : raw_connect(port, 1);
    if (local) unlink(path);
    static char out[65536], in[65536];
    memset(out, 'a', sizeof out);
    for (long i = 0; i < warm; i++) {
        if (write_all(fd, out, (size_t)size) || recv_exact(fd, in, (size_t)size)) fail("warmup i/o: %s", strerror(errno));
    }
    long n;
    TIMED_BLOCKS(n, iters, secs, 15, {
        if (send(fd, out, (size_t)size, MSG_NOSIGNAL) != size) fail("send: %s", strerror(errno));
        if (recv_exact(fd, in, (size_t)size)) fail("recv: %s", strerror(errno));
    });
    close(fd);
    kill_child();
    result_blocks_us("");
}

/* local: the measured side listens on a Unix-domain path and accepts the
 * forked sender (as bench_lib does with usocket_listen_local). */
static void m_bulk(int local) {
    long long total = (long long)opt_double("bytes", 2147483648.0);
    long rd = opt_long("read", 65536);
    double secs = opt_double("seconds", 60);
    uint16_t port;
    int fd;
    if (local) {
        char path[108];
        local_bench_path(path, sizeof path, "bulk");
        int lfd = raw_local_listener(path, 5);
        fork_local_bulk_connector(path, total);
        do fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); while (fd < 0 && errno == EINTR);
        if (fd < 0) fail("accept: %s", strerror(errno));
        close(lfd);
        unlink(path);
    } else {
        int lfd = raw_listener(16, &port);
        fork_bulk_sender(lfd, total);
        close(lfd);
        fd = raw_connect(port, 1);
    }
    char *buf = malloc((size_t)rd);
    if (!buf) fail("malloc");
    long long got = 0;
    long calls = 0;
    double t0 = now_s(), deadline = t0 + secs;
    bulk_blocks bb;
    bulk_init(&bb, total, t0);
    while (got < total) {
        ssize_t r = recv(fd, buf, (size_t)rd, 0);
        if (r < 0) { if (errno == EINTR) continue; fail("recv: %s", strerror(errno)); }
        if (r == 0) break;
        got += r;
        calls++;
        bulk_step(&bb, got);
        if ((calls & 255) == 0 && now_s() > deadline) fail("bulk: time limit after %lld bytes", got);
    }
    double el = now_s() - t0;
    if (got != total) fail("bulk: got %lld of %lld bytes", got, total);
    close(fd);
    kill_child();
    result_bulk(got, calls, el);
}

static void m_udp(void) {
    long size = opt_long("size", 64), iters = opt_long("iters", 200000), warm = opt_long("warmup", 2000);
    double secs = opt_double("seconds", 1.0);
    uint16_t port;
    int sfd = raw_udp_bound(&port);
    fork_udp_echo(sfd);
    close(sfd);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) fail("connect(udp): %s", strerror(errno));
    static char out[65536], in[65536];
    memset(out, 'u', sizeof out);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* a lost datagram fails, never hangs */
    for (long i = 0; i < warm; i++) {
        if (send(fd, out, (size_t)size, 0) != size) fail("send: %s", strerror(errno));
        if (recv(fd, in, sizeof in, 0) != size) fail("recv: %s", strerror(errno));
    }
    long n;
    TIMED_BLOCKS(n, iters, secs, 15, {
        if (send(fd, out, (size_t)size, 0) != size) fail("send: %s", strerror(errno));
        if (recv(fd, in, sizeof in, 0) != size) fail("recv: %s", strerror(errno));
    });
    kill_child();
    result_blocks_us("");
}

/* N idle UDP sockets bound to 127.0.0.1 plus one with a datagram queued
 * (never read, so it stays ready). UDP: one descriptor per socket, so
 * N = 10,000 fits the 20,000 descriptor limit. The ready one is last. */
static int *make_wait_fds(long n) {
    raise_nofile();
    if (n + 64 > nofile_limit()) fail("descriptor limit %ld too low for n=%ld", nofile_limit(), n);
    int *fds = malloc(sizeof(int) * (size_t)(n + 1));
    for (long i = 0; i < n; i++) fds[i] = raw_udp_bound(NULL);
    uint16_t port;
    fds[n] = raw_udp_bound(&port);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback(port);
    if (sendto(s, "r", 1, 0, (struct sockaddr *)&a, sizeof a) != 1) fail("sendto: %s", strerror(errno));
    close(s);
    return fds;
}

static void m_wait_poll(void) {
    long n = opt_long("n", 1000), iters = opt_long("iters", 100000);
    double secs = opt_double("seconds", 0.5);
    int *fds = make_wait_fds(n);
    struct pollfd *p = calloc((size_t)(n + 1), sizeof *p);
    for (long i = 0; i <= n; i++) { p[i].fd = fds[i]; p[i].events = POLLIN; }
    for (int tries = 0;; tries++) { /* wait for the datagram to land */
        int r = poll(p, (nfds_t)(n + 1), 1000);
        if (r == 1 && (p[n].revents & POLLIN)) break;
        if (tries > 5) fail("poll setup: r=%d", r);
    }
    long k;
    TIMED_BLOCKS(k, iters, secs, 0, {
        int r = poll(p, (nfds_t)(n + 1), 1000);
        if (r != 1) fail("poll returned %d", r);
        long ready = -1;
        for (long i = 0; i <= n; i++) if (p[i].revents) { ready = i; break; }
        if (ready != n) fail("poll: wrong ready index %ld", ready);
    });
    char extra[64];
    snprintf(extra, sizeof extra, ",\"n\":%ld", n);
    result_blocks_us(extra);
}

static void m_wait_epoll(void) {
    long n = opt_long("n", 1000), iters = opt_long("iters", 100000);
    double secs = opt_double("seconds", 0.5);
    int *fds = make_wait_fds(n);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (long i = 0; i <= n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) fail("epoll_ctl: %s", strerror(errno));
    }
    struct epoll_event evs[64];
    int r0 = epoll_wait(ep, evs, 64, 1000);
    if (r0 != 1) fail("epoll setup: %d", r0);
    long k;
    TIMED_BLOCKS(k, iters, secs, 15, {
        int r = epoll_wait(ep, evs, 64, 1000);
        if (r != 1 || evs[0].data.u64 != (uint64_t)n) fail("epoll_wait returned %d", r);
    });
    char extra[64];
    snprintf(extra, sizeof extra, ",\"n\":%ld", n);
    result_blocks_us(extra);
}

/* Connect count clients (held open), then time accepting and closing them all. */
static int g_lfd = -1;
static int *g_acc;
static uint16_t raw_acc_listen(int backlog) {
    uint16_t port;
    g_lfd = raw_listener(backlog, &port);
    if (!g_acc) g_acc = malloc(sizeof(int) * (size_t)opt_long("count", 4000));
    return port;
}
__attribute__((noinline)) static void raw_acc_one(long i) { /* a symbol of its own: callgrind --toggle-collect */
    int c = accept(g_lfd, NULL, NULL);
    if (c < 0) fail("accept: %s", strerror(errno));
    g_acc[i] = c;
}
static void raw_acc_close_all(long count) {
    for (long i = 0; i < count; i++)
        if (g_acc[i] >= 0) close(g_acc[i]);
    close(g_lfd);
}
static void raw_acc_close_one(long i) {
    close(g_acc[i]);
    g_acc[i] = -1;
}

static void m_accept(void) {
    static const acceptor_ops ops = {raw_acc_listen, raw_acc_one, raw_acc_close_all, raw_acc_close_one};
    accept_rounds(&ops);
}

/* Open count TCP connections (peer: a forked acceptor holding them) and
 * report the growth of this process's peak RSS per socket. */
static void m_mem(void) {
    long count = opt_long("count", 10000);
    raise_nofile();
    uint16_t port;
    int lfd = raw_listener(4096, &port);
    int pfd[2];
    if (pipe(pfd) != 0) fail("pipe");
    fork_holder(lfd, count + 1, pfd[1]);
    close(lfd);
    int *cl = malloc(sizeof(int) * (size_t)count);
    memset(cl, 0, sizeof(int) * (size_t)count); /* touch before the baseline */
    close(raw_connect(port, 1)); /* warm */
    long before = proc_status_kb(0, "VmHWM");
    double t0 = now_s();
    for (long i = 0; i < count; i++) cl[i] = raw_connect(port, 1);
    double el = now_s() - t0;
    long after = proc_status_kb(0, "VmHWM");
    char b;
    if (read(pfd[0], &b, 1) != 1) fail("acceptor failed");
    kill_child();
    char extra[128];
    snprintf(extra, sizeof extra, ",\"hwm_before_kb\":%ld,\"hwm_after_kb\":%ld", before, after);
    result((double)(after - before) * 1024.0 / (double)count, "B/socket", count, el, extra);
}

int main(int argc, char **argv) {
    g_argc = argc;
    g_argv = argv;
    g_impl = "raw-c";
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) fail("usage: bench_raw rtt|bulk|udp|wait-poll|wait-epoll|accept|mem|local-rtt|local-bulk [--key value]...");
    g_measure = argv[1];
    const char *m = argv[1];
    if (!strcmp(m, "rtt")) m_rtt(0);
    else if (!strcmp(m, "bulk")) m_bulk(0);
    else if (!strcmp(m, "local-rtt")) m_rtt(1);
    else if (!strcmp(m, "local-bulk")) m_bulk(1);
    else if (!strcmp(m, "udp")) m_udp();
    else if (!strcmp(m, "wait-poll")) { g_impl = "raw-poll"; m_wait_poll(); }
    else if (!strcmp(m, "wait-epoll")) { g_impl = "raw-epoll"; m_wait_epoll(); }
    else if (!strcmp(m, "accept")) m_accept();
    else if (!strcmp(m, "mem")) m_mem();
    else fail("unknown measure %s", m);
    return 0;
}
