/*
 * A seeded random driver for the C ABI: random sequences of every exported
 * call with valid, stale, closed, zero and random handles, NULL buffers,
 * huge lengths, bad enums, invalid UTF-8 hosts, while a second thread
 * closes handles at random. It must never crash, hang or leak.
 *
 *   driver SEED CALLS
 *
 * Run it inside a private network namespace (fuzz/run.sh does): every host
 * it uses is a loopback literal, but the namespace makes sure of it.
 * Lengths passed with a pointer never exceed the real buffer, except the
 * huge ones (> PTRDIFF_MAX) that the library must refuse: a caller that lies
 * about a buffer's length is outside any C library's protection.
 */
#include "usocket.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL 48
static _Atomic usocket_t pool[POOL];
static uint64_t rng_state;
static _Atomic int done;
static _Atomic unsigned long progress;

static uint64_t next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t rnd(uint64_t n) { return n ? next(&rng_state) % n : 0; }

static const char *hosts[] = {"127.0.0.1", "::1", "[::1]", "localhost", "", "\xff\xfe", "0.0.0.0", "::", NULL};
static const char *pick_host(void) { return hosts[rnd(sizeof hosts / sizeof *hosts)]; }

/* Unix-domain paths: abstract names only (no files are made), plus bad ones. */
static char long_path[300];
static const char *paths[] = {"@usocket-fuzz-a", "@usocket-fuzz-b", "@usocket-fuzz-c", "@", "", "@\xff\xfe", long_path, NULL};
static const char *pick_path(void) { return paths[rnd(sizeof paths / sizeof *paths)]; }

static uint16_t ports[8];
static uint16_t pick_port(void) {
    switch (rnd(4)) {
    case 0: return 0;
    case 1: return (uint16_t)(40000 + rnd(20000));
    default: return ports[rnd(8)];
    }
}

static usocket_t pick_handle(void) {
    switch (rnd(10)) {
    case 0: return 0;
    case 1: return next(&rng_state);
    case 2: return (next(&rng_state) & 0xffffffffULL) | (1ULL << 32); /* plausible index, generation 1 */
    default: return atomic_load(&pool[rnd(POOL)]);
    }
}


/* Every status the library returns is checked: USOCKET_ERR_INTERNAL (a caught
   panic, a bug) is a failure of the run, whatever the input was. */
static _Atomic unsigned long internal_errors;
static int32_t chk_(int32_t rc, const char *call, int line) {
    if (rc == USOCKET_ERR_INTERNAL && atomic_fetch_add(&internal_errors, 1) < 10)
        fprintf(stderr, "fuzz: INTERNAL from line %d: %s: %s\n", line, call, usocket_last_error_message());
    return rc;
}
#define CHK(call) chk_((call), #call, __LINE__)

/* Keeps a new handle, closing the one it replaces so nothing is lost. */
static void keep(usocket_t h) { CHK(usocket_close(atomic_exchange(&pool[rnd(POOL)], h))); }

static size_t pick_len(size_t cap) {
    switch (rnd(8)) {
    case 0: return 0;
    case 1: return SIZE_MAX;
    case 2: return SIZE_MAX / 2 + 1;
    case 3: return cap;
    default: return rnd(cap + 1);
    }
}

static int64_t pick_timeout(void) {
    switch (rnd(6)) {
    case 0: return -1;
    case 1: return 0;
    case 2: return INT64_MAX;
    case 3: return INT64_MIN;
    default: return (int64_t)rnd(20);
    }
}

/* The closer: closes random pool handles, which wakes blocked calls. */
static void *closer(void *arg) {
    uint64_t s = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&done)) {
        CHK(usocket_close(atomic_load(&pool[next(&s) % POOL])));
        usleep(200 + next(&s) % 800);
    }
    return NULL;
}

