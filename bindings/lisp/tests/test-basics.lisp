;;;; Creating, naming, options, host forms, address helpers, name service.

(in-package #:usocket-cffi-tests)

(deftest library-loaded
  (is (stringp (core-version)))
  (is (= 3 (count #\. (concatenate 'string (core-version) ".")))))

(defun check-host-form (listen-host connect-host expected-address)
  (with-sockets (listener client server)
    (setf listener (socket-listen listen-host 0 :reuse-address t))
    (let ((port (get-local-port listener)))
      (is (typep port '(integer 1 65535)))
      (setf client (socket-connect connect-host port))
      (setf server (socket-accept listener))
      (is (stream-usocket-p client))
      (is (stream-usocket-p server))
      (is-equal expected-address (get-local-address listener))
      (is-equal expected-address (get-peer-address client))
      (is-equal port (get-peer-port client))
      (is-equal (get-local-port client) (get-peer-port server))
      (multiple-value-bind (address port2) (get-peer-name client)
        (is (typep address '(simple-array (unsigned-byte 8) (*))))
        (is-equal expected-address address)
        (is-equal port port2))
      (multiple-value-bind (address lport) (get-local-name client)
        (is-equal expected-address address)
        (is-equal lport (get-peer-port server)))
      (is-equal expected-address (get-local-address server))
      (is-equal expected-address (get-peer-address server))
      ;; A byte each way proves the connection.
      (write-byte 42 (socket-stream client))
      (force-output (socket-stream client))
      (is-equal 42 (read-byte (socket-stream server))))))

(deftest ipv4-host-forms
  (let ((v4 (octets 127 0 0 1)))
    (check-host-form "127.0.0.1" "127.0.0.1" v4)
    (check-host-form #(127 0 0 1) #(127 0 0 1) v4)
    (check-host-form v4 v4 v4)
    (check-host-form 2130706433 2130706433 v4)
    (check-host-form "127.0.0.1" "localhost" v4)
    (check-host-form (dotted-quad-to-vector-quad "127.0.0.1") (host-byte-order "127.0.0.1") v4)))

(deftest ipv6-host-forms
  (let ((v6 (ipv6-host-to-vector "::1")))
    (is-equal 16 (length v6))
    (check-host-form "::1" "::1" v6)
    (check-host-form "[::1]" "[::1]" v6)
    (check-host-form v6 v6 v6)
    (check-host-form (coerce v6 'simple-vector) "::1" v6)
    (check-host-form "::1" "0:0:0:0:0:0:0:1" v6)))

(deftest wildcard-and-auto-port
  (is-equal 0 *auto-port*)
  (is (equalp #(0 0 0 0) *wildcard-host*))
  (with-sockets (listener client server)
    (setf listener (socket-listen *wildcard-host* *auto-port* :reuse-address t))
    (is-equal (octets 0 0 0 0) (get-local-address listener))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)))
    (setf server (socket-accept listener))
    (is (stream-usocket-p server)))
  (with-sockets (listener)
    (setf listener (socket-listen nil 0))
    (is-equal (octets 0 0 0 0) (get-local-address listener))))

(deftest listen-options
  (with-sockets (a b)
    (setf a (socket-listen "127.0.0.1" 0 :reuseaddress t :backlog 1))
    (is (socket-option a :reuse-address))
    (setf b (socket-listen "127.0.0.1" 0 :reuse-address nil :backlog 200))
    (is (not (socket-option b :reuse-address)))
    ;; reuse-address wins over the old reuseaddress when both are given.
    (socket-close b)
    (setf b (socket-listen "127.0.0.1" 0 :reuseaddress t :reuse-address nil))
    (is (not (socket-option b :reuse-address)))
    (is (stream-server-usocket-p a))
    (is-equal 'character (usocket-cffi::element-type a))))

(deftest accept-element-types
  (with-sockets (listener c1 c2 s1 s2)
    (setf listener (socket-listen "127.0.0.1" 0 :element-type '(unsigned-byte 8)))
    (setf c1 (socket-connect "127.0.0.1" (get-local-port listener)))
    (setf s1 (socket-accept listener))
    (is (equal '(unsigned-byte 8) (stream-element-type (socket-stream s1))))
    (setf c2 (socket-connect "127.0.0.1" (get-local-port listener)))
    (setf s2 (socket-accept listener :element-type 'character))
    (is-equal 'character (stream-element-type (socket-stream s2)))
    (is-equal 'character (stream-element-type (socket-stream c2)))))

(deftest connect-local-host-and-port
  (with-sockets (listener client server probe)
    (setf listener (socket-listen "127.0.0.1" 0 :reuse-address t))
    ;; A free port for the client to bind: take one and give it back.
    (setf probe (socket-listen "127.0.0.1" 0))
    (let ((local-port (get-local-port probe)))
      (socket-close probe)
      (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                   :local-host "127.0.0.1" :local-port local-port))
      (is-equal local-port (get-local-port client))
      (setf server (socket-accept listener))
      (is-equal local-port (get-peer-port server))
      (is-equal (octets 127 0 0 1) (get-local-address client)))))

(deftest connect-timeout-is-read-timeout
  (with-sockets (listener client)
    (setf listener (socket-listen "127.0.0.1" 0))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener) :timeout 0.25))
    (is-equal 0.25 (socket-option client :receive-timeout))
    (multiple-value-bind (seconds)
        (timed (signals timeout-error (read-byte (socket-stream client))))
      (is (<= 0.2 seconds 1.5) "read timed out after about 0.25 s"))))

(deftest nodelay-default-and-off
  (with-pair (client server)
    (is (socket-option client :tcp-nodelay) "nodelay is on by default")
    (is (socket-option server :tcp-nodelay) "accepted sockets have nodelay on"))
  (with-sockets (listener client)
    (setf listener (socket-listen "127.0.0.1" 0))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener) :nodelay nil))
    (is (not (socket-option client :tcp-nodelay)))
    (socket-close client)
    (setf client (socket-connect "127.0.0.1" (get-local-port listener) :nodelay :if-supported))
    (is (socket-option client :tcp-nodelay))))

(deftest deadline-is-unsupported-but-continuable
  (with-sockets (listener client)
    (setf listener (socket-listen "127.0.0.1" 0))
    (let ((seen nil))
      (setf client (handler-bind ((unsupported (lambda (c)
                                                 (setf seen c)
                                                 (continue))))
                     (socket-connect "127.0.0.1" (get-local-port listener) :deadline 10)))
      (is (typep seen 'insufficient-implementation))
      (is (stream-usocket-p client)))
    (socket-close client)
    (setf client (usocket-cffi::ignore-unsupported-warnings
                   (socket-connect "127.0.0.1" (get-local-port listener) :deadline 10)))
    (is (stream-usocket-p client))))

(deftest socket-options-all-keys
  (with-pair (client server)
    (is (null (socket-option client :receive-timeout)))
    (setf (socket-option client :receive-timeout) 2)
    (is-equal 2 (socket-option client :receive-timeout))
    (setf (socket-option client :receive-timeout) nil)
    (is (null (socket-option client :receive-timeout)))
    (is (null (socket-option client :send-timeout)))
    (setf (socket-option client :send-timeout) 3)
    (is-equal 3 (socket-option client :send-timeout))
    (setf (socket-option client :tcp-nodelay) nil)
    (is (not (socket-option client :tcp-nodelay)))
    (setf (socket-option client :tcp-no-delay) t)
    (is (socket-option client :tcp-no-delay))
    (setf (socket-option client :keep-alive) t)
    (is (socket-option client :keep-alive))
    (setf (socket-option client :keep-alive) nil)
    (is (not (socket-option client :keep-alive)))
    (setf (socket-option client :reuse-address) t)
    (is (socket-option client :reuse-address))
    (setf (socket-option client :receive-buffer) 65536)
    (is (<= 65536 (socket-option client :receive-buffer)))
    (setf (socket-option client :send-buffer) 65536)
    (is (<= 65536 (socket-option client :send-buffer)))
    ;; usocket signals UNIMPLEMENTED for an unknown keyword; we follow the
    ;; core and the other bindings (tests/test-arguments.lisp).
    (signals invalid-argument-error (socket-option client :no-such-option))
    (signals invalid-argument-error (setf (socket-option client :no-such-option) 1))
    (signals type-error (socket-option client "receive-timeout")))
  (with-sockets (udp)
    (setf udp (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1"))
    (is (not (socket-option udp :broadcast)))
    (setf (socket-option udp :broadcast) t)
    (is (socket-option udp :broadcast))
    (signals wrong-kind-error (socket-option udp :tcp-nodelay))))

(deftest close-twice-and-use-after-close
  (multiple-value-bind (client server listener) (connected-pair)
    (is (eq t (socket-close client)))
    (is (socket-close client) "a second close is harmless")
    (socket-close server)
    (socket-close listener)
    (socket-close listener)
    (let ((c (signals invalid-handle-error (get-local-name client))))
      (is (typep c 'bad-file-descriptor-error))
      (is (typep c 'socket-error))
      (is (eq client (usocket-cffi::usocket-socket c))))
    (signals socket-error (socket-accept listener))
    (signals error (read-byte (socket-stream client)))))

(deftest closing-the-stream-closes-the-socket
  (with-pair (client server)
    (let ((before (open-handles)))
      (close (socket-stream client))
      (is (not (open-stream-p (socket-stream client))))
      (is-equal (1- before) (open-handles))
      (is (eq :eof (read-byte (socket-stream server) nil :eof)) "the peer sees the close"))))

(deftest socket-close-flushes
  (with-pair (client server)
    (write-string "unflushed" (socket-stream client))
    (socket-close client)
    (is-equal "unflushed" (read-line (socket-stream server) nil))))

(deftest shutdown-directions
  (with-pair (client server)
    (write-string "last words" (socket-stream client))
    (socket-shutdown client :output)
    (is-equal '("last words" t)
              (multiple-value-list (read-line (socket-stream server) nil)))
    (is (eq :eof (read-char (socket-stream server) nil :eof)))
    ;; The other direction still works.
    (send-line (socket-stream server) "reply")
    (is-equal "reply" (read-line (socket-stream client))))
  (with-pair (client server)
    (socket-shutdown client :input)
    (is (eq :eof (read-byte (socket-stream client) nil :eof)))
    (socket-shutdown server :io)
    (is (eq :eof (read-byte (socket-stream client) nil :eof))))
  (with-sockets (listener)
    (setf listener (socket-listen "127.0.0.1" 0))
    (signals wrong-kind-error (socket-shutdown listener :input))
    (signals invalid-argument-error (socket-shutdown listener :sideways))))

(deftest classes-and-predicates
  (with-pair (client server)
    (with-sockets (udp listener)
      (setf udp (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1")
            listener (socket-listen "127.0.0.1" 0))
      (is (usocket-p client))
      (is (stream-usocket-p client))
      (is (not (stream-server-usocket-p client)))
      (is (stream-server-usocket-p listener))
      (is (datagram-usocket-p udp))
      (is (not (datagram-usocket-p client)))
      (is (not (usocket-p 42)))
      (is (typep client 'stream-usocket))
      (is (typep listener 'stream-server-usocket))
      (is (typep udp 'datagram-usocket))
      (is (typep udp 'usocket))
      (is (integerp (socket client)))
      (is (streamp (socket-stream client)))
      (is (null (socket-state client)))
      (is (integerp (socket-fd client))))))

(deftest address-helpers
  (is-equal "127.0.0.1" (hbo-to-dotted-quad 2130706433))
  (is-equal #(127 0 0 1) (hbo-to-vector-quad 2130706433))
  (is-equal "10.1.2.3" (vector-quad-to-dotted-quad #(10 1 2 3)))
  (is-equal #(192 168 1 1) (dotted-quad-to-vector-quad "192.168.1.1"))
  (is-equal 3232235777 (host-byte-order "192.168.1.1"))
  (is-equal 3232235777 (host-byte-order #(192 168 1 1)))
  (is-equal 3232235777 (host-byte-order 3232235777))
  (is-equal "::1" (vector-to-ipv6-host (ipv6-host-to-vector "::1")))
  (is-equal "::" (vector-to-ipv6-host (make-octets 16)))
  (is-equal "FE80::1" (vector-to-ipv6-host (ipv6-host-to-vector "fe80::1")))
  (is-equal "1::2:0:0:0:3" (vector-to-ipv6-host (ipv6-host-to-vector "1:0:0:2:0:0:0:3")))
  (is-equal "2001:DB8::" (vector-to-ipv6-host (ipv6-host-to-vector "2001:db8::")))
  (is-equal (octets 0 0 0 0 0 0 0 0 0 0 255 255 1 2 3 4) (ipv6-host-to-vector "::ffff:1.2.3.4"))
  (is-equal (octets 32 1 13 184 0 0 0 0 0 0 0 0 0 0 0 1) (ipv6-host-to-vector "[2001:db8::1]"))
  (signals error (ipv6-host-to-vector "1::2::3"))
  (signals error (ipv6-host-to-vector "12345::"))
  (is (ip= "127.0.0.1" #(127 0 0 1)))
  (is (ip= #(127 0 0 1) "127.0.0.1"))
  (is (ip= (octets 127 0 0 1) #(127 0 0 1)))
  (is (ip= 2130706433 "127.0.0.1"))
  (is (ip= "::1" (ipv6-host-to-vector "::1")))
  (is (ip/= "127.0.0.1" "127.0.0.2"))
  (is (ip/= #(127 0 0 1) #(127 0 0 2)))
  (is-equal "127.0.0.1" (host-to-hostname #(127 0 0 1)))
  (is-equal "127.0.0.1" (host-to-hostname 2130706433))
  (is-equal "::1" (host-to-hostname (ipv6-host-to-vector "::1")))
  (is-equal "0.0.0.0" (host-to-hostname nil))
  (is-equal "example" (host-to-hostname "example"))
  (let ((buf (make-octets 6)))
    (is-equal (octets 0 0 1 2 3 4) (integer-to-octet-buffer #x01020304 buf 4 :start 2))
    (is-equal #x01020304 (octet-buffer-to-integer buf 4 :start 2))
    (port-to-octet-buffer 8080 buf)
    (is-equal 8080 (port-from-octet-buffer buf))
    (ip-to-octet-buffer "10.0.0.7" buf :start 2)
    (is-equal (host-byte-order "10.0.0.7") (ip-from-octet-buffer buf :start 2))))

(deftest name-service
  (is-equal (octets 127 0 0 1) (get-host-by-name "localhost"))
  (is (member (octets 127 0 0 1) (get-hosts-by-name "localhost") :test #'equalp))
  (is-equal (octets 127 0 0 1) (get-random-host-by-name "localhost"))
  (is-equal (list (octets 10 1 2 3)) (get-hosts-by-name "10.1.2.3"))
  (is-equal (list (ipv6-host-to-vector "::1")) (get-hosts-by-name "::1"))
  (is-equal (ipv6-host-to-vector "::1") (get-host-by-name "::1"))
  (is-equal (octets 127 0 0 1) (get-host-by-name #(127 0 0 1))))

(deftest variables-and-constants
  (is-equal 65507 +max-datagram-packet-size+)
  (is (stringp *version*))
  (is (eq :native *backend*))
  (is (boundp '*default-event-base*)))

(deftest make-stream-socket-internal
  ;; usocket's own test suite builds sockets from arbitrary objects.
  (let ((s (usocket-cffi::make-stream-socket :socket :my-socket :stream :my-stream)))
    (is-equal :my-socket (socket s))
    (is-equal :my-stream (socket-stream s)))
  (signals invalid-socket-error (usocket-cffi::make-stream-socket :stream :x))
  (signals invalid-socket-stream-error (usocket-cffi::make-stream-socket :socket :x)))

(deftest with-macros-close-and-pass-errors
  (let (saved-client saved-listener port)
    (with-socket-listener (listener "127.0.0.1" 0)
      (setf saved-listener listener port (get-local-port listener))
      (with-client-socket (client stream "127.0.0.1" port :element-type 'character)
        (setf saved-client client)
        (is (eq stream (socket-stream client)))
        (with-server-socket (server (socket-accept listener))
          (send-line stream "via macros")
          (is-equal "via macros" (read-line (socket-stream server))))))
    (is (usocket-cffi::closed-p saved-client))
    (is (usocket-cffi::closed-p saved-listener))
    ;; Errors inside pass through with their own class (usocket makes them
    ;; unknown-error).
    (signals connection-refused-error
             (with-client-socket (c nil "127.0.0.1" port) c))
    (let ((c (signals simple-error
                      (with-socket-listener (l "127.0.0.1" 0) (error "mine ~A" l)))))
      (is (not (typep c 'unknown-error))))
    (with-connected-socket (s nil) (fail "body ran with NIL"))
    (is-equal 42 (with-connected-socket (s (socket-listen "127.0.0.1" 0)) (and s 42)))))

(deftest no-handle-leaks
  (let ((before (open-handles)))
    (dotimes (i 50)
      (multiple-value-bind (c s l) (connected-pair)
        (socket-close c) (socket-close s) (socket-close l)))
    (let ((wl (make-wait-list '())))
      (declare (ignorable wl)))
    (is (<= (open-handles) (1+ before)))))

(deftest finalizers-close-dropped-sockets
  ;; A socket nobody references any more is closed by its finalizer, which
  ;; holds only the handle.
  (let ((before (open-handles)))
    (flet ((make-garbage ()
             (dotimes (i 20)
               (socket-listen "127.0.0.1" 0))))
      (make-garbage))
    (is (>= (open-handles) (+ before 20)))
    ;; Finalizers run after a GC, on SBCL's finalizer thread: a bounded wait.
    (loop repeat 200
          until (<= (open-handles) before)
          do (full-gc)
             (sleep 0.01))
    (is (<= (open-handles) before) "the dropped listeners were closed")))

(deftest library-search-order
  ;; USOCKET_LIBRARY first, then the repository's build, then the system's path.
  (let ((repo (usocket-cffi::repository-library)))
    (is repo "the repository's build is there")
    (is-equal repo (usocket-cffi::find-core-library :env nil))
    (is-equal repo (usocket-cffi::find-core-library :env ""))
    (is-equal "libusocket.so" (usocket-cffi::find-core-library :env nil :repository nil))
    (is-equal (probe-file "/etc/hosts")
              (usocket-cffi::find-core-library :env "/etc/hosts" :repository repo)
              "the variable wins over the repository")
    (let ((c (nth-value 1 (ignore-errors
                           (usocket-cffi::find-core-library :env "/no/such/libusocket.so")))))
      (is (and c (search "/no/such/libusocket.so" (princ-to-string c)))
          "a variable naming nothing is an error, not a silent fallback")))
  ;; In a fresh image, the variable is what gets loaded.
  (let* ((copy (format nil "/tmp/usocket-cffi-lib-~D.so" (getpid))))
    (unwind-protect
         (progn
           (uiop:copy-file (usocket-cffi::repository-library) copy)
           (multiple-value-bind (output code)
               (run-program-output
                "env" (list (format nil "USOCKET_LIBRARY=~A" copy)
                            "sbcl" "--noinform" "--non-interactive" "--no-userinit" "--no-sysinit"
                            "--eval" "(require :asdf)"
                            "--eval" (format nil "(push #p~S asdf:*central-registry*)"
                                             (namestring *lisp-dir*))
                            "--eval" "(asdf:load-system \"usocket-cffi\")"
                            "--eval" "(format t \"~&loaded: ~A~%\" usocket-cffi::*library-pathname*)"))
             (is (zerop code) output)
             (is (search (format nil "loaded: ~A" copy) output) output)))
      (ignore-errors (delete-file copy)))))
