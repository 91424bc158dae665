//! The C ABI over real loopback sockets: every function, every error path.

mod common;

use std::ffi::CString;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn tcp_echo_ipv4_and_ipv6_with_names() {
    for host in ["127.0.0.1", "::1", "[::1]"] {
        let (c, s) = pair(host);
        write_all(c, b"hello");
        assert_eq!(read_exact(s, 5), b"hello");
        write_all(s, b"world!");
        assert_eq!(read_exact(c, 6), b"world!");
        let (cl, sp) = (local_name(c), {
            let mut a = usocket_address { family: 0, octets: [0; 16], port: 0 };
            ok(usocket_peer_name(s, &mut a));
            a
        });
        assert_eq!(cl, sp, "client's local name is the server side's peer name");
        let want = if host.contains(':') { "::1" } else { "127.0.0.1" };
        assert_eq!(format(&cl), want);
        let mut kind = -1;
        ok(usocket_kind(c, &mut kind));
        assert_eq!(kind, USOCKET_KIND_STREAM);
        let mut fd = -1;
        ok(usocket_fd(c, &mut fd));
        assert!(fd > 2);
        ok(usocket_close(c));
        ok(usocket_close(s));
    }
}

#[test]
fn listen_on_ipv6_wildcard_takes_both_families() {
    let (l, port) = listen("::", 8);
    let mut kind = -1;
    ok(usocket_kind(l, &mut kind));
    assert_eq!(kind, USOCKET_KIND_STREAM_SERVER);
    for host in ["::1", "127.0.0.1"] {
        let c = connect(host, port);
        let s = accept(l);
        write_all(c, b"x");
        assert_eq!(read_exact(s, 1), b"x");
        ok(usocket_close(c));
        ok(usocket_close(s));
    }
    ok(usocket_close(l));
}

#[test]
fn wildcard_local_hosts_listen_everywhere() {
    for host in [None, Some(""), Some("0.0.0.0")] {
        let c_host = host.map(|h| CString::new(h).unwrap());
        let mut l = 0;
        ok(usocket_listen(c_host.as_ref().map_or(null(), |h| h.as_ptr()), 0, null(), &mut l));
        let a = local_name(l);
        assert_eq!(format(&a), "0.0.0.0");
        let c = connect("127.0.0.1", a.port);
        let s = accept(l);
        for h in [c, s, l] {
            ok(usocket_close(h));
        }
    }
}

#[test]
fn connection_refused() {
    let (l, port) = listen("127.0.0.1", 1);
    ok(usocket_close(l));
    let rc = try_connect("127.0.0.1", port, &connect_opts()).unwrap_err();
    expect_err(rc, USOCKET_ERR_CONNECTION_REFUSED);
    assert_eq!(usocket_last_error(), USOCKET_ERR_CONNECTION_REFUSED);
    assert_eq!(usocket_last_os_error(), libc::ECONNREFUSED);
    assert!(last_message().contains("refused"), "{}", last_message());
    assert_eq!(name(rc), "connection-refused-error");
}

#[test]
fn read_timeout_from_connect_options() {
    let (l, port) = listen("127.0.0.1", 4);
    let mut o = connect_opts();
    o.timeout_ms = 150;
    let c = try_connect("127.0.0.1", port, &o).unwrap();
    let s = accept(l);
    let mut v = 0;
    ok(usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &mut v));
    assert_eq!(v, 150);
    let t0 = Instant::now();
    expect_err(read_some(c, 10).unwrap_err(), USOCKET_ERR_TIMEOUT);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(140) && took < Duration::from_millis(1000), "{took:?}");
    // The socket still works after a timeout.
    write_all(s, b"late");
    assert_eq!(read_exact(c, 4), b"late");
    for h in [c, s, l] {
        ok(usocket_close(h));
    }
}

#[test]
fn accept_honours_receive_timeout() {
    let (l, _) = listen("127.0.0.1", 4);
    ok(usocket_set_option(l, USOCKET_OPT_RECEIVE_TIMEOUT, 100));
    let t0 = Instant::now();
    let mut s = 0;
    expect_err(usocket_accept(l, &mut s), USOCKET_ERR_TIMEOUT);
    assert!(t0.elapsed() >= Duration::from_millis(90));
    ok(usocket_close(l));
}

#[test]
fn end_of_file_after_peer_closes() {
    let (c, s) = pair("127.0.0.1");
    write_all(s, b"bye");
    ok(usocket_close(s));
    assert_eq!(read_exact(c, 3), b"bye");
    assert_eq!(read_some(c, 10).unwrap(), b"", "end of file is a read of 0 bytes");
    assert_eq!(read_some(c, 10).unwrap(), b"", "and stays so");
    ok(usocket_close(c));
}

fn reset_by_linger_zero(s: usocket_t) {
    let mut fd = 0;
    ok(usocket_fd(s, &mut fd));
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let rc = unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger as *const _ as *const libc::c_void, std::mem::size_of::<libc::linger>() as u32)
    };
    assert_eq!(rc, 0);
    ok(usocket_close(s));
}

