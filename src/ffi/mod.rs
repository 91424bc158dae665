//! The C ABI: thin `extern "C"` functions over the safe core, one file per
//! family (the same split as `src/`). Each body is a few lines around one
//! safe call, inside the panic boundary of `boundary`.
//!
//! Conventions (also in the header and the README):
//! - every function returns `USOCKET_OK` (0) or a negative `USOCKET_ERR_*`;
//!   out-pointers are written only on success;
//! - every pointer is checked: NULL where one is not allowed, a non-UTF-8
//!   string, a length that does not fit or an unknown enum value is
//!   `USOCKET_ERR_INVALID_ARGUMENT`;
//! - a panic never crosses the boundary: it is `USOCKET_ERR_INTERNAL`;
//! - failures are recorded in a thread-local last error.

// Exports stay plain `extern "C"` (C has no `unsafe`; cbindgen sees them):
// each checks its pointers for NULL through `boundary` and relies, as C
// must, on the caller for the rest, which every unsafe block names.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod address;
pub mod boundary;
pub mod datagram;
pub mod error;
pub mod local;
pub mod options;
pub mod server;
pub mod socket;
pub mod wait;

// One flat namespace, as in C: `usocket::ffi::usocket_read`, ...
pub use crate::address::usocket_address;
pub use crate::constants::*;
pub use crate::error::{
    USOCKET_ERR_ADDRESS_IN_USE, USOCKET_ERR_ADDRESS_NOT_AVAILABLE, USOCKET_ERR_BAD_FILE_DESCRIPTOR,
    USOCKET_ERR_CONNECTION_ABORTED, USOCKET_ERR_CONNECTION_REFUSED, USOCKET_ERR_CONNECTION_RESET,
    USOCKET_ERR_HOST_DOWN, USOCKET_ERR_HOST_UNREACHABLE, USOCKET_ERR_INTERNAL, USOCKET_ERR_INVALID_ARGUMENT,
    USOCKET_ERR_INVALID_HANDLE, USOCKET_ERR_INVALID_SOCKET, USOCKET_ERR_INVALID_SOCKET_STREAM,
    USOCKET_ERR_NETWORK_DOWN, USOCKET_ERR_NETWORK_RESET, USOCKET_ERR_NETWORK_UNREACHABLE, USOCKET_ERR_NO_BUFFERS,
    USOCKET_ERR_NS_HOST_NOT_FOUND, USOCKET_ERR_NS_NO_RECOVERY, USOCKET_ERR_NS_TRY_AGAIN, USOCKET_ERR_NS_UNKNOWN,
    USOCKET_ERR_OPERATION_NOT_PERMITTED, USOCKET_ERR_OPERATION_NOT_SUPPORTED, USOCKET_ERR_PROTOCOL_NOT_SUPPORTED,
    USOCKET_ERR_SHUTDOWN, USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED, USOCKET_ERR_TIMEOUT, USOCKET_ERR_UNKNOWN,
    USOCKET_ERR_WRONG_KIND, USOCKET_OK,
};
pub use address::*;
#[cfg(feature = "panic-probe")]
pub use boundary::usocket_test_panic_next;
pub use datagram::*;
pub use error::*;
pub use local::*;
pub use options::*;
pub use server::*;
pub use socket::*;
pub use wait::*;

/// A handle: a socket, a wait list or a server. 0 is never a valid handle,
/// and a handle is never reused after `usocket_close`.
pub type usocket_t = u64;
