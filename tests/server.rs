//! The socket server through its C ABI, on real loopback sockets.
//!
//! The tests share one lock so that descriptor and thread counts are not
//! disturbed by each other: each runs alone.

use std::ffi::c_void;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use usocket::address::usocket_address;
use usocket::error::*;
use usocket::ffi::server::*;
use usocket::ffi::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn raise_nofile() {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Threads the server made (named usocket-server / usocket-client).
fn server_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("usocket-"))
        .count()
}

/// Polls `cond` (for facts no event tells: thread exit, descriptor counts)
/// until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn options(datagram: bool, multi: bool) -> usocket_server_options {
    let mut o = std::mem::MaybeUninit::<usocket_server_options>::uninit();
    usocket_server_options_init(o.as_mut_ptr());
    let mut o = unsafe { o.assume_init() };
    o.protocol = if datagram { USOCKET_DATAGRAM } else { USOCKET_STREAM };
    o.multi_threading = multi;
    o
}

type TcpFn = unsafe extern "C" fn(*mut c_void, u64, *const usocket_address);
type UdpFn = unsafe extern "C" fn(*mut c_void, *const u8, usize, *const usocket_address, *mut u8, usize) -> usize;

fn tcp_server(multi: bool, handler: TcpFn, ud: *const c_void) -> (u64, u16) {
    let o = options(false, multi);
    let mut h = 0u64;
    let host = c"127.0.0.1";
    let rc = usocket_server_new(host.as_ptr(), 0, &o, Some(handler), None, ud as *mut c_void, &mut h);
    assert_eq!(rc, USOCKET_OK, "server_new: {}", usocket::error::last_error_message());
    (h, port_of(h))
}

fn udp_server(o: &usocket_server_options, handler: UdpFn, ud: *const c_void) -> (u64, u16) {
    let mut h = 0u64;
    let rc = usocket_server_new(c"127.0.0.1".as_ptr(), 0, o, None, Some(handler), ud as *mut c_void, &mut h);
    assert_eq!(rc, USOCKET_OK, "server_new: {}", usocket::error::last_error_message());
    (h, port_of(h))
}

fn port_of(server: u64) -> u16 {
    let mut a = usocket_address { family: 0, octets: [0; 16], port: 0 };
    assert_eq!(usocket_local_name(server, &mut a), USOCKET_OK);
    a.port
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Runs the server on a new thread; the receiver gets run's status.
fn run_in_thread(server: u64) -> mpsc::Receiver<i32> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(usocket_server_run(server));
    });
    rx
}

// ---- handlers ---------------------------------------------------------------

