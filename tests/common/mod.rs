//! Small safe wrappers over the C ABI for the Rust integration tests.
#![allow(dead_code)]

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

pub use usocket::address::usocket_address;
#[allow(unused_imports)]
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

// --- Threads blocked in the kernel -------------------------------------------

/// The kernel's id of the calling thread (for /proc/self/task/TID).
pub fn gettid() -> i32 {
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The system calls a blocking usocket call sleeps in: receive, send,
/// accept, poll and epoll. A thread asleep in `futex` is waiting for a lock,
/// which is not one of them.
pub const BLOCKING_SYSCALLS: &[i64] = &[
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_read,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_write,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
];

/// Where thread `tid` of this process is: its state letter (from
/// /proc/self/task/TID/stat) and the system call it is in (from .../syscall:
/// None while it runs in user space).
pub fn thread_where(tid: i32) -> Option<(char, Option<i64>)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    let sys = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let nr = sys.split_whitespace().next().and_then(|t| t.parse::<i64>().ok()).filter(|&n| n >= 0);
    Some((state, nr))
}

/// Waits (5 s at most, polling /proc) until thread `tid` sleeps inside one of
/// `syscalls`; panics, saying where the thread is, if it never does.
#[track_caller]
pub fn wait_blocked_in(tid: i32, syscalls: &[i64]) {
    let mut last = None;
    let blocked = eventually(Duration::from_secs(5), || {
        last = thread_where(tid);
        matches!(last, Some(('S', Some(nr)))if syscalls.contains(&nr))
    });
    assert!(blocked, "thread {tid} never blocked in one of the system calls {syscalls:?}; last seen (state, syscall) = {last:?}");
}

/// `wait_blocked_in` any of `BLOCKING_SYSCALLS`.
#[track_caller]
pub fn wait_blocked(tid: i32) {
    wait_blocked_in(tid, BLOCKING_SYSCALLS)
}

/// Starts `call` on a new thread and returns once that thread sleeps in a
/// blocking system call; the handle's join gives the call's result and when
/// it returned.
pub fn start_blocked<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<(T, Instant)> {
    start_blocked_tid(call).0
}

/// `start_blocked`, also giving the thread's kernel id.
pub fn start_blocked_tid<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> (std::thread::JoinHandle<(T, Instant)>, i32) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        tx.send(gettid()).unwrap();
        let r = call();
        (r, Instant::now())
    });
    let tid = rx.recv().unwrap();
    wait_blocked(tid);
    (worker, tid)
}

// --- Child processes -----------------------------------------------------------

/// Runs the test `test` of this test binary again in a child process with
/// `env` set (the child sees it and does the real work), and returns its
/// exit status and output.
pub fn rerun_self(test: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let me = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(me);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the test binary again");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}

/// Asserts a `rerun_self` child ran its one test and passed.
#[track_caller]
pub fn assert_child_passed(status: std::process::ExitStatus, text: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert!(status.signal().is_none(), "the child was killed by signal {:?}:\n{text}", status.signal());
    assert!(status.success() && text.contains("1 passed"), "the child failed ({status}):\n{text}");
}

/// A usocket_address of zeros (family 0), to fill.
pub fn no_address() -> usocket_address {
    usocket_address { family: 0, octets: [0; 16], port: 0 }
}

// --- Signals -------------------------------------------------------------------

extern "C" fn on_usr2(_: libc::c_int) {}

/// Runs `call` on a thread that gets SIGUSR2 (a do-nothing handler with
/// SA_RESTART, as SBCL installs) every millisecond, as under a GC storm;
/// returns its result, how long it took and how many signals were sent.
pub fn under_signal_storm<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> (T, Duration, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr2 as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
    }
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = done.clone();
    let worker = std::thread::spawn(move || {
        tx.send(gettid()).unwrap();
        let t0 = Instant::now();
        let r = call();
        let took = t0.elapsed();
        flag.store(true, Ordering::SeqCst);
        (r, took)
    });
    let tid = rx.recv().unwrap();
    let mut sent = 0;
    let t0 = Instant::now();
    while !done.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(20) {
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR2) };
        sent += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    let (r, took) = worker.join().unwrap();
    (r, took, sent)
}

#[track_caller]
pub fn within_10_percent(took: Duration, ms: u64) {
    let lo = Duration::from_millis(ms * 9 / 10);
    let hi = Duration::from_millis(ms * 11 / 10);
    assert!(took >= lo && took <= hi, "took {took:?}, wanted {ms} ms ± 10%");
}

/// SO_RCVTIMEO of a raw descriptor, in ms.
pub fn raw_rcvtimeo_ms(fd: i32) -> i64 {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &mut tv as *mut _ as *mut libc::c_void, &mut len) };
    assert_eq!(rc, 0, "getsockopt(SO_RCVTIMEO)");
    tv.tv_sec as i64 * 1000 + tv.tv_usec as i64 / 1000
}

/// The socket's descriptor, still the library's.
pub fn fd_of(h: u64) -> i32 {
    let mut fd = -1;
    ok(usocket_fd(h, &mut fd));
    fd
}
