//! The C ABI: thin `extern "C"` functions over the safe core.
//!
//! Conventions (also in the header and the README):
//! - every function returns `USOCKET_OK` (0) or a negative `USOCKET_ERR_*`;
//!   out-pointers are written only on success;
//! - every pointer is checked: NULL where one is not allowed, a non-UTF-8
//!   string, a length that does not fit or an unknown enum value is
//!   `USOCKET_ERR_INVALID_ARGUMENT`;
//! - a panic never crosses the boundary: it is `USOCKET_ERR_INTERNAL`;
//! - failures are recorded in a thread-local last error.

#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::address::{self, usocket_address};
use crate::error::{self, Error, Result, USOCKET_ERR_INTERNAL, USOCKET_ERR_INVALID_ARGUMENT, USOCKET_OK};
use crate::registry::{self, Object};
use crate::socket::{Kind, Socket};
use crate::stream::{ConnectOptions, ListenOptions};
use crate::wait::WaitList;
use crate::{datagram, options, stream, wait};

pub mod local; // core-local: Unix-domain sockets
pub mod server;

/// A handle: a socket, a wait list or a server. 0 is never a valid handle,
/// and a handle is never reused after `usocket_close`.
pub type usocket_t = u64;

/// `protocol`: TCP.
pub const USOCKET_STREAM: i32 = 0;
/// `protocol`: UDP.
pub const USOCKET_DATAGRAM: i32 = 1;

/// `usocket_shutdown`: no more reading.
pub const USOCKET_SHUT_INPUT: i32 = 1;
/// `usocket_shutdown`: no more writing (sends FIN).
pub const USOCKET_SHUT_OUTPUT: i32 = 2;
/// `usocket_shutdown`: both.
pub const USOCKET_SHUT_BOTH: i32 = 3;

/// `usocket_kind`: a connected TCP socket (stream-usocket).
pub const USOCKET_KIND_STREAM: i32 = 0;
/// `usocket_kind`: a listening TCP socket (stream-server-usocket).
pub const USOCKET_KIND_STREAM_SERVER: i32 = 1;
/// `usocket_kind`: a UDP socket (datagram-usocket).
pub const USOCKET_KIND_DATAGRAM: i32 = 2;

/// `usocket_wait_for_input` state: not ready.
pub const USOCKET_STATE_NONE: u8 = 0;
/// `usocket_wait_for_input` state: a read (or accept) would not block.
pub const USOCKET_STATE_READ: u8 = 1;

/// Option: receive timeout (SO_RCVTIMEO) in ms, 0 for none.
pub const USOCKET_OPT_RECEIVE_TIMEOUT: i32 = 0;
/// Option: send timeout (SO_SNDTIMEO) in ms, 0 for none.
pub const USOCKET_OPT_SEND_TIMEOUT: i32 = 1;
/// Option: TCP_NODELAY, 0 or 1 (stream sockets only).
pub const USOCKET_OPT_TCP_NODELAY: i32 = 2;
/// Option: SO_REUSEADDR, 0 or 1.
pub const USOCKET_OPT_REUSE_ADDRESS: i32 = 3;
/// Option: SO_KEEPALIVE, 0 or 1.
pub const USOCKET_OPT_KEEPALIVE: i32 = 4;
/// Option: SO_BROADCAST, 0 or 1.
pub const USOCKET_OPT_BROADCAST: i32 = 5;
/// Option: SO_RCVBUF in bytes (Linux reports twice what was set).
pub const USOCKET_OPT_RECEIVE_BUFFER: i32 = 6;
/// Option: SO_SNDBUF in bytes (Linux reports twice what was set).
pub const USOCKET_OPT_SEND_BUFFER: i32 = 7;

/// The largest datagram `usocket_send` accepts: 65507 bytes.
pub const USOCKET_MAX_DATAGRAM_PACKET_SIZE: usize = 65507;

/// The longest string `usocket_address_format` writes, with its NUL.
pub const USOCKET_ADDRESS_STRLEN: usize = 46;

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
// The boundary: panics, pointers, strings.

/// Runs `f`, turning its error or a panic into a status and the last error.
#[inline]
pub(crate) fn guard<F: FnOnce() -> Result<()>>(f: F) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => USOCKET_OK,
        Ok(Err(e)) => {
            error::set_last_error(&e);
            e.code
        }
        Err(_) => {
            error::set_last_error(&Error::new(USOCKET_ERR_INTERNAL, "internal error: a panic was caught at the C boundary"));
            USOCKET_ERR_INTERNAL
        }
    }
}