#[derive(Default)]
struct Stats {
    current: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

/// Echoes until end of file, counting handlers running at once.
unsafe extern "C" fn echo(ud: *mut c_void, client: u64, _peer: *const usocket_address) {
    let st = &*(ud as *const Stats);
    let now = st.current.fetch_add(1, Ordering::SeqCst) + 1;
    st.max.fetch_max(now, Ordering::SeqCst);
    let mut buf = [0u8; 4096];
    loop {
        let mut n = 0usize;
        if usocket_read(client, buf.as_mut_ptr(), buf.len(), &mut n) != USOCKET_OK || n == 0 {
            break;
        }
        let mut w = 0usize;
        if usocket_write(client, buf.as_ptr(), n, &mut w) != USOCKET_OK {
            break;
        }
    }
    st.current.fetch_sub(1, Ordering::SeqCst);
    st.total.fetch_add(1, Ordering::SeqCst);
}

/// Answers with the peer address it was given, "a.b.c.d:port\n".
unsafe extern "C" fn tell_peer(_ud: *mut c_void, client: u64, peer: *const usocket_address) {
    let text = format!("{}\n", (*peer).to_socket_addr().unwrap());
    let mut w = 0;
    usocket_write(client, text.as_ptr(), text.len(), &mut w);
}

/// UDP: echoes the datagram followed by the sender's port (big endian).
unsafe extern "C" fn udp_echo_port(
    ud: *mut c_void,
    data: *const u8,
    len: usize,
    peer: *const usocket_address,
    reply: *mut u8,
    cap: usize,
) -> usize {
    let count = &*(ud as *const AtomicUsize);
    count.fetch_add(1, Ordering::Relaxed);
    if len + 2 > cap {
        return 0;
    }
    std::ptr::copy_nonoverlapping(data, reply, len);
    let port = (*peer).port.to_be_bytes();
    *reply.add(len) = port[0];
    *reply.add(len + 1) = port[1];
    len + 2
}

// ---- TCP --------------------------------------------------------------------

#[test]
fn thousand_concurrent_clients_all_answered() {
    let _g = serial();
    raise_nofile();
    const CLIENTS: usize = 1000;
    const THREADS: usize = 4;
    let stats = Box::leak(Box::new(Stats::default()));
    let (server, port) = tcp_server(true, echo, &*stats as *const Stats as *const c_void);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut streams: Vec<TcpStream> = (0..CLIENTS / THREADS).map(|_| connect(port)).collect();
                for round in 0..3 {
                    let msgs: Vec<Vec<u8>> = (0..streams.len())
                        .map(|i| format!("client {t}/{i} round {round} {}", "x".repeat(i % 200)).into_bytes())
                        .collect();
                    for (s, m) in streams.iter_mut().zip(&msgs) {
                        s.write_all(m).unwrap();
                    }
                    for (s, m) in streams.iter_mut().zip(&msgs) {
                        let mut got = vec![0u8; m.len()];
                        s.read_exact(&mut got).expect("echo");
                        assert_eq!(&got, m);
                    }
                }
                streams
            })
        })
        .collect();
    let streams: Vec<Vec<TcpStream>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    // Every client has been answered while all were connected: all their
    // handlers are running at once.
    assert_eq!(stats.current.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(stats.max.load(Ordering::SeqCst), CLIENTS);
    drop(streams);
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(usocket_server_wait(server, 20_000), USOCKET_OK);
    assert_eq!(stats.total.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(usocket_close(server), USOCKET_OK);
}

#[test]
fn idle_client_does_not_stop_others_multi_threaded() {
    let _g = serial();
    let stats = Box::leak(Box::new(Stats::default()));
    let (server, port) = tcp_server(true, echo, &*stats as *const Stats as *const c_void);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let idle: Vec<TcpStream> = (0..3).map(|_| connect(port)).collect();
    for i in 0..20 {
        let mut s = connect(port);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = format!("hello {i}");
        s.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).expect("answered despite idle clients");
        assert_eq!(got, msg.as_bytes());
    }
    drop(idle);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_server_wait(server, 0), USOCKET_ERR_INVALID_HANDLE);
}

