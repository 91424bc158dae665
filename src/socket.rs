//! The socket object every handle of a socket points to, and the blocking
//! receive/send loop shared by streams and datagrams.
//!
//! Descriptors are in blocking mode, with SO_RCVTIMEO/SO_SNDTIMEO for the
//! timeouts, so the common case is one system call. EINTR (SBCL's GC signals)
//! is retried with the time left: after the first EINTR the call waits in
//! `poll` against a monotonic deadline and then retries without blocking.
//!
//! Closing a socket that other threads are using shuts it down, which wakes
//! every thread blocked on it; they see `closed` and return
//! `USOCKET_ERR_INVALID_HANDLE`. The descriptor itself is closed when the last
//! `Arc` goes away, so it cannot be reused under a running call.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use socket2::Domain;

use crate::address::resolve_local;
use crate::error::{errno, Error, Result};
use crate::os::{poll_one, Deadline};

/// A set of sockets (a wait list) that must forget a socket when it closes.
/// Sockets know their sets only through this, so `socket` does not depend
/// on `wait`.
pub(crate) trait Membership: Send + Sync {
    fn forget(&self, socket: &Socket);
}

/// How long a blocking call may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Up to the socket's own receive (or send) timeout; forever without one.
    SocketTimeout,
    /// Up to this many ms, whatever the socket's timeout: < 0 forever, 0 not
    /// at all (the `_for` calls).
    For(i64),
}

/// What a socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream = crate::constants::USOCKET_KIND_STREAM as isize,
    StreamServer = crate::constants::USOCKET_KIND_STREAM_SERVER as isize,
    Datagram = crate::constants::USOCKET_KIND_DATAGRAM as isize,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stream => "stream socket",
            Kind::StreamServer => "stream server socket",
            Kind::Datagram => "datagram socket",
        }
    }
}

pub struct Socket {
    /// The descriptor, closed by `Drop` (or by `close` when the object is
    /// recycled) while `fd_open`.
    pub(crate) inner: ManuallyDrop<socket2::Socket>,
    fd_open: bool,
    pub kind: Kind,
    /// For datagram sockets: connected to one peer.
    pub connected: bool,
    /// A Unix-domain socket (its names are paths, not IP addresses).
    pub(crate) local: bool,
    closed: AtomicBool,
    handle: AtomicU64,
    /// Receive timeout in ms, 0 for none (mirrors SO_RCVTIMEO).
    pub(crate) receive_timeout_ms: AtomicI64,
    /// Send timeout in ms, 0 for none (mirrors SO_SNDTIMEO).
    pub(crate) send_timeout_ms: AtomicI64,
    /// The last bounded receive found data waiting (see `receiving`).
    data_waiting: AtomicBool,
    /// The wait lists (or other sets) this socket is in.
    lists: Mutex<Vec<Weak<dyn Membership>>>,
    /// The socket's address family, learnt on first need (datagram sends).
    pub(crate) is_ipv4: once_cell::sync::OnceCell<bool>,
    /// The socket file this socket created (Unix-domain), removed on close.
    pub(crate) bound_file: Mutex<Option<crate::local::BoundFile>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.fd_open {
            // SAFETY: the descriptor is ours and was not closed (`fd_open`).
            unsafe { ManuallyDrop::drop(&mut self.inner) };
        }
    }
}

/// A `poll` that took this long slept: one that returns at once takes well
/// under it, a wake-up from sleep (a context switch) more.
const SLEPT: std::time::Duration = std::time::Duration::from_micros(3);

/// How many closed socket objects a thread keeps for reuse: enough for a
/// burst of connections accepted before any is closed (a few hundred KiB at
/// most, and only on a thread that closed that many).
const POOL_SIZE: usize = 4096;

thread_local! {
    static POOL: RefCell<Vec<Arc<Socket>>> = const { RefCell::new(Vec::new()) };
}

impl Socket {
    /// A socket of `kind` over `inner` (an IP socket). Its allocation is one
    /// a closed socket of this thread left behind when there is one, so
    /// accepting and closing in a loop allocates nothing.
    pub fn new(inner: socket2::Socket, kind: Kind, connected: bool) -> Arc<Socket> {
        Socket::make(inner, kind, connected, false)
    }

