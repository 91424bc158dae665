//! The C ABI of Unix-domain sockets (AF_UNIX): connect, listen, paths,
//! peer credentials, datagrams to and from paths, and a local stream server.

use std::ffi::{c_char, c_void};

use super::boundary::{guard, in_buf, opt_str, out, out_buf, req_str};
use super::server::{handler, register, server_options, usocket_server_options, usocket_tcp_handler};
use super::socket::{connect_options, listen_options, usocket_connect_options, usocket_listen_options};
use super::usocket_t;
use crate::error::{Error, Result};
use crate::local;
use crate::registry::{self, Object};
use crate::server::Server;
use crate::stream::ListenOptions;

/// Writes `text` NUL-terminated into `buf` of `cap` bytes and its length
/// (without the NUL) into `*len`; a `cap` below `*len + 1` is
/// INVALID_ARGUMENT with `*len` written all the same.
///
/// # Safety
/// `buf` is NULL or valid for writes of `cap` bytes.
unsafe fn write_path(text: &[u8], buf: *mut c_char, cap: usize, len: &mut usize) -> Result<()> {
    *len = text.len();
    if cap < text.len() + 1 {
        return Err(Error::invalid_argument(format!(
            "a buffer of {cap} bytes is too small for a path of {} bytes and its NUL",
            text.len()
        )));
    }
    // SAFETY: forwarded from the caller.
    let dst = unsafe { out_buf(buf as *mut u8, cap, "buf") }?;
    dst[..text.len()].copy_from_slice(text);
    dst[text.len()] = 0;
    Ok(())
}

/// Opens a Unix-domain socket (`AF_UNIX`). `path` is UTF-8; a leading `@`
/// names Linux's abstract namespace (`@x` is the abstract name `x`, its
/// address exactly as long as the name, so other programs' `@x` is ours).
/// A path (or abstract name) longer than `USOCKET_LOCAL_PATH_MAX` (107)
/// bytes, or "": INVALID_ARGUMENT.
///
/// - `opts->protocol` `USOCKET_STREAM` (default): connects to `path`
///   (required: NULL is INVALID_ARGUMENT), bounded by
///   `connect_timeout_ms`, else `timeout_ms` (a Unix-domain connect waits
///   only while the listener's queue is full), else as long as the OS waits.
/// - `USOCKET_DATAGRAM`: connected to `path` (send with `usocket_send_local`
///   and path NULL), or with `path` NULL unconnected (send with a path);
///   receive with `usocket_receive_local`.
/// - `opts->local_host`, if not NULL, is a path to bind to first (the
///   socket's own address; its file is removed when the socket is closed);
///   else the socket is unnamed. `timeout_ms` > 0 sets the receive timeout.
///   `nodelay` and `local_port` do not apply and are ignored.
///
/// Errors: CONNECTION_REFUSED (nobody accepts at `path`: a stale socket
/// file, or a file that is not a socket), UNKNOWN with
/// `usocket_last_os_error()` ENOENT (no such path) or EPROTOTYPE (a socket
/// of the other protocol), OPERATION_NOT_PERMITTED (no permission),
/// TIMEOUT, ADDRESS_IN_USE (the local path), INVALID_ARGUMENT. Every call
/// on the handle works as on a TCP or UDP socket, except the IP names:
/// `usocket_local_name` and `usocket_peer_name` are WRONG_KIND (use
/// `usocket_local_path`, `usocket_peer_path`), and TCP_NODELAY does not apply.
#[no_mangle]
pub extern "C" fn usocket_connect_local(
    path: *const c_char,
    opts: *const usocket_connect_options,
    out: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (out, opts, path) = unsafe { (self::out(out, "out")?, connect_options(opts)?, opt_str(path, "path")?) };
        *out = registry::register_socket(local::connect(path, &opts)?)?;
        Ok(())
    })
}

