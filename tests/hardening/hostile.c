/*
 * hostile.c: hostile peers against a socket server (issue 7).
 *
 *   build/hardening/hostile LABEL SERVER-COMMAND [ARG...]
 *
 * Starts the server (hostile_server.c, hostile_server.py or
 * hostile-server.lisp: it prints "READY <tcp-port> <udp-port>", echoes on
 * TCP with a thread per client, answers UDP datagrams, and exits when its
 * stdin closes), then attacks it from this process, over 127.0.0.1 only:
 *
 *   idle        1,000 clients connect and never send (held open together)
 *   flood 1, 2  a connect flood: 2 threads x 2,500 connect-and-close, 2,000
 *               new connections a second in all (HOSTILE_FLOOD_RATE)
 *   burst       (HOSTILE_BURST=1 only) the same 5,000 as fast as they go:
 *               they queue in the backlog, so the answer latency is only
 *               reported; every probe must still be answered (within 5 s)
 *   half-close  500 clients send half a request, shut down their output and
 *               wait for the server to close (all must see end of file)
 *   reset       500 clients send half a request and reset (SO_LINGER 0)
 *               (both at up to 1,000 new connections a second)
 *   datagrams   0- and 65,507-byte datagrams (each answered correctly:
 *               "empty" and the same 65,507 bytes), 2 senders x 300
 *
 * Throughout every phase a well-behaved client probes the server every
 * ~10 ms (TCP: connect, send a line, read the echo, close; UDP: a datagram
 * and its echo); every probe must be answered correctly within 100 ms.
 * The server's VmRSS and thread count (/proc/PID/status) are sampled after
 * every phase: memory must stay bounded (the second flood may not grow it
 * more than 8 MiB over the first; the peak and the end stay within
 * HOSTILE_PEAK_MIB and HOSTILE_END_MIB of the start, defaults 256 and 64),
 * and the threads must go back once the clients have gone.
 * Every wait is bounded. Prints the measurements and "N passed, M failed".
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "hcommon.h"

#define LIMIT_MS 100.0
#define IDLE_CLIENTS 1000
#define FLOOD_PER_THREAD 2500
#define HALF_CLIENTS 500
#define DGRAMS_PER_THREAD 300

static const char *LO4 = "127.0.0.1";
static int64_t probe_timeout_ms = 1000;
static const char *label;
static pid_t spid;
static uint16_t tport, uport;
static int passed, failed;

static void check(int ok, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", label, text);
    if (ok)
        passed++;
    else
        failed++;
}

static long server_threads(void) { return h_status_kib(spid, "Threads"); }
static long server_rss(void) { return h_rss_kib(spid); }

/* Waits (polling /proc every 5 ms, at most timeout_ms) until the server's
 * thread count satisfies lo <= n <= hi. Returns the last count seen. */
static long wait_threads(long lo, long hi, double timeout_ms)
{
    double end = h_now_ms() + timeout_ms;
    struct timespec pause = {0, 5000000};
    long n = server_threads();
    while ((n < lo || n > hi) && h_now_ms() < end) {
        nanosleep(&pause, NULL);
        n = server_threads();
    }
    return n;
}

/* The server's thread count once it has stopped changing for 100 ms (at
 * most 5 s): handler threads of the last clients may still be ending. */
static long settled_threads(void)
{
    struct timespec pause = {0, 5000000};
    long last = server_threads();
    double since = h_now_ms(), end = since + 5000;
    while (h_now_ms() < end && h_now_ms() - since < 100) {
        nanosleep(&pause, NULL);
        long n = server_threads();
        if (n != last) {
            last = n;
            since = h_now_ms();
        }
    }
    return last;
}

/* ------------------------------------------------------------------ */
/* Latencies                                                           */

struct lat {
    double v[8192];
    int n;
    int bad;
    char first_bad[256];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void lat_add(struct lat *l, double ms)
{
    if (l->n < (int)(sizeof l->v / sizeof l->v[0]))
        l->v[l->n++] = ms;
}

static void lat_bad(struct lat *l, const char *what)
{
    if (l->bad++ == 0)
        snprintf(l->first_bad, sizeof l->first_bad, "%s", what);
}

static double lat_pct(struct lat *l, double p)
{
    if (l->n == 0)
        return -1;
    qsort(l->v, (size_t)l->n, sizeof l->v[0], cmp_double);
    int i = (int)(p * (l->n - 1) + 0.5);
    return l->v[i];
}

/* ------------------------------------------------------------------ */
/* The well-behaved client                                             */

static int read_exact(usocket_t s, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        if (usocket_read(s, buf + got, len - got, &n) != USOCKET_OK || n == 0)
            return -1;
        got += n;
    }
    return 0;
}