#[test]
fn single_threaded_serves_one_client_at_a_time() {
    let _g = serial();
    let stats = Box::leak(Box::new(Stats::default()));
    let (server, port) = tcp_server(false, echo, &*stats as *const Stats as *const c_void);
    let done = run_in_thread(server);
    let mut first = connect(port);
    first.write_all(b"first").unwrap();
    let mut got = [0u8; 5];
    first.read_exact(&mut got).unwrap();
    // The second client waits in the backlog while the first is served.
    let mut second = connect(port);
    second.write_all(b"second").unwrap();
    second.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut got2 = [0u8; 6];
    let e = second.read_exact(&mut got2).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{e:?}");
    drop(first);
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    second.read_exact(&mut got2).unwrap();
    assert_eq!(&got2, b"second");
    assert_eq!(stats.max.load(Ordering::SeqCst), 1);
    // stop from another thread while a handler runs on run's thread: new
    // clients are refused at once; run returns when that handler ends.
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(TcpStream::connect(("127.0.0.1", port)).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    second.write_all(b"still").unwrap();
    let mut got3 = [0u8; 5];
    second.read_exact(&mut got3).unwrap();
    assert_eq!(&got3, b"still");
    drop(second);
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    assert_eq!(usocket_server_wait(server, 10_000), USOCKET_OK);
    assert_eq!(usocket_close(server), USOCKET_OK);
}

/// Runs one test of this file alone in a child process (no other test's
/// threads or descriptors come and go there) and checks that it passed.
fn in_child_process(test: &str) {
    let _g = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env("USOCKET_SERVER_TEST_CHILD", "1")
        .output()
        .expect("running the test binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{test} in a child process:\n{text}");
}

fn is_child() -> bool {
    std::env::var_os("USOCKET_SERVER_TEST_CHILD").is_some()
}

#[test]
fn stop_with_clients_connected_leaves_nothing_behind() {
    if !is_child() {
        return in_child_process("stop_with_clients_connected_leaves_nothing_behind");
    }
    let fds0 = fd_count();
    let threads0 = thread_count();
    let handles0 = usocket_open_handles();
    assert_eq!(server_threads(), 0);
    let stats = Box::leak(Box::new(Stats::default()));
    let (server, port) = tcp_server(true, echo, &*stats as *const Stats as *const c_void);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(port)).collect();
    for c in clients.iter_mut() {
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
    }
    assert_eq!(stats.current.load(Ordering::SeqCst), 20);
    assert_eq!(server_threads(), 21);
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    // New clients are refused at once; running handlers go on.
    let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    for c in clients.iter_mut() {
        c.write_all(b"more").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"more");
    }
    assert_eq!(usocket_server_wait(server, 100), USOCKET_ERR_TIMEOUT);
    assert_eq!(usocket_server_stop(server), USOCKET_OK, "stopping twice is harmless");
    // The handlers end when their clients go; the server closes its handles.
    for c in &clients {
        c.shutdown(Shutdown::Write).unwrap();
    }
    for c in clients.iter_mut() {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
    drop(clients);
    assert_eq!(usocket_server_wait(server, 10_000), USOCKET_OK);
    assert_eq!(stats.total.load(Ordering::SeqCst), 20);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_close(server), USOCKET_ERR_INVALID_HANDLE);
    assert!(
        eventually(Duration::from_secs(10), || server_threads() == 0 && thread_count() == threads0),
        "threads left: {} (server's {}), baseline {threads0}",
        thread_count(),
        server_threads()
    );
    assert!(eventually(Duration::from_secs(10), || fd_count() == fds0), "descriptors: {} vs {fds0}", fd_count());
    assert_eq!(usocket_open_handles(), handles0);
}

struct StopCtx {
    server: AtomicU64,
    wait_rc: AtomicU64,
    handled: AtomicUsize,
}

/// Reads a line; on "stop" stops its own server, then answers "bye".
unsafe extern "C" fn stopper(ud: *mut c_void, client: u64, _peer: *const usocket_address) {
    let ctx = &*(ud as *const StopCtx);
    ctx.handled.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 64];
    let mut n = 0;
    if usocket_read(client, buf.as_mut_ptr(), buf.len(), &mut n) != USOCKET_OK {
        return;
    }
    if buf[..n].starts_with(b"stop") {
        let server = ctx.server.load(Ordering::SeqCst);
        assert_eq!(usocket_server_stop(server), USOCKET_OK);
        ctx.wait_rc.store(usocket_server_wait(server, 0) as i64 as u64, Ordering::SeqCst);
    }
    let mut w = 0;
    usocket_write(client, b"bye\n".as_ptr(), 4, &mut w);
}

