//! Name-service failures, in a network and mount namespace of their own so
//! no query ever leaves the machine: /etc/nsswitch.conf says "hosts: files"
//! and /etc/hosts is ours. The test re-runs itself inside `unshare`.

mod common;

use std::ffi::CString;
use std::process::Command;

use common::*;

const CHILD_ENV: &str = "USOCKET_NAMESPACE_CHILD";

fn run_in_namespace(test: &str) {
    let dir = std::env::temp_dir().join(format!("usocket-ns-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nsswitch.conf"), "hosts: files\n").unwrap();
    // "twofamilies" resolves to ::1 first, then 127.0.0.1; "sixonly" to ::1.
    std::fs::write(
        dir.join("hosts"),
        "::1 twofamilies\n127.0.0.1 twofamilies\n127.0.0.1 localhost\n::1 sixonly\n",
    )
    .unwrap();
    let me = std::env::current_exe().unwrap();
    let script = format!(
        "mount --bind {d}/nsswitch.conf /etc/nsswitch.conf && mount --bind {d}/hosts /etc/hosts && ip link set lo up && exec {exe} --exact {test} --nocapture",
        d = dir.display(),
        exe = me.display(),
    );
    let out = Command::new("unshare").args(["-n", "-m", "sh", "-c", &script]).env(CHILD_ENV, "1").output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run unshare (root and util-linux needed): {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child failed:\n{text}");
}

fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

#[test]
fn unknown_host() {
    if !in_child() {
        return run_in_namespace("unknown_host");
    }
    for host in ["no-such-host.invalid", "nowhere"] {
        let rc = try_connect(host, 80, &connect_opts()).unwrap_err();
        expect_err(rc, USOCKET_ERR_NS_HOST_NOT_FOUND);
        assert_eq!(name(rc), "ns-host-not-found-error");
        let h = CString::new(host).unwrap();
        let mut n = 0;
        expect_err(usocket_resolve(h.as_ptr(), std::ptr::null_mut(), 0, &mut n), USOCKET_ERR_NS_HOST_NOT_FOUND);
    }
}

#[test]
fn a_name_tries_each_address_in_order() {
    if !in_child() {
        return run_in_namespace("a_name_tries_each_address_in_order");
    }
    // Listen on IPv4 only: the IPv6 address is refused, the IPv4 one connects.
    let (l, port) = listen("127.0.0.1", 4);
    let h = CString::new("twofamilies").unwrap();
    let mut out = [usocket_address { family: 0, octets: [0; 16], port: 0 }; 4];
    let mut n = 0;
    ok(usocket_resolve(h.as_ptr(), out.as_mut_ptr(), 4, &mut n));
    assert_eq!(n, 2);
    assert_eq!((format(&out[0]), format(&out[1])), ("::1".to_string(), "127.0.0.1".to_string()));
    let c = connect("twofamilies", port);
    let s = accept(l);
    assert_eq!(format(&local_name(c)), "127.0.0.1");
    for x in [c, s, l] {
        ok(usocket_close(x));
    }
}

#[test]
fn host_by_name_takes_the_first_ipv4_address_else_the_first_ipv6() {
    if !in_child() {
        return run_in_namespace("host_by_name_takes_the_first_ipv4_address_else_the_first_ipv6");
    }
    let by_name = |host: &str| {
        let h = CString::new(host).unwrap();
        let mut a = usocket_address { family: 9, octets: [0xEE; 16], port: 7 };
        (usocket_host_by_name(h.as_ptr(), &mut a), a)
    };
    // The resolver gives ::1 first; get-host-by-name takes the IPv4 address.
    let (rc, a) = by_name("twofamilies");
    ok(rc);
    assert_eq!((format(&a), a.family, a.port), ("127.0.0.1".to_string(), 4, 0));
    let (rc, a) = by_name("sixonly");
    ok(rc);
    assert_eq!((format(&a), a.family, a.port), ("::1".to_string(), 6, 0));
    let (rc, a) = by_name("no-such-host.invalid");
    expect_err(rc, USOCKET_ERR_NS_HOST_NOT_FOUND);
    assert_eq!((a.family, a.port), (9, 7), "*out written by a failed call");
}

#[test]
fn unreachable_networks_map_to_network_unreachable() {
    if !in_child() {
        return run_in_namespace("unreachable_networks_map_to_network_unreachable");
    }
    // Only loopback is up in the namespace: no route to anywhere else, so
    // connect fails at once with ENETUNREACH and nothing is sent.
    for host in ["192.0.2.1", "2001:db8::1"] {
        let rc = try_connect(host, 9, &connect_opts()).unwrap_err();
        expect_err(rc, USOCKET_ERR_NETWORK_UNREACHABLE);
        assert_eq!(usocket_last_os_error(), libc::ENETUNREACH, "{host}");
        assert_eq!(name(rc), "network-unreachable-error");
    }
}
