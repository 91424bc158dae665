//! Promises of the README and C-API.md that no other test checks:
//! - no lock is held across a blocking call (every other call on the same
//!   handle, on other handles and on the registry returns at once while one
//!   thread is blocked);
//! - each errno of usocket's map reaches its code (provoked over loopback
//!   where it can be, the rest of the table through `code_for_errno`);
//! - the last error's message pointer stays valid after later successes;
//! - out-pointers are untouched by a call that a close woke.

mod common;

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use usocket::error::*;

// --- No lock across a blocking call --------------------------------------------

/// Runs `f` on a thread of its own and fails unless it returns within 2 s (a
/// call waiting for a lock that a blocked call holds would never return).
#[track_caller]
fn returns_at_once(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(2)).is_ok(),
        "{what} did not return while another thread was blocked: a lock is held across the blocking call"
    );
}

/// The calls another thread makes while `blocked` (a socket handle) is
/// blocked on in a call: on it, on other handles, on the registry.
/// `spare` was made by the thread that made `blocked` (so it sits in the
/// same part of the registry, which is sharded by the creating thread);
/// closing it takes that part's write lock.
fn others_return_at_once(blocked: u64, stream: bool, spare: u64) {
    let h = blocked;
    returns_at_once("closing a handle made by the thread that made the blocked one", move || {
        ok(usocket_close(spare));
    });
    returns_at_once("usocket_get_option", move || {
        let mut v = 0;
        ok(usocket_get_option(h, USOCKET_OPT_RECEIVE_TIMEOUT, &mut v));
        ok(usocket_get_option(h, USOCKET_OPT_RECEIVE_BUFFER, &mut v));
    });
    returns_at_once("usocket_set_option", move || {
        ok(usocket_set_option(h, USOCKET_OPT_KEEPALIVE, 1));
        ok(usocket_set_option(h, USOCKET_OPT_SEND_TIMEOUT, 5000));
        ok(usocket_set_option(h, USOCKET_OPT_SEND_TIMEOUT, 0));
    });
    returns_at_once("usocket_local_name / usocket_kind / usocket_fd", move || {
        local_name(h);
        let (mut k, mut fd) = (0, 0);
        ok(usocket_kind(h, &mut k));
        ok(usocket_fd(h, &mut fd));
    });
    if stream {
        returns_at_once("usocket_peer_name", move || {
            let mut a = no_address();
            ok(usocket_peer_name(h, &mut a));
        });
    }
    returns_at_once("usocket_input_available", move || {
        let mut b = true;
        ok(usocket_input_available(h, &mut b));
    });
    returns_at_once("usocket_wait_for_input (0 ms)", move || {
        let mut st = [9u8; 1];
        let mut n = 9;
        ok(usocket_wait_for_input(&h, 1, 0, st.as_mut_ptr(), &mut n, null_mut()));
    });
    returns_at_once("a wait list: new, add, wait, remove, free", move || {
        let mut w = 0;
        ok(usocket_wait_list_new(&mut w));
        ok(usocket_wait_list_add(w, h));
        let mut ready = [0u64; 2];
        let mut n = 0;
        ok(usocket_wait_list_wait(w, 0, ready.as_mut_ptr(), 2, &mut n, null_mut()));
        ok(usocket_wait_list_remove(w, h));
        ok(usocket_wait_list_free(w));
    });
    returns_at_once("usocket_open_handles", || {
        assert!(usocket_open_handles() > 0);
    });
    returns_at_once("opening and closing other sockets", || {
        for _ in 0..3 {
            let (c, s) = pair("127.0.0.1");
            write_all(c, b"x");
            assert_eq!(read_exact(s, 1), b"x");
            ok(usocket_close(c));
            ok(usocket_close(s));
            let u = udp("127.0.0.1", 0);
            ok(usocket_close(u));
        }
    });
    returns_at_once("closing a wait list and a stale handle", || {
        let mut w = 0;
        ok(usocket_wait_list_new(&mut w));
        ok(usocket_close(w));
        expect_err(usocket_close(w), USOCKET_ERR_INVALID_HANDLE);
    });
}

