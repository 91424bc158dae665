/*
 * soak.c: the C soak. N connect/accept/close cycles (default 5,000; run.sh
 * soak: 100,000) over loopback, mixed with refused connects, read and accept
 * timeouts, resets (SO_LINGER 0) and double closes, every outcome checked.
 *
 *   build/hardening/soak [N]
 *
 * After a warm-up (N/10 cycles, at least 500) the descriptor count
 * (/proc/self/fd), the library's open handles and VmRSS are taken as the
 * baseline; after the N cycles the descriptors and handles must be back to
 * it exactly and VmRSS within 1 MiB. Prints the measurements and
 * "N passed, M failed" last.
 */
#include <signal.h>

#include "hcommon.h"

static const char *LO4 = "127.0.0.1";
static usocket_t listener, idle_listener;
static uint16_t port, dead;
static long failures;
static long counts[8];

#define EXPECT(rc, want, what)                                                                               \
    do {                                                                                                     \
        int32_t got_ = (rc);                                                                                 \
        if (got_ != (want)) {                                                                                \
            if (failures++ < 10)                                                                             \
                printf("  cycle %ld: %s: expected %s, got %s (%s)\n", cycle, what, usocket_error_name(want),  \
                       usocket_error_name(got_), usocket_last_error_message());                              \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

static void one_cycle(long cycle)
{
    usocket_t c, s;
    uint8_t b = (uint8_t)cycle, r = 0;
    size_t n;
    /* Of every 20 cycles: 12 clean, 2 refused, 1 read timeout, 2 resets, 2
     * double closes, 1 accept timeout. (A 1 ms SO_RCVTIMEO lasts about 8 ms
     * on this kernel: its timer ticks are 4 ms.) */
    int kind = (int)(cycle % 20);
    switch (kind) {
    case 12:
    case 13: /* refused */
        EXPECT(h_connect(LO4, dead, 0, 2000, &c), USOCKET_ERR_CONNECTION_REFUSED, "refused connect");
        counts[1]++;
        return;
    case 14: /* read timeout (1 ms) */
        EXPECT(h_connect(LO4, port, 1, 2000, &c), USOCKET_OK, "connect");
        EXPECT(usocket_accept(listener, &s), USOCKET_OK, "accept");
        EXPECT(usocket_read(c, &r, 1, &n), USOCKET_ERR_TIMEOUT, "read timeout");
        usocket_close(s);
        usocket_close(c);
        counts[2]++;
        return;
    case 16:
    case 17: /* reset by the peer */
        EXPECT(h_connect(LO4, port, 5000, 2000, &c), USOCKET_OK, "connect");
        EXPECT(usocket_accept(listener, &s), USOCKET_OK, "accept");
        h_linger0(s);
        usocket_close(s);
        EXPECT(usocket_read(c, &r, 1, &n), USOCKET_ERR_CONNECTION_RESET, "read after reset");
        usocket_close(c);
        counts[3]++;
        return;
    case 18:
    case 19: /* double close (and use after close) */
        EXPECT(h_connect(LO4, port, 5000, 2000, &c), USOCKET_OK, "connect");
        EXPECT(usocket_accept(listener, &s), USOCKET_OK, "accept");
        EXPECT(usocket_close(c), USOCKET_OK, "close");
        EXPECT(usocket_close(c), USOCKET_ERR_INVALID_HANDLE, "second close");
        EXPECT(usocket_write(c, &b, 1, &n), USOCKET_ERR_INVALID_HANDLE, "write after close");
        EXPECT(usocket_close(s), USOCKET_OK, "close");
        EXPECT(usocket_close(s), USOCKET_ERR_INVALID_HANDLE, "second close");
        counts[4]++;
        return;
    case 15: /* accept timeout (1 ms) */
        EXPECT(usocket_accept(idle_listener, &s), USOCKET_ERR_TIMEOUT, "accept timeout");
        counts[5]++;
        return;
    default: /* a clean connect/accept/exchange/close */
        EXPECT(h_connect(LO4, port, 5000, 2000, &c), USOCKET_OK, "connect");
        EXPECT(usocket_accept(listener, &s), USOCKET_OK, "accept");
        EXPECT(usocket_write(c, &b, 1, &n), USOCKET_OK, "write");
        EXPECT(usocket_read(s, &r, 1, &n), USOCKET_OK, "read");
        if (r != b && failures++ < 10)
            printf("  cycle %ld: read %u, wrote %u\n", cycle, r, b);
        /* alternate which side closes first */
        if (cycle & 1) {
            usocket_close(c);
            usocket_close(s);
        } else {
            usocket_close(s);
            usocket_close(c);
        }
        counts[0]++;
        return;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000;
    long warm = n / 10 < 500 ? 500 : n / 10;
    signal(SIGPIPE, SIG_DFL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    h_raise_nofile();
    if (h_listen(LO4, 128, &listener, &port) != USOCKET_OK || h_listen(LO4, 1, &idle_listener, NULL) != USOCKET_OK ||
        usocket_set_option(idle_listener, USOCKET_OPT_RECEIVE_TIMEOUT, 1) != USOCKET_OK ||
        (dead = h_dead_port(LO4)) == 0) {
        printf("setup failed: %s\n0 passed, 1 failed\n", usocket_last_error_message());
        return 1;
    }
    for (long i = 0; i < warm; i++)
        one_cycle(i);
    int fds0 = h_fd_count();
    size_t handles0 = usocket_open_handles();
    long rss0 = h_rss_kib(0);
    double t0 = h_now_ms();
    memset(counts, 0, sizeof counts);
    for (long i = 0; i < n; i++)
        one_cycle(warm + i);
    double secs = (h_now_ms() - t0) / 1000;
    int fds1 = h_fd_count();
    size_t handles1 = usocket_open_handles();
    long rss1 = h_rss_kib(0);
    usocket_close(listener);
    usocket_close(idle_listener);

    int passed = 0, failed = 0;
    printf("soak (C): %ld cycles in %.1f s (%.0f/s): %ld clean, %ld refused, %ld read timeouts, %ld resets, "
           "%ld double closes, %ld accept timeouts\n",
           n, secs, n / secs, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
    printf("soak (C): descriptors %d -> %d, handles %zu -> %zu, VmRSS %ld -> %ld KiB (%+ld KiB)\n", fds0, fds1,
           handles0, handles1, rss0, rss1, rss1 - rss0);
#define TALLY(ok, text)                                                                                      \
    do {                                                                                                     \
        if (ok) {                                                                                            \
            passed++;                                                                                        \
            printf("ok   %s\n", text);                                                                       \
        } else {                                                                                             \
            failed++;                                                                                        \
            printf("FAIL %s\n", text);                                                                       \
        }                                                                                                    \
    } while (0)
    TALLY(failures == 0, "every cycle ended as expected");
    TALLY(fds1 == fds0, "descriptors back to the baseline");
    TALLY(handles1 == handles0, "handles back to the baseline");
    TALLY(rss1 - rss0 <= 1024, "VmRSS within 1 MiB of the baseline");
    if (failures)
        printf("(%ld cycles failed)\n", failures);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