#[test]
fn stop_from_inside_a_tcp_handler() {
    let _g = serial();
    for multi in [false, true] {
        let ctx = Box::leak(Box::new(StopCtx {
            server: AtomicU64::new(0),
            wait_rc: AtomicU64::new(0),
            handled: AtomicUsize::new(0),
        }));
        let (server, port) = tcp_server(multi, stopper, &*ctx as *const StopCtx as *const c_void);
        ctx.server.store(server, Ordering::SeqCst);
        let done = run_in_thread(server);
        let mut c = connect(port);
        c.write_all(b"stop\n").unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "bye\n");
        assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK), "run returns (multi {multi})");
        assert_eq!(ctx.wait_rc.load(Ordering::SeqCst) as i64 as i32, USOCKET_ERR_INVALID_ARGUMENT);
        let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(usocket_server_wait(server, 10_000), USOCKET_OK);
        assert_eq!(ctx.handled.load(Ordering::SeqCst), 1);
        assert_eq!(usocket_close(server), USOCKET_OK);
    }
}

#[test]
fn run_returns_after_stop_and_close_stops() {
    let _g = serial();
    let stats = Box::leak(Box::new(Stats::default()));
    let ud = &*stats as *const Stats as *const c_void;
    // stop from another thread
    let (server, port) = tcp_server(false, echo, ud);
    let done = run_in_thread(server);
    // run is serving (it answers): a second run or spawn is refused
    let mut c = connect(port);
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    drop(c);
    assert_eq!(usocket_server_spawn(server), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_server_run(server), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(usocket_server_run(server), USOCKET_OK, "run on a stopped server returns at once");
    assert_eq!(usocket_server_wait(server, 1000), USOCKET_OK);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_server_stop(server), USOCKET_ERR_INVALID_HANDLE);
    // close instead of stop, on a spawned and on a running server
    let (server, port) = tcp_server(true, echo, ud);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let mut c = connect(port);
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(TcpStream::connect(("127.0.0.1", port)).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    drop(c);
    let (server, port) = tcp_server(false, echo, ud);
    let done = run_in_thread(server);
    let mut c = connect(port);
    c.write_all(b"x").unwrap();
    c.read_exact(&mut b).unwrap();
    drop(c);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    // a server stopped before it ran
    let (server, _) = tcp_server(false, echo, ud);
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    assert_eq!(usocket_server_wait(server, 1000), USOCKET_OK);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert!(eventually(Duration::from_secs(10), || stats.current.load(Ordering::SeqCst) == 0));
}

#[test]
fn port_zero_local_name_and_peer_address() {
    let _g = serial();
    let (server, port) = tcp_server(true, tell_peer, std::ptr::null());
    assert_ne!(port, 0);
    let mut a = usocket_address { family: 0, octets: [0; 16], port: 0 };
    assert_eq!(usocket_local_name(server, &mut a), USOCKET_OK);
    assert_eq!(a.family, 4);
    assert_eq!(&a.octets[..4], &[127, 0, 0, 1]);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    for _ in 0..3 {
        let mut c = connect(port);
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, format!("{}\n", c.local_addr().unwrap()));
    }
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    // The address is still readable after a stop.
    assert_eq!(usocket_local_name(server, &mut a), USOCKET_OK);
    assert_eq!(a.port, port);
    assert_eq!(usocket_close(server), USOCKET_OK);
    let count = Box::leak(Box::new(AtomicUsize::new(0)));
    let (server, port) =
        udp_server(&options(true, false), udp_echo_port, &*count as *const AtomicUsize as *const c_void);
    assert_ne!(port, 0);
    assert_eq!(usocket_close(server), USOCKET_OK);
}