#[test]
fn connection_reset_by_peer() {
    let (c, s) = pair("127.0.0.1");
    write_all(c, b"unread");
    reset_by_linger_zero(s);
    let rc = read_some(c, 10).unwrap_err();
    expect_err(rc, USOCKET_ERR_CONNECTION_RESET);
    assert_eq!(name(rc), "connection-reset-error");
    ok(usocket_close(c));
}

#[test]
fn write_to_a_gone_peer_fails_without_sigpipe() {
    // In a child process of its own, with SIGPIPE at its default action
    // (which kills the process): the Rust runtime ignores SIGPIPE, and
    // resetting it here would touch every other test of this binary.
    const CHILD: &str = "USOCKET_SIGPIPE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let (status, text) = rerun_self("write_to_a_gone_peer_fails_without_sigpipe", &[(CHILD, "1")]);
        assert_child_passed(status, &text);
        assert!(text.contains("EPIPE reached"), "the child never got EPIPE:\n{text}");
        return;
    }
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, null(), &mut old);
        assert_eq!(old.sa_sigaction, libc::SIG_DFL, "SIGPIPE is not at its default action");
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, null(), &mut set);
        assert_eq!(libc::sigismember(&set, libc::SIGPIPE), 0, "SIGPIPE is blocked");
    }
    // The peer closes cleanly with nothing unread (a FIN, not a reset): our
    // first write after that succeeds, the peer answers it with a reset, and
    // from then on every send fails with EPIPE, the errno that comes with
    // SIGPIPE unless the send says MSG_NOSIGNAL. (The first failure may be
    // the reset itself, ECONNRESET, which comes without SIGPIPE: keep writing.)
    let (c, s) = pair("127.0.0.1");
    ok(usocket_close(s));
    assert_eq!(read_some(c, 8).unwrap(), b"", "end of file first");
    write_all(c, b"into the void");
    let mut fd = 0;
    ok(usocket_fd(c, &mut fd));
    let mut pfd = libc::pollfd { fd, events: 0, revents: 0 };
    let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
    assert!(n == 1 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0, "no reset came back: {n} {:#x}", pfd.revents);
    let mut epipes = 0;
    for _ in 0..5 {
        let mut n = 0;
        let rc = usocket_write(c, b"more".as_ptr(), 4, &mut n);
        match rc {
            USOCKET_ERR_SHUTDOWN => {
                assert_eq!(usocket_last_os_error(), libc::EPIPE);
                epipes += 1;
            }
            USOCKET_ERR_CONNECTION_RESET => assert_eq!(epipes, 0, "a reset after EPIPE"),
            _ => panic!("a write to a gone peer gave {} ({}): {}", rc, name(rc), last_message()),
        }
        let mut n = 0;
        let rc = usocket_write_some(c, b"more".as_ptr(), 4, 0, &mut n);
        assert!(rc == USOCKET_ERR_SHUTDOWN || rc == USOCKET_ERR_CONNECTION_RESET, "write_some: {}", name(rc));
        let rc = usocket_write_some(c, b"more".as_ptr(), 4, -1, &mut n);
        assert!(rc == USOCKET_ERR_SHUTDOWN || rc == USOCKET_ERR_CONNECTION_RESET, "write_some: {}", name(rc));
    }
    assert!(epipes >= 4, "only {epipes} of 5 writes got EPIPE");
    // Still alive, and the signal was never raised (nor left pending).
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        assert_eq!(libc::sigismember(&pending, libc::SIGPIPE), 0);
    }
    println!("EPIPE reached {epipes} times, no SIGPIPE");
    ok(usocket_close(c));
}

#[test]
fn address_in_use() {
    let (l, port) = listen("127.0.0.1", 4);
    let h = CString::new("127.0.0.1").unwrap();
    let mut l2 = 0;
    expect_err(usocket_listen(h.as_ptr(), port, null(), &mut l2), USOCKET_ERR_ADDRESS_IN_USE);
    assert_eq!(name(USOCKET_ERR_ADDRESS_IN_USE), "address-in-use-error");
    ok(usocket_close(l));
}

#[test]
fn bad_handles_and_double_close() {
    let mut buf = [0u8; 4];
    let mut n = 0;
    for h in [0u64, 1, 0xdead_beef_0000_0001, u64::MAX] {
        expect_err(usocket_read(h, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_INVALID_HANDLE);
        expect_err(usocket_close(h), USOCKET_ERR_INVALID_HANDLE);
    }
    let (c, s) = pair("127.0.0.1");
    ok(usocket_close(c));
    expect_err(usocket_close(c), USOCKET_ERR_INVALID_HANDLE);
    expect_err(usocket_read(c, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_INVALID_HANDLE);
    // A new socket never gets the old number.
    let (c2, s2) = pair("127.0.0.1");
    assert_ne!(c2, c);
    assert_ne!(s2, c);
    for h in [s, c2, s2] {
        ok(usocket_close(h));
    }
}

#[test]
fn handles_are_never_reused() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let mut l = 0;
        ok(usocket_wait_list_new(&mut l));
        assert!(seen.insert(l), "handle {l:#x} came back");
        assert_ne!(l, 0);
        ok(usocket_close(l));
    }
}

