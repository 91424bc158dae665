//! Unix-domain sockets through the C ABI, on real sockets: the calls of
//! C-API.md's "Unix-domain sockets" and the ordinary calls on local sockets.
//!
//! The tests share one lock, so that descriptor and handle counts are not
//! disturbed by each other: each runs alone. Each works in a directory of
//! its own; abstract names carry the process id.

#[allow(unused_imports)]
mod common;

use std::ffi::{c_char, c_void, CString};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use usocket::error::{USOCKET_ERR_UNKNOWN, USOCKET_ERR_WRONG_KIND};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh directory, removed with its contents when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!("usocket-local-rs-{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn listen_local(path: &str, reuse: bool) -> Result<usocket_t, i32> {
    let p = c(path);
    let mut o = std::mem::MaybeUninit::<usocket_listen_options>::uninit();
    usocket_listen_options_init(o.as_mut_ptr());
    // SAFETY: initialised by usocket_listen_options_init.
    let mut o = unsafe { o.assume_init() };
    o.reuse_address = reuse;
    let mut l = 0;
    match usocket_listen_local(p.as_ptr(), &o, &mut l) {
        0 => Ok(l),
        rc => Err(rc),
    }
}

fn connect_local(path: Option<&str>, datagram: bool, local: Option<&str>) -> Result<usocket_t, i32> {
    let p = path.map(c);
    let lh = local.map(c);
    let mut o = connect_opts();
    o.protocol = if datagram { USOCKET_DATAGRAM } else { USOCKET_STREAM };
    o.local_host = lh.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let mut s = 0;
    match usocket_connect_local(p.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()), &o, &mut s) {
        0 => Ok(s),
        rc => Err(rc),
    }
}

fn local_pair(path: &str) -> (usocket_t, usocket_t) {
    let l = listen_local(path, false).unwrap();
    let cl = connect_local(Some(path), false, None).unwrap();
    let s = accept(l);
    ok(usocket_close(l));
    (cl, s)
}

fn path_of(s: usocket_t, peer: bool) -> Result<String, i32> {
    let mut buf = [0 as c_char; 128];
    let mut len = 0usize;
    let rc = if peer {
        usocket_peer_path(s, buf.as_mut_ptr(), buf.len(), &mut len)
    } else {
        usocket_local_path(s, buf.as_mut_ptr(), buf.len(), &mut len)
    };
    if rc != 0 {
        return Err(rc);
    }
    let bytes: Vec<u8> = buf[..len].iter().map(|&b| b as u8).collect();
    assert_eq!(buf[len], 0, "not NUL-terminated");
    Ok(String::from_utf8(bytes).unwrap())
}

fn send_local(s: usocket_t, data: &[u8], to: Option<&str>) -> Result<usize, i32> {
    let p = to.map(c);
    let mut n = 0;
    match usocket_send_local(s, data.as_ptr(), data.len(), p.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()), &mut n) {
        0 => Ok(n),
        rc => Err(rc),
    }
}

/// Receives with a `from` buffer of `from_cap` bytes: (data, from text, from_len).
fn receive_local(s: usocket_t, cap: usize, timeout_ms: i64, from_cap: usize) -> Result<(Vec<u8>, Vec<u8>, usize), i32> {
    let mut buf = vec![0u8; cap];
    let mut from = vec![0x55u8; from_cap + 4];
    let (mut n, mut flen) = (0usize, 0usize);
    let rc = usocket_receive_local(s, buf.as_mut_ptr(), cap, timeout_ms, &mut n, from.as_mut_ptr() as *mut c_char, from_cap, &mut flen);
    if rc != 0 {
        return Err(rc);
    }
    buf.truncate(n);
    let text = if from_cap == 0 {
        assert!(from.iter().all(|&b| b == 0x55), "from written with from_cap 0");
        Vec::new()
    } else {
        let end = from.iter().position(|&b| b == 0).expect("from is NUL-terminated");
        assert!(end < from_cap);
        assert_eq!(from[from_cap], 0x55, "written past from_cap");
        from[..end].to_vec()
    };
    Ok((buf, text, flen))
}

fn is_socket_file(p: &str) -> bool {
    std::fs::symlink_metadata(p).map(|m| m.file_type().is_socket()).unwrap_or(false)
}

/// A socket file nobody accepts on.
fn make_stale(p: &str) {
    drop(std::os::unix::net::UnixListener::bind(p).unwrap());
    assert!(is_socket_file(p));
}

