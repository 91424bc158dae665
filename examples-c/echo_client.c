/* echo_client: a TCP client on libusocket. Connects, sends a message,
 * reads the echo back, and checks it.
 *
 *   echo_client [--host HOST] [--pause MS] PORT [MESSAGE]
 *
 * HOST defaults to 127.0.0.1 (any literal or name), MESSAGE to
 * "hello, usocket". --pause waits MS milliseconds between connecting and
 * sending (to watch a server serve other clients meanwhile). Exits 0 when
 * the echo matches, 1 on any error (printed with the library's condition
 * name, e.g. "connection-refused-error").
 *
 * Build: cc -std=c99 -D_GNU_SOURCE echo_client.c -lusocket -o echo_client
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usocket.h"

static int fail(const char *what, int32_t rc)
{
    fprintf(stderr, "echo_client: %s: %s (%s)\n", what, usocket_error_name(rc), usocket_last_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *message = "hello, usocket";
    long port = -1, pause_ms = 0;
    usocket_connect_options opts;
    usocket_t s;
    char *echo;
    size_t len, got = 0, written = 0;
    int32_t rc;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (strcmp(argv[i], "--pause") == 0 && i + 1 < argc)
            pause_ms = atol(argv[++i]);
        else if (port < 0)
            port = atol(argv[i]);
        else
            message = argv[i];
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_client [--host HOST] [--pause MS] PORT [MESSAGE]\n");
        return 2;
    }
    len = strlen(message);

    usocket_connect_options_init(&opts); /* stream, TCP_NODELAY on, no timeouts */
    opts.connect_timeout_ms = 5000;      /* give up connecting after 5 s */
    opts.timeout_ms = 5000;              /* and reading after 5 s without data */
    rc = usocket_connect(host, (uint16_t)port, &opts, &s);
    if (rc != USOCKET_OK)
        return fail("connect", rc);

    if (pause_ms > 0) {
        /* usocket_wait_for_input doubles as a sleep when given no sockets */
        size_t none;
        usocket_wait_for_input(NULL, 0, pause_ms, NULL, &none, NULL);
    }

    rc = usocket_write(s, (const uint8_t *)message, len, &written);
    if (rc != USOCKET_OK)
        return fail("write", rc);
    printf("sent:     %s\n", message);

    /* A stream has no message boundaries: read until all len bytes are back. */
    echo = malloc(len + 1);
    while (got < len) {
        size_t n = 0;
        rc = usocket_read(s, (uint8_t *)echo + got, len - got, &n);
        if (rc != USOCKET_OK)
            return fail("read", rc); /* e.g. timeout-error after 5 s */
        if (n == 0) {
            fprintf(stderr, "echo_client: the server closed after %zu of %zu bytes\n", got, len);
            return 1;
        }
        got += n;
    }
    echo[len] = '\0';
    printf("received: %s\n", echo);
    usocket_close(s);

    i = memcmp(echo, message, len) != 0;
    free(echo);
    if (i) {
        fprintf(stderr, "echo_client: the echo differs\n");
        return 1;
    }
    return 0;
}
