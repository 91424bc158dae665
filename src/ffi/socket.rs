//! Stream sockets: creating, accepting, closing, reading, writing; and the
//! calls every socket shares (kind, descriptor, shutdown).

use std::ffi::c_char;

use super::boundary::{guard, guard_value, in_buf, opt_str, opt_struct, out, out_buf, read_field, read_flag};
use super::usocket_t;
use crate::address::usocket_address;
use crate::constants::{USOCKET_DATAGRAM, USOCKET_DEFAULT_BACKLOG, USOCKET_STREAM};
use crate::error::{Error, Result};
use crate::registry::{self, Object};
use crate::socket::{ConnectOptions, Socket, Wait};
use crate::stream::ListenOptions;
use crate::{datagram, options, stream};

/// Options for `usocket_connect`. Fill with `usocket_connect_options_init` first.
#[repr(C)]
pub struct usocket_connect_options {
    /// `USOCKET_STREAM` (default) or `USOCKET_DATAGRAM`.
    pub protocol: i32,
    /// Read/receive timeout in ms (SO_RCVTIMEO); also bounds the connect. <= 0: none.
    pub timeout_ms: i64,
    /// Bound for the connect alone; <= 0: `timeout_ms` if set, else the OS's.
    pub connect_timeout_ms: i64,
    /// TCP_NODELAY; default true.
    pub nodelay: bool,
    /// Bind to this local host before connecting; NULL: any.
    pub local_host: *const c_char,
    /// Bind to this local port before connecting; 0: any.
    pub local_port: u16,
}

/// Options for `usocket_listen`. Fill with `usocket_listen_options_init` first.
#[repr(C)]
pub struct usocket_listen_options {
    /// SO_REUSEADDR; default false.
    pub reuse_address: bool,
    /// Length of the queue of connections not yet accepted; default 5.
    pub backlog: i32,
}

// ---------------------------------------------------------------------------
// Creating and closing.

/// Fills `o` with the defaults: stream, no timeouts, nodelay on, no local
/// binding. NULL is ignored.
#[no_mangle]
pub extern "C" fn usocket_connect_options_init(o: *mut usocket_connect_options) {
    guard_value((), || {
        let defaults = usocket_connect_options {
            protocol: USOCKET_STREAM,
            timeout_ms: 0,
            connect_timeout_ms: 0,
            nodelay: true,
            local_host: std::ptr::null(),
            local_port: 0,
        };
        // SAFETY: `o` is NULL or valid for writes of the struct.
        if let Some(o) = unsafe { o.as_mut() } {
            *o = defaults;
        }
    })
}

/// The caller's connect options, checked; the defaults for NULL.
///
/// # Safety
/// `o` is NULL or valid for reads of the struct, its `local_host` NULL or a
/// NUL-terminated string.
pub(crate) unsafe fn connect_options(o: *const usocket_connect_options) -> Result<ConnectOptions> {
    // SAFETY: forwarded from the caller.
    let Some(o) = (unsafe { opt_struct(o) }) else {
        return Ok(ConnectOptions::default());
    };
    let protocol = read_field!(o, protocol);
    let datagram = match protocol {
        USOCKET_STREAM => false,
        USOCKET_DATAGRAM => true,
        p => {
            return Err(Error::invalid_argument(format!("protocol {p} is neither USOCKET_STREAM nor USOCKET_DATAGRAM")))
        }
    };
    let timeout_ms = read_field!(o, timeout_ms);
    let connect_timeout_ms = read_field!(o, connect_timeout_ms);
    for (name, v) in [("timeout_ms", timeout_ms), ("connect_timeout_ms", connect_timeout_ms)] {
        if v > options::MAX_TIMEOUT_MS {
            return Err(Error::invalid_argument(format!("{name} {v} is larger than {}", options::MAX_TIMEOUT_MS)));
        }
    }
    Ok(ConnectOptions {
        datagram,
        timeout_ms,
        connect_timeout_ms,
        nodelay: read_flag!(o, nodelay),
        // SAFETY: the caller promises `local_host` is NULL or a C string.
        local_host: unsafe { opt_str(read_field!(o, local_host), "local_host") }?.map(str::to_owned),
        local_port: read_field!(o, local_port),
    })
}

