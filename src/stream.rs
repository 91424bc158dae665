//! TCP: connect, listen, accept, read, write, shutdown.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use socket2::{Protocol, SockAddr, Type};

use crate::address::{resolve, resolve_local};
use crate::constants::{USOCKET_DEFAULT_BACKLOG, USOCKET_SHUT_BOTH, USOCKET_SHUT_INPUT, USOCKET_SHUT_OUTPUT};
use crate::error::{Error, Result, USOCKET_ERR_INVALID_ARGUMENT};
use crate::os::{poll_one, Deadline};
use crate::socket::{domain_of, local_for, set_receive_timeout, ConnectOptions, Kind, Socket, Wait};

/// What `listen` is asked to do.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub reuse_address: bool,
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { reuse_address: false, backlog: USOCKET_DEFAULT_BACKLOG }
    }
}

/// Connects one stream socket to `addr`, bounded by `timeout_ms` (< 0: the
/// OS's limit; 0: no wait at all, so a connection not made by the time
/// connect(2) returns is a timeout, as usocket's `:timeout 0`).
fn connect_one(addr: SocketAddr, local: Option<SocketAddr>, timeout_ms: i64) -> Result<socket2::Socket> {
    let deadline = Deadline::after_ms(timeout_ms);
    let sock = socket2::Socket::new(domain_of(&addr.ip()), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::from_io(e, "socket"))?;
    if let Some(local) = local {
        sock.bind(&SockAddr::from(local)).map_err(|e| Error::from_io(e, &format!("binding {local}")))?;
    }
    sock.set_nonblocking(true).map_err(|e| Error::from_io(e, "fcntl"))?;
    match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.raw_os_error() == Some(libc::EINTR) => {
            if timeout_ms == 0 {
                return Err(Error::timeout(&format!("connecting to {addr} (no time to wait)")));
            }
            // Wait for the outcome; never call connect again.
            let revents = poll_one(sock.as_raw_fd(), libc::POLLOUT, deadline)?;
            if revents == 0 {
                return Err(Error::timeout(&format!("connecting to {addr}")));
            }
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) => return Err(Error::from_io(e, &format!("connecting to {addr}"))),
                Err(e) => return Err(Error::from_io(e, "getsockopt(SO_ERROR)")),
            }
        }
        Err(e) => return Err(Error::from_io(e, &format!("connecting to {addr}"))),
    }
    sock.set_nonblocking(false).map_err(|e| Error::from_io(e, "fcntl"))?;
    Ok(sock)
}

/// Opens a TCP connection to `host`:`port`, trying each address in order.
pub fn connect(host: &str, port: u16, opts: &ConnectOptions) -> Result<Arc<Socket>> {
    connect_within(host, port, opts, None)
}

