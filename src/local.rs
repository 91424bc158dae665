//! Unix-domain sockets (AF_UNIX): stream and datagram sockets on file-system
//! paths and on Linux's abstract namespace.
//!
//! - A path is UTF-8. A leading `@` names the abstract namespace: `@x` is the
//!   abstract name `x`, and the address length counts exactly the name's
//!   bytes (no padded `sun_path`), so programs that are not ours (`socat
//!   ABSTRACT-CONNECT:x`, systemd, `ss`) reach our `@x` and we reach theirs.
//!   A path that does not fit in `sun_path` is INVALID_ARGUMENT.
//! - A socket that created a socket file (a listener, or a socket bound to a
//!   path) removes it when it is closed, if the file is still the one it
//!   made (same device and inode): see [`BoundFile`].
//! - `listen` with `reuse_address` replaces a stale socket file (one nobody
//!   accepts on: a probe connect is refused), never any other file and never
//!   a live socket: those are ADDRESS_IN_USE.
//! - Every other call (read, write, waits, options, shutdown, close under a
//!   blocked call, the server) is the TCP/UDP code: a local socket is an
//!   ordinary [`Socket`] whose descriptor is AF_UNIX.
//!
//! Every descriptor is close-on-exec (socket2 opens them with SOCK_CLOEXEC;
//! accept uses accept4 with SOCK_CLOEXEC); sends use MSG_NOSIGNAL; EINTR is
//! retried with the time that is left.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, SockAddr, Type};

use crate::error::{errno, Error, Result, USOCKET_ERR_ADDRESS_IN_USE};
use crate::os::Deadline;
use crate::datagram;
use crate::socket::{set_receive_timeout, ConnectOptions, Kind, Socket, Wait};
use crate::stream::ListenOptions;

/// The size of `sun_path` on Linux.
const SUN_PATH_LEN: usize = 108;
/// The longest path (without its NUL) or abstract name (without its `@`)
/// that fits in `sun_path`: 107 bytes.
pub(crate) const LOCAL_PATH_MAX: usize = SUN_PATH_LEN - 1;
/// Where `sun_path` starts in `sockaddr_un`.
const PATH_OFFSET: usize = std::mem::size_of::<libc::sa_family_t>();

/// A Unix-domain socket address, exactly as long as its name.
#[derive(Clone)]
pub struct LocalAddr {
    addr: SockAddr,
    /// The path as the caller wrote it (`@name` for an abstract name).
    text: String,
    /// The file-system path, for a non-abstract address.
    file: Option<PathBuf>,
}

