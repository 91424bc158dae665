/*
 * hcommon.h: helpers shared by the C programs of tests/hardening/ (fault
 * runner, soak, SIGPIPE host, hostile peers and their C server).
 *
 * Everything here is loopback only and bounded: every wait has a deadline.
 */
#ifndef USOCKET_HARDENING_COMMON_H
#define USOCKET_HARDENING_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "usocket.h"

/* Monotonic clock in milliseconds (fractional). */
static inline double h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Open descriptors of this process (entries of /proc/self/fd, less the
 * one opendir itself uses). */
static inline int h_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* A "Key:   N kB" line of /proc/<pid>/status, in KiB; -1 if missing. */
static inline long h_status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static inline long h_rss_kib(pid_t pid) { return h_status_kib(pid, "VmRSS"); }

/* Raises the soft descriptor limit to the hard one (20,000 here). */
static inline long h_raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return -1;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
    return (long)r.rlim_cur;
}

/* Makes the next close of `s` send a RST (SO_LINGER with a zero timeout),
 * through the descriptor the library lends. */
static inline int h_linger0(usocket_t s)
{
    int32_t fd = -1;
    if (usocket_fd(s, &fd) != USOCKET_OK)
        return -1;
    struct linger l = {1, 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* A listener on host (port 0: a free one); its port in *port. */
static inline int32_t h_listen(const char *host, int32_t backlog, usocket_t *out, uint16_t *port)
{
    usocket_listen_options o;
    usocket_listen_options_init(&o);
    o.backlog = backlog;
    o.reuse_address = true;
    int32_t rc = usocket_listen(host, 0, &o, out);
    if (rc != USOCKET_OK)
        return rc;
    usocket_address a;
    rc = usocket_local_name(*out, &a);
    if (rc == USOCKET_OK && port)
        *port = a.port;
    return rc;
}

/* Connects to host:port with optional receive and connect timeouts (ms). */
static inline int32_t h_connect(const char *host, uint16_t port, int64_t timeout_ms, int64_t connect_timeout_ms,
                                usocket_t *out)
{
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = connect_timeout_ms;
    return usocket_connect(host, port, &o, out);
}

/* A connected pair over a fresh listener: *c the client, *s the accepted
 * side, *l the listener (left open for the caller to close). */
static inline int32_t h_pair(const char *host, usocket_t *c, usocket_t *s, usocket_t *l)
{
    uint16_t port = 0;
    int32_t rc = h_listen(host, 16, l, &port);
    if (rc != USOCKET_OK)
        return rc;
    rc = h_connect(host, port, 0, 5000, c);
    if (rc != USOCKET_OK) {
        usocket_close(*l);
        return rc;
    }
    rc = usocket_accept(*l, s);
    if (rc != USOCKET_OK) {
        usocket_close(*c);
        usocket_close(*l);
    }
    return rc;
}

/* A port on which nothing listens now (bound, then released), below the
 * ephemeral range (32768-60999 here), so that no connect of ours can pick it
 * as its local port and connect to itself (TCP simultaneous open). */
static inline uint16_t h_dead_port(const char *host)
{
    static unsigned next = 0;
    if (next == 0)
        next = 20000 + (unsigned)(getpid() % 1200) * 10;
    for (int tries = 0; tries < 2000; tries++) {
        uint16_t port = (uint16_t)(20000 + (next++ - 20000) % 12000);
        usocket_listen_options o;
        usocket_listen_options_init(&o);
        usocket_t l;
        if (usocket_listen(host, port, &o, &l) == USOCKET_OK) {
            usocket_close(l);
            return port;
        }
    }
    return 0;
}

/* Waits until `s` has input (data, EOF or an error such as a RST), at most
 * timeout_ms. Returns 1 when ready. */
static inline int h_wait_input(usocket_t s, int64_t timeout_ms)
{
    uint8_t state = 0;
    size_t n = 0;
    int64_t left = 0;
    if (usocket_wait_for_input(&s, 1, timeout_ms, &state, &n, &left) != USOCKET_OK)
        return 0;
    return n == 1;
}

/* The kernel thread id of the caller. */
static inline pid_t h_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* The system call a thread is blocked in (from /proc/self/task/TID/syscall),
 * or -1 when it is running or unknown. */
static inline long h_thread_syscall(pid_t tid)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long nr = -1;
    if (fgets(text, sizeof text, f) && strncmp(text, "running", 7) != 0)
        nr = strtol(text, NULL, 10);
    fclose(f);
    return nr;
}

/* Waits (polling /proc, at most timeout_ms) until thread `tid` is blocked in
 * one of the system calls in `nrs` (terminated by -1). Returns 1 if it is. */
static inline int h_wait_blocked(pid_t tid, const long *nrs, double timeout_ms)
{
    double end = h_now_ms() + timeout_ms;
    struct timespec pause = {0, 500000};
    while (h_now_ms() < end) {
        long nr = h_thread_syscall(tid);
        for (const long *p = nrs; *p >= 0; p++)
            if (nr == *p)
                return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

#endif
