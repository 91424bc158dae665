/* The echo peer of bench_python.py: plain system calls, no library, so that
 * the stdlib's socket and the binding are measured against the same peer.
 *
 *   bench_echo_peer tcp   listen on 127.0.0.1 (a free port), print the port
 *                         and a newline on stdout, accept one connection,
 *                         echo what it sends until it closes, exit.
 *   bench_echo_peer udp   bind 127.0.0.1 (a free port), print the port, echo
 *                         every datagram to its sender until a datagram of
 *                         zero bytes comes (or the process is killed).
 *
 * Built by bench_python.py with `cc -O2`. Exits 1 on any error, with a message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536];

static int fail(const char *what) {
    fprintf(stderr, "bench_echo_peer: %s: %s\n", what, strerror(errno));
    return 1;
}

static int bound(int type, struct sockaddr_in *a) {
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) return -1;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *a;
    if (bind(fd, (struct sockaddr *)a, sizeof *a) < 0) return -1;
    if (getsockname(fd, (struct sockaddr *)a, &len) < 0) return -1;
    return fd;
}

static int tcp(void) {
    struct sockaddr_in a;
    int ls = bound(SOCK_STREAM, &a);
    if (ls < 0 || listen(ls, 1) < 0) return fail("listen");
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    int c;
    do c = accept(ls, NULL, NULL); while (c < 0 && errno == EINTR);
    if (c < 0) return fail("accept");
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == ECONNRESET ? 0 : fail("recv");
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t k = send(c, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR) continue;
                return errno == EPIPE || errno == ECONNRESET ? 0 : fail("send");
            }
            off += k;
        }
    }
}

static int udp(void) {
    struct sockaddr_in a;
    int fd = bound(SOCK_DGRAM, &a);
    if (fd < 0) return fail("bind");
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("recvfrom");
        }
        if (n == 0) return 0;
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen) < 0 && errno != EINTR)
            return fail("sendto");
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "tcp") == 0) return tcp();
    if (argc == 2 && strcmp(argv[1], "udp") == 0) return udp();
    fprintf(stderr, "usage: bench_echo_peer tcp|udp\n");
    return 2;
}
