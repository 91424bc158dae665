/* Shared helpers for the C benchmark programs of usocket-core.
 *
 * Everything here is raw POSIX: the forked peers (echo servers, bulk sender,
 * acceptor) are the same plain C code whichever client is measured, so the
 * compared programs differ only in the client side under test.
 *
 * Every program prints exactly one JSON object on one line on stdout:
 *   {"measure":..., "impl":..., "value":..., "unit":..., ...}
 * or {"status":"failed","reason":...} with a non-zero exit status.
 * Every loop is bounded in count and in time. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_measure = "?";
static const char *g_impl = "?";

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process (all threads), unaffected by other processes
 * that share the CPU: used as a load-independent diagnostic. */
static inline double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* Print a failure line and exit 2. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("{\"status\":\"failed\",\"measure\":");
    json_str(stdout, g_measure);
    printf(",\"impl\":");
    json_str(stdout, g_impl);
    printf(",\"reason\":");
    json_str(stdout, msg);
    printf("}\n");
    fflush(stdout);
    exit(2);
}

static void unavailable(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void unavailable(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("{\"status\":\"unavailable\",\"measure\":");
    json_str(stdout, g_measure);
    printf(",\"impl\":");
    json_str(stdout, g_impl);
    printf(",\"reason\":");
    json_str(stdout, msg);
    printf("}\n");
    fflush(stdout);
    exit(3);
}

/* Print the result line. extra: already-formatted ,"k":v pairs or "". */
static inline void result(double value, const char *unit, long count, double elapsed, const char *extra) {
    printf("{\"status\":\"ok\",\"measure\":");
    json_str(stdout, g_measure);
    printf(",\"impl\":");
    json_str(stdout, g_impl);
    printf(",\"value\":%.6g,\"unit\":", value);
    json_str(stdout, unit);
    printf(",\"count\":%ld,\"elapsed_s\":%.6f%s}\n", count, elapsed, extra ? extra : "");
    fflush(stdout);
}

/* ---- command line: --key value pairs ---- */
static int g_argc;
static char **g_argv;

static inline const char *opt_str(const char *key, const char *dflt) {
    for (int i = 2; i + 1 < g_argc; i++)
        if (g_argv[i][0] == '-' && g_argv[i][1] == '-' && strcmp(g_argv[i] + 2, key) == 0)
            return g_argv[i + 1];
    return dflt;
}
static inline long opt_long(const char *key, long dflt) {
    const char *s = opt_str(key, NULL);
    return s ? strtol(s, NULL, 10) : dflt;
}
static inline double opt_double(const char *key, double dflt) {
    const char *s = opt_str(key, NULL);
    return s ? strtod(s, NULL) : dflt;
}

static inline void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
static inline long nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    return (long)rl.rlim_cur;
}

/* kB value of a /proc/<pid>/status field ("VmHWM", "VmRSS"); pid 0 = self. */
static inline long proc_status_kb(pid_t pid, const char *field) {
    char path[64], line[256];
    if (pid == 0) snprintf(path, sizeof path, "/proc/self/status");
    else snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* ---- raw sockets ---- */
static inline struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static inline uint16_t local_port(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) != 0) fail("getsockname: %s", strerror(errno));
    return ntohs(a.sin_port);
}

/* A listening TCP socket on 127.0.0.1, port 0. */
static inline int raw_listener(int backlog, uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) fail("bind: %s", strerror(errno));
    if (listen(fd, backlog) != 0) fail("listen: %s", strerror(errno));
    *port = local_port(fd);
    return fd;
}

static inline int raw_connect(uint16_t port, int nodelay) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    if (nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct sockaddr_in a = loopback(port);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        if (errno != EINTR) fail("connect: %s", strerror(errno));
    }
}

/* ---- Unix-domain stream sockets (paths in /tmp, unlinked by the caller) ---- */
#include <sys/un.h>
static inline void local_bench_path(char *buf, size_t cap, const char *what) {
    static int seq = 0;
    snprintf(buf, cap, "/tmp/usocket-bench-%d-%s-%d.sock", (int)getpid(), what, seq++);
    unlink(buf);
}
static inline struct sockaddr_un local_addr(const char *path, socklen_t *len) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path) fail("path too long: %s", path);
    memcpy(a.sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return a;
}
static inline int raw_local_listener(const char *path, int backlog) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket(AF_UNIX): %s", strerror(errno));
    socklen_t l;
    struct sockaddr_un a = local_addr(path, &l);
    if (bind(fd, (struct sockaddr *)&a, l) != 0) fail("bind %s: %s", path, strerror(errno));
    if (listen(fd, backlog) != 0) fail("listen: %s", strerror(errno));
    return fd;
}
static inline int raw_local_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket(AF_UNIX): %s", strerror(errno));
    socklen_t l;
    struct sockaddr_un a = local_addr(path, &l);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&a, l) == 0) return fd;
        if (errno != EINTR) fail("connect %s: %s", path, strerror(errno));
    }
}

static inline int raw_udp_bound(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket(udp): %s", strerror(errno));
    struct sockaddr_in a = loopback(0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) fail("bind(udp): %s", strerror(errno));
    if (port) *port = local_port(fd);
    return fd;
}

