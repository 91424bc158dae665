//! The C ABI of the socket server (usocket's socket-server).

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::{guard, guard_value, in_buf, opt_str, opt_struct, out, out_buf, read_field, read_flag};
use super::usocket_t;
use crate::address::usocket_address;
use crate::constants::{USOCKET_DATAGRAM, USOCKET_STREAM};
use crate::error::{Error, Result};
use crate::registry::{self, Object};
use crate::socket::Socket;
use crate::server::{Handler, Server, ServerOptions, DEFAULT_BACKLOG, DEFAULT_TIMEOUT_MS};

/// A TCP server's handler: called once per client with the `user_data`
/// given to `usocket_server_new`, the client's handle (use `usocket_read`,
/// `usocket_write` and the other socket calls on it) and the client's
/// address (valid during the call). The server closes the client's handle
/// when the handler returns; a handler may close it itself. With
/// `multi_threading` handlers run on threads of the server's own (with
/// asynchronous signals blocked and a 128 KiB stack unless
/// `usocket_server_set_stack_size` says otherwise), several at once;
/// without, on the serving thread, one client at a time.
pub type usocket_tcp_handler =
    Option<unsafe extern "C" fn(user_data: *mut c_void, client: usocket_t, peer: *const usocket_address)>;

/// A UDP server's handler: called on the serving thread for each datagram,
/// zero-length ones included, with the `user_data` given to
/// `usocket_server_new`, the datagram (`data`, `len`; a datagram longer than
/// `max_buffer_size` is cut to it), its sender, and a reply buffer of
/// `reply_cap` (= `max_buffer_size`) bytes. Returns the length of the reply
/// it wrote into `reply`, which is sent to that sender alone; 0: no reply.
/// A larger return value is cut to `reply_cap`. All pointers are valid
/// during the call only.
pub type usocket_udp_handler = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        data: *const u8,
        len: usize,
        peer: *const usocket_address,
        reply: *mut u8,
        reply_cap: usize,
    ) -> usize,
>;

/// Options for `usocket_server_new`. Fill with `usocket_server_options_init` first.
#[repr(C)]
pub struct usocket_server_options {
    /// `USOCKET_STREAM` (TCP, default) or `USOCKET_DATAGRAM` (UDP).
    pub protocol: i32,
    /// SO_REUSEADDR; default true.
    pub reuse_address: bool,
    /// TCP listen backlog; default SOMAXCONN (4096, capped by the kernel's
    /// net.core.somaxconn), so a burst of clients is not dropped. >= 0.
    pub backlog: i32,
    /// TCP: one thread per client, so a slow or stuck handler never stops
    /// the server from accepting others; default false (one client at a time).
    pub multi_threading: bool,
    /// UDP: how long one wait of the serving loop for a datagram lasts, in
    /// ms; default 1000; 0: no limit; it never ends the server, and a stop
    /// wakes the loop at once either way. < 0 or > USOCKET_MAX_TIMEOUT_MS:
    /// INVALID_ARGUMENT.
    pub timeout_ms: i64,
    /// UDP: size of the receive buffer and of the reply buffer, 1..=65507;
    /// default 65507.
    pub max_buffer_size: usize,
}

/// Fills `o` with the defaults: TCP, SO_REUSEADDR on, backlog SOMAXCONN,
/// one client at a time, UDP timeout 1000 ms, buffers of 65507 bytes.
/// NULL is ignored.
#[no_mangle]
pub extern "C" fn usocket_server_options_init(o: *mut usocket_server_options) {
    guard_value((), || {
        let defaults = usocket_server_options {
            protocol: USOCKET_STREAM,
            reuse_address: true,
            backlog: DEFAULT_BACKLOG,
            multi_threading: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_buffer_size: crate::datagram::MAX_DATAGRAM,
        };
        // SAFETY: `o` is NULL or valid for writes of the struct.
        if let Some(o) = unsafe { o.as_mut() } {
            *o = defaults;
        }
    })
}

/// The caller's server options, checked; the defaults for NULL.
///
/// # Safety
/// `o` is NULL or valid for reads of the struct.
pub(crate) unsafe fn server_options(o: *const usocket_server_options) -> Result<ServerOptions> {
    // SAFETY: forwarded from the caller.
    let Some(o) = (unsafe { opt_struct(o) }) else {
        return Ok(ServerOptions::default());
    };
    let datagram = match read_field!(o, protocol) {
        USOCKET_STREAM => false,
        USOCKET_DATAGRAM => true,
        p => {
            return Err(Error::invalid_argument(format!("protocol {p} is neither USOCKET_STREAM nor USOCKET_DATAGRAM")))
        }
    };
    Ok(ServerOptions {
        datagram,
        reuse_address: read_flag!(o, reuse_address),
        backlog: read_field!(o, backlog),
        multi_threading: read_flag!(o, multi_threading),
        timeout_ms: read_field!(o, timeout_ms),
        max_buffer_size: read_field!(o, max_buffer_size),
    })
}