#[test]
fn no_lock_is_held_across_a_blocked_read() {
    let (c, s) = pair("127.0.0.1");
    let spare = udp("127.0.0.1", 0);
    let reader = start_blocked(move || read_some(s, 16));
    others_return_at_once(s, true, spare);
    // Writing on the very handle the read is blocked on.
    returns_at_once("usocket_write on the handle a read is blocked on", move || write_all(s, b"to the peer"));
    assert_eq!(read_exact(c, 11), b"to the peer");
    assert!(!reader.is_finished(), "the read returned before anything was sent to it");
    write_all(c, b"wake");
    let (got, _) = reader.join().unwrap();
    assert_eq!(got.unwrap(), b"wake");
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn no_lock_is_held_across_a_blocked_accept_receive_or_wait() {
    // accept
    let (l, port) = listen("127.0.0.1", 4);
    let spares: Vec<u64> = (0..4).map(|_| udp("127.0.0.1", 0)).collect();
    let acceptor = start_blocked(move || {
        let mut s = 0;
        (usocket_accept(l, &mut s), s)
    });
    others_return_at_once(l, false, spares[0]);
    let c = connect("127.0.0.1", port);
    let ((rc, s), _) = acceptor.join().unwrap();
    ok(rc);
    // receive
    let u = udp("127.0.0.1", 0);
    let uport = local_port(u);
    let receiver = start_blocked(move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        (usocket_receive(u, buf.as_mut_ptr(), 8, &mut n, null_mut()), n)
    });
    others_return_at_once(u, false, spares[1]);
    let v = udp("127.0.0.1", 0);
    let host = CString::new("127.0.0.1").unwrap();
    let mut n = 0;
    ok(usocket_send(v, b"dgram".as_ptr(), 5, host.as_ptr(), uport, &mut n));
    let ((rc, n), _) = receiver.join().unwrap();
    ok(rc);
    assert_eq!(n, 5);
    // a wait list's wait: its own list is changed meanwhile too
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    let waiter = start_blocked(move || {
        let mut ready = [0u64; 4];
        let mut n = 0;
        let rc = usocket_wait_list_wait(w, -1, ready.as_mut_ptr(), 4, &mut n, null_mut());
        (rc, ready[..n].to_vec())
    });
    others_return_at_once(s, true, spares[2]);
    let x = udp("127.0.0.1", 0);
    returns_at_once("adding to and removing from the list being waited on", move || {
        ok(usocket_wait_list_add(w, x));
        ok(usocket_wait_list_remove(w, x));
        ok(usocket_wait_list_add(w, x));
    });
    write_all(c, b"!");
    let ((rc, ready), _) = waiter.join().unwrap();
    ok(rc);
    assert_eq!(ready, vec![s]);
    // a plain wait
    let (c2, s2) = pair("127.0.0.1");
    let waiter = start_blocked(move || {
        let socks = [s2];
        let mut st = [0u8; 1];
        let mut n = 0;
        (usocket_wait_for_input(socks.as_ptr(), 1, -1, st.as_mut_ptr(), &mut n, null_mut()), n)
    });
    others_return_at_once(s2, true, spares[3]);
    write_all(c2, b"!");
    let ((rc, n), _) = waiter.join().unwrap();
    ok(rc);
    assert_eq!(n, 1);
    for h in [l, c, s, u, v, w, x, c2, s2] {
        ok(usocket_close(h));
    }
}