fn null(name: &str) -> Error {
    Error::new(USOCKET_ERR_INVALID_ARGUMENT, format!("{name} is NULL"))
}

/// Checks an out-pointer; write through it only on success.
#[inline]
pub(crate) unsafe fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null(name))
}

/// A C string that may be NULL.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p)
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// A C string that must not be NULL.
pub(crate) unsafe fn req_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    opt_str(p, name)?.ok_or_else(|| null(name))
}

fn check_len(len: usize, name: &str) -> Result<()> {
    if len > isize::MAX as usize {
        return Err(Error::invalid_argument(format!("{name} length {len} does not fit")));
    }
    Ok(())
}

/// A byte buffer to read from; NULL only with length 0.
#[inline]
pub(crate) unsafe fn in_buf<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    check_len(len, name)?;
    Ok(std::slice::from_raw_parts(p, len))
}

/// A byte buffer to write into; NULL only with length 0.
#[inline]
pub(crate) unsafe fn out_buf<'a>(p: *mut u8, len: usize, name: &str) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(null(name));
    }
    check_len(len, name)?;
    Ok(std::slice::from_raw_parts_mut(p, len))
}

/// Reads a C `bool` field without assuming it holds 0 or 1.
unsafe fn read_bool(p: *const bool) -> bool {
    std::ptr::read(p as *const u8) != 0
}

pub(crate) fn register_socket(s: Arc<Socket>) -> Result<u64> {
    let handle = registry::insert(Object::Socket(s.clone()))?;
    s.set_handle(handle);
    Ok(handle)
}

// ---------------------------------------------------------------------------
// Errors and version.

/// The code of this thread's last failure (`USOCKET_OK` if none yet).
/// A successful call does not reset it.
#[no_mangle]
pub extern "C" fn usocket_last_error() -> i32 {
    error::last_error_code()
}

/// The errno behind this thread's last failure, 0 if none.
#[no_mangle]
pub extern "C" fn usocket_last_os_error() -> i32 {
    error::last_os_error()
}

/// This thread's last failure as text; "" if none. Valid until this
/// thread's next failing call; never NULL.
#[no_mangle]
pub extern "C" fn usocket_last_error_message() -> *const c_char {
    error::last_error_message_ptr()
}

/// usocket's condition name for a code ("connection-refused-error"); a
/// static string, never NULL; "unknown-error" for a code not in use.
#[no_mangle]
pub extern "C" fn usocket_error_name(code: i32) -> *const c_char {
    error::error_name_cstr(code).as_ptr() as *const c_char
}

/// The library's version, "MAJOR.MINOR.PATCH"; a static string.
#[no_mangle]
pub extern "C" fn usocket_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

// ---------------------------------------------------------------------------
// Addresses.

/// Writes the address's IP as text ("127.0.0.1", "::1"), NUL-terminated,
/// into `buf` of `cap` bytes (`USOCKET_ADDRESS_STRLEN` always suffices).
/// A family other than 4 or 6, or a buffer too small: INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_address_format(a: *const usocket_address, buf: *mut c_char, cap: usize) -> i32 {
    guard(|| unsafe {
        let a = a.as_ref().ok_or_else(|| null("address"))?;
        let text = a.format_ip()?;
        let out = out_buf(buf as *mut u8, cap, "buf")?;
        if out.len() < text.len() + 1 {
            return Err(Error::invalid_argument(format!("buffer of {cap} bytes is too small for {text:?}")));
        }
        out[..text.len()].copy_from_slice(text.as_bytes());
        out[text.len()] = 0;
        Ok(())
    })
}