static void probe_tcp(struct lat *l, int seq)
{
    char line[64], back[64], err[160];
    int len = snprintf(line, sizeof line, "ping %d\n", seq);
    double t0 = h_now_ms();
    usocket_t c;
    int32_t rc = h_connect(LO4, tport, probe_timeout_ms, probe_timeout_ms, &c);
    if (rc != USOCKET_OK) {
        snprintf(err, sizeof err, "connect: %s", usocket_error_name(rc));
        lat_bad(l, err);
        return;
    }
    size_t n;
    rc = usocket_write(c, (const uint8_t *)line, (size_t)len, &n);
    if (rc == USOCKET_OK && read_exact(c, (uint8_t *)back, (size_t)len) == 0 && memcmp(back, line, (size_t)len) == 0)
        lat_add(l, h_now_ms() - t0);
    else {
        snprintf(err, sizeof err, "no echo of %.*s (%s)", len - 1, line, usocket_last_error_message());
        lat_bad(l, err);
    }
    usocket_close(c);
}

static void probe_udp(struct lat *l, usocket_t u, int seq)
{
    char msg[64], back[128], err[160];
    int len = snprintf(msg, sizeof msg, "ping %d", seq);
    double t0 = h_now_ms();
    size_t n;
    if (usocket_send(u, (const uint8_t *)msg, (size_t)len, NULL, 0, &n) != USOCKET_OK) {
        lat_bad(l, "send failed");
        return;
    }
    /* Skip late answers to earlier probes; the receive timeout bounds it. */
    for (;;) {
        int32_t rc = usocket_receive(u, (uint8_t *)back, sizeof back, &n, NULL);
        if (rc != USOCKET_OK) {
            snprintf(err, sizeof err, "no answer to %s: %s", msg, usocket_error_name(rc));
            lat_bad(l, err);
            return;
        }
        if (n == (size_t)len && memcmp(back, msg, n) == 0)
            break;
    }
    lat_add(l, h_now_ms() - t0);
}

/* ------------------------------------------------------------------ */
/* Hostile loads, each on threads of its own                           */

static volatile int load_failures;

static double flood_rate; /* connections a second from each load thread; 0: as fast as it goes */

/* Pacing, not synchronisation: the i-th connection of a thread that started
 * at t0 is due at t0 + i / flood_rate. */
static void pace(double t0, int i)
{
    if (flood_rate <= 0)
        return;
    double due = t0 + i * 1000.0 / flood_rate, now = h_now_ms();
    if (due > now) {
        struct timespec ts = {(time_t)((due - now) / 1000), (long)(((due - now) - 1000 * (time_t)((due - now) / 1000)) * 1e6)};
        nanosleep(&ts, NULL);
    }
}