#[test]
fn bad_arguments() {
    let _g = serial();
    let mut h = 0u64;
    let o = options(false, false);
    // 0.2: without the protocol's handler the caller serves (usocket_server_next),
    // and run/spawn refuse.
    assert_eq!(usocket_server_new(std::ptr::null(), 0, &o, None, None, std::ptr::null_mut(), &mut h), USOCKET_OK);
    assert_eq!(usocket_server_run(h), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_server_spawn(h), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_close(h), USOCKET_OK);
    let u = options(true, false);
    assert_eq!(usocket_server_new(std::ptr::null(), 0, &u, Some(echo), None, std::ptr::null_mut(), &mut h), USOCKET_OK);
    assert_eq!(usocket_server_spawn(h), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_close(h), USOCKET_OK);
    assert_eq!(
        usocket_server_new(std::ptr::null(), 0, &o, Some(echo), None, std::ptr::null_mut(), std::ptr::null_mut()),
        USOCKET_ERR_INVALID_ARGUMENT
    );
    let mut bad = options(false, false);
    bad.protocol = 7;
    assert_eq!(
        usocket_server_new(std::ptr::null(), 0, &bad, Some(echo), None, std::ptr::null_mut(), &mut h),
        USOCKET_ERR_INVALID_ARGUMENT
    );
    let mut bad = options(false, false);
    bad.backlog = -1;
    assert_eq!(
        usocket_server_new(std::ptr::null(), 0, &bad, Some(echo), None, std::ptr::null_mut(), &mut h),
        USOCKET_ERR_INVALID_ARGUMENT
    );
    for size in [0usize, 65508] {
        let mut bad = options(true, false);
        bad.max_buffer_size = size;
        assert_eq!(
            usocket_server_new(std::ptr::null(), 0, &bad, None, Some(udp_echo_port), std::ptr::null_mut(), &mut h),
            USOCKET_ERR_INVALID_ARGUMENT
        );
    }
    // Defaults: NULL options is a TCP server.
    assert_eq!(
        usocket_server_new(c"127.0.0.1".as_ptr(), 0, std::ptr::null(), Some(echo), None, std::ptr::null_mut(), &mut h),
        USOCKET_OK
    );
    let port = port_of(h);
    // The port is taken: ADDRESS_IN_USE.
    let mut h2 = 0u64;
    assert_eq!(
        usocket_server_new(c"127.0.0.1".as_ptr(), port, &o, Some(echo), None, std::ptr::null_mut(), &mut h2),
        USOCKET_ERR_ADDRESS_IN_USE
    );
    let mut buf = [0u8; 4];
    let mut n = 0;
    assert_eq!(usocket_read(h, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_WRONG_KIND);
    let mut kind = 0;
    assert_eq!(usocket_kind(h, &mut kind), USOCKET_ERR_WRONG_KIND);
    assert_eq!(usocket_close(h), USOCKET_OK);
    // A socket is not a server.
    let mut l = 0u64;
    assert_eq!(usocket_listen(c"127.0.0.1".as_ptr(), 0, std::ptr::null(), &mut l), USOCKET_OK);
    assert_eq!(usocket_server_run(l), USOCKET_ERR_WRONG_KIND);
    assert_eq!(usocket_server_stop(l), USOCKET_ERR_WRONG_KIND);
    assert_eq!(usocket_close(l), USOCKET_OK);
    assert_eq!(usocket_server_run(l), USOCKET_ERR_INVALID_HANDLE);
    // Defaults as the contract says.
    let d = options(false, false);
    assert!(d.reuse_address);
    assert_eq!(d.backlog, libc::SOMAXCONN);
    assert!(!d.multi_threading);
    assert_eq!(d.timeout_ms, 1000);
    assert_eq!(d.max_buffer_size, 65507);
    usocket_server_options_init(std::ptr::null_mut());
}

// ---- signals ------------------------------------------------------------------

/// The calling thread's blocked-signal mask, from /proc.
fn blocked_mask() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

unsafe extern "C" fn record_mask(ud: *mut c_void, client: u64, _peer: *const usocket_address) {
    (*(ud as *const AtomicU64)).store(blocked_mask(), Ordering::SeqCst);
    let mut w = 0;
    usocket_write(client, b"k".as_ptr(), 1, &mut w);
}

unsafe extern "C" fn udp_record_mask(
    ud: *mut c_void,
    _d: *const u8,
    _l: usize,
    _p: *const usocket_address,
    r: *mut u8,
    _c: usize,
) -> usize {
    (*(ud as *const AtomicU64)).store(blocked_mask(), Ordering::SeqCst);
    *r = b'k';
    1
}

fn check_mask(mask: u64) {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM, libc::SIGCHLD, libc::SIGPIPE]
    {
        assert!(mask & bit(sig) != 0, "signal {sig} not blocked in a server thread: {mask:x}");
    }
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
        assert!(mask & bit(sig) == 0, "signal {sig} blocked in a server thread: {mask:x}");
    }
}