/// Opens a connection (socket-connect). Stream: connects to `host`:`port`,
/// trying each resolved address in order, bounded by the connect timeout;
/// sets TCP_NODELAY unless `nodelay` is false, and SO_RCVTIMEO from
/// `timeout_ms`. Datagram: a socket connected to `host`:`port`, or with
/// `host` NULL an unconnected socket bound to `local_host`:`local_port`
/// (for `usocket_send` with a destination). `opts` NULL: defaults.
/// Errors include CONNECTION_REFUSED, TIMEOUT, NS_HOST_NOT_FOUND,
/// ADDRESS_IN_USE (local binding), INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_connect(
    host: *const c_char,
    port: u16,
    opts: *const usocket_connect_options,
    out: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (out, opts, host) = unsafe { (self::out(out, "out")?, connect_options(opts)?, opt_str(host, "host")?) };
        let s = if opts.datagram {
            datagram::connect(host, port, &opts)?
        } else {
            stream::connect(host.ok_or_else(|| super::boundary::null("host"))?, port, &opts)?
        };
        *out = registry::register_socket(s)?;
        Ok(())
    })
}

/// Like `usocket_connect`, but the connect itself is bounded by
/// `timeout_ms` instead of the options' `connect_timeout_ms`/`timeout_ms`
/// (which still sets the receive timeout): < 0 waits as long as the OS
/// tries, 0 does not wait at all (a connection not made by the time the
/// connect system call returns is TIMEOUT, even where a refusal would come
/// a moment later: usocket's `:timeout 0`), > 0 waits that long. Datagram
/// sockets connect at once and ignore it.
#[no_mangle]
pub extern "C" fn usocket_connect_for(
    host: *const c_char,
    port: u16,
    opts: *const usocket_connect_options,
    timeout_ms: i64,
    out: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (out, opts, host) = unsafe { (self::out(out, "out")?, connect_options(opts)?, opt_str(host, "host")?) };
        if timeout_ms > crate::constants::USOCKET_MAX_TIMEOUT_MS {
            return Err(Error::invalid_argument(format!("timeout_ms {timeout_ms} is larger than USOCKET_MAX_TIMEOUT_MS")));
        }
        let s = if opts.datagram {
            datagram::connect(host, port, &opts)?
        } else {
            stream::connect_within(host.ok_or_else(|| super::boundary::null("host"))?, port, &opts, Some(timeout_ms))?
        };
        *out = registry::register_socket(s)?;
        Ok(())
    })
}

/// Fills `o` with the defaults: no SO_REUSEADDR, backlog
/// `USOCKET_DEFAULT_BACKLOG` (5). NULL is ignored.
#[no_mangle]
pub extern "C" fn usocket_listen_options_init(o: *mut usocket_listen_options) {
    guard_value((), || {
        // SAFETY: `o` is NULL or valid for writes of the struct.
        if let Some(o) = unsafe { o.as_mut() } {
            *o = usocket_listen_options { reuse_address: false, backlog: USOCKET_DEFAULT_BACKLOG };
        }
    })
}

/// The caller's listen options, checked; the defaults for NULL.
///
/// # Safety
/// `o` is NULL or valid for reads of the struct.
pub(crate) unsafe fn listen_options(o: *const usocket_listen_options) -> ListenOptions {
    // SAFETY: forwarded from the caller.
    match unsafe { opt_struct(o) } {
        None => ListenOptions::default(),
        Some(o) => ListenOptions { reuse_address: read_flag!(o, reuse_address), backlog: read_field!(o, backlog) },
    }
}

/// Listens on `host`:`port` (socket-listen). `host` NULL, "" or "0.0.0.0":
/// every IPv4 interface; "::": every interface, IPv6 and IPv4. Port 0 picks
/// a free port (read it with `usocket_local_name`). `opts` NULL: defaults.
#[no_mangle]
pub extern "C" fn usocket_listen(
    host: *const c_char,
    port: u16,
    opts: *const usocket_listen_options,
    out: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (out, host, opts) = unsafe { (self::out(out, "out")?, opt_str(host, "host")?, listen_options(opts)) };
        *out = registry::register_socket(stream::listen(host, port, &opts)?)?;
        Ok(())
    })
}

