/* local_echo_server: an echo server on a Unix-domain socket. One client at
 * a time: accept, send back every byte until the client closes, tell who
 * the client was (its process id and user id, which the kernel vouches
 * for), next client.
 *
 *   local_echo_server PATH [MAX_CLIENTS]
 *
 * PATH is a file-system path ("/tmp/echo.sock") or, with a leading '@', a
 * name in Linux's abstract namespace ("@echo": no file at all). Prints
 * "listening on PATH". A stale socket file left by a crashed server is
 * replaced; a live server on PATH, or a file that is not a socket, is
 * address-in-use-error. Serves until killed, or exits after MAX_CLIENTS
 * clients; closing the listener removes its socket file. Try it with
 * local_echo_client, or socat - UNIX-CONNECT:PATH (ABSTRACT-CONNECT:name).
 *
 * Build: cc -std=c99 local_echo_server.c -lusocket -o local_echo_server
 */
#include <stdio.h>
#include <stdlib.h>

#include "usocket.h"

static void report(const char *what, int32_t rc)
{
    fprintf(stderr, "local_echo_server: %s: %s (%s)\n", what, usocket_error_name(rc), usocket_last_error_message());
}

/* Echoes until end of file; returns the number of bytes echoed. */
static size_t serve_client(usocket_t client)
{
    uint8_t buf[16384];
    size_t total = 0;
    for (;;) {
        size_t n = 0, written = 0;
        int32_t rc = usocket_read(client, buf, sizeof buf, &n);
        if (rc != USOCKET_OK) {
            report("read", rc);
            break;
        }
        if (n == 0) /* the client closed its side */
            break;
        rc = usocket_write(client, buf, n, &written); /* all n bytes, or an error */
        if (rc != USOCKET_OK) {
            report("write", rc);
            break;
        }
        total += n;
    }
    return total;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NULL;
    long max_clients = argc > 2 ? atol(argv[2]) : -1;
    usocket_listen_options opts;
    usocket_t listener;
    char where[128]; /* USOCKET_LOCAL_PATH_MAX + 2 always suffices */
    size_t where_len = 0;
    long served;
    int32_t rc;

    if (path == NULL) {
        fprintf(stderr, "usage: local_echo_server PATH [MAX_CLIENTS]   (PATH: /some/file or @abstract-name)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    usocket_listen_options_init(&opts);
    opts.reuse_address = 1; /* replace a stale socket file, never a live one */
    rc = usocket_listen_local(path, &opts, &listener);
    if (rc != USOCKET_OK) { /* address-in-use-error, or unknown-error (ENOENT: no such directory) */
        report("listen", rc);
        return 1;
    }
    rc = usocket_local_path(listener, where, sizeof where, &where_len);
    if (rc != USOCKET_OK) {
        report("local_path", rc);
        return 1;
    }
    printf("listening on %s\n", where);

    for (served = 0; max_clients < 0 || served < max_clients; served++) {
        usocket_t client;
        int32_t pid = 0;
        uint32_t uid = 0, gid = 0;
        size_t bytes;

        rc = usocket_accept(listener, &client); /* blocks */
        if (rc != USOCKET_OK) {
            report("accept", rc);
            break;
        }
        rc = usocket_peer_credentials(client, &pid, &uid, &gid); /* SO_PEERCRED */
        if (rc != USOCKET_OK)
            report("peer_credentials", rc);
        printf("client pid %d uid %u connected\n", (int)pid, (unsigned)uid);
        bytes = serve_client(client);
        usocket_close(client);
        printf("client pid %d done: %zu bytes echoed\n", (int)pid, bytes);
    }
    usocket_close(listener); /* removes the socket file */
    printf("served %ld clients\n", served);
    return 0;
}
