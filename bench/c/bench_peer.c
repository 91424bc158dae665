/* bench_peer: the raw-C peers of the Lisp bench off SBCL (ECL, CLISP, ABCL).
 *
 * bindings/lisp/bench/bench-lisp.lisp starts one as a child process for each
 * measurement, the same peer whichever implementation is measured (the
 * binding or native usocket), so only the measured client differs; CLISP has
 * no threads, so a peer cannot live in the measured image. (On SBCL the script
 * forks raw-syscall peers of its own, as it always did.) The code is that of
 * the forked peers of common.h, run in this process instead of a fork.
 *
 *   bench_peer tcp-echo          listen on 127.0.0.1:0, print the port, accept
 *                                one connection, echo until EOF
 *   bench_peer bulk BYTES        listen, print the port, accept one connection,
 *                                send BYTES in 1 MiB writes, shut down, wait for EOF
 *   bench_peer udp-echo          bind a UDP socket, print the port, echo datagrams
 *                                (exits after 60 s without one)
 *   bench_peer udp-send PORT     send one 1-byte datagram to 127.0.0.1:PORT, exit
 *   bench_peer connect PORT N    open N TCP connections to 127.0.0.1:PORT, print
 *                                N when connected, hold them until every one was closed by
 *                                the other side (or 120 s), exit
 *
 *   bench_peer accept N          listen, print the port, accept N connections, send
 *                                one byte on the last one, hold them as connect does
 *
 * Every peer dies with the Lisp that started it (see watch_stdout) and prints one line on
 * stdout when ready (a number), flushed; a failure prints common.h's JSON
 * failure line there instead and exits 2. */
#include "common.h"
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>

static void announce(const char *fmt, long v) {
    printf(fmt, v);
    printf("\n");
    fflush(stdout);
}

static void echo_tcp(void) {
    uint16_t port;
    int lfd = raw_listener(16, &port);
    announce("%ld", port);
    int c = accept_one(lfd);
    if (c < 0) fail("accept: %s", strerror(errno));
    echo_until_closed(c);
    exit(0);
}

static void bulk(long long total) {
    uint16_t port;
    int lfd = raw_listener(16, &port);
    announce("%ld", port);
    int c = accept_one(lfd);
    if (c < 0) fail("accept: %s", strerror(errno));
    exit(send_bulk(c, total) == 0 ? 0 : 1);
}

static void echo_udp(void) {
    uint16_t port;
    int ufd = raw_udp_bound(&port);
    announce("%ld", port);
    static char buf[65536];
    for (;;) {
        struct pollfd p = {ufd, POLLIN, 0};
        int k = poll(&p, 1, 60000);
        if (k == 0) exit(0);
        if (k < 0) { if (errno == EINTR) continue; exit(1); }
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(ufd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (r < 0) { if (errno == EINTR) continue; exit(1); }
        sendto(ufd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
    }
}

static void udp_send(long port) {
    int fd = raw_udp_bound(NULL);
    struct sockaddr_in a = loopback((uint16_t)port);
    char b = 'x';
    if (sendto(fd, &b, 1, 0, (struct sockaddr *)&a, sizeof a) != 1) fail("sendto: %s", strerror(errno));
    announce("%ld", 1);
    exit(0);
}

/* Hold n connections until the other side closed every one (or 120 s). */
static void hold(struct pollfd *p, long n) {
    long open = n;
    double end = now_s() + 120;
    char buf[256];
    while (open > 0 && now_s() < end) {
        int k = poll(p, (nfds_t)n, 1000);
        if (k < 0) { if (errno == EINTR) continue; exit(1); }
        for (long i = 0; i < n && k > 0; i++) {
            if (p[i].fd < 0 || !p[i].revents) continue;
            k--;
            ssize_t r = recv(p[i].fd, buf, sizeof buf, 0);
            if (r <= 0) { close(p[i].fd); p[i].fd = -1; open--; }
        }
    }
    exit(0);
}

static void connect_many(long port, long n) {
    raise_nofile();
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    if (!p) fail("out of memory");
    for (long i = 0; i < n; i++) {
        p[i].fd = raw_connect((uint16_t)port, 0);
        p[i].events = POLLIN;
    }
    announce("%ld", n);
    hold(p, n);
}

static void accept_many(long n) {
    raise_nofile();
    uint16_t port;
    int lfd = raw_listener(4096, &port);
    announce("%ld", port);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    if (!p) fail("out of memory");
    for (long i = 0; i < n; i++) {
        int c;
        do c = accept(lfd, NULL, NULL); while (c < 0 && errno == EINTR);
        if (c < 0) fail("accept: %s", strerror(errno));
        p[i].fd = c;
        p[i].events = POLLIN;
    }
    close(lfd);
    if (write_all(p[n - 1].fd, "x", 1) != 0) fail("send: %s", strerror(errno));
    hold(p, n);
}

/* The peer ends when the Lisp that started it is gone: a thread waits for the
 * reader of stdout (a pipe to the Lisp, which keeps it open) to go away; poll
 * reports POLLERR on a pipe without readers, whether the Lisp exited or was
 * killed. (Not PR_SET_PDEATHSIG: CLISP's run-program starts programs through
 * a double fork, so the parent is not the Lisp.) */
static void *watch_stdout(void *arg) {
    (void)arg;
    for (;;) {
        struct pollfd p = {STDOUT_FILENO, 0, 0};
        int k = poll(&p, 1, -1);
        if (k > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) _exit(0);
        if (k < 0 && errno != EINTR) _exit(0);
    }
    return NULL;
}

int main(int argc, char **argv) {
    g_measure = "peer";
    g_impl = "c";
    /* No PR_SET_PDEATHSIG: under CLISP the parent is the intermediate
     * process of a double fork, whose exit would kill the peer at start. */
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
        pthread_t t;
        if (pthread_create(&t, NULL, watch_stdout, NULL) != 0) fail("pthread_create failed");
    }
    if (argc < 2) fail("usage: bench_peer tcp-echo | bulk BYTES | udp-echo | udp-send PORT | connect PORT N | accept N");
    const char *m = argv[1];
    if (!strcmp(m, "tcp-echo")) echo_tcp();
    else if (!strcmp(m, "bulk") && argc > 2) bulk(atoll(argv[2]));
    else if (!strcmp(m, "udp-echo")) echo_udp();
    else if (!strcmp(m, "udp-send") && argc > 2) udp_send(atol(argv[2]));
    else if (!strcmp(m, "connect") && argc > 3) connect_many(atol(argv[2]), atol(argv[3]));
    else if (!strcmp(m, "accept") && argc > 2 && atol(argv[2]) > 0) accept_many(atol(argv[2]));
    else fail("unknown peer %s", m);
    return 0;
}