/// Accepts as `wait` says and registers the client; writes `peer` if given.
///
/// # Safety
/// `out` and `peer` are NULL or valid for writes.
unsafe fn accept_into(listener: usocket_t, wait: Wait, out: *mut usocket_t, peer: *mut usocket_address) -> Result<()> {
    // SAFETY: forwarded from the caller.
    let (out, peer) = unsafe { (self::out(out, "out")?, peer.as_mut()) };
    let l = registry::socket(listener)?;
    let (s, addr) = stream::accept(&l, peer.is_some(), wait)?;
    let local = s.is_local();
    *out = registry::register_socket(s)?;
    if let Some(peer) = peer {
        *peer = match addr {
            Some(a) if !local => usocket_address::from_socket_addr(&a),
            _ => usocket_address::LOCAL,
        };
    }
    Ok(())
}

/// Accepts a connection (socket-accept): blocks until a client connects,
/// the listener's receive timeout passes (TIMEOUT) or the listener is
/// closed (INVALID_HANDLE). The new socket inherits the listener's
/// TCP_NODELAY and receive timeout.
#[no_mangle]
pub extern "C" fn usocket_accept(listener: usocket_t, out: *mut usocket_t) -> i32 {
    // SAFETY: `out` is NULL or valid (the C signature).
    guard(|| unsafe { accept_into(listener, Wait::SocketTimeout, out, std::ptr::null_mut()) })
}

/// Like `usocket_accept`, also giving the client's address (`peer` may be
/// NULL; family 0 for a Unix-domain client).
#[no_mangle]
pub extern "C" fn usocket_accept_from(listener: usocket_t, out: *mut usocket_t, peer: *mut usocket_address) -> i32 {
    // SAFETY: `out` and `peer` are NULL or valid (the C signature).
    guard(|| unsafe { accept_into(listener, Wait::SocketTimeout, out, peer) })
}

/// Like `usocket_accept_from`, but bounded by `timeout_ms` (< 0 forever, 0
/// do not wait) instead of the listener's receive timeout, which it neither
/// reads nor changes. TIMEOUT when no client came in time.
#[no_mangle]
pub extern "C" fn usocket_accept_for(
    listener: usocket_t,
    timeout_ms: i64,
    out: *mut usocket_t,
    peer: *mut usocket_address,
) -> i32 {
    // SAFETY: `out` and `peer` are NULL or valid (the C signature).
    guard(|| unsafe { accept_into(listener, Wait::For(timeout_ms), out, peer) })
}

/// Closes any handle: a socket, a wait list or a server. A call blocked on
/// it in another thread returns INVALID_HANDLE within 100 ms; the
/// descriptor is released when the last such call has returned. A second
/// close: INVALID_HANDLE, no harm. A closed socket leaves its wait lists.
#[no_mangle]
pub extern "C" fn usocket_close(s: usocket_t) -> i32 {
    guard(|| {
        match registry::remove(s)? {
            Object::Socket(sock) => Socket::close(sock),
            Object::WaitList(list) => list.close(),
            Object::Server(server) => server.close(),
        }
        Ok(())
    })
}

/// Shuts down a connected socket: `USOCKET_SHUT_INPUT`, `_OUTPUT` or `_BOTH`.
#[no_mangle]
pub extern "C" fn usocket_shutdown(s: usocket_t, how: i32) -> i32 {
    guard(|| stream::shutdown(&*registry::socket(s)?, how))
}

/// The kind of socket: `USOCKET_KIND_STREAM`, `_STREAM_SERVER` or `_DATAGRAM`.
#[no_mangle]
pub extern "C" fn usocket_kind(s: usocket_t, kind: *mut i32) -> i32 {
    guard(|| {
        // SAFETY: `kind` is NULL or valid (the C signature).
        let kind = unsafe { out(kind, "kind") }?;
        *kind = registry::socket(s)?.kind as i32;
        Ok(())
    })
}

/// The OS descriptor, still owned by the library: do not close it, and
/// do not use it after `usocket_close`. Handy for poll loops of your own.
#[no_mangle]
pub extern "C" fn usocket_fd(s: usocket_t, fd: *mut i32) -> i32 {
    guard(|| {
        // SAFETY: `fd` is NULL or valid (the C signature).
        let fd = unsafe { out(fd, "fd") }?;
        *fd = registry::socket(s)?.fd();
        Ok(())
    })
}