/// Resolves `host` (get-hosts-by-name): writes up to `cap` addresses (port 0)
/// to `out` and sets `*count` to how many the name has, which may be more
/// than `cap`. `out` may be NULL when `cap` is 0. Literals need no look-up.
/// Failures: NS_HOST_NOT_FOUND, NS_TRY_AGAIN, NS_NO_RECOVERY, NS_UNKNOWN.
#[no_mangle]
pub extern "C" fn usocket_resolve(host: *const c_char, out: *mut usocket_address, cap: usize, count: *mut usize) -> i32 {
    guard(|| unsafe {
        let host = req_str(host, "host")?;
        let count = self::out(count, "count")?;
        if cap > 0 && out.is_null() {
            return Err(null("out"));
        }
        check_len(cap, "out")?;
        let ips = address::resolve(host)?;
        for (i, ip) in ips.iter().take(cap).enumerate() {
            *out.add(i) = usocket_address::from_socket_addr(&std::net::SocketAddr::new(*ip, 0));
        }
        *count = ips.len();
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Creating and closing.

/// Fills `o` with the defaults: stream, no timeouts, nodelay on, no local
/// binding. NULL is ignored.
#[no_mangle]
pub extern "C" fn usocket_connect_options_init(o: *mut usocket_connect_options) {
    if o.is_null() {
        return;
    }
    unsafe {
        o.write(usocket_connect_options {
            protocol: USOCKET_STREAM,
            timeout_ms: 0,
            connect_timeout_ms: 0,
            nodelay: true,
            local_host: std::ptr::null(),
            local_port: 0,
        })
    }
}

unsafe fn connect_options(o: *const usocket_connect_options) -> Result<ConnectOptions> {
    if o.is_null() {
        return Ok(ConnectOptions::default());
    }
    let protocol = std::ptr::addr_of!((*o).protocol).read();
    let datagram = match protocol {
        USOCKET_STREAM => false,
        USOCKET_DATAGRAM => true,
        p => return Err(Error::invalid_argument(format!("protocol {p} is neither USOCKET_STREAM nor USOCKET_DATAGRAM"))),
    };
    let timeout_ms = std::ptr::addr_of!((*o).timeout_ms).read();
    let connect_timeout_ms = std::ptr::addr_of!((*o).connect_timeout_ms).read();
    for (name, v) in [("timeout_ms", timeout_ms), ("connect_timeout_ms", connect_timeout_ms)] {
        if v > options::MAX_TIMEOUT_MS {
            return Err(Error::invalid_argument(format!("{name} {v} is larger than {}", options::MAX_TIMEOUT_MS)));
        }
    }
    Ok(ConnectOptions {
        datagram,
        timeout_ms,
        connect_timeout_ms,
        nodelay: read_bool(std::ptr::addr_of!((*o).nodelay)),
        local_host: opt_str(std::ptr::addr_of!((*o).local_host).read(), "local_host")?.map(str::to_owned),
        local_port: std::ptr::addr_of!((*o).local_port).read(),
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
pub extern "C" fn usocket_connect(host: *const c_char, port: u16, opts: *const usocket_connect_options, out: *mut usocket_t) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let opts = connect_options(opts)?;
        let host = opt_str(host, "host")?;
        let s = if opts.datagram {
            datagram::connect(host, port, &opts)?
        } else {
            let host = host.ok_or_else(|| null("host"))?;
            stream::connect(host, port, &opts)?
        };
        *out = register_socket(s)?;
        Ok(())
    })
}

/// Fills `o` with the defaults: no SO_REUSEADDR, backlog 5. NULL is ignored.
#[no_mangle]
pub extern "C" fn usocket_listen_options_init(o: *mut usocket_listen_options) {
    if o.is_null() {
        return;
    }
    unsafe { o.write(usocket_listen_options { reuse_address: false, backlog: 5 }) }
}

/// Listens on `host`:`port` (socket-listen). `host` NULL, "" or "0.0.0.0":
/// every IPv4 interface; "::": every interface, IPv6 and IPv4. Port 0 picks
/// a free port (read it with `usocket_local_name`). `opts` NULL: defaults.
#[no_mangle]
pub extern "C" fn usocket_listen(host: *const c_char, port: u16, opts: *const usocket_listen_options, out: *mut usocket_t) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let host = opt_str(host, "host")?;
        let opts = if opts.is_null() {
            ListenOptions::default()
        } else {
            ListenOptions {
                reuse_address: read_bool(std::ptr::addr_of!((*opts).reuse_address)),
                backlog: std::ptr::addr_of!((*opts).backlog).read(),
            }
        };
        let s = stream::listen(host, port, &opts)?;
        *out = register_socket(s)?;
        Ok(())
    })
}

/// Accepts a connection (socket-accept): blocks until a client connects,
/// the listener's receive timeout passes (TIMEOUT) or the listener is
/// closed (INVALID_HANDLE). The new socket inherits the listener's
/// TCP_NODELAY and receive timeout.
#[no_mangle]
pub extern "C" fn usocket_accept(listener: usocket_t, out: *mut usocket_t) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let l = registry::socket(listener)?;
        let (s, _) = stream::accept(&l, false)?;
        *out = register_socket(s)?;
        Ok(())
    })
}