#[test]
fn stream_echo_paths_and_kinds() {
    let _g = serial();
    let d = Dir::new("echo");
    let p = d.path("e.sock");
    let l = listen_local(&p, false).unwrap();
    assert!(is_socket_file(&p));
    let cl = connect_local(Some(&p), false, None).unwrap();
    let s = accept(l);
    let mut kind = -1;
    ok(usocket_kind(l, &mut kind));
    assert_eq!(kind, USOCKET_KIND_STREAM_SERVER);
    ok(usocket_kind(s, &mut kind));
    assert_eq!(kind, USOCKET_KIND_STREAM);
    write_all(cl, b"ping");
    assert_eq!(read_exact(s, 4), b"ping");
    write_all(s, b"pong");
    assert_eq!(read_exact(cl, 4), b"pong");
    assert_eq!(path_of(l, false).unwrap(), p);
    assert_eq!(path_of(s, false).unwrap(), p);
    assert_eq!(path_of(cl, true).unwrap(), p);
    assert_eq!(path_of(cl, false).unwrap(), "");
    assert_eq!(path_of(s, true).unwrap(), "");
    let mut a = usocket_address { family: 9, octets: [0; 16], port: 0 };
    expect_err(usocket_local_name(s, &mut a), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_peer_name(cl, &mut a), USOCKET_ERR_WRONG_KIND);
    for h in [cl, s, l] {
        ok(usocket_close(h));
    }
    assert!(!Path::new(&p).exists(), "the socket file outlived its listener");
}

#[test]
fn accept_from_and_server_peers_are_family_0() {
    let _g = serial();
    let d = Dir::new("fam");
    let p = d.path("f.sock");
    let l = listen_local(&p, false).unwrap();
    let cl = connect_local(Some(&p), false, None).unwrap();
    let mut s = 0;
    let mut peer = usocket_address { family: 9, octets: [7; 16], port: 9 };
    ok(usocket_accept_from(l, &mut s, &mut peer));
    assert_eq!(peer, usocket_address { family: 0, octets: [0; 16], port: 0 });
    // usocket_receive's from on a local datagram socket, too
    let pb = d.path("b.sock");
    let b = connect_local(None, true, Some(&pb)).unwrap();
    let u = connect_local(None, true, None).unwrap();
    send_local(u, b"x", Some(&pb)).unwrap();
    let mut buf = [0u8; 4];
    let mut n = 0;
    let mut from = usocket_address { family: 9, octets: [7; 16], port: 9 };
    ok(usocket_receive(b, buf.as_mut_ptr(), buf.len(), &mut n, &mut from));
    assert_eq!(from.family, 0);
    for h in [cl, s, l, b, u] {
        ok(usocket_close(h));
    }
}

#[test]
fn abstract_names_are_exact() {
    let _g = serial();
    let name = format!("@usocket-rs-{}", std::process::id());
    let l = listen_local(&name, false).unwrap();
    assert_eq!(path_of(l, false).unwrap(), name);
    // std's abstract addresses are exact-length too: each reaches the other.
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]).unwrap();
    let theirs = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
    let s = accept(l);
    ok(usocket_close(s));
    drop(theirs);
    ok(usocket_close(l));
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let cl = connect_local(Some(&name), false, None).unwrap();
    let (mut srv, _) = listener.accept().unwrap();
    use std::io::Write;
    srv.write_all(b"hi").unwrap();
    assert_eq!(read_exact(cl, 2), b"hi");
    assert_eq!(path_of(cl, true).unwrap(), name);
    ok(usocket_close(cl));
    drop(listener);
    assert_eq!(connect_local(Some(&name), false, None), Err(USOCKET_ERR_CONNECTION_REFUSED));
}

