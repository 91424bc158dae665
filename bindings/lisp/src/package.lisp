;;;; The package: every name usocket 0.8 exports, plus a few of our own.

(defpackage #:usocket-cffi
  (:use #:common-lisp #:trivial-gray-streams)
  (:export
   ;; variables and constants
   #:*version* #:*wildcard-host* #:*auto-port* #:+max-datagram-packet-size+
   #:*remote-host* #:*remote-port* #:*backend* #:*default-event-base*
   #:*ipv6-only-p*
   ;; restarts of socket-connect and socket-listen (0.8.6)
   #:use-other-host #:use-other-port #:retry
   ;; sockets
   #:socket-connect #:socket-listen #:socket-accept #:socket-close
   #:socket-shutdown
   #:get-local-address #:get-peer-address #:get-local-port #:get-peer-port
   #:get-local-name #:get-peer-name
   #:socket-send #:socket-receive
   #:wait-for-input #:make-wait-list #:add-waiter #:remove-waiter
   #:remove-all-waiters
   #:with-connected-socket #:with-server-socket #:with-client-socket
   #:with-socket-listener
   #:usocket #:stream-usocket #:stream-server-usocket #:datagram-usocket
   #:socket #:socket-stream #:socket-state
   #:usocket-p #:stream-usocket-p #:stream-server-usocket-p #:datagram-usocket-p
   #:socket-option
   ;; servers
   #:socket-server #:default-udp-handler #:default-tcp-handler #:echo-tcp-handler
   ;; name service
   #:get-host-by-name #:get-hosts-by-name #:get-random-host-by-name
   #:host-to-hostname #:get-host-name
   ;; address helpers
   #:host-byte-order #:hbo-to-dotted-quad #:hbo-to-vector-quad
   #:vector-quad-to-dotted-quad #:dotted-quad-to-vector-quad
   #:vector-to-ipv6-host #:ipv6-host-to-vector #:ip= #:ip/=
   #:integer-to-octet-buffer #:octet-buffer-to-integer
   #:port-to-octet-buffer #:port-from-octet-buffer
   #:ip-to-octet-buffer #:ip-from-octet-buffer
   #:with-mapped-conditions
   ;; conditions
   #:socket-condition #:ns-condition #:socket-error #:ns-error
   #:unknown-condition #:ns-unknown-condition #:unknown-error #:ns-unknown-error
   #:socket-warning
   #:insufficient-implementation #:unsupported #:unimplemented
   #:ns-host-not-found-error #:ns-no-recovery-error #:ns-try-again-condition
   #:ns-try-again-error #:already-shutdown-error #:out-of-memory-error
   #:address-not-available-error #:host-down-error
   #:operation-not-supported-error #:network-down-error #:invalid-socket-error
   #:socket-type-not-supported-error #:deadline-timeout-error
   #:shutdown-error #:host-unreachable-error #:network-unreachable-error
   #:connection-aborted-error #:bad-file-descriptor-error
   #:protocol-not-supported-error #:connection-reset-error #:timeout-error
   #:address-in-use-error #:no-buffers-error #:invalid-socket-stream-error
   #:interrupted-condition #:invalid-argument-error
   #:operation-not-permitted-error #:network-reset-error
   #:connection-refused-error
   #:host-or-ip
   ;; our additions: the core's own codes as subclasses of usocket's classes
   #:invalid-handle-error #:wrong-kind-error #:internal-error
   #:usocket-errno #:socket-error-message #:socket-error-code
   #:core-version #:socket-fd
   ;; Unix-domain sockets
   #:get-local-path #:get-peer-path #:get-peer-credentials))
