//! No descriptor or handle is leaked by 10,000 connect/close cycles with
//! errors mixed in. One test in its own process, so the counts are exact.

mod common;

use std::ffi::CString;
use std::ptr::null_mut;

use common::*;

#[test]
fn ten_thousand_cycles_with_errors_leak_nothing() {
    let (l, port) = listen("127.0.0.1", 128);
    let (dead, dead_port) = listen("127.0.0.1", 1);
    ok(usocket_close(dead));
    let fds_before = open_fds();
    let handles_before = usocket_open_handles();
    // Not UTF-8: 0xff never occurs in UTF-8, and "\xc3(" is a cut sequence.
    let bad_utf8 = CString::new(vec![b'1', b'2', b'7', 0xff, b'.', 0xc3, b'(']).unwrap();
    assert!(std::str::from_utf8(bad_utf8.as_bytes()).is_err());
    for i in 0..10_000u32 {
        match i % 10 {
            // Refused.
            3 => expect_err(try_connect("127.0.0.1", dead_port, &connect_opts()).unwrap_err(), USOCKET_ERR_CONNECTION_REFUSED),
            // A bad protocol; a non-UTF-8 host (with good options, so the
            // host is what is refused), local host and listen host.
            5 => {
                let mut o = connect_opts();
                o.protocol = 9;
                let mut h = 0;
                let good = CString::new("127.0.0.1").unwrap();
                expect_err(usocket_connect(good.as_ptr(), port, &o, &mut h), USOCKET_ERR_INVALID_ARGUMENT);
                expect_err(usocket_connect(bad_utf8.as_ptr(), port, &connect_opts(), &mut h), USOCKET_ERR_INVALID_ARGUMENT);
                assert!(last_message().contains("UTF-8"), "{}", last_message());
                let mut o = connect_opts();
                o.local_host = bad_utf8.as_ptr();
                expect_err(usocket_connect(good.as_ptr(), port, &o, &mut h), USOCKET_ERR_INVALID_ARGUMENT);
                assert!(last_message().contains("UTF-8"), "{}", last_message());
                expect_err(usocket_listen(bad_utf8.as_ptr(), 0, std::ptr::null(), &mut h), USOCKET_ERR_INVALID_ARGUMENT);
                let mut n = 0;
                expect_err(usocket_resolve(bad_utf8.as_ptr(), null_mut(), 0, &mut n), USOCKET_ERR_INVALID_ARGUMENT);
            }
            _ => {
                let c = connect(if i % 2 == 0 { "127.0.0.1" } else { "localhost" }, port);
                let s = accept(l);
                if i % 7 == 0 {
                    write_all(c, b"x");
                    assert_eq!(read_exact(s, 1), b"x");
                }
                if i % 13 == 0 {
                    // A timed-out read, then close.
                    ok(usocket_set_option(s, USOCKET_OPT_RECEIVE_TIMEOUT, 1));
                    expect_err(read_some(s, 4).unwrap_err(), USOCKET_ERR_TIMEOUT);
                }
                ok(usocket_close(c));
                ok(usocket_close(s));
                // Double close and use after close.
                expect_err(usocket_close(c), USOCKET_ERR_INVALID_HANDLE);
                let mut n = 0;
                expect_err(usocket_write(c, b"x".as_ptr(), 1, &mut n), USOCKET_ERR_INVALID_HANDLE);
            }
        }
        if i % 1000 == 0 {
            // Wait lists come and go too.
            let mut w = 0;
            ok(usocket_wait_list_new(&mut w));
            let u = udp("127.0.0.1", 0);
            ok(usocket_wait_list_add(w, u));
            let mut ready = [0u64; 1];
            let mut n = 0;
            ok(usocket_wait_list_wait(w, 0, ready.as_mut_ptr(), 1, &mut n, null_mut()));
            ok(usocket_close(u));
            ok(usocket_close(w));
        }
    }
    assert_eq!(usocket_open_handles(), handles_before, "handles leaked");
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    ok(usocket_close(l));
}