static inline int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

/* ---- forked peers; each dies with its parent ---- */
static pid_t g_child = 0;

static inline void child_setup(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(0);
}

static inline void kill_child(void) {
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = 0;
    }
}

/* Echo everything on c (TCP_NODELAY) until the peer closes or an error. */
static inline void echo_until_closed(int c) {
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static char buf[65536];
    for (;;) {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        if (write_all(c, buf, (size_t)r) != 0) return;
    }
}

/* TCP echo: accept one connection on lfd, echo until EOF. */
static inline void fork_tcp_echo(int lfd) {
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        int c;
        do c = accept(lfd, NULL, NULL); while (c < 0 && errno == EINTR);
        if (c < 0) _exit(1);
        close(lfd);
        echo_until_closed(c);
        _exit(0);
    }
    g_child = pid;
}

/* The one connection of a listener (retried on EINTR), which is then closed;
 * -1 if accept failed. */
static inline int accept_one(int lfd) {
    int c;
    do c = accept(lfd, NULL, NULL); while (c < 0 && errno == EINTR);
    close(lfd);
    return c;
}

/* Send total bytes on c in 1 MiB writes, shut down, and wait for the reader
 * to close (so no RST can cut the tail). 0 when all went, -1 otherwise. */
static inline int send_bulk(int c, long long total) {
    static char buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    while (total > 0) {
        size_t n = total < (long long)sizeof buf ? (size_t)total : sizeof buf;
        if (write_all(c, buf, n) != 0) return -1;
        total -= (long long)n;
    }
    shutdown(c, SHUT_WR);
    char b;
    while (recv(c, &b, 1, 0) > 0) {}
    return 0;
}

/* Bulk sender: accept one connection, send total bytes in 1 MiB writes, close. */
static inline void fork_bulk_sender(int lfd, long long total) {
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        int c = accept_one(lfd);
        if (c < 0) _exit(1);
        _exit(send_bulk(c, total) == 0 ? 0 : 1);
    }
    g_child = pid;
}

/* Bulk sender that connects to a Unix-domain path (the measured side
 * listens and accepts), sends total bytes in 1 MiB writes, shuts down. */
static inline void fork_local_bulk_connector(const char *path, long long total) {
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t l;
        struct sockaddr_un a = local_addr(path, &l);
        while (connect(c, (struct sockaddr *)&a, l) != 0) {
            if (errno != EINTR) _exit(1);
        }
        static char buf[1 << 20];
        memset(buf, 'x', sizeof buf);
        while (total > 0) {
            size_t n = total < (long long)sizeof buf ? (size_t)total : sizeof buf;
            if (write_all(c, buf, n) != 0) _exit(1);
            total -= (long long)n;
        }
        shutdown(c, SHUT_WR);
        char b;
        while (recv(c, &b, 1, 0) > 0) {}
        _exit(0);
    }
    g_child = pid;
}

/* UDP echo on an already bound socket. */
static inline void fork_udp_echo(int ufd) {
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        static char buf[65536];
        for (;;) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t r = recvfrom(ufd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (r < 0) { if (errno == EINTR) continue; _exit(1); }
            sendto(ufd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
        }
    }
    g_child = pid;
}

/* Acceptor: accept up to count connections and hold them until killed.
 * Writes one byte to notify_fd after the last accept. */
static inline void fork_holder(int lfd, long count, int notify_fd) {
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup();
        raise_nofile();
        for (long i = 0; i < count; i++) {
            int c = accept(lfd, NULL, NULL);
            if (c < 0) { if (errno == EINTR) { i--; continue; } _exit(1); }
        }
        char b = 1;
        if (write(notify_fd, &b, 1) != 1) _exit(1);
        for (;;) pause();
    }
    g_child = pid;
}

/* Timed blocks. A measurement is split into NBLOCKS blocks, each bounded in
 * count (max_count / NBLOCKS) and in time (max_seconds / NBLOCKS, checked
 * every mask+1 iterations). The figure a process reports is the median of its
 * blocks' per-operation values, which a burst of unrelated load on the
 * machine moves far less than the plain mean (also reported, as "mean"). */
#define NBLOCKS 20
static double g_block[NBLOCKS];
static int g_nblocks;
static long g_total_count;
static double g_total_time;
static double g_total_cpu;