#[test]
fn wrong_kind() {
    let (l, port) = listen("127.0.0.1", 4);
    let c = connect("127.0.0.1", port);
    let s = accept(l);
    let u = udp("127.0.0.1", 0);
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    let mut buf = [0u8; 4];
    let mut n = 0;
    let mut h = 0;
    expect_err(usocket_read(l, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_read(u, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_write(u, buf.as_ptr(), 4, &mut n), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_accept(c, &mut h), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_accept(u, &mut h), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_send(c, buf.as_ptr(), 4, null(), 0, &mut n), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_receive(s, buf.as_mut_ptr(), 4, &mut n, null_mut()), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_read(w, buf.as_mut_ptr(), 4, &mut n), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_wait_list_add(c, s), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_wait_list_add(w, w), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_wait_list_free(c), USOCKET_ERR_WRONG_KIND);
    let mut v = 0;
    expect_err(usocket_get_option(u, USOCKET_OPT_TCP_NODELAY, &mut v), USOCKET_ERR_WRONG_KIND);
    expect_err(usocket_shutdown(l, USOCKET_SHUT_BOTH), USOCKET_ERR_WRONG_KIND);
    let mut states = [0u8; 1];
    expect_err(usocket_wait_for_input(&w, 1, 0, states.as_mut_ptr(), &mut n, null_mut()), USOCKET_ERR_WRONG_KIND);
    assert_eq!(name(USOCKET_ERR_WRONG_KIND), "wrong-kind-error");
    for x in [l, c, s, u, w] {
        ok(usocket_close(x));
    }
}

#[test]
fn null_pointers_bad_strings_and_bad_enums_are_invalid_arguments() {
    let (c, s) = pair("127.0.0.1");
    let mut n = 0usize;
    let mut buf = [0u8; 8];
    let mut h = 0u64;
    let bad = [0x66u8, 0xff, 0xfe, 0];
    let bad = bad.as_ptr() as *const std::ffi::c_char;
    let host = CString::new("127.0.0.1").unwrap();
    let e = USOCKET_ERR_INVALID_ARGUMENT;
    expect_err(usocket_read(c, null_mut(), 4, &mut n), e);
    expect_err(usocket_read(c, buf.as_mut_ptr(), 4, null_mut()), e);
    expect_err(usocket_read(c, buf.as_mut_ptr(), usize::MAX, &mut n), e);
    expect_err(usocket_write(c, null(), 4, &mut n), e);
    expect_err(usocket_write(c, buf.as_ptr(), 4, null_mut()), e);
    expect_err(usocket_connect(null(), 80, null(), &mut h), e);
    expect_err(usocket_connect(host.as_ptr(), 80, null(), null_mut()), e);
    expect_err(usocket_connect(bad, 80, null(), &mut h), e);
    expect_err(usocket_listen(bad, 0, null(), &mut h), e);
    expect_err(usocket_listen(host.as_ptr(), 0, null(), null_mut()), e);
    let mut o = connect_opts();
    o.protocol = 7;
    expect_err(usocket_connect(host.as_ptr(), 80, &o, &mut h), e);
    let mut o = connect_opts();
    o.local_host = bad;
    expect_err(usocket_connect(host.as_ptr(), 80, &o, &mut h), e);
    expect_err(usocket_shutdown(c, 0), e);
    expect_err(usocket_shutdown(c, 4), e);
    let mut v = 0i64;
    expect_err(usocket_get_option(c, 99, &mut v), e);
    expect_err(usocket_get_option(c, -1, &mut v), e);
    expect_err(usocket_get_option(c, USOCKET_OPT_KEEPALIVE, null_mut()), e);
    expect_err(usocket_set_option(c, 99, 1), e);
    expect_err(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, -5), e);
    expect_err(usocket_set_option(c, USOCKET_OPT_RECEIVE_BUFFER, 0), e);
    expect_err(usocket_kind(c, null_mut()), e);
    expect_err(usocket_fd(c, null_mut()), e);
    expect_err(usocket_local_name(c, null_mut()), e);
    expect_err(usocket_peer_name(c, null_mut()), e);
    expect_err(usocket_accept(c, null_mut()), e);
    expect_err(usocket_input_available(c, null_mut()), e);
    expect_err(usocket_send(c, null(), 3, null(), 0, &mut n), e);
    expect_err(usocket_receive(c, null_mut(), 3, &mut n, null_mut()), e);
    expect_err(usocket_wait_for_input(null(), 3, 0, buf.as_mut_ptr(), &mut n, null_mut()), e);
    expect_err(usocket_wait_for_input(&c, 1, 0, null_mut(), &mut n, null_mut()), e);
    expect_err(usocket_wait_for_input(&c, 1, 0, buf.as_mut_ptr(), null_mut(), null_mut()), e);
    expect_err(usocket_wait_for_input(null(), 0, -1, null_mut(), &mut n, null_mut()), e);
    expect_err(usocket_wait_list_new(null_mut()), e);
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    expect_err(usocket_wait_list_wait(w, 0, null_mut(), 4, &mut n, null_mut()), e);
    expect_err(usocket_wait_list_wait(w, 0, &mut h, 0, &mut n, null_mut()), e);
    expect_err(usocket_wait_list_wait(w, 0, &mut h, 1, null_mut(), null_mut()), e);
    expect_err(usocket_resolve(null(), null_mut(), 0, &mut n), e);
    expect_err(usocket_resolve(host.as_ptr(), null_mut(), 1, &mut n), e);
    expect_err(usocket_resolve(host.as_ptr(), null_mut(), 0, null_mut()), e);
    let empty = CString::new("").unwrap();
    expect_err(usocket_resolve(empty.as_ptr(), null_mut(), 0, &mut n), e);
    expect_err(usocket_address_format(null(), buf.as_mut_ptr() as *mut _, 8), e);
    let a = usocket_address { family: 5, octets: [0; 16], port: 0 };
    let mut text = [0 as std::ffi::c_char; 64];
    expect_err(usocket_address_format(&a, text.as_mut_ptr(), 64), e);
    let a = usocket_address { family: 6, octets: [0xfe; 16], port: 0 };
    expect_err(usocket_address_format(&a, text.as_mut_ptr(), 4), e);
    // The init functions ignore NULL.
    usocket_connect_options_init(null_mut());
    usocket_listen_options_init(null_mut());
    // The socket still works after all that.
    write_all(c, b"fine");
    assert_eq!(read_exact(s, 4), b"fine");
    for x in [c, s, w] {
        ok(usocket_close(x));
    }
}

#[test]
fn zero_length_read_and_write() {
    let (c, s) = pair("127.0.0.1");
    let mut n = 99;
    ok(usocket_read(c, null_mut(), 0, &mut n));
    assert_eq!(n, 0);
    ok(usocket_write(c, null(), 0, &mut n));
    assert_eq!(n, 0);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn large_transfer_both_ways() {
    let (c, s) = pair("127.0.0.1");
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let expected = data.clone();
    let writer = std::thread::spawn(move || {
        write_all(c, &data);
        ok(usocket_shutdown(c, USOCKET_SHUT_OUTPUT));
        c
    });
    let got = read_exact(s, expected.len());
    assert!(got == expected);
    assert_eq!(read_some(s, 10).unwrap(), b"", "shutdown output gives the peer end of file");
    let c = writer.join().unwrap();
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn datagrams_unconnected_and_connected() {
    let a = udp("127.0.0.1", 0);
    let pa = local_port(a);
    let mut kind = -1;
    ok(usocket_kind(a, &mut kind));
    assert_eq!(kind, USOCKET_KIND_DATAGRAM);
    let mut o = connect_opts();
    o.protocol = USOCKET_DATAGRAM;
    o.timeout_ms = 2000;
    let b = try_connect("127.0.0.1", pa, &o).unwrap();
    let mut n = 0;
    ok(usocket_send(b, b"ping".as_ptr(), 4, null(), 0, &mut n));
    assert_eq!(n, 4);
    let mut buf = [0u8; 100];
    let mut from = usocket_address { family: 0, octets: [0; 16], port: 0 };
    ok(usocket_receive(a, buf.as_mut_ptr(), 100, &mut n, &mut from));
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, local_name(b), "the sender's address");
    let host = CString::new(format(&from)).unwrap();
    ok(usocket_send(a, b"pong".as_ptr(), 4, host.as_ptr(), from.port, &mut n));
    ok(usocket_receive(b, buf.as_mut_ptr(), 100, &mut n, null_mut()));
    assert_eq!(&buf[..n], b"pong");
    let mut peer = usocket_address { family: 0, octets: [0; 16], port: 0 };
    ok(usocket_peer_name(b, &mut peer));
    assert_eq!(peer.port, pa);
    // An unconnected socket needs a destination.
    expect_err(usocket_send(a, b"x".as_ptr(), 1, null(), 0, &mut n), USOCKET_ERR_INVALID_ARGUMENT);
    ok(usocket_close(a));
    ok(usocket_close(b));
}

#[test]
fn datagram_sizes_truncation_and_empty() {
    let a = udp("127.0.0.1", 0);
    let b = udp("127.0.0.1", 0);
    ok(usocket_set_option(a, USOCKET_OPT_RECEIVE_TIMEOUT, 2000));
    let host = CString::new("127.0.0.1").unwrap();
    let pa = local_port(a);
    let big: Vec<u8> = (0..USOCKET_MAX_DATAGRAM_PACKET_SIZE).map(|i| i as u8).collect();
    let mut n = 0;
    ok(usocket_send(b, big.as_ptr(), big.len(), host.as_ptr(), pa, &mut n));
    assert_eq!(n, 65507);
    let mut buf = vec![0u8; 70000];
    ok(usocket_receive(a, buf.as_mut_ptr(), buf.len(), &mut n, null_mut()));
    assert_eq!(n, 65507);
    assert!(buf[..n] == big[..]);
    let too_big = vec![0u8; 65508];
    expect_err(usocket_send(b, too_big.as_ptr(), too_big.len(), host.as_ptr(), pa, &mut n), USOCKET_ERR_INVALID_ARGUMENT);
    // Truncated: the rest of the datagram is dropped.
    ok(usocket_send(b, b"abcdefgh".as_ptr(), 8, host.as_ptr(), pa, &mut n));
    ok(usocket_send(b, b"next".as_ptr(), 4, host.as_ptr(), pa, &mut n));
    ok(usocket_receive(a, buf.as_mut_ptr(), 3, &mut n, null_mut()));
    assert_eq!(&buf[..n], b"abc");
    ok(usocket_receive(a, buf.as_mut_ptr(), 100, &mut n, null_mut()));
    assert_eq!(&buf[..n], b"next");
    // Zero-length datagrams are datagrams.
    ok(usocket_send(b, null(), 0, host.as_ptr(), pa, &mut n));
    let mut from = usocket_address { family: 0, octets: [0; 16], port: 0 };
    n = 99;
    ok(usocket_receive(a, buf.as_mut_ptr(), 100, &mut n, &mut from));
    assert_eq!(n, 0);
    assert_eq!(from.port, local_port(b));
    // Receive timeout.
    ok(usocket_set_option(a, USOCKET_OPT_RECEIVE_TIMEOUT, 100));
    let t0 = Instant::now();
    expect_err(usocket_receive(a, buf.as_mut_ptr(), 100, &mut n, null_mut()), USOCKET_ERR_TIMEOUT);
    assert!(t0.elapsed() >= Duration::from_millis(90));
    ok(usocket_close(a));
    ok(usocket_close(b));
}

#[test]
fn datagrams_over_ipv6() {
    let a = udp("::1", 0);
    let b = udp("::1", 0);
    let host = CString::new("::1").unwrap();
    let mut n = 0;
    ok(usocket_send(b, b"six".as_ptr(), 3, host.as_ptr(), local_port(a), &mut n));
    let mut buf = [0u8; 10];
    let mut from = usocket_address { family: 0, octets: [0; 16], port: 0 };
    ok(usocket_receive(a, buf.as_mut_ptr(), 10, &mut n, &mut from));
    assert_eq!(&buf[..n], b"six");
    assert_eq!(from.family, 6);
    assert_eq!(format(&from), "::1");
    ok(usocket_close(a));
    ok(usocket_close(b));
}

#[test]
fn wait_for_input_states_and_remaining_time() {
    let (l, port) = listen("127.0.0.1", 8);
    let c1 = connect("127.0.0.1", port);
    let s1 = accept(l);
    let c2 = connect("127.0.0.1", port);
    let s2 = accept(l);
    let socks = [s1, s2, l];
    let mut states = [9u8; 3];
    let mut n = 9;
    let mut left = 0i64;
    // Nothing ready: times out with nready 0 and no time left.
    let t0 = Instant::now();
    ok(usocket_wait_for_input(socks.as_ptr(), 3, 100, states.as_mut_ptr(), &mut n, &mut left));
    assert!(t0.elapsed() >= Duration::from_millis(95));
    assert_eq!((n, states, left), (0, [0, 0, 0], 0));
    write_all(c2, b"!");
    ok(usocket_wait_for_input(socks.as_ptr(), 3, 5000, states.as_mut_ptr(), &mut n, &mut left));
    assert_eq!((n, states), (1, [0, 1, 0]));
    assert!(left > 3000 && left <= 5000, "{left}");
    // A pending connection makes the listener ready; forever gives -1.
    let c3 = connect("127.0.0.1", port);
    read_exact(s2, 1);
    ok(usocket_wait_for_input(socks.as_ptr(), 3, -1, states.as_mut_ptr(), &mut n, &mut left));
    assert_eq!((n, states, left), (1, [0, 0, 1], -1));
    // End of file is ready too.
    ok(usocket_close(c1));
    let s3 = accept(l);
    ok(usocket_wait_for_input(socks.as_ptr(), 3, 1000, states.as_mut_ptr(), &mut n, null_mut()));
    assert_eq!((n, states), (1, [1, 0, 0]));
    // n = 0 with a timeout just sleeps.
    ok(usocket_wait_for_input(null(), 0, 10, null_mut(), &mut n, null_mut()));
    assert_eq!(n, 0);
    for h in [c2, c3, s1, s2, s3, l] {
        ok(usocket_close(h));
    }
}

#[test]
fn input_available_is_usockets_listen() {
    let (c, s) = pair("127.0.0.1");
    let mut avail = true;
    ok(usocket_input_available(s, &mut avail));
    assert!(!avail);
    write_all(c, b"a");
    let mut states = [0u8];
    let mut n = 0;
    ok(usocket_wait_for_input(&s, 1, 2000, states.as_mut_ptr(), &mut n, null_mut()));
    ok(usocket_input_available(s, &mut avail));
    assert!(avail);
    ok(usocket_close(c));
    ok(usocket_close(s));
}

#[test]
fn wait_list_returns_only_ready_sockets() {
    let (l, port) = listen("127.0.0.1", 128);
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    let mut clients = vec![];
    let mut servers = vec![];
    for _ in 0..100 {
        clients.push(connect("127.0.0.1", port));
        let s = accept(l);
        ok(usocket_wait_list_add(w, s));
        ok(usocket_wait_list_add(w, s)); // twice is harmless
        servers.push(s);
    }
    let mut ready = [0u64; 16];
    let mut n = 9;
    let mut left = 0;
    ok(usocket_wait_list_wait(w, 50, ready.as_mut_ptr(), 16, &mut n, &mut left));
    assert_eq!((n, left), (0, 0));
    write_all(clients[42], b"x");
    write_all(clients[7], b"y");
    let mut got = vec![];
    for _ in 0..10 {
        ok(usocket_wait_list_wait(w, 2000, ready.as_mut_ptr(), 16, &mut n, &mut left));
        got = ready[..n].to_vec();
        if n == 2 {
            break;
        }
    }
    got.sort();
    let mut want = vec![servers[42], servers[7]];
    want.sort();
    assert_eq!(got, want);
    // Removed sockets are not reported; a closed one leaves by itself.
    ok(usocket_wait_list_remove(w, servers[42]));
    ok(usocket_wait_list_remove(w, servers[42])); // harmless
    ok(usocket_close(servers[7]));
    ok(usocket_wait_list_wait(w, 50, ready.as_mut_ptr(), 16, &mut n, &mut left));
    assert_eq!(n, 0, "removed and closed sockets are gone: {:?}", &ready[..n]);
    write_all(clients[3], b"z");
    ok(usocket_wait_list_wait(w, -1, ready.as_mut_ptr(), 16, &mut n, &mut left));
    assert_eq!((n, ready[0], left), (1, servers[3], -1));
    ok(usocket_wait_list_clear(w));
    ok(usocket_wait_list_wait(w, 20, ready.as_mut_ptr(), 16, &mut n, &mut left));
    assert_eq!(n, 0);
    ok(usocket_wait_list_free(w));
    expect_err(usocket_wait_list_free(w), USOCKET_ERR_INVALID_HANDLE);
    expect_err(usocket_wait_list_wait(w, 0, ready.as_mut_ptr(), 16, &mut n, &mut left), USOCKET_ERR_INVALID_HANDLE);
    for (i, h) in clients.into_iter().chain(servers).enumerate() {
        if i != 107 {
            ok(usocket_close(h));
        }
    }
    ok(usocket_close(l));
}

#[test]
fn wait_on_one_socket_after_it_was_in_a_list() {
    // usocket on SBCL returns at once here (a stale cached wait list).
    let (c, s) = pair("127.0.0.1");
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    write_all(c, b"1");
    let mut ready = [0u64; 4];
    let mut n = 0;
    ok(usocket_wait_list_wait(w, 1000, ready.as_mut_ptr(), 4, &mut n, null_mut()));
    assert_eq!(n, 1);
    read_exact(s, 1);
    let mut states = [0u8];
    let t0 = Instant::now();
    ok(usocket_wait_for_input(&s, 1, 100, states.as_mut_ptr(), &mut n, null_mut()));
    assert_eq!((n, states[0]), (0, 0));
    assert!(t0.elapsed() >= Duration::from_millis(95));
    for h in [w, c, s] {
        ok(usocket_close(h));
    }
}

#[test]
fn options_all_eight() {
    let (c, s) = pair("127.0.0.1");
    let get = |h, o| {
        let mut v = -7;
        ok(usocket_get_option(h, o, &mut v));
        v
    };
    assert_eq!(get(c, USOCKET_OPT_TCP_NODELAY), 1, "nodelay is on by default");
    assert_eq!(get(s, USOCKET_OPT_TCP_NODELAY), 1, "accepted sockets too");
    ok(usocket_set_option(c, USOCKET_OPT_TCP_NODELAY, 0));
    assert_eq!(get(c, USOCKET_OPT_TCP_NODELAY), 0);
    assert_eq!(get(c, USOCKET_OPT_RECEIVE_TIMEOUT), 0);
    ok(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 1234));
    ok(usocket_set_option(c, USOCKET_OPT_SEND_TIMEOUT, 567));
    assert_eq!(get(c, USOCKET_OPT_RECEIVE_TIMEOUT), 1234);
    assert_eq!(get(c, USOCKET_OPT_SEND_TIMEOUT), 567, "send and receive timeouts are separate");
    ok(usocket_set_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, 0));
    assert_eq!(get(c, USOCKET_OPT_RECEIVE_TIMEOUT), 0);
    assert_eq!(get(c, USOCKET_OPT_SEND_TIMEOUT), 567);
    for opt in [USOCKET_OPT_REUSE_ADDRESS, USOCKET_OPT_KEEPALIVE] {
        ok(usocket_set_option(c, opt, 1));
        assert_eq!(get(c, opt), 1);
        ok(usocket_set_option(c, opt, 0));
        assert_eq!(get(c, opt), 0);
    }
    let u = udp("127.0.0.1", 0);
    ok(usocket_set_option(u, USOCKET_OPT_BROADCAST, 1));
    assert_eq!(get(u, USOCKET_OPT_BROADCAST), 1);
    for opt in [USOCKET_OPT_RECEIVE_BUFFER, USOCKET_OPT_SEND_BUFFER] {
        ok(usocket_set_option(c, opt, 65536));
        assert!(get(c, opt) >= 65536, "{}", get(c, opt));
    }
    let mut o = connect_opts();
    o.nodelay = false;
    let (l, port) = listen("127.0.0.1", 2);
    let c2 = try_connect("127.0.0.1", port, &o).unwrap();
    assert_eq!(get(c2, USOCKET_OPT_TCP_NODELAY), 0, "nodelay false is honoured");
    for h in [c, s, u, l, c2] {
        ok(usocket_close(h));
    }
}

