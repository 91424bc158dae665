//! Blocking calls: woken by a close from another thread within 100 ms, and
//! never returning early or failing because of signals (EINTR), as under
//! SBCL's garbage collector.

mod common;

use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::*;

/// Starts `call` on a thread, waits until that thread sleeps in a blocking
/// system call (its state in /proc/self/task/TID is 'S', inside recv, send,
/// accept, poll or epoll_wait: so the close really comes during the call, not
/// before it), closes `victim`, and checks the call returns INVALID_HANDLE
/// within 100 ms of the close.
fn close_under_call(victim: u64, call: impl FnOnce() -> i32 + Send + 'static) {
    let worker = start_blocked(call);
    let closed_at = Instant::now();
    ok(usocket_close(victim));
    assert!(eventually(Duration::from_secs(2), || worker.is_finished()), "the call was still blocked 2 s after the close");
    let (rc, returned_at) = worker.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    let took = returned_at.saturating_duration_since(closed_at);
    assert!(took < Duration::from_millis(100), "returned {took:?} after the close");
}

#[test]
fn close_wakes_read() {
    let (c, s) = pair("127.0.0.1");
    close_under_call(s, move || {
        let mut buf = [0u8; 16];
        let mut n = 0;
        usocket_read(s, buf.as_mut_ptr(), 16, &mut n)
    });
    ok(usocket_close(c));
}

#[test]
fn close_wakes_read_with_timeout() {
    let (c, s) = pair("::1");
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 10_000));
    close_under_call(s, move || {
        let mut buf = [0u8; 16];
        let mut n = 0;
        usocket_read(s, buf.as_mut_ptr(), 16, &mut n)
    });
    ok(usocket_close(c));
}

#[test]
fn close_wakes_write_to_a_full_buffer() {
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_BUFFER, 4096));
    close_under_call(c, move || {
        let chunk = vec![1u8; 1 << 20];
        let mut n = 0;
        // Nobody reads: this blocks once the buffers are full.
        let mut rc = 0;
        for _ in 0..1000 {
            rc = usocket_write(c, chunk.as_ptr(), chunk.len(), &mut n);
            if rc != 0 {
                break;
            }
        }
        rc
    });
    ok(usocket_close(s));
}

#[test]
fn close_wakes_accept() {
    let (l, _) = listen("127.0.0.1", 4);
    close_under_call(l, move || {
        let mut s = 0;
        usocket_accept(l, &mut s)
    });
}

#[test]
fn close_wakes_receive() {
    let u = udp("127.0.0.1", 0);
    close_under_call(u, move || {
        let mut buf = [0u8; 16];
        let mut n = 0;
        usocket_receive(u, buf.as_mut_ptr(), 16, &mut n, null_mut())
    });
}

#[test]
fn close_wakes_wait_for_input() {
    let (c, s) = pair("127.0.0.1");
    let (c2, s2) = pair("127.0.0.1");
    close_under_call(s, move || {
        let socks = [s2, s];
        let mut states = [0u8; 2];
        let mut n = 0;
        usocket_wait_for_input(socks.as_ptr(), 2, -1, states.as_mut_ptr(), &mut n, null_mut())
    });
    for h in [c, c2, s2] {
        ok(usocket_close(h));
    }
}

#[test]
fn freeing_a_wait_list_wakes_its_wait() {
    let (c, s) = pair("127.0.0.1");
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    close_under_call(w, move || {
        let mut ready = [0u64; 4];
        let mut n = 0;
        usocket_wait_list_wait(w, -1, ready.as_mut_ptr(), 4, &mut n, null_mut())
    });
    // The sockets are still fine.
    write_all(c, b"ok");
    assert_eq!(read_exact(s, 2), b"ok");
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn closing_a_listed_socket_does_not_end_the_wait() {
    // The closed socket leaves the list; the wait goes on for the others.
    let (c1, s1) = pair("127.0.0.1");
    let (c2, s2) = pair("127.0.0.1");
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s1));
    ok(usocket_wait_list_add(w, s2));
    let (waiter, tid) = start_blocked_tid(move || {
        let mut ready = [0u64; 4];
        let mut n = 0;
        let rc = usocket_wait_list_wait(w, 5000, ready.as_mut_ptr(), 4, &mut n, null_mut());
        (rc, ready[..n].to_vec())
    });
    ok(usocket_close(s1));
    // Still waiting (in epoll_wait, not returned): then the other socket gets data.
    wait_blocked(tid);
    assert!(!waiter.is_finished(), "the wait ended when a listed socket was closed");
    write_all(c2, b"!");
    let ((rc, ready), _) = waiter.join().unwrap();
    ok(rc);
    assert_eq!(ready, vec![s2]);
    for h in [c1, c2, s2, w] {
        ok(usocket_close(h));
    }
}