    /// The same for a Unix-domain socket.
    pub fn new_local(inner: socket2::Socket, kind: Kind, connected: bool) -> Arc<Socket> {
        Socket::make(inner, kind, connected, true)
    }

    fn make(inner: socket2::Socket, kind: Kind, connected: bool, local: bool) -> Arc<Socket> {
        if let Some(mut spare) = POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten() {
            // Pooled objects are unshared and hold no descriptor (`recycle`):
            // set in place, keeping the allocations of the dead one.
            if let Some(dead) = Arc::get_mut(&mut spare) {
                dead.inner = ManuallyDrop::new(inner);
                dead.fd_open = true;
                dead.kind = kind;
                dead.connected = connected;
                dead.local = local;
                *dead.closed.get_mut() = false;
                *dead.handle.get_mut() = 0;
                *dead.receive_timeout_ms.get_mut() = 0;
                *dead.send_timeout_ms.get_mut() = 0;
                *dead.data_waiting.get_mut() = true;
                dead.lists.get_mut().clear();
                dead.is_ipv4.take();
                return spare;
            }
        }
        Arc::new(Socket {
            inner: ManuallyDrop::new(inner),
            fd_open: true,
            kind,
            connected,
            local,
            closed: AtomicBool::new(false),
            handle: AtomicU64::new(0),
            receive_timeout_ms: AtomicI64::new(0),
            send_timeout_ms: AtomicI64::new(0),
            data_waiting: AtomicBool::new(true),
            lists: Mutex::new(Vec::new()),
            is_ipv4: once_cell::sync::OnceCell::new(),
            bound_file: Mutex::new(None),
        })
    }