/// Listens on a Unix-domain stream socket at `path` (`@name`: abstract).
/// `opts` NULL: defaults (backlog 5, no reuse). A file at `path` is
/// ADDRESS_IN_USE, except that with `reuse_address` a stale socket file
/// (one nobody accepts on) is replaced; never a file that is not a socket
/// (nor a symbolic link), never a live socket. Whether a socket file is
/// stale is asked by connecting to it once: refused means stale; a live
/// server sees that connection end at once. Closing the listener removes
/// the file it created (if it is still that file). Errors also: UNKNOWN
/// with ENOENT (no such directory), OPERATION_NOT_PERMITTED,
/// INVALID_ARGUMENT (path too long, negative backlog). Accept with
/// `usocket_accept` and the other accept calls: the client's address is
/// family 0, zero octets, port 0.
#[no_mangle]
pub extern "C" fn usocket_listen_local(
    path: *const c_char,
    opts: *const usocket_listen_options,
    out: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (out, path, opts) = unsafe { (self::out(out, "out")?, req_str(path, "path")?, listen_options(opts)) };
        *out = registry::register_socket(local::listen(path, &opts)?)?;
        Ok(())
    })
}

/// The socket's own path, NUL-terminated, into `buf` of `cap` bytes;
/// `*len` gets its length without the NUL: `@name` for an abstract name,
/// "" for an unnamed socket. `cap` must be at least `*len + 1`, else
/// INVALID_ARGUMENT with `*len` set all the same (so `cap` 0 with `buf`
/// NULL asks the length); `USOCKET_LOCAL_PATH_MAX + 2` (109) always
/// suffices. Works on the handle of a server made with
/// `usocket_server_new_local`. On a TCP or UDP socket: WRONG_KIND.
#[no_mangle]
pub extern "C" fn usocket_local_path(s: usocket_t, buf: *mut c_char, cap: usize, len: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: `len` is NULL or valid (the C signature).
        let len = unsafe { out(len, "len") }?;
        let text = match registry::get(s)? {
            Object::Socket(sock) => local::local_path(&sock)?,
            Object::Server(server) => match server.local_path() {
                Some(p) => p.as_bytes().to_vec(),
                None => return Err(Error::wrong_kind("usocket_local_path needs a Unix-domain server, not a TCP or UDP one")),
            },
            Object::WaitList(_) => return Err(Error::wrong_kind("a wait list has no path")),
        };
        // SAFETY: `buf` is NULL or valid for `cap` bytes (the C signature).
        unsafe { write_path(&text, buf, cap, len) }
    })
}

/// The peer's path of a connected Unix-domain socket, with the buffer
/// rules of `usocket_local_path`: "" when the peer is unnamed (a client
/// that did not bind, as most do). On a listener, a server, a TCP or UDP
/// socket: WRONG_KIND.
#[no_mangle]
pub extern "C" fn usocket_peer_path(s: usocket_t, buf: *mut c_char, cap: usize, len: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: `len` is NULL or valid (the C signature).
        let len = unsafe { out(len, "len") }?;
        let text = local::peer_path(&*registry::socket(s)?)?;
        // SAFETY: `buf` is NULL or valid for `cap` bytes (the C signature).
        unsafe { write_path(&text, buf, cap, len) }
    })
}

/// The peer process's pid, uid and gid (SO_PEERCRED: as they were when the
/// connection was made) of a connected Unix-domain stream socket. On any
/// other socket: WRONG_KIND. No pointer may be NULL.
#[no_mangle]
pub extern "C" fn usocket_peer_credentials(s: usocket_t, pid: *mut i32, uid: *mut u32, gid: *mut u32) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid (the C signature).
        let (pid, uid, gid) = unsafe { (out(pid, "pid")?, out(uid, "uid")?, out(gid, "gid")?) };
        let (p, u, g) = local::peer_credentials(&*registry::socket(s)?)?;
        (*pid, *uid, *gid) = (p, u, g);
        Ok(())
    })
}

/// Sends one datagram from a Unix-domain datagram socket: to `path`
/// (`@name`: abstract), or with `path` NULL to the connected peer
/// (INVALID_ARGUMENT on an unconnected socket). Blocks, up to the send
/// timeout, while the receiver's queue is full. Errors: CONNECTION_REFUSED
/// (nobody is bound at `path`), UNKNOWN with ENOENT (no such path) or
/// EMSGSIZE (larger than the socket's send buffer allows), TIMEOUT;
/// WRONG_KIND on anything but a Unix-domain datagram socket.
#[no_mangle]
pub extern "C" fn usocket_send_local(
    s: usocket_t,
    buf: *const u8,
    len: usize,
    path: *const c_char,
    nsent: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (nsent, buf, path) = unsafe { (out(nsent, "nsent")?, in_buf(buf, len, "buf")?, opt_str(path, "path")?) };
        *nsent = local::send(&*registry::socket(s)?, buf, path)?;
        Ok(())
    })
}

