//! usocket's socket-server in the core: a TCP or UDP server that calls a
//! handler for each client (TCP) or datagram (UDP).
//!
//! - TCP: the loop accepts clients and calls the handler with the client's
//!   handle (registered, so the handler uses the ordinary socket calls on it)
//!   and address; the server closes the handle when the handler returns.
//!   Without `multi_threading` the handler runs on the loop's thread, one
//!   client at a time (as usocket does); with it, each client gets a thread
//!   of its own with a small stack, so a slow or stuck handler never stops
//!   the loop from accepting.
//! - UDP: the loop receives each datagram (zero-length ones too) into a
//!   buffer of `max_buffer_size` bytes and calls the handler, which writes
//!   its reply into a second buffer of the same size and returns its length
//!   (0: no reply); the reply goes to the datagram's sender.
//! - `stop` closes the listening (or datagram) socket at once, which wakes
//!   the loop's blocked accept/receive; running handlers are not waited for
//!   and finish on their own. `wait` waits for that.
//!
//! Every thread the server creates blocks asynchronous signals (the spawning
//! thread blocks them around the `clone` too, so no signal lands in the new
//! thread before it has). No lock is held while a handler runs, and no panic
//! leaves the server: it is reported on stderr and serving goes on.

use std::cell::Cell;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::datagram::{self, MAX_DATAGRAM};
use crate::error::{Error, Result};
use crate::os::Deadline;
use crate::socket::{Socket, Wait};
use crate::stream::{self, ListenOptions};

/// Stack of a thread serving one TCP client (multi-threading): small, so
/// thousands of clients fit; only the pages a handler touches use memory.
pub(crate) const CLIENT_STACK_SIZE: usize = 128 * 1024;
/// Stack of the loop thread `spawn` creates (UDP handlers run on it).
pub(crate) const LOOP_STACK_SIZE: usize = 1024 * 1024;
/// The smallest and largest stack `set_stack_size` takes.
pub(crate) const MIN_STACK_SIZE: usize = 64 * 1024;
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;
/// The default listen backlog: SOMAXCONN (the kernel caps it at
/// net.core.somaxconn), so a burst of connections is not dropped.
pub(crate) const DEFAULT_BACKLOG: i32 = crate::constants::USOCKET_SERVER_DEFAULT_BACKLOG;
/// The default UDP receive timeout of the loop, in ms.
pub(crate) const DEFAULT_TIMEOUT_MS: i64 = crate::constants::USOCKET_SERVER_DEFAULT_TIMEOUT_MS;

/// What `Server::new` is asked to do (the C `usocket_server_options`, checked).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub datagram: bool,
    pub reuse_address: bool,
    pub backlog: i32,
    pub multi_threading: bool,
    /// UDP: SO_RCVTIMEO of the loop's socket; <= 0: none.
    pub timeout_ms: i64,
    /// UDP: size of the receive and of the reply buffer, 1..=65507.
    pub max_buffer_size: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            datagram: false,
            reuse_address: true,
            backlog: DEFAULT_BACKLOG,
            multi_threading: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_buffer_size: MAX_DATAGRAM,
        }
    }
}

/// A TCP handler: gets the client, which it owns from then on, and its
/// address (0.0.0.0:0 for a Unix-domain client).
pub type TcpHandler = Box<dyn Fn(Arc<Socket>, &SocketAddr) + Send + Sync>;
/// A UDP handler: gets the datagram, its sender and the reply buffer;
/// returns the reply's length (0: none).
pub type UdpHandler = Box<dyn Fn(&[u8], &SocketAddr, &mut [u8]) -> usize + Send + Sync>;

/// The handler of a server, which must match its protocol.
pub enum Handler {
    Tcp(TcpHandler),
    Udp(UdpHandler),
    /// None: the caller serves with `next` / `next_datagram` and `reply`
    /// on threads of its own (a binding's server).
    Caller,
}

struct State {
    /// A loop is running (or a spawned loop thread is about to).
    serving: bool,
    /// Multi-threaded TCP handlers that have not ended yet.
    active: usize,
    /// The listening or datagram socket, until `stop` takes it to close it.
    socket: Option<Arc<Socket>>,
}

