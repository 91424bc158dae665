/*
 * check.h: a tiny test runner and assertion kit for the C tests of
 * usocket-core, plus the socket helpers the tests share.
 *
 * A test program lists its cases and hands them to check_main():
 *
 *     static void test_something(void) { CHECK_OK(usocket_...); ... }
 *     static const struct check_case cases[] = { CHECK_CASE(test_something) };
 *     int main(int argc, char **argv) { return CHECK_RUN(argc, argv, cases); }
 *
 * Each case runs in a forked child of its own, so a crash, a hang (the child
 * is killed by alarm(2) after CHECK_TIMEOUT seconds, default 60) or a leaked
 * handle in one case cannot hide the result of another, and under valgrind
 * every case gets its own error and leak report (a child that valgrind flags
 * exits 99: the case fails). After the case the child waits (2 s at most)
 * for every other thread to end, the library's own included: a thread left
 * running is a failure (and would show in valgrind as "possibly lost"
 * thread-local storage). The child exits 0 (pass), 77 (skipped) or anything
 * else (fail).
 *
 * Environment:
 *   CHECK_ONLY=name      run only the case of that name (also argv[1])
 *   CHECK_NOFORK=1       run the cases in-process (for gdb)
 *   CHECK_TIMEOUT=s      per-case time limit in seconds
 *   USOCKET_TEST_SLOW=k  multiply the upper bounds of timing checks by k
 *                        (run.sh sets it under valgrind)
 *   USOCKET_TEST_CYCLES  iteration count of the long loops (leak test)
 *
 * The last line a program prints is "CHECK-RESULT passed=N failed=M
 * skipped=K", which tests/c/run.sh adds up. The exit status is 0 only when
 * no case failed.
 */
#ifndef USOCKET_CHECK_H
#define USOCKET_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "usocket.h"

/* ------------------------------------------------------------------ */
/* Assertions                                                          */

/* Failures of the running case (any thread may add to it). */
static int check_failures_ = 0;

static inline void check_fail_(const char *file, int line, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stdout, "    FAIL %s:%d: %s\n", file, line, text);
    fflush(stdout);
    __atomic_add_fetch(&check_failures_, 1, __ATOMIC_SEQ_CST);
}

/* Ends the running case at once (after a failure that makes going on pointless). */
static inline void check_abort_(void)
{
    fflush(stdout);
    exit(1);
}

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            check_fail_(__FILE__, __LINE__, "CHECK(%s)", #cond);           \
    } while (0)

