//! The calls of version 0.2 (C-API.md "Additions of version 0.2", issue 10):
//! the `_for` calls bounded by their own timeout, `usocket_dup_fd`, the
//! server loop on the caller's threads (`usocket_server_next`,
//! `_next_datagram`, `_reply`) and `usocket_host_by_name` (literals and
//! /etc/hosts here; names with both families in tests/namespace.rs).
//! Each: its timeouts (< 0 forever, 0 no wait, > 0 bounded, the socket's own
//! SO_RCVTIMEO neither read nor changed), a close from another thread while
//! it blocks, signals during it, and bad input.

mod common;

use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::*;

fn lo() -> CString {
    CString::new("127.0.0.1").unwrap()
}

/// Checks the socket's receive timeout is `ms`, both as usocket reports it
/// and on the descriptor (SO_RCVTIMEO, which the kernel keeps in jiffies:
/// 50 ms reads back as 52 with HZ=250, so within one jiffy of 10 ms).
#[track_caller]
fn receive_timeout_is(s: u64, ms: i64) {
    let mut v = -1;
    ok(usocket_get_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, &mut v));
    assert_eq!(v, ms, "usocket_get_option(RECEIVE_TIMEOUT)");
    let raw = raw_rcvtimeo_ms(fd_of(s));
    assert!(raw >= ms && raw <= ms + 10, "SO_RCVTIMEO of the descriptor is {raw} ms, the socket's timeout {ms} ms");
}

fn read_for(s: u64, cap: usize, timeout_ms: i64) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; cap];
    let mut n = usize::MAX;
    match usocket_read_for(s, buf.as_mut_ptr(), cap, timeout_ms, &mut n) {
        0 => {
            buf.truncate(n);
            Ok(buf)
        }
        rc => {
            assert_eq!(n, usize::MAX, "*nread written by a failed read_for");
            Err(rc)
        }
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t0 = Instant::now();
    let r = f();
    (r, t0.elapsed())
}

#[track_caller]
fn between(d: Duration, lo_ms: u64, hi_ms: u64) {
    assert!(d >= Duration::from_millis(lo_ms) && d <= Duration::from_millis(hi_ms), "took {d:?}, wanted {lo_ms}..{hi_ms} ms");
}

// --- usocket_read_for ------------------------------------------------------------

#[test]
fn read_for_timeouts() {
    let (c, s) = pair("127.0.0.1");
    for own in [0i64, 50, 5000] {
        ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, own));
        receive_timeout_is(s, own);
        // 0: does not wait.
        let (r, took) = timed(|| read_for(s, 8, 0));
        expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
        assert!(took < Duration::from_millis(30), "timeout 0 waited {took:?}");
        // > 0: bounded by its own timeout, not the socket's (50 or 5000 or none).
        let (r, took) = timed(|| read_for(s, 8, 150));
        expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
        between(took, 140, 1000);
        // Nothing consumed: what comes next is read whole.
        write_all(c, b"after");
        assert_eq!(read_for(s, 8, 0).unwrap(), b"after");
        // Data waiting: returned at once, whatever the timeout.
        write_all(c, b"now");
        let (r, took) = timed(|| read_for(s, 8, 10_000));
        assert_eq!(r.unwrap(), b"now");
        assert!(took < Duration::from_millis(100));
        receive_timeout_is(s, own);
    }
    // < 0: forever, even with the socket's own timeout short (50 ms).
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 50));
    let (t, tid) = start_blocked_tid(move || read_for(s, 8, -1));
    // Its SO_RCVTIMEO during the call is still the socket's own.
    receive_timeout_is(s, 50);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "read_for(-1) returned while nothing came (the socket's 50 ms timeout bounded it?)");
    wait_blocked(tid);
    write_all(c, b"late");
    assert_eq!(t.join().unwrap().0.unwrap(), b"late");
    // And a bounded read_for does not change it mid-call either.
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 4321));
    let t = start_blocked(move || read_for(s, 8, 3000));
    receive_timeout_is(s, 4321);
    write_all(c, b"x");
    assert_eq!(t.join().unwrap().0.unwrap(), b"x");
    receive_timeout_is(s, 4321);
    // The plain read still honours the socket's timeout.
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 100));
    let (r, took) = timed(|| read_some(s, 8));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    between(took, 90, 1000);
    // End of file: 0 bytes, OK.
    ok(usocket_close(c));
    assert_eq!(read_for(s, 8, 1000).unwrap(), b"");
    assert_eq!(read_for(s, 8, 0).unwrap(), b"");
    ok(usocket_close(s));
}

#[test]
fn read_for_keeps_its_deadline_under_signals() {
    let (c, s) = pair("127.0.0.1");
    let (r, took, sent) = under_signal_storm(move || read_for(s, 8, 400));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    assert!(sent > 50, "only {sent} signals");
    within_10_percent(took, 400);
    // Forever under signals: returns the data, not an error.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        write_all(c, b"data");
        c
    });
    let (r, _, _) = under_signal_storm(move || read_for(s, 8, -1));
    assert_eq!(r.unwrap(), b"data");
    ok(usocket_close(writer.join().unwrap()));
    ok(usocket_close(s));
}