#[test]
fn local_host_and_port_binding_for_connect() {
    let (l, port) = listen("127.0.0.1", 4);
    // Find a free port by binding and closing a UDP... use a listener instead.
    let (tmp, free) = listen("127.0.0.1", 1);
    ok(usocket_close(tmp));
    let mut o = connect_opts();
    let lh = CString::new("127.0.0.1").unwrap();
    o.local_host = lh.as_ptr();
    o.local_port = free;
    let c = try_connect("127.0.0.1", port, &o).unwrap();
    let s = accept(l);
    let mut peer = usocket_address { family: 0, octets: [0; 16], port: 0 };
    ok(usocket_peer_name(s, &mut peer));
    assert_eq!(peer.port, free);
    // Binding an address in use fails clearly.
    let mut o2 = connect_opts();
    o2.local_host = lh.as_ptr();
    o2.local_port = port;
    let rc = try_connect("127.0.0.1", port, &o2).unwrap_err();
    expect_err(rc, USOCKET_ERR_ADDRESS_IN_USE);
    for h in [c, s, l] {
        ok(usocket_close(h));
    }
}

#[test]
fn resolve_literals_and_hosts_file_names() {
    let mut out = [usocket_address { family: 0, octets: [0; 16], port: 0 }; 8];
    let mut n = 0;
    for (host, want) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1"), ("localhost", "127.0.0.1")] {
        let h = CString::new(host).unwrap();
        ok(usocket_resolve(h.as_ptr(), out.as_mut_ptr(), 8, &mut n));
        assert!(n >= 1);
        let all: Vec<String> = out[..n.min(8)].iter().map(format).collect();
        assert!(all.contains(&want.to_string()), "{host}: {all:?}");
    }
    let h = CString::new("localhost").unwrap();
    ok(usocket_resolve(h.as_ptr(), null_mut(), 0, &mut n));
    assert!(n >= 1, "count without room");
    // A name in /etc/hosts connects.
    let (l, port) = listen("127.0.0.1", 2);
    let c = connect("localhost", port);
    let s = accept(l);
    for x in [c, s, l] {
        ok(usocket_close(x));
    }
}