pub struct Server {
    handler: Handler,
    datagram: bool,
    /// `usocket_close` was called on it (a stop from the registry's side).
    closed: AtomicBool,
    local: SocketAddr,
    /// the path of a Unix-domain server (then `local_addr` is WRONG_KIND).
    local_path: Option<String>,
    multi_threading: bool,
    max_buffer_size: usize,
    /// Stack size of the threads the server creates; 0: the defaults.
    stack_size: AtomicUsize,
    stopped: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

thread_local! {
    /// The server whose loop runs on this thread (its address), or 0.
    static LOOP_OF: Cell<usize> = const { Cell::new(0) };
    /// The server whose handler runs on this thread (its address), or 0.
    static HANDLER_OF: Cell<usize> = const { Cell::new(0) };
    /// This thread was made by the server and has asynchronous signals blocked.
    static MASKED: Cell<bool> = const { Cell::new(false) };
}

/// Sets a thread-local marker for the guard's lifetime, restoring the old value.
struct Mark {
    key: &'static std::thread::LocalKey<Cell<usize>>,
    old: usize,
}

impl Mark {
    fn set(key: &'static std::thread::LocalKey<Cell<usize>>, value: usize) -> Mark {
        let old = key.with(|c| c.replace(value));
        Mark { key, old }
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        let old = self.old;
        self.key.with(|c| c.set(old));
    }
}

/// Reports a problem on stderr, at most a few lines a second.
pub(crate) fn report(what: &str) {
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static START: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);
    let second = START.elapsed().as_secs();
    if WINDOW.swap(second, Ordering::Relaxed) != second {
        COUNT.store(0, Ordering::Relaxed);
    }
    if COUNT.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("usocket server: {what}");
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_owned()
    }
}

/// Starts a detached thread that runs `f` with asynchronous signals blocked
/// from its first instruction: the caller blocks them around the spawn (the
/// new thread inherits the mask) and the thread blocks them again itself.
fn spawn_masked<F>(name: &str, stack: usize, f: F) -> std::io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    let builder = std::thread::Builder::new().name(name.to_owned()).stack_size(stack);
    let body = move || {
        crate::os::block_async_signals();
        MASKED.with(|m| m.set(true));
        f()
    };
    if MASKED.with(|m| m.get()) {
        return builder.spawn(body).map(|_| ());
    }
    // SAFETY: sigset_t is plain data; the masks change only this thread's signals, and the old mask is restored.
    unsafe {
        let set = crate::os::async_signals();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let r = builder.spawn(body);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r.map(|_| ())
    }
}

/// How long the server waits before accepting again when descriptors or
/// memory ran out, or receiving failed again and again.
const BACK_OFF: Duration = Duration::from_millis(10);

/// What to do after a failed accept.
enum AcceptFailure {
    /// An error of that one connection (accept(2) lists them): at once.
    Retry,
    /// Out of descriptors or memory: after a pause, so handlers can free some.
    BackOff,
    /// A timeout, or a failure of the listener itself.
    Fail,
}

fn accept_failure(e: &Error) -> AcceptFailure {
    if e.code == crate::error::USOCKET_ERR_TIMEOUT {
        return AcceptFailure::Fail;
    }
    match e.os_error {
        libc::ECONNABORTED
        | libc::EPROTO
        | libc::ENETDOWN
        | libc::ENOPROTOOPT
        | libc::EHOSTDOWN
        | libc::ENONET
        | libc::EHOSTUNREACH
        | libc::EOPNOTSUPP
        | libc::ENETUNREACH
        | libc::EPERM
        | libc::EINTR
        | libc::EAGAIN
        | libc::ETIMEDOUT => AcceptFailure::Retry,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => AcceptFailure::BackOff,
        _ => AcceptFailure::Fail,
    }
}

/// The time left before `deadline`, for a pause (forever: no bound).
fn remaining(deadline: &Deadline) -> Duration {
    match deadline.remaining_ms() {
        ms if ms < 0 => Duration::MAX,
        ms => Duration::from_millis(ms as u64),
    }
}

/// The datagram socket of a UDP server.
fn udp_socket(host: Option<&str>, port: u16, opts: &ServerOptions) -> Result<Arc<Socket>> {
    let s = datagram::bound(host, port, opts.reuse_address)?;
    if opts.timeout_ms > 0 {
        crate::socket::set_receive_timeout(&s, opts.timeout_ms)?;
    }
    Ok(s)
}

/// Ends serving when dropped (also on a panic): the loop is over.
struct Serving<'a>(&'a Server);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.loop_ended();
    }
}