#define TIMED_BLOCKS(count_var, max_count, max_seconds, mask, body)                  \
    do {                                                                           \
        long _per = (max_count) / NBLOCKS > 0 ? (max_count) / NBLOCKS : 1;         \
        double _bsec = (max_seconds) / NBLOCKS;                                    \
        g_nblocks = 0; g_total_count = 0; g_total_time = 0;                        \
        double _c0 = cpu_s();                                                      \
        for (int _b = 0; _b < NBLOCKS; _b++) {                                     \
            double _t0 = now_s(), _deadline = _t0 + _bsec;                         \
            for (count_var = 0; count_var < _per;) {                               \
                body;                                                              \
                count_var++;                                                       \
                if (((count_var) & (mask)) == 0 && now_s() > _deadline) break;     \
            }                                                                      \
            double _el = now_s() - _t0;                                            \
            g_block[g_nblocks++] = _el / (double)(count_var);                      \
            g_total_count += count_var;                                            \
            g_total_time += _el;                                                   \
        }                                                                          \
        g_total_cpu = cpu_s() - _c0;                                               \
    } while (0)

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static inline double median_of(double *v, int n) {
    double tmp[NBLOCKS * 4];
    if (n > (int)(sizeof tmp / sizeof tmp[0])) n = (int)(sizeof tmp / sizeof tmp[0]);
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

/* Result of a TIMED_BLOCKS measurement of seconds per operation, in µs. */
static inline void result_blocks_us(const char *extra_in) {
    char extra[512];
    snprintf(extra, sizeof extra, ",\"mean\":%.6g,\"cpu_us\":%.6g,\"blocks\":%d%s",
             g_total_time / (double)g_total_count * 1e6, g_total_cpu / (double)g_total_count * 1e6, g_nblocks,
             extra_in ? extra_in : "");
    result(median_of(g_block, g_nblocks) * 1e6, "us", g_total_count, g_total_time, extra);
}

/* Bulk receive: the figure is the whole transfer's throughput (GB/s);
 * "block_median" is the median of the throughputs of its NBLOCKS parts. */
typedef struct { long long chunk, next, last; double tb; } bulk_blocks;
static inline void bulk_init(bulk_blocks *b, long long total, double t0) {
    b->chunk = total / NBLOCKS > 0 ? total / NBLOCKS : 1;
    b->next = b->chunk;
    b->last = 0;
    b->tb = t0;
    g_nblocks = 0;
}
static inline void bulk_step(bulk_blocks *b, long long got) {
    if (got >= b->next && g_nblocks < NBLOCKS) {
        double t = now_s();
        g_block[g_nblocks++] = (double)(got - b->last) / (t - b->tb) / 1e9;
        b->last = got;
        b->tb = t;
        while (b->next <= got) b->next += b->chunk;
    }
}
static inline void result_bulk(long long got, long calls, double el) {
    char extra[160];
    snprintf(extra, sizeof extra, ",\"bytes\":%lld,\"reads\":%ld,\"block_median\":%.6g", got, calls,
             g_nblocks ? median_of(g_block, g_nblocks) : 0.0);
    result((double)got / el / 1e9, "GB/s", calls, el, extra);
}

/* Accept drain, repeated --rounds times in one process (a drain of 4000
 * takes ~40 ms, too short to stand alone against machine noise): each round
 * makes a fresh listener (backlog --backlog), connects --count raw clients
 * that stay open, then times accepting all of them (the accepted sockets are
 * closed after the timed drain, as the Python and Lisp scripts do). The
 * figure is the median round's rate; "mean" is all accepts over all drain
 * time. */
typedef struct {
    uint16_t (*listen_)(int backlog); /* returns the port */
    void (*accept_one)(long i);       /* accept the i-th connection and keep it */
    void (*close_all)(long count);    /* close the accepted ones (not closed yet) and the listener */
    void (*close_one)(long i);        /* close the i-th accepted one now (--close-each 1) */
} acceptor_ops;

/* --close-each 1: close each accepted connection right after accepting it
 * (the close is then inside the timed drain): the steady state of a server
 * that serves and closes, where a library may reuse what a close freed;
 * callgrind's --toggle-collect on accept_one still counts the accept alone. */
static inline void accept_rounds(const acceptor_ops *ops) {
    long count = opt_long("count", 4000), backlog = opt_long("backlog", 4096), rounds = opt_long("rounds", 5);
    int close_each = (int)opt_long("close-each", 0);
    if (rounds < 1 || rounds > NBLOCKS) fail("--rounds 1..%d", NBLOCKS);
    raise_nofile();
    int *cl = malloc(sizeof(int) * (size_t)count);
    double total_t = 0, total_cpu = 0, t_limit = now_s() + 60;
    g_nblocks = 0;
    for (long r = 0; r < rounds; r++) {
        uint16_t port = ops->listen_((int)backlog);
        for (long i = 0; i < count; i++) cl[i] = raw_connect(port, 0);
        double t0 = now_s(), c0 = cpu_s();
        for (long i = 0; i < count; i++) {
            ops->accept_one(i);
            if (close_each) ops->close_one(i);
            if ((i & 255) == 0 && now_s() > t_limit) fail("accept: time limit in round %ld", r);
        }
        double el = now_s() - t0;
        total_cpu += cpu_s() - c0;
        total_t += el;
        g_block[g_nblocks++] = (double)count / el;
        ops->close_all(count);
        for (long i = 0; i < count; i++) close(cl[i]);
    }
    char extra[160];
    snprintf(extra, sizeof extra, ",\"rounds\":%ld,\"mean\":%.1f,\"us_per_accept\":%.4f,\"cpu_us\":%.4f", rounds,
             (double)(count * rounds) / total_t, total_t / (double)(count * rounds) * 1e6,
             total_cpu / (double)(count * rounds) * 1e6);
    result(median_of(g_block, g_nblocks), "conn/s", count * rounds, total_t, extra);
}

#endif