#[test]
fn bad_paths() {
    let _g = serial();
    let d = Dir::new("bad");
    let long = "/".to_owned() + &"x".repeat(107);
    assert_eq!(listen_local(&long, false), Err(USOCKET_ERR_INVALID_ARGUMENT));
    assert_eq!(connect_local(Some(&long), false, None), Err(USOCKET_ERR_INVALID_ARGUMENT));
    assert_eq!(connect_local(Some(&("@".to_owned() + &"x".repeat(108))), false, None), Err(USOCKET_ERR_INVALID_ARGUMENT));
    assert_eq!(connect_local(None, false, None), Err(USOCKET_ERR_INVALID_ARGUMENT));
    assert_eq!(listen_local("", false), Err(USOCKET_ERR_INVALID_ARGUMENT));
    // missing: UNKNOWN with ENOENT
    assert_eq!(connect_local(Some(&d.path("none.sock")), false, None), Err(USOCKET_ERR_UNKNOWN));
    assert_eq!(usocket_last_os_error(), libc::ENOENT);
    assert_eq!(listen_local(&d.path("no/dir.sock"), false), Err(USOCKET_ERR_UNKNOWN));
    assert_eq!(usocket_last_os_error(), libc::ENOENT);
    // NULL out, bad protocol
    let p = c(&d.path("x.sock"));
    expect_err(usocket_listen_local(p.as_ptr(), std::ptr::null(), std::ptr::null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    let mut o = connect_opts();
    o.protocol = 5;
    let mut s = 0;
    expect_err(usocket_connect_local(p.as_ptr(), &o, &mut s), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_open_handles(), 0);
}

#[test]
fn what_is_in_the_way_of_a_listener() {
    let _g = serial();
    let d = Dir::new("way");
    // a stale socket file: refused, in the way without reuse, replaced with it
    let p = d.path("stale.sock");
    make_stale(&p);
    assert_eq!(connect_local(Some(&p), false, None), Err(USOCKET_ERR_CONNECTION_REFUSED));
    assert_eq!(listen_local(&p, false), Err(USOCKET_ERR_ADDRESS_IN_USE));
    let l = listen_local(&p, true).unwrap();
    let cl = connect_local(Some(&p), false, None).unwrap();
    let s = accept(l);
    // a live socket: never replaced
    assert_eq!(listen_local(&p, true), Err(USOCKET_ERR_ADDRESS_IN_USE));
    write_all(cl, b"live");
    assert_eq!(read_exact(s, 4), b"live");
    for h in [cl, s, l] {
        ok(usocket_close(h));
    }
    // a regular file: never replaced
    let f = d.path("file");
    std::fs::write(&f, b"keep me").unwrap();
    assert_eq!(listen_local(&f, true), Err(USOCKET_ERR_ADDRESS_IN_USE));
    assert_eq!(std::fs::read(&f).unwrap(), b"keep me");
    assert_eq!(usocket_open_handles(), 0);
}

#[test]
fn datagrams_with_paths() {
    let _g = serial();
    let d = Dir::new("dgram");
    let (pa, pb) = (d.path("a.sock"), d.path("b.sock"));
    let a = connect_local(None, true, Some(&pa)).unwrap();
    let b = connect_local(None, true, Some(&pb)).unwrap();
    let mut kind = -1;
    ok(usocket_kind(a, &mut kind));
    assert_eq!(kind, USOCKET_KIND_DATAGRAM);
    assert_eq!(send_local(a, b"hello", Some(&pb)), Ok(5));
    let (data, from, flen) = receive_local(b, 64, 1000, 128).unwrap();
    assert_eq!((data.as_slice(), from.as_slice(), flen), (&b"hello"[..], pa.as_bytes(), pa.len()));
    // cut sender path: NUL-terminated, whole length, datagram whole
    send_local(a, b"cut", Some(&pb)).unwrap();
    let (data, from, flen) = receive_local(b, 64, 1000, 4).unwrap();
    assert_eq!((data.as_slice(), from.as_slice(), flen), (&b"cut"[..], &pa.as_bytes()[..3], pa.len()));
    send_local(a, b"zero cap", Some(&pb)).unwrap();
    let (data, _, flen) = receive_local(b, 64, 1000, 0).unwrap();
    assert_eq!((data.as_slice(), flen), (&b"zero cap"[..], pa.len()));
    // connected, unnamed
    let cn = connect_local(Some(&pb), true, None).unwrap();
    send_local(cn, b"conn", None).unwrap();
    let (data, from, flen) = receive_local(b, 64, 1000, 16).unwrap();
    assert_eq!((data.as_slice(), from.as_slice(), flen), (&b"conn"[..], &b""[..], 0));
    // bounded: timeout 0 and 100 ms, TIMEOUT
    let t0 = Instant::now();
    assert_eq!(receive_local(b, 64, 0, 16).err(), Some(USOCKET_ERR_TIMEOUT));
    assert!(t0.elapsed() < Duration::from_millis(250), "a receive with timeout 0 waited");
    let t0 = Instant::now();
    assert_eq!(receive_local(b, 64, 100, 16).err(), Some(USOCKET_ERR_TIMEOUT));
    assert!(t0.elapsed() >= Duration::from_millis(95));
    // wrong kinds and unconnected sends
    let u = connect_local(None, true, None).unwrap();
    assert_eq!(send_local(u, b"x", None), Err(USOCKET_ERR_INVALID_ARGUMENT));
    let udp_s = udp("127.0.0.1", 0);
    assert_eq!(send_local(udp_s, b"x", Some(&pb)), Err(USOCKET_ERR_WRONG_KIND));
    assert_eq!(receive_local(udp_s, 8, 0, 8).err(), Some(USOCKET_ERR_WRONG_KIND));
    for h in [a, b, cn, u, udp_s] {
        ok(usocket_close(h));
    }
    assert!(!Path::new(&pa).exists() && !Path::new(&pb).exists());
}

#[test]
fn credentials_and_wrong_kinds() {
    let _g = serial();
    let d = Dir::new("cred");
    let (cl, s) = local_pair(&d.path("c.sock"));
    let (mut pid, mut uid, mut gid) = (0i32, 0u32, 0u32);
    ok(usocket_peer_credentials(s, &mut pid, &mut uid, &mut gid));
    // SAFETY: getpid, getuid and getgid cannot fail.
    unsafe {
        assert_eq!((pid, uid, gid), (libc::getpid(), libc::getuid(), libc::getgid()));
    }
    let (tc, ts) = pair("127.0.0.1");
    expect_err(usocket_peer_credentials(tc, &mut pid, &mut uid, &mut gid), USOCKET_ERR_WRONG_KIND);
    assert_eq!(path_of(tc, false), Err(USOCKET_ERR_WRONG_KIND));
    assert_eq!(path_of(tc, true), Err(USOCKET_ERR_WRONG_KIND));
    let dg = connect_local(None, true, None).unwrap();
    expect_err(usocket_peer_credentials(dg, &mut pid, &mut uid, &mut gid), USOCKET_ERR_WRONG_KIND);
    // the buffer rules: *len set on the too-small failure
    let mut len = 0usize;
    let mut buf = [0 as c_char; 4];
    expect_err(usocket_peer_path(cl, buf.as_mut_ptr(), buf.len(), &mut len), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(len, d.path("c.sock").len());
    expect_err(usocket_peer_path(cl, std::ptr::null_mut(), 0, &mut len), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(len, d.path("c.sock").len());
    for h in [cl, s, tc, ts, dg] {
        ok(usocket_close(h));
    }
}

#[test]
fn close_under_blocked_accept_and_receive_local() {
    let _g = serial();
    let d = Dir::new("close");
    let fds = open_fds();
    let p = d.path("l.sock");
    let l = listen_local(&p, false).unwrap();
    let dp = d.path("d.sock");
    let dg = connect_local(None, true, Some(&dp)).unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = 0;
        let rc = usocket_accept(l, &mut s);
        (rc, Instant::now())
    });
    let t2 = std::thread::spawn(move || {
        let r = receive_local(dg, 16, -1, 16).err();
        (r, Instant::now())
    });
    // no event tells that a thread has blocked in the kernel: give them time
    std::thread::sleep(Duration::from_millis(150));
    let closed_at = Instant::now();
    ok(usocket_close(l));
    ok(usocket_close(dg));
    let (rc, at) = t1.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert!(at.duration_since(closed_at) < Duration::from_millis(100));
    let (r, at) = t2.join().unwrap();
    assert_eq!(r, Some(USOCKET_ERR_INVALID_HANDLE));
    assert!(at.duration_since(closed_at) < Duration::from_millis(100));
    assert!(!Path::new(&p).exists() && !Path::new(&dp).exists());
    assert_eq!(open_fds(), fds);
}

static SEEN_FAMILY: AtomicI32 = AtomicI32::new(-1);
static SEEN_PID: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" fn echo(_ud: *mut c_void, client: usocket_t, peer: *const usocket_address) {
    SEEN_FAMILY.store((*peer).family as i32, Ordering::SeqCst);
    let (mut pid, mut uid, mut gid) = (0, 0, 0);
    if usocket_peer_credentials(client, &mut pid, &mut uid, &mut gid) == 0 {
        SEEN_PID.store(pid, Ordering::SeqCst);
    }
    let mut buf = [0u8; 256];
    loop {
        let (mut n, mut w) = (0, 0);
        if usocket_read(client, buf.as_mut_ptr(), buf.len(), &mut n) != 0 || n == 0 {
            return;
        }
        if usocket_write(client, buf.as_ptr(), n, &mut w) != 0 {
            return;
        }
    }
}

#[test]
fn a_local_server() {
    let _g = serial();
    let d = Dir::new("srv");
    let p = d.path("srv.sock");
    let cp = c(&p);
    let mut o = std::mem::MaybeUninit::<usocket_server_options>::uninit();
    usocket_server_options_init(o.as_mut_ptr());
    // SAFETY: initialised by usocket_server_options_init.
    let mut o = unsafe { o.assume_init() };
    o.multi_threading = true;
    let mut srv = 0;
    o.protocol = USOCKET_DATAGRAM;
    expect_err(usocket_server_new_local(cp.as_ptr(), &o, Some(echo), std::ptr::null_mut(), &mut srv), USOCKET_ERR_INVALID_ARGUMENT);
    o.protocol = USOCKET_STREAM;
    make_stale(&p);
    ok(usocket_server_new_local(cp.as_ptr(), &o, Some(echo), std::ptr::null_mut(), &mut srv));
    assert_eq!(path_of(srv, false).unwrap(), p);
    let mut a = usocket_address { family: 9, octets: [0; 16], port: 0 };
    expect_err(usocket_local_name(srv, &mut a), USOCKET_ERR_WRONG_KIND);
    ok(usocket_server_spawn(srv));
    let cl = connect_local(Some(&p), false, None).unwrap();
    write_all(cl, b"served");
    assert_eq!(read_exact(cl, 6), b"served");
    ok(usocket_close(cl));
    ok(usocket_server_stop(srv));
    assert!(!Path::new(&p).exists(), "the file outlived usocket_server_stop");
    assert_eq!(connect_local(Some(&p), false, None), Err(USOCKET_ERR_UNKNOWN));
    ok(usocket_server_wait(srv, 5000));
    assert_eq!(SEEN_FAMILY.load(Ordering::SeqCst), 0);
    assert_eq!(SEEN_PID.load(Ordering::SeqCst), std::process::id() as i32);
    ok(usocket_close(srv));
    assert_eq!(usocket_open_handles(), 0);
    // no handler: the caller serves with usocket_server_next, peers family 0
    ok(usocket_server_new_local(cp.as_ptr(), &o, None, std::ptr::null_mut(), &mut srv));
    let cl = connect_local(Some(&p), false, None).unwrap();
    let (mut client, mut peer) = (0, usocket_address { family: 9, octets: [7; 16], port: 9 });
    ok(usocket_server_next(srv, 5000, &mut client, &mut peer));
    assert_eq!(peer, usocket_address { family: 0, octets: [0; 16], port: 0 });
    assert_eq!(path_of(client, false).unwrap(), p);
    for h in [client, cl, srv] {
        ok(usocket_close(h));
    }
    assert!(!Path::new(&p).exists());
}

#[test]
fn no_descriptor_leaks() {
    let _g = serial();
    let d = Dir::new("leak");
    let p = d.path("l.sock");
    let f = d.path("file");
    std::fs::write(&f, b"").unwrap();
    let fds = open_fds();
    for _ in 0..100 {
        let (cl, s) = local_pair(&p);
        let l = listen_local(&p, false).unwrap();
        assert_eq!(listen_local(&p, true), Err(USOCKET_ERR_ADDRESS_IN_USE));
        assert_eq!(listen_local(&f, true), Err(USOCKET_ERR_ADDRESS_IN_USE));
        assert_eq!(connect_local(Some(&d.path("none")), false, None), Err(USOCKET_ERR_UNKNOWN));
        assert_eq!(connect_local(Some(&f), false, None), Err(USOCKET_ERR_CONNECTION_REFUSED));
        let dg = connect_local(None, true, Some(&d.path("d.sock"))).unwrap();
        send_local(dg, b"self", Some(&d.path("d.sock"))).unwrap();
        receive_local(dg, 8, 0, 64).unwrap();
        for h in [cl, s, l, dg] {
            ok(usocket_close(h));
        }
        make_stale(&p);
        let l = listen_local(&p, true).unwrap();
        ok(usocket_close(l));
    }
    assert_eq!(open_fds(), fds);
    assert_eq!(usocket_open_handles(), 0);
}