// --- usocket_accept_for ------------------------------------------------------------

#[test]
fn accept_for_timeouts_and_peer() {
    let (l, port) = listen("127.0.0.1", 8);
    for own in [0i64, 50, 5000] {
        ok(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, own));
        let mut h = 77u64;
        let mut peer = no_address();
        let (rc, took) = timed(|| usocket_accept_for(l, 0, &mut h, &mut peer));
        expect_err(rc, USOCKET_ERR_TIMEOUT);
        assert!(took < Duration::from_millis(30));
        assert_eq!((h, peer.family), (77, 0), "out-pointers written on timeout");
        let (rc, took) = timed(|| usocket_accept_for(l, 150, &mut h, null_mut()));
        expect_err(rc, USOCKET_ERR_TIMEOUT);
        between(took, 140, 1000);
        receive_timeout_is(l, own);
        // A client waiting: accepted at once, with its address.
        let c = connect("127.0.0.1", port);
        ok(usocket_accept_for(l, 5000, &mut h, &mut peer));
        assert_eq!(format(&peer), "127.0.0.1");
        assert_eq!(peer.port, local_port(c));
        let mut k = -1;
        ok(usocket_kind(h, &mut k));
        assert_eq!(k, USOCKET_KIND_STREAM);
        write_all(c, b"hi");
        assert_eq!(read_exact(h, 2), b"hi");
        ok(usocket_close(c));
        ok(usocket_close(h));
        receive_timeout_is(l, own);
    }
    // < 0: forever despite the listener's 50 ms.
    ok(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 50));
    let t = start_blocked(move || {
        let mut h = 0;
        (usocket_accept_for(l, -1, &mut h, null_mut()), h)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "accept_for(-1) returned with no client");
    let c = connect("127.0.0.1", port);
    let ((rc, h), _) = t.join().unwrap();
    ok(rc);
    receive_timeout_is(l, 50);
    for x in [c, h, l] {
        ok(usocket_close(x));
    }
}

#[test]
fn accept_for_keeps_its_deadline_under_signals() {
    let (l, _) = listen("127.0.0.1", 4);
    let (rc, took, _) = under_signal_storm(move || {
        let mut h = 0;
        usocket_accept_for(l, 300, &mut h, null_mut())
    });
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);
    ok(usocket_close(l));
}

// --- usocket_receive_for -------------------------------------------------------------

#[test]
fn receive_for_timeouts_cut_and_sender() {
    let u = udp("127.0.0.1", 0);
    let port = local_port(u);
    let v = udp("127.0.0.1", 0);
    let host = lo();
    let send = |data: &[u8]| {
        let mut n = 0;
        ok(usocket_send(v, data.as_ptr(), data.len(), host.as_ptr(), port, &mut n));
    };
    for own in [0i64, 50, 5000] {
        ok(usocket_set_option(u, USOCKET_OPT_RECEIVE_TIMEOUT, own));
        let mut buf = [0u8; 16];
        let mut n = 99usize;
        let mut from = no_address();
        let (rc, took) = timed(|| usocket_receive_for(u, buf.as_mut_ptr(), 16, 0, &mut n, &mut from));
        expect_err(rc, USOCKET_ERR_TIMEOUT);
        assert!(took < Duration::from_millis(30));
        assert_eq!((n, from.family), (99, 0), "out-pointers written on timeout");
        let (rc, took) = timed(|| usocket_receive_for(u, buf.as_mut_ptr(), 16, 150, &mut n, null_mut()));
        expect_err(rc, USOCKET_ERR_TIMEOUT);
        between(took, 140, 1000);
        receive_timeout_is(u, own);
        // A datagram longer than the buffer is cut; the sender is given.
        send(b"0123456789");
        ok(usocket_receive_for(u, buf.as_mut_ptr(), 4, 5000, &mut n, &mut from));
        assert_eq!(&buf[..n], b"0123");
        assert_eq!((format(&from), from.port), ("127.0.0.1".to_string(), local_port(v)));
        // The rest of it was dropped, and a zero-length datagram is one.
        send(b"");
        ok(usocket_receive_for(u, buf.as_mut_ptr(), 16, 5000, &mut n, null_mut()));
        assert_eq!(n, 0);
        receive_timeout_is(u, own);
    }
    ok(usocket_set_option(u, USOCKET_OPT_RECEIVE_TIMEOUT, 50));
    let t = start_blocked(move || {
        let mut buf = [0u8; 16];
        let mut n = 0;
        let rc = usocket_receive_for(u, buf.as_mut_ptr(), 16, -1, &mut n, null_mut());
        (rc, buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "receive_for(-1) returned with nothing sent");
    send(b"late");
    let ((rc, got), _) = t.join().unwrap();
    ok(rc);
    assert_eq!(got, b"late");
    receive_timeout_is(u, 50);
    ok(usocket_close(u));
    ok(usocket_close(v));
}

#[test]
fn receive_for_keeps_its_deadline_under_signals() {
    let u = udp("127.0.0.1", 0);
    let (rc, took, _) = under_signal_storm(move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        usocket_receive_for(u, buf.as_mut_ptr(), 8, 300, &mut n, null_mut())
    });
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);
    ok(usocket_close(u));
}