/// `connect`, with the connect itself bounded by `timeout_ms` when given
/// (< 0 forever, 0 no wait) instead of the options' timeouts.
pub fn connect_within(host: &str, port: u16, opts: &ConnectOptions, timeout_ms: Option<i64>) -> Result<Arc<Socket>> {
    let addrs = resolve(host)?;
    let bound = timeout_ms.map_or_else(|| opts.connect_bound_ms(), |ms| ms.max(-1));
    let mut last: Option<Error> = None;
    for ip in addrs {
        let local = match local_for(&ip, opts.local_host.as_deref(), opts.local_port) {
            Ok(l) => l,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        match connect_one(SocketAddr::new(ip, port), local, bound) {
            Ok(sock) => {
                let s = Socket::new(sock, Kind::Stream, true);
                if opts.nodelay {
                    s.inner.set_nodelay(true).map_err(|e| Error::from_io(e, "setting TCP_NODELAY"))?;
                }
                if opts.timeout_ms > 0 {
                    set_receive_timeout(&s, opts.timeout_ms)?;
                }
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::invalid_argument(format!("no address to connect to for {host:?}"))))
}

/// A listening socket on `host`:`port`.
pub fn listen(host: Option<&str>, port: u16, opts: &ListenOptions) -> Result<Arc<Socket>> {
    if opts.backlog < 0 {
        return Err(Error::invalid_argument(format!("backlog {} is negative", opts.backlog)));
    }
    let ip = resolve_local(host)?[0];
    let sock = socket2::Socket::new(domain_of(&ip), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::from_io(e, "socket"))?;
    if opts.reuse_address {
        sock.set_reuse_address(true).map_err(|e| Error::from_io(e, "setting SO_REUSEADDR"))?;
    }
    let addr = SocketAddr::new(ip, port);
    sock.bind(&SockAddr::from(addr)).map_err(|e| Error::from_io(e, &format!("binding {addr}")))?;
    sock.listen(opts.backlog).map_err(|e| Error::from_io(e, "listen"))?;
    // Non-blocking, so an accept bounded by a timeout never blocks past it
    // (accepted sockets do not inherit the flag).
    sock.set_nonblocking(true).map_err(|e| Error::from_io(e, "fcntl"))?;
    // Accepted sockets inherit TCP_NODELAY: on by default, as for connect.
    let _ = sock.set_nodelay(true);
    Ok(Socket::new(sock, Kind::StreamServer, false))
}

/// Accepts one connection, waiting as `wait` says (the listener's receive
/// timeout, or a bound of the call's own). The listener is non-blocking, so
/// the accept never blocks past that bound, even when another thread takes
/// the connection first. The peer's address is asked of the kernel only
/// when `want_peer`.
pub fn accept(listener: &Socket, want_peer: bool, wait: Wait) -> Result<(Arc<Socket>, Option<SocketAddr>)> {
    listener.expect_kind(Kind::StreamServer, "accept")?;
    let timeout_ms = match wait {
        Wait::SocketTimeout => match listener.receive_timeout_ms.load(Ordering::Relaxed) {
            0 => -1,
            ms => ms,
        },
        Wait::For(ms) => ms,
    };
    let fd = listener.fd();
    let mut storage = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len: libc::socklen_t = 0;
    let n = listener.blocking_for("accept", libc::POLLIN, timeout_ms, |_flags| {
        if want_peer {
            len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `storage` has room for any address and `len` says so.
            unsafe {
                libc::accept4(fd, storage.as_mut_ptr() as *mut libc::sockaddr, &mut len, libc::SOCK_CLOEXEC) as isize
            }
        } else {
            // SAFETY: NULL address and length are allowed by accept4.
            unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) as isize }
        }
    })?;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let sock = unsafe { <socket2::Socket as std::os::fd::FromRawFd>::from_raw_fd(n as libc::c_int) };
    if listener.is_closed() {
        return Err(Error::closed_during_call());
    }
    let peer = if want_peer && len > 0 {
        // SAFETY: the kernel wrote `len` bytes of address into `storage`.
        unsafe { SockAddr::new(storage.assume_init(), len) }.as_socket()
    } else {
        None
    };
   
    let s = if listener.local { Socket::new_local(sock, Kind::Stream, true) } else { Socket::new(sock, Kind::Stream, true) };
    // SO_RCVTIMEO is inherited from the listener on Linux; mirror it.
    s.receive_timeout_ms.store(listener.receive_timeout_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    s.send_timeout_ms.store(listener.send_timeout_ms.load(Ordering::Relaxed), Ordering::Relaxed);
    Ok((s, peer))
}

/// Reads at least one byte, or 0 at end of file, waiting up to the
/// socket's receive timeout.
#[inline]
pub fn read(s: &Socket, buf: &mut [u8]) -> Result<usize> {
    read_waiting(s, buf, Wait::SocketTimeout)
}

/// Reads at least one byte, or 0 at end of file, waiting as `wait` says.
#[inline]
pub fn read_waiting(s: &Socket, buf: &mut [u8], wait: Wait) -> Result<usize> {
    if s.kind != Kind::Stream {
        s.expect_kind(Kind::Stream, "read")?;
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let fd = s.fd();
    let ptr = buf.as_mut_ptr();
    let len = buf.len();
    // SAFETY: `ptr` and `len` describe `buf`, which outlives the call.
    let n = s.receiving("read", wait, |flags| unsafe { libc::recv(fd, ptr as *mut libc::c_void, len, flags) })?;
    if n == 0 && s.is_closed() {
        return Err(Error::closed_during_call());
    }
    Ok(n as usize)
}

/// Writes every byte of `buf`, or fails. The send timeout bounds the whole
/// write, not each system call: after a partial send the rest goes out
/// against the same deadline.
#[inline]
pub fn write(s: &Socket, buf: &[u8]) -> Result<usize> {
    if s.kind != Kind::Stream {
        s.expect_kind(Kind::Stream, "write")?;
    }
    let fd = s.fd();
    let timeout_ms = s.send_timeout_ms.load(Ordering::Relaxed);
    let started = if timeout_ms > 0 { Some(std::time::Instant::now()) } else { None };
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &buf[done..];
        let n = match started {
            Some(at) if done > 0 => send_until(s, rest, || Deadline::at(at, timeout_ms))?,
            // SAFETY: `rest` is valid for its length for the call.
            _ => s.blocking_out("write", |flags| unsafe {
                libc::send(fd, rest.as_ptr() as *const libc::c_void, rest.len(), flags | libc::MSG_NOSIGNAL)
            })? as usize,
        };
        done += n;
    }
    Ok(done)
}

/// Sends what fits of `buf` by `deadline` (at least one byte), waiting for
/// room in `poll`; TIMEOUT when not one byte could go. The deadline is made
/// only when the buffer is full, so the common case reads no clock.
fn send_until(s: &Socket, buf: &[u8], deadline: impl FnOnce() -> Deadline) -> Result<usize> {
    let fd = s.fd();
    let mut deadline = Some(deadline);
    let mut at = Deadline::never();
    loop {
        // SAFETY: `buf` is valid for its length for the call.
        let n = unsafe {
            libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = crate::error::errno();
        if e == libc::EINTR {
            continue;
        }
        if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
            return Err(s.fail(e, "write"));
        }
        if s.is_closed() {
            return Err(Error::closed_during_call());
        }
        if let Some(make) = deadline.take() {
            at = make();
        }
        if poll_one(fd, libc::POLLOUT, at)? == 0 {
            return Err(Error::timeout("write"));
        }
    }
}

/// Writes at least one byte of `buf` (as many as fit now), waiting up to
/// `timeout_ms` for room: 0 does not wait, < 0 waits as a blocking send does
/// (up to the send timeout). Returns how many bytes were written; TIMEOUT
/// when not one byte could be. For callers that must stay interruptible
/// while writing: they write in slices and lose no byte.
pub fn write_some(s: &Socket, buf: &[u8], timeout_ms: i64) -> Result<usize> {
    if s.kind != Kind::Stream {
        s.expect_kind(Kind::Stream, "write")?;
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let fd = s.fd();
    if timeout_ms < 0 {
        // SAFETY: `buf` is valid for its length for the call.
        let n = s.blocking_out("write", |flags| unsafe {
            libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), flags | libc::MSG_NOSIGNAL)
        })?;
        return Ok(n as usize);
    }
    send_until(s, buf, || Deadline::after_ms(timeout_ms))
}

