//! Every number the C ABI promises, defined once. The core uses these, the
//! header is generated from them (cbindgen), and the bindings generate their
//! own copies from the header (each with a test that fails when one drifts).

/// `protocol`: a stream socket (TCP, or a Unix-domain stream socket).
pub const USOCKET_STREAM: i32 = 0;
/// `protocol`: a datagram socket (UDP, or a Unix-domain datagram socket).
pub const USOCKET_DATAGRAM: i32 = 1;

/// `usocket_shutdown`: no more reading.
pub const USOCKET_SHUT_INPUT: i32 = 1;
/// `usocket_shutdown`: no more writing (sends FIN).
pub const USOCKET_SHUT_OUTPUT: i32 = 2;
/// `usocket_shutdown`: both.
pub const USOCKET_SHUT_BOTH: i32 = 3;

/// `usocket_kind`: a connected stream socket (stream-usocket).
pub const USOCKET_KIND_STREAM: i32 = 0;
/// `usocket_kind`: a listening stream socket (stream-server-usocket).
pub const USOCKET_KIND_STREAM_SERVER: i32 = 1;
/// `usocket_kind`: a datagram socket (datagram-usocket).
pub const USOCKET_KIND_DATAGRAM: i32 = 2;

/// `usocket_wait_for_input` state: not ready.
pub const USOCKET_STATE_NONE: u8 = 0;
/// `usocket_wait_for_input` state: a read (or accept) would not block.
pub const USOCKET_STATE_READ: u8 = 1;

/// Option: receive timeout (SO_RCVTIMEO) in ms, 0 for none.
pub const USOCKET_OPT_RECEIVE_TIMEOUT: i32 = 0;
/// Option: send timeout (SO_SNDTIMEO) in ms, 0 for none.
pub const USOCKET_OPT_SEND_TIMEOUT: i32 = 1;
/// Option: TCP_NODELAY, 0 or 1 (stream sockets only).
pub const USOCKET_OPT_TCP_NODELAY: i32 = 2;
/// Option: SO_REUSEADDR, 0 or 1.
pub const USOCKET_OPT_REUSE_ADDRESS: i32 = 3;
/// Option: SO_KEEPALIVE, 0 or 1.
pub const USOCKET_OPT_KEEPALIVE: i32 = 4;
/// Option: SO_BROADCAST, 0 or 1.
pub const USOCKET_OPT_BROADCAST: i32 = 5;
/// Option: SO_RCVBUF in bytes (Linux reports twice what was set).
pub const USOCKET_OPT_RECEIVE_BUFFER: i32 = 6;
/// Option: SO_SNDBUF in bytes (Linux reports twice what was set).
pub const USOCKET_OPT_SEND_BUFFER: i32 = 7;

/// `usocket_address.family`: IPv4.
pub const USOCKET_FAMILY_IPV4: u8 = 4;
/// `usocket_address.family`: IPv6.
pub const USOCKET_FAMILY_IPV6: u8 = 6;
/// `usocket_address.family` of a Unix-domain peer (zero octets, port 0).
pub const USOCKET_FAMILY_LOCAL: u8 = 0;

/// The largest datagram `usocket_send` accepts: 65,535 less the IPv4 and
/// UDP headers, 65507 bytes.
pub const USOCKET_MAX_DATAGRAM_PACKET_SIZE: usize = 65507;

/// The longest string `usocket_address_format` writes, with its NUL.
pub const USOCKET_ADDRESS_STRLEN: usize = 46;

/// The longest Unix-domain path, in bytes without its NUL, that fits in
/// `sun_path` (an abstract `@name` counts its `@`).
pub const USOCKET_LOCAL_PATH_MAX: usize = 107;

/// The most sockets one `usocket_wait_for_input` call takes.
pub const USOCKET_WAIT_MAX: usize = 1 << 20;

/// The longest timeout any call or option takes, in ms: 2^31-1 (about 24.8
/// days, what poll(2) can wait).
pub const USOCKET_MAX_TIMEOUT_MS: i64 = 2147483647;

/// The slice, in ms, in which bindings cut a blocking call (with the `_for`
/// calls and `usocket_write_some`) so their runtime can interrupt it: the
/// same in every binding.
pub const USOCKET_INTERRUPT_SLICE_MS: i64 = 50;

/// `usocket_listen_options.backlog` by default.
pub const USOCKET_DEFAULT_BACKLOG: i32 = 5;

/// `usocket_server_options.backlog` by default: SOMAXCONN (the kernel caps
/// it at net.core.somaxconn), so a burst of connections is not dropped.
pub const USOCKET_SERVER_DEFAULT_BACKLOG: i32 = 4096;

/// `usocket_server_options.timeout_ms` by default: how long one wait of a
/// UDP server's loop for a datagram lasts.
pub const USOCKET_SERVER_DEFAULT_TIMEOUT_MS: i64 = 1000;

// The kernel's values these mirror.
const _: () = assert!(USOCKET_SERVER_DEFAULT_BACKLOG == libc::SOMAXCONN);
const _: () = assert!(USOCKET_MAX_TIMEOUT_MS == i32::MAX as i64);