// --- Close under a call, bad input ------------------------------------------------------

fn close_under(victim: u64, call: impl FnOnce() -> i32 + Send + 'static) {
    let t = start_blocked(call);
    let at = Instant::now();
    ok(usocket_close(victim));
    assert!(eventually(Duration::from_secs(2), || t.is_finished()), "the call was still blocked 2 s after the close");
    let (rc, returned) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    let took = returned.saturating_duration_since(at);
    assert!(took < Duration::from_millis(100), "returned {took:?} after the close");
}

#[test]
fn a_close_wakes_each_for_call() {
    for timeout in [-1i64, 60_000] {
        let (c, s) = pair("127.0.0.1");
        close_under(s, move || {
            let mut buf = [0u8; 8];
            let mut n = 0;
            usocket_read_for(s, buf.as_mut_ptr(), 8, timeout, &mut n)
        });
        ok(usocket_close(c));
        let (l, _) = listen("127.0.0.1", 4);
        close_under(l, move || {
            let mut h = 0;
            let mut peer = no_address();
            usocket_accept_for(l, timeout, &mut h, &mut peer)
        });
        let u = udp("127.0.0.1", 0);
        close_under(u, move || {
            let mut buf = [0u8; 8];
            let mut n = 0;
            let mut from = no_address();
            usocket_receive_for(u, buf.as_mut_ptr(), 8, timeout, &mut n, &mut from)
        });
    }
}

#[test]
fn bad_input_to_the_for_calls() {
    let (c, s) = pair("127.0.0.1");
    let (l, _) = listen("127.0.0.1", 4);
    let u = udp("127.0.0.1", 0);
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    let mut buf = [0u8; 8];
    let mut n = 0usize;
    let mut h = 0u64;
    let e = USOCKET_ERR_INVALID_ARGUMENT;
    expect_err(usocket_read_for(s, null_mut(), 8, 0, &mut n), e);
    expect_err(usocket_read_for(s, buf.as_mut_ptr(), 8, 0, null_mut()), e);
    expect_err(usocket_read_for(s, buf.as_mut_ptr(), usize::MAX, 0, &mut n), e);
    expect_err(usocket_accept_for(l, 0, null_mut(), null_mut()), e);
    expect_err(usocket_receive_for(u, null_mut(), 8, 0, &mut n, null_mut()), e);
    expect_err(usocket_receive_for(u, buf.as_mut_ptr(), 8, 0, null_mut(), null_mut()), e);
    expect_err(usocket_receive_for(u, buf.as_mut_ptr(), usize::MAX, 0, &mut n, null_mut()), e);
    // Length 0: returns at once, NULL buffer allowed.
    ok(usocket_read_for(s, null_mut(), 0, -1, &mut n));
    assert_eq!(n, 0);
    for bad in [0u64, 1, u64::MAX, 0xdead_beef_0000_0001] {
        expect_err(usocket_read_for(bad, buf.as_mut_ptr(), 8, 0, &mut n), USOCKET_ERR_INVALID_HANDLE);
        expect_err(usocket_accept_for(bad, 0, &mut h, null_mut()), USOCKET_ERR_INVALID_HANDLE);
        expect_err(usocket_receive_for(bad, buf.as_mut_ptr(), 8, 0, &mut n, null_mut()), USOCKET_ERR_INVALID_HANDLE);
    }
    let k = USOCKET_ERR_WRONG_KIND;
    for wrong in [l, u, w] {
        expect_err(usocket_read_for(wrong, buf.as_mut_ptr(), 8, 0, &mut n), k);
    }
    for wrong in [s, u, w] {
        expect_err(usocket_accept_for(wrong, 0, &mut h, null_mut()), k);
    }
    for wrong in [s, l, w] {
        expect_err(usocket_receive_for(wrong, buf.as_mut_ptr(), 8, 0, &mut n, null_mut()), k);
    }
    // Closed handles.
    ok(usocket_close(c));
    expect_err(usocket_read_for(c, buf.as_mut_ptr(), 8, 0, &mut n), USOCKET_ERR_INVALID_HANDLE);
    for x in [s, l, u, w] {
        ok(usocket_close(x));
    }
}

// --- usocket_dup_fd ------------------------------------------------------------------

fn inode(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap().to_string_lossy().into_owned()
}

fn raw_send(fd: i32, data: &[u8]) {
    let n = unsafe { libc::send(fd, data.as_ptr() as *const c_void, data.len(), libc::MSG_NOSIGNAL) };
    assert_eq!(n, data.len() as isize, "send on the duplicate");
}

