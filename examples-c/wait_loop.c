/* wait_loop: one thread serving many TCP clients at once with a
 * usocket wait list (usocket's make-wait-list / wait-for-input).
 *
 *   wait_loop [PORT [MAX_CLIENTS]]
 *
 * Listens on 127.0.0.1:PORT (0 or none: any free port), prints
 * "listening on 127.0.0.1:PORT", and echoes whatever each client sends.
 * The listener and every client sit in one wait list; each wait returns
 * only the sockets that are ready (its cost does not grow with the number
 * of idle clients), so a slow client never holds up the others. After
 * MAX_CLIENTS clients have come and gone (default: never) it prints a
 * summary and exits.
 *
 * Build: cc -std=c99 -D_GNU_SOURCE wait_loop.c -lusocket -o wait_loop
 */
#include <stdio.h>
#include <stdlib.h>

#include "usocket.h"

#define READY_MAX 64 /* ready sockets handled per wait */

static void report(const char *what, int32_t rc)
{
    fprintf(stderr, "wait_loop: %s: %s (%s)\n", what, usocket_error_name(rc), usocket_last_error_message());
}

int main(int argc, char **argv)
{
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
    long max_clients = argc > 2 ? atol(argv[2]) : -1;
    long accepted = 0, finished = 0, open = 0, most_open = 0;
    unsigned long long bytes = 0;
    usocket_listen_options lopts;
    usocket_address where;
    usocket_t listener, list;
    int32_t rc;

    setvbuf(stdout, NULL, _IOLBF, 0);

    usocket_listen_options_init(&lopts);
    lopts.backlog = 128; /* room for a burst of clients */
    rc = usocket_listen("127.0.0.1", port, &lopts, &listener);
    if (rc != USOCKET_OK) {
        report("listen", rc);
        return 1;
    }
    usocket_local_name(listener, &where);
    printf("listening on 127.0.0.1:%u\n", where.port);

    /* The wait list keeps its sockets between waits. A listener is ready
       when a client waits to be accepted; a client when a read would not
       block: data, or end of file. */
    usocket_wait_list_new(&list);
    usocket_wait_list_add(list, listener);

    while (max_clients < 0 || finished < max_clients) {
        usocket_t ready[READY_MAX];
        size_t nready = 0, i;

        rc = usocket_wait_list_wait(list, -1, ready, READY_MAX, &nready, NULL); /* -1: no timeout */
        if (rc != USOCKET_OK) {
            report("wait", rc);
            break;
        }
        for (i = 0; i < nready; i++) {
            usocket_t s = ready[i];
            if (s == listener) {
                /* a new client: accept it and watch it too */
                usocket_t client;
                rc = usocket_accept(listener, &client);
                if (rc != USOCKET_OK) {
                    report("accept", rc);
                    continue;
                }
                usocket_wait_list_add(list, client);
                accepted++;
                open++;
                if (open > most_open)
                    most_open = open;
                printf("client %llu connected (%ld open)\n", (unsigned long long)client, open);
            } else {
                /* a client with data (or end of file): one read does not block */
                uint8_t buf[16384];
                size_t n = 0, written;
                rc = usocket_read(s, buf, sizeof buf, &n);
                if (rc == USOCKET_OK && n > 0) {
                    /* For brevity the echo is written at once; a server for
                       clients that might not read would keep a queue per client. */
                    rc = usocket_write(s, buf, n, &written);
                    if (rc == USOCKET_OK) {
                        bytes += n;
                        continue;
                    }
                }
                if (rc != USOCKET_OK)
                    report("client", rc); /* e.g. connection-reset-error */
                /* end of file or an error: closing also takes it out of the list */
                usocket_close(s);
                open--;
                finished++;
                printf("client %llu closed (%ld open)\n", (unsigned long long)s, open);
            }
        }
    }
    usocket_wait_list_free(list);
    usocket_close(listener);
    printf("served %ld clients (%ld accepted), %llu bytes, at most %ld at once\n", finished, accepted, bytes,
           most_open);
    return 0;
}
