//! The committed include/usocket.h must be exactly what the build generates.

#[test]
fn committed_header_matches_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/usocket.h")).expect("generated header");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/usocket.h")).expect("include/usocket.h");
    assert!(
        generated == committed,
        "include/usocket.h differs from the header generated from the Rust source: run `make header` and commit it"
    );
}

#[test]
fn header_declares_every_spec_function() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/usocket.h")).unwrap();
    for name in [
        "usocket_last_error", "usocket_last_os_error", "usocket_last_error_message", "usocket_error_name",
        "usocket_version", "usocket_address_format", "usocket_resolve", "usocket_connect_options_init",
        "usocket_connect", "usocket_listen_options_init", "usocket_listen", "usocket_accept", "usocket_close",
        "usocket_shutdown", "usocket_kind", "usocket_fd", "usocket_read", "usocket_write",
        "usocket_input_available", "usocket_send", "usocket_receive", "usocket_local_name", "usocket_peer_name",
        "usocket_get_option", "usocket_set_option", "usocket_wait_for_input", "usocket_wait_list_new",
        "usocket_wait_list_add", "usocket_wait_list_remove", "usocket_wait_list_wait", "usocket_wait_list_free",
        "usocket_server_options_init", "usocket_server_new", "usocket_server_run", "usocket_server_spawn",
        "usocket_server_stop",
    ] {
        assert!(
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")),
            "{name} missing from the header"
        );
    }
}
