//! usocket-core: usocket's portable socket API, once, in a native core.
//!
//! The safe Rust API lives in the concept modules; `ffi` is the thin
//! `extern "C"` layer that C, Common Lisp (CFFI) and Python (ctypes) call.

#![allow(non_camel_case_types)]
// Every unsafe operation sits in its own block with the reason it is sound.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

pub mod address;
pub mod constants;
pub mod datagram;
pub mod error;
pub mod ffi;
pub mod local;
pub mod options;
pub mod os;
pub mod registry;
pub mod server;
pub mod socket;
pub mod stream;
pub mod wait;

/// The library's version, "MAJOR.MINOR.PATCH".
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