#[test]
fn server_threads_block_async_signals_only() {
    let _g = serial();
    let before = blocked_mask();
    let mask = Box::leak(Box::new(AtomicU64::new(0)));
    let ud = &*mask as *const AtomicU64 as *const c_void;
    // multi-threaded TCP handler threads, started from a caller's thread
    let (server, port) = tcp_server(true, record_mask, ud);
    let done = run_in_thread(server);
    let mut c = connect(port);
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    check_mask(mask.load(Ordering::SeqCst));
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    // the spawned loop thread (UDP handlers run on it)
    mask.store(0, Ordering::SeqCst);
    let (server, port) = udp_server(&options(true, false), udp_record_mask, ud);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.send_to(b"?", ("127.0.0.1", port)).unwrap();
    s.recv(&mut b).unwrap();
    check_mask(mask.load(Ordering::SeqCst));
    assert_eq!(usocket_close(server), USOCKET_OK);
    // the caller's own mask is left as it was
    assert_eq!(blocked_mask(), before);
}

// ---- UDP --------------------------------------------------------------------

#[test]
fn ten_thousand_datagrams_echoed_to_their_senders() {
    let _g = serial();
    const CLIENTS: usize = 4;
    const EACH: usize = 2500;
    let count = Box::leak(Box::new(AtomicUsize::new(0)));
    let (server, port) =
        udp_server(&options(true, false), udp_echo_port, &*count as *const AtomicUsize as *const c_void);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let lost = std::sync::Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let lost = lost.clone();
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                let me = s.local_addr().unwrap().port();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 2048];
                for i in 0..EACH {
                    let msg = format!("client {c} datagram {i} {}", "y".repeat(i % 1000));
                    let mut tries = 0;
                    loop {
                        s.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
                        match s.recv_from(&mut buf) {
                            Ok((n, from)) => {
                                assert_eq!(from, SocketAddr::from(([127, 0, 0, 1], port)));
                                assert_eq!(&buf[..n - 2], msg.as_bytes(), "a reply to someone else's datagram");
                                assert_eq!(
                                    u16::from_be_bytes([buf[n - 2], buf[n - 1]]),
                                    me,
                                    "the server saw the wrong sender"
                                );
                                break;
                            }
                            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) && tries < 2 => {
                                tries += 1;
                                lost.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => panic!("no echo for datagram {i} of client {c}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(count.load(Ordering::SeqCst) >= CLIENTS * EACH);
    assert!(lost.load(Ordering::SeqCst) <= 2, "{} datagrams lost on loopback", lost.load(Ordering::SeqCst));
    assert_eq!(usocket_close(server), USOCKET_OK);
}

struct UdpCtx {
    server: AtomicU64,
    lengths: Mutex<Vec<usize>>,
    caps: Mutex<Vec<usize>>,
    answer: AtomicUsize,
}

/// Records lengths; answers "len=N", or `answer` bytes of 'z' when it is
/// set; on "stop" stops its own server and still answers.
unsafe extern "C" fn udp_probe(
    ud: *mut c_void,
    data: *const u8,
    len: usize,
    _p: *const usocket_address,
    reply: *mut u8,
    cap: usize,
) -> usize {
    let ctx = &*(ud as *const UdpCtx);
    ctx.lengths.lock().unwrap().push(len);
    ctx.caps.lock().unwrap().push(cap);
    let data = std::slice::from_raw_parts(data, len);
    if data == b"stop" {
        usocket_server_stop(ctx.server.load(Ordering::SeqCst));
        let text = b"stopped";
        std::ptr::copy_nonoverlapping(text.as_ptr(), reply, text.len());
        return text.len();
    }
    let answer = ctx.answer.load(Ordering::SeqCst);
    if answer > 0 {
        std::ptr::write_bytes(reply, b'z', cap);
        return answer;
    }
    let text = format!("len={len}");
    let n = text.len().min(cap);
    std::ptr::copy_nonoverlapping(text.as_ptr(), reply, n);
    n
}

fn udp_probe_server(max: usize) -> (&'static UdpCtx, u64, u16, UdpSocket) {
    let ctx = Box::leak(Box::new(UdpCtx {
        server: AtomicU64::new(0),
        lengths: Mutex::new(Vec::new()),
        caps: Mutex::new(Vec::new()),
        answer: AtomicUsize::new(0),
    }));
    let mut o = options(true, false);
    o.max_buffer_size = max;
    let (server, port) = udp_server(&o, udp_probe, &*ctx as *const UdpCtx as *const c_void);
    ctx.server.store(server, Ordering::SeqCst);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.connect(("127.0.0.1", port)).unwrap();
    (ctx, server, port, s)
}

#[test]
fn zero_length_datagram_is_delivered() {
    let _g = serial();
    let (ctx, server, _port, s) = udp_probe_server(65507);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let mut buf = [0u8; 64];
    s.send(b"").unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"len=0");
    s.send(b"abc").unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"len=3");
    assert_eq!(*ctx.lengths.lock().unwrap(), vec![0, 3]);
    assert_eq!(usocket_close(server), USOCKET_OK);
}

#[test]
fn reply_never_longer_than_max_buffer_size() {
    let _g = serial();
    let (ctx, server, _port, s) = udp_probe_server(16);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let mut buf = [0u8; 4096];
    // a long datagram is cut to the buffer
    s.send(&[7u8; 100]).unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"len=16");
    // a handler claiming more than the buffer: the reply is cut to it
    ctx.answer.store(1000, Ordering::SeqCst);
    s.send(b"big").unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(n, 16);
    assert!(buf[..n].iter().all(|&b| b == b'z'));
    ctx.answer.store(16, Ordering::SeqCst);
    s.send(b"exact").unwrap();
    assert_eq!(s.recv(&mut buf).unwrap(), 16);
    assert!(ctx.caps.lock().unwrap().iter().all(|&c| c == 16));
    assert_eq!(usocket_close(server), USOCKET_OK);
}