static void *flood(void *arg)
{
    (void)arg;
    double t0 = h_now_ms();
    for (int i = 0; i < FLOOD_PER_THREAD; i++) {
        pace(t0, i);
        usocket_t c;
        if (h_connect(LO4, tport, 0, 2000, &c) == USOCKET_OK)
            usocket_close(c);
        else
            __atomic_add_fetch(&load_failures, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static volatile int half_eof, half_other;

static void *half_closers(void *arg)
{
    (void)arg;
    double t0 = h_now_ms();
    for (int i = 0; i < HALF_CLIENTS; i++) {
        pace(t0, i);
        usocket_t c;
        if (h_connect(LO4, tport, 2000, 2000, &c) != USOCKET_OK) {
            __atomic_add_fetch(&half_other, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        size_t n;
        usocket_write(c, (const uint8_t *)"GET /half-a-req", 15, &n);
        usocket_shutdown(c, USOCKET_SHUT_OUTPUT);
        /* read whatever comes back until the server closes */
        uint8_t buf[256];
        int32_t rc;
        while ((rc = usocket_read(c, buf, sizeof buf, &n)) == USOCKET_OK && n > 0)
            ;
        if (rc == USOCKET_OK)
            __atomic_add_fetch(&half_eof, 1, __ATOMIC_SEQ_CST);
        else
            __atomic_add_fetch(&half_other, 1, __ATOMIC_SEQ_CST);
        usocket_close(c);
    }
    return NULL;
}

static void *resetters(void *arg)
{
    (void)arg;
    double t0 = h_now_ms();
    for (int i = 0; i < HALF_CLIENTS; i++) {
        pace(t0, i);
        usocket_t c;
        if (h_connect(LO4, tport, 2000, 2000, &c) != USOCKET_OK) {
            __atomic_add_fetch(&load_failures, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        size_t n;
        usocket_write(c, (const uint8_t *)"GET /half-a-req", 15, &n);
        h_linger0(c);
        usocket_close(c);
    }
    return NULL;
}

static volatile int dgram_ok, dgram_bad;

static void *datagrams(void *arg)
{
    (void)arg;
    static const uint8_t zero[1];
    uint8_t *big = malloc(USOCKET_MAX_DATAGRAM_PACKET_SIZE), *back = malloc(USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1);
    for (size_t i = 0; i < USOCKET_MAX_DATAGRAM_PACKET_SIZE; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 2000;
    usocket_t u;
    if (usocket_connect(LO4, uport, &o, &u) != USOCKET_OK) {
        __atomic_add_fetch(&dgram_bad, DGRAMS_PER_THREAD, __ATOMIC_SEQ_CST);
        free(big);
        free(back);
        return NULL;
    }
    for (int i = 0; i < DGRAMS_PER_THREAD; i++) {
        int empty = i % 2 == 0;
        size_t n;
        int ok = usocket_send(u, empty ? zero : big, empty ? 0 : USOCKET_MAX_DATAGRAM_PACKET_SIZE, NULL, 0, &n) ==
                     USOCKET_OK &&
                 usocket_receive(u, back, USOCKET_MAX_DATAGRAM_PACKET_SIZE + 1, &n, NULL) == USOCKET_OK &&
                 (empty ? (n == 5 && memcmp(back, "empty", 5) == 0)
                        : (n == USOCKET_MAX_DATAGRAM_PACKET_SIZE && memcmp(back, big, n) == 0));
        __atomic_add_fetch(ok ? &dgram_ok : &dgram_bad, 1, __ATOMIC_SEQ_CST);
    }
    usocket_close(u);
    free(big);
    free(back);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Phases                                                              */

static usocket_t udp_probe;
static int burst;
static int seq;

/* Runs `nthreads` threads of `load` (none: just probes) and probes every
 * ~10 ms until they are done (at least `min_probes` times). */
static void phase(const char *name, void *(*load)(void *), int nthreads, int min_probes)
{
    pthread_t th[4];
    struct lat *tcp = calloc(1, sizeof *tcp), *udp = calloc(1, sizeof *udp);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, load, NULL);
    double t0 = h_now_ms();
    struct timespec pace = {0, 10000000};
    int probes = 0;
    for (;;) {
        probe_tcp(tcp, ++seq);
        probe_udp(udp, udp_probe, ++seq);
        probes++;
        int running = 0;
        for (int i = 0; i < nthreads; i++)
            if (pthread_tryjoin_np(th[i], NULL) == EBUSY)
                running = 1;
            else
                th[i] = th[--nthreads], i--;
        if (!running && probes >= min_probes)
            break;
        if (h_now_ms() - t0 > 120000) {
            check(0, "%s: the load did not end within 120 s", name);
            break;
        }
        nanosleep(&pace, NULL);
    }
    double secs = (h_now_ms() - t0) / 1000;
    double tmed = lat_pct(tcp, 0.5), t99 = lat_pct(tcp, 0.99), tmax = lat_pct(tcp, 1.0);
    double umed = lat_pct(udp, 0.5), u99 = lat_pct(udp, 0.99), umax = lat_pct(udp, 1.0);
    printf("     %s: %-10s %5.1f s, %3d probes; TCP ms median %.2f p99 %.2f max %.2f; UDP ms median %.2f p99 "
           "%.2f max %.2f; server VmRSS %ld KiB, %ld threads\n",
           label, name, secs, probes, tmed, t99, tmax, umed, u99, umax, server_rss(), server_threads());
    check(tcp->bad == 0 && udp->bad == 0, "%s: every probe answered correctly%s%s", name,
          tcp->bad ? "; TCP: " : (udp->bad ? "; UDP: " : ""), tcp->bad ? tcp->first_bad : udp->first_bad);
    if (burst)
        printf("info %s: %s: an unpaced burst of %d connects: the slowest answer took %.2f ms (not checked)\n", label,
               name, 2 * FLOOD_PER_THREAD, tmax);
    else
        check(tmax < LIMIT_MS && umax < LIMIT_MS, "%s: every answer within %.0f ms (TCP max %.2f, UDP max %.2f)",
              name, LIMIT_MS, tmax, umax);
    free(tcp);
    free(udp);
}

static int start_server(char **argv, int *to_server, FILE **from_server, const char *log)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    spid = fork();
    if (spid < 0)
        return -1;
    if (spid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        close(in[1]);
        close(out[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to_server = in[1];
    *from_server = fdopen(out[0], "r");
    struct pollfd p = {out[0], POLLIN, 0};
    char line[128];
    if (poll(&p, 1, 60000) != 1 || !fgets(line, sizeof line, *from_server))
        return -1;
    unsigned a, b;
    if (sscanf(line, "READY %u %u", &a, &b) != 2)
        return -1;
    tport = (uint16_t)a;
    uport = (uint16_t)b;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: hostile LABEL SERVER-COMMAND [ARG...]\n");
        return 2;
    }
    label = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_DFL);
    h_raise_nofile();
    long peak_mib = getenv("HOSTILE_PEAK_MIB") ? atol(getenv("HOSTILE_PEAK_MIB")) : 256;
    long end_mib = getenv("HOSTILE_END_MIB") ? atol(getenv("HOSTILE_END_MIB")) : 64;
    flood_rate = getenv("HOSTILE_FLOOD_RATE") ? atof(getenv("HOSTILE_FLOOD_RATE")) / 2 : 1000; /* per thread */

    char log[] = "/tmp/usocket-hostile-server.XXXXXX";
    int logfd = mkstemp(log);
    if (logfd >= 0)
        close(logfd);
    int to_server = -1;
    FILE *from_server = NULL;
    if (start_server(argv + 2, &to_server, &from_server, log) != 0) {
        check(0, "the server started and said READY");
        printf("%d passed, %d failed\n", passed, failed);
        if (spid > 0)
            kill(spid, SIGKILL);
        return 1;
    }
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 1000;
    if (usocket_connect(LO4, uport, &o, &udp_probe) != USOCKET_OK) {
        check(0, "a datagram socket for the probes");
        kill(spid, SIGKILL);
        return 1;
    }

    /* warm-up, then the baseline */
    phase("warm-up", NULL, 0, 100);
    long threads0 = settled_threads(), rss0 = server_rss();
    printf("     %s: baseline: server VmRSS %ld KiB, %ld threads\n", label, rss0, threads0);
    long peak = rss0;

    /* 1,000 clients that connect and never send */
    static usocket_t idle[IDLE_CLIENTS];
    int opened = 0;
    for (int i = 0; i < IDLE_CLIENTS; i++)
        if (h_connect(LO4, tport, 0, 2000, &idle[opened]) == USOCKET_OK)
            opened++;
    long t = wait_threads(threads0 + IDLE_CLIENTS, 1 << 30, 30000);
    check(opened == IDLE_CLIENTS && t >= threads0 + IDLE_CLIENTS,
          "idle: %d of %d clients connected, the server holds them (%ld threads)", opened, IDLE_CLIENTS, t);
    phase("idle", NULL, 0, 50);
    long r = server_rss();
    peak = r > peak ? r : peak;
    for (int i = 0; i < opened; i++)
        usocket_close(idle[i]);
    t = wait_threads(0, threads0 + 2, 30000);
    check(t <= threads0 + 2, "idle: the server's threads went back after the clients left (%ld, %ld before)", t,
          threads0);

    /* connect floods */
    load_failures = 0;
    phase("flood 1", flood, 2, 20);
    wait_threads(0, threads0 + 2, 30000);
    long rss_flood1 = server_rss();
    peak = rss_flood1 > peak ? rss_flood1 : peak;
    (void)rss_flood1;
    phase("flood 2", flood, 2, 20);
    t = wait_threads(0, threads0 + 2, 30000);
    long rss_flood2 = server_rss();
    check(load_failures == 0, "flood: all %d connects of the floods succeeded (%d failed)", 4 * FLOOD_PER_THREAD,
          load_failures);
    /* A garbage-collected server's VmRSS swings with its GC cycle: the second
     * flood may not push VmRSS more than 8 MiB above the peak seen so far. */
    check(rss_flood2 - peak <= 8192, "flood: after the second flood VmRSS is %ld KiB, %+ld KiB over the peak "
          "before it (at most 8 MiB)", rss_flood2, rss_flood2 - peak);
    peak = rss_flood2 > peak ? rss_flood2 : peak;
    check(t <= threads0 + 2, "flood: the server's threads went back (%ld, %ld before)", t, threads0);

    /* an unpaced burst (HOSTILE_BURST=1, run.sh soak): measured, and every
     * probe must be answered, within 5 s rather than 100 ms */
    if (getenv("HOSTILE_BURST") && atoi(getenv("HOSTILE_BURST"))) {
        double saved = flood_rate;
        flood_rate = 0;
        probe_timeout_ms = 5000;
        load_failures = 0;
        burst = 1;
        phase("burst", flood, 2, 20);
        burst = 0;
        probe_timeout_ms = 1000;
        flood_rate = saved;
        t = wait_threads(0, threads0 + 2, 60000);
        r = server_rss();
        peak = r > peak ? r : peak;
    }

    /* half a request, then half-close or reset */
    phase("half-close", half_closers, 1, 20);
    check(half_eof == HALF_CLIENTS, "half-close: %d of %d clients saw the server close (%d other outcomes)",
          half_eof, HALF_CLIENTS, half_other);
    load_failures = 0;
    phase("reset", resetters, 1, 20);
    check(load_failures == 0, "reset: all %d resetting clients connected", HALF_CLIENTS);
    t = wait_threads(0, threads0 + 2, 30000);
    check(t <= threads0 + 2, "half-close/reset: the server's threads went back (%ld, %ld before)", t, threads0);
    r = server_rss();
    peak = r > peak ? r : peak;

    /* datagrams of 0 and 65,507 bytes */
    phase("datagrams", datagrams, 2, 20);
    check(dgram_ok == 2 * DGRAMS_PER_THREAD && dgram_bad == 0,
          "datagrams: %d of %d 0- and 65,507-byte datagrams answered correctly", dgram_ok, 2 * DGRAMS_PER_THREAD);
    r = server_rss();
    peak = r > peak ? r : peak;

    /* after it all */
    phase("after", NULL, 0, 50);
    long rss_end = server_rss();
    printf("     %s: server VmRSS start %ld, peak %ld, end %ld KiB (%+ld KiB)\n", label, rss0, peak, rss_end,
           rss_end - rss0);
    check(peak - rss0 <= peak_mib * 1024, "memory: peak VmRSS %+ld KiB over the start (at most %ld MiB)",
          peak - rss0, peak_mib);
    check(rss_end - rss0 <= end_mib * 1024, "memory: VmRSS at the end %+ld KiB over the start (at most %ld MiB)",
          rss_end - rss0, end_mib);

    /* stop the server: close its stdin */
    usocket_close(udp_probe);
    close(to_server);
    int status = -1;
    double end = h_now_ms() + 20000;
    struct timespec pause = {0, 10000000};
    while (waitpid(spid, &status, WNOHANG) == 0 && h_now_ms() < end)
        nanosleep(&pause, NULL);
    if (h_now_ms() >= end) {
        kill(spid, SIGKILL);
        waitpid(spid, &status, 0);
        check(0, "the server did not exit within 20 s of its stdin closing");
    } else
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the server exited cleanly (status %d)", status);
    if (from_server)
        fclose(from_server);

    /* what the server said on stderr */
    FILE *f = fopen(log, "r");
    if (f) {
        char line[512];
        int lines = 0;
        while (fgets(line, sizeof line, f))
            if (lines++ < 5)
                printf("     %s: server stderr: %s", label, line);
        if (lines > 5)
            printf("     %s: server stderr: ... %d lines in all\n", label, lines);
        fclose(f);
    }
    unlink(log);
    printf("hostile peers (%s): %d passed, %d failed\n", label, passed, failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
