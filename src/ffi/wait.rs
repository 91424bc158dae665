//! Waiting: usocket's wait-for-input, and wait lists.

use super::boundary::{guard, in_slice, out, out_slice};
use super::usocket_t;
use crate::constants::USOCKET_WAIT_MAX;
use crate::error::Error;
use crate::registry::{self, Object};
use crate::wait::{self, WaitList};

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
    guard(|| {
        // SAFETY: `nready` is NULL or valid (the C signature).
        let nready = unsafe { out(nready, "nready") }?;
        if n > USOCKET_WAIT_MAX {
            return Err(Error::invalid_argument(format!("{n} sockets is more than {USOCKET_WAIT_MAX}")));
        }
        if n == 0 && timeout_ms < 0 {
            return Err(Error::invalid_argument("waiting forever on no sockets"));
        }
        // SAFETY: `sockets` and `states` are NULL or valid for `n` elements.
        let (handles, states) = unsafe { (in_slice(sockets, n, "sockets")?, out_slice(states, n, "states")?) };
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
        // SAFETY: `remaining_ms` is NULL or valid (the C signature).
        if let Some(r) = unsafe { remaining_ms.as_mut() } {
            *r = left;
        }
        Ok(())
    })
}

/// A new, empty wait list (make-wait-list). Free it with
/// `usocket_wait_list_free` or `usocket_close`.
#[no_mangle]
pub extern "C" fn usocket_wait_list_new(out: *mut usocket_t) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or valid (the C signature).
        let out = unsafe { self::out(out, "out") }?;
        *out = registry::register_wait_list(WaitList::new()?)?;
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
    guard(|| {
        if cap == 0 {
            return Err(Error::invalid_argument("ready must have room for at least one handle"));
        }
        // SAFETY: the pointers are NULL or valid as the C signature says.
        let (nready, ready, remaining_ms) =
            unsafe { (out(nready, "nready")?, out_slice(ready, cap, "ready")?, remaining_ms.as_mut()) };
        let list = registry::wait_list(list)?;
        let (count, left) = list.wait(timeout_ms, ready)?;
        *nready = count;
        if let Some(r) = remaining_ms {
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
