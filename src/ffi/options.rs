//! Names and options.

use super::boundary::{guard, out};
use super::usocket_t;
use crate::address::usocket_address;
use crate::error::{Error, Result};
use crate::options;
use crate::registry::{self, Object};
use crate::socket::{Kind, Socket};

/// The address of `s` (its own or its peer's); WRONG_KIND for a
/// Unix-domain socket, whose names are paths (`usocket_local_path`).
fn sock_name(s: &Socket, peer: bool) -> Result<std::net::SocketAddr> {
    if s.is_local() {
        return Err(Error::wrong_kind(
            "a Unix-domain socket has a path, not an address: use usocket_local_path or usocket_peer_path",
        ));
    }
    let r = if peer { s.inner.peer_addr() } else { s.inner.local_addr() };
    let a = r.map_err(|e| s.fail(e.raw_os_error().unwrap_or(0), if peer { "getpeername" } else { "getsockname" }))?;
    a.as_socket().ok_or_else(|| Error::new(crate::error::USOCKET_ERR_UNKNOWN, "not an IP socket"))
}

/// The local address and port of a socket or server.
#[no_mangle]
pub extern "C" fn usocket_local_name(s: usocket_t, out: *mut usocket_address) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or valid (the C signature).
        let out = unsafe { self::out(out, "out") }?;
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
    guard(|| {
        // SAFETY: `out` is NULL or valid (the C signature).
        let out = unsafe { self::out(out, "out") }?;
        let sock = registry::socket(s)?;
        if sock.kind == Kind::StreamServer {
            return Err(Error::wrong_kind("a stream server socket has no peer"));
        }
        *out = usocket_address::from_socket_addr(&sock_name(&sock, true)?);
        Ok(())
    })
}

/// Reads an option (`USOCKET_OPT_*`): timeouts in ms (0: none), flags 0 or 1,
/// buffer sizes in bytes.
#[no_mangle]
pub extern "C" fn usocket_get_option(s: usocket_t, option: i32, value: *mut i64) -> i32 {
    guard(|| {
        // SAFETY: `value` is NULL or valid (the C signature).
        let value = unsafe { out(value, "value") }?;
        *value = options::get(&*registry::socket(s)?, option)?;
        Ok(())
    })
}

/// Sets an option (`USOCKET_OPT_*`). Timeouts: 0 (none) up to
/// `USOCKET_MAX_TIMEOUT_MS`; TCP_NODELAY on a datagram socket: WRONG_KIND;
/// buffer sizes >= 1.
#[no_mangle]
pub extern "C" fn usocket_set_option(s: usocket_t, option: i32, value: i64) -> i32 {
    guard(|| options::set(&*registry::socket(s)?, option, value))
}