/// The caller's `user_data`, handed to handlers on other threads: keeping
/// what it points to valid and thread-safe is the caller's business.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the pointer is only handed back to the caller's handlers; the
// C contract makes its thread safety the caller's business.
unsafe impl Send for UserData {}
// SAFETY: as for Send.
unsafe impl Sync for UserData {}

impl UserData {
    fn get(self) -> *mut c_void {
        self.0
    }
}

/// The handler for a server of `opts`' protocol, from the C callbacks;
/// `Handler::Caller` when both are NULL (the caller serves it with
/// `usocket_server_next` or `usocket_server_next_datagram`).
pub(crate) fn handler(
    opts: &ServerOptions,
    tcp: usocket_tcp_handler,
    udp: usocket_udp_handler,
    user_data: *mut c_void,
) -> Handler {
    let ud = UserData(user_data);
    match (opts.datagram, tcp, udp) {
        (false, Some(f), _) => {
            Handler::Tcp(Box::new(move |client: Arc<Socket>, peer: &std::net::SocketAddr| {
                let peer =
                    if client.is_local() { usocket_address::LOCAL } else { usocket_address::from_socket_addr(peer) };
                let handle = match registry::register_socket(client) {
                    Ok(h) => Registered(h),
                    Err(e) => return crate::server::report(&format!("a client could not be registered: {e}")),
                };
                // SAFETY: the caller gave this function for this purpose;
                // `peer` lives for the call.
                unsafe { f(ud.get(), handle.0, &peer) }
            }))
        }
        (true, _, Some(f)) => {
            Handler::Udp(Box::new(move |data: &[u8], peer: &std::net::SocketAddr, reply: &mut [u8]| {
                let peer = usocket_address::from_socket_addr(peer);
                // SAFETY: as above; every buffer lives for the call.
                unsafe { f(ud.get(), data.as_ptr(), data.len(), &peer, reply.as_mut_ptr(), reply.len()) }
            }))
        }
        _ => Handler::Caller,
    }
}

/// A client handle the server registered for a C handler: closed when the
/// handler returns (a handle the handler closed already is no error).
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(Object::Socket(s)) = registry::remove(self.0) {
            Socket::close(s);
        }
    }
}

/// Registers a new server, stopping it when it cannot be registered.
pub(crate) fn register(s: Arc<Server>) -> Result<u64> {
    registry::register_server(s.clone()).inspect_err(|_| s.stop())
}

/// Creates a server (usocket's socket-server): binds `host`:`port` and,
/// for TCP, listens; serves nothing until `usocket_server_run` or
/// `usocket_server_spawn`. `host` NULL, "" or "0.0.0.0": every IPv4
/// interface; "::": every interface. Port 0 picks a free port: read it with
/// `usocket_local_name` on the server. `opts` NULL: defaults. The handler
/// of the server's protocol (`tcp` for `USOCKET_STREAM`, `udp` for
/// `USOCKET_DATAGRAM`) is called for each client or datagram; the other is
/// ignored. With that handler NULL the caller serves instead, on threads
/// of its own, with `usocket_server_next` (TCP) or
/// `usocket_server_next_datagram` and `usocket_server_reply` (UDP).
/// `user_data` goes to every handler call and must stay valid until the
/// handlers have ended (`usocket_server_wait`). Free the server with
/// `usocket_close`. Errors: INVALID_ARGUMENT, ADDRESS_IN_USE,
/// NS_HOST_NOT_FOUND, ...
#[no_mangle]
pub extern "C" fn usocket_server_new(
    host: *const c_char,
    port: u16,
    opts: *const usocket_server_options,
    tcp: usocket_tcp_handler,
    udp: usocket_udp_handler,
    user_data: *mut c_void,
    server: *mut usocket_t,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (server, host, opts) = unsafe { (out(server, "server")?, opt_str(host, "host")?, server_options(opts)?) };
        let handler = handler(&opts, tcp, udp, user_data);
        *server = register(Server::new(host, port, &opts, handler)?)?;
        Ok(())
    })
}