    /// Closes the descriptor of a socket nobody else holds and keeps its
    /// allocation for `make`.
    fn recycle(mut this: Arc<Socket>) {
        let Some(s) = Arc::get_mut(&mut this) else { return };
        // SAFETY: `fd_open` says the descriptor is still ours, and it is
        // cleared at once, so it is closed exactly once.
        unsafe { ManuallyDrop::drop(&mut s.inner) };
        s.fd_open = false;
        let _ = POOL.try_with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < POOL_SIZE {
                pool.push(this);
            }
        });
    }

    /// A Unix-domain socket.
    pub fn is_local(&self) -> bool {
        self.local
    }

    pub fn fd(&self) -> libc::c_int {
        self.inner.as_raw_fd()
    }

    pub fn handle(&self) -> u64 {
        self.handle.load(Ordering::Relaxed)
    }

    pub(crate) fn set_handle(&self, handle: u64) {
        self.handle.store(handle, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The error for a call that failed with `e`: a close under the call wins.
    pub(crate) fn fail(&self, e: i32, what: &str) -> Error {
        if self.is_closed() {
            Error::closed_during_call()
        } else if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            Error::timeout(what)
        } else {
            Error::from_errno(e, what)
        }
    }

    pub(crate) fn expect_kind(&self, kind: Kind, call: &str) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::wrong_kind(format!("{call} needs a {}, not a {}", kind.name(), self.kind.name())))
        }
    }

    /// Registers a wait list this socket was added to.
    pub(crate) fn joined_list(&self, list: Weak<dyn Membership>) {
        let mut lists = self.lists.lock();
        lists.retain(|w| w.strong_count() > 0);
        if !lists.iter().any(|w| Weak::ptr_eq(w, &list)) {
            lists.push(list);
        }
    }

    /// Forgets the set at `list` (its address).
    pub(crate) fn left_list(&self, list: *const ()) {
        self.lists.lock().retain(|w| w.strong_count() > 0 && w.as_ptr() as *const () != list);
    }

    /// Marks the socket closed, takes it out of its wait lists and wakes any
    /// thread blocked on it. `this` is the caller's reference, already out of
    /// the registry.
    pub fn close(this: Arc<Socket>) {
        if this.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        drop(this.bound_file.lock().take());
        let lists: Vec<Weak<dyn Membership>> = std::mem::take(&mut *this.lists.lock());
        for list in lists.iter().filter_map(Weak::upgrade) {
            list.forget(&this);
        }
        // Someone else still holds it: a call in progress. Shut it down so
        // every blocked call returns; the last holder closes the descriptor.
        if Arc::strong_count(&this) > 1 {
            // SAFETY: the descriptor stays open while `this` is held.
            unsafe { libc::shutdown(this.fd(), libc::SHUT_RDWR) };
        } else {
            Socket::recycle(this);
        }
    }

    /// Runs a receive-like call (`op` returns the syscall's result) with the
    /// socket's receive timeout, retrying EINTR with the time left.
    #[inline]
    pub(crate) fn blocking_in<F>(&self, what: &str, op: F) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        self.blocking(what, libc::POLLIN, self.receive_timeout_ms.load(Ordering::Relaxed), op)
    }

    /// The same for send-like calls, with the send timeout.
    #[inline]
    pub(crate) fn blocking_out<F>(&self, what: &str, op: F) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        self.blocking(what, libc::POLLOUT, self.send_timeout_ms.load(Ordering::Relaxed), op)
    }

    #[inline]
    fn blocking<F>(&self, what: &str, events: libc::c_short, timeout_ms: i64, mut op: F) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        // The deadline counts from the start of the call, so an EINTR late in
        // the wait leaves only the time that is left (reading the clock costs
        // a vDSO call, and only when a timeout is set).
        let started = if timeout_ms > 0 { Some(Instant::now()) } else { None };
        let n = op(0);
        if n >= 0 {
            return Ok(n);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(self.fail(e, what));
        }
        let deadline = match started {
            Some(at) => Deadline::at(at, timeout_ms),
            None => Deadline::never(),
        };
        self.retry_interrupted(what, events, deadline, op)
    }

    /// Runs a call bounded by `timeout_ms` (< 0 forever, 0 no wait) rather
    /// than the socket's own timeout, which it neither reads nor changes:
    /// the call is made without blocking, and while it would block the
    /// thread waits in `poll` for the time left.
    pub(crate) fn blocking_for<F>(&self, what: &str, events: libc::c_short, timeout_ms: i64, op: F) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        self.bounded(what, events, timeout_ms, true, op).map(|(n, _)| n)
    }

    /// `blocking_for`, trying the call before waiting only when `try_first`
    /// (else it waits in `poll` first: a reply that is not there yet then
    /// costs poll and the call, not the call, poll and the call again).
    /// Also says whether the data had to be waited for: the first try found
    /// none, or the poll slept (it took longer than an immediate return).
    fn bounded<F>(&self, what: &str, events: libc::c_short, timeout_ms: i64, try_first: bool, mut op: F) -> Result<(isize, bool)>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        if try_first || timeout_ms == 0 {
            let n = op(libc::MSG_DONTWAIT);
            if n >= 0 {
                return Ok((n, false));
            }
            let e = errno();
            if e != libc::EINTR && e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                return Err(self.fail(e, what));
            }
            return self.retry_interrupted(what, events, Deadline::after_ms(timeout_ms), op).map(|n| (n, true));
        }
        let started = Instant::now();
        let n = self.retry_interrupted(what, events, Deadline::since(started, timeout_ms), op)?;
        Ok((n, started.elapsed() >= SLEPT))
    }

    /// A receive-like call waiting as `wait` says. A bounded one tries the
    /// call first only while data has been waiting: after it had to wait
    /// (request and reply), it waits first, until data is found waiting
    /// again (bulk transfers).
    #[inline]
    pub(crate) fn receiving<F>(&self, what: &str, wait: Wait, op: F) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        match wait {
            Wait::SocketTimeout => self.blocking_in(what, op),
            Wait::For(ms) => {
                let waiting = self.data_waiting.load(Ordering::Relaxed);
                let (n, waited) = self.bounded(what, libc::POLLIN, ms, waiting, op)?;
                if waited == waiting {
                    self.data_waiting.store(!waited, Ordering::Relaxed);
                }
                Ok(n)
            }
        }
    }

    /// A new descriptor for this socket, close-on-exec, owned by the caller.
    pub fn dup_fd(&self) -> Result<libc::c_int> {
        // SAFETY: fcntl on a descriptor this socket owns; F_DUPFD_CLOEXEC
        // only creates a new descriptor.
        let fd = unsafe { libc::fcntl(self.fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(self.fail(errno(), "duplicating the descriptor"));
        }
        Ok(fd)
    }

    /// After an EINTR: wait in `poll` for the rest of the timeout, then try
    /// again without blocking, until done, timed out, failed or closed.
    #[cold]
    pub(crate) fn retry_interrupted<F>(
        &self,
        what: &str,
        events: libc::c_short,
        deadline: Deadline,
        mut op: F,
    ) -> Result<isize>
    where
        F: FnMut(libc::c_int) -> isize,
    {
        loop {
            if self.is_closed() {
                return Err(Error::closed_during_call());
            }
            let revents = poll_one(self.fd(), events, deadline)?;
            if revents == 0 {
                return Err(Error::timeout(what));
            }
            let n = op(libc::MSG_DONTWAIT);
            if n >= 0 {
                return Ok(n);
            }
            let e = errno();
            if e != libc::EINTR && e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                return Err(self.fail(e, what));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What stream and datagram sockets share: connect options, local binding,
// timeouts.

/// What `connect` is asked to do, for stream and datagram sockets alike (the
/// C `usocket_connect_options`, checked).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub datagram: bool,
    /// Read/receive timeout in ms; <= 0: none. Also bounds the connect.
    pub timeout_ms: i64,
    /// Bound for the connect alone; <= 0: `timeout_ms` if set, else the OS's.
    pub connect_timeout_ms: i64,
    pub nodelay: bool,
    pub local_host: Option<String>,
    pub local_port: u16,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            datagram: false,
            timeout_ms: 0,
            connect_timeout_ms: 0,
            nodelay: true,
            local_host: None,
            local_port: 0,
        }
    }
}

