//! A panic never crosses the C boundary (README "Panics", C-API.md
//! Conventions): with the cargo feature `panic-probe`,
//! `usocket_test_panic_next(true)` makes the next export called on this
//! thread panic inside its boundary. Every export of the header is made to
//! panic once: a status export returns USOCKET_ERR_INTERNAL, a value export
//! its documented value on panic, the last error is INTERNAL, and the
//! process lives on with its sockets intact (a panic that escaped an
//! `extern "C"` function would abort the whole test binary).
//!
//!     cargo test --release --features panic-probe --test panic_boundary
#![cfg(feature = "panic-probe")]
#![allow(unused_variables)]

mod common;


use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};

use common::*;
use usocket::ffi::usocket_test_panic_next;

fn panicking<T>(call: impl FnOnce() -> T) -> T {
    usocket_test_panic_next(true);
    call()
}

fn text(p: *const std::ffi::c_char) -> String {
    assert!(!p.is_null(), "a string export returned NULL on a panic");
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The last error is the caught panic's.
#[track_caller]
fn last_is_internal(what: &str) {
    // usocket_last_error itself is an export: make sure no probe is armed.
    usocket_test_panic_next(false);
    assert_eq!(usocket_last_error(), USOCKET_ERR_INTERNAL, "{what}: last error after the panic");
    assert!(last_message().contains("panic"), "{what}: {}", last_message());
}

/// Out-pointers and buffers for the calls (each call gets fresh ones).
struct Scratch {
    buf: [u8; 64],
    n: usize,
    h: u64,
    a: usocket_address,
    addrs: [usocket_address; 4],
    v: i64,
    k: i32,
    avail: bool,
    st: [u8; 2],
    left: i64,
    ready: [u64; 4],
    fmt: [std::ffi::c_char; 64],
    fl: usize,
}

impl Scratch {
    fn new(a: usocket_address) -> Scratch {
        Scratch {
            buf: [0; 64],
            n: 0,
            h: 0,
            a,
            addrs: [no_address(); 4],
            v: 0,
            k: 0,
            avail: false,
            st: [0; 2],
            left: 0,
            ready: [0; 4],
            fmt: [0; 64],
            fl: 0,
        }
    }
}

unsafe extern "C" fn tcp_handler(_: *mut c_void, _: u64, _: *const usocket_address) {}

#[test]
fn every_export_turns_a_panic_into_its_documented_value() {
    let lo = CString::new("127.0.0.1").unwrap();
    // Fixtures, each call below would otherwise succeed or fail normally
    // without blocking: data waiting, a client waiting, a datagram waiting.
    let (l, port) = listen("127.0.0.1", 8);
    let c = connect("127.0.0.1", port);
    let s = accept(l);
    let _pending = connect("127.0.0.1", port);
    write_all(c, b"data for the reads");
    let u = udp("127.0.0.1", 0);
    let mut w = 0;
    ok(usocket_wait_list_new(&mut w));
    ok(usocket_wait_list_add(w, s));
    let mut srv = 0;
    ok(usocket_server_new(lo.as_ptr(), 0, null(), Some(tcp_handler), None, null_mut(), &mut srv));
    let mut idle = 0;
    ok(usocket_server_new(lo.as_ptr(), 0, null(), None, None, null_mut(), &mut idle));
    // Unix-domain fixtures, in the abstract namespace (no files).
    let tag = std::process::id();
    let lpath = CString::new(format!("@usocket-panic-{tag}")).unwrap();
    let lpath2 = CString::new(format!("@usocket-panic-{tag}-unused")).unwrap();
    let dpath = CString::new(format!("@usocket-panic-{tag}-dgram")).unwrap();
    let mut ll = 0;
    ok(usocket_listen_local(lpath.as_ptr(), null(), &mut ll));
    let mut lc = 0;
    ok(usocket_connect_local(lpath.as_ptr(), null(), &mut lc));
    let mut la = 0;
    ok(usocket_accept(ll, &mut la));
    let mut dopts = connect_opts();
    dopts.protocol = USOCKET_DATAGRAM;
    dopts.local_host = dpath.as_ptr();
    let mut ld = 0;
    ok(usocket_connect_local(null(), &dopts, &mut ld));

    // Every status export, with arguments that are fine apart from the panic.
    let a0 = local_name(u);
    let socks = [s, c];
    type Call<'a> = Box<dyn Fn(&mut Scratch) -> i32 + 'a>;
    let mut status: Vec<(&str, Call)> = Vec::new();
    status.push(("usocket_address_format", Box::new(|x: &mut Scratch| usocket_address_format(&x.a, x.fmt.as_mut_ptr(), 64))));
    status.push(("usocket_resolve", Box::new(|x: &mut Scratch| usocket_resolve(lo.as_ptr(), x.addrs.as_mut_ptr(), 4, &mut x.n))));
    status.push(("usocket_host_by_name", Box::new(|x: &mut Scratch| usocket_host_by_name(lo.as_ptr(), &mut x.a))));
    status.push(("usocket_send", Box::new(|x: &mut Scratch| usocket_send(u, b"x".as_ptr(), 1, lo.as_ptr(), x.a.port, &mut x.n))));
    status.push(("usocket_receive", Box::new(|x: &mut Scratch| usocket_receive(u, x.buf.as_mut_ptr(), 64, &mut x.n, null_mut()))));
    status.push(("usocket_receive_for", Box::new(|x: &mut Scratch| usocket_receive_for(u, x.buf.as_mut_ptr(), 64, 0, &mut x.n, null_mut()))));
    status.push(("usocket_local_name", Box::new(|x: &mut Scratch| usocket_local_name(c, &mut x.a))));
    status.push(("usocket_peer_name", Box::new(|x: &mut Scratch| usocket_peer_name(c, &mut x.a))));
    status.push(("usocket_get_option", Box::new(|x: &mut Scratch| usocket_get_option(c, USOCKET_OPT_RECEIVE_TIMEOUT, &mut x.v))));
    status.push(("usocket_set_option", Box::new(|x: &mut Scratch| usocket_set_option(c, USOCKET_OPT_KEEPALIVE, 1))));
    status.push(("usocket_server_new", Box::new(|x: &mut Scratch| usocket_server_new(lo.as_ptr(), 0, null(), None, None, null_mut(), &mut x.h))));
    status.push(("usocket_server_next", Box::new(|x: &mut Scratch| usocket_server_next(idle, 0, &mut x.h, null_mut()))));
    status.push(("usocket_server_next_datagram", Box::new(|x: &mut Scratch| usocket_server_next_datagram(idle, 0, x.buf.as_mut_ptr(), 64, &mut x.n, &mut x.a))));
    status.push(("usocket_server_reply", Box::new(|x: &mut Scratch| usocket_server_reply(idle, b"x".as_ptr(), 1, &x.a))));
    status.push(("usocket_server_run", Box::new(|x: &mut Scratch| usocket_server_run(srv))));
    status.push(("usocket_server_spawn", Box::new(|x: &mut Scratch| usocket_server_spawn(srv))));
    status.push(("usocket_server_stop", Box::new(|x: &mut Scratch| usocket_server_stop(srv))));
    status.push(("usocket_server_set_stack_size", Box::new(|x: &mut Scratch| usocket_server_set_stack_size(srv, 0))));
    status.push(("usocket_server_wait", Box::new(|x: &mut Scratch| usocket_server_wait(srv, 0))));
    status.push(("usocket_connect", Box::new(|x: &mut Scratch| usocket_connect(lo.as_ptr(), port, null(), &mut x.h))));
    status.push(("usocket_connect_for", Box::new(|x: &mut Scratch| usocket_connect_for(lo.as_ptr(), port, null(), 1000, &mut x.h))));
    // The Unix-domain calls (fixtures: a local pair and an unbound datagram socket).
    status.push(("usocket_connect_local", Box::new(|x: &mut Scratch| usocket_connect_local(lpath.as_ptr(), null(), &mut x.h))));
    status.push(("usocket_listen_local", Box::new(|x: &mut Scratch| usocket_listen_local(lpath2.as_ptr(), null(), &mut x.h))));
    status.push(("usocket_local_path", Box::new(|x: &mut Scratch| usocket_local_path(ll, x.fmt.as_mut_ptr(), 64, &mut x.n))));
    status.push(("usocket_peer_path", Box::new(|x: &mut Scratch| usocket_peer_path(lc, x.fmt.as_mut_ptr(), 64, &mut x.n))));
    status.push(("usocket_peer_credentials", Box::new(|x: &mut Scratch| {
        let (mut pid, mut uid, mut gid) = (0i32, 0u32, 0u32);
        usocket_peer_credentials(lc, &mut pid, &mut uid, &mut gid)
    })));
    status.push(("usocket_send_local", Box::new(|x: &mut Scratch| usocket_send_local(ld, b"x".as_ptr(), 1, dpath.as_ptr(), &mut x.n))));
    status.push(("usocket_receive_local", Box::new(|x: &mut Scratch| {
        usocket_receive_local(ld, x.buf.as_mut_ptr(), 64, 0, &mut x.n, x.fmt.as_mut_ptr(), 64, &mut x.fl)
    })));
    status.push(("usocket_server_new_local", Box::new(|x: &mut Scratch| usocket_server_new_local(lpath2.as_ptr(), null(), Some(tcp_handler), null_mut(), &mut x.h))));
    status.push(("usocket_listen", Box::new(|x: &mut Scratch| usocket_listen(lo.as_ptr(), 0, null(), &mut x.h))));
    status.push(("usocket_accept", Box::new(|x: &mut Scratch| usocket_accept(l, &mut x.h))));
    status.push(("usocket_accept_from", Box::new(|x: &mut Scratch| usocket_accept_from(l, &mut x.h, null_mut()))));
    status.push(("usocket_accept_for", Box::new(|x: &mut Scratch| usocket_accept_for(l, 0, &mut x.h, null_mut()))));
    status.push(("usocket_close", Box::new(|x: &mut Scratch| usocket_close(c))));
    status.push(("usocket_shutdown", Box::new(|x: &mut Scratch| usocket_shutdown(c, USOCKET_SHUT_BOTH))));
    status.push(("usocket_kind", Box::new(|x: &mut Scratch| usocket_kind(c, &mut x.k))));
    status.push(("usocket_fd", Box::new(|x: &mut Scratch| usocket_fd(c, &mut x.k))));
    status.push(("usocket_dup_fd", Box::new(|x: &mut Scratch| usocket_dup_fd(c, &mut x.k))));
    status.push(("usocket_read", Box::new(|x: &mut Scratch| usocket_read(s, x.buf.as_mut_ptr(), 64, &mut x.n))));
    status.push(("usocket_read_for", Box::new(|x: &mut Scratch| usocket_read_for(s, x.buf.as_mut_ptr(), 64, 0, &mut x.n))));
    status.push(("usocket_write", Box::new(|x: &mut Scratch| usocket_write(c, b"x".as_ptr(), 1, &mut x.n))));
    status.push(("usocket_write_some", Box::new(|x: &mut Scratch| usocket_write_some(c, b"x".as_ptr(), 1, 0, &mut x.n))));
    status.push(("usocket_input_available", Box::new(|x: &mut Scratch| usocket_input_available(s, &mut x.avail))));
    status.push(("usocket_wait_for_input", Box::new(|x: &mut Scratch| usocket_wait_for_input(socks.as_ptr(), 2, 0, x.st.as_mut_ptr(), &mut x.n, &mut x.left))));
    status.push(("usocket_wait_list_new", Box::new(|x: &mut Scratch| usocket_wait_list_new(&mut x.h))));
    status.push(("usocket_wait_list_add", Box::new(|x: &mut Scratch| usocket_wait_list_add(w, c))));
    status.push(("usocket_wait_list_remove", Box::new(|x: &mut Scratch| usocket_wait_list_remove(w, s))));
    status.push(("usocket_wait_list_clear", Box::new(|x: &mut Scratch| usocket_wait_list_clear(w))));
    status.push(("usocket_wait_list_wait", Box::new(|x: &mut Scratch| usocket_wait_list_wait(w, 0, x.ready.as_mut_ptr(), 4, &mut x.n, &mut x.left))));
    status.push(("usocket_wait_list_free", Box::new(|x: &mut Scratch| usocket_wait_list_free(w))));

    let mut covered: Vec<&str> = status.iter().map(|(name, _)| *name).collect();
    for (name, call) in &status {
        let mut x = Scratch::new(a0);
        let rc = panicking(|| call(&mut x));
        usocket_test_panic_next(false); // disarmed, in case the call never reached the boundary
        assert_eq!(rc, USOCKET_ERR_INTERNAL, "{name} returned {rc} ({}) for a panic inside it", name_of(rc));
        last_is_internal(name);
    }
    drop(status);

    // Value exports: their documented value on a panic.
    assert_eq!(panicking(|| usocket_last_error()), USOCKET_ERR_INTERNAL, "usocket_last_error");
    assert_eq!(panicking(|| usocket_last_os_error()), 0, "usocket_last_os_error");
    last_is_internal("usocket_last_os_error");
    assert_eq!(text(panicking(|| usocket_last_error_message())), "", "usocket_last_error_message");
    assert_eq!(text(panicking(|| usocket_error_name(USOCKET_ERR_TIMEOUT))), "", "usocket_error_name");
    last_is_internal("usocket_error_name");
    assert_eq!(text(panicking(|| usocket_version())), "", "usocket_version");
    last_is_internal("usocket_version");
    assert_eq!(panicking(|| usocket_open_handles()), 0, "usocket_open_handles");
    last_is_internal("usocket_open_handles");
    // The init functions return nothing: they leave the struct as it was.
    let mut co = std::mem::MaybeUninit::<usocket_connect_options>::zeroed();
    panicking(|| usocket_connect_options_init(co.as_mut_ptr()));
    assert_eq!(unsafe { co.assume_init_ref() }.nodelay, false, "connect options written by a panicking init");
    last_is_internal("usocket_connect_options_init");
    let mut lopts = std::mem::MaybeUninit::<usocket_listen_options>::zeroed();
    panicking(|| usocket_listen_options_init(lopts.as_mut_ptr()));
    assert_eq!(unsafe { lopts.assume_init_ref() }.backlog, 0);
    last_is_internal("usocket_listen_options_init");
    let mut so = std::mem::MaybeUninit::<usocket_server_options>::zeroed();
    panicking(|| usocket_server_options_init(so.as_mut_ptr()));
    assert_eq!(unsafe { so.assume_init_ref() }.backlog, 0);
    last_is_internal("usocket_server_options_init");
    covered.extend([
        "usocket_last_error", "usocket_last_os_error", "usocket_last_error_message", "usocket_error_name",
        "usocket_version", "usocket_open_handles", "usocket_connect_options_init", "usocket_listen_options_init",
        "usocket_server_options_init",
    ]);

    // Every function of the header was made to panic.
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/usocket.h")).unwrap();
    let mut missing = vec![];
    for line in header.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase())) {
        let Some(open) = line.find('(') else { continue };
        let name = line[..open].rsplit(|c: char| c == ' ' || c == '*').next().unwrap_or("");
        if name.starts_with("usocket_") && !covered.contains(&name) {
            missing.push(name.to_owned());
        }
    }
    assert!(missing.is_empty(), "exports of the header this test never makes panic: {missing:?}");

    // Nothing was done by the panicking calls, and all still works: the
    // probe is spent, the handles are open, the data is there.
    assert_eq!(read_exact(s, 18), b"data for the reads");
    write_all(s, b"back");
    assert_eq!(read_exact(c, 4), b"back");
    // The list is still a list with s in it (no add, remove, clear or free happened).
    let mut kind = -1;
    expect_err(usocket_kind(w, &mut kind), USOCKET_ERR_WRONG_KIND);
    write_all(c, b"!");
    let mut ready = [0u64; 4];
    let mut n = 0;
    ok(usocket_wait_list_wait(w, 5000, ready.as_mut_ptr(), 4, &mut n, null_mut()));
    assert_eq!(&ready[..n], &[s]);
    // The servers were neither stopped nor started.
    expect_err(usocket_server_wait(srv, 0), USOCKET_ERR_TIMEOUT);
    let mut h = 0;
    expect_err(usocket_server_next(idle, 0, &mut h, null_mut()), USOCKET_ERR_TIMEOUT);
    let idle_port = local_port(idle);
    let client = connect("127.0.0.1", idle_port);
    ok(usocket_server_next(idle, 5000, &mut h, null_mut()));
    ok(usocket_close(h));
    ok(usocket_close(client));
    // The panicking connect and accepts made no handle.
    assert!(usocket_open_handles() >= 8);
    let mut p = [0 as std::ffi::c_char; 64];
    let mut plen = 0;
    ok(usocket_local_path(ll, p.as_mut_ptr(), 64, &mut plen));
    assert_eq!(text(p.as_ptr()), lpath.to_str().unwrap());
    for x in [lc, la, ll, ld] {
        ok(usocket_close(x));
    }
    for x in [c, s, l, u, w, srv, idle] {
        ok(usocket_close(x));
    }
}

fn name_of(rc: i32) -> String {
    name(rc)
}