/// For a TCP server made with a NULL handler: the next client, with the
/// server's accept policy applied inside the core (errors of one connection
/// such as ECONNABORTED retried, lack of descriptors backed off and
/// retried, never a busy loop). TIMEOUT when none came within `timeout_ms`
/// (< 0 forever, 0 do not wait); SHUTDOWN once the server is stopped;
/// INVALID_HANDLE when it is closed under the call. The client's handle
/// belongs to the caller; `peer` (may be NULL) gets its address (family 0
/// for a Unix-domain client). On a server that `usocket_server_run` or
/// `usocket_server_spawn` serves, or a UDP server: INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_server_next(
    server: usocket_t,
    timeout_ms: i64,
    client: *mut usocket_t,
    peer: *mut usocket_address,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (client, peer) = unsafe { (out(client, "client")?, peer.as_mut()) };
        let s = registry::server(server)?;
        let (socket, addr) = s.next(timeout_ms, peer.is_some())?;
        *client = registry::register_socket(socket)?;
        if let Some(peer) = peer {
            *peer = match addr {
                Some(a) if !s.is_local() => usocket_address::from_socket_addr(&a),
                _ => usocket_address::LOCAL,
            };
        }
        Ok(())
    })
}

/// For a UDP server made with a NULL handler: the next datagram, cut to
/// `cap` bytes, its length in `*len` and its sender in `*peer` (may be
/// NULL). TIMEOUT, SHUTDOWN and INVALID_ARGUMENT as for
/// `usocket_server_next`; receive errors of earlier replies are passed over.
#[no_mangle]
pub extern "C" fn usocket_server_next_datagram(
    server: usocket_t,
    timeout_ms: i64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    peer: *mut usocket_address,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (buf, len, peer) = unsafe { (out_buf(buf, cap, "buf")?, out(len, "len")?, peer.as_mut()) };
        let (n, addr) = registry::server(server)?.next_datagram(timeout_ms, buf)?;
        *len = n;
        if let Some(peer) = peer {
            *peer = addr.map_or(usocket_address::LOCAL, |a| usocket_address::from_socket_addr(&a));
        }
        Ok(())
    })
}

/// For a UDP server made with a NULL handler: sends `len` bytes (at most
/// the server's `max_buffer_size`, else INVALID_ARGUMENT) to `peer`, from
/// the server's socket.
#[no_mangle]
pub extern "C" fn usocket_server_reply(
    server: usocket_t,
    buf: *const u8,
    len: usize,
    peer: *const usocket_address,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (buf, peer) = unsafe { (in_buf(buf, len, "buf")?, peer.as_ref()) };
        let peer = peer.ok_or_else(|| super::boundary::null("peer"))?.to_socket_addr()?;
        registry::server(server)?.reply(buf, &peer)
    })
}

/// Serves on the calling thread until the server is stopped
/// (`usocket_server_stop` or `usocket_close`, from any thread or handler),
/// then returns USOCKET_OK. Without `multi_threading` handlers run on this
/// thread, so after a stop it returns once the running handler (if any) has
/// returned. On a server stopped already: returns at once.
/// A server serves once: a second run or spawn is INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_server_run(server: usocket_t) -> i32 {
    guard(|| registry::server(server)?.run())
}

/// Serves on a new thread of the server's own (usocket's in-new-thread),
/// with asynchronous signals blocked; returns at once.
#[no_mangle]
pub extern "C" fn usocket_server_spawn(server: usocket_t) -> i32 {
    guard(|| registry::server(server)?.spawn())
}

/// Stops a server, from any thread or from inside a handler: closes its
/// listening (or datagram) socket at once, so new clients are refused and
/// the serving loop returns, and returns without waiting for running
/// handlers, which finish on their own (a UDP handler that stops its server
/// still has its reply sent). Stopping twice is harmless. The handle stays
/// valid (for `usocket_local_name`, `usocket_server_wait`) until `usocket_close`.
#[no_mangle]
pub extern "C" fn usocket_server_stop(server: usocket_t) -> i32 {
    guard(|| {
        registry::server(server)?.stop();
        Ok(())
    })
}

/// Sets the stack size in bytes of the threads the server creates from now
/// on: client threads (`multi_threading`) and the serving thread of a later
/// `usocket_server_spawn`. 0 restores the defaults: 128 KiB a client thread
/// (enough for C handlers; thousands of clients fit, as only touched pages
/// use memory) and 1 MiB the serving thread. Handlers that run an
/// interpreter need more: a Python (ctypes) handler 1 MiB or more.
/// 65536 up to 2^30, or 0; else INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_server_set_stack_size(server: usocket_t, bytes: usize) -> i32 {
    guard(|| registry::server(server)?.set_stack_size(bytes))
}

/// Waits until the server is stopped, its serving loop has returned and
/// every handler has ended (after which no handler uses `user_data` again),
/// or `timeout_ms` passes (TIMEOUT; < 0: no limit). It does not stop the
/// server. From inside one of the server's own handlers: INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_server_wait(server: usocket_t, timeout_ms: i64) -> i32 {
    guard(|| {
        let s = registry::server(server)?;
        if s.wait(timeout_ms)? {
            Ok(())
        } else {
            Err(Error::timeout("waiting for the server's handlers"))
        }
    })
}