// --- Signals -----------------------------------------------------------------

// The signal storm (SIGUSR2 every millisecond) is common::under_signal_storm.

#[test]
fn read_timeout_is_honoured_under_signals() {
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 400));
    let (rc, took, sent) = under_signal_storm(move || read_some(s, 10).unwrap_err());
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    assert!(sent > 50, "only {sent} signals were sent");
    within_10_percent(took, 400);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn read_without_timeout_survives_signals() {
    let (c, s) = pair("127.0.0.1");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        write_all(c, b"data");
        c
    });
    let (got, _, sent) = under_signal_storm(move || read_some(s, 10));
    assert_eq!(got.unwrap(), b"data");
    assert!(sent > 50);
    ok(usocket_close(writer.join().unwrap()));
    ok(usocket_close(s));
}

#[test]
fn accept_receive_and_waits_under_signals() {
    let (l, _) = listen("127.0.0.1", 4);
    ok(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 300));
    let (rc, took, _) = under_signal_storm(move || {
        let mut s = 0;
        usocket_accept(l, &mut s)
    });
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);

    let u = udp("127.0.0.1", 0);
    ok(usocket_set_option(u, USOCKET_OPT_RECEIVE_TIMEOUT, 300));
    let (rc, took, _) = under_signal_storm(move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        usocket_receive(u, buf.as_mut_ptr(), 8, &mut n, null_mut())
    });
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    within_10_percent(took, 300);

    let ((rc, n, left), took, _) = under_signal_storm(move || {
        let mut states = [0u8; 2];
        let socks = [l, u];
        let mut n = 9;
        let mut left = 9;
        let rc = usocket_wait_for_input(socks.as_ptr(), 2, 300, states.as_mut_ptr(), &mut n, &mut left);
        (rc, n, left)
    });
    ok(rc);
    assert_eq!((n, left), (0, 0));
    within_10_percent(took, 300);

    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, u));
    let ((rc, n), took, _) = under_signal_storm(move || {
        let mut ready = [0u64; 2];
        let mut n = 9;
        let rc = usocket_wait_list_wait(w, 300, ready.as_mut_ptr(), 2, &mut n, null_mut());
        (rc, n)
    });
    ok(rc);
    assert_eq!(n, 0);
    within_10_percent(took, 300);
    for h in [l, u, w] {
        ok(usocket_close(h));
    }
}

#[test]
fn write_to_a_slow_reader_survives_signals() {
    let (c, s) = pair("127.0.0.1");
    let total = 8 << 20;
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let got = read_exact(s, total);
        (s, got.len())
    });
    let (rc, _, _) = under_signal_storm(move || {
        let data = vec![3u8; total];
        let mut n = 0;
        let rc = usocket_write(c, data.as_ptr(), data.len(), &mut n);
        assert_eq!(n, total);
        rc
    });
    ok(rc);
    let (s, n) = reader.join().unwrap();
    assert_eq!(n, total);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn connect_timeout_when_the_backlog_is_full() {
    // With the accept queue full and nothing accepting, Linux drops further
    // SYNs, so a connect hangs until its bound.
    let (l, port) = listen("127.0.0.1", 0);
    let mut fillers = vec![];
    let mut o = connect_opts();
    o.connect_timeout_ms = 200;
    let mut timed_out = None;
    for _ in 0..64 {
        let t0 = Instant::now();
        match try_connect("127.0.0.1", port, &o) {
            Ok(h) => fillers.push(h),
            Err(rc) => {
                timed_out = Some((rc, t0.elapsed()));
                break;
            }
        }
    }
    match timed_out {
        Some((rc, took)) => {
            expect_err(rc, USOCKET_ERR_TIMEOUT);
            assert!(took >= Duration::from_millis(180) && took < Duration::from_millis(1000), "{took:?}");
        }
        None => panic!("64 connects to a full backlog all succeeded: no connect timeout could be provoked"),
    }
    for h in fillers {
        ok(usocket_close(h));
    }
    ok(usocket_close(l));
    let _ = null::<u8>();
}

#[test]
fn close_wakes_write_some() {
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 4096));
    close_under_call(c, move || {
        let chunk = vec![1u8; 1 << 20];
        let mut n = 0;
        let mut rc = 0;
        for _ in 0..10_000 {
            rc = usocket_write_some(c, chunk.as_ptr(), chunk.len(), 5000, &mut n);
            if rc != 0 {
                break;
            }
        }
        rc
    });
    ok(usocket_close(s));
}