#[test]
fn error_names_and_version() {
    let names: Vec<String> = (-29..=0).map(name).collect();
    for n in &names {
        assert!(!n.is_empty());
    }
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "one name per code");
    assert_eq!(name(-1000), "unknown-error");
    assert_eq!(name(USOCKET_ERR_TIMEOUT), "timeout-error");
    assert_eq!(name(USOCKET_ERR_NS_TRY_AGAIN), "ns-try-again-condition");
    assert_eq!(name(USOCKET_ERR_INVALID_HANDLE), "invalid-handle-error");
    assert_eq!(name(USOCKET_ERR_INTERNAL), "internal-error");
    let v = unsafe { std::ffi::CStr::from_ptr(usocket_version()) }.to_str().unwrap().to_owned();
    assert_eq!(v.split('.').count(), 3, "{v}");
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn last_error_is_per_thread() {
    let mut h = 0;
    expect_err(usocket_close(0), USOCKET_ERR_INVALID_HANDLE);
    std::thread::spawn(move || {
        assert_eq!(usocket_last_error(), USOCKET_OK);
        assert_eq!(last_message(), "");
        expect_err(usocket_wait_list_new(null_mut()), USOCKET_ERR_INVALID_ARGUMENT);
        assert_eq!(usocket_last_error(), USOCKET_ERR_INVALID_ARGUMENT);
    })
    .join()
    .unwrap();
    assert_eq!(usocket_last_error(), USOCKET_ERR_INVALID_HANDLE);
    // A success does not clear the last failure.
    ok(usocket_wait_list_new(&mut h));
    assert_eq!(usocket_last_error(), USOCKET_ERR_INVALID_HANDLE);
    ok(usocket_close(h));
}