impl LocalAddr {
    /// Parses a caller's path: `@name` abstract, anything else a file.
    pub fn parse(path: &str) -> Result<LocalAddr> {
        if path.is_empty() {
            return Err(Error::invalid_argument("the path is empty"));
        }
        let (abstract_name, bytes) = match path.strip_prefix('@') {
            Some(name) => (true, name.as_bytes()),
            None => (false, path.as_bytes()),
        };
        if bytes.len() > LOCAL_PATH_MAX {
            return Err(Error::invalid_argument(format!(
                "the path {path:?} is {} bytes long: more than the {LOCAL_PATH_MAX} that fit in sun_path{}",
                bytes.len(),
                if abstract_name { " after its '@'" } else { "" }
            )));
        }
        if bytes.contains(&0) {
            return Err(Error::invalid_argument("the path contains a NUL byte"));
        }
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un,
        // which is plain old data.
        let sun = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let len = if abstract_name {
            // sun_path[0] stays 0: the abstract namespace; the name follows,
            // and the length counts it exactly, without any NUL after it.
            for (i, b) in bytes.iter().enumerate() {
                sun.sun_path[1 + i] = *b as libc::c_char;
            }
            PATH_OFFSET + 1 + bytes.len()
        } else {
            for (i, b) in bytes.iter().enumerate() {
                sun.sun_path[i] = *b as libc::c_char;
            }
            // The path and its NUL (which the zeroed storage holds).
            PATH_OFFSET + bytes.len() + 1
        };
        // SAFETY: the storage holds an initialised sockaddr_un of `len` bytes.
        let addr = unsafe { SockAddr::new(storage, len as libc::socklen_t) };
        let file = if abstract_name { None } else { Some(PathBuf::from(OsStr::from_bytes(bytes))) };
        Ok(LocalAddr { addr, text: path.to_owned(), file })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_abstract(&self) -> bool {
        self.file.is_none()
    }
}

/// The text of a Unix-domain address the kernel gave (`len` bytes of
/// `storage`): "" unnamed, "@name" abstract, else the path (its bytes, up to
/// a NUL).
pub(crate) fn address_text(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Vec<u8> {
    let len = (len as usize).min(std::mem::size_of::<libc::sockaddr_un>());
    if len <= PATH_OFFSET {
        return Vec::new();
    }
    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
    let sun = unsafe { &*(storage as *const libc::sockaddr_storage as *const libc::sockaddr_un) };
    let path: Vec<u8> = sun.sun_path[..len - PATH_OFFSET].iter().map(|&c| c as u8).collect();
    if path[0] == 0 {
        let mut text = Vec::with_capacity(path.len());
        text.push(b'@');
        text.extend_from_slice(&path[1..]);
        text
    } else {
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        path[..end].to_vec()
    }
}

/// WRONG_KIND unless `s` is a Unix-domain socket.
fn expect_local(s: &Socket, call: &str) -> Result<()> {
    if s.is_local() {
        Ok(())
    } else {
        Err(Error::wrong_kind(format!("{call} needs a Unix-domain socket, not an IP (TCP or UDP) {}", s.kind.name())))
    }
}

/// The socket file a socket created by binding to a path: removed (once)
/// when the socket is closed or dropped, if the file at that path is still
/// the one it made, so a file someone put there since is never removed.
///
/// "Still the one" is: same device and inode. An `O_PATH` descriptor of the
/// file (close-on-exec) keeps its inode alive until then, so that no other
/// file can get the same inode number meanwhile.
pub struct BoundFile {
    /// Absolute, so a later change of directory does not matter.
    path: PathBuf,
    /// The pin; taken (and closed) by the removal.
    pin: parking_lot::Mutex<Option<std::os::fd::OwnedFd>>,
}

impl BoundFile {
    /// Records the socket file at `path`, just bound.
    fn record(path: &Path) -> Result<BoundFile> {
        use std::os::fd::FromRawFd;
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(|e| Error::from_io(e, "getcwd"))?.join(path)
        };
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::invalid_argument("the path contains a NUL byte"))?;
        // SAFETY: c_path is a NUL-terminated string; open does not keep it.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os(&format!("open(O_PATH) {}", path.display())));
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        let pin = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        Ok(BoundFile { path, pin: parking_lot::Mutex::new(Some(pin)) })
    }

    /// Removes the file if it is still ours; the second call does nothing.
    pub fn remove(&self) {
        use std::os::fd::AsRawFd;
        let pin = match self.pin.lock().take() {
            Some(pin) => pin,
            None => return,
        };
        // SAFETY: all zeroes is a valid stat; fstat writes it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: pin is an open descriptor and st is valid for writing.
        if unsafe { libc::fstat(pin.as_raw_fd(), &mut st) } != 0 {
            return;
        }
        if let Ok((dev, ino)) = identity(&self.path) {
            if dev == st.st_dev && ino == st.st_ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
        drop(pin);
    }
}

impl Drop for BoundFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Device and inode of the file at `path` (not following a symbolic link).
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path)?;
    Ok((m.dev(), m.ino()))
}

fn new_socket(datagram: bool) -> Result<socket2::Socket> {
    let ty = if datagram { Type::DGRAM } else { Type::STREAM };
    // socket2 opens it with SOCK_CLOEXEC.
    socket2::Socket::new(Domain::UNIX, ty, None).map_err(|e| Error::from_io(e, "socket(AF_UNIX)"))
}

/// Binds `sock` to `addr`; the file it creates, if any, is returned so that
/// it is removed when the socket goes.
fn bind(sock: &socket2::Socket, addr: &LocalAddr) -> Result<Option<BoundFile>> {
    sock.bind(&addr.addr).map_err(|e| Error::from_io(e, &format!("binding {:?}", addr.text)))?;
    match &addr.file {
        Some(path) => Ok(Some(BoundFile::record(path)?)),
        None => Ok(None),
    }
}

