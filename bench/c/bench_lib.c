/* The same work as bench_raw.c, done through libusocket's C ABI.
 *
 *   bench_lib rtt       --size 1 --iters 200000 --seconds 1 [--warmup 2000]
 *   bench_lib bulk      --bytes 2147483648 [--read 65536]
 *   bench_lib udp       --size 64 --iters 200000 --seconds 1
 *   bench_lib wait      --n 1000 --iters 100000 --seconds 0.5   (usocket_wait_for_input)
 *   bench_lib wait-list --n 1000 --iters 100000 --seconds 0.5   (usocket_wait_list_wait)
 *   bench_lib accept    --count 4000 [--backlog 4096] [--rounds 5] [--close-each 1]
 *   bench_lib mem       --count 10000
 *   bench_lib paired-rtt|paired-udp --size N --seconds 1
 *   bench_lib paired-bulk --bytes N
 *   bench_lib paired-accept --count 4000
 *   bench_lib local-rtt --size 1 --seconds 1    (usocket_connect_local to a raw AF_UNIX echo peer)
 *   bench_lib local-bulk --bytes N              (usocket_listen_local + usocket_accept, raw AF_UNIX sender)
 *   bench_lib paired-local-rtt|paired-local-bulk  (the same, paired with raw syscalls on usocket_fd)
 *       the local measures need -DHAVE_USOCKET_LOCAL (run.py sets it when the
 *       library exports the calls); without it they print "unavailable"
 *       raw syscalls on usocket_fd()'s descriptor and library calls on the
 *       handle, alternating block by block in one process: value = lib/raw
 *
 * The peers (echo servers, bulk sender, acceptor) are the raw C ones of
 * common.h, identical to bench_raw's: only the measured side differs. */
#include "common.h"
#include "usocket.h"

#if defined(HAVE_USOCKET_LOCAL) && defined(USOCKET_LOCAL_DECLARE)
/* the library exports the Unix-domain calls but this header does not declare
 * them yet (C-API.md, "Additions of version 0.2"): declare them here */
int32_t usocket_connect_local(const char *path, const usocket_connect_options *opts, usocket_t *out);
int32_t usocket_listen_local(const char *path, const usocket_listen_options *opts, usocket_t *out);
#endif
#ifdef HAVE_USOCKET_LOCAL
#define NEED_LOCAL() ((void)0)
#else
#define NEED_LOCAL() unavailable("libusocket does not export usocket_connect_local/usocket_listen_local yet")
#endif

static void lib_fail(const char *what, int32_t rc) __attribute__((noreturn));
static void lib_fail(const char *what, int32_t rc) {
    fail("%s: %d %s (%s, errno %d)", what, (int)rc, usocket_error_name(rc), usocket_last_error_message(),
         (int)usocket_last_os_error());
}
#define CHECK(what, call)                      \
    do {                                       \
        int32_t _rc = (call);                  \
        if (_rc != USOCKET_OK) lib_fail(what, _rc); \
    } while (0)

static usocket_t lib_connect_tcp(uint16_t port) {
    usocket_t h = 0;
    CHECK("usocket_connect", usocket_connect("127.0.0.1", port, NULL, &h));
    return h;
}

static int lib_read_exact(usocket_t h, uint8_t *p, size_t n) {
    while (n > 0) {
        size_t r = 0;
        int32_t rc = usocket_read(h, p, n, &r);
        if (rc != USOCKET_OK) return rc;
        if (r == 0) return -1000;
        p += r; n -= r;
    }
    return 0;
}

/* The measured client of a round trip: TCP to 127.0.0.1, or (local) a
 * Unix-domain stream socket through usocket_connect_local, to a forked raw
 * echo peer. */
static usocket_t lib_echo_client(int local) {
    uint16_t port;
    char path[108];
    int lfd = local ? (local_bench_path(path, sizeof path, "rtt"), raw_local_listener(path, 16)) : raw_listener(16, &port);
    fork_tcp_echo(lfd);
    close(lfd);
    usocket_t h = 0;
    if (local) {
#ifdef HAVE_USOCKET_LOCAL
        CHECK("usocket_connect_local", usocket_connect_local(path, NULL, &h));
#endif
        unlink(path);
    } else {
        h = lib_connect_tcp(port);
    }
    return h;
}