#[test]
fn fifteen_hundred_sockets_in_one_wait() {
    raise_fd_limit();
    let (l, port) = listen("127.0.0.1", 128);
    let mut clients = vec![];
    let mut servers = vec![];
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    for _ in 0..750 {
        clients.push(connect("127.0.0.1", port));
        let s = accept(l);
        ok(usocket_wait_list_add(w, s));
        servers.push(s);
    }
    let mut max_fd = 0;
    for &s in &servers {
        ok(usocket_fd(s, &mut max_fd));
    }
    assert!(max_fd >= 1024, "past FD_SETSIZE: highest descriptor {max_fd}");
    let all: Vec<u64> = clients.iter().chain(&servers).copied().collect();
    assert_eq!(all.len(), 1500);
    write_all(clients[0], b"a");
    write_all(servers[749], b"b");
    let mut states = vec![0u8; 1500];
    let mut n = 0;
    let mut got = 0;
    for _ in 0..10 {
        ok(usocket_wait_for_input(all.as_ptr(), all.len(), 2000, states.as_mut_ptr(), &mut n, null_mut()));
        got = n;
        if n == 2 {
            break;
        }
    }
    assert_eq!(got, 2);
    assert_eq!(states[749], 1, "the last client");
    assert_eq!(states[750], 1, "the first server side");
    assert_eq!(states.iter().filter(|&&s| s == 1).count(), 2);
    let mut ready = [0u64; 8];
    ok(usocket_wait_list_wait(w, 2000, ready.as_mut_ptr(), 8, &mut n, null_mut()));
    assert_eq!((n, ready[0]), (1, servers[0]));
    for h in all {
        ok(usocket_close(h));
    }
    ok(usocket_close(w));
    ok(usocket_close(l));
}