/// recv on a raw descriptor, waiting up to 5 s; None when nothing came.
fn raw_recv(fd: i32, cap: usize) -> Option<Vec<u8>> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    if unsafe { libc::poll(&mut pfd, 1, 5000) } != 1 {
        return None;
    }
    let mut buf = vec![0u8; cap];
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut c_void, cap, libc::MSG_DONTWAIT) };
    assert!(n >= 0, "recv on the duplicate: {}", std::io::Error::last_os_error());
    buf.truncate(n as usize);
    Some(buf)
}

fn dup_fd(s: u64) -> i32 {
    let mut fd = -1;
    ok(usocket_dup_fd(s, &mut fd));
    fd
}

#[test]
fn dup_fd_is_an_independent_close_on_exec_descriptor_of_the_same_socket() {
    let (c, s) = pair("127.0.0.1");
    let own = fd_of(s);
    let d = dup_fd(s);
    assert!(d >= 0 && d != own);
    assert_eq!(inode(d), inode(own), "the duplicate is another socket");
    let flags = unsafe { libc::fcntl(d, libc::F_GETFD) };
    assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "not close-on-exec: {flags:#x}");
    // It works both ways.
    raw_send(d, b"from dup");
    assert_eq!(read_exact(c, 8), b"from dup");
    write_all(c, b"to dup");
    assert_eq!(raw_recv(d, 16).unwrap(), b"to dup");
    // Independent: closing the handle leaves it, and the connection, up.
    ok(usocket_close(s));
    assert!(unsafe { libc::fcntl(d, libc::F_GETFD) } >= 0, "usocket_close closed the duplicate");
    expect_err(read_for(c, 8, 100).unwrap_err(), USOCKET_ERR_TIMEOUT); // no end of file at the peer
    write_all(c, b"still");
    assert_eq!(raw_recv(d, 16).unwrap(), b"still");
    raw_send(d, b"me too");
    assert_eq!(read_exact(c, 6), b"me too");
    // Closing the duplicate ends it.
    assert_eq!(unsafe { libc::close(d) }, 0);
    assert_eq!(read_for(c, 8, 5000).unwrap(), b"", "end of file once the last descriptor closed");
    ok(usocket_close(c));
    // Each call gives a new descriptor; a listener and a datagram socket have them too.
    let (l, port) = listen("127.0.0.1", 4);
    let (d1, d2) = (dup_fd(l), dup_fd(l));
    assert_ne!(d1, d2);
    let c = connect("127.0.0.1", port);
    let a = unsafe { libc::accept(d1, null_mut(), null_mut()) };
    assert!(a >= 0, "accept on the listener's duplicate");
    let u = udp("127.0.0.1", 0);
    let du = dup_fd(u);
    assert_eq!(inode(du), inode(fd_of(u)));
    for fd in [d1, d2, a, du] {
        unsafe { libc::close(fd) };
    }
    for x in [c, l, u] {
        ok(usocket_close(x));
    }
}

#[test]
fn shutdown_ends_the_connection_for_the_duplicate_too() {
    let (c, s) = pair("127.0.0.1");
    let d = dup_fd(s);
    ok(usocket_shutdown(s, USOCKET_SHUT_BOTH));
    ok(usocket_close(s));
    assert_eq!(read_for(c, 8, 5000).unwrap(), b"", "the peer sees end of file though a duplicate is open");
    assert_eq!(raw_recv(d, 8).unwrap(), b"", "the duplicate reads end of file");
    let n = unsafe { libc::send(d, b"x".as_ptr() as *const c_void, 1, libc::MSG_NOSIGNAL) };
    assert_eq!((n, std::io::Error::last_os_error().raw_os_error()), (-1, Some(libc::EPIPE)));
    unsafe { libc::close(d) };
    ok(usocket_close(c));
}