/* The measured receiver of a bulk transfer: a TCP client of a forked raw
 * sender, or (local) a Unix-domain listener made with usocket_listen_local
 * that accepts the forked raw sender's connection. */
static usocket_t lib_bulk_receiver(int local, long long total) {
    usocket_t h = 0;
    if (local) {
#ifdef HAVE_USOCKET_LOCAL
        char path[108];
        local_bench_path(path, sizeof path, "bulk");
        usocket_t l = 0;
        CHECK("usocket_listen_local", usocket_listen_local(path, NULL, &l));
        fork_local_bulk_connector(path, total);
        CHECK("usocket_accept", usocket_accept(l, &h));
        CHECK("usocket_close(listener)", usocket_close(l)); /* removes the file */
#endif
    } else {
        uint16_t port;
        int lfd = raw_listener(16, &port);
        fork_bulk_sender(lfd, total);
        close(lfd);
        h = lib_connect_tcp(port);
    }
    return h;
}

static void m_rtt(int local) {
    long size = opt_long("size", 1), iters = opt_long("iters", 200000), warm = opt_long("warmup", 2000);
    double secs = opt_double("seconds", 1.0);
    if (size < 1 || size > 65536) fail("bad size");
    usocket_t h = lib_echo_client(local);
    static uint8_t out[65536], in[65536];
    memset(out, 'a', sizeof out);
    size_t w;
    int rc;
    for (long i = 0; i < warm; i++) {
        CHECK("usocket_write", usocket_write(h, out, (size_t)size, &w));
        if ((rc = lib_read_exact(h, in, (size_t)size))) lib_fail("usocket_read", rc);
    }
    long n;
    TIMED_BLOCKS(n, iters, secs, 15, {
        CHECK("usocket_write", usocket_write(h, out, (size_t)size, &w));
        if ((rc = lib_read_exact(h, in, (size_t)size))) lib_fail("usocket_read", rc);
    });
    usocket_close(h);
    kill_child();
    result_blocks_us("");
}

static void m_bulk(int local) {
    long long total = (long long)opt_double("bytes", 2147483648.0);
    long rd = opt_long("read", 65536);
    double secs = opt_double("seconds", 60);
    usocket_t h = lib_bulk_receiver(local, total);
    uint8_t *buf = malloc((size_t)rd);
    if (!buf) fail("malloc");
    long long got = 0;
    long calls = 0;
    double t0 = now_s(), deadline = t0 + secs;
    bulk_blocks bb;
    bulk_init(&bb, total, t0);
    while (got < total) {
        size_t r = 0;
        CHECK("usocket_read", usocket_read(h, buf, (size_t)rd, &r));
        if (r == 0) break;
        got += (long long)r;
        calls++;
        bulk_step(&bb, got);
        if ((calls & 255) == 0 && now_s() > deadline) fail("bulk: time limit after %lld bytes", got);
    }
    double el = now_s() - t0;
    if (got != total) fail("bulk: got %lld of %lld bytes", got, total);
    usocket_close(h);
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
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 2000; /* a lost datagram fails, never hangs */
    usocket_t h = 0;
    CHECK("usocket_connect(datagram)", usocket_connect("127.0.0.1", port, &o, &h));
    static uint8_t out[65536], in[65536];
    memset(out, 'u', sizeof out);
    size_t s, r;
    for (long i = 0; i < warm; i++) {
        CHECK("usocket_send", usocket_send(h, out, (size_t)size, NULL, 0, &s));
        CHECK("usocket_receive", usocket_receive(h, in, sizeof in, &r, NULL));
        if (r != (size_t)size) fail("short datagram %zu", r);
    }
    long n;
    TIMED_BLOCKS(n, iters, secs, 15, {
        CHECK("usocket_send", usocket_send(h, out, (size_t)size, NULL, 0, &s));
        CHECK("usocket_receive", usocket_receive(h, in, sizeof in, &r, NULL));
        if (r != (size_t)size) fail("short datagram %zu", r);
    });
    usocket_close(h);
    kill_child();
    result_blocks_us("");
}

/* N idle datagram sockets bound to 127.0.0.1 plus one (last) with a datagram
 * queued that is never read: the same set as bench_raw's wait measures. */