/// Connects a stream socket to `addr` within `deadline`. A Unix-domain
/// connect blocks only while the listener's queue is full; SO_SNDTIMEO
/// bounds that wait (the kernel then says EAGAIN), set for the connect
/// alone. EINTR leaves the socket unconnected, so the connect is retried
/// with the time that is left.
fn connect_stream(sock: &socket2::Socket, addr: &LocalAddr, deadline: Deadline) -> Result<()> {
    let what = format!("connecting to {:?}", addr.text);
    let bounded = !deadline.is_forever();
    loop {
        if bounded {
            let left = deadline.poll_timeout();
            if left <= 0 {
                return Err(Error::timeout(&what));
            }
            sock.set_write_timeout(Some(Duration::from_millis(left as u64)))
                .map_err(|e| Error::from_io(e, "setting SO_SNDTIMEO"))?;
        }
        match sock.connect(&addr.addr) {
            Ok(()) => break,
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // An EINTR'd connect that did complete after all.
                Some(libc::EISCONN) => break,
                Some(libc::EAGAIN) if bounded => return Err(Error::timeout(&what)),
                _ => return Err(Error::from_io(e, &what)),
            },
        }
    }
    if bounded {
        sock.set_write_timeout(None).map_err(|e| Error::from_io(e, "setting SO_SNDTIMEO"))?;
    }
    Ok(())
}

/// A Unix-domain socket (`usocket_connect_local`).
///
/// - Stream: connected to `path` (required), first bound to
///   `opts.local_host` as a path if given; the connect is bounded by
///   `connect_timeout_ms`, else `timeout_ms`, else waits as the OS does.
/// - Datagram: connected to `path`, or with `path` None unconnected; bound
///   to `opts.local_host` as a path if given, else unnamed.
///
/// `timeout_ms` > 0 sets the receive timeout. `nodelay` and `local_port`
/// do not apply and are ignored.
pub fn connect(path: Option<&str>, opts: &ConnectOptions) -> Result<Arc<Socket>> {
    let remote = path.map(LocalAddr::parse).transpose()?;
    let local = opts.local_host.as_deref().map(LocalAddr::parse).transpose()?;
    if !opts.datagram && remote.is_none() {
        return Err(Error::invalid_argument("a Unix-domain stream socket needs a path to connect to; it is NULL"));
    }
    let sock = new_socket(opts.datagram)?;
    let bound = match &local {
        Some(local) => bind(&sock, local)?,
        None => None,
    };
    let connected = remote.is_some();
    if let Some(remote) = &remote {
        if opts.datagram {
            sock.connect(&remote.addr).map_err(|e| Error::from_io(e, &format!("connecting to {:?}", remote.text)))?;
        } else {
            connect_stream(&sock, remote, Deadline::after_ms(opts.connect_bound_ms()))?;
        }
    }
    let kind = if opts.datagram { Kind::Datagram } else { Kind::Stream };
    let s = Socket::new_local(sock, kind, connected);
    *s.bound_file.lock() = bound;
    if opts.timeout_ms > 0 {
        set_receive_timeout(&s, opts.timeout_ms)?;
    }
    Ok(s)
}

/// Whether a socket listens at `addr`: a probe connect that is refused
/// means nobody does (a stale file). Anything else (connected, a full
/// queue, a datagram socket bound there, no permission) counts as live.
fn is_stale(addr: &LocalAddr) -> bool {
    let probe = match new_socket(false) {
        Ok(p) => p,
        Err(_) => return false,
    };
    if probe.set_nonblocking(true).is_err() {
        return false;
    }
    loop {
        match probe.connect(&addr.addr) {
            Ok(()) => return false,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return e.raw_os_error() == Some(libc::ECONNREFUSED),
        }
    }
}

/// Is the file at `path` a socket? Its identity too, for the removal.
fn socket_file(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    if m.file_type().is_socket() {
        identity(path).ok()
    } else {
        None
    }
}