/// A new descriptor for the same socket (close-on-exec), owned by the
/// caller, who must close it; the handle stays open and owned by the
/// library. For a runtime whose own stream type must own a descriptor.
/// `usocket_close` closes only the library's descriptor: while a duplicate
/// is open the connection stays up, so end it for every descriptor with
/// `usocket_shutdown` first. (A close that must wake another thread's
/// blocked call shuts the socket down to do so, which ends it for the
/// duplicates too; with no call in flight it never does.)
#[no_mangle]
pub extern "C" fn usocket_dup_fd(s: usocket_t, fd: *mut i32) -> i32 {
    guard(|| {
        // SAFETY: `fd` is NULL or valid (the C signature).
        let fd = unsafe { out(fd, "fd") }?;
        *fd = registry::socket(s)?.dup_fd()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Stream I/O.

/// Reads from a stream socket as `wait` says.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes; `nread` NULL or valid.
#[inline]
unsafe fn read_into(s: usocket_t, buf: *mut u8, len: usize, wait: Wait, nread: *mut usize) -> Result<()> {
    // SAFETY: forwarded from the caller.
    let (nread, buf) = unsafe { (out(nread, "nread")?, out_buf(buf, len, "buf")?) };
    *nread = stream::read_waiting(&*registry::socket(s)?, buf, wait)?;
    Ok(())
}

/// Reads up to `len` bytes from a stream socket: blocks until at least one
/// byte, end of file (`*nread` = 0), the read timeout (TIMEOUT) or an error
/// (CONNECTION_RESET, ...). `len` 0 returns at once with `*nread` = 0.
#[no_mangle]
pub extern "C" fn usocket_read(s: usocket_t, buf: *mut u8, len: usize, nread: *mut usize) -> i32 {
    // SAFETY: the pointers are as the C signature says.
    guard(|| unsafe { read_into(s, buf, len, Wait::SocketTimeout, nread) })
}

/// Like `usocket_read`, but bounded by `timeout_ms` (< 0 forever, 0 do not
/// wait) instead of the socket's receive timeout, which it neither reads
/// nor changes. TIMEOUT with nothing consumed when no byte came in time.
#[no_mangle]
pub extern "C" fn usocket_read_for(s: usocket_t, buf: *mut u8, len: usize, timeout_ms: i64, nread: *mut usize) -> i32 {
    // SAFETY: the pointers are as the C signature says.
    guard(|| unsafe { read_into(s, buf, len, Wait::For(timeout_ms), nread) })
}

/// Writes all `len` bytes to a stream socket, or fails: SHUTDOWN when the
/// peer has gone (never SIGPIPE), CONNECTION_RESET, TIMEOUT (the send
/// timeout bounds the whole write). On failure part of the buffer may have
/// been sent already and `*nwritten` is not written: callers that must know
/// how much went out use `usocket_write_some`.
#[no_mangle]
pub extern "C" fn usocket_write(s: usocket_t, buf: *const u8, len: usize, nwritten: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: the pointers are as the C signature says.
        let (nwritten, buf) = unsafe { (out(nwritten, "nwritten")?, in_buf(buf, len, "buf")?) };
        *nwritten = stream::write(&*registry::socket(s)?, buf)?;
        Ok(())
    })
}

/// Writes at least one byte and as many as fit now, waiting up to
/// `timeout_ms` for room in the send buffer (0: no wait; < 0: as a blocking
/// write, up to the send timeout). `*nwritten` gets the count (>= 1 when
/// `len` > 0); TIMEOUT when not one byte could be written in time, so no
/// byte is ever lost. For bindings that write in slices to stay
/// interruptible; plain callers use `usocket_write`.
#[no_mangle]
pub extern "C" fn usocket_write_some(
    s: usocket_t,
    buf: *const u8,
    len: usize,
    timeout_ms: i64,
    nwritten: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are as the C signature says.
        let (nwritten, buf) = unsafe { (out(nwritten, "nwritten")?, in_buf(buf, len, "buf")?) };
        *nwritten = stream::write_some(&*registry::socket(s)?, buf, timeout_ms)?;
        Ok(())
    })
}

/// usocket's LISTEN: `*available` is true when a read (or, on a listener,
/// an accept; on a datagram socket, a receive) would not block.
#[no_mangle]
pub extern "C" fn usocket_input_available(s: usocket_t, available: *mut bool) -> i32 {
    guard(|| {
        // SAFETY: `available` is NULL or valid (the C signature).
        let available = unsafe { out(available, "available") }?;
        *available = stream::input_available(&*registry::socket(s)?)?;
        Ok(())
    })
}

/// How many handles are open in this process (sockets, wait lists,
/// servers): for leak checks. 0 on a panic.
#[no_mangle]
pub extern "C" fn usocket_open_handles() -> usize {
    guard_value(0, registry::live_count)
}
