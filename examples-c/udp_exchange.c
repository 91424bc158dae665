/* udp_exchange: datagrams with libusocket, both ends in one program.
 *
 *   udp_exchange [PORT [COUNT]]
 *
 * A "server" socket bound to 127.0.0.1:PORT (0 or none: any free port) and
 * a client socket connected to it. The client sends COUNT (default 3)
 * pings; the server receives each with its sender's address and answers
 * that address; the client reads the answers. Last, the client waits for a
 * datagram that never comes, to show a receive timeout. Exits 0 when every
 * answer came back right.
 *
 * Build: cc -std=c99 -D_GNU_SOURCE udp_exchange.c -lusocket -o udp_exchange
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usocket.h"

static int fail(const char *what, int32_t rc)
{
    fprintf(stderr, "udp_exchange: %s: %s (%s)\n", what, usocket_error_name(rc), usocket_last_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 0;
    int count = argc > 2 ? atoi(argv[2]) : 3, i;
    usocket_connect_options opts;
    usocket_t server, client;
    usocket_address where;
    int32_t rc;

    setvbuf(stdout, NULL, _IOLBF, 0);

    /* An unconnected datagram socket: host NULL, bound to local_host:local_port.
       It can receive from anyone and answer with usocket_send to an address. */
    usocket_connect_options_init(&opts);
    opts.protocol = USOCKET_DATAGRAM;
    opts.local_host = "127.0.0.1";
    opts.local_port = port;
    rc = usocket_connect(NULL, 0, &opts, &server);
    if (rc != USOCKET_OK)
        return fail("server socket", rc);
    usocket_local_name(server, &where);
    printf("server: bound to 127.0.0.1:%u\n", where.port);

    /* A connected datagram socket: usocket_send with host NULL goes to the
       peer, and only the peer's datagrams arrive. timeout_ms bounds receives. */
    usocket_connect_options_init(&opts);
    opts.protocol = USOCKET_DATAGRAM;
    opts.timeout_ms = 200;
    rc = usocket_connect("127.0.0.1", where.port, &opts, &client);
    if (rc != USOCKET_OK)
        return fail("client socket", rc);

    for (i = 1; i <= count; i++) {
        char ping[32], pong[32], host[USOCKET_ADDRESS_STRLEN];
        uint8_t buf[USOCKET_MAX_DATAGRAM_PACKET_SIZE];
        usocket_address from;
        size_t n;

        snprintf(ping, sizeof ping, "ping %d", i);
        rc = usocket_send(client, (const uint8_t *)ping, strlen(ping), NULL, 0, &n);
        if (rc != USOCKET_OK)
            return fail("client send", rc);
        printf("client: sent \"%s\"\n", ping);

        /* one datagram, with who sent it */
        rc = usocket_receive(server, buf, sizeof buf, &n, &from);
        if (rc != USOCKET_OK)
            return fail("server receive", rc);
        usocket_address_format(&from, host, sizeof host);
        printf("server: received \"%.*s\" from %s:%u\n", (int)n, (const char *)buf, host, from.port);

        /* answer the sender */
        snprintf(pong, sizeof pong, "pong %d", i);
        rc = usocket_send(server, (const uint8_t *)pong, strlen(pong), host, from.port, &n);
        if (rc != USOCKET_OK)
            return fail("server send", rc);

        rc = usocket_receive(client, buf, sizeof buf, &n, NULL);
        if (rc != USOCKET_OK)
            return fail("client receive", rc);
        printf("client: received \"%.*s\"\n", (int)n, (const char *)buf);
        if (n != strlen(pong) || memcmp(buf, pong, n) != 0) {
            fprintf(stderr, "udp_exchange: expected \"%s\"\n", pong);
            return 1;
        }
    }

    /* Nobody sends now: the receive gives up after the 200 ms timeout. */
    {
        uint8_t buf[64];
        size_t n;
        rc = usocket_receive(client, buf, sizeof buf, &n, NULL);
        printf("client: waiting for more: %s\n", usocket_error_name(rc));
        if (rc != USOCKET_ERR_TIMEOUT)
            return fail("expected a timeout", rc);
    }

    usocket_close(client);
    usocket_close(server);
    printf("done: %d exchanges\n", count);
    return 0;
}
