;;;; The core's constants, generated from include/usocket.h by gen-constants.lisp.
;;;; Do not edit: run `sbcl --script bindings/lisp/gen-constants.lisp`.

(in-package #:usocket-cffi)

(defconstant +stream+ 0
  "USOCKET_STREAM: `protocol`: a stream socket (TCP, or a Unix-domain stream socket).")

(defconstant +datagram+ 1
  "USOCKET_DATAGRAM: `protocol`: a datagram socket (UDP, or a Unix-domain datagram socket).")

(defconstant +shut-input+ 1
  "USOCKET_SHUT_INPUT: `usocket_shutdown`: no more reading.")

(defconstant +shut-output+ 2
  "USOCKET_SHUT_OUTPUT: `usocket_shutdown`: no more writing (sends FIN).")

(defconstant +shut-both+ 3
  "USOCKET_SHUT_BOTH: `usocket_shutdown`: both.")

(defconstant +kind-stream+ 0
  "USOCKET_KIND_STREAM: `usocket_kind`: a connected stream socket (stream-usocket).")

(defconstant +kind-stream-server+ 1
  "USOCKET_KIND_STREAM_SERVER: `usocket_kind`: a listening stream socket (stream-server-usocket).")

(defconstant +kind-datagram+ 2
  "USOCKET_KIND_DATAGRAM: `usocket_kind`: a datagram socket (datagram-usocket).")

(defconstant +state-none+ 0
  "USOCKET_STATE_NONE: `usocket_wait_for_input` state: not ready.")

(defconstant +state-read+ 1
  "USOCKET_STATE_READ: `usocket_wait_for_input` state: a read (or accept) would not block.")

(defconstant +opt-receive-timeout+ 0
  "USOCKET_OPT_RECEIVE_TIMEOUT: Option: receive timeout (SO_RCVTIMEO) in ms, 0 for none.")

(defconstant +opt-send-timeout+ 1
  "USOCKET_OPT_SEND_TIMEOUT: Option: send timeout (SO_SNDTIMEO) in ms, 0 for none.")

(defconstant +opt-tcp-nodelay+ 2
  "USOCKET_OPT_TCP_NODELAY: Option: TCP_NODELAY, 0 or 1 (stream sockets only).")

(defconstant +opt-reuse-address+ 3
  "USOCKET_OPT_REUSE_ADDRESS: Option: SO_REUSEADDR, 0 or 1.")

(defconstant +opt-keepalive+ 4
  "USOCKET_OPT_KEEPALIVE: Option: SO_KEEPALIVE, 0 or 1.")

(defconstant +opt-broadcast+ 5
  "USOCKET_OPT_BROADCAST: Option: SO_BROADCAST, 0 or 1.")

(defconstant +opt-receive-buffer+ 6
  "USOCKET_OPT_RECEIVE_BUFFER: Option: SO_RCVBUF in bytes (Linux reports twice what was set).")

(defconstant +opt-send-buffer+ 7
  "USOCKET_OPT_SEND_BUFFER: Option: SO_SNDBUF in bytes (Linux reports twice what was set).")

(defconstant +family-ipv4+ 4
  "USOCKET_FAMILY_IPV4: `usocket_address.family`: IPv4.")

(defconstant +family-ipv6+ 6
  "USOCKET_FAMILY_IPV6: `usocket_address.family`: IPv6.")

(defconstant +family-local+ 0
  "USOCKET_FAMILY_LOCAL: `usocket_address.family` of a Unix-domain peer (zero octets, port 0).")

(defconstant +max-datagram-packet-size+ 65507
  "USOCKET_MAX_DATAGRAM_PACKET_SIZE: The largest datagram `usocket_send` accepts: 65,535 less the IPv4 and UDP headers, 65507 bytes.")

(defconstant +address-strlen+ 46
  "USOCKET_ADDRESS_STRLEN: The longest string `usocket_address_format` writes, with its NUL.")

(defconstant +local-path-max+ 107
  "USOCKET_LOCAL_PATH_MAX: The longest Unix-domain path, in bytes without its NUL, that fits in `sun_path` (an abstract `@name` counts its `@`).")

(defconstant +wait-max+ 1048576
  "USOCKET_WAIT_MAX: The most sockets one `usocket_wait_for_input` call takes.")

(defconstant +max-timeout-ms+ 2147483647
  "USOCKET_MAX_TIMEOUT_MS: The longest timeout any call or option takes, in ms: 2^31-1 (about 24.8 days, what poll(2) can wait).")

(defconstant +interrupt-slice-ms+ 50
  "USOCKET_INTERRUPT_SLICE_MS: The slice, in ms, in which bindings cut a blocking call (with the `_for` calls and `usocket_write_some`) so their runtime can interrupt it: the same in every binding.")

(defconstant +default-backlog+ 5
  "USOCKET_DEFAULT_BACKLOG: `usocket_listen_options.backlog` by default.")

(defconstant +server-default-backlog+ 4096
  "USOCKET_SERVER_DEFAULT_BACKLOG: `usocket_server_options.backlog` by default: SOMAXCONN (the kernel caps it at net.core.somaxconn), so a burst of connections is not dropped.")

(defconstant +server-default-timeout-ms+ 1000
  "USOCKET_SERVER_DEFAULT_TIMEOUT_MS: `usocket_server_options.timeout_ms` by default: how long one wait of a UDP server's loop for a datagram lasts.")

(defconstant +ok+ 0
  "USOCKET_OK: Success.")

(defconstant +err-invalid-argument+ -1
  "USOCKET_ERR_INVALID_ARGUMENT: A NULL pointer, a non-UTF-8 string, a length that does not fit, an unknown enum value (\"invalid-argument-error\"; also EINVAL).")

(defconstant +err-invalid-handle+ -2
  "USOCKET_ERR_INVALID_HANDLE: A handle that is not, or no longer, a live object (\"invalid-handle-error\").")

(defconstant +err-wrong-kind+ -3
  "USOCKET_ERR_WRONG_KIND: The handle is of the wrong kind for the call: a stream call on a datagram socket and so on (\"wrong-kind-error\").")

(defconstant +err-internal+ -4
  "USOCKET_ERR_INTERNAL: A bug inside the library, such as a caught panic (\"internal-error\").")

(defconstant +err-unknown+ -5
  "USOCKET_ERR_UNKNOWN: An OS error with no more precise class; `usocket_last_os_error` tells which (\"unknown-error\").")

(defconstant +err-address-in-use+ -6
  "USOCKET_ERR_ADDRESS_IN_USE: EADDRINUSE (\"address-in-use-error\").")

(defconstant +err-address-not-available+ -7
  "USOCKET_ERR_ADDRESS_NOT_AVAILABLE: EADDRNOTAVAIL (\"address-not-available-error\").")

(defconstant +err-bad-file-descriptor+ -8
  "USOCKET_ERR_BAD_FILE_DESCRIPTOR: EBADF (\"bad-file-descriptor-error\").")

(defconstant +err-connection-refused+ -9
  "USOCKET_ERR_CONNECTION_REFUSED: ECONNREFUSED (\"connection-refused-error\").")

(defconstant +err-connection-aborted+ -10
  "USOCKET_ERR_CONNECTION_ABORTED: ECONNABORTED (\"connection-aborted-error\").")

(defconstant +err-connection-reset+ -11
  "USOCKET_ERR_CONNECTION_RESET: ECONNRESET (\"connection-reset-error\").")

(defconstant +err-no-buffers+ -12
  "USOCKET_ERR_NO_BUFFERS: ENOBUFS, ENOMEM (\"no-buffers-error\").")

(defconstant +err-operation-not-supported+ -13
  "USOCKET_ERR_OPERATION_NOT_SUPPORTED: EOPNOTSUPP (\"operation-not-supported-error\").")

(defconstant +err-operation-not-permitted+ -14
  "USOCKET_ERR_OPERATION_NOT_PERMITTED: EPERM, EACCES (\"operation-not-permitted-error\").")

(defconstant +err-protocol-not-supported+ -15
  "USOCKET_ERR_PROTOCOL_NOT_SUPPORTED: EPROTONOSUPPORT (\"protocol-not-supported-error\").")

(defconstant +err-socket-type-not-supported+ -16
  "USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED: ESOCKTNOSUPPORT (\"socket-type-not-supported-error\").")

(defconstant +err-network-unreachable+ -17
  "USOCKET_ERR_NETWORK_UNREACHABLE: ENETUNREACH (\"network-unreachable-error\").")

(defconstant +err-network-down+ -18
  "USOCKET_ERR_NETWORK_DOWN: ENETDOWN (\"network-down-error\").")

(defconstant +err-network-reset+ -19
  "USOCKET_ERR_NETWORK_RESET: ENETRESET (\"network-reset-error\").")

(defconstant +err-host-down+ -20
  "USOCKET_ERR_HOST_DOWN: EHOSTDOWN (\"host-down-error\").")

(defconstant +err-host-unreachable+ -21
  "USOCKET_ERR_HOST_UNREACHABLE: EHOSTUNREACH (\"host-unreachable-error\").")

(defconstant +err-shutdown+ -22
  "USOCKET_ERR_SHUTDOWN: ESHUTDOWN, EPIPE: writing after the connection was shut down or the peer went away (\"shutdown-error\").")

(defconstant +err-timeout+ -23
  "USOCKET_ERR_TIMEOUT: ETIMEDOUT, or a read, write, accept, receive or connect that ran out of time (\"timeout-error\").")

(defconstant +err-invalid-socket+ -24
  "USOCKET_ERR_INVALID_SOCKET: ENOTSOCK: the descriptor is not a socket (\"invalid-socket-error\").")

(defconstant +err-ns-host-not-found+ -25
  "USOCKET_ERR_NS_HOST_NOT_FOUND: The name does not exist: EAI_NONAME, EAI_NODATA (\"ns-host-not-found-error\").")

(defconstant +err-ns-try-again+ -26
  "USOCKET_ERR_NS_TRY_AGAIN: The name service failed for now; trying again may work: EAI_AGAIN (\"ns-try-again-condition\").")

(defconstant +err-ns-no-recovery+ -27
  "USOCKET_ERR_NS_NO_RECOVERY: The name service failed for good: EAI_FAIL (\"ns-no-recovery-error\").")

(defconstant +err-ns-unknown+ -28
  "USOCKET_ERR_NS_UNKNOWN: Any other name-service failure (\"ns-unknown-error\").")

(defconstant +err-invalid-socket-stream+ -29
  "USOCKET_ERR_INVALID_SOCKET_STREAM: A stream that is not, or no longer, usable (\"invalid-socket-stream-error\").")