/// Like `usocket_accept`, also giving the client's address (`peer` may be NULL).
#[no_mangle]
pub extern "C" fn usocket_accept_from(listener: usocket_t, out: *mut usocket_t, peer: *mut usocket_address) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let l = registry::socket(listener)?;
        let (s, addr) = stream::accept(&l, !peer.is_null())?;
        *out = register_socket(s)?;
        if let Some(peer) = peer.as_mut() {
            // core-local: a Unix-domain peer (no IP address) is family 0, zero octets, port 0.
            *peer = addr.map_or(local::NO_ADDRESS, |a| usocket_address::from_socket_addr(&a));
        }
        Ok(())
    })
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
    guard(|| {
        let sock = registry::socket(s)?;
        stream::shutdown(&sock, how)
    })
}

/// The kind of socket: `USOCKET_KIND_STREAM`, `_STREAM_SERVER` or `_DATAGRAM`.
#[no_mangle]
pub extern "C" fn usocket_kind(s: usocket_t, kind: *mut i32) -> i32 {
    guard(|| unsafe {
        let kind = out(kind, "kind")?;
        *kind = registry::socket(s)?.kind as i32;
        Ok(())
    })
}

/// The OS descriptor, still owned by the library: do not close it, and
/// do not use it after `usocket_close`. Handy for poll loops of your own.
#[no_mangle]
pub extern "C" fn usocket_fd(s: usocket_t, fd: *mut i32) -> i32 {
    guard(|| unsafe {
        let fd = out(fd, "fd")?;
        *fd = registry::socket(s)?.fd();
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Stream I/O.

/// Reads up to `len` bytes from a stream socket: blocks until at least one
/// byte, end of file (`*nread` = 0), the read timeout (TIMEOUT) or an error
/// (CONNECTION_RESET, ...). `len` 0 returns at once with `*nread` = 0.
#[no_mangle]
pub extern "C" fn usocket_read(s: usocket_t, buf: *mut u8, len: usize, nread: *mut usize) -> i32 {
    guard(|| unsafe {
        let nread = out(nread, "nread")?;
        let buf = out_buf(buf, len, "buf")?;
        let sock = registry::socket(s)?;
        *nread = stream::read(&sock, buf)?;
        Ok(())
    })
}

/// Writes all `len` bytes to a stream socket, or fails: SHUTDOWN when the
/// peer has gone (never SIGPIPE), CONNECTION_RESET, TIMEOUT (the send
/// timeout bounds the whole write). On failure part of the buffer may have
/// been sent already and `*nwritten` is not written: callers that must know
/// how much went out use `usocket_write_some`.
#[no_mangle]
pub extern "C" fn usocket_write(s: usocket_t, buf: *const u8, len: usize, nwritten: *mut usize) -> i32 {
    guard(|| unsafe {
        let nwritten = out(nwritten, "nwritten")?;
        let buf = in_buf(buf, len, "buf")?;
        let sock = registry::socket(s)?;
        *nwritten = stream::write(&sock, buf)?;
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
pub extern "C" fn usocket_write_some(s: usocket_t, buf: *const u8, len: usize, timeout_ms: i64, nwritten: *mut usize) -> i32 {
    guard(|| unsafe {
        let nwritten = out(nwritten, "nwritten")?;
        let buf = in_buf(buf, len, "buf")?;
        let sock = registry::socket(s)?;
        *nwritten = stream::write_some(&sock, buf, timeout_ms)?;
        Ok(())
    })
}

/// usocket's LISTEN: `*available` is true when a read (or, on a listener,
/// an accept; on a datagram socket, a receive) would not block.
#[no_mangle]
pub extern "C" fn usocket_input_available(s: usocket_t, available: *mut bool) -> i32 {
    guard(|| unsafe {
        let available = out(available, "available")?;
        let sock = registry::socket(s)?;
        *available = stream::input_available(&sock)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Datagram I/O.

/// Sends one datagram of `len` bytes (at most 65507) from a datagram
/// socket: to `host`:`port`, or with `host` NULL to the connected peer.
#[no_mangle]
pub extern "C" fn usocket_send(s: usocket_t, buf: *const u8, len: usize, host: *const c_char, port: u16, nsent: *mut usize) -> i32 {
    guard(|| unsafe {
        let nsent = out(nsent, "nsent")?;
        let buf = in_buf(buf, len, "buf")?;
        let host = opt_str(host, "host")?;
        let sock = registry::socket(s)?;
        *nsent = datagram::send(&sock, buf, host, port)?;
        Ok(())
    })
}

/// Receives one datagram into `buf`: blocks up to the socket's receive
/// timeout (TIMEOUT). A datagram longer than `len` is cut to `len` and the
/// rest dropped, as recvfrom does. `from` (may be NULL) gets the sender.
/// A zero-length datagram gives `*nreceived` = 0.
#[no_mangle]
pub extern "C" fn usocket_receive(s: usocket_t, buf: *mut u8, len: usize, nreceived: *mut usize, from: *mut usocket_address) -> i32 {
    guard(|| unsafe {
        let nreceived = out(nreceived, "nreceived")?;
        let buf = out_buf(buf, len, "buf")?;
        let sock = registry::socket(s)?;
        let (n, addr) = datagram::receive(&sock, buf, !from.is_null())?;
        *nreceived = n;
        if let Some(from) = from.as_mut() {
            *from = match addr {
                Some(a) => usocket_address::from_socket_addr(&a),
                None => local::NO_ADDRESS, // core-local: a Unix-domain sender
            };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Names and options.

/// The local address and port of a socket or server.
#[no_mangle]
pub extern "C" fn usocket_local_name(s: usocket_t, out: *mut usocket_address) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let addr = match registry::get(s)? {
            Object::Socket(sock) => sock_name(&sock, false)?,
            Object::Server(server) => server.local_addr()?,
            Object::WaitList(_) => return Err(Error::wrong_kind("a wait list has no address")),
        };
        *out = usocket_address::from_socket_addr(&addr);
        Ok(())
    })
}

/// The peer's address and port of a connected socket.
#[no_mangle]
pub extern "C" fn usocket_peer_name(s: usocket_t, out: *mut usocket_address) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let sock = registry::socket(s)?;
        if sock.kind == Kind::StreamServer {
            return Err(Error::wrong_kind("a stream server socket has no peer"));
        }
        *out = usocket_address::from_socket_addr(&sock_name(&sock, true)?);
        Ok(())
    })
}

fn sock_name(s: &Socket, peer: bool) -> Result<std::net::SocketAddr> {
    let r = if peer { s.inner.peer_addr() } else { s.inner.local_addr() };
    let a = r.map_err(|e| s.fail(e.raw_os_error().unwrap_or(0), if peer { "getpeername" } else { "getsockname" }))?;
    if a.is_unix() { return Err(Error::wrong_kind("a Unix-domain socket has no IP address: use usocket_local_path or usocket_peer_path")); } // core-local
    a.as_socket().ok_or_else(|| Error::new(crate::error::USOCKET_ERR_UNKNOWN, "not an IP socket"))
}

/// Reads an option (`USOCKET_OPT_*`): timeouts in ms (0: none), flags 0 or 1,
/// buffer sizes in bytes.
#[no_mangle]
pub extern "C" fn usocket_get_option(s: usocket_t, option: i32, value: *mut i64) -> i32 {
    guard(|| unsafe {
        let value = out(value, "value")?;
        let sock = registry::socket(s)?;
        *value = options::get(&sock, option)?;
        Ok(())
    })
}

/// Sets an option (`USOCKET_OPT_*`). Timeouts: 0 (none) up to 2^31-1 ms;
/// TCP_NODELAY on a datagram socket: WRONG_KIND; buffer sizes >= 1.
#[no_mangle]
pub extern "C" fn usocket_set_option(s: usocket_t, option: i32, value: i64) -> i32 {
    guard(|| {
        let sock = registry::socket(s)?;
        options::set(&sock, option, value)
    })
}

// ---------------------------------------------------------------------------
// Waiting.

/// The most sockets one `usocket_wait_for_input` call takes.
pub const USOCKET_WAIT_MAX: usize = 1 << 20;

/// Waits until at least one of `n` sockets is ready to read (data or end of
/// file), to accept, or to receive; or `timeout_ms` passes (< 0: forever,
/// 0: just look). Writes `states[i]` (`USOCKET_STATE_READ` or `_NONE`),
/// `*nready` (0 on timeout) and `*remaining_ms` (time left, -1 when
/// `timeout_ms` < 0; may be NULL). Any number of sockets, any descriptor
/// value. A socket closed during the wait: INVALID_HANDLE. `n` 0 with a
/// timeout just sleeps; `n` 0 forever: INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_wait_for_input(
    sockets: *const usocket_t,
    n: usize,
    timeout_ms: i64,
    states: *mut u8,
    nready: *mut usize,
    remaining_ms: *mut i64,
) -> i32 {
    guard(|| unsafe {
        let nready = out(nready, "nready")?;
        if n > USOCKET_WAIT_MAX {
            return Err(Error::invalid_argument(format!("{n} sockets is more than {USOCKET_WAIT_MAX}")));
        }
        if n == 0 && timeout_ms < 0 {
            return Err(Error::invalid_argument("waiting forever on no sockets"));
        }
        let handles = in_buf(sockets as *const u8, n * 8, "sockets")?;
        let handles = if n == 0 { &[][..] } else { std::slice::from_raw_parts(handles.as_ptr() as *const u64, n) };
        let states = out_buf(states, n, "states")?;
        let objects = registry::get_many(handles)?;
        let mut socks = Vec::with_capacity(n);
        for (h, o) in handles.iter().zip(objects) {
            match o {
                Object::Socket(s) => socks.push(s),
                other => return Err(Error::wrong_kind(format!("handle {h} is a {}, not a socket", other.kind_name()))),
            }
        }
        let (count, left) = wait::wait_for_input(&socks, timeout_ms, states)?;
        *nready = count;
        if let Some(r) = remaining_ms.as_mut() {
            *r = left;
        }
        Ok(())
    })
}

/// A new, empty wait list (make-wait-list). Free it with
/// `usocket_wait_list_free` or `usocket_close`.
#[no_mangle]
pub extern "C" fn usocket_wait_list_new(out: *mut usocket_t) -> i32 {
    guard(|| unsafe {
        let out = self::out(out, "out")?;
        let list = WaitList::new()?;
        *out = registry::insert(Object::WaitList(list))?;
        Ok(())
    })
}

/// Adds a socket to a wait list (add-waiter); adding it twice is harmless.
#[no_mangle]
pub extern "C" fn usocket_wait_list_add(list: usocket_t, s: usocket_t) -> i32 {
    guard(|| {
        let list = registry::wait_list(list)?;
        let sock = registry::socket(s)?;
        list.add(&sock)
    })
}

/// Removes a socket from a wait list (remove-waiter); removing one that is
/// not there is harmless.
#[no_mangle]
pub extern "C" fn usocket_wait_list_remove(list: usocket_t, s: usocket_t) -> i32 {
    guard(|| {
        let list = registry::wait_list(list)?;
        let sock = registry::socket(s)?;
        list.remove(&sock);
        Ok(())
    })
}

/// Removes every socket from a wait list (remove-all-waiters).
#[no_mangle]
pub extern "C" fn usocket_wait_list_clear(list: usocket_t) -> i32 {
    guard(|| {
        registry::wait_list(list)?.clear();
        Ok(())
    })
}

/// Waits on a wait list: writes up to `cap` (>= 1) ready socket handles to
/// `ready`, their number to `*nready` (0 on timeout) and the time left to
/// `*remaining_ms` (-1 when `timeout_ms` < 0; may be NULL). Costs in
/// proportion to the ready sockets, not the list's size. Freeing the list
/// from another thread makes the wait return INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn usocket_wait_list_wait(
    list: usocket_t,
    timeout_ms: i64,
    ready: *mut usocket_t,
    cap: usize,
    nready: *mut usize,
    remaining_ms: *mut i64,
) -> i32 {
    guard(|| unsafe {
        let nready = out(nready, "nready")?;
        if cap == 0 || ready.is_null() {
            return Err(Error::invalid_argument("ready must have room for at least one handle"));
        }
        check_len(cap.saturating_mul(8), "ready")?;
        let ready = std::slice::from_raw_parts_mut(ready, cap);
        let list = registry::wait_list(list)?;
        let (count, left) = list.wait(timeout_ms, ready)?;
        *nready = count;
        if let Some(r) = remaining_ms.as_mut() {
            *r = left;
        }
        Ok(())
    })
}

/// Frees a wait list (the sockets stay open). Same as `usocket_close` on it.
#[no_mangle]
pub extern "C" fn usocket_wait_list_free(list: usocket_t) -> i32 {
    guard(|| {
        registry::wait_list(list)?;
        match registry::remove(list)? {
            Object::WaitList(l) => l.close(),
            _ => return Err(Error::internal("handle changed kind")),
        }
        Ok(())
    })
}

/// How many handles are open in this process (sockets, wait lists,
/// servers): for leak checks.
#[no_mangle]
pub extern "C" fn usocket_open_handles() -> usize {
    catch_unwind(registry::live_count).unwrap_or(0)
}
