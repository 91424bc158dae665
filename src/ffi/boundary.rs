//! The boundary every export goes through: panics caught, pointers and
//! strings checked, failures recorded as this thread's last error.
//!
//! Each helper that reads a raw pointer is `unsafe` with the one promise the
//! caller makes: the pointer is NULL or valid for what the C signature says.
//! That promise is the C caller's side of the contract; everything else
//! (NULL, lengths, UTF-8, enum values) is checked here.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{self, Error, Result, USOCKET_ERR_INTERNAL, USOCKET_OK};

#[cfg(feature = "panic-probe")]
thread_local! {
    static PANIC_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test builds only (cargo feature `panic-probe`): the next export called on
/// this thread panics inside its boundary, to prove the boundary holds.
#[cfg(feature = "panic-probe")]
#[no_mangle]
pub extern "C" fn usocket_test_panic_next(on: bool) {
    PANIC_NEXT.with(|p| p.set(on));
}

#[inline(always)]
fn probe() {
    #[cfg(feature = "panic-probe")]
    if PANIC_NEXT.with(|p| p.replace(false)) {
        panic!("panic probe");
    }
}

/// Runs `f`, turning its error or a panic into a status and the last error.
#[inline]
pub(crate) fn guard<F: FnOnce() -> Result<()>>(f: F) -> i32 {
    match catch_unwind(AssertUnwindSafe(|| {
        probe();
        f()
    })) {
        Ok(Ok(())) => USOCKET_OK,
        Ok(Err(e)) => {
            error::set_last_error(&e);
            e.code
        }
        Err(_) => {
            error::set_last_error(&Error::new(
                USOCKET_ERR_INTERNAL,
                "internal error: a panic was caught at the C boundary",
            ));
            USOCKET_ERR_INTERNAL
        }
    }
}

/// Runs `f` for an export that returns a value rather than a status: a
/// panic gives `on_panic` (the value documented for that export) and sets
/// the last error to INTERNAL.
#[inline]
pub(crate) fn guard_value<T, F: FnOnce() -> T>(on_panic: T, f: F) -> T {
    match catch_unwind(AssertUnwindSafe(|| {
        probe();
        f()
    })) {
        Ok(v) => v,
        Err(_) => {
            // Setting the last error allocates; if even that panics, the
            // value on panic is still returned.
            let _ = catch_unwind(|| {
                error::set_last_error(&Error::new(
                    USOCKET_ERR_INTERNAL,
                    "internal error: a panic was caught at the C boundary",
                ))
            });
            on_panic
        }
    }
}

pub(crate) fn null(name: &str) -> Error {
    Error::invalid_argument(format!("{name} is NULL"))
}

/// Checks an out-pointer; write through it only on success.
///
/// # Safety
/// `p` is NULL or valid for writes of a `T` for the call's duration.
#[inline]
pub(crate) unsafe fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    // SAFETY: the caller promises `p` is NULL or valid and unaliased.
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// A C string that may be NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller promises NUL termination.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// A C string that must not be NULL.
///
/// # Safety
/// As for `opt_str`.
pub(crate) unsafe fn req_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    // SAFETY: forwarded from the caller.
    unsafe { opt_str(p, name) }?.ok_or_else(|| null(name))
}

pub(crate) fn check_len(len: usize, size: usize, name: &str) -> Result<()> {
    match len.checked_mul(size) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Error::invalid_argument(format!("{name} length {len} does not fit"))),
    }
}

/// An array of `len` `T`s to read; NULL only with length 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` `T`s for the call's duration.
#[inline]
pub(crate) unsafe fn in_slice<'a, T>(p: *const T, len: usize, name: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    check_len(len, std::mem::size_of::<T>(), name)?;
    // SAFETY: non-NULL, the size fits in isize, and the caller promises
    // `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array of `len` `T`s to write into; NULL only with length 0.
///
/// # Safety
/// `p` is NULL or valid for writes of `len` `T`s, unaliased, for the call.
#[inline]
pub(crate) unsafe fn out_slice<'a, T>(p: *mut T, len: usize, name: &str) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(null(name));
    }
    check_len(len, std::mem::size_of::<T>(), name)?;
    // SAFETY: non-NULL, the size fits in isize, and the caller promises
    // `len` writable, unaliased elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// A byte buffer to read from; NULL only with length 0.
///
/// # Safety
/// As for `in_slice`.
#[inline]
pub(crate) unsafe fn in_buf<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    // SAFETY: forwarded from the caller.
    unsafe { in_slice(p, len, name) }
}

/// A byte buffer to write into; NULL only with length 0.
///
/// # Safety
/// As for `out_slice`.
#[inline]
pub(crate) unsafe fn out_buf<'a>(p: *mut u8, len: usize, name: &str) -> Result<&'a mut [u8]> {
    // SAFETY: forwarded from the caller.
    unsafe { out_slice(p, len, name) }
}

/// Reads a C struct the caller passed by pointer, field by field with `read`
/// (so a `bool` field holding a byte other than 0 or 1 is no undefined
/// behaviour); None for NULL.
///
/// # Safety
/// `p` is NULL or valid for reads of a `T`.
#[inline]
pub(crate) unsafe fn opt_struct<'a, T>(p: *const T) -> Option<StructRef<'a, T>> {
    if p.is_null() {
        None
    } else {
        Some(StructRef { p, _life: std::marker::PhantomData })
    }
}

/// A checked, non-NULL pointer to a caller's struct (see `opt_struct`).
pub(crate) struct StructRef<'a, T> {
    p: *const T,
    _life: std::marker::PhantomData<&'a T>,
}

impl<T> StructRef<'_, T> {
    /// Reads a plain field: `field` projects the struct pointer to it.
    pub(crate) fn get<F: Copy>(&self, field: impl FnOnce(*const T) -> *const F) -> F {
        // SAFETY: `p` is valid for reads (opt_struct's contract) and `field`
        // only projects it to one of its fields (addr_of!).
        unsafe { std::ptr::read(field(self.p)) }
    }

    /// Reads a C `bool` field without assuming it holds 0 or 1.
    pub(crate) fn flag(&self, field: impl FnOnce(*const T) -> *const bool) -> bool {
        // SAFETY: as for `get`; read as a byte, which any value is.
        unsafe { std::ptr::read(field(self.p) as *const u8) != 0 }
    }
}

/// Reads field `$f` of a struct checked by `opt_struct`.
macro_rules! read_field {
    ($s:expr, $f:ident) => {
        // (Older compilers need the unsafe block; newer ones call it unused.)
        $s.get(|p| {
            #[allow(unused_unsafe)]
            // SAFETY: `opt_struct` checked the pointer is non-NULL and its
            // caller promises it is valid; addr_of! makes no reference.
            unsafe {
                std::ptr::addr_of!((*p).$f)
            }
        })
    };
}

/// Reads C `bool` field `$f` of a struct checked by `opt_struct`.
macro_rules! read_flag {
    ($s:expr, $f:ident) => {
        $s.flag(|p| {
            #[allow(unused_unsafe)]
            // SAFETY: as in `read_field`.
            unsafe {
                std::ptr::addr_of!((*p).$f)
            }
        })
    };
}

pub(crate) use {read_field, read_flag};