static usocket_t *make_wait_handles(long n) {
    raise_nofile();
    if (n + 64 > nofile_limit()) fail("descriptor limit %ld too low for n=%ld", nofile_limit(), n);
    usocket_t *hs = malloc(sizeof(usocket_t) * (size_t)(n + 1));
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = "127.0.0.1";
    for (long i = 0; i <= n; i++) CHECK("usocket_connect(datagram, unconnected)", usocket_connect(NULL, 0, &o, &hs[i]));
    usocket_address a;
    CHECK("usocket_local_name", usocket_local_name(hs[n], &a));
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = loopback(a.port);
    if (sendto(s, "r", 1, 0, (struct sockaddr *)&sa, sizeof sa) != 1) fail("sendto: %s", strerror(errno));
    close(s);
    return hs;
}

static void m_wait(void) {
    long n = opt_long("n", 1000), iters = opt_long("iters", 100000);
    double secs = opt_double("seconds", 0.5);
    usocket_t *hs = make_wait_handles(n);
    uint8_t *states = calloc((size_t)(n + 1), 1);
    size_t nready = 0;
    int64_t rem = 0;
    CHECK("usocket_wait_for_input", usocket_wait_for_input(hs, (size_t)(n + 1), 1000, states, &nready, &rem));
    if (nready != 1) fail("setup: nready %zu", nready);
    long k;
    TIMED_BLOCKS(k, iters, secs, 0, {
        CHECK("usocket_wait_for_input", usocket_wait_for_input(hs, (size_t)(n + 1), 1000, states, &nready, &rem));
        if (nready != 1 || states[n] != USOCKET_STATE_READ) fail("wait: nready %zu", nready);
    });
    char extra[64];
    snprintf(extra, sizeof extra, ",\"n\":%ld", n);
    result_blocks_us(extra);
}

static void m_wait_list(void) {
    long n = opt_long("n", 1000), iters = opt_long("iters", 100000);
    double secs = opt_double("seconds", 0.5);
    usocket_t *hs = make_wait_handles(n);
    usocket_t wl = 0;
    CHECK("usocket_wait_list_new", usocket_wait_list_new(&wl));
    for (long i = 0; i <= n; i++) CHECK("usocket_wait_list_add", usocket_wait_list_add(wl, hs[i]));
    size_t cap = (size_t)opt_long("cap", 64); /* room for ready handles passed to the call */
    usocket_t *ready = calloc(cap, sizeof(usocket_t));
    size_t nready = 0;
    int64_t rem = 0;
    CHECK("usocket_wait_list_wait", usocket_wait_list_wait(wl, 1000, ready, cap, &nready, &rem));
    if (nready != 1) fail("setup: nready %zu", nready);
    long k;
    TIMED_BLOCKS(k, iters, secs, 15, {
        CHECK("usocket_wait_list_wait", usocket_wait_list_wait(wl, 1000, ready, cap, &nready, &rem));
        if (nready != 1 || ready[0] != hs[n]) fail("wait list: nready %zu", nready);
    });
    char extra[64];
    snprintf(extra, sizeof extra, ",\"n\":%ld", n);
    result_blocks_us(extra);
}

static usocket_t g_listener = 0;
static usocket_t *g_acc;
static uint16_t lib_acc_listen(int backlog) {
    usocket_listen_options lo;
    usocket_listen_options_init(&lo);
    lo.backlog = (int32_t)backlog;
    lo.reuse_address = true;
    CHECK("usocket_listen", usocket_listen("127.0.0.1", 0, &lo, &g_listener));
    usocket_address a;
    CHECK("usocket_local_name", usocket_local_name(g_listener, &a));
    if (!g_acc) g_acc = malloc(sizeof(usocket_t) * (size_t)opt_long("count", 4000));
    return a.port;
}
__attribute__((noinline)) static void lib_acc_one(long i) { /* a symbol of its own: callgrind --toggle-collect */
    CHECK("usocket_accept", usocket_accept(g_listener, &g_acc[i]));
}
static void lib_acc_close_all(long count) {
    for (long i = 0; i < count; i++)
        if (g_acc[i]) CHECK("usocket_close", usocket_close(g_acc[i]));
    usocket_close(g_listener);
}
static void lib_acc_close_one(long i) {
    CHECK("usocket_close", usocket_close(g_acc[i]));
    g_acc[i] = 0;
}