#[test]
fn stop_from_inside_a_udp_handler_still_replies() {
    let _g = serial();
    let (_ctx, server, port, s) = udp_probe_server(65507);
    let done = run_in_thread(server);
    let mut buf = [0u8; 64];
    s.send(b"ping").unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"len=4");
    s.send(b"stop").unwrap();
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"stopped");
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    // The socket is closed: the port is free again.
    let again = UdpSocket::bind(("127.0.0.1", port));
    assert!(again.is_ok(), "the server's port is still bound");
    assert_eq!(usocket_close(server), USOCKET_OK);
}

#[test]
fn udp_stop_wakes_the_loop_without_its_timeout() {
    let _g = serial();
    let (_ctx, server, _port, _s) = udp_probe_server(64);
    let mut o = options(true, false);
    o.timeout_ms = 0; // no receive timeout: only the stop can wake it
    let count = Box::leak(Box::new(AtomicUsize::new(0)));
    let (server2, _) = udp_server(&o, udp_echo_port, &*count as *const AtomicUsize as *const c_void);
    let done1 = run_in_thread(server);
    let done2 = run_in_thread(server2);
    // Give both loops time to block in their receive (the test passes
    // either way; this makes it test the wake-up), then stop them.
    std::thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    assert_eq!(usocket_server_stop(server), USOCKET_OK);
    assert_eq!(usocket_server_stop(server2), USOCKET_OK);
    assert_eq!(done1.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    assert_eq!(done2.recv_timeout(Duration::from_secs(10)), Ok(USOCKET_OK));
    assert!(t0.elapsed() < Duration::from_millis(500), "stop took {:?}", t0.elapsed());
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_close(server2), USOCKET_OK);
}