impl Server {
    /// Binds (and for TCP listens on) `host`:`port`; serves nothing yet.
    /// `host` None, "" or "0.0.0.0": every IPv4 interface. Port 0 picks a
    /// free port, which `local_addr` reports.
    pub fn new(host: Option<&str>, port: u16, opts: &ServerOptions, handler: Handler) -> Result<Arc<Server>> {
        let datagram = opts.datagram;
        if matches!((&handler, datagram), (Handler::Tcp(_), true) | (Handler::Udp(_), false)) {
            return Err(Error::invalid_argument("the handler does not match the server's protocol"));
        }
        if datagram {
            if opts.max_buffer_size == 0 || opts.max_buffer_size > MAX_DATAGRAM {
                return Err(Error::invalid_argument(format!(
                    "max_buffer_size {} is outside 1..={MAX_DATAGRAM}",
                    opts.max_buffer_size
                )));
            }
            if !(0..=crate::options::MAX_TIMEOUT_MS).contains(&opts.timeout_ms) {
                return Err(Error::invalid_argument(format!(
                    "timeout_ms {} is outside 0..={}",
                    opts.timeout_ms,
                    crate::options::MAX_TIMEOUT_MS
                )));
            }
        }
        let socket = if datagram {
            udp_socket(host, port, opts)?
        } else {
            stream::listen(host, port, &ListenOptions { reuse_address: opts.reuse_address, backlog: opts.backlog })?
        };
        let local = socket
            .inner
            .local_addr()
            .map_err(|e| Error::from_io(e, "getsockname"))?
            .as_socket()
            .ok_or_else(|| Error::internal("the server's socket has no IP address"))?;
        Server::from_socket(socket, local, None, opts, handler)
    }

    /// A server on a socket that is bound (and for TCP listening)
    /// already, such as a Unix-domain listener (`local_path`: its path).
    pub(crate) fn from_socket(
        socket: Arc<Socket>,
        local: SocketAddr,
        local_path: Option<String>,
        opts: &ServerOptions,
        handler: Handler,
    ) -> Result<Arc<Server>> {
        Ok(Arc::new(Server {
            handler,
            datagram: opts.datagram,
            closed: AtomicBool::new(false),
            local,
            local_path,
            multi_threading: opts.multi_threading,
            max_buffer_size: opts.max_buffer_size,
            stack_size: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            state: Mutex::new(State { serving: false, active: 0, socket: Some(socket) }),
            changed: Condvar::new(),
        }))
    }

    fn id(&self) -> usize {
        self as *const Server as usize
    }

    fn is_datagram(&self) -> bool {
        self.datagram
    }

    /// A Unix-domain server (its clients have no IP address).
    pub fn is_local(&self) -> bool {
        self.local_path.is_some()
    }

