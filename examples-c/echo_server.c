/* echo_server: the simplest TCP server on libusocket. One client at a time:
 * accept, send back every byte the client sends until it closes, close,
 * next client.
 *
 *   echo_server [PORT [MAX_CLIENTS]]
 *
 * Listens on 127.0.0.1:PORT (PORT 0 or none: any free port) and prints
 * "listening on 127.0.0.1:PORT". Serves until killed, or exits after
 * MAX_CLIENTS clients. Try it with echo_client, nc or socat.
 *
 * Build: cc -std=c99 -D_GNU_SOURCE echo_server.c -lusocket -o echo_server
 */
#include <stdio.h>
#include <stdlib.h>

#include "usocket.h"

/* Prints a failed call with the library's own words for it. */
static void report(const char *what, int32_t rc)
{
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, usocket_error_name(rc), usocket_last_error_message());
}

/* Echoes until end of file; returns the number of bytes echoed. */
static size_t serve_client(usocket_t client)
{
    uint8_t buf[16384];
    size_t total = 0;
    for (;;) {
        size_t n = 0, written = 0;
        int32_t rc = usocket_read(client, buf, sizeof buf, &n);
        if (rc != USOCKET_OK) { /* e.g. connection-reset-error */
            report("read", rc);
            break;
        }
        if (n == 0) /* the client closed its side: end of file */
            break;
        /* usocket_write writes all n bytes or fails */
        rc = usocket_write(client, buf, n, &written);
        if (rc != USOCKET_OK) { /* e.g. shutdown-error: the client went away */
            report("write", rc);
            break;
        }
        total += n;
    }
    return total;
}

int main(int argc, char **argv)
{
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
    long max_clients = argc > 2 ? atol(argv[2]) : -1;
    usocket_listen_options opts;
    usocket_address where;
    usocket_t listener;
    long served;
    int32_t rc;

    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, even into a pipe */

    usocket_listen_options_init(&opts); /* always start from the defaults */
    opts.reuse_address = true;          /* restart at once on the same port */
    rc = usocket_listen("127.0.0.1", port, &opts, &listener);
    if (rc != USOCKET_OK) { /* e.g. address-in-use-error */
        report("listen", rc);
        return 1;
    }
    usocket_local_name(listener, &where); /* the port, if we asked for 0 */
    printf("listening on 127.0.0.1:%u\n", where.port);

    for (served = 0; max_clients < 0 || served < max_clients; served++) {
        usocket_t client;
        usocket_address peer;
        char host[USOCKET_ADDRESS_STRLEN];
        size_t bytes;

        rc = usocket_accept_from(listener, &client, &peer); /* blocks */
        if (rc != USOCKET_OK) {
            report("accept", rc);
            break;
        }
        usocket_address_format(&peer, host, sizeof host);
        printf("client %s:%u connected\n", host, peer.port);
        bytes = serve_client(client);
        usocket_close(client);
        printf("client %s:%u done: %zu bytes echoed\n", host, peer.port, bytes);
    }
    usocket_close(listener);
    printf("served %ld clients\n", served);
    return 0;
}
