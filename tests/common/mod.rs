//! Small safe wrappers over the C ABI for the Rust integration tests.
#![allow(dead_code)]

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

pub use usocket::address::usocket_address;
pub use usocket::error::{error_name, USOCKET_OK, USOCKET_ERR_ADDRESS_IN_USE, USOCKET_ERR_CONNECTION_REFUSED, USOCKET_ERR_CONNECTION_RESET, USOCKET_ERR_INTERNAL, USOCKET_ERR_INVALID_ARGUMENT, USOCKET_ERR_INVALID_HANDLE, USOCKET_ERR_NS_HOST_NOT_FOUND, USOCKET_ERR_NS_TRY_AGAIN, USOCKET_ERR_SHUTDOWN, USOCKET_ERR_TIMEOUT, USOCKET_ERR_WRONG_KIND};
pub use usocket::ffi::*;

pub fn name(code: i32) -> String {
    unsafe { CStr::from_ptr(usocket_error_name(code)) }.to_string_lossy().into_owned()
}

pub fn last_message() -> String {
    unsafe { CStr::from_ptr(usocket_last_error_message()) }.to_string_lossy().into_owned()
}

/// Panics with the code's name and message unless `rc` is OK.
#[track_caller]
pub fn ok(rc: i32) {
    assert_eq!(rc, USOCKET_OK, "{} ({}): {}", rc, name(rc), last_message());
}

#[track_caller]
pub fn expect_err(rc: i32, want: i32) {
    assert_eq!(rc, want, "got {} ({}), wanted {} ({}): {}", rc, name(rc), want, name(want), last_message());
}

pub fn listen(host: &str, backlog: i32) -> (usocket_t, u16) {
    let h = CString::new(host).unwrap();
    let mut o = std::mem::MaybeUninit::<usocket_listen_options>::uninit();
    usocket_listen_options_init(o.as_mut_ptr());
    let mut o = unsafe { o.assume_init() };
    o.backlog = backlog;
    let mut l = 0;
    ok(usocket_listen(h.as_ptr(), 0, &o, &mut l));
    (l, local_port(l))
}

pub fn local_name(s: usocket_t) -> usocket_address {
    let mut a = usocket_address { family: 0, octets: [0; 16], port: 0 };
    ok(usocket_local_name(s, &mut a));
    a
}

pub fn local_port(s: usocket_t) -> u16 {
    local_name(s).port
}

pub fn format(a: &usocket_address) -> String {
    let mut buf = [0 as std::ffi::c_char; 64];
    ok(usocket_address_format(a, buf.as_mut_ptr(), buf.len()));
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

pub fn connect_opts() -> usocket_connect_options {
    let mut o = std::mem::MaybeUninit::<usocket_connect_options>::uninit();
    usocket_connect_options_init(o.as_mut_ptr());
    unsafe { o.assume_init() }
}

pub fn try_connect(host: &str, port: u16, o: &usocket_connect_options) -> Result<usocket_t, i32> {
    let h = CString::new(host).unwrap();
    let mut s = 0;
    match usocket_connect(h.as_ptr(), port, o, &mut s) {
        0 => Ok(s),
        rc => Err(rc),
    }
}

pub fn connect(host: &str, port: u16) -> usocket_t {
    try_connect(host, port, &connect_opts()).unwrap_or_else(|rc| panic!("connect: {} {}", name(rc), last_message()))
}

pub fn accept(l: usocket_t) -> usocket_t {
    let mut s = 0;
    ok(usocket_accept(l, &mut s));
    s
}

/// A connected pair over loopback: (client, server side), with the listener closed.
pub fn pair(host: &str) -> (usocket_t, usocket_t) {
    let (l, port) = listen(host, 16);
    let c = connect(host, port);
    let s = accept(l);
    ok(usocket_close(l));
    (c, s)
}

pub fn write_all(s: usocket_t, data: &[u8]) {
    let mut n = 0;
    ok(usocket_write(s, data.as_ptr(), data.len(), &mut n));
    assert_eq!(n, data.len());
}

pub fn read_some(s: usocket_t, cap: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; cap];
    let mut n = 0;
    match usocket_read(s, buf.as_mut_ptr(), cap, &mut n) {
        0 => {
            buf.truncate(n);
            Ok(buf)
        }
        rc => Err(rc),
    }
}

pub fn read_exact(s: usocket_t, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let chunk = read_some(s, len - out.len()).unwrap_or_else(|rc| panic!("read: {} {}", name(rc), last_message()));
        assert!(!chunk.is_empty(), "unexpected end of file after {} of {} bytes", out.len(), len);
        out.extend_from_slice(&chunk);
    }
    out
}

pub fn udp(local_host: &str, local_port: u16) -> usocket_t {
    let mut o = connect_opts();
    o.protocol = USOCKET_DATAGRAM;
    let lh = CString::new(local_host).unwrap();
    o.local_host = lh.as_ptr();
    o.local_port = local_port;
    let mut s = 0;
    ok(usocket_connect(std::ptr::null(), 0, &o, &mut s));
    s
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Polls `cond` for up to `limit` (for conditions with no event to wait on).
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Raises the soft descriptor limit to the hard one.
pub fn raise_fd_limit() -> u64 {
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur
    }
}