#[test]
fn no_lock_is_held_across_a_blocked_write() {
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
    let total = 128 << 10;
    let writer = start_blocked_tid(move || {
        let data = vec![5u8; total];
        let mut n = 0;
        usocket_write(c, data.as_ptr(), data.len(), &mut n)
    });
    // Blocked in the send (the buffers are full), not somewhere else.
    wait_blocked_in(writer.1, &[libc::SYS_sendto, libc::SYS_sendmsg, libc::SYS_poll, libc::SYS_ppoll]);
    let spare = udp("127.0.0.1", 0);
    others_return_at_once(c, true, spare);
    assert_eq!(read_exact(s, total).len(), total);
    let (rc, _) = writer.0.join().unwrap();
    ok(rc);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

// --- Error mapping ---------------------------------------------------------------

/// The code, the errno and the code's name of a failed call.
#[track_caller]
fn fails_with(rc: i32, code: i32, errnos: &[i32]) {
    expect_err(rc, code);
    let os = usocket_last_os_error();
    assert!(errnos.contains(&os), "{}: errno {os}, wanted one of {errnos:?}: {}", name(code), last_message());
}

#[test]
fn each_errno_usocket_maps_reaches_its_code_over_loopback() {
    let lo = CString::new("127.0.0.1").unwrap();
    let mut h = 0;
    let mut n = 0;
    // ECONNREFUSED
    let (l, port) = listen("127.0.0.1", 1);
    ok(usocket_close(l));
    fails_with(usocket_connect(lo.as_ptr(), port, null(), &mut h), USOCKET_ERR_CONNECTION_REFUSED, &[libc::ECONNREFUSED]);
    // EADDRINUSE: listening twice; binding a client to a port in use.
    let (l, port) = listen("127.0.0.1", 1);
    fails_with(usocket_listen(lo.as_ptr(), port, null(), &mut h), USOCKET_ERR_ADDRESS_IN_USE, &[libc::EADDRINUSE]);
    let (l2, port2) = listen("127.0.0.1", 1);
    let mut o = connect_opts();
    o.local_host = lo.as_ptr();
    o.local_port = port;
    fails_with(usocket_connect(lo.as_ptr(), port2, &o, &mut h), USOCKET_ERR_ADDRESS_IN_USE, &[libc::EADDRINUSE]);
    // EADDRNOTAVAIL: binding an address no interface has (nothing is sent).
    let foreign = CString::new("192.0.2.1").unwrap();
    fails_with(usocket_listen(foreign.as_ptr(), 0, null(), &mut h), USOCKET_ERR_ADDRESS_NOT_AVAILABLE, &[libc::EADDRNOTAVAIL]);
    let mut o = connect_opts();
    o.local_host = foreign.as_ptr();
    fails_with(usocket_connect(lo.as_ptr(), port, &o, &mut h), USOCKET_ERR_ADDRESS_NOT_AVAILABLE, &[libc::EADDRNOTAVAIL]);
    // ECONNRESET
    let (c, s) = pair("127.0.0.1");
    write_all(c, b"unread");
    let mut fd = 0;
    ok(usocket_fd(s, &mut fd));
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    assert_eq!(
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger as *const _ as *const libc::c_void, 8) },
        0
    );
    ok(usocket_close(s));
    let mut buf = [0u8; 8];
    fails_with(usocket_read(c, buf.as_mut_ptr(), 8, &mut n), USOCKET_ERR_CONNECTION_RESET, &[libc::ECONNRESET]);
    ok(usocket_close(c));
    // EPIPE: writing after our own shutdown of output.
    let (c, s) = pair("127.0.0.1");
    ok(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
    fails_with(usocket_write(c, b"x".as_ptr(), 1, &mut n), USOCKET_ERR_SHUTDOWN, &[libc::EPIPE]);
    // A timed-out read: EAGAIN from SO_RCVTIMEO.
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 20));
    assert_eq!(read_some(s, 8).unwrap(), b"", "the shutdown's end of file");
    ok(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 20));
    fails_with(usocket_read(c, buf.as_mut_ptr(), 8, &mut n), USOCKET_ERR_TIMEOUT, &[libc::EAGAIN, libc::ETIMEDOUT]);
    ok(usocket_close(c));
    ok(usocket_close(s));
    // EINVAL: a datagram to port 0.
    let u = udp("127.0.0.1", 0);
    fails_with(usocket_send(u, b"x".as_ptr(), 1, lo.as_ptr(), 0, &mut n), USOCKET_ERR_INVALID_ARGUMENT, &[libc::EINVAL]);
    // EACCES: a datagram to loopback's broadcast address without SO_BROADCAST;
    // with it, the send works.
    let bcast = CString::new("127.255.255.255").unwrap();
    fails_with(
        usocket_send(u, b"x".as_ptr(), 1, bcast.as_ptr(), port2, &mut n),
        USOCKET_ERR_OPERATION_NOT_PERMITTED,
        &[libc::EACCES],
    );
    ok(usocket_set_option(u, USOCKET_OPT_BROADCAST, 1));
    ok(usocket_send(u, b"x".as_ptr(), 1, bcast.as_ptr(), port2, &mut n));
    // Anything else: UNKNOWN with the errno (ENOTCONN: shutting down an
    // unconnected datagram socket).
    fails_with(usocket_shutdown(u, USOCKET_SHUT_BOTH), USOCKET_ERR_UNKNOWN, &[libc::ENOTCONN]);
    assert_eq!(name(USOCKET_ERR_UNKNOWN), "unknown-error");
    for x in [l, l2, u] {
        ok(usocket_close(x));
    }
}