/// Receives one datagram on a Unix-domain datagram socket into `buf` (a
/// longer one is cut to `len` and the rest dropped, as recvfrom does),
/// waiting up to `timeout_ms` (< 0: forever, 0: not at all) whatever the
/// socket's receive timeout, which it neither reads nor changes: TIMEOUT,
/// nothing consumed. `from` (may be NULL) gets the sender's path,
/// NUL-terminated, cut to fit `from_cap` bytes (nothing written when
/// `from_cap` is 0); `*from_len` its whole length ("" and 0 for an unnamed
/// sender, `@name` for an abstract one); the datagram is never lost for a
/// short `from`. `from_len` may be NULL when `from` is. A close from
/// another thread: INVALID_HANDLE. On anything but a Unix-domain datagram
/// socket: WRONG_KIND.
#[no_mangle]
pub extern "C" fn usocket_receive_local(
    s: usocket_t,
    buf: *mut u8,
    len: usize,
    timeout_ms: i64,
    nreceived: *mut usize,
    from: *mut c_char,
    from_cap: usize,
    from_len: *mut usize,
) -> i32 {
    guard(|| {
        if !from.is_null() && from_len.is_null() {
            return Err(Error::invalid_argument("from_len is NULL while from is not"));
        }
        // SAFETY: each pointer is NULL or valid as the C signature says. A
        // NULL `from` is an empty buffer: nothing is written to it.
        let (nreceived, buf, from, from_len) = unsafe {
            (
                out(nreceived, "nreceived")?,
                out_buf(buf, len, "buf")?,
                if from.is_null() { &mut [][..] } else { out_buf(from as *mut u8, from_cap, "from")? },
                from_len.as_mut(),
            )
        };
        let want_from = from_len.is_some();
        let (n, sender) = local::receive(&*registry::socket(s)?, buf, timeout_ms, want_from)?;
        *nreceived = n;
        if let (Some(sender), Some(from_len)) = (sender, from_len) {
            if !from.is_empty() {
                let k = sender.len().min(from.len() - 1);
                from[..k].copy_from_slice(&sender[..k]);
                from[k] = 0;
            }
            *from_len = sender.len();
        }
        Ok(())
    })
}

/// Creates a Unix-domain stream server (usocket's socket-server on a path):
/// listens at `path` (`@name`: abstract) and serves nothing until
/// `usocket_server_run` or `usocket_server_spawn`, exactly as a TCP server
/// made with `usocket_server_new`, whose notes apply. `opts` NULL: the
/// defaults of `usocket_server_options_init` (`reuse_address` true: a stale
/// socket file is replaced, never a live socket or another file);
/// `opts->protocol` must be `USOCKET_STREAM` (else INVALID_ARGUMENT);
/// `timeout_ms` and `max_buffer_size` do not apply. The handler gets a
/// `peer` of family 0, zero octets, port 0: ask `usocket_peer_credentials`
/// or `usocket_peer_path` about the client. With a NULL handler the caller
/// serves with `usocket_server_next` (whose `peer` is family 0 too).
/// `usocket_local_path` on the server gives its path (`usocket_local_name`
/// is WRONG_KIND). `usocket_server_stop` closes the listening socket and
/// removes its file at once.
#[no_mangle]
pub extern "C" fn usocket_server_new_local(
    path: *const c_char,
    opts: *const usocket_server_options,
    tcp: usocket_tcp_handler,
    user_data: *mut c_void,
    server: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (server, path, opts) = unsafe { (out(server, "server")?, req_str(path, "path")?, server_options(opts)?) };
        if opts.datagram {
            return Err(Error::invalid_argument("usocket_server_new_local serves streams: protocol must be USOCKET_STREAM"));
        }
        // The server's own TCP handler: a Unix-domain client's `peer` is
        // family 0; NULL: the caller serves with usocket_server_next.
        let handler = handler(&opts, tcp, None, user_data);
        let socket = local::listen(path, &ListenOptions { reuse_address: opts.reuse_address, backlog: opts.backlog })?;
        let unused_ip = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let s = Server::from_socket(socket, unused_ip, Some(path.to_owned()), &opts, handler)?;
        *server = register(s)?;
        Ok(())
    })
}