static void m_accept(void) {
    static const acceptor_ops ops = {lib_acc_listen, lib_acc_one, lib_acc_close_all, lib_acc_close_one};
    accept_rounds(&ops);
}

static void m_mem(void) {
    long count = opt_long("count", 10000);
    raise_nofile();
    uint16_t port;
    int lfd = raw_listener(4096, &port);
    int pfd[2];
    if (pipe(pfd) != 0) fail("pipe");
    fork_holder(lfd, count + 1, pfd[1]);
    close(lfd);
    usocket_t *hs = malloc(sizeof(usocket_t) * (size_t)count);
    memset(hs, 0, sizeof(usocket_t) * (size_t)count);
    usocket_close(lib_connect_tcp(port)); /* warm: the library's globals exist */
    long before = proc_status_kb(0, "VmHWM");
    double t0 = now_s();
    for (long i = 0; i < count; i++) hs[i] = lib_connect_tcp(port);
    double el = now_s() - t0;
    long after = proc_status_kb(0, "VmHWM");
    char b;
    if (read(pfd[0], &b, 1) != 1) fail("acceptor failed");
    for (long i = 0; i < count; i++) usocket_close(hs[i]);
    kill_child();
    char extra[128];
    snprintf(extra, sizeof extra, ",\"hwm_before_kb\":%ld,\"hwm_after_kb\":%ld", before, after);
    result((double)(after - before) * 1024.0 / (double)count, "B/socket", count, el, extra);
}

/* ---- paired measures: raw syscalls on the library's own descriptor
 * (usocket_fd) and library calls on its handle, alternating block by block
 * in one process on one socket, so machine load hits both alike. The value
 * is the ratio lib/raw of seconds per operation (rtt, udp) or of rates
 * (bulk, accept: lib rate / raw rate). */
#define PB (2 * NBLOCKS)
#define PMAX (NBLOCKS * NBLOCKS)  /* blocks per implementation, at most (accept: rounds x NBLOCKS) */
static double g_pv[2][PMAX];      /* per-op seconds (rtt, udp) or seconds per block (bulk, accept) */
static long g_pc[2][PMAX];        /* ops (or bytes) per block */
static int g_pn = NBLOCKS;        /* blocks per implementation */

static double median_n(const double *v, int n) {
    double *tmp = malloc(sizeof(double) * (size_t)n);
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    double m = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
    free(tmp);
    return m;
}

/* The value is lib/raw of the medians over the blocks: of seconds per
 * operation ("time": rtt, udp) or of per-block rates ("rate": bulk bytes/s,
 * accepts/s), so a block that another process preempted moves it little.
 * The ratio of the totals is kept as "ratio_of_totals". */
static void paired_result(const char *kind) {
    int n = g_pn;
    double rt = 0, lt = 0, rc = 0, lc = 0, v[2][PMAX];
    for (int i = 0; i < n; i++) {
        int time_kind = !strcmp(kind, "time");
        for (int k = 0; k < 2; k++)
            v[k][i] = time_kind ? g_pv[k][i] : (double)g_pc[k][i] / g_pv[k][i];
        rt += g_pv[0][i] * (time_kind ? (double)g_pc[0][i] : 1.0);
        lt += g_pv[1][i] * (time_kind ? (double)g_pc[1][i] : 1.0);
        rc += (double)g_pc[0][i];
        lc += (double)g_pc[1][i];
    }
    double rawm = median_n(v[0], n), libm = median_n(v[1], n);
    char extra[256];
    if (!strcmp(kind, "time")) {
        snprintf(extra, sizeof extra, ",\"raw_us\":%.4f,\"lib_us\":%.4f,\"ratio_of_totals\":%.4f,\"blocks\":%d",
                 rawm * 1e6, libm * 1e6, (lt / lc) / (rt / rc), n);
        result(libm / rawm, "ratio", (long)(rc + lc), rt + lt, extra);
    } else {
        snprintf(extra, sizeof extra, ",\"raw_rate\":%.6g,\"lib_rate\":%.6g,\"ratio_of_totals\":%.4f,\"blocks\":%d",
                 rawm, libm, (lc / lt) / (rc / rt), n);
        result(libm / rawm, "ratio", (long)(rc + lc), rt + lt, extra);
    }
}