// ---- thread stacks -------------------------------------------------------------

/// Records the calling thread's stack size.
unsafe extern "C" fn record_stack(ud: *mut c_void, client: u64, _peer: *const usocket_address) {
    let mut attr: libc::pthread_attr_t = std::mem::zeroed();
    let mut size = 0usize;
    if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
        libc::pthread_attr_getstacksize(&attr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
    }
    (*(ud as *const AtomicUsize)).store(size, Ordering::SeqCst);
    let mut w = 0;
    usocket_write(client, b"k".as_ptr(), 1, &mut w);
}

#[test]
fn client_threads_have_small_stacks_unless_told() {
    let _g = serial();
    let size = Box::leak(Box::new(AtomicUsize::new(0)));
    let (server, port) = tcp_server(true, record_stack, &*size as *const AtomicUsize as *const c_void);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    let ask = |expect_at_least: usize, at_most: usize| {
        let mut c = connect(port);
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        let got = size.load(Ordering::SeqCst);
        assert!(
            got >= expect_at_least && got <= at_most,
            "stack of {got} bytes, expected {expect_at_least}..={at_most}"
        );
    };
    ask(128 * 1024, 256 * 1024);
    assert_eq!(usocket_server_set_stack_size(server, 1 << 20), USOCKET_OK);
    ask(1 << 20, (1 << 20) + 128 * 1024);
    assert_eq!(usocket_server_set_stack_size(server, 0), USOCKET_OK);
    ask(128 * 1024, 256 * 1024);
    assert_eq!(usocket_server_set_stack_size(server, 4096), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_server_set_stack_size(server, (1 << 30) + 1), USOCKET_ERR_INVALID_ARGUMENT);
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_server_set_stack_size(server, 0), USOCKET_ERR_INVALID_HANDLE);
}

// ---- out of descriptors ---------------------------------------------------------

#[test]
fn out_of_descriptors_the_server_waits_and_goes_on() {
    if !is_child() {
        return in_child_process("out_of_descriptors_the_server_waits_and_goes_on");
    }
    const CLIENTS: usize = 30;
    let stats = Box::leak(Box::new(Stats::default()));
    let (server, port) = tcp_server(true, echo, &*stats as *const Stats as *const c_void);
    // The clients connect first (the backlog holds them) and keep their
    // descriptors; then the limit leaves room for 10 accepted connections
    // only, and the server starts.
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(port)).collect();
    for c in clients.iter_mut() {
        c.write_all(b"hi").unwrap();
    }
    let mut old: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) };
    let limit = libc::rlimit { rlim_cur: (fd_count() + 10) as libc::rlim_t, rlim_max: old.rlim_max };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    assert_eq!(usocket_server_spawn(server), USOCKET_OK);
    // Served in order as earlier clients leave and free descriptors.
    for (i, mut c) in clients.drain(..).enumerate() {
        let mut got = [0u8; 2];
        c.read_exact(&mut got).unwrap_or_else(|e| panic!("client {i} not answered: {e}"));
        assert_eq!(&got, b"hi");
    }
    assert!(stats.max.load(Ordering::SeqCst) < CLIENTS, "the limit never bit");
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    assert_eq!(usocket_close(server), USOCKET_OK);
    assert_eq!(usocket_server_wait(server, 0), USOCKET_ERR_INVALID_HANDLE);
}