#[test]
fn dup_fd_bad_input() {
    let (c, s) = pair("127.0.0.1");
    let mut fd = 1234;
    expect_err(usocket_dup_fd(s, null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    for bad in [0u64, u64::MAX, 0xdead_beef_0000_0001] {
        expect_err(usocket_dup_fd(bad, &mut fd), USOCKET_ERR_INVALID_HANDLE);
    }
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    expect_err(usocket_dup_fd(w, &mut fd), USOCKET_ERR_WRONG_KIND);
    ok(usocket_close(c));
    expect_err(usocket_dup_fd(c, &mut fd), USOCKET_ERR_INVALID_HANDLE);
    assert_eq!(fd, 1234, "*fd written by a failed call");
    ok(usocket_close(w));
    ok(usocket_close(s));
}

// --- usocket_server_next ----------------------------------------------------------------

fn server_opts(datagram: bool) -> usocket_server_options {
    let mut o = std::mem::MaybeUninit::<usocket_server_options>::uninit();
    usocket_server_options_init(o.as_mut_ptr());
    let mut o = unsafe { o.assume_init() };
    if datagram {
        o.protocol = USOCKET_DATAGRAM;
    }
    o
}

fn null_handler_server(o: &usocket_server_options) -> (u64, u16) {
    let host = lo();
    let mut srv = 0;
    ok(usocket_server_new(host.as_ptr(), 0, o, None, None, null_mut(), &mut srv));
    (srv, local_port(srv))
}

fn next_client(srv: u64, timeout_ms: i64) -> Result<(u64, usocket_address), i32> {
    let mut h = 0xAAAA;
    let mut peer = no_address();
    match usocket_server_next(srv, timeout_ms, &mut h, &mut peer) {
        0 => Ok((h, peer)),
        rc => {
            assert_eq!(h, 0xAAAA, "*client written by a failed server_next");
            Err(rc)
        }
    }
}

#[test]
fn server_next_gives_clients_in_order_then_timeout_then_shutdown() {
    let (srv, port) = null_handler_server(&server_opts(false));
    let (r, took) = timed(|| next_client(srv, 0));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    assert!(took < Duration::from_millis(30));
    let (r, took) = timed(|| next_client(srv, 150));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    between(took, 140, 1000);
    // Three clients, connected one after the other, come out in that order.
    let clients: Vec<u64> = (0..3).map(|_| connect("127.0.0.1", port)).collect();
    for (i, &c) in clients.iter().enumerate() {
        write_all(c, &[b'0' + i as u8]);
    }
    for (i, &c) in clients.iter().enumerate() {
        let (h, peer) = next_client(srv, 5000).unwrap();
        assert_eq!((format(&peer), peer.port), ("127.0.0.1".to_string(), local_port(c)), "client {i}");
        assert_eq!(read_exact(h, 1), [b'0' + i as u8]);
        // The handle is the caller's: a working socket, closed by the caller.
        write_all(h, b"ok");
        assert_eq!(read_exact(c, 2), b"ok");
        ok(usocket_close(h));
        expect_err(usocket_close(h), USOCKET_ERR_INVALID_HANDLE);
    }
    // peer may be NULL.
    let c = connect("127.0.0.1", port);
    let mut h = 0;
    ok(usocket_server_next(srv, 5000, &mut h, null_mut()));
    ok(usocket_close(h));
    ok(usocket_close(c));
    for c in clients {
        ok(usocket_close(c));
    }
    // Forever until a client comes.
    let t = start_blocked(move || next_client(srv, -1).map(|(h, _)| h));
    let c = connect("127.0.0.1", port);
    let h = t.join().unwrap().0.unwrap();
    ok(usocket_close(h));
    ok(usocket_close(c));
    // Stopped: SHUTDOWN, at once, from then on; a blocked call is woken with it.
    let t = start_blocked(move || next_client(srv, -1));
    let at = Instant::now();
    ok(usocket_server_stop(srv));
    let (r, returned) = t.join().unwrap();
    expect_err(r.unwrap_err(), USOCKET_ERR_SHUTDOWN);
    assert!(returned.saturating_duration_since(at) < Duration::from_millis(100));
    for timeout in [0, 100, -1] {
        expect_err(next_client(srv, timeout).unwrap_err(), USOCKET_ERR_SHUTDOWN);
    }
    expect_err(try_connect("127.0.0.1", port, &connect_opts()).unwrap_err(), USOCKET_ERR_CONNECTION_REFUSED);
    ok(usocket_close(srv));
    expect_err(next_client(srv, 0).unwrap_err(), USOCKET_ERR_INVALID_HANDLE);
}

#[test]
fn server_next_keeps_its_deadline_under_signals() {
    let (srv, _) = null_handler_server(&server_opts(false));
    let (r, took, _) = under_signal_storm(move || next_client(srv, 300));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);
    ok(usocket_close(srv));
}

#[test]
fn a_close_wakes_server_next_and_next_datagram() {
    let (srv, _) = null_handler_server(&server_opts(false));
    close_under(srv, move || {
        let mut h = 0;
        usocket_server_next(srv, -1, &mut h, null_mut())
    });
    let (srv, _) = null_handler_server(&server_opts(true));
    close_under(srv, move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        let mut peer = no_address();
        usocket_server_next_datagram(srv, 60_000, buf.as_mut_ptr(), 8, &mut n, &mut peer)
    });
}

unsafe extern "C" fn tcp_handler(_: *mut c_void, _: u64, _: *const usocket_address) {}
unsafe extern "C" fn udp_handler(_: *mut c_void, _: *const u8, _: usize, _: *const usocket_address, _: *mut u8, _: usize) -> usize {
    0
}