#[test]
fn the_whole_errno_table() {
    // usocket's +unix-errno-error-map+ as C-API.md and src/error.rs state it,
    // plus EPIPE/ESHUTDOWN to shutdown and ETIMEDOUT/EAGAIN to timeout.
    let table: &[(i32, i32)] = &[
        (libc::EADDRINUSE, USOCKET_ERR_ADDRESS_IN_USE),
        (libc::EADDRNOTAVAIL, USOCKET_ERR_ADDRESS_NOT_AVAILABLE),
        (libc::EBADF, USOCKET_ERR_BAD_FILE_DESCRIPTOR),
        (libc::ECONNREFUSED, USOCKET_ERR_CONNECTION_REFUSED),
        (libc::ECONNRESET, USOCKET_ERR_CONNECTION_RESET),
        (libc::ECONNABORTED, USOCKET_ERR_CONNECTION_ABORTED),
        (libc::EINVAL, USOCKET_ERR_INVALID_ARGUMENT),
        (libc::ENOBUFS, USOCKET_ERR_NO_BUFFERS),
        (libc::ENOMEM, USOCKET_ERR_NO_BUFFERS),
        (libc::EOPNOTSUPP, USOCKET_ERR_OPERATION_NOT_SUPPORTED),
        (libc::EPERM, USOCKET_ERR_OPERATION_NOT_PERMITTED),
        (libc::EACCES, USOCKET_ERR_OPERATION_NOT_PERMITTED),
        (libc::EPROTONOSUPPORT, USOCKET_ERR_PROTOCOL_NOT_SUPPORTED),
        (libc::ESOCKTNOSUPPORT, USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED),
        (libc::ENETUNREACH, USOCKET_ERR_NETWORK_UNREACHABLE),
        (libc::ENETDOWN, USOCKET_ERR_NETWORK_DOWN),
        (libc::ENETRESET, USOCKET_ERR_NETWORK_RESET),
        (libc::EHOSTDOWN, USOCKET_ERR_HOST_DOWN),
        (libc::EHOSTUNREACH, USOCKET_ERR_HOST_UNREACHABLE),
        (libc::ESHUTDOWN, USOCKET_ERR_SHUTDOWN),
        (libc::EPIPE, USOCKET_ERR_SHUTDOWN),
        (libc::ETIMEDOUT, USOCKET_ERR_TIMEOUT),
        (libc::EAGAIN, USOCKET_ERR_TIMEOUT),
        (libc::EWOULDBLOCK, USOCKET_ERR_TIMEOUT),
        (libc::ENOTSOCK, USOCKET_ERR_INVALID_SOCKET),
    ];
    for &(errno, code) in table {
        assert_eq!(code_for_errno(errno), code, "errno {errno} ({})", std::io::Error::from_raw_os_error(errno));
        let e = Error::from_errno(errno, "test");
        assert_eq!((e.code, e.os_error), (code, errno));
    }
    // Every other errno (Linux has fewer than 140): UNKNOWN.
    for errno in 0..140 {
        if !table.iter().any(|&(e, _)| e == errno) {
            assert_eq!(code_for_errno(errno), USOCKET_ERR_UNKNOWN, "errno {errno} ({})", std::io::Error::from_raw_os_error(errno));
        }
    }
}

// --- The last error's message ------------------------------------------------------

