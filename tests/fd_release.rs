//! "The descriptor is released only after the last call using it has
//! returned, so it can never be reused under a running call" (C-API.md).
//!
//! A call is held inside its system call by a signal handler that waits for
//! a flag (the thread is in the handler, on top of the interrupted recv or
//! accept), the handle is closed meanwhile, and while the call has not
//! returned its descriptor must stay open (same socket inode) and no new
//! socket may get its number. Once the call returns, the number is free.
//! One test in a binary of its own: no other test opens descriptors meanwhile.

mod common;

use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

static IN_HANDLER: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);

extern "C" fn hold(_: libc::c_int) {
    IN_HANDLER.store(true, Ordering::SeqCst);
    while !RELEASE.load(Ordering::SeqCst) {
        unsafe { libc::sched_yield() };
    }
}

fn install() {
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = hold as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, null_mut()), 0);
    }
}


fn link(fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok().map(|p| p.to_string_lossy().into_owned())
}

fn is_open(fd: i32) -> bool {
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Blocks `call` on `victim`, holds it in a signal handler, closes the
/// handle, and checks the descriptor outlives the close until the call returns.
fn held_call_keeps_its_descriptor(what: &str, victim: u64, call: impl FnOnce() -> i32 + Send + 'static) {
    let fd = fd_of(victim);
    let inode = link(fd).expect("the descriptor's /proc link");
    assert!(inode.starts_with("socket:"), "{inode}");
    IN_HANDLER.store(false, Ordering::SeqCst);
    RELEASE.store(false, Ordering::SeqCst);
    let (worker, tid) = start_blocked_tid(call);
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR1) };
    assert!(eventually(Duration::from_secs(5), || IN_HANDLER.load(Ordering::SeqCst)), "{what}: the handler never ran");
    ok(usocket_close(victim));
    expect_err(usocket_close(victim), USOCKET_ERR_INVALID_HANDLE);
    // The call has not returned: its descriptor is still the same socket.
    assert!(!worker.is_finished());
    assert!(is_open(fd), "{what}: descriptor {fd} was closed while the call using it was still running");
    assert_eq!(link(fd).as_deref(), Some(inode.as_str()), "{what}: descriptor {fd} names another file under the running call");
    // New sockets never get that number meanwhile.
    let mut fresh = vec![];
    for _ in 0..8 {
        let u = udp("127.0.0.1", 0);
        assert_ne!(fd_of(u), fd, "{what}: a new socket got descriptor {fd} under the running call");
        fresh.push(u);
    }
    let (c2, s2) = pair("127.0.0.1");
    assert!(fd_of(c2) != fd && fd_of(s2) != fd);
    RELEASE.store(true, Ordering::SeqCst);
    let (rc, _) = worker.join().unwrap();
    expect_err(rc, USOCKET_ERR_INVALID_HANDLE);
    // Returned: now the descriptor is gone (nothing else in this process opened one meanwhile).
    assert!(!is_open(fd), "{what}: descriptor {fd} stayed open after the last call returned");
    for h in fresh.into_iter().chain([c2, s2]) {
        ok(usocket_close(h));
    }
}

#[test]
fn a_descriptor_outlives_its_handle_until_the_last_call_returns() {
    install();
    let (c, s) = pair("127.0.0.1");
    held_call_keeps_its_descriptor("read", s, move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        usocket_read(s, buf.as_mut_ptr(), 8, &mut n)
    });
    ok(usocket_close(c));

    let (l, _) = listen("127.0.0.1", 4);
    held_call_keeps_its_descriptor("accept", l, move || {
        let mut h = 0;
        usocket_accept(l, &mut h)
    });

    let u = udp("127.0.0.1", 0);
    held_call_keeps_its_descriptor("receive", u, move || {
        let mut buf = [0u8; 8];
        let mut n = 0;
        usocket_receive(u, buf.as_mut_ptr(), 8, &mut n, null_mut())
    });

    let (c, s) = pair("127.0.0.1");
    held_call_keeps_its_descriptor("wait_for_input", s, move || {
        let socks = [s];
        let mut st = [0u8; 1];
        let mut n = 0;
        usocket_wait_for_input(socks.as_ptr(), 1, -1, st.as_mut_ptr(), &mut n, null_mut())
    });
    ok(usocket_close(c));
}