#[test]
fn server_next_and_run_refuse_what_they_cannot_serve() {
    let host = lo();
    // A server that spawn is serving: server_next is INVALID_ARGUMENT.
    let mut srv = 0;
    ok(usocket_server_new(host.as_ptr(), 0, &server_opts(false), Some(tcp_handler), None, null_mut(), &mut srv));
    ok(usocket_server_spawn(srv));
    let mut h = 0;
    expect_err(usocket_server_next(srv, 0, &mut h, null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    ok(usocket_close(srv));
    // One that run is serving (on another thread).
    ok(usocket_server_new(host.as_ptr(), 0, &server_opts(false), Some(tcp_handler), None, null_mut(), &mut srv));
    let runner = start_blocked(move || usocket_server_run(srv));
    expect_err(usocket_server_next(srv, 0, &mut h, null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    ok(usocket_server_stop(srv));
    ok(runner.join().unwrap().0);
    ok(usocket_close(srv));
    // run and spawn on a server made with NULL handlers: INVALID_ARGUMENT, and it still serves next.
    for datagram in [false, true] {
        let (srv, port) = null_handler_server(&server_opts(datagram));
        expect_err(usocket_server_run(srv), USOCKET_ERR_INVALID_ARGUMENT);
        expect_err(usocket_server_spawn(srv), USOCKET_ERR_INVALID_ARGUMENT);
        if !datagram {
            let c = connect("127.0.0.1", port);
            let (h, _) = next_client(srv, 5000).unwrap();
            ok(usocket_close(h));
            ok(usocket_close(c));
        }
        ok(usocket_close(srv));
    }
    // A UDP server with a handler being served: next_datagram refused too.
    ok(usocket_server_new(host.as_ptr(), 0, &server_opts(true), None, Some(udp_handler), null_mut(), &mut srv));
    ok(usocket_server_spawn(srv));
    let mut buf = [0u8; 8];
    let mut n = 0;
    let mut peer = no_address();
    expect_err(usocket_server_next_datagram(srv, 0, buf.as_mut_ptr(), 8, &mut n, &mut peer), USOCKET_ERR_INVALID_ARGUMENT);
    let to = local_name(srv);
    expect_err(usocket_server_reply(srv, buf.as_ptr(), 1, &to), USOCKET_ERR_INVALID_ARGUMENT);
    ok(usocket_close(srv));
    // Not a server, bad pointers, bad handles.
    let (c, s) = pair("127.0.0.1");
    let mut peer = local_name(c);
    expect_err(usocket_server_next(c, 0, &mut h, null_mut()), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_server_next_datagram(c, 0, buf.as_mut_ptr(), 8, &mut n, &mut peer), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_server_reply(c, buf.as_ptr(), 1, &peer), USOCKET_ERR_WRONG_KIND);
    let (srv, _) = null_handler_server(&server_opts(false));
    expect_err(usocket_server_next(srv, 0, null_mut(), null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    // The wrong protocol: server_next on a UDP server, next_datagram and reply on a TCP one.
    let (udp_srv, _) = null_handler_server(&server_opts(true));
    expect_err(usocket_server_next(udp_srv, 0, &mut h, null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
    ok(usocket_close(udp_srv));
    expect_err(usocket_server_next_datagram(srv, 0, buf.as_mut_ptr(), 8, &mut n, &mut peer), USOCKET_ERR_INVALID_ARGUMENT);
    for bad in [0u64, u64::MAX] {
        expect_err(usocket_server_next(bad, 0, &mut h, null_mut()), USOCKET_ERR_INVALID_HANDLE);
        expect_err(usocket_server_next_datagram(bad, 0, buf.as_mut_ptr(), 8, &mut n, &mut peer), USOCKET_ERR_INVALID_HANDLE);
        expect_err(usocket_server_reply(bad, buf.as_ptr(), 1, &peer), USOCKET_ERR_INVALID_HANDLE);
    }
    for x in [srv, c, s] {
        ok(usocket_close(x));
    }
}

// --- usocket_server_next_datagram, usocket_server_reply ------------------------------------

#[test]
fn next_datagram_cuts_to_cap_and_the_reply_reaches_the_sender() {
    let mut o = server_opts(true);
    o.max_buffer_size = 64;
    let (srv, port) = null_handler_server(&o);
    let host = lo();
    let mut buf = [0u8; 128];
    let mut n = 999usize;
    let mut peer = no_address();
    let (rc, took) = timed(|| usocket_server_next_datagram(srv, 0, buf.as_mut_ptr(), 128, &mut n, &mut peer));
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    assert!(took < Duration::from_millis(30));
    let (rc, took) = timed(|| usocket_server_next_datagram(srv, 150, buf.as_mut_ptr(), 128, &mut n, &mut peer));
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    between(took, 140, 1000);
    assert_eq!((n, peer.family), (999, 0), "out-pointers written on timeout");
    let clients = [udp("127.0.0.1", 0), udp("127.0.0.1", 0)];
    for (i, &u) in clients.iter().enumerate() {
        let msg = format!("hello from client {i}");
        let mut sent = 0;
        ok(usocket_send(u, msg.as_ptr(), msg.len(), host.as_ptr(), port, &mut sent));
        // Cut to cap (5).
        ok(usocket_server_next_datagram(srv, 5000, buf.as_mut_ptr(), 5, &mut n, &mut peer));
        assert_eq!(&buf[..n], b"hello");
        assert_eq!((format(&peer), peer.port), ("127.0.0.1".to_string(), local_port(u)));
        let reply = format!("pong {i}");
        ok(usocket_server_reply(srv, reply.as_ptr(), reply.len(), &peer));
    }
    // Each reply went to its own sender, from the server's port.
    for (i, &u) in clients.iter().enumerate() {
        let mut got = [0u8; 32];
        let mut from = no_address();
        ok(usocket_receive_for(u, got.as_mut_ptr(), 32, 5000, &mut n, &mut from));
        assert_eq!(&got[..n], format!("pong {i}").as_bytes());
        assert_eq!(from.port, port);
    }
    // A zero-length datagram is one; a reply of max_buffer_size goes, one byte more does not.
    let mut sent = 0;
    ok(usocket_send(clients[0], null(), 0, host.as_ptr(), port, &mut sent));
    ok(usocket_server_next_datagram(srv, 5000, buf.as_mut_ptr(), 128, &mut n, &mut peer));
    assert_eq!(n, 0);
    let big = [7u8; 65];
    ok(usocket_server_reply(srv, big.as_ptr(), 64, &peer));
    expect_err(usocket_server_reply(srv, big.as_ptr(), 65, &peer), USOCKET_ERR_INVALID_ARGUMENT);
    expect_err(usocket_server_reply(srv, big.as_ptr(), 1, null()), USOCKET_ERR_INVALID_ARGUMENT);
    expect_err(usocket_server_reply(srv, null(), 1, &peer), USOCKET_ERR_INVALID_ARGUMENT);
    expect_err(usocket_server_next_datagram(srv, 0, buf.as_mut_ptr(), 128, null_mut(), &mut peer), USOCKET_ERR_INVALID_ARGUMENT);
    expect_err(usocket_server_next_datagram(srv, 0, null_mut(), 128, &mut n, &mut peer), USOCKET_ERR_INVALID_ARGUMENT);
    // Forever until one comes.
    let t = start_blocked(move || {
        let mut buf = [0u8; 16];
        let mut n = 0;
        let mut peer = no_address();
        let rc = usocket_server_next_datagram(srv, -1, buf.as_mut_ptr(), 16, &mut n, &mut peer);
        (rc, buf[..n].to_vec())
    });
    ok(usocket_send(clients[1], b"late".as_ptr(), 4, host.as_ptr(), port, &mut sent));
    let ((rc, got), _) = t.join().unwrap();
    ok(rc);
    assert_eq!(got, b"late");
    // Signals keep the deadline.
    let (rc, took, _) = under_signal_storm(move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        let mut peer = no_address();
        usocket_server_next_datagram(srv, 300, buf.as_mut_ptr(), 8, &mut n, &mut peer)
    });
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);
    // Stopped: SHUTDOWN; a blocked call woken with it.
    let t = start_blocked(move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        let mut peer = no_address();
        usocket_server_next_datagram(srv, -1, buf.as_mut_ptr(), 8, &mut n, &mut peer)
    });
    ok(usocket_server_stop(srv));
    expect_err(t.join().unwrap().0, USOCKET_ERR_SHUTDOWN);
    expect_err(usocket_server_next_datagram(srv, 0, buf.as_mut_ptr(), 8, &mut n, &mut peer), USOCKET_ERR_SHUTDOWN);
    for x in [srv, clients[0], clients[1]] {
        ok(usocket_close(x));
    }
}

// --- usocket_host_by_name ---------------------------------------------------------------

fn host_by_name(host: &str) -> Result<usocket_address, i32> {
    let h = CString::new(host).unwrap();
    let mut a = usocket_address { family: 99, octets: [0xEE; 16], port: 1234 };
    match usocket_host_by_name(h.as_ptr(), &mut a) {
        0 => Ok(a),
        rc => {
            assert_eq!((a.family, a.port), (99, 1234), "*out written by a failed call");
            Err(rc)
        }
    }
}

#[test]
fn host_by_name_literals_and_hosts_file() {
    for (host, want, family) in [("127.0.0.1", "127.0.0.1", 4), ("::1", "::1", 6), ("[::1]", "::1", 6), ("localhost", "127.0.0.1", 4)] {
        let a = host_by_name(host).unwrap();
        assert_eq!((format(&a), a.family, a.port), (want.to_string(), family, 0), "{host}");
    }
    let mut a = no_address();
    let e = USOCKET_ERR_INVALID_ARGUMENT;
    expect_err(usocket_host_by_name(null(), &mut a), e);
    let h = lo();
    expect_err(usocket_host_by_name(h.as_ptr(), null_mut()), e);
    let bad = [0x31u8, 0xff, 0xfe, 0];
    expect_err(usocket_host_by_name(bad.as_ptr() as *const std::ffi::c_char, &mut a), e);
    expect_err(host_by_name("").unwrap_err(), e);
}

// --- usocket_connect_for -----------------------------------------------------------------

/// A listener whose accept queue is full (nothing accepts), so a further
/// connect to it can only time out; and the connections that filled it.
fn full_listener() -> (u64, u16, Vec<u64>) {
    let (l, port) = listen("127.0.0.1", 0);
    let mut fillers = vec![];
    let mut o = connect_opts();
    o.connect_timeout_ms = 100;
    for _ in 0..64 {
        match try_connect("127.0.0.1", port, &o) {
            Ok(h) => fillers.push(h),
            Err(rc) => {
                expect_err(rc, USOCKET_ERR_TIMEOUT);
                return (l, port, fillers);
            }
        }
    }
    panic!("64 connects to a backlog of 0 all succeeded: no full listener");
}

fn connect_for(host: &str, port: u16, o: &usocket_connect_options, timeout_ms: i64) -> Result<u64, i32> {
    let h = CString::new(host).unwrap();
    let mut s = 0xAAAA;
    match usocket_connect_for(h.as_ptr(), port, o, timeout_ms, &mut s) {
        0 => Ok(s),
        rc => {
            assert_eq!(s, 0xAAAA, "*out written by a failed connect_for");
            Err(rc)
        }
    }
}

#[test]
fn connect_for_is_bounded_by_its_own_timeout() {
    let (l, port, fillers) = full_listener();
    // The options say 5 s (and a 300 ms receive timeout); the call says 200 ms.
    let mut o = connect_opts();
    o.connect_timeout_ms = 5000;
    o.timeout_ms = 300;
    let (r, took) = timed(|| connect_for("127.0.0.1", port, &o, 200));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    between(took, 180, 1000);
    // The options bound nothing here: 100 ms in them, 400 ms in the call.
    o.connect_timeout_ms = 100;
    let (r, took) = timed(|| connect_for("127.0.0.1", port, &o, 400));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    between(took, 380, 1500);
    // 0: no wait at all.
    let (r, took) = timed(|| connect_for("127.0.0.1", port, &o, 0));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    assert!(took < Duration::from_millis(50), "timeout 0 waited {took:?}");
    // Signals keep the deadline.
    let (r, took, sent) = under_signal_storm(move || connect_for("127.0.0.1", port, &connect_opts(), 300));
    expect_err(r.unwrap_err(), USOCKET_ERR_TIMEOUT);
    assert!(sent > 50);
    within_10_percent(took, 300);
    for h in fillers {
        ok(usocket_close(h));
    }
    ok(usocket_close(l));
}

#[test]
fn connect_for_connects_and_keeps_the_receive_timeout_of_its_options() {
    let (l, port) = listen("127.0.0.1", 8);
    let mut o = connect_opts();
    o.timeout_ms = 300;
    for timeout in [-1i64, 5000] {
        let c = connect_for("127.0.0.1", port, &o, timeout).unwrap();
        let s = accept(l);
        receive_timeout_is(c, 300);
        write_all(c, b"ok");
        assert_eq!(read_exact(s, 2), b"ok");
        ok(usocket_close(c));
        ok(usocket_close(s));
    }
    // 0 on loopback: made at once, or TIMEOUT, never a wait.
    let (r, took) = timed(|| connect_for("127.0.0.1", port, &o, 0));
    assert!(took < Duration::from_millis(50), "timeout 0 waited {took:?}");
    match r {
        Ok(c) => {
            ok(usocket_close(c));
            ok(usocket_close(accept(l)));
        }
        Err(rc) => expect_err(rc, USOCKET_ERR_TIMEOUT),
    }
    // Refused (a bounded or unbounded call reports the refusal).
    ok(usocket_close(l));
    for timeout in [-1i64, 1000] {
        expect_err(connect_for("127.0.0.1", port, &connect_opts(), timeout).unwrap_err(), USOCKET_ERR_CONNECTION_REFUSED);
    }
    // Datagram sockets connect at once, whatever the timeout.
    let u = udp("127.0.0.1", 0);
    let mut o = connect_opts();
    o.protocol = USOCKET_DATAGRAM;
    for timeout in [0i64, -1, 100] {
        let d = connect_for("127.0.0.1", local_port(u), &o, timeout).unwrap();
        let mut n = 0;
        ok(usocket_send(d, b"hi".as_ptr(), 2, null(), 0, &mut n));
        ok(usocket_close(d));
    }
    ok(usocket_close(u));
    // Bad input.
    let mut h = 0;
    let e = USOCKET_ERR_INVALID_ARGUMENT;
    expect_err(usocket_connect_for(null(), port, null(), 100, &mut h), e);
    let lo = lo();
    expect_err(usocket_connect_for(lo.as_ptr(), port, null(), 100, null_mut()), e);
    let bad = [0x31u8, 0xff, 0];
    expect_err(usocket_connect_for(bad.as_ptr() as *const std::ffi::c_char, port, null(), 100, &mut h), e);
    let mut o = connect_opts();
    o.protocol = 5;
    expect_err(usocket_connect_for(lo.as_ptr(), port, &o, 100, &mut h), e);
}