/// usocket's LISTEN: true when a read (or accept) would not block.
pub fn input_available(s: &Socket) -> Result<bool> {
    let revents = poll_one(s.fd(), libc::POLLIN, Deadline::after_ms(0))?;
    if s.is_closed() {
        return Err(Error::closed_during_call());
    }
    Ok(revents & crate::wait::READY_EVENTS != 0)
}

/// Shuts down input, output or both.
pub fn shutdown(s: &Socket, how: i32) -> Result<()> {
    let how = match how {
        USOCKET_SHUT_INPUT => libc::SHUT_RD,
        USOCKET_SHUT_OUTPUT => libc::SHUT_WR,
        USOCKET_SHUT_BOTH => libc::SHUT_RDWR,
        _ => {
            return Err(Error::new(USOCKET_ERR_INVALID_ARGUMENT, format!("shutdown direction {how} is not 1, 2 or 3")))
        }
    };
    if s.kind == Kind::StreamServer {
        return Err(Error::wrong_kind("shutdown needs a connected socket, not a stream server socket"));
    }
    // SAFETY: shutdown on a descriptor this socket owns and keeps open.
    let rc = unsafe { libc::shutdown(s.fd(), how) };
    if rc < 0 {
        return Err(s.fail(crate::error::errno(), "shutdown"));
    }
    Ok(())
}