fn message_at(p: *const std::ffi::c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn the_message_pointer_stays_valid_after_later_successes() {
    expect_err(usocket_close(0), USOCKET_ERR_INVALID_HANDLE);
    let p = usocket_last_error_message();
    let text = message_at(p);
    assert!(text.contains("handle"), "{text}");
    // Successes of every family, and failures on other threads.
    let (c, s) = pair("::1");
    write_all(c, b"abc");
    assert_eq!(read_exact(s, 3), b"abc");
    let mut v = 0;
    ok(usocket_get_option(c, USOCKET_OPT_TCP_NODELAY, &mut v));
    ok(usocket_set_option(c, USOCKET_OPT_KEEPALIVE, 1));
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    ok(usocket_close(w));
    let mut addrs = [no_address(); 2];
    let mut n = 0;
    let host = CString::new("127.0.0.1").unwrap();
    ok(usocket_resolve(host.as_ptr(), addrs.as_mut_ptr(), 2, &mut n));
    format(&addrs[0]);
    let _ = usocket_version();
    let _ = usocket_error_name(USOCKET_ERR_TIMEOUT);
    assert_eq!(usocket_last_error(), USOCKET_ERR_INVALID_HANDLE);
    assert_eq!(usocket_last_os_error(), 0);
    std::thread::spawn(|| {
        for _ in 0..100 {
            expect_err(usocket_wait_list_new(null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
        }
    })
    .join()
    .unwrap();
    // Allocations that would reuse freed memory.
    let junk: Vec<String> = (0..1000).map(|i| format!("{i:064}")).collect();
    assert_eq!(message_at(p), text, "the message changed under its pointer after successes");
    assert_eq!(usocket_last_error_message(), p, "a success replaced the message");
    drop(junk);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

// --- Out-pointers of a call woken by a close ---------------------------------------

const SENTINEL: usize = 0x5EE5_5EE5;

fn sentinel_address() -> usocket_address {
    usocket_address { family: 77, octets: [0xAB; 16], port: 4242 }
}

fn is_sentinel(a: &usocket_address) -> bool {
    a.family == 77 && a.octets == [0xAB; 16] && a.port == 4242
}

#[test]
fn out_pointers_are_untouched_by_a_call_a_close_woke() {
    // read
    let (c, s) = pair("127.0.0.1");
    let t = start_blocked(move || {
        let mut buf = [0u8; 8];
        let mut n = SENTINEL;
        (usocket_read(s, buf.as_mut_ptr(), 8, &mut n), n)
    });
    ok(usocket_close(s));
    let ((rc, n), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert_eq!(n, SENTINEL, "read's *nread was written by a failed call");
    ok(usocket_close(c));
    // accept_from
    let (l, _) = listen("127.0.0.1", 4);
    let t = start_blocked(move || {
        let mut out = SENTINEL as u64;
        let mut peer = sentinel_address();
        let rc = usocket_accept_from(l, &mut out, &mut peer);
        (rc, out, is_sentinel(&peer))
    });
    ok(usocket_close(l));
    let ((rc, out, peer_ok), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert!(out == SENTINEL as u64 && peer_ok, "accept_from wrote its out-pointers on failure");
    // receive
    let u = udp("127.0.0.1", 0);
    let t = start_blocked(move || {
        let mut buf = [0u8; 8];
        let mut n = SENTINEL;
        let mut from = sentinel_address();
        let rc = usocket_receive(u, buf.as_mut_ptr(), 8, &mut n, &mut from);
        (rc, n, is_sentinel(&from))
    });
    ok(usocket_close(u));
    let ((rc, n, from_ok), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert!(n == SENTINEL && from_ok, "receive wrote its out-pointers on failure");
    // wait_for_input
    let (c, s) = pair("127.0.0.1");
    let t = start_blocked(move || {
        let socks = [s];
        let mut n = SENTINEL;
        let mut left = SENTINEL as i64;
        let rc = usocket_wait_for_input(socks.as_ptr(), 1, 60_000, [0u8; 1].as_mut_ptr(), &mut n, &mut left);
        (rc, n, left)
    });
    ok(usocket_close(s));
    let ((rc, n, left), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert!(n == SENTINEL && left == SENTINEL as i64, "wait_for_input wrote nready/remaining on failure");
    ok(usocket_close(c));
    // wait_list_wait
    let (c, s) = pair("127.0.0.1");
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    let t = start_blocked(move || {
        let mut ready = [SENTINEL as u64; 2];
        let mut n = SENTINEL;
        let mut left = SENTINEL as i64;
        let rc = usocket_wait_list_wait(w, -1, ready.as_mut_ptr(), 2, &mut n, &mut left);
        (rc, n, left, ready)
    });
    ok(usocket_close(w));
    let ((rc, n, left, ready), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert!(n == SENTINEL && left == SENTINEL as i64, "wait_list_wait wrote nready/remaining on failure");
    assert_eq!(ready, [SENTINEL as u64; 2], "wait_list_wait wrote ready handles on failure");
    ok(usocket_close(c));
    ok(usocket_close(s));
    // write_some into a full buffer
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    let t = start_blocked(move || {
        let chunk = vec![1u8; 1 << 16];
        for _ in 0..10_000 {
            let mut n = SENTINEL;
            let rc = usocket_write_some(c, chunk.as_ptr(), chunk.len(), 60_000, &mut n);
            if rc != 0 {
                return (rc, n);
            }
        }
        (0, 0)
    });
    ok(usocket_close(c));
    let ((rc, n), _) = t.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    assert_eq!(n, SENTINEL, "write_some wrote *nwritten on failure");
    ok(usocket_close(s));
}
