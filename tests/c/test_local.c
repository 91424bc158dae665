/* Unix-domain sockets: usocket_connect_local, usocket_listen_local, the path
   calls, usocket_peer_credentials, usocket_send_local/usocket_receive_local,
   usocket_server_new_local, and the ordinary calls on local sockets. Every
   case works in a fresh directory of its own under /tmp, and abstract names
   carry the process id, so cases never meet. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "check.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char dir_[64];

/* A fresh directory for the case (removed with its files by cleanup_dir). */
static const char *case_dir(void)
{
    snprintf(dir_, sizeof dir_, "/tmp/usocket-local.XXXXXX");
    REQUIRE(mkdtemp(dir_) != NULL);
    return dir_;
}

static void cleanup_dir(void)
{
    DIR *d = opendir(dir_);
    struct dirent *e;
    char p[512];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir_, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir_);
}

/* dir_/name into buf */
static const char *in_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir_, name);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    REQUIRE(lstat(path, &st) == 0);
    return st.st_ino;
}

/* A socket file nobody accepts on: a raw socket bound there, then closed. */
static void make_stale(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    REQUIRE(strlen(path) < sizeof sun.sun_path);
    strcpy(sun.sun_path, path);
    REQUIRE(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
    close(fd);
    REQUIRE(exists(path));
}

static usocket_t local_listener(const char *path)
{
    usocket_t l = 0;
    REQUIRE_OK(usocket_listen_local(path, NULL, &l));
    return l;
}

/* A connected pair over a local listener at path (closed afterwards). */
static void local_pair(const char *path, usocket_t *client, usocket_t *server)
{
    usocket_t l = local_listener(path);
    REQUIRE_OK(usocket_connect_local(path, NULL, client));
    REQUIRE_OK(usocket_accept(l, server));
    REQUIRE_OK(usocket_close(l));
}

/* A datagram socket: bound to `bind_path` (NULL: unnamed), connected to
   `peer` (NULL: unconnected). */
static usocket_t local_dgram(const char *bind_path, const char *peer)
{
    usocket_connect_options o;
    usocket_t s = 0;
    usocket_connect_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    o.local_host = bind_path;
    REQUIRE_OK(usocket_connect_local(peer, &o, &s));
    return s;
}

static void check_path(usocket_t s, int peer, const char *want)
{
    char buf[128];
    size_t len = 999;
    memset(buf, 'x', sizeof buf);
    if (peer)
        CHECK_OK(usocket_peer_path(s, buf, sizeof buf, &len));
    else
        CHECK_OK(usocket_local_path(s, buf, sizeof buf, &len));
    CHECK_EQ_STR(buf, want);
    CHECK_EQ_INT(len, strlen(want));
}

static void echo_once(usocket_t a, usocket_t b, const char *text)
{
    uint8_t buf[256];
    send_str(a, text);
    read_exactly(b, buf, strlen(text));
    CHECK(memcmp(buf, text, strlen(text)) == 0);
}

/* ------------------------------------------------------------------ */
/* Stream sockets on paths                                             */

static void test_stream_on_a_path(void)
{
    char path[128];
    usocket_t l, c, s;
    int32_t kind = -1;
    case_dir();
    in_dir(path, sizeof path, "echo.sock");
    l = local_listener(path);
    CHECK(exists(path));
    CHECK_OK(usocket_kind(l, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM_SERVER);
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK_OK(usocket_kind(c, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM);
    CHECK_OK(usocket_kind(s, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_STREAM);
    echo_once(c, s, "hello over a path");
    echo_once(s, c, "and back");
    /* the paths: the listener's and accepted socket's own, the client's peer */
    check_path(l, 0, path);
    check_path(s, 0, path);
    check_path(c, 1, path);
    check_path(c, 0, ""); /* an unnamed client */
    check_path(s, 1, "");
    /* end of file after the peer shuts its output down */
    {
        uint8_t b[8];
        size_t n = 99;
        CHECK_OK(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
        CHECK_OK(usocket_read(s, b, sizeof b, &n));
        CHECK_EQ_INT(n, 0);
    }
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_close(s));
    CHECK_OK(usocket_close(l));
    CHECK_MSG(!exists(path), "the listener's socket file is still there after its close");
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_accept_from_gives_family_0(void)
{
    char path[128];
    usocket_t l, c, s;
    usocket_address peer;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "a.sock"));
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    memset(&peer, 0xAB, sizeof peer);
    REQUIRE_OK(usocket_accept_from(l, &s, &peer));
    CHECK_EQ_INT(peer.family, 0);
    CHECK_EQ_INT(peer.port, 0);
    {
        uint8_t zero[16] = {0};
        CHECK(memcmp(peer.octets, zero, 16) == 0);
    }
    echo_once(c, s, "x");
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    cleanup_dir();
}

static void test_client_bound_to_a_path(void)
{
    char path[128], mine[128];
    usocket_t l, c, s;
    usocket_connect_options o;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "srv.sock"));
    usocket_connect_options_init(&o);
    o.local_host = in_dir(mine, sizeof mine, "client.sock");
    REQUIRE_OK(usocket_connect_local(path, &o, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    check_path(c, 0, mine);
    check_path(s, 1, mine);
    CHECK(exists(mine));
    CHECK_OK(usocket_close(c));
    CHECK_MSG(!exists(mine), "the client's own socket file is still there after its close");
    /* a second client on a path in use: ADDRESS_IN_USE, as for TCP */
    {
        usocket_t c2 = 0, c3 = 0;
        REQUIRE_OK(usocket_connect_local(path, &o, &c2));
        CHECK_RC(usocket_connect_local(path, &o, &c3), USOCKET_ERR_ADDRESS_IN_USE);
        usocket_close(c2);
    }
    usocket_close(s);
    usocket_close(l);
    cleanup_dir();
}

static void test_abstract_namespace(void)
{
    char name[64], buf[128];
    usocket_t l, c, s;
    struct sockaddr_un sun;
    socklen_t len;
    int fd;
    size_t n;
    snprintf(name, sizeof name, "@usocket-test-%d", (int)getpid());
    l = local_listener(name);
    check_path(l, 0, name);
    CHECK_MSG(!exists(name) && !exists(name + 1), "an abstract name made a file");
    /* a plain socket with the exact address (no padding) reaches ours */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path + 1, name + 1, strlen(name + 1));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name + 1));
    CHECK_MSG(connect(fd, (struct sockaddr *)&sun, len) == 0, "a plain connect to %s: %s", name, strerror(errno));
    REQUIRE_OK(usocket_accept(l, &s));
    CHECK(write(fd, "raw", 3) == 3);
    read_exactly(s, (uint8_t *)buf, 3);
    CHECK(memcmp(buf, "raw", 3) == 0);
    /* the peer's view of our address is exactly the name: its length too */
    {
        struct sockaddr_un got;
        socklen_t glen = sizeof got;
        CHECK(getpeername(fd, (struct sockaddr *)&got, &glen) == 0);
        CHECK_EQ_INT(glen, len);
    }
    close(fd);
    usocket_close(s);
    /* the padded form of the name (all of sun_path) is another address */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    CHECK_MSG(connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0 && errno == ECONNREFUSED,
              "a padded abstract address reached the exact one");
    close(fd);
    /* and a plain listener with the exact address is reached by ours */
    CHECK_OK(usocket_close(l));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    REQUIRE(bind(fd, (struct sockaddr *)&sun, len) == 0);
    REQUIRE(listen(fd, 4) == 0);
    REQUIRE_OK(usocket_connect_local(name, NULL, &c));
    check_path(c, 1, name);
    {
        int a = accept(fd, NULL, NULL);
        CHECK(a >= 0);
        CHECK(write(a, "ok", 2) == 2);
        CHECK_OK(usocket_read(c, (uint8_t *)buf, 2, &n));
        CHECK_EQ_INT(n, 2);
        close(a);
    }
    close(fd);
    usocket_close(c);
    /* nobody there now */
    CHECK_RC(usocket_connect_local(name, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    CHECK_EQ_INT(usocket_open_handles(), 0);
}

static void test_longest_and_too_long_paths(void)
{
    char path[200], name[200];
    usocket_t l = 0;
    size_t base;
    case_dir();
    /* 107 bytes: the longest that fits in sun_path with its NUL */
    snprintf(path, sizeof path, "%s/", dir_);
    base = strlen(path);
    memset(path + base, 'p', 107 - base);
    path[107] = '\0';
    REQUIRE_OK(usocket_listen_local(path, NULL, &l));
    check_path(l, 0, path);
    CHECK_OK(usocket_close(l));
    CHECK(!exists(path));
    /* 108: INVALID_ARGUMENT, for every call that takes a path */
    memset(path + base, 'p', 108 - base);
    path[108] = '\0';
    CHECK_RC(usocket_listen_local(path, NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_connect_local(path, NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    {
        usocket_t d = local_dgram(NULL, NULL);
        size_t n;
        usocket_connect_options o;
        CHECK_RC(usocket_send_local(d, (const uint8_t *)"x", 1, path, &n), USOCKET_ERR_INVALID_ARGUMENT);
        usocket_connect_options_init(&o);
        o.protocol = USOCKET_DATAGRAM;
        o.local_host = path;
        CHECK_RC(usocket_connect_local(NULL, &o, &l), USOCKET_ERR_INVALID_ARGUMENT);
        usocket_close(d);
    }
    /* abstract: 107 bytes after the '@' fit, 108 do not */
    name[0] = '@';
    snprintf(name + 1, 40, "usocket-%d-", (int)getpid());
    base = strlen(name);
    memset(name + base, 'a', 108 - base);
    name[108] = '\0';
    REQUIRE_OK(usocket_listen_local(name, NULL, &l));
    check_path(l, 0, name);
    {
        usocket_t c = 0, s = 0;
        REQUIRE_OK(usocket_connect_local(name, NULL, &c));
        REQUIRE_OK(usocket_accept(l, &s));
        usocket_close(c);
        usocket_close(s);
    }
    CHECK_OK(usocket_close(l));
    name[108] = 'a';
    name[109] = '\0';
    CHECK_RC(usocket_listen_local(name, NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    /* "" and NULL */
    CHECK_RC(usocket_listen_local("", NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_connect_local("", NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_listen_local(NULL, NULL, &l), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_connect_local(NULL, NULL, &l), USOCKET_ERR_INVALID_ARGUMENT); /* a stream needs a path */
    CHECK_RC(usocket_listen_local("/tmp/x", NULL, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_listen_local("/tmp/\xff\xfe", NULL, &l), USOCKET_ERR_INVALID_ARGUMENT); /* not UTF-8 */
    {
        usocket_connect_options o;
        usocket_connect_options_init(&o);
        o.protocol = 7;
        CHECK_RC(usocket_connect_local("/tmp/x", &o, &l), USOCKET_ERR_INVALID_ARGUMENT);
    }
    {
        usocket_listen_options lo;
        usocket_listen_options_init(&lo);
        lo.backlog = -1;
        CHECK_RC(usocket_listen_local(in_dir(path, sizeof path, "neg.sock"), &lo, &l), USOCKET_ERR_INVALID_ARGUMENT);
        CHECK(!exists(path));
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_missing_path(void)
{
    char path[128];
    usocket_t s = 0;
    case_dir();
    CHECK_RC(usocket_connect_local(in_dir(path, sizeof path, "nobody.sock"), NULL, &s), USOCKET_ERR_UNKNOWN);
    CHECK_EQ_INT(usocket_last_os_error(), ENOENT);
    CHECK_RC(usocket_listen_local(in_dir(path, sizeof path, "no/such/dir.sock"), NULL, &s), USOCKET_ERR_UNKNOWN);
    CHECK_EQ_INT(usocket_last_os_error(), ENOENT);
    {
        usocket_t d = local_dgram(NULL, NULL);
        size_t n = 0;
        CHECK_RC(usocket_send_local(d, (const uint8_t *)"x", 1, in_dir(path, sizeof path, "nobody.sock"), &n),
                 USOCKET_ERR_UNKNOWN);
        CHECK_EQ_INT(usocket_last_os_error(), ENOENT);
        usocket_close(d);
    }
    /* a socket of the other protocol at the path: UNKNOWN with EPROTOTYPE */
    {
        usocket_t d = local_dgram(in_dir(path, sizeof path, "dgram.sock"), NULL);
        CHECK_RC(usocket_connect_local(path, NULL, &s), USOCKET_ERR_UNKNOWN);
        CHECK_EQ_INT(usocket_last_os_error(), EPROTOTYPE);
        usocket_close(d);
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* What may be in the way of a listener                                */

static void test_stale_file_replaced_only_with_reuse(void)
{
    char path[128];
    usocket_t l = 0, c = 0, s = 0;
    usocket_listen_options lo;
    ino_t before;
    case_dir();
    make_stale(in_dir(path, sizeof path, "stale.sock"));
    before = inode_of(path);
    /* a second link keeps the old inode alive, so no new file can reuse its number */
    {
        char keep[128];
        REQUIRE(link(path, in_dir(keep, sizeof keep, "stale.keep")) == 0);
    }
    /* a stale socket: connect is refused */
    CHECK_RC(usocket_connect_local(path, NULL, &c), USOCKET_ERR_CONNECTION_REFUSED);
    /* without reuse_address it is in the way */
    CHECK_RC(usocket_listen_local(path, NULL, &l), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_EQ_INT(inode_of(path), before);
    /* with it, it is replaced */
    usocket_listen_options_init(&lo);
    lo.reuse_address = true;
    REQUIRE_OK(usocket_listen_local(path, &lo, &l));
    CHECK(inode_of(path) != before);
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    echo_once(c, s, "new listener");
    usocket_close(c);
    usocket_close(s);
    usocket_close(l);
    CHECK(!exists(path));
    cleanup_dir();
}

static void test_regular_file_never_replaced(void)
{
    char path[128], buf[16];
    usocket_t l = 0;
    usocket_listen_options lo;
    int fd;
    case_dir();
    fd = open(in_dir(path, sizeof path, "data.txt"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "precious", 8) == 8);
    close(fd);
    usocket_listen_options_init(&lo);
    lo.reuse_address = true;
    CHECK_RC(usocket_listen_local(path, &lo, &l), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_RC(usocket_listen_local(path, NULL, &l), USOCKET_ERR_ADDRESS_IN_USE);
    /* a connect to it: refused, as the kernel says */
    CHECK_RC(usocket_connect_local(path, NULL, &l), USOCKET_ERR_CONNECTION_REFUSED);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(read(fd, buf, sizeof buf) == 8 && memcmp(buf, "precious", 8) == 0);
    close(fd);
    /* nor a directory, nor a symbolic link to a stale socket */
    {
        char d[128], stale[128], link_path[128];
        in_dir(d, sizeof d, "adir");
        REQUIRE(mkdir(d, 0700) == 0);
        CHECK_RC(usocket_listen_local(d, &lo, &l), USOCKET_ERR_ADDRESS_IN_USE);
        CHECK(exists(d));
        rmdir(d);
        make_stale(in_dir(stale, sizeof stale, "stale.sock"));
        REQUIRE(symlink(stale, in_dir(link_path, sizeof link_path, "link.sock")) == 0);
        CHECK_RC(usocket_listen_local(link_path, &lo, &l), USOCKET_ERR_ADDRESS_IN_USE);
        CHECK(exists(link_path));
        CHECK(exists(stale));
    }
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_live_socket_never_replaced(void)
{
    char path[128], buf[8];
    usocket_t l, l2 = 0, c, s = 0;
    usocket_listen_options lo;
    ino_t before;
    int tries;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "live.sock"));
    before = inode_of(path);
    usocket_listen_options_init(&lo);
    lo.reuse_address = true;
    CHECK_RC(usocket_listen_local(path, &lo, &l2), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_RC(usocket_listen_local(path, NULL, &l2), USOCKET_ERR_ADDRESS_IN_USE);
    CHECK_EQ_INT(inode_of(path), before);
    /* the first listener still serves; the probe of the second listen may
       have left a connection that ends at once: skip it */
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    send_str(c, "alive");
    for (tries = 0; tries < 3; tries++) {
        size_t n = 0;
        REQUIRE_OK(usocket_accept(l, &s));
        REQUIRE_OK(usocket_read(s, (uint8_t *)buf, sizeof buf, &n));
        if (n > 0)
            break;
        usocket_close(s);
    }
    CHECK(tries < 3);
    usocket_close(c);
    usocket_close(s);
    /* a live datagram socket bound to a path is not replaced either */
    {
        char dpath[128];
        usocket_t d = local_dgram(in_dir(dpath, sizeof dpath, "dgram.sock"), NULL);
        CHECK_RC(usocket_listen_local(dpath, &lo, &l2), USOCKET_ERR_ADDRESS_IN_USE);
        CHECK(exists(dpath));
        usocket_close(d);
        CHECK(!exists(dpath));
    }
    /* in the abstract namespace: in use is in use */
    {
        char name[64];
        usocket_t a;
        snprintf(name, sizeof name, "@usocket-live-%d", (int)getpid());
        a = local_listener(name);
        CHECK_RC(usocket_listen_local(name, &lo, &l2), USOCKET_ERR_ADDRESS_IN_USE);
        usocket_close(a);
        REQUIRE_OK(usocket_listen_local(name, NULL, &l2)); /* free again at once */
        usocket_close(l2);
    }
    usocket_close(l);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_file_removed_only_if_still_ours(void)
{
    char path[128], rel[128], here[512];
    usocket_t l;
    int fd;
    case_dir();
    /* someone replaced the file: closing leaves theirs alone */
    l = local_listener(in_dir(path, sizeof path, "mine.sock"));
    REQUIRE(unlink(path) == 0);
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_OK(usocket_close(l));
    CHECK_MSG(exists(path), "closing removed a file that was not the socket's");
    unlink(path);
    /* a relative path is removed even after a change of directory */
    REQUIRE(getcwd(here, sizeof here) != NULL);
    REQUIRE(chdir(dir_) == 0);
    snprintf(rel, sizeof rel, "rel.sock");
    l = local_listener(rel);
    check_path(l, 0, "rel.sock");
    REQUIRE(chdir("/") == 0);
    CHECK(exists(in_dir(path, sizeof path, "rel.sock")));
    CHECK_OK(usocket_close(l));
    CHECK_MSG(!exists(path), "the relative socket file is still there after a chdir and the close");
    REQUIRE(chdir(here) == 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Datagrams                                                           */

static void test_datagrams_with_paths(void)
{
    char pa[128], pb[128], from[128], buf[64];
    usocket_t a, b;
    size_t n = 0, flen = 0;
    int32_t kind = -1;
    case_dir();
    a = local_dgram(in_dir(pa, sizeof pa, "a.sock"), NULL);
    b = local_dgram(in_dir(pb, sizeof pb, "b.sock"), NULL);
    CHECK_OK(usocket_kind(a, &kind));
    CHECK_EQ_INT(kind, USOCKET_KIND_DATAGRAM);
    check_path(a, 0, pa);
    CHECK(exists(pa) && exists(pb));
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"ping", 4, pb, &n));
    CHECK_EQ_INT(n, 4);
    memset(from, 'x', sizeof from);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, sizeof from, &flen));
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ_STR(from, pa);
    CHECK_EQ_INT(flen, strlen(pa));
    /* reply to the sender's path */
    CHECK_OK(usocket_send_local(b, (const uint8_t *)"pong", 4, from, &n));
    CHECK_OK(usocket_receive_local(a, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "pong", 4) == 0);
    /* the sender's path cut to from_cap: NUL-terminated, whole length told,
       the datagram whole */
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"cut", 3, pb, &n));
    memset(from, 'x', sizeof from);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, 6, &flen));
    CHECK_EQ_INT(n, 3);
    CHECK(memcmp(buf, "cut", 3) == 0);
    CHECK_EQ_INT(flen, strlen(pa));
    CHECK(memcmp(from, pa, 5) == 0 && from[5] == '\0' && from[6] == 'x');
    /* from_cap 0: nothing written, the length told */
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"zero", 4, pb, &n));
    memset(from, 'x', sizeof from);
    flen = 0;
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, 0, &flen));
    CHECK(n == 4 && memcmp(buf, "zero", 4) == 0);
    CHECK_EQ_INT(flen, strlen(pa));
    CHECK(from[0] == 'x');
    /* from NULL but from_len given: the length alone */
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"len", 3, pb, &n));
    flen = 0;
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, &flen));
    CHECK_EQ_INT(flen, strlen(pa));
    /* from given, from_len NULL: INVALID_ARGUMENT, and the datagram stays */
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"kept", 4, pb, &n));
    CHECK_RC(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, sizeof from, NULL),
             USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "kept", 4) == 0);
    /* a datagram longer than the buffer is cut, the rest dropped */
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"0123456789", 10, pb, &n));
    CHECK_OK(usocket_send_local(a, (const uint8_t *)"next", 4, pb, &n));
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, 4, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "0123", 4) == 0);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "next", 4) == 0);
    /* a zero-length datagram */
    CHECK_OK(usocket_send_local(a, NULL, 0, pb, &n));
    CHECK_EQ_INT(n, 0);
    n = 99;
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, sizeof from, &flen));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(from, pa);
    /* usocket_receive works on a local datagram socket too: family 0 */
    {
        usocket_address ad;
        memset(&ad, 0xAB, sizeof ad);
        CHECK_OK(usocket_send_local(a, (const uint8_t *)"ip?", 3, pb, &n));
        CHECK_OK(usocket_receive(b, (uint8_t *)buf, sizeof buf, &n, &ad));
        CHECK_EQ_INT(n, 3);
        CHECK_EQ_INT(ad.family, 0);
        CHECK_EQ_INT(ad.port, 0);
    }
    CHECK_OK(usocket_close(a));
    CHECK_OK(usocket_close(b));
    CHECK_MSG(!exists(pa) && !exists(pb), "a datagram socket's file is still there after its close");
    cleanup_dir();
}

