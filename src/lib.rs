//! usocket-core: usocket's portable socket API, once, in a native core.
//!
//! The safe Rust API lives in the concept modules; `ffi` is the thin
//! `extern "C"` layer that C, Common Lisp (CFFI) and Python (ctypes) call.

#![allow(non_camel_case_types)]

pub mod address;
pub mod constants;
pub mod datagram;
pub mod error;
pub mod ffi;
pub mod local; // core-local: Unix-domain sockets
pub mod options;
pub mod os;
pub mod registry;
pub mod server;
pub mod socket;
pub mod stream;
pub mod wait;

/// The library's version, "MAJOR.MINOR.PATCH".
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