/// A listening Unix-domain stream socket on `path` (`usocket_listen_local`).
pub fn listen(path: &str, opts: &ListenOptions) -> Result<Arc<Socket>> {
    if opts.backlog < 0 {
        return Err(Error::invalid_argument(format!("backlog {} is negative", opts.backlog)));
    }
    let addr = LocalAddr::parse(path)?;
    let sock = new_socket(false)?;
    let bound = match (bind(&sock, &addr), addr.file.as_deref()) {
        (Ok(b), _) => b,
        // In the abstract namespace (no file) in use is in use.
        (Err(e), Some(file)) if e.code == USOCKET_ERR_ADDRESS_IN_USE && opts.reuse_address => {
            // Only a socket file, and only one nobody accepts on.
            let stale = match socket_file(file) {
                Some(id) if is_stale(&addr) => Some(id),
                _ => None,
            };
            match stale {
                Some(id) => {
                    // Remove it only if it is still the file we probed.
                    if identity(file).ok() == Some(id) {
                        let _ = std::fs::remove_file(file);
                    }
                    bind(&sock, &addr)?
                }
                None => {
                    return Err(Error {
                        message: format!("{}: a live socket or a file that is not a socket is in the way", e.message),
                        ..e
                    })
                }
            }
        }
        (Err(e), _) => return Err(e),
    };
    let s = Socket::new_local(sock, Kind::StreamServer, false);
    *s.bound_file.lock() = bound;
    s.inner.listen(opts.backlog).map_err(|e| Error::from_io(e, "listen"))?;
    // Non-blocking, as stream::accept expects of every listener, so that an
    // accept bounded by a timeout never blocks past it (accepted sockets do
    // not inherit the flag).
    s.inner.set_nonblocking(true).map_err(|e| Error::from_io(e, "fcntl"))?;
    Ok(s)
}

fn name_of(s: &Socket, peer: bool) -> Result<Vec<u8>> {
    let call = if peer { "usocket_peer_path" } else { "usocket_local_path" };
    expect_local(s, call)?;
    // SAFETY: all zeroes is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let sa = &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr;
    // SAFETY: storage and len are valid for the kernel to write an address into.
    let rc = unsafe { if peer { libc::getpeername(s.fd(), sa, &mut len) } else { libc::getsockname(s.fd(), sa, &mut len) } };
    if rc < 0 {
        return Err(s.fail(errno(), if peer { "getpeername" } else { "getsockname" }));
    }
    if storage.ss_family as libc::c_int != libc::AF_UNIX {
        return Err(Error::wrong_kind(format!("{call} needs a Unix-domain socket, not an IP (TCP or UDP) {}", s.kind.name())));
    }
    Ok(address_text(&storage, len))
}

/// The socket's own path: "" when unnamed, "@name" when abstract.
pub fn local_path(s: &Socket) -> Result<Vec<u8>> {
    name_of(s, false)
}

/// The peer's path: "" when the peer is unnamed. WRONG_KIND on a listener.
pub fn peer_path(s: &Socket) -> Result<Vec<u8>> {
    if s.kind == Kind::StreamServer {
        expect_local(s, "usocket_peer_path")?;
        return Err(Error::wrong_kind("a stream server socket has no peer"));
    }
    name_of(s, true)
}

/// The peer process's pid, uid and gid (SO_PEERCRED) of a connected
/// Unix-domain stream socket.
pub fn peer_credentials(s: &Socket) -> Result<(i32, u32, u32)> {
    if s.kind != Kind::Stream || !s.is_local() {
        return Err(Error::wrong_kind(format!(
            "usocket_peer_credentials needs a connected Unix-domain stream socket, not {} {}",
            if s.is_local() { "a Unix-domain" } else { "an IP" },
            s.kind.name()
        )));
    }
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for getsockopt to write a ucred into.
    let rc = unsafe {
        libc::getsockopt(s.fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut libc::ucred as *mut libc::c_void, &mut len)
    };
    if rc < 0 {
        return Err(s.fail(errno(), "getsockopt(SO_PEERCRED)"));
    }
    Ok((cred.pid, cred.uid, cred.gid))
}

/// WRONG_KIND unless `s` is a Unix-domain datagram socket.
fn expect_local_datagram(s: &Socket, call: &str) -> Result<()> {
    if s.kind != Kind::Datagram {
        return Err(Error::wrong_kind(format!("{call} needs a Unix-domain datagram socket, not a {}", s.kind.name())));
    }
    expect_local(s, call)
}

/// Sends one datagram: to `path`, or with `path` None to the connected
/// peer. Blocks (up to the send timeout) while the receiver's queue is full.
pub fn send(s: &Socket, buf: &[u8], path: Option<&str>) -> Result<usize> {
    expect_local_datagram(s, "usocket_send_local")?;
    match path {
        None => {
            if !s.connected {
                return Err(Error::invalid_argument("usocket_send_local on an unconnected socket needs a path"));
            }
            datagram::send_connected(s, buf)
        }
        Some(path) => {
            let to = LocalAddr::parse(path)?;
            datagram::send_to_sockaddr(s, buf, &to.addr, &format!("sending to {path:?}"))
        }
    }
}

