//! Addresses and name resolution.

use std::ffi::c_char;
use std::net::SocketAddr;

use super::boundary::{guard, null, out, out_buf, out_slice, req_str};
use crate::address::{self, usocket_address};
use crate::error::Error;

/// Writes the address's IP as text ("127.0.0.1", "::1"), NUL-terminated,
/// into `buf` of `cap` bytes (`USOCKET_ADDRESS_STRLEN` always suffices).
/// A family other than 4 or 6, or a buffer too small: INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn usocket_address_format(a: *const usocket_address, buf: *mut c_char, cap: usize) -> i32 {
    guard(|| {
        // SAFETY: `a` is NULL or a valid address (the C signature).
        let a = unsafe { a.as_ref() }.ok_or_else(|| null("address"))?;
        let text = a.format_ip()?;
        // SAFETY: `buf` is NULL or valid for `cap` bytes.
        let out = unsafe { out_buf(buf as *mut u8, cap, "buf") }?;
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
/// The resolver's order is kept. Failures: NS_HOST_NOT_FOUND, NS_TRY_AGAIN,
/// NS_NO_RECOVERY, NS_UNKNOWN.
#[no_mangle]
pub extern "C" fn usocket_resolve(
    host: *const c_char,
    out: *mut usocket_address,
    cap: usize,
    count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (host, count, out) =
            unsafe { (req_str(host, "host")?, self::out(count, "count")?, out_slice(out, cap, "out")?) };
        let ips = address::resolve(host)?;
        for (slot, ip) in out.iter_mut().zip(&ips) {
            *slot = usocket_address::from_socket_addr(&SocketAddr::new(*ip, 0));
        }
        *count = ips.len();
        Ok(())
    })
}

/// usocket's get-host-by-name: the first IPv4 address of `host`, else its
/// first IPv6 address (port 0). Failures as for `usocket_resolve`.
#[no_mangle]
pub extern "C" fn usocket_host_by_name(host: *const c_char, out: *mut usocket_address) -> i32 {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the C signature says.
        let (host, out) = unsafe { (req_str(host, "host")?, self::out(out, "out")?) };
        *out = usocket_address::from_socket_addr(&SocketAddr::new(address::host_by_name(host)?, 0));
        Ok(())
    })
}