/* CHECK_MSG(cond, printf-format, args...) */
#define CHECK_MSG(cond, ...)                                               \
    do {                                                                   \
        if (!(cond))                                                       \
            check_fail_(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)

#define REQUIRE(cond)                                                      \
    do {                                                                   \
        if (!(cond)) {                                                     \
            check_fail_(__FILE__, __LINE__, "REQUIRE(%s)", #cond);         \
            check_abort_();                                                \
        }                                                                  \
    } while (0)

/* The status of a usocket call, with the names and the last error message
   printed on a mismatch. */
#define CHECK_RC(expr, expected)                                           \
    do {                                                                   \
        int32_t rc_ = (expr), exp_ = (expected);                           \
        if (rc_ != exp_)                                                   \
            check_fail_(__FILE__, __LINE__,                                \
                        "%s\n        returned %d (%s), expected %d (%s)"   \
                        "\n        last error: \"%s\" (errno %d)",         \
                        #expr, rc_, usocket_error_name(rc_), exp_,         \
                        usocket_error_name(exp_),                          \
                        usocket_last_error_message(),                      \
                        usocket_last_os_error());                          \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, USOCKET_OK)

#define REQUIRE_RC(expr, expected)                                         \
    do {                                                                   \
        int before_ = __atomic_load_n(&check_failures_, __ATOMIC_SEQ_CST); \
        CHECK_RC(expr, expected);                                          \
        if (__atomic_load_n(&check_failures_, __ATOMIC_SEQ_CST) != before_) \
            check_abort_();                                                \
    } while (0)

#define REQUIRE_OK(expr) REQUIRE_RC(expr, USOCKET_OK)

/* Either of two statuses. */
#define CHECK_RC2(expr, a, b)                                              \
    do {                                                                   \
        int32_t rc_ = (expr), a_ = (a), b_ = (b);                          \
        if (rc_ != a_ && rc_ != b_)                                        \
            check_fail_(__FILE__, __LINE__,                                \
                        "%s\n        returned %d (%s), expected %s or %s"  \
                        "\n        last error: \"%s\" (errno %d)",         \
                        #expr, rc_, usocket_error_name(rc_),               \
                        usocket_error_name(a_), usocket_error_name(b_),    \
                        usocket_last_error_message(),                      \
                        usocket_last_os_error());                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
    do {                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                \
        if (a_ != b_)                                                      \
            check_fail_(__FILE__, __LINE__, "%s == %s: %lld != %lld",      \
                        #a, #b, a_, b_);                                   \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                 \
    do {                                                                   \
        const char *a_ = (a), *b_ = (b);                                   \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)               \
            check_fail_(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"",  \
                        #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");   \
    } while (0)

/* lo <= v <= hi, for times in ms (doubles). */
#define CHECK_BETWEEN(v, lo, hi)                                           \
    do {                                                                   \
        double v_ = (double)(v), lo_ = (double)(lo), hi_ = (double)(hi);   \
        if (!(v_ >= lo_ && v_ <= hi_))                                     \
            check_fail_(__FILE__, __LINE__, "%s = %.1f is not in [%.1f, %.1f]", \
                        #v, v_, lo_, hi_);                                 \
    } while (0)

/* Ends the case as skipped, with the reason. */
#define SKIP(...)                                                          \
    do {                                                                   \
        printf("    skip: ");                                              \
        printf(__VA_ARGS__);                                               \
        printf("\n");                                                      \
        fflush(stdout);                                                    \
        exit(77);                                                          \
    } while (0)

/* ------------------------------------------------------------------ */
/* The runner                                                          */

struct check_case {
    const char *name;
    void (*fn)(void);
};

#define CHECK_CASE(fn) { #fn, fn }
#define CHECK_RUN(argc, argv, cases) \
    check_main((argc), (argv), (cases), sizeof(cases) / sizeof((cases)[0]))

static inline double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void sleep_ms(double ms)
{
    struct timespec t;
    t.tv_sec = (time_t)(ms / 1000);
    t.tv_nsec = (long)((ms - (double)t.tv_sec * 1000) * 1e6);
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static inline long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    return strtol(v, NULL, 10);
}

/* The factor by which timing upper bounds are stretched (valgrind). */
static inline double slow(void)
{
    long k = env_long("USOCKET_TEST_SLOW", 1);
    return k < 1 ? 1.0 : (double)k;
}

static inline int under_valgrind(void) { return slow() > 1.0; }

/* Threads of this process (entries of /proc/self/task). */
static inline int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* After a case: every thread it started, the library's included, must end
   (within 2 s, stretched under valgrind). A thread still running when the
   case's process exits would be a leaked thread, and valgrind would report
   its thread-local storage as "possibly lost". */
static inline void check_threads_end_(void)
{
    double t0 = now_ms(), limit = 2000 * slow();
    int n;
    while ((n = count_threads()) > 1 && now_ms() - t0 < limit)
        sleep_ms(5);
    if (n > 1)
        check_fail_(__FILE__, __LINE__, "%d threads besides the main one still run %.0f ms after the case", n - 1,
                    limit);
}

static inline int check_main(int argc, char **argv, const struct check_case *cases, size_t ncases)
{
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *only = argc > 1 ? argv[1] : getenv("CHECK_ONLY");
    int nofork = getenv("CHECK_NOFORK") != NULL;
    long limit = env_long("CHECK_TIMEOUT", 60) * (long)slow();
    int passed = 0, failed = 0, skipped = 0;
    size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < ncases; i++) {
        const struct check_case *c = &cases[i];
        int status = 0, code;
        double t0;
        if (only != NULL && *only != '\0' && strcmp(only, c->name) != 0)
            continue;
        printf("  %s ...\n", c->name);
        fflush(stdout);
        fflush(stderr);
        t0 = now_ms();
        if (nofork) {
            check_failures_ = 0;
            c->fn();
            code = check_failures_ ? 1 : 0;
        } else {
            pid_t pid = fork();
            if (pid < 0) {
                perror("fork");
                return 2;
            }
            if (pid == 0) {
                alarm((unsigned)limit);
                check_failures_ = 0;
                c->fn();
                check_threads_end_();
                fflush(stdout);
                exit(check_failures_ ? 1 : 0);
            }
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (WIFSIGNALED(status)) {
                int sig = WTERMSIG(status);
                printf("    FAIL killed by signal %d (%s)%s\n", sig, strsignal(sig),
                       sig == SIGALRM ? ": the case ran past its time limit" : "");
                code = 1;
            } else {
                code = WEXITSTATUS(status);
                if (code == 99)
                    printf("    FAIL valgrind reported errors (exit 99)\n");
            }
        }
        if (code == 0) {
            passed++;
            printf("ok   %s (%.0f ms)\n", c->name, now_ms() - t0);
        } else if (code == 77) {
            skipped++;
            printf("skip %s\n", c->name);
        } else {
            failed++;
            printf("FAIL %s (%.0f ms)\n", c->name, now_ms() - t0);
        }
    }
    printf("%s: %d passed, %d failed, %d skipped\n", prog, passed, failed, skipped);
    printf("CHECK-RESULT passed=%d failed=%d skipped=%d\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Helpers shared by the tests                                         */

/* The kernel's id of the calling thread (for /proc/self/task/TID). */
static inline int check_gettid(void) { return (int)syscall(SYS_gettid); }

/* True when thread `tid` of this process sleeps inside a system call other
   than futex (waiting for a lock) or a sleep: /proc/self/task/TID/stat says
   'S' and .../syscall names the call. */
static inline int blocked_in_kernel(int tid)
{
    char path[64], text[512];
    FILE *f;
    char *p;
    long nr = -1;
    int state = 0;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(text, sizeof text, f) && (p = strrchr(text, ')')) != NULL)
        state = p[2];
    fclose(f);
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fscanf(f, "%ld", &nr) != 1)
        nr = -1;
    fclose(f);
    return state == 'S' && nr >= 0 && nr != SYS_futex && nr != SYS_nanosleep && nr != SYS_clock_nanosleep;
}

/* Waits (5 s at most, stretched under valgrind) until the thread whose id
   the int at `tidp` will hold (0 until it starts) sleeps in the kernel, or
   `*returned` says its call is over; fails the case if it never blocks. */
static inline void wait_blocked(const int *tidp, const int *returned)
{
    double t0 = now_ms();
    while (now_ms() - t0 < 5000 * slow()) {
        int tid = __atomic_load_n(tidp, __ATOMIC_SEQ_CST);
        if (tid != 0 && blocked_in_kernel(tid))
            return;
        if (__atomic_load_n(returned, __ATOMIC_SEQ_CST))
            break;
        sleep_ms(1);
    }
    check_fail_(__FILE__, __LINE__, "the call never blocked in the kernel (returned: %d)", __atomic_load_n(returned, __ATOMIC_SEQ_CST));
    check_abort_();
}

/* Open descriptors of this process (entries of /proc/self/fd, less the
   one opendir uses). */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* The port of a socket or server. */
static inline uint16_t local_port(usocket_t s)
{
    usocket_address a;
    memset(&a, 0, sizeof a);
    REQUIRE_OK(usocket_local_name(s, &a));
    return a.port;
}

/* A listener on host:0 (backlog 64); returns the handle, writes the port. */
static inline usocket_t listener_on(const char *host, uint16_t *port)
{
    usocket_listen_options lo;
    usocket_t l = 0;
    usocket_listen_options_init(&lo);
    lo.backlog = 64;
    REQUIRE_OK(usocket_listen(host, 0, &lo, &l));
    if (port)
        *port = local_port(l);
    return l;
}

/* A connected TCP pair over loopback: *client and the accepted *server. */
static inline void tcp_pair_on(const char *host, usocket_t *client, usocket_t *server)
{
    uint16_t port;
    usocket_t l = listener_on(host, &port);
    REQUIRE_OK(usocket_connect(host, port, NULL, client));
    REQUIRE_OK(usocket_accept(l, server));
    REQUIRE_OK(usocket_close(l));
}

static inline void tcp_pair(usocket_t *client, usocket_t *server)
{
    tcp_pair_on("127.0.0.1", client, server);
}

/* An unconnected datagram socket bound to 127.0.0.1:0. */
static inline usocket_t udp_socket(uint16_t *port)
{
    usocket_connect_options o;
    usocket_t s = 0;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = "127.0.0.1";
    REQUIRE_OK(usocket_connect(NULL, 0, &o, &s));
    if (port)
        *port = local_port(s);
    return s;
}

/* A port on 127.0.0.1 that nothing listens on (it was just free). */
static inline uint16_t closed_port(void)
{
    uint16_t port;
    usocket_t l = listener_on("127.0.0.1", &port);
    REQUIRE_OK(usocket_close(l));
    return port;
}

/* Writes all of a string. */
static inline void send_str(usocket_t s, const char *text)
{
    size_t n = 0;
    REQUIRE_OK(usocket_write(s, (const uint8_t *)text, strlen(text), &n));
    REQUIRE(n == strlen(text));
}

/* Reads exactly len bytes (fails the case on EOF or error). */
static inline void read_exactly(usocket_t s, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        REQUIRE_OK(usocket_read(s, buf + got, len - got, &n));
        REQUIRE(n > 0);
        got += n;
    }
}

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the new soft limit. */
static inline long raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return -1;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0)
        return -1;
    getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)r.rlim_cur;
}

/* A listener whose queue is full, so that further SYNs to it are dropped
   and a connect to it can only time out. Linux keeps backlog + 1
   connections in the accept queue and drops SYNs beyond that; we connect
   (never accepting) until a connect times out. *fillers gets the handles
   that did connect (at most cap), *nfill their number. Returns the listener. */
static inline usocket_t full_listener(uint16_t *port, usocket_t *fillers, size_t cap, size_t *nfill)
{
    usocket_listen_options lo;
    usocket_connect_options co;
    usocket_t l = 0;
    size_t n = 0;
    usocket_listen_options_init(&lo);
    lo.backlog = 0;
    REQUIRE_OK(usocket_listen("127.0.0.1", 0, &lo, &l));
    *port = local_port(l);
    usocket_connect_options_init(&co);
    co.connect_timeout_ms = 100;
    for (;;) {
        usocket_t c = 0;
        int32_t rc = usocket_connect("127.0.0.1", *port, &co, &c);
        if (rc == USOCKET_ERR_TIMEOUT)
            break;
        REQUIRE_OK(rc);
        REQUIRE(n < cap);
        fillers[n++] = c;
    }
    *nfill = n;
    return l;
}

#endif /* USOCKET_CHECK_H */