static void m_paired_rtt(int udp, int local) {
    long size = opt_long("size", udp ? 64 : 1), iters = opt_long("iters", 2000000);
    double secs = opt_double("seconds", 1.0);
    uint16_t port;
    usocket_t h = 0;
    if (local) {
        h = lib_echo_client(1);
    } else if (udp) {
        int sfd = raw_udp_bound(&port);
        fork_udp_echo(sfd);
        close(sfd);
        usocket_connect_options o;
        usocket_connect_options_init(&o);
        o.protocol = USOCKET_DATAGRAM;
        o.timeout_ms = 2000;
        CHECK("usocket_connect(datagram)", usocket_connect("127.0.0.1", port, &o, &h));
    } else {
        int lfd = raw_listener(16, &port);
        fork_tcp_echo(lfd);
        close(lfd);
        h = lib_connect_tcp(port);
    }
    int fd = -1;
    CHECK("usocket_fd", usocket_fd(h, &fd));
    static uint8_t out[65536], in[65536];
    memset(out, 'p', sizeof out);
    long per = iters / PB > 0 ? iters / PB : 1;
    double bsec = secs / PB;
    for (int b = -2; b < PB; b++) { /* two warm-up blocks, then alternate */
        int lib = b & 1;
        double t0 = now_s(), dl = t0 + (b < 0 ? 0.02 : bsec);
        long n = 0;
        for (; n < per;) {
            size_t w, r;
            int rc;
            if (lib) {
                CHECK("usocket_write/send", udp ? usocket_send(h, out, (size_t)size, NULL, 0, &w)
                                                : usocket_write(h, out, (size_t)size, &w));
                if (udp) {
                    CHECK("usocket_receive", usocket_receive(h, in, sizeof in, &r, NULL));
                } else if ((rc = lib_read_exact(h, in, (size_t)size))) lib_fail("usocket_read", rc);
            } else {
                if (send(fd, out, (size_t)size, MSG_NOSIGNAL) != size) fail("send: %s", strerror(errno));
                if (udp) {
                    if (recv(fd, in, sizeof in, 0) != size) fail("recv: %s", strerror(errno));
                } else {
                    long left = size;
                    while (left > 0) {
                        ssize_t g = recv(fd, in, (size_t)left, 0);
                        if (g <= 0) fail("recv: %s", strerror(errno));
                        left -= g;
                    }
                }
            }
            n++;
            if ((n & 15) == 0 && now_s() > dl) break;
        }
        if (b >= 0) {
            g_pv[lib][b / 2] = (now_s() - t0) / (double)n;
            g_pc[lib][b / 2] = n;
        }
    }
    usocket_close(h);
    kill_child();
    paired_result("time");
}

static void m_paired_bulk(int local) {
    long long total = (long long)opt_double("bytes", 2147483648.0);
    long rd = opt_long("read", 65536);
    usocket_t h = lib_bulk_receiver(local, total);
    int fd = -1;
    CHECK("usocket_fd", usocket_fd(h, &fd));
    uint8_t *buf = malloc((size_t)rd);
    long long chunk = total / PB, got = 0;
    double deadline = now_s() + opt_double("seconds", 60);
    for (int b = 0; b < PB; b++) {
        int lib = b & 1;
        long long want = (b == PB - 1) ? total - got : chunk, g0 = got;
        double t0 = now_s();
        while (got - g0 < want) {
            size_t r = 0;
            if (lib) {
                CHECK("usocket_read", usocket_read(h, buf, (size_t)rd, &r));
            } else {
                ssize_t x = recv(fd, buf, (size_t)rd, 0);
                if (x < 0) { if (errno == EINTR) continue; fail("recv: %s", strerror(errno)); }
                r = (size_t)x;
            }
            if (r == 0) fail("bulk: early EOF after %lld bytes", got);
            got += (long long)r;
        }
        g_pv[lib][b / 2] = now_s() - t0;
        g_pc[lib][b / 2] = (long)(got - g0);
        if (now_s() > deadline) fail("bulk: time limit");
    }
    usocket_close(h);
    kill_child();
    paired_result("rate");
}

