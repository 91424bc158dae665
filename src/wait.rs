//! Waiting for input: `wait_for_input` over any number of sockets with
//! `poll` (no FD_SETSIZE limit), and wait lists on epoll whose wait costs in
//! proportion to the sockets that are ready.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{errno, Error, Result};
use crate::os::{poll_many, Deadline};
use crate::socket::{Membership, Socket};

/// The poll events that mean "a read (or accept) would not block".
pub(crate) const READY_EVENTS: libc::c_short = libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP;

/// Waits until at least one socket is ready to read (or accept), or the
/// timeout. Writes one state per socket (1 ready, 0 not) into `states`.
/// Returns how many are ready and the milliseconds left (-1 without timeout).
pub fn wait_for_input(sockets: &[Arc<Socket>], timeout_ms: i64, states: &mut [u8]) -> Result<(usize, i64)> {
    let deadline = Deadline::after_ms(timeout_ms);
    let mut fds: Vec<libc::pollfd> =
        sockets.iter().map(|s| libc::pollfd { fd: s.fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 }).collect();
    let ready = poll_many(&mut fds, deadline)?;
    if sockets.iter().any(|s| s.is_closed()) {
        return Err(Error::closed_during_call());
    }
    let mut count = 0;
    for (state, pfd) in states.iter_mut().zip(&fds) {
        let is_ready = ready > 0 && pfd.revents & READY_EVENTS != 0;
        *state = is_ready as u8;
        count += is_ready as usize;
    }
    Ok((count, deadline.remaining_ms()))
}

/// A set of sockets registered with epoll once, waited on many times.
pub struct WaitList {
    epoll: OwnedFd,
    /// An eventfd in the epoll set that wakes waiters when the list is freed.
    wake: OwnedFd,
    members: Mutex<HashMap<u64, Arc<Socket>>>,
    closed: AtomicBool,
}

/// The epoll token of the wake-up eventfd: no handle is ever u64::MAX (its
/// index would be 2^32-1, past the registry's last slot).
const WAKE_TOKEN: u64 = u64::MAX;

/// The most events one wait takes from the kernel; the rest come next time.
const MAX_EVENTS: usize = 1024;
const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

thread_local! {
    /// Each thread's event buffer, allocated once, so a wait costs in
    /// proportion to the ready sockets, not to the room the caller offers.
    static EVENTS: std::cell::RefCell<Vec<libc::epoll_event>> = std::cell::RefCell::new(vec![EMPTY_EVENT; MAX_EVENTS]);
}

impl WaitList {
    pub fn new() -> Result<Arc<WaitList>> {
        // SAFETY: creates a new descriptor, nothing else.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(Error::last_os("epoll_create1"));
        }
        // SAFETY: `epfd` is a new descriptor nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: creates a new descriptor, nothing else.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(Error::last_os("eventfd"));
        }
        // SAFETY: `efd` is a new descriptor nothing else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: WAKE_TOKEN };
        // SAFETY: both descriptors are open; `ev` is valid for the call.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, efd, &mut ev) } < 0 {
            return Err(Error::last_os("epoll_ctl"));
        }
        Ok(Arc::new(WaitList { epoll, wake, members: Mutex::new(HashMap::new()), closed: AtomicBool::new(false) }))
    }

    pub fn len(&self) -> usize {
        self.members.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a socket; adding it again is harmless.
    pub fn add(self: &Arc<Self>, socket: &Arc<Socket>) -> Result<()> {
        let handle = socket.handle();
        {
            let mut members = self.members.lock();
            if members.contains_key(&handle) {
                return Ok(());
            }
            let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, u64: handle };
            // SAFETY: the list's epoll and the socket's descriptor are open; `ev` is valid.
            if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, socket.fd(), &mut ev) } < 0 {
                return Err(Error::last_os("epoll_ctl(ADD)"));
            }
            members.insert(handle, socket.clone());
        }
        let me: std::sync::Weak<dyn Membership> = Arc::downgrade(self) as std::sync::Weak<dyn Membership>;
        socket.joined_list(me);
        // A close that raced with us may have missed this list: undo.
        if socket.is_closed() {
            self.drop_member(socket);
            return Err(Error::invalid_handle(handle));
        }
        Ok(())
    }

    /// Removes a socket; removing one that is not in the list is harmless.
    pub fn remove(&self, socket: &Socket) {
        self.drop_member(socket);
        socket.left_list(self as *const WaitList as *const ());
    }

    /// Drops a socket from the epoll set and the members.
    fn drop_member(&self, socket: &Socket) {
        let mut members = self.members.lock();
        if members.remove(&socket.handle()).is_some() {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: as for EPOLL_CTL_ADD; the event is ignored for DEL.
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, socket.fd(), &mut ev) };
        }
    }

    /// Removes every socket.
    pub fn clear(&self) {
        let members: Vec<Arc<Socket>> = self.members.lock().values().cloned().collect();
        for s in members {
            self.remove(&s);
        }
    }

    /// Waits for ready sockets, writing up to `ready.len()` handles. Returns
    /// how many were written and the milliseconds left (-1 without timeout).
    pub fn wait(&self, timeout_ms: i64, ready: &mut [u64]) -> Result<(usize, i64)> {
        let deadline = Deadline::after_ms(timeout_ms);
        let cap = ready.len().min(MAX_EVENTS);
        EVENTS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut events) => self.wait_into(deadline, &mut events[..cap], ready),
            // Re-entered from a signal handler: use a fresh buffer.
            Err(_) => self.wait_into(deadline, &mut vec![EMPTY_EVENT; cap], ready),
        })
    }

    fn wait_into(&self, deadline: Deadline, events: &mut [libc::epoll_event], ready: &mut [u64]) -> Result<(usize, i64)> {
        let cap = events.len();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::closed_during_call());
            }
            // SAFETY: `events` has room for `cap` entries.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), cap as libc::c_int, deadline.poll_timeout()) };
            if n < 0 {
                let e = errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(Error::from_errno(e, "epoll_wait"));
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::closed_during_call());
            }
            let mut count = 0;
            if n > 0 {
                let members = self.members.lock();
                for ev in &events[..n as usize] {
                    let token = ev.u64;
                    if token == WAKE_TOKEN {
                        continue;
                    }
                    // A socket closed during the wait has left the list.
                    if let Some(s) = members.get(&token) {
                        if !s.is_closed() {
                            ready[count] = token;
                            count += 1;
                        }
                    }
                }
            }
            if count > 0 || deadline.expired() || deadline.poll_timeout() == 0 {
                return Ok((count, deadline.remaining_ms()));
            }
        }
    }

    /// Frees the list: wakes its waiters and lets go of its sockets.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd this list owns.
        unsafe { libc::write(self.wake.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
        let members: Vec<Arc<Socket>> = self.members.lock().drain().map(|(_, s)| s).collect();
        for s in members {
            s.left_list(self as *const WaitList as *const ());
        }
    }
}

impl Membership for WaitList {
    /// A socket closed: it leaves the list (used by close).
    fn forget(&self, socket: &Socket) {
        self.drop_member(socket);
    }
}
