;;;; Conditions: the class of every code, and each class we can provoke on
;;;; loopback. Those that need another network setup (unknown host, no route,
;;;; a non-root user) run in a child process in a network namespace
;;;; (tests/namespace-conditions.lisp, driven from here).

(in-package #:usocket-cffi-tests)

(deftest condition-hierarchy
  (dolist (class '(address-in-use-error address-not-available-error bad-file-descriptor-error
                   connection-refused-error connection-aborted-error connection-reset-error
                   invalid-argument-error no-buffers-error operation-not-supported-error
                   operation-not-permitted-error protocol-not-supported-error
                   socket-type-not-supported-error network-unreachable-error network-down-error
                   network-reset-error host-down-error host-unreachable-error shutdown-error
                   timeout-error deadline-timeout-error invalid-socket-error
                   invalid-socket-stream-error unknown-error))
    (is (subtypep class 'socket-error) (format nil "~A is a socket-error" class))
    (is (subtypep class 'error)))
  (is (subtypep 'socket-error 'socket-condition))
  (is (subtypep 'ns-error 'ns-condition))
  (is (subtypep 'ns-error 'error))
  (dolist (class '(ns-host-not-found-error ns-no-recovery-error ns-unknown-error))
    (is (subtypep class 'ns-error)))
  (is (subtypep 'ns-try-again-condition 'ns-condition))
  (is (not (subtypep 'ns-try-again-condition 'error)) "as in usocket")
  (is (subtypep 'unknown-condition 'socket-condition))
  (is (subtypep 'ns-unknown-condition 'ns-condition))
  (is (subtypep 'interrupted-condition 'socket-condition))
  (is (subtypep 'socket-warning 'warning))
  (is (subtypep 'unsupported 'insufficient-implementation))
  (is (subtypep 'unimplemented 'insufficient-implementation))
  (is (subtypep 'invalid-handle-error 'bad-file-descriptor-error))
  (is (subtypep 'wrong-kind-error 'operation-not-supported-error))
  (is (subtypep 'internal-error 'unknown-error)))

(deftest every-code-maps-to-its-class
  ;; The core names each code after a usocket condition class; we map each
  ;; code to the class of that name.
  (loop for code from -1 downto -29
        do (let ((name (usocket-cffi::%error-name code))
                 (class (usocket-cffi::status-condition-class code)))
             ;; -26 is usocket 0.8.9's ns-try-again-error (also 0.8.3's
             ;; ns-try-again-condition, the core's name for it).
             (is-equal (if (= code usocket-cffi::+err-ns-try-again+) "ns-try-again-error" name)
                       (string-downcase (symbol-name class)))
             (is (find-class class nil))
             (let ((c (usocket-cffi::make-status-condition code "message" 0)))
               (is (typep c class))
               (is-equal code (socket-error-code c))
               (is (search "message" (princ-to-string c))))))
  (is-equal 'unknown-error (usocket-cffi::status-condition-class -999))
  (is-equal "unknown-error" (usocket-cffi::%error-name -999)))

(deftest ns-try-again-is-signalled-with-error
  (let ((c (block got
             (handler-bind ((ns-try-again-condition (lambda (c) (return-from got c))))
               (usocket-cffi::signal-status usocket-cffi::+err-ns-try-again+ "try again" 0
                                           :host "somewhere")))))
    (is (typep c 'ns-try-again-condition))
    (is-equal "somewhere" (host-or-ip c)))
  ;; It is 0.8.9's ns-try-again-error: an error, and 0.8.3's condition too.
  (let ((c (signals error (usocket-cffi::signal-status usocket-cffi::+err-ns-try-again+
                                                       "try again" 0))))
    (is (typep c 'ns-try-again-error))
    (is (typep c 'ns-error))
    (is (typep c 'ns-try-again-condition))))

(deftest provoke-connection-refused
  (let ((port (with-sockets (probe)
                (setf probe (socket-listen "127.0.0.1" 0))
                (get-local-port probe))))
    (let ((c (signals connection-refused-error (socket-connect "127.0.0.1" port))))
      (is (search "refused" (string-downcase (princ-to-string c))))
      (is (search "refused" (string-downcase (socket-error-message c))))
      (is-equal 111 (usocket-errno c)))
    (signals connection-refused-error (socket-connect "::1" port))))

(deftest provoke-address-in-use
  (with-sockets (a)
    (setf a (with-mapped-conditions (nil "127.0.0.1") (socket-listen "127.0.0.1" 0)))
    (let ((c (signals address-in-use-error (socket-listen "127.0.0.1" (get-local-port a)))))
      (is (typep c 'socket-error))
      (is (null (usocket-cffi::usocket-socket c))))))

(deftest provoke-address-not-available
  (signals address-not-available-error (socket-listen "192.0.2.1" 0))
  (with-sockets (listener)
    (setf listener (socket-listen "127.0.0.1" 0))
    (signals address-not-available-error
             (socket-connect "127.0.0.1" (get-local-port listener) :local-host "192.0.2.1"))))

(deftest provoke-timeout
  (with-pair (client server)
    (setf (socket-option server :receive-timeout) 0.2)
    (let ((c (signals timeout-error (read-line (socket-stream server)))))
      (is (eq server (usocket-cffi::usocket-socket c))))
    ;; The stream is still usable after a timeout.
    (send-line (socket-stream client) "after")
    (is-equal "after" (read-line (socket-stream server))))
  (with-sockets (listener)
    (setf listener (socket-listen "127.0.0.1" 0))
    (setf (socket-option listener :receive-timeout) 0.2)
    (signals timeout-error (socket-accept listener))))

(deftest provoke-connect-timeout
  ;; A listener whose queue is full drops further SYNs: connect times out.
  (with-sockets (listener)
    (setf listener (socket-listen "127.0.0.1" 0 :backlog 0))
    (let ((clients '()))
      (unwind-protect
           (let ((c (block filling
                      (loop repeat 64
                            do (handler-case
                                   (push (socket-connect "127.0.0.1" (get-local-port listener)
                                                         :timeout 0.3)
                                         clients)
                                 (timeout-error (c) (return-from filling c))))
                      nil)))
             (is (typep c 'timeout-error) "a connect to a full queue times out"))
        (mapc #'socket-close clients)))))

(deftest provoke-shutdown-error
  (with-pair (client server :element-type '(unsigned-byte 8))
    (socket-close server)
    ;; The first write may still be accepted; later ones fail (EPIPE).
    (let ((c (block wrote
               (handler-case
                   (loop repeat 200
                         do (write-sequence (make-octets 65536) (socket-stream client))
                            (finish-output (socket-stream client)))
                 (socket-error (c) (return-from wrote c))))))
      (is (or (typep c 'shutdown-error) (typep c 'connection-reset-error))
          "writing to a closed peer signals shutdown-error (or a reset)"))))

(deftest provoke-connection-reset
  (with-pair (client server :element-type '(unsigned-byte 8))
    ;; Closing with unread input sends a reset.
    (write-sequence (make-octets 100 1) (socket-stream client))
    (finish-output (socket-stream client))
    (loop repeat 100 until (wait-for-input server :timeout 0.1 :ready-only t))
    (socket-close server)
    (signals connection-reset-error
             (loop repeat 100 do (read-byte (socket-stream client))))))

(deftest provoke-invalid-argument
  (with-pair (client server)
    (signals invalid-argument-error (setf (socket-option client :send-timeout) (expt 2 40)))
    (signals invalid-argument-error (usocket-cffi::%shutdown (socket client) 99))))

(deftest provoke-invalid-handle-and-wrong-kind
  (multiple-value-bind (client server listener) (connected-pair)
    (socket-close server)
    (signals invalid-handle-error (socket-shutdown server :io))
    (signals wrong-kind-error (get-peer-name listener))
    (signals wrong-kind-error (socket-receive (make-instance 'datagram-usocket
                                                             :socket (socket client))
                                              nil nil))
    (socket-close client)
    (socket-close listener)))

(deftest provoke-protocol-errors
  (signals type-error (socket-connect "127.0.0.1" 80 :protocol :raw))
  (signals invalid-argument-error (socket-connect "127.0.0.1" 70000))
  (signals type-error (socket-connect "127.0.0.1" "80"))
  (signals type-error (socket-connect '(1 2) 80)))

(defparameter *namespace-classes*
  '(ns-host-not-found-error host-unreachable-error network-unreachable-error
    operation-not-permitted-error ns-try-again-condition)
  "Provoked in a network namespace by tests/namespace-conditions.lisp.")

(defun unshare-available-p ()
  (zerop (nth-value 1 (run-program-output "unshare" '("-n" "-m" "true")))))

(deftest conditions-in-a-network-namespace
  ;; Unknown hosts only with "hosts: files" and no network at all; a no-route
  ;; address, an unreachable route; a non-root user binding port 81; a
  ;; resolver pointed at nothing for "try again".
  (unless (unshare-available-p)
    (fail "unshare -n -m is not available: cannot run the namespace tests"))
  (let ((script (namestring (merge-pathnames "tests/namespace-conditions.sh" *lisp-dir*))))
    (multiple-value-bind (output code) (run-program-output "sh" (list script))
      (dolist (class *namespace-classes*)
        (is (search (format nil "ok ~(~A~)" class) output)
            (format nil "~(~A~) provoked (output: ~A)" class output)))
      ;; And the resolver's order, with a private /etc/hosts.
      (dolist (check '("get-hosts-by-name order" "get-host-by-name: first IPv4"
                       "get-host-by-name: IPv6 when no IPv4" "*ipv6-only-p*"))
        (is (search (format nil "ok ~A" check) output)
            (format nil "~A (output: ~A)" check output)))
      (is (zerop code) (format nil "namespace script failed: ~A" output)))))