impl ConnectOptions {
    /// How long a stream connect may take: `connect_timeout_ms`, else
    /// `timeout_ms`, else as long as the OS tries (-1).
    pub(crate) fn connect_bound_ms(&self) -> i64 {
        if self.connect_timeout_ms > 0 {
            self.connect_timeout_ms
        } else if self.timeout_ms > 0 {
            self.timeout_ms
        } else {
            -1
        }
    }
}

pub(crate) fn domain_of(ip: &IpAddr) -> Domain {
    if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// The local address to bind for `remote`'s family, if the caller asked for one.
pub(crate) fn local_for(remote: &IpAddr, host: Option<&str>, port: u16) -> Result<Option<SocketAddr>> {
    if host.is_none() && port == 0 {
        return Ok(None);
    }
    let wildcard = matches!(host, None | Some("") | Some("0.0.0.0"));
    if wildcard {
        let ip: IpAddr = if remote.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        return Ok(Some(SocketAddr::new(ip, port)));
    }
    let candidates = resolve_local(host)?;
    match candidates.iter().find(|ip| ip.is_ipv4() == remote.is_ipv4()) {
        Some(ip) => Ok(Some(SocketAddr::new(*ip, port))),
        None => Err(Error::new(
            crate::error::USOCKET_ERR_ADDRESS_NOT_AVAILABLE,
            format!("local host {:?} has no address of the remote's family", host.unwrap_or("")),
        )),
    }
}

/// Sets SO_RCVTIMEO / SO_SNDTIMEO and the mirrors.
pub(crate) fn set_receive_timeout(s: &Socket, ms: i64) -> Result<()> {
    let d = if ms > 0 { Some(std::time::Duration::from_millis(ms as u64)) } else { None };
    s.inner.set_read_timeout(d).map_err(|e| Error::from_io(e, "setting the receive timeout"))?;
    s.receive_timeout_ms.store(ms.max(0), Ordering::Relaxed);
    Ok(())
}

pub(crate) fn set_send_timeout(s: &Socket, ms: i64) -> Result<()> {
    let d = if ms > 0 { Some(std::time::Duration::from_millis(ms as u64)) } else { None };
    s.inner.set_write_timeout(d).map_err(|e| Error::from_io(e, "setting the send timeout"))?;
    s.send_timeout_ms.store(ms.max(0), Ordering::Relaxed);
    Ok(())
}

