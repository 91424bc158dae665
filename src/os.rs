//! Thin helpers over system calls: deadlines, `poll` retried on EINTR with the
//! time that is left, and blocking-signal masks for threads the core creates.

use std::time::{Duration, Instant};

use crate::error::{errno, Error, Result};

/// When a blocking call must give up: `None` waits forever.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline `timeout_ms` from now; `< 0` never expires.
    pub fn after_ms(timeout_ms: i64) -> Deadline {
        if timeout_ms < 0 {
            Deadline(None)
        } else {
            Deadline(Instant::now().checked_add(Duration::from_millis(timeout_ms as u64)))
        }
    }

    /// `timeout_ms` after `start`.
    pub fn at(start: Instant, timeout_ms: i64) -> Deadline {
        Deadline(start.checked_add(Duration::from_millis(timeout_ms.max(0) as u64)))
    }

    /// `timeout_ms` after `start`; `< 0` never expires.
    pub fn since(start: Instant, timeout_ms: i64) -> Deadline {
        if timeout_ms < 0 {
            Deadline(None)
        } else {
            Deadline::at(start, timeout_ms)
        }
    }

    pub fn never() -> Deadline {
        Deadline(None)
    }

    /// The instant it expires; None: never.
    pub fn instant(&self) -> Option<Instant> {
        self.0
    }

    pub fn is_forever(&self) -> bool {
        self.0.is_none()
    }

    /// Milliseconds left, rounded up, for `poll`: -1 forever, 0 when past.
    pub fn poll_timeout(&self) -> libc::c_int {
        match self.0 {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                let ms = left.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        }
    }

    /// Milliseconds left, rounded down: -1 forever.
    pub fn remaining_ms(&self) -> i64 {
        match self.0 {
            None => -1,
            Some(at) => at.saturating_duration_since(Instant::now()).as_millis().min(i64::MAX as u128) as i64,
        }
    }

    pub fn expired(&self) -> bool {
        matches!(self.0, Some(at) if Instant::now() >= at)
    }
}

/// `poll` on one descriptor until one of `events` or the deadline; EINTR is
/// retried with the time left. Returns the revents, 0 on timeout.
pub fn poll_one(fd: libc::c_int, events: libc::c_short, deadline: Deadline) -> Result<libc::c_short> {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    loop {
        // SAFETY: one valid pollfd for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, deadline.poll_timeout()) };
        if n > 0 {
            return Ok(pfd.revents);
        }
        if n == 0 {
            if deadline.expired() || deadline.poll_timeout() == 0 {
                return Ok(0);
            }
            continue;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(Error::from_errno(e, "poll"));
        }
    }
}

/// `poll` on many descriptors with EINTR retried; returns how many are ready.
pub fn poll_many(fds: &mut [libc::pollfd], deadline: Deadline) -> Result<usize> {
    loop {
        // SAFETY: `fds` is valid for its length for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, deadline.poll_timeout()) };
        if n >= 0 {
            if n == 0 && !deadline.is_forever() && !deadline.expired() && deadline.poll_timeout() > 0 {
                continue;
            }
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(Error::from_errno(e, "poll"));
        }
    }
}

/// The asynchronous signals: every signal but the synchronous ones SBCL
/// relies on (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
pub fn async_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data that sigfillset initialises; the calls
    // only write to the local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
            libc::sigdelset(&mut set, sig);
        }
        set
    }
}

/// Blocks every asynchronous signal in the calling thread. Call it first
/// thing in every thread the library creates.
pub fn block_async_signals() {
    let set = async_signals();
    // SAFETY: changes only the calling thread's mask; `set` is initialised.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}