    /// The address the server is bound to (also after it was stopped).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        if self.is_local() {
            return Err(Error::wrong_kind("a Unix-domain server has no IP address: use usocket_local_path"));
        }
        Ok(self.local)
    }

    /// The path of a Unix-domain server, None for TCP and UDP.
    pub fn local_path(&self) -> Option<&str> {
        self.local_path.as_deref()
    }

    /// Sets the stack size of the threads the server creates from now on
    /// (client threads, and the loop thread of a later `spawn`); 0 restores
    /// the defaults (128 KiB a client thread, 1 MiB the loop thread). Hosts
    /// whose handlers run an interpreter (Python callbacks) need more than
    /// 128 KiB.
    pub fn set_stack_size(&self, bytes: usize) -> Result<()> {
        if bytes != 0 && !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&bytes) {
            return Err(Error::invalid_argument(format!(
                "stack size {bytes} is outside {MIN_STACK_SIZE}..={MAX_STACK_SIZE} (or 0 for the defaults)"
            )));
        }
        self.stack_size.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    fn stack_or(&self, default: usize) -> usize {
        match self.stack_size.load(Ordering::Relaxed) {
            0 => default,
            n => n,
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Multi-threaded TCP handlers still running.
    pub fn active_handlers(&self) -> usize {
        self.state.lock().active
    }

    /// Marks the loop as started and returns the socket to serve on; None
    /// when the server was stopped already (there is nothing to serve).
    fn begin(&self) -> Result<Option<Arc<Socket>>> {
        if matches!(self.handler, Handler::Caller) {
            return Err(Error::invalid_argument(
                "a server made without handlers is served with usocket_server_next, not run or spawn",
            ));
        }
        let mut st = self.state.lock();
        if st.serving {
            return Err(Error::invalid_argument("the server is already serving (run or spawn was called before)"));
        }
        if self.is_stopped() {
            return Ok(None);
        }
        st.serving = true;
        Ok(st.socket.clone())
    }

    fn loop_ended(&self) {
        // A stop from inside a UDP handler left the socket to us to close.
        let deferred = {
            let mut st = self.state.lock();
            st.serving = false;
            let s = if self.is_stopped() { st.socket.take() } else { None };
            self.changed.notify_all();
            s
        };
        if let Some(s) = deferred {
            Socket::close(s);
        }
    }

    /// Serves on the calling thread until the server is stopped. On a server
    /// that was stopped already it returns at once.
    pub fn run(self: &Arc<Self>) -> Result<()> {
        let socket = match self.begin()? {
            Some(s) => s,
            None => return Ok(()),
        };
        let _serving = Serving(self);
        self.serve(socket);
        Ok(())
    }

    /// Serves on a new thread of its own.
    pub fn spawn(self: &Arc<Self>) -> Result<()> {
        let socket = match self.begin()? {
            Some(s) => s,
            None => return Ok(()),
        };
        let server = Arc::clone(self);
        let started = spawn_masked("usocket-server", self.stack_or(LOOP_STACK_SIZE), move || {
            let _serving = Serving(&server);
            server.serve(socket);
        });
        if let Err(e) = started {
            // The closure and its references are gone: nothing serves.
            self.loop_ended();
            return Err(Error::from_errno(e.raw_os_error().unwrap_or(libc::EAGAIN), "starting the server's thread"));
        }
        Ok(())
    }

    /// Stops the server: closes its socket at once (new clients are refused,
    /// a blocked accept or receive wakes) and returns without waiting for
    /// running handlers. From inside a UDP handler the socket is closed when
    /// the handler returns, after its reply was sent. Stopping twice is harmless.
    pub fn stop(&self) {
        let own_udp_loop = self.is_datagram() && LOOP_OF.with(|c| c.get()) == self.id();
        let socket = {
            let mut st = self.state.lock();
            // Set under the lock, so a waiter on `changed` cannot miss it.
            self.stopped.store(true, Ordering::Release);
            self.changed.notify_all();
            if own_udp_loop {
                None
            } else {
                st.socket.take()
            }
        };
        if let Some(s) = socket {
            Socket::close(s);
        }
    }

    /// `usocket_close` on a server: stops it (the registry has let go of it).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.stop();
    }

    /// What a caller's call on a stopped server gets: SHUTDOWN, or
    /// INVALID_HANDLE when the server was closed under the call.
    fn stopped_error(&self) -> Error {
        if self.closed.load(Ordering::Acquire) {
            Error::closed_during_call()
        } else {
            Error::new(crate::error::USOCKET_ERR_SHUTDOWN, "the server was stopped")
        }
    }

    /// The socket a caller serves on with `next`, `next_datagram` and
    /// `reply`: not while `run` or `spawn` serves.
    fn caller_socket(&self, datagram: bool) -> Result<Arc<Socket>> {
        if self.datagram != datagram {
            return Err(Error::invalid_argument(if datagram {
                "a TCP server: use usocket_server_next"
            } else {
                "a UDP server: use usocket_server_next_datagram"
            }));
        }
        let st = self.state.lock();
        if st.serving {
            return Err(Error::invalid_argument(
                "the server is being served by usocket_server_run or usocket_server_spawn",
            ));
        }
        match &st.socket {
            Some(s) if !self.is_stopped() => Ok(s.clone()),
            _ => Err(self.stopped_error()),
        }
    }

    /// The next client, with the server's accept policy: errors of one
    /// connection retried at once, lack of descriptors or memory backed off,
    /// never a busy loop. TIMEOUT when none came within `timeout_ms` (< 0
    /// forever, 0 no wait); SHUTDOWN once stopped. The caller owns the
    /// client.
    pub fn next(&self, timeout_ms: i64, want_peer: bool) -> Result<(Arc<Socket>, Option<SocketAddr>)> {
        let listener = self.caller_socket(false)?;
        let deadline = Deadline::after_ms(timeout_ms);
        loop {
            match stream::accept(&listener, want_peer, Wait::For(deadline.remaining_ms())) {
                Ok(got) => return Ok(got),
                Err(e) => {
                    if self.is_stopped() || listener.is_closed() {
                        return Err(self.stopped_error());
                    }
                    match accept_failure(&e) {
                        AcceptFailure::Retry => {}
                        AcceptFailure::BackOff => {
                            if deadline.expired() {
                                return Err(Error::timeout("accepting a client"));
                            }
                            self.pause(BACK_OFF.min(remaining(&deadline)));
                        }
                        AcceptFailure::Fail => return Err(e),
                    }
                }
            }
        }
    }

    /// The next datagram, cut to `buf`, and its sender. Receive errors (an
    /// ICMP error of an earlier reply) are passed over, as the server's own
    /// loop does. TIMEOUT, SHUTDOWN as for `next`.
    pub fn next_datagram(&self, timeout_ms: i64, buf: &mut [u8]) -> Result<(usize, Option<SocketAddr>)> {
        let socket = self.caller_socket(true)?;
        let deadline = Deadline::after_ms(timeout_ms);
        let mut failures = 0u32;
        loop {
            match datagram::receive_waiting(&socket, buf, true, Wait::For(deadline.remaining_ms())) {
                Ok(got) => return Ok(got),
                Err(e) => {
                    if self.is_stopped() || socket.is_closed() {
                        return Err(self.stopped_error());
                    }
                    if e.code == crate::error::USOCKET_ERR_TIMEOUT {
                        return Err(e);
                    }
                    failures += 1;
                    if failures > 3 {
                        if deadline.expired() {
                            return Err(Error::timeout("receiving a datagram"));
                        }
                        self.pause(BACK_OFF.min(remaining(&deadline)));
                    }
                }
            }
        }
    }

    /// Sends a reply of at most `max_buffer_size` bytes to `peer`.
    pub fn reply(&self, buf: &[u8], peer: &SocketAddr) -> Result<()> {
        let socket = self.caller_socket(true)?;
        if buf.len() > self.max_buffer_size {
            return Err(Error::invalid_argument(format!(
                "a reply of {} bytes is longer than the server's max_buffer_size {}",
                buf.len(),
                self.max_buffer_size
            )));
        }
        datagram::send_to(&socket, buf, peer).map(|_| ())
    }

    /// Waits until the server is stopped, its loop has returned and every
    /// handler has ended, or `timeout_ms` passes (< 0: forever). Returns
    /// whether that happened. Not from inside one of its own handlers.
    pub fn wait(&self, timeout_ms: i64) -> Result<bool> {
        if LOOP_OF.with(|c| c.get()) == self.id() || HANDLER_OF.with(|c| c.get()) == self.id() {
            return Err(Error::invalid_argument("waiting for a server from inside its own handler would never end"));
        }
        // None: forever (also when the deadline would not fit in an Instant).
        let deadline = Deadline::after_ms(timeout_ms).instant();
        let done = |st: &State| self.is_stopped() && !st.serving && st.active == 0;
        let mut st = self.state.lock();
        while !done(&st) {
            match deadline {
                None => self.changed.wait(&mut st),
                Some(at) => {
                    if self.changed.wait_until(&mut st, at).timed_out() {
                        return Ok(done(&st));
                    }
                }
            }
        }
        Ok(true)
    }

    /// Sleeps up to `d`, but not past a stop.
    fn pause(&self, d: Duration) {
        let mut st = self.state.lock();
        if !self.is_stopped() {
            self.changed.wait_for(&mut st, d);
        }
    }

    fn serve(self: &Arc<Self>, socket: Arc<Socket>) {
        let _mark = Mark::set(&LOOP_OF, self.id());
        match &self.handler {
            Handler::Tcp(_) => self.serve_tcp(&socket),
            Handler::Udp(h) => self.serve_udp(&socket, h),
            Handler::Caller => {} // `begin` refuses to serve these
        }
    }

    // ---- TCP ------------------------------------------------------------

    fn serve_tcp(self: &Arc<Self>, listener: &Arc<Socket>) {
        while !self.is_stopped() {
            let step = catch_unwind(AssertUnwindSafe(|| self.accept_one(listener)));
            match step {
                Ok(true) => {}
                Ok(false) => break,
                Err(p) => {
                    report(&format!("a panic in the accept loop was caught: {}", panic_text(&*p)));
                    self.pause(BACK_OFF);
                }
            }
        }
    }

    /// Accepts and dispatches one client; false when the loop must end.
    fn accept_one(self: &Arc<Self>, listener: &Arc<Socket>) -> bool {
        match stream::accept(listener, true, Wait::SocketTimeout) {
            Ok((client, peer)) => {
                let peer = peer.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                if self.is_stopped() {
                    return false; // dropping `client` closes it
                }
                if self.multi_threading {
                    self.dispatch_thread(client, peer);
                } else {
                    self.serve_client(client, &peer);
                }
                true
            }
            Err(e) => {
                if self.is_stopped() || listener.is_closed() {
                    return false;
                }
                match accept_failure(&e) {
                    AcceptFailure::Retry => {}
                    AcceptFailure::BackOff | AcceptFailure::Fail => {
                        report(&format!("accept failed, retrying: {e}"));
                        self.pause(BACK_OFF);
                    }
                }
                true
            }
        }
    }

    fn dispatch_thread(self: &Arc<Self>, client: Arc<Socket>, peer: SocketAddr) {
        self.state.lock().active += 1;
        let server = Arc::clone(self);
        let started = spawn_masked("usocket-client", self.stack_or(CLIENT_STACK_SIZE), move || {
            server.serve_client(client, &peer);
            server.handler_ended();
        });
        if let Err(e) = started {
            // The closure is gone, and with it the client: refused.
            self.handler_ended();
            report(&format!("no thread for a client ({e}); its connection was closed"));
            self.pause(BACK_OFF);
        }
    }

    fn handler_ended(&self) {
        let mut st = self.state.lock();
        st.active -= 1;
        // Wakes `wait`, and an accept loop pausing for lack of descriptors.
        self.changed.notify_all();
    }

    /// Runs the handler for one client, which it hands over.
    fn serve_client(&self, client: Arc<Socket>, peer: &SocketAddr) {
        if let Handler::Tcp(h) = &self.handler {
            let _mark = Mark::set(&HANDLER_OF, self.id());
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| h(client, peer))) {
                report(&format!("a panic in a TCP handler was caught: {}", panic_text(&*p)));
            }
        }
    }

    // ---- UDP ------------------------------------------------------------

    fn serve_udp(&self, socket: &Arc<Socket>, handler: &UdpHandler) {
        let cap = self.max_buffer_size;
        let mut data = vec![0u8; cap];
        let mut reply = vec![0u8; cap];
        let mut failures = 0u32;
        while !self.is_stopped() {
            let step = catch_unwind(AssertUnwindSafe(|| self.receive_one(socket, handler, &mut data, &mut reply)));
            match step {
                Ok(Ok(true)) => failures = 0,
                Ok(Ok(false)) => break,
                Ok(Err(e)) => {
                    if self.is_stopped() || socket.is_closed() {
                        break;
                    }
                    if e.code != crate::error::USOCKET_ERR_TIMEOUT {
                        report(&format!("receiving a datagram failed, going on: {e}"));
                        failures += 1;
                        if failures > 3 {
                            self.pause(BACK_OFF);
                        }
                    }
                }
                Err(p) => {
                    report(&format!("a panic in the datagram loop was caught: {}", panic_text(&*p)));
                    self.pause(BACK_OFF);
                }
            }
        }
    }

    /// Receives one datagram, calls the handler and sends its reply; false
    /// when the loop must end.
    fn receive_one(&self, socket: &Socket, handler: &UdpHandler, data: &mut [u8], reply: &mut [u8]) -> Result<bool> {
        let (n, peer) = datagram::receive(socket, data, true)?;
        if self.is_stopped() || socket.is_closed() {
            return Ok(false);
        }
        let peer = match peer {
            Some(p) => p,
            None => return Ok(true), // no sender to answer: not from IP
        };
        let len = {
            let _mark = Mark::set(&HANDLER_OF, self.id());
            match catch_unwind(AssertUnwindSafe(|| handler(&data[..n], &peer, reply))) {
                Ok(len) => len,
                Err(p) => {
                    report(&format!("a panic in a UDP handler was caught: {}", panic_text(&*p)));
                    0
                }
            }
        };
        let len = if len > reply.len() {
            report(&format!("a UDP handler returned {len}, more than its {} byte buffer: reply cut", reply.len()));
            reply.len()
        } else {
            len
        };
        if len > 0 {
            if let Err(e) = datagram::send_to(socket, &reply[..len], &peer) {
                if !self.is_stopped() {
                    report(&format!("a reply to {peer} could not be sent: {e}"));
                }
            }
        }
        Ok(!self.is_stopped())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.state.get_mut().socket.take() {
            Socket::close(s);
        }
    }
}
