/* local_echo_client: a Unix-domain client. Connects to PATH, sends a
 * message, says it has nothing more to send (shutdown of its output, so the
 * server sees end of file), reads the echo until the server closes, and
 * checks it.
 *
 *   local_echo_client PATH [MESSAGE]
 *
 * PATH is a file-system path or, with a leading '@', an abstract name.
 * Exits 0 when the echo matches, 1 on any error, printed with the library's
 * condition name: connection-refused-error (a socket file nobody accepts
 * on), unknown-error with errno 2 (ENOENT: no such file), ...
 *
 * Build: cc -std=c99 local_echo_client.c -lusocket -o local_echo_client
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usocket.h"

static int fail(const char *what, int32_t rc)
{
    fprintf(stderr, "local_echo_client: %s: %s (%s; errno %d)\n", what, usocket_error_name(rc),
            usocket_last_error_message(), (int)usocket_last_os_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NULL;
    const char *message = argc > 2 ? argv[2] : "hello over a Unix-domain socket";
    usocket_connect_options opts;
    usocket_t s;
    char *echo;
    size_t len, got = 0, written = 0;
    int32_t rc;
    int differs;

    if (path == NULL) {
        fprintf(stderr, "usage: local_echo_client PATH [MESSAGE]\n");
        return 2;
    }
    len = strlen(message);

    usocket_connect_options_init(&opts); /* USOCKET_STREAM */
    opts.connect_timeout_ms = 5000;      /* a listener whose queue stays full */
    opts.timeout_ms = 5000;              /* reads give up after 5 s without data */
    rc = usocket_connect_local(path, &opts, &s);
    if (rc != USOCKET_OK)
        return fail("connect", rc);

    rc = usocket_write(s, (const uint8_t *)message, len, &written);
    if (rc != USOCKET_OK)
        return fail("write", rc);
    rc = usocket_shutdown(s, USOCKET_SHUT_OUTPUT); /* end of file for the server */
    if (rc != USOCKET_OK)
        return fail("shutdown", rc);
    printf("sent:     %s\n", message);

    echo = malloc(len + 1);
    if (echo == NULL)
        return 1;
    for (;;) {
        size_t n = 0;
        if (got == len) { /* the whole echo is here: expect end of file */
            char extra;
            rc = usocket_read(s, (uint8_t *)&extra, 1, &n);
            if (rc != USOCKET_OK)
                return fail("read", rc);
            if (n != 0) {
                fprintf(stderr, "local_echo_client: more came back than was sent\n");
                return 1;
            }
            break;
        }
        rc = usocket_read(s, (uint8_t *)echo + got, len - got, &n);
        if (rc != USOCKET_OK)
            return fail("read", rc);
        if (n == 0) {
            fprintf(stderr, "local_echo_client: the server closed after %zu of %zu bytes\n", got, len);
            return 1;
        }
        got += n;
    }
    echo[len] = '\0';
    printf("received: %s\n", echo);
    usocket_close(s);
    differs = memcmp(echo, message, len) != 0;
    free(echo);
    if (differs) {
        fprintf(stderr, "local_echo_client: the echo differs\n");
        return 1;
    }
    return 0;
}