static void test_datagram_unnamed_connected_and_abstract(void)
{
    char pb[128], from[128], buf[64], name[64];
    usocket_t b, u, c, ab;
    size_t n = 0, flen = 99;
    case_dir();
    b = local_dgram(in_dir(pb, sizeof pb, "b.sock"), NULL);
    /* an unnamed, unconnected sender */
    u = local_dgram(NULL, NULL);
    check_path(u, 0, "");
    CHECK_OK(usocket_send_local(u, (const uint8_t *)"anon", 4, pb, &n));
    memset(from, 'x', sizeof from);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, sizeof from, &flen));
    CHECK(n == 4 && memcmp(buf, "anon", 4) == 0);
    CHECK_EQ_STR(from, "");
    CHECK_EQ_INT(flen, 0);
    /* unconnected, path NULL: INVALID_ARGUMENT */
    CHECK_RC(usocket_send_local(u, (const uint8_t *)"x", 1, NULL, &n), USOCKET_ERR_INVALID_ARGUMENT);
    /* connected: send with path NULL, or usocket_send */
    c = local_dgram(NULL, pb);
    check_path(c, 1, pb);
    CHECK_OK(usocket_send_local(c, (const uint8_t *)"conn", 4, NULL, &n));
    CHECK_OK(usocket_send(c, (const uint8_t *)"send", 4, NULL, 0, &n));
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "conn", 4) == 0);
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 4 && memcmp(buf, "send", 4) == 0);
    /* abstract datagram sockets, as sender and receiver */
    snprintf(name, sizeof name, "@usocket-dgram-%d", (int)getpid());
    ab = local_dgram(name, NULL);
    check_path(ab, 0, name);
    CHECK_OK(usocket_send_local(u, (const uint8_t *)"to abstract", 11, name, &n));
    CHECK_OK(usocket_receive_local(ab, (uint8_t *)buf, sizeof buf, 1000, &n, NULL, 0, NULL));
    CHECK(n == 11 && memcmp(buf, "to abstract", 11) == 0);
    CHECK_OK(usocket_send_local(ab, (const uint8_t *)"from abstract", 13, pb, &n));
    CHECK_OK(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 1000, &n, from, sizeof from, &flen));
    CHECK_EQ_STR(from, name);
    CHECK_EQ_INT(flen, strlen(name));
    /* nobody at a stale path: refused */
    {
        char stale[128];
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, in_dir(stale, sizeof stale, "stale-dgram.sock"));
        REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
        close(fd);
        CHECK_RC(usocket_send_local(u, (const uint8_t *)"x", 1, stale, &n), USOCKET_ERR_CONNECTION_REFUSED);
    }
    usocket_close(ab);
    usocket_close(c);
    usocket_close(u);
    usocket_close(b);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_receive_local_is_bounded(void)
{
    char pb[128], buf[16];
    usocket_t b;
    size_t n = 0;
    double t0, dt;
    int64_t rt = -1;
    case_dir();
    b = local_dgram(in_dir(pb, sizeof pb, "b.sock"), NULL);
    t0 = now_ms();
    CHECK_RC(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 0, &n, NULL, 0, NULL), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 0, 250 * slow()); /* no wait: only scheduling delays */
    t0 = now_ms();
    CHECK_RC(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 150, &n, NULL, 0, NULL), USOCKET_ERR_TIMEOUT);
    dt = now_ms() - t0;
    CHECK_BETWEEN(dt, 145, 600 * slow());
    /* the socket's own receive timeout is neither used nor changed */
    CHECK_OK(usocket_set_option(b, USOCKET_OPT_RECEIVE_TIMEOUT, 50));
    t0 = now_ms();
    CHECK_RC(usocket_receive_local(b, (uint8_t *)buf, sizeof buf, 200, &n, NULL, 0, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 195, 800 * slow());
    CHECK_OK(usocket_get_option(b, USOCKET_OPT_RECEIVE_TIMEOUT, &rt));
    CHECK_EQ_INT(rt, 50);
    /* while usocket_receive honours it */
    t0 = now_ms();
    CHECK_RC(usocket_receive(b, (uint8_t *)buf, sizeof buf, &n, NULL), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 40, 500 * slow());
    /* ready: wait_for_input and input_available see a datagram */
    {
        usocket_t u = local_dgram(NULL, NULL);
        uint8_t st = 0;
        size_t nready = 0;
        bool avail = true;
        CHECK_OK(usocket_input_available(b, &avail));
        CHECK(!avail);
        CHECK_OK(usocket_send_local(u, (const uint8_t *)"r", 1, pb, &n));
        CHECK_OK(usocket_wait_for_input(&b, 1, 1000, &st, &nready, NULL));
        CHECK_EQ_INT(nready, 1);
        CHECK_OK(usocket_input_available(b, &avail));
        CHECK(avail);
        usocket_close(u);
    }
    usocket_close(b);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Credentials, kinds, buffers                                         */

static void test_peer_credentials(void)
{
    char path[128];
    usocket_t c, s;
    int32_t pid = 0;
    uint32_t uid = 1, gid = 1;
    case_dir();
    local_pair(in_dir(path, sizeof path, "cred.sock"), &c, &s);
    CHECK_OK(usocket_peer_credentials(s, &pid, &uid, &gid));
    CHECK_EQ_INT(pid, getpid());
    CHECK_EQ_INT(uid, getuid());
    CHECK_EQ_INT(gid, getgid());
    CHECK_OK(usocket_peer_credentials(c, &pid, &uid, &gid));
    CHECK_EQ_INT(pid, getpid());
    CHECK_RC(usocket_peer_credentials(c, NULL, &uid, &gid), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_peer_credentials(c, &pid, NULL, &gid), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_peer_credentials(c, &pid, &uid, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    usocket_close(c);
    usocket_close(s);
    /* another process: its own pid */
    {
        usocket_t l = local_listener(path);
        pid_t child = fork();
        int status = 0;
        REQUIRE(child >= 0);
        if (child == 0) {
            /* the child connects with a plain socket and waits for the parent's word */
            struct sockaddr_un sun;
            char b;
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            memset(&sun, 0, sizeof sun);
            sun.sun_family = AF_UNIX;
            strcpy(sun.sun_path, path);
            if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
                _exit(1);
            _exit(read(fd, &b, 1) == 1 ? 0 : 2);
        }
        REQUIRE_OK(usocket_accept(l, &s));
        CHECK_OK(usocket_peer_credentials(s, &pid, &uid, &gid));
        CHECK_EQ_INT(pid, child);
        CHECK_EQ_INT(uid, getuid());
        send_str(s, "k");
        waitpid(child, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        usocket_close(s);
        usocket_close(l);
    }
    cleanup_dir();
}

static void test_wrong_kinds(void)
{
    char path[128], pd[128], buf[128];
    usocket_t l, c, s, d, tc, ts, u;
    usocket_address a;
    size_t len = 12345, n = 0;
    int32_t pid;
    uint32_t uid, gid;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "k.sock"));
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    d = local_dgram(in_dir(pd, sizeof pd, "d.sock"), NULL);
    tcp_pair(&tc, &ts);
    u = udp_socket(NULL);
    /* IP names on local sockets */
    CHECK_RC(usocket_local_name(l, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_local_name(c, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_name(c, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_name(s, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_local_name(d, &a), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_name(l, &a), USOCKET_ERR_WRONG_KIND);
    /* path calls on IP sockets */
    CHECK_RC(usocket_local_path(tc, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_path(tc, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_local_path(u, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_path(u, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_path(l, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
    CHECK_EQ_INT(len, 12345); /* not written on those failures */
    /* credentials: only a connected local stream socket */
    CHECK_RC(usocket_peer_credentials(l, &pid, &uid, &gid), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_credentials(d, &pid, &uid, &gid), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_credentials(tc, &pid, &uid, &gid), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_peer_credentials(u, &pid, &uid, &gid), USOCKET_ERR_WRONG_KIND);
    /* datagram path calls: only local datagram sockets */
    CHECK_RC(usocket_send_local(c, (const uint8_t *)"x", 1, pd, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_send_local(u, (const uint8_t *)"x", 1, pd, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_send_local(l, (const uint8_t *)"x", 1, pd, &n), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive_local(c, (uint8_t *)buf, sizeof buf, 0, &n, NULL, 0, NULL), USOCKET_ERR_WRONG_KIND);
    CHECK_RC(usocket_receive_local(u, (uint8_t *)buf, sizeof buf, 0, &n, NULL, 0, NULL), USOCKET_ERR_WRONG_KIND);
    /* stream calls on the datagram socket, as for UDP */
    CHECK_RC(usocket_read(d, (uint8_t *)buf, sizeof buf, &n), USOCKET_ERR_WRONG_KIND);
    {
        usocket_t x = 0;
        CHECK_RC(usocket_accept(c, &x), USOCKET_ERR_WRONG_KIND);
    }
    /* handles that are not sockets, or no longer */
    {
        usocket_t wl = 0, dead = 0;
        CHECK_OK(usocket_wait_list_new(&wl));
        CHECK_RC(usocket_local_path(wl, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
        CHECK_RC(usocket_peer_path(wl, buf, sizeof buf, &len), USOCKET_ERR_WRONG_KIND);
        CHECK_RC(usocket_peer_credentials(wl, &pid, &uid, &gid), USOCKET_ERR_WRONG_KIND);
        usocket_wait_list_free(wl);
        dead = local_dgram(NULL, NULL);
        usocket_close(dead);
        CHECK_RC(usocket_local_path(dead, buf, sizeof buf, &len), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_peer_path(dead, buf, sizeof buf, &len), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_peer_credentials(dead, &pid, &uid, &gid), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_send_local(dead, (const uint8_t *)"x", 1, pd, &n), USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_receive_local(dead, (uint8_t *)buf, sizeof buf, 0, &n, NULL, 0, NULL),
                 USOCKET_ERR_INVALID_HANDLE);
        CHECK_RC(usocket_local_path(0, buf, sizeof buf, &len), USOCKET_ERR_INVALID_HANDLE);
    }
    usocket_close(l);
    usocket_close(c);
    usocket_close(s);
    usocket_close(d);
    usocket_close(tc);
    usocket_close(ts);
    usocket_close(u);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_path_buffer_rules(void)
{
    char path[128], buf[128];
    usocket_t l;
    size_t len, want;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "buf.sock"));
    want = strlen(path);
    /* cap 0, buf NULL: the length alone, with INVALID_ARGUMENT */
    len = 0;
    CHECK_RC(usocket_local_path(l, NULL, 0, &len), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(len, want);
    /* one byte short (no room for the NUL): INVALID_ARGUMENT, buf untouched */
    len = 0;
    memset(buf, 'x', sizeof buf);
    CHECK_RC(usocket_local_path(l, buf, want, &len), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(len, want);
    CHECK(buf[0] == 'x');
    /* exactly enough */
    len = 0;
    CHECK_OK(usocket_local_path(l, buf, want + 1, &len));
    CHECK_EQ_INT(len, want);
    CHECK_EQ_STR(buf, path);
    /* NULL len, or NULL buf with a cap */
    CHECK_RC(usocket_local_path(l, buf, sizeof buf, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_local_path(l, NULL, sizeof buf, &len), USOCKET_ERR_INVALID_ARGUMENT);
    /* peer_path the same way */
    {
        usocket_t c, s;
        REQUIRE_OK(usocket_connect_local(path, NULL, &c));
        REQUIRE_OK(usocket_accept(l, &s));
        len = 0;
        CHECK_RC(usocket_peer_path(c, buf, 3, &len), USOCKET_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(len, want);
        CHECK_RC(usocket_peer_path(c, buf, sizeof buf, NULL), USOCKET_ERR_INVALID_ARGUMENT);
        /* an empty path needs one byte */
        len = 99;
        CHECK_RC(usocket_local_path(c, NULL, 0, &len), USOCKET_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(len, 0);
        CHECK_OK(usocket_local_path(c, buf, 1, &len));
        CHECK_EQ_STR(buf, "");
        usocket_close(c);
        usocket_close(s);
    }
    usocket_close(l);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* The ordinary calls on local sockets                                 */

static void test_ordinary_calls_on_local_sockets(void)
{
    char path[128];
    usocket_t c, s;
    uint8_t buf[64];
    size_t n = 0;
    int64_t v = -1;
    double t0;
    case_dir();
    local_pair(in_dir(path, sizeof path, "o.sock"), &c, &s);
    /* the receive timeout bounds a read */
    CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 100));
    CHECK_OK(usocket_get_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, &v));
    CHECK_EQ_INT(v, 100);
    t0 = now_ms();
    CHECK_RC(usocket_read(s, buf, sizeof buf, &n), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 90, 600 * slow());
    /* the _for calls: bounded by their own timeout */
    t0 = now_ms();
    CHECK_RC(usocket_read_for(s, buf, sizeof buf, 100, &n), USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(now_ms() - t0, 90, 600 * slow());
    CHECK_RC(usocket_read_for(s, buf, sizeof buf, 0, &n), USOCKET_ERR_TIMEOUT);
    {
        usocket_t l = local_listener(in_dir(path, sizeof path, "for.sock")), a = 0, x = 0;
        usocket_address peer;
        char pd[128];
        usocket_t d = local_dgram(in_dir(pd, sizeof pd, "for-d.sock"), NULL);
        t0 = now_ms();
        CHECK_RC(usocket_accept_for(l, 0, &a, &peer), USOCKET_ERR_TIMEOUT);
        CHECK_RC(usocket_accept_for(l, 100, &a, &peer), USOCKET_ERR_TIMEOUT);
        CHECK_BETWEEN(now_ms() - t0, 90, 600 * slow());
        REQUIRE_OK(usocket_connect_local(path, NULL, &x));
        memset(&peer, 0xAB, sizeof peer);
        CHECK_OK(usocket_accept_for(l, 1000, &a, &peer));
        CHECK_EQ_INT(peer.family, 0);
        CHECK_RC(usocket_receive_for(d, buf, sizeof buf, 0, &n, &peer), USOCKET_ERR_TIMEOUT);
        CHECK_OK(usocket_send_local(d, (const uint8_t *)"for", 3, pd, &n));
        memset(&peer, 0xAB, sizeof peer);
        CHECK_OK(usocket_receive_for(d, buf, sizeof buf, 1000, &n, &peer));
        CHECK_EQ_INT(n, 3);
        CHECK_EQ_INT(peer.family, 0);
        /* a duplicate descriptor is close-on-exec and the same socket */
        {
            int32_t fd = -1;
            CHECK_OK(usocket_dup_fd(x, &fd));
            CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
            CHECK(write(fd, "dup", 3) == 3);
            read_exactly(a, buf, 3);
            CHECK(memcmp(buf, "dup", 3) == 0);
            close(fd);
        }
        usocket_close(d);
        usocket_close(x);
        usocket_close(a);
        usocket_close(l);
    }
    /* buffer sizes and keep-alive apply; TCP_NODELAY does not */
    CHECK_OK(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 65536));
    CHECK_OK(usocket_get_option(c, USOCKET_OPT_SEND_BUFFER, &v));
    CHECK(v >= 65536);
    CHECK(usocket_set_option(c, USOCKET_OPT_TCP_NODELAY, 1) != USOCKET_OK);
    /* write_some and input_available */
    CHECK_OK(usocket_write_some(c, (const uint8_t *)"some", 4, 100, &n));
    CHECK_EQ_INT(n, 4);
    {
        bool avail = false;
        uint8_t st = 0;
        size_t nready = 0;
        usocket_t wl = 0, ready[2];
        CHECK_OK(usocket_input_available(s, &avail));
        CHECK(avail);
        CHECK_OK(usocket_wait_for_input(&s, 1, 1000, &st, &nready, NULL));
        CHECK_EQ_INT(nready, 1);
        CHECK_OK(usocket_wait_list_new(&wl));
        CHECK_OK(usocket_wait_list_add(wl, s));
        CHECK_OK(usocket_wait_list_wait(wl, 1000, ready, 2, &nready, NULL));
        CHECK(nready == 1 && ready[0] == s);
        usocket_wait_list_free(wl);
    }
    read_exactly(s, buf, 4);
    /* a large write goes through whole */
    {
        static uint8_t big[1 << 20], back[1 << 20];
        size_t i, got = 0;
        pid_t child;
        for (i = 0; i < sizeof big; i++)
            big[i] = (uint8_t)(i * 7);
        child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            size_t w = 0;
            _exit(usocket_write(c, big, sizeof big, &w) == USOCKET_OK && w == sizeof big ? 0 : 1);
        }
        CHECK_OK(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 0));
        while (got < sizeof back) {
            CHECK_OK(usocket_read(s, back + got, sizeof back - got, &n));
            if (n == 0)
                break;
            got += n;
        }
        CHECK_EQ_INT(got, sizeof back);
        CHECK(memcmp(big, back, sizeof big) == 0);
        {
            int status = 0;
            waitpid(child, &status, 0);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    /* after the peer has gone: end of file, then SHUTDOWN on write, never SIGPIPE */
    CHECK_OK(usocket_close(c));
    CHECK_OK(usocket_read(s, buf, sizeof buf, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_RC(usocket_write(s, (const uint8_t *)"gone", 4, &n), USOCKET_ERR_SHUTDOWN);
    /* the descriptor is close-on-exec */
    {
        int32_t fd = -1;
        CHECK_OK(usocket_fd(s, &fd));
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    }
    usocket_close(s);
    cleanup_dir();
}

static void test_close_on_exec(void)
{
    char path[128], pd[128];
    usocket_t l, c, s, d;
    usocket_t hs[4];
    int i;
    case_dir();
    l = local_listener(in_dir(path, sizeof path, "x.sock"));
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    REQUIRE_OK(usocket_accept(l, &s));
    d = local_dgram(in_dir(pd, sizeof pd, "d.sock"), NULL);
    hs[0] = l, hs[1] = c, hs[2] = s, hs[3] = d;
    for (i = 0; i < 4; i++) {
        int32_t fd = -1;
        CHECK_OK(usocket_fd(hs[i], &fd));
        CHECK_MSG(fcntl(fd, F_GETFD) & FD_CLOEXEC, "handle %d: descriptor %d is not close-on-exec", i, fd);
        usocket_close(hs[i]);
    }
    cleanup_dir();
}

static void test_connect_timeout_on_a_full_queue(void)
{
    char path[128];
    usocket_t l, c1 = 0, c2 = 0, c3 = 0;
    usocket_listen_options lo;
    usocket_connect_options o;
    double t0;
    int32_t rc;
    case_dir();
    usocket_listen_options_init(&lo);
    lo.backlog = 0;
    REQUIRE_OK(usocket_listen_local(in_dir(path, sizeof path, "full.sock"), &lo, &l));
    usocket_connect_options_init(&o);
    o.connect_timeout_ms = 150;
    /* fill the queue (Linux keeps backlog + 1), then time out */
    REQUIRE_OK(usocket_connect_local(path, &o, &c1));
    rc = usocket_connect_local(path, &o, &c2);
    if (rc == USOCKET_OK) {
        t0 = now_ms();
        CHECK_RC(usocket_connect_local(path, &o, &c3), USOCKET_ERR_TIMEOUT);
    } else {
        t0 = now_ms() - 150;
        CHECK_RC(rc, USOCKET_ERR_TIMEOUT);
        c2 = 0;
        t0 = now_ms();
        CHECK_RC(usocket_connect_local(path, &o, &c3), USOCKET_ERR_TIMEOUT);
    }
    CHECK_BETWEEN(now_ms() - t0, 140, 800 * slow());
    /* the connect's bound is not left behind as a send timeout */
    {
        int64_t v = -1;
        CHECK_OK(usocket_get_option(c1, USOCKET_OPT_SEND_TIMEOUT, &v));
        CHECK_EQ_INT(v, 0);
    }
    usocket_close(c1);
    if (c2)
        usocket_close(c2);
    usocket_close(l);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Close under a blocked call                                          */

enum op { OP_READ, OP_ACCEPT, OP_RECEIVE_LOCAL };

struct blocked {
    enum op op;
    usocket_t h;
    int32_t rc;
    int returned;
    double returned_at;
};

static void *blocked_thread(void *arg)
{
    struct blocked *b = arg;
    uint8_t buf[64];
    char from[64];
    size_t n, flen;
    usocket_t out;
    switch (b->op) {
    case OP_READ:
        b->rc = usocket_read(b->h, buf, sizeof buf, &n);
        break;
    case OP_ACCEPT:
        b->rc = usocket_accept(b->h, &out);
        break;
    case OP_RECEIVE_LOCAL:
        b->rc = usocket_receive_local(b->h, buf, sizeof buf, -1, &n, from, sizeof from, &flen);
        break;
    }
    b->returned_at = now_ms();
    __atomic_store_n(&b->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void close_under(enum op op, usocket_t h)
{
    struct blocked b;
    pthread_t t;
    double closed_at;
    memset(&b, 0, sizeof b);
    b.op = op;
    b.h = h;
    b.rc = 1;
    REQUIRE(pthread_create(&t, NULL, blocked_thread, &b) == 0);
    sleep_ms(150); /* let it block: nothing to wait for, by design */
    CHECK_MSG(!__atomic_load_n(&b.returned, __ATOMIC_SEQ_CST), "the call returned %d before the close", b.rc);
    closed_at = now_ms();
    CHECK_OK(usocket_close(h));
    pthread_join(t, NULL);
    CHECK_RC(b.rc, USOCKET_ERR_INVALID_HANDLE);
    CHECK_MSG(b.returned_at - closed_at <= 100 * slow(), "returned %.1f ms after the close",
              b.returned_at - closed_at);
}

static void test_close_under_blocked_calls(void)
{
    char path[128], pd[128];
    usocket_t l, c, s, d;
    int fds;
    case_dir();
    fds = count_fds();
    local_pair(in_dir(path, sizeof path, "b.sock"), &c, &s);
    close_under(OP_READ, s);
    usocket_close(c);
    l = local_listener(path);
    close_under(OP_ACCEPT, l);
    CHECK_MSG(!exists(path), "the listener's file outlived its close under accept");
    d = local_dgram(in_dir(pd, sizeof pd, "d.sock"), NULL);
    close_under(OP_RECEIVE_LOCAL, d);
    CHECK(!exists(pd));
    CHECK_EQ_INT(count_fds(), fds);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* The local server                                                    */

struct seen {
    int calls;
    int family;
    int32_t pid;
    int32_t cred_rc;
};

static void echo_handler(void *user_data, usocket_t client, const usocket_address *peer)
{
    struct seen *seen = user_data;
    uint8_t buf[256];
    size_t n = 0, w = 0;
    uint32_t uid, gid;
    __atomic_add_fetch(&seen->calls, 1, __ATOMIC_SEQ_CST);
    seen->family = peer->family;
    seen->cred_rc = usocket_peer_credentials(client, &seen->pid, &uid, &gid);
    while (usocket_read(client, buf, sizeof buf, &n) == USOCKET_OK && n > 0)
        if (usocket_write(client, buf, n, &w) != USOCKET_OK)
            break;
}

static void test_server_new_local(void)
{
    char path[128], buf[128];
    usocket_t srv = 0, c;
    usocket_server_options o;
    struct seen seen;
    size_t len = 0;
    usocket_address a;
    case_dir();
    memset(&seen, 0, sizeof seen);
    usocket_server_options_init(&o);
    o.multi_threading = true;
    REQUIRE_OK(usocket_server_new_local(in_dir(path, sizeof path, "srv.sock"), &o, echo_handler, &seen, &srv));
    CHECK(exists(path));
    CHECK_OK(usocket_local_path(srv, buf, sizeof buf, &len));
    CHECK_EQ_STR(buf, path);
    CHECK_RC(usocket_local_name(srv, &a), USOCKET_ERR_WRONG_KIND);
    REQUIRE_OK(usocket_server_spawn(srv));
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    send_str(c, "through the server");
    read_exactly(c, (uint8_t *)buf, 18);
    CHECK(memcmp(buf, "through the server", 18) == 0);
    usocket_close(c);
    /* stop: the file goes at once, new clients find nothing */
    CHECK_OK(usocket_server_stop(srv));
    CHECK_MSG(!exists(path), "the server's socket file is still there after usocket_server_stop");
    CHECK_RC(usocket_connect_local(path, NULL, &c), USOCKET_ERR_UNKNOWN);
    CHECK_EQ_INT(usocket_last_os_error(), ENOENT);
    CHECK_OK(usocket_server_wait(srv, 5000));
    CHECK_EQ_INT(seen.calls, 1);
    CHECK_EQ_INT(seen.family, 0);
    CHECK_RC(seen.cred_rc, USOCKET_OK);
    CHECK_EQ_INT(seen.pid, getpid());
    /* its path is still told after the stop */
    CHECK_OK(usocket_local_path(srv, buf, sizeof buf, &len));
    CHECK_EQ_STR(buf, path);
    CHECK_OK(usocket_close(srv));
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static void test_server_new_local_arguments(void)
{
    char path[128], name[64];
    usocket_t srv = 0, l;
    usocket_server_options o;
    struct seen seen;
    case_dir();
    in_dir(path, sizeof path, "args.sock");
    usocket_server_options_init(&o);
    o.protocol = USOCKET_DATAGRAM;
    CHECK_RC(usocket_server_new_local(path, &o, echo_handler, &seen, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    o.protocol = 9;
    CHECK_RC(usocket_server_new_local(path, &o, echo_handler, &seen, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_new_local(NULL, NULL, echo_handler, &seen, &srv), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK_RC(usocket_server_new_local(path, NULL, echo_handler, &seen, NULL), USOCKET_ERR_INVALID_ARGUMENT);
    CHECK(!exists(path));
    /* a stale file is replaced by default (reuse_address true), a live
       listener is not */
    make_stale(path);
    REQUIRE_OK(usocket_server_new_local(path, NULL, echo_handler, &seen, &srv));
    CHECK_OK(usocket_close(srv));
    CHECK(!exists(path));
    l = local_listener(path);
    CHECK_RC(usocket_server_new_local(path, NULL, echo_handler, &seen, &srv), USOCKET_ERR_ADDRESS_IN_USE);
    usocket_close(l);
    /* abstract, served on this thread and stopped from a handler-free path */
    snprintf(name, sizeof name, "@usocket-srv-%d", (int)getpid());
    REQUIRE_OK(usocket_server_new_local(name, NULL, echo_handler, &seen, &srv));
    {
        char buf[64];
        size_t len = 0;
        CHECK_OK(usocket_local_path(srv, buf, sizeof buf, &len));
        CHECK_EQ_STR(buf, name);
    }
    CHECK_OK(usocket_close(srv));
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* A local server with no handler: the caller serves with usocket_server_next. */
static void test_server_next_on_a_local_server(void)
{
    char path[128];
    usocket_t srv = 0, c, client = 0;
    usocket_address peer;
    int32_t pid = 0;
    uint32_t uid, gid;
    case_dir();
    REQUIRE_OK(usocket_server_new_local(in_dir(path, sizeof path, "next.sock"), NULL, NULL, NULL, &srv));
    CHECK_RC(usocket_server_spawn(srv), USOCKET_ERR_INVALID_ARGUMENT); /* nothing to serve with */
    CHECK_RC(usocket_server_next(srv, 0, &client, &peer), USOCKET_ERR_TIMEOUT);
    REQUIRE_OK(usocket_connect_local(path, NULL, &c));
    memset(&peer, 0xAB, sizeof peer);
    REQUIRE_OK(usocket_server_next(srv, 5000, &client, &peer));
    CHECK_EQ_INT(peer.family, 0);
    CHECK_EQ_INT(peer.port, 0);
    CHECK_OK(usocket_peer_credentials(client, &pid, &uid, &gid));
    CHECK_EQ_INT(pid, getpid());
    check_path(client, 0, path);
    echo_once(c, client, "next");
    usocket_close(client);
    usocket_close(c);
    CHECK_OK(usocket_server_stop(srv));
    CHECK(!exists(path));
    CHECK_RC(usocket_server_next(srv, 0, &client, &peer), USOCKET_ERR_SHUTDOWN);
    CHECK_OK(usocket_close(srv));
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* EINTR: retried with the time left                                   */

static volatile sig_atomic_t signals_caught;

static void on_sigusr1(int sig)
{
    (void)sig;
    signals_caught++;
}

enum sop { S_RECEIVE_LOCAL, S_CONNECT_LOCAL, S_ACCEPT };

struct scall {
    enum sop op;
    usocket_t h;
    const char *path;
    int64_t timeout;
    int32_t rc;
    size_t count;
    double started, ended;
    int done;
};

static void *scall_thread(void *arg)
{
    struct scall *c = arg;
    uint8_t buf[64];
    char from[64];
    size_t flen;
    usocket_t out;
    c->started = now_ms();
    switch (c->op) {
    case S_RECEIVE_LOCAL:
        c->rc = usocket_receive_local(c->h, buf, sizeof buf, c->timeout, &c->count, from, sizeof from, &flen);
        break;
    case S_CONNECT_LOCAL: {
        usocket_connect_options o;
        usocket_connect_options_init(&o);
        o.connect_timeout_ms = c->timeout;
        c->rc = usocket_connect_local(c->path, &o, &out);
        if (c->rc == USOCKET_OK)
            usocket_close(out);
        break;
    }
    case S_ACCEPT:
        c->rc = usocket_accept(c->h, &out);
        if (c->rc == USOCKET_OK)
            usocket_close(out);
        break;
    }
    c->ended = now_ms();
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Runs the call on a thread and pelts it with SIGUSR1 (a handler without
   SA_RESTART: system calls fail with EINTR) every 10 ms for `for_ms`, then
   runs `then` (which may end the call) and joins. */
static void pelt(struct scall *c, double for_ms, void (*then)(const char *), const char *arg)
{
    struct sigaction sa;
    pthread_t t;
    double t0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
    signals_caught = 0;
    c->rc = 1;
    c->done = 0;
    REQUIRE(pthread_create(&t, NULL, scall_thread, c) == 0);
    t0 = now_ms();
    while (now_ms() - t0 < for_ms && !__atomic_load_n(&c->done, __ATOMIC_SEQ_CST)) {
        sleep_ms(10);
        pthread_kill(t, SIGUSR1);
    }
    if (then)
        then(arg);
    pthread_join(t, NULL);
    CHECK_MSG(signals_caught > 0, "no signal reached the handler");
}

static void send_to(const char *path)
{
    usocket_t u = local_dgram(NULL, NULL);
    size_t n;
    CHECK_OK(usocket_send_local(u, (const uint8_t *)"late", 4, path, &n));
    usocket_close(u);
}

static void connect_to(const char *path)
{
    usocket_t c = 0;
    CHECK_OK(usocket_connect_local(path, NULL, &c));
    /* closed at once: the accept on the other thread has what it needs */
    usocket_close(c);
}

static void test_eintr_is_retried_with_the_time_left(void)
{
    char pd[128], path[128];
    usocket_t d, l, c1 = 0, c2 = 0;
    usocket_listen_options lo;
    struct scall k;
    case_dir();
    /* a bounded receive_local under signals: TIMEOUT when its time is up */
    d = local_dgram(in_dir(pd, sizeof pd, "d.sock"), NULL);
    memset(&k, 0, sizeof k);
    k.op = S_RECEIVE_LOCAL;
    k.h = d;
    k.timeout = 400;
    pelt(&k, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 395, 400 + 150 * slow());
    /* an unbounded one: signals for 300 ms, then a datagram */
    k.timeout = -1;
    pelt(&k, 300, send_to, pd);
    CHECK_OK(k.rc);
    CHECK_EQ_INT(k.count, 4);
    CHECK(k.ended - k.started >= 290);
    usocket_close(d);
    /* accept on a local listener: signals, then a client */
    l = local_listener(in_dir(path, sizeof path, "l.sock"));
    memset(&k, 0, sizeof k);
    k.op = S_ACCEPT;
    k.h = l;
    pelt(&k, 300, connect_to, path);
    CHECK_OK(k.rc);
    CHECK(k.ended - k.started >= 290);
    usocket_close(l);
    /* a connect waiting for room in a full queue: TIMEOUT when its time is up */
    usocket_listen_options_init(&lo);
    lo.backlog = 0;
    REQUIRE_OK(usocket_listen_local(path, &lo, &l));
    REQUIRE_OK(usocket_connect_local(path, NULL, &c1));
    {
        /* fill the queue: Linux keeps backlog + 1 */
        usocket_connect_options o;
        usocket_connect_options_init(&o);
        o.connect_timeout_ms = 100;
        if (usocket_connect_local(path, &o, &c2) != USOCKET_OK)
            c2 = 0;
    }
    memset(&k, 0, sizeof k);
    k.op = S_CONNECT_LOCAL;
    k.path = path;
    k.timeout = 400;
    pelt(&k, 5000, NULL, NULL);
    CHECK_RC(k.rc, USOCKET_ERR_TIMEOUT);
    CHECK_BETWEEN(k.ended - k.started, 395, 400 + 150 * slow());
    usocket_close(c1);
    if (c2)
        usocket_close(c2);
    usocket_close(l);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* No leaks                                                            */

static void test_no_descriptor_leaks(void)
{
    char path[128], pd[128], missing[128], longp[200], regular[128];
    int fds, i, cycles = (int)env_long("USOCKET_TEST_CYCLES", 200);
    usocket_listen_options lo;
    case_dir();
    if (cycles > 200)
        cycles = 200;
    in_dir(path, sizeof path, "leak.sock");
    in_dir(pd, sizeof pd, "leak-d.sock");
    in_dir(missing, sizeof missing, "missing/x.sock");
    in_dir(regular, sizeof regular, "regular");
    memset(longp, 'l', 150);
    longp[150] = '\0';
    {
        int fd = open(regular, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        close(fd);
    }
    usocket_listen_options_init(&lo);
    lo.reuse_address = true;
    fds = count_fds();
    for (i = 0; i < cycles; i++) {
        usocket_t l, c, s, d, x = 0, srv = 0;
        uint8_t one[1];
        size_t n;
        l = local_listener(path);
        REQUIRE_OK(usocket_connect_local(path, NULL, &c));
        REQUIRE_OK(usocket_accept(l, &s));
        echo_once(c, s, "leak?");
        /* the failures */
        CHECK_RC(usocket_listen_local(path, &lo, &x), USOCKET_ERR_ADDRESS_IN_USE);
        usocket_close(s); /* the probe's connection, if any, is dropped with the listener */
        CHECK_RC(usocket_listen_local(regular, &lo, &x), USOCKET_ERR_ADDRESS_IN_USE);
        CHECK_RC(usocket_connect_local(missing, NULL, &x), USOCKET_ERR_UNKNOWN);
        CHECK_RC(usocket_listen_local(missing, NULL, &x), USOCKET_ERR_UNKNOWN);
        CHECK_RC(usocket_connect_local(longp, NULL, &x), USOCKET_ERR_INVALID_ARGUMENT);
        CHECK_RC(usocket_connect_local(regular, NULL, &x), USOCKET_ERR_CONNECTION_REFUSED);
        d = local_dgram(pd, NULL);
        CHECK_OK(usocket_send_local(d, (const uint8_t *)"d", 1, pd, &n));
        CHECK_OK(usocket_receive_local(d, one, 1, 0, &n, NULL, 0, NULL));
        CHECK_RC(usocket_receive_local(d, one, 1, 0, &n, NULL, 0, NULL), USOCKET_ERR_TIMEOUT);
        usocket_close(d);
        usocket_close(c);
        usocket_close(l);
        /* a stale file replaced, then a server made and closed */
        make_stale(path);
        REQUIRE_OK(usocket_server_new_local(path, NULL, echo_handler, NULL, &srv));
        usocket_close(srv);
        CHECK(!exists(path) && !exists(pd));
    }
    CHECK_EQ_INT(count_fds(), fds);
    CHECK_EQ_INT(usocket_open_handles(), 0);
    cleanup_dir();
}

static const struct check_case cases[] = {
    CHECK_CASE(test_stream_on_a_path),
    CHECK_CASE(test_accept_from_gives_family_0),
    CHECK_CASE(test_client_bound_to_a_path),
    CHECK_CASE(test_abstract_namespace),
    CHECK_CASE(test_longest_and_too_long_paths),
    CHECK_CASE(test_missing_path),
    CHECK_CASE(test_stale_file_replaced_only_with_reuse),
    CHECK_CASE(test_regular_file_never_replaced),
    CHECK_CASE(test_live_socket_never_replaced),
    CHECK_CASE(test_file_removed_only_if_still_ours),
    CHECK_CASE(test_datagrams_with_paths),
    CHECK_CASE(test_datagram_unnamed_connected_and_abstract),
    CHECK_CASE(test_receive_local_is_bounded),
    CHECK_CASE(test_peer_credentials),
    CHECK_CASE(test_wrong_kinds),
    CHECK_CASE(test_path_buffer_rules),
    CHECK_CASE(test_ordinary_calls_on_local_sockets),
    CHECK_CASE(test_close_on_exec),
    CHECK_CASE(test_connect_timeout_on_a_full_queue),
    CHECK_CASE(test_close_under_blocked_calls),
    CHECK_CASE(test_server_new_local),
    CHECK_CASE(test_server_new_local_arguments),
    CHECK_CASE(test_server_next_on_a_local_server),
    CHECK_CASE(test_eintr_is_retried_with_the_time_left),
    CHECK_CASE(test_no_descriptor_leaks),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the case: none may come */
    return CHECK_RUN(argc, argv, cases);
}