/* The watchdog: no progress for 20 s is a hang. */
static void *watchdog(void *arg) {
    (void)arg;
    unsigned long last = ~0UL;
    int still = 0;
    while (!atomic_load(&done)) {
        sleep(1);
        unsigned long now = atomic_load(&progress);
        still = (now == last) ? still + 1 : 0;
        last = now;
        if (still >= 20) {
            fprintf(stderr, "fuzz: HANG: no call returned for 20 s (after %lu calls)\n", now);
            abort();
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    unsigned long calls = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
    rng_state = seed;
    memset(long_path, 'p', sizeof long_path - 1); /* longer than sun_path */
    signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
    static uint8_t buf[70000];
    static usocket_t hbuf[64];
    static uint8_t states[64];
    usocket_address addrs[4];
    char text[64];

    /* A few real listeners to connect to. */
    for (int i = 0; i < 8; i++) {
        usocket_t l = 0;
        usocket_listen_options lo;
        usocket_listen_options_init(&lo);
        lo.backlog = 64;
        if (CHK(usocket_listen(i % 2 ? "::1" : "127.0.0.1", 0, &lo, &l)) == USOCKET_OK) {
            CHK(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
            usocket_address a;
            CHK(usocket_local_name(l, &a));
            ports[i] = a.port;
            keep(l);
        }
    }
    pthread_t tc, tw;
    pthread_create(&tc, NULL, closer, (void *)(uintptr_t)(seed * 31 + 7));
    pthread_create(&tw, NULL, watchdog, NULL);

    unsigned long counts[64] = {0};
    for (unsigned long i = 0; i < calls; i++) {
        usocket_t h = pick_handle(), out = 0;
        size_t n = 0, len;
        int64_t v = 0, left = 0;
        bool avail;
        int32_t kind, fd;
        unsigned which = (unsigned)rnd(50);
        counts[which]++;
        switch (which) {
        case 0: { /* connect, stream or datagram, random options */
            usocket_connect_options o;
            usocket_connect_options_init(&o);
            o.protocol = rnd(8) ? (int32_t)rnd(2) : (int32_t)next(&rng_state);
            o.timeout_ms = rnd(2) ? (int64_t)rnd(30) : pick_timeout();
            /* Always bounded: without a bound, a connect to a listener whose
               backlog is full legitimately waits for the OS's SYN retries. */
            o.connect_timeout_ms = 1 + (int64_t)rnd(50);
            o.nodelay = rnd(2);
            o.local_host = rnd(4) ? NULL : pick_host();
            o.local_port = rnd(8) ? 0 : pick_port();
            const char *host = o.protocol == USOCKET_DATAGRAM && rnd(2) ? NULL : pick_host();
            /* NULL options (no connect bound) only where no connect can start. */
            int no_opts = !rnd(10);
            if (no_opts) host = rnd(2) ? NULL : "\xff\xfe";
            if (CHK(usocket_connect(host, pick_port(), no_opts ? NULL : &o, rnd(20) ? &out : NULL)) == USOCKET_OK) {
                if (!rnd(3)) CHK(usocket_set_option(out, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
                keep(out);
            }
            break;
        }
        case 1: {
            usocket_listen_options lo;
            usocket_listen_options_init(&lo);
            lo.backlog = rnd(4) ? (int32_t)rnd(16) : (int32_t)next(&rng_state);
            lo.reuse_address = rnd(2);
            if (CHK(usocket_listen(pick_host(), rnd(3) ? 0 : pick_port(), rnd(5) ? &lo : NULL, rnd(20) ? &out : NULL)) == USOCKET_OK) {
                CHK(usocket_set_option(out, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
                keep(out);
            }
            break;
        }
        case 2:
            if (CHK(usocket_accept(h, rnd(20) ? &out : NULL)) == USOCKET_OK) keep(out);
            break;
        case 3:
            if (CHK(usocket_accept_from(h, &out, rnd(2) ? addrs : NULL)) == USOCKET_OK) keep(out);
            break;
        case 4: CHK(usocket_close(h)); break;
        case 5: CHK(usocket_shutdown(h, (int32_t)rnd(6) - 1)); break;
        case 6: CHK(usocket_kind(h, rnd(10) ? &kind : NULL)); break;
        case 7: CHK(usocket_fd(h, rnd(10) ? &fd : NULL)); break;
        case 8:
            len = pick_len(sizeof buf);
            CHK(usocket_read(h, rnd(10) ? buf : NULL, len, rnd(10) ? &n : NULL));
            break;
        case 9:
            len = pick_len(rnd(2) ? 64 : sizeof buf);
            CHK(usocket_write(h, rnd(10) ? buf : NULL, len, rnd(10) ? &n : NULL));
            break;
        case 10: CHK(usocket_input_available(h, rnd(10) ? &avail : NULL)); break;
        case 11:
            len = pick_len(rnd(2) ? 64 : 65508);
            CHK(usocket_send(h, rnd(10) ? buf : NULL, len, rnd(2) ? NULL : pick_host(), pick_port(), rnd(10) ? &n : NULL));
            break;
        case 12:
            len = pick_len(sizeof buf);
            CHK(usocket_receive(h, rnd(10) ? buf : NULL, len, rnd(10) ? &n : NULL, rnd(2) ? addrs : NULL));
            break;
        case 13: CHK(usocket_local_name(h, rnd(10) ? addrs : NULL)); break;
        case 14: CHK(usocket_peer_name(h, rnd(10) ? addrs : NULL)); break;
        case 15: CHK(usocket_get_option(h, (int32_t)rnd(10) - 1, rnd(10) ? &v : NULL)); break;
        case 16: {
            int64_t value = rnd(3) ? (int64_t)rnd(3) : (int64_t)next(&rng_state);
            int32_t opt = (int32_t)rnd(10) - 1;
            if ((opt == USOCKET_OPT_RECEIVE_TIMEOUT || opt == USOCKET_OPT_SEND_TIMEOUT) && value == 0) value = 5;
            if ((opt == USOCKET_OPT_RECEIVE_BUFFER || opt == USOCKET_OPT_SEND_BUFFER) && value > (1 << 22)) value = 1 << 16;
            CHK(usocket_set_option(h, opt, value));
            break;
        }
        case 17: {
            size_t k = rnd(65);
            for (size_t j = 0; j < k; j++) hbuf[j] = pick_handle();
            CHK(usocket_wait_for_input(rnd(10) ? hbuf : NULL, rnd(20) ? k : SIZE_MAX, rnd(4) ? (int64_t)rnd(5) : pick_timeout() % 20,
                                   rnd(10) ? states : NULL, rnd(10) ? &n : NULL, rnd(2) ? &left : NULL));
            break;
        }
        case 18:
            if (CHK(usocket_wait_list_new(rnd(20) ? &out : NULL)) == USOCKET_OK) keep(out);
            break;
        case 19: CHK(usocket_wait_list_add(pick_handle(), h)); break;
        case 20: CHK(usocket_wait_list_remove(pick_handle(), h)); break;
        case 21: CHK(usocket_wait_list_clear(h)); break;
        case 22: {
            size_t cap = rnd(4) ? rnd(65) : SIZE_MAX;
            if (cap > 64 && cap != SIZE_MAX) cap = 64;
            CHK(usocket_wait_list_wait(h, rnd(4) ? (int64_t)rnd(5) : pick_timeout() % 20, rnd(10) ? hbuf : NULL, cap,
                                   rnd(10) ? &n : NULL, rnd(2) ? &left : NULL));
            break;
        }
        case 23: CHK(usocket_wait_list_free(h)); break;
        case 24: {
            usocket_address a;
            a.family = (uint8_t)(rnd(3) ? (rnd(2) ? 4 : 6) : rnd(256));
            for (int j = 0; j < 16; j++) a.octets[j] = (uint8_t)rnd(256);
            a.port = (uint16_t)rnd(65536);
            CHK(usocket_address_format(rnd(10) ? &a : NULL, rnd(10) ? text : NULL, rnd(3) ? sizeof text : rnd(sizeof text)));
            break;
        }
        case 25: {
            const char *host = pick_host();
            CHK(usocket_resolve(host, rnd(5) ? addrs : NULL, rnd(5), rnd(10) ? &n : NULL));
            break;
        }
        case 26: usocket_error_name((int32_t)(rnd(3) ? rnd(40) - 35 : next(&rng_state))); break;
        case 27: (void)usocket_last_error(); (void)usocket_last_os_error(); (void)strlen(usocket_last_error_message()); break;
        case 28: (void)strlen(usocket_version()); (void)usocket_open_handles(); break;
        case 29: usocket_connect_options_init(NULL); usocket_listen_options_init(NULL); break;
        case 30: { /* a real exchange on a fresh pair */
            usocket_t c = 0, s = 0;
            uint16_t p = ports[rnd(8)];
            usocket_connect_options o;
            usocket_connect_options_init(&o);
            o.connect_timeout_ms = 20;
            if (CHK(usocket_connect(rnd(2) ? "127.0.0.1" : "::1", p, &o, &c)) == USOCKET_OK) {
                CHK(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
                keep(c);
            }
            (void)s;
            break;
        }
        case 34:
            len = pick_len(sizeof buf);
            CHK(usocket_read_for(h, rnd(10) ? buf : NULL, len, pick_timeout() % 20, rnd(10) ? &n : NULL));
            break;
        case 35:
            if (CHK(usocket_accept_for(h, pick_timeout() % 20, rnd(20) ? &out : NULL, rnd(2) ? addrs : NULL)) == USOCKET_OK) keep(out);
            break;
        case 36:
            len = pick_len(sizeof buf);
            CHK(usocket_receive_for(h, rnd(10) ? buf : NULL, len, pick_timeout() % 20, rnd(10) ? &n : NULL, rnd(2) ? addrs : NULL));
            break;
        case 37: { /* the duplicate is ours: close it */
            int32_t dup = -1;
            if (CHK(usocket_dup_fd(h, rnd(10) ? &dup : NULL)) == USOCKET_OK) close(dup);
            break;
        }
        case 38: { /* a server with NULL handlers, TCP or UDP, kept in the pool */
            usocket_server_options so;
            usocket_server_options_init(&so);
            so.protocol = rnd(8) ? (int32_t)rnd(2) : (int32_t)next(&rng_state);
            so.max_buffer_size = rnd(4) ? 1 + rnd(65507) : (size_t)next(&rng_state);
            so.timeout_ms = rnd(4) ? (int64_t)rnd(30) : pick_timeout();
            if (CHK(usocket_server_new(pick_host(), rnd(3) ? 0 : pick_port(), rnd(5) ? &so : NULL, NULL, NULL, NULL,
                                       rnd(20) ? &out : NULL)) == USOCKET_OK) {
                usocket_address a;
                if (usocket_local_name(out, &a) == USOCKET_OK) ports[rnd(8)] = a.port;
                keep(out);
            }
            break;
        }
        case 39:
            if (CHK(usocket_server_next(h, pick_timeout() % 20, rnd(20) ? &out : NULL, rnd(2) ? addrs : NULL)) == USOCKET_OK) keep(out);
            break;
        case 40:
            len = pick_len(rnd(2) ? 64 : sizeof buf);
            CHK(usocket_server_next_datagram(h, pick_timeout() % 20, rnd(10) ? buf : NULL, len, rnd(10) ? &n : NULL, rnd(2) ? addrs : NULL));
            break;
        case 41: {
            usocket_address a;
            a.family = (uint8_t)(rnd(4) ? 4 : rnd(2) ? 6 : rnd(256));
            memset(a.octets, 0, sizeof a.octets);
            a.octets[0] = 127; a.octets[3] = 1;
            if (a.family == 6) { memset(a.octets, 0, 16); a.octets[15] = 1; }
            a.port = pick_port();
            len = pick_len(rnd(2) ? 64 : 65508);
            CHK(usocket_server_reply(h, rnd(10) ? buf : NULL, len, rnd(10) ? &a : NULL));
            break;
        }
        case 42: CHK(usocket_host_by_name(pick_host(), rnd(10) ? addrs : NULL)); break;
        case 43:
            len = pick_len(rnd(2) ? 64 : sizeof buf);
            CHK(usocket_write_some(h, rnd(10) ? buf : NULL, len, pick_timeout() % 20, rnd(10) ? &n : NULL));
            break;
        case 44:
            if (rnd(2)) CHK(usocket_server_stop(h));
            else CHK(usocket_server_wait(h, (int64_t)rnd(3)));
            break;
        case 45: { /* connect bounded by the call's own timeout */
            usocket_connect_options o;
            usocket_connect_options_init(&o);
            o.protocol = rnd(8) ? (int32_t)rnd(2) : (int32_t)next(&rng_state);
            o.timeout_ms = rnd(2) ? (int64_t)rnd(30) : pick_timeout();
            o.connect_timeout_ms = rnd(2) ? 0 : pick_timeout();
            /* never unbounded: a full backlog would wait for the OS's SYN retries */
            int64_t t = (int64_t)rnd(50);
            if (CHK(usocket_connect_for(pick_host(), pick_port(), rnd(10) ? &o : NULL, t, rnd(20) ? &out : NULL)) == USOCKET_OK) {
                if (!rnd(3)) CHK(usocket_set_option(out, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
                keep(out);
            }
            break;
        }
        case 46: { /* Unix-domain sockets: listen, connect (stream or datagram), server */
            usocket_connect_options o;
            usocket_connect_options_init(&o);
            o.protocol = rnd(8) ? (int32_t)rnd(2) : (int32_t)next(&rng_state);
            o.timeout_ms = rnd(2) ? (int64_t)rnd(30) : pick_timeout();
            o.local_host = rnd(3) ? NULL : pick_path();
            int32_t rc;
            switch (rnd(3)) {
            case 0: rc = CHK(usocket_listen_local(pick_path(), NULL, rnd(20) ? &out : NULL)); break;
            case 1: rc = CHK(usocket_connect_local(pick_path(), rnd(5) ? &o : NULL, rnd(20) ? &out : NULL)); break;
            default: rc = CHK(usocket_server_new_local(pick_path(), NULL, NULL, NULL, rnd(20) ? &out : NULL)); break;
            }
            if (rc == USOCKET_OK) {
                if (!rnd(3)) CHK(usocket_set_option(out, USOCKET_OPT_RECEIVE_TIMEOUT, 5));
                keep(out);
            }
            break;
        }
        case 47: {
            size_t cap = rnd(4) ? sizeof text : rnd(sizeof text);
            if (rnd(2)) CHK(usocket_local_path(h, rnd(10) ? text : NULL, cap, rnd(10) ? &n : NULL));
            else CHK(usocket_peer_path(h, rnd(10) ? text : NULL, cap, rnd(10) ? &n : NULL));
            break;
        }
        case 48: {
            int32_t pid;
            uint32_t uid, gid;
            CHK(usocket_peer_credentials(h, rnd(10) ? &pid : NULL, rnd(10) ? &uid : NULL, rnd(10) ? &gid : NULL));
            break;
        }
        case 49: {
            size_t from_len = 0;
            if (rnd(2)) {
                len = pick_len(rnd(2) ? 64 : 65508);
                CHK(usocket_send_local(h, rnd(10) ? buf : NULL, len, rnd(2) ? NULL : pick_path(), rnd(10) ? &n : NULL));
            } else {
                len = pick_len(sizeof buf);
                CHK(usocket_receive_local(h, rnd(10) ? buf : NULL, len, pick_timeout() % 20, rnd(10) ? &n : NULL,
                                          rnd(2) ? text : NULL, rnd(4) ? sizeof text : rnd(sizeof text), rnd(10) ? &from_len : NULL));
            }
            break;
        }
        default: { /* write then read on a pool handle */
            CHK(usocket_write(h, buf, rnd(128), &n));
            CHK(usocket_read(h, buf, rnd(128) + 1, &n));
            break;
        }
        }
        atomic_fetch_add(&progress, 1);
    }
    atomic_store(&done, 1);
    pthread_join(tc, NULL);
    pthread_join(tw, NULL);
    for (int i = 0; i < POOL; i++) CHK(usocket_close(atomic_load(&pool[i])));
    size_t left_open = usocket_open_handles();
    unsigned long internal = atomic_load(&internal_errors);
    printf("fuzz: seed %llu, %lu calls, no crash, no hang, %zu handles left open, %lu internal errors\n",
           (unsigned long long)seed, calls, left_open, internal);
    if (internal > 0)
        return 4;
    return left_open == 0 ? 0 : 3;
}