#[test]
fn write_some_in_slices_loses_no_byte() {
    let (c, s) = pair("127.0.0.1");
    ok(usocket_set_option(c, USOCKET_OPT_SEND_BUFFER, 8192));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let expected = data.clone();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        read_exact(s, expected.len()) == expected
    });
    let mut sent = 0;
    let mut timeouts = 0;
    let t0 = Instant::now();
    while sent < data.len() && t0.elapsed() < Duration::from_secs(30) {
        let mut n = 0;
        let rc = usocket_write_some(c, data[sent..].as_ptr(), data.len() - sent, 10, &mut n);
        if rc == USOCKET_ERR_TIMEOUT {
            timeouts += 1;
            continue;
        }
        ok(rc);
        assert!(n >= 1);
        sent += n;
    }
    assert_eq!(sent, data.len());
    assert!(reader.join().unwrap(), "the reader got every byte in order");
    assert!(timeouts > 0, "the slow reader made some slices time out");
    // No wait at all on a full buffer: TIMEOUT at once.
    let (c2, s2) = pair("127.0.0.1");
    let chunk = vec![0u8; 1 << 20];
    let mut n = 0;
    let mut rc = 0;
    for _ in 0..1000 {
        rc = usocket_write_some(c2, chunk.as_ptr(), chunk.len(), 0, &mut n);
        if rc != 0 {
            break;
        }
    }
    expect_err(rc, USOCKET_ERR_TIMEOUT);
    ok(usocket_write_some(c2, null(), 0, 0, &mut n));
    assert_eq!(n, 0);
    let u = udp("127.0.0.1", 0);
    expect_err(usocket_write_some(u, chunk.as_ptr(), 1, 0, &mut n), USOCKET_ERR_WRONG_KIND);
    for h in [c, c2, s2, u] {
        ok(usocket_close(h));
    }
}

#[test]
fn write_some_reports_the_reset_itself() {
    // After a reset the first send fails with ECONNRESET and later ones with
    // EPIPE: the caller must see the reset.
    let (c, s) = pair("127.0.0.1");
    reset_by_linger_zero(s);
    let mut states = [0u8];
    let mut n = 0;
    ok(usocket_wait_for_input(&c, 1, 2000, states.as_mut_ptr(), &mut n, null_mut()));
    expect_err(usocket_write_some(c, b"x".as_ptr(), 1, 100, &mut n), USOCKET_ERR_CONNECTION_RESET);
    expect_err(usocket_write_some(c, b"x".as_ptr(), 1, 100, &mut n), USOCKET_ERR_SHUTDOWN);
    ok(usocket_close(c));
}