static void m_paired_accept(void) {
    long count = opt_long("count", 4000), rounds = opt_long("rounds", 5);
    if (count < PB || count % PB) fail("--count must be a multiple of %d", PB);
    raise_nofile();
    int *cl = malloc(sizeof(int) * (size_t)count), *acc_fd = malloc(sizeof(int) * (size_t)count);
    usocket_t *acc_h = malloc(sizeof(usocket_t) * (size_t)count);
    if (rounds < 1 || rounds > NBLOCKS) fail("--rounds 1..%d", NBLOCKS);
    g_pn = 0;
    for (long r = 0; r < rounds; r++) {
        usocket_listen_options lo;
        usocket_listen_options_init(&lo);
        lo.backlog = 4096;
        lo.reuse_address = true;
        usocket_t l = 0;
        CHECK("usocket_listen", usocket_listen("127.0.0.1", 0, &lo, &l));
        usocket_address a;
        CHECK("usocket_local_name", usocket_local_name(l, &a));
        int lfd = -1;
        CHECK("usocket_fd", usocket_fd(l, &lfd));
        for (long i = 0; i < count; i++) cl[i] = raw_connect(a.port, 0);
        long per = count / PB, k = 0;
        for (int b = 0; b < PB; b++) {
            int lib = (b + (int)r) & 1; /* alternate which goes first, round by round */
            double t0 = now_s();
            for (long i = 0; i < per; i++, k++) {
                if (lib) {
                    CHECK("usocket_accept", usocket_accept(l, &acc_h[k]));
                } else {
                    acc_h[k] = 0;
                    acc_fd[k] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                    if (acc_fd[k] < 0) fail("accept: %s", strerror(errno));
                }
            }
            g_pv[lib][g_pn + b / 2] = now_s() - t0;
            g_pc[lib][g_pn + b / 2] = per;
        }
        g_pn += NBLOCKS;
        for (long i = 0; i < k; i++) {
            if (acc_h[i]) usocket_close(acc_h[i]);
            else close(acc_fd[i]);
        }
        for (long i = 0; i < count; i++) close(cl[i]);
        usocket_close(l);
    }
    paired_result("rate");
}

int main(int argc, char **argv) {
    g_argc = argc;
    g_argv = argv;
    g_impl = "lib-c";
    signal(SIGPIPE, SIG_IGN); /* a C host ignoring SIGPIPE, as bench_raw does */
    if (argc < 2) fail("usage: bench_lib rtt|bulk|udp|wait|wait-list|accept|mem|local-rtt|local-bulk|paired-* [--key value]...");
    g_measure = argv[1];
    const char *m = argv[1];
    if (!strcmp(m, "rtt")) m_rtt(0);
    else if (!strcmp(m, "bulk")) m_bulk(0);
    else if (!strcmp(m, "local-rtt")) { NEED_LOCAL(); m_rtt(1); }
    else if (!strcmp(m, "local-bulk")) { NEED_LOCAL(); m_bulk(1); }
    else if (!strcmp(m, "paired-local-rtt")) { g_impl = "paired"; NEED_LOCAL(); m_paired_rtt(0, 1); }
    else if (!strcmp(m, "paired-local-bulk")) { g_impl = "paired"; NEED_LOCAL(); m_paired_bulk(1); }
    else if (!strcmp(m, "udp")) m_udp();
    else if (!strcmp(m, "wait")) { g_impl = "lib-wait"; m_wait(); }
    else if (!strcmp(m, "wait-list")) { g_impl = "lib-wait-list"; m_wait_list(); }
    else if (!strcmp(m, "accept")) m_accept();
    else if (!strcmp(m, "mem")) m_mem();
    else if (!strcmp(m, "paired-rtt")) { g_impl = "paired"; m_paired_rtt(0, 0); }
    else if (!strcmp(m, "paired-udp")) { g_impl = "paired"; m_paired_rtt(1, 0); }
    else if (!strcmp(m, "paired-bulk")) { g_impl = "paired"; m_paired_bulk(0); }
    else if (!strcmp(m, "paired-accept")) { g_impl = "paired"; m_paired_accept(); }
    else fail("unknown measure %s", m);
    return 0;
}
