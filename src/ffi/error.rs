//! Errors and the version.

use std::ffi::c_char;

use super::boundary::guard_value;
use crate::error::{self, USOCKET_ERR_INTERNAL};

/// A static empty string: what a string export returns on a panic.
const EMPTY: &[u8] = b"\0";

/// The code of this thread's last failure (`USOCKET_OK` if none yet).
/// A successful call does not reset it.
#[no_mangle]
pub extern "C" fn usocket_last_error() -> i32 {
    guard_value(USOCKET_ERR_INTERNAL, error::last_error_code)
}

/// The errno behind this thread's last failure, 0 if none.
#[no_mangle]
pub extern "C" fn usocket_last_os_error() -> i32 {
    guard_value(0, error::last_os_error)
}

/// This thread's last failure as text; "" if none. Valid until this
/// thread's next failing call; never NULL.
#[no_mangle]
pub extern "C" fn usocket_last_error_message() -> *const c_char {
    guard_value(EMPTY.as_ptr() as *const c_char, error::last_error_message_ptr)
}

/// usocket's condition name for a code ("connection-refused-error"); a
/// static string, never NULL; "unknown-error" for a code not in use.
#[no_mangle]
pub extern "C" fn usocket_error_name(code: i32) -> *const c_char {
    guard_value(EMPTY.as_ptr() as *const c_char, || error::error_name_cstr(code).as_ptr() as *const c_char)
}

/// The library's version, "MAJOR.MINOR.PATCH"; a static string.
#[no_mangle]
pub extern "C" fn usocket_version() -> *const c_char {
    guard_value(EMPTY.as_ptr() as *const c_char, || concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char)
}
