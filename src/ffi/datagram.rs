//! Datagram I/O.

use std::ffi::c_char;

use super::boundary::{guard, in_buf, opt_str, out, out_buf};
use super::usocket_t;
use crate::address::usocket_address;
use crate::datagram;
use crate::error::Result;
use crate::registry;
use crate::socket::Wait;

/// Sends one datagram of `len` bytes (at most 65507) from a datagram
/// socket: to `host`:`port`, or with `host` NULL to the connected peer.
#[no_mangle]
pub extern "C" fn usocket_send(
    s: usocket_t,
    buf: *const u8,
    len: usize,
    host: *const c_char,
    port: u16,
    nsent: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the pointers are as the C signature says.
        let (nsent, buf, host) = unsafe { (out(nsent, "nsent")?, in_buf(buf, len, "buf")?, opt_str(host, "host")?) };
        *nsent = datagram::send(&*registry::socket(s)?, buf, host, port)?;
        Ok(())
    })
}

/// Receives one datagram as `wait` says.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes; `nreceived`, `from` NULL or valid.
unsafe fn receive_into(
    s: usocket_t,
    buf: *mut u8,
    len: usize,
    wait: Wait,
    nreceived: *mut usize,
    from: *mut usocket_address,
) -> Result<()> {
    // SAFETY: forwarded from the caller.
    let (nreceived, buf, from) = unsafe { (out(nreceived, "nreceived")?, out_buf(buf, len, "buf")?, from.as_mut()) };
    let sock = registry::socket(s)?;
    let (n, addr) = datagram::receive_waiting(&sock, buf, from.is_some(), wait)?;
    *nreceived = n;
    if let Some(from) = from {
        *from = match addr {
            Some(a) => usocket_address::from_socket_addr(&a),
            None => usocket_address::LOCAL,
        };
    }
    Ok(())
}

/// Receives one datagram into `buf`: blocks up to the socket's receive
/// timeout (TIMEOUT). A datagram longer than `len` is cut to `len` and the
/// rest dropped, as recvfrom does. `from` (may be NULL) gets the sender.
/// A zero-length datagram gives `*nreceived` = 0.
#[no_mangle]
pub extern "C" fn usocket_receive(
    s: usocket_t,
    buf: *mut u8,
    len: usize,
    nreceived: *mut usize,
    from: *mut usocket_address,
) -> i32 {
    // SAFETY: the pointers are as the C signature says.
    guard(|| unsafe { receive_into(s, buf, len, Wait::SocketTimeout, nreceived, from) })
}

/// Like `usocket_receive`, but bounded by `timeout_ms` (< 0 forever, 0 do
/// not wait) instead of the socket's receive timeout, which it neither
/// reads nor changes. TIMEOUT with nothing consumed when none came in time.
#[no_mangle]
pub extern "C" fn usocket_receive_for(
    s: usocket_t,
    buf: *mut u8,
    len: usize,
    timeout_ms: i64,
    nreceived: *mut usize,
    from: *mut usocket_address,
) -> i32 {
    // SAFETY: the pointers are as the C signature says.
    guard(|| unsafe { receive_into(s, buf, len, Wait::For(timeout_ms), nreceived, from) })
}