/// Receives one datagram into `buf` (a longer one is cut to it, as recvfrom
/// does), waiting up to `timeout_ms` (< 0 forever, 0 not at all) whatever
/// the socket's receive timeout; TIMEOUT with nothing consumed. Returns the
/// count and, when `want_from`, the sender's path ("" when unnamed).
pub fn receive(s: &Socket, buf: &mut [u8], timeout_ms: i64, want_from: bool) -> Result<(usize, Option<Vec<u8>>)> {
    expect_local_datagram(s, "usocket_receive_local")?;
    let (n, from) = datagram::receive_raw(s, buf, want_from, Wait::For(timeout_ms))?;
    let from = from.map(|a| {
        // SAFETY: a SockAddr holds its address in a whole sockaddr_storage.
        let storage = unsafe { &*(a.as_ptr() as *const libc::sockaddr_storage) };
        address_text(storage, a.len())
    });
    Ok((n, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(addr: &LocalAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: all zeroes is a valid sockaddr_storage; the copy stays
        // within the SockAddr's length, which is at most its size.
        unsafe {
            let mut st: libc::sockaddr_storage = std::mem::zeroed();
            std::ptr::copy_nonoverlapping(
                addr.addr.as_ptr() as *const u8,
                &mut st as *mut libc::sockaddr_storage as *mut u8,
                addr.addr.len() as usize,
            );
            (st, addr.addr.len())
        }
    }

    #[test]
    fn a_file_path_counts_its_nul() {
        let a = LocalAddr::parse("/tmp/x.sock").unwrap();
        assert!(!a.is_abstract());
        assert_eq!(a.addr.len() as usize, PATH_OFFSET + 11 + 1);
        let (st, len) = raw(&a);
        assert_eq!(address_text(&st, len), b"/tmp/x.sock");
    }

    #[test]
    fn an_abstract_name_is_exactly_its_bytes() {
        let a = LocalAddr::parse("@name").unwrap();
        assert!(a.is_abstract());
        assert_eq!(a.addr.len() as usize, PATH_OFFSET + 1 + 4);
        let (st, len) = raw(&a);
        assert_eq!(address_text(&st, len), b"@name");
        // the empty abstract name is one NUL
        let e = LocalAddr::parse("@").unwrap();
        assert_eq!(e.addr.len() as usize, PATH_OFFSET + 1);
    }

    #[test]
    fn lengths_at_the_limit() {
        let p = "/".to_owned() + &"p".repeat(LOCAL_PATH_MAX - 1);
        assert!(LocalAddr::parse(&p).is_ok());
        let e = LocalAddr::parse(&(p.clone() + "p")).err().unwrap();
        assert_eq!(e.code, crate::error::USOCKET_ERR_INVALID_ARGUMENT);
        let n = "@".to_owned() + &"n".repeat(LOCAL_PATH_MAX);
        let a = LocalAddr::parse(&n).unwrap();
        assert_eq!(a.addr.len() as usize, PATH_OFFSET + SUN_PATH_LEN);
        let (st, len) = raw(&a);
        assert_eq!(address_text(&st, len), n.as_bytes());
        assert!(LocalAddr::parse(&(n + "n")).is_err());
        assert!(LocalAddr::parse("").is_err());
    }

    #[test]
    fn kernel_addresses_read_back() {
        // SAFETY: all zeroes is a valid sockaddr_storage.
        let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        st.ss_family = libc::AF_UNIX as libc::sa_family_t;
        // unnamed: just the family
        assert_eq!(address_text(&st, PATH_OFFSET as libc::socklen_t), b"");
        assert_eq!(address_text(&st, 0), b"");
        // a full 108-byte path without a NUL (another program's)
        {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
            let sun = unsafe { &mut *(&mut st as *mut libc::sockaddr_storage as *mut libc::sockaddr_un) };
            for c in sun.sun_path.iter_mut() {
                *c = b'q' as libc::c_char;
            }
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        assert_eq!(address_text(&st, len), vec![b'q'; SUN_PATH_LEN]);
        // a length larger than sockaddr_un is cut to it
        assert_eq!(address_text(&st, len + 10).len(), SUN_PATH_LEN);
    }
}
