;;;; Bad arguments: refused with INVALID-ARGUMENT-ERROR (a SOCKET-ERROR, code
;;;; -1), as the core and the other bindings refuse them; arguments of the
;;;; wrong type signal TYPE-ERROR. Regression tests of the hardening suite's
;;;; findings (tests/hardening/faults.tsv): hosts cut at a NUL, CL type
;;;; errors for out-of-range ports, backlogs and option values, an unknown
;;;; option or shutdown direction, closed sockets skipped by WAIT-FOR-INPUT,
;;;; and a wait forever on no sockets.

(in-package #:usocket-cffi-tests)

(defmacro invalid-argument (form &optional socket)
  "FORM must signal INVALID-ARGUMENT-ERROR (exactly that class, code -1,
with a message); SOCKET, when given, must be in its USOCKET-SOCKET slot."
  `(let ((c (signals socket-error ,form)))
     (is-equal 'invalid-argument-error (type-of c) ',form)
     (is-equal -1 (socket-error-code c))
     (is (plusp (length (socket-error-message c))) "a message")
     ,@(when socket `((is (eq ,socket (usocket-cffi::usocket-socket c)) "the socket")))
     c))

(defun nul-host (&optional (host "127.0.0.1"))
  (format nil "~A~C.example" host (code-char 0)))

(deftest host-with-nul-is-refused
  ;; A listener is there: a host cut at the NUL would connect to it.
  (with-sockets (listener receiver sender)
    (setf listener (socket-listen "127.0.0.1" 0))
    (let ((port (get-local-port listener))
          (handles (open-handles)))
      (let ((c (invalid-argument (socket-connect (nul-host) port :timeout 2))))
        (is (search "NUL" (socket-error-message c)) (socket-error-message c)))
      (invalid-argument (socket-connect (nul-host) port :protocol :datagram))
      (invalid-argument (socket-connect "127.0.0.1" port :local-host (nul-host)))
      (invalid-argument (socket-listen (nul-host) 0))
      (invalid-argument (get-hosts-by-name (nul-host)))
      (invalid-argument (get-host-by-name (nul-host "localhost")))
      (invalid-argument (get-random-host-by-name (nul-host "localhost")))
      (is-equal handles (open-handles) "no handle made or leaked")
      (is (null (wait-for-input listener :timeout 0 :ready-only t)) "nobody connected"))
    ;; An unconnected datagram socket sending to such a host sends nothing.
    (setf receiver (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1")
          sender (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1"))
    (invalid-argument (socket-send sender (octets 1 2 3) 3 :host (nul-host)
                                                          :port (get-local-port receiver)))
    (is (null (wait-for-input receiver :timeout 0.1 :ready-only t)) "no datagram went out")
    ;; The same host without the NUL works.
    (is-equal 3 (socket-send sender (octets 1 2 3) 3 :host "127.0.0.1"
                                                     :port (get-local-port receiver)))))

(deftest host-not-encodable-in-utf-8-is-refused
  ;; A surrogate code point has no UTF-8 form: refused before the core.
  (let ((host (format nil "127.0.0.1~C" (code-char #xD800))))
    (let ((c (invalid-argument (socket-connect host 80 :timeout 2))))
      (is (search "surrogate" (socket-error-message c)) (socket-error-message c)))
    (invalid-argument (get-hosts-by-name host))
    (invalid-argument (socket-listen host 0)))
  ;; Any other character is the name service's business.
  (signals type-error (socket-connect '(1 2) 80)))

(deftest port-out-of-range
  (with-sockets (listener udp)
    (setf listener (socket-listen "127.0.0.1" 0)
          udp (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1"))
    (let ((handles (open-handles)))
      (dolist (port '(70000 -1 65536))
        (let ((c (invalid-argument (socket-connect "127.0.0.1" port :timeout 2))))
          (is (search "out of range" (socket-error-message c)) (socket-error-message c)))
        (invalid-argument (socket-connect "127.0.0.1" port :protocol :datagram))
        (invalid-argument (socket-connect "127.0.0.1" (get-local-port listener) :local-port port))
        (invalid-argument (socket-listen "127.0.0.1" port))
        (invalid-argument (socket-send udp (octets 1) 1 :host "127.0.0.1" :port port)))
      (is-equal handles (open-handles)))
    ;; Not an integer at all: a type error, as in CL.
    (signals type-error (socket-connect "127.0.0.1" "80"))
    (signals type-error (socket-listen "127.0.0.1" 1.5))
    ;; The edges are fine.
    (socket-close (socket-connect "127.0.0.1" (get-local-port listener) :local-port 0))))

(deftest backlog-out-of-range
  (let ((handles (open-handles)))
    (let ((c (invalid-argument (socket-listen "127.0.0.1" 0 :backlog -1))))
      (is (search "backlog" (socket-error-message c)) (socket-error-message c)))
    (invalid-argument (socket-listen "127.0.0.1" 0 :backlog (expt 2 31)))
    (signals type-error (socket-listen "127.0.0.1" 0 :backlog "5"))
    (is-equal handles (open-handles)))
  (socket-close (socket-listen "127.0.0.1" 0 :backlog 0)))

(deftest option-values-out-of-range
  (with-pair (client server)
    (invalid-argument (setf (socket-option client :receive-buffer) 0) client)
    (invalid-argument (setf (socket-option client :send-buffer) -5) client)
    (invalid-argument (setf (socket-option client :receive-buffer) (expt 2 31)) client)
    (signals type-error (setf (socket-option client :receive-buffer) "big"))
    (let ((c (invalid-argument (setf (socket-option client :receive-timeout) -1) client)))
      (is (search "negative" (socket-error-message c)) (socket-error-message c)))
    (invalid-argument (setf (socket-option client :receive-timeout) -0.5) client)
    (invalid-argument (setf (socket-option client :send-timeout) -1) client)
    (signals type-error (setf (socket-option client :receive-timeout) "1"))
    ;; Nothing was changed by the refused values.
    (is (null (socket-option client :receive-timeout)))
    (is (null (socket-option client :send-timeout)))
    ;; An infinite timeout is none.
    (when (positive-infinity)           ; CLISP's floats have none
      (setf (socket-option client :receive-timeout) (positive-infinity))
      (is (null (socket-option client :receive-timeout))))
    (setf (socket-option client :receive-timeout) 0)
    (is (null (socket-option client :receive-timeout)))))

(deftest unknown-option-name
  ;; usocket signals UNIMPLEMENTED; the core, the C and Python bindings and
  ;; the shared fault table say invalid-argument-error.
  (with-sockets (udp)
    (setf udp (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1"))
    (let ((c (invalid-argument (socket-option udp :no-such-option) udp)))
      (is (search "NO-SUCH-OPTION" (socket-error-message c)) (socket-error-message c))
      (is (search ":RECEIVE-TIMEOUT" (socket-error-message c)) "the known names are listed"))
    (invalid-argument (setf (socket-option udp :no-such-option) 1) udp)
    ;; Not a keyword: TYPE-ERROR, as usocket.
    (signals type-error (socket-option udp "receive-timeout"))
    (signals type-error (socket-option udp 'receive-timeout))))

(deftest shutdown-unknown-direction
  (with-pair (client server)
    (let ((c (invalid-argument (socket-shutdown client :sideways) client)))
      (is (search ":SIDEWAYS" (socket-error-message c)) (socket-error-message c)))
    (invalid-argument (socket-shutdown client nil) client)
    ;; Nothing was shut down.
    (send-line (socket-stream client) "still open")
    (is-equal "still open" (read-line (socket-stream server)))))

(deftest wait-on-a-closed-socket
  (with-pair (client server)
    (with-sockets (gone)
      (setf gone (socket-listen "127.0.0.1" 0))
      (socket-close gone)
      (send-line (socket-stream client) "ready")
      (dolist (sockets (list (list server gone) (list gone server) gone))
        (let ((c (signals invalid-handle-error (wait-for-input sockets :timeout 0.1))))
          (is (eq gone (usocket-cffi::usocket-socket c)) "the closed socket is named")
          (is (typep c 'bad-file-descriptor-error))))
      (signals invalid-handle-error (wait-for-input (list server gone) :ready-only t))
      ;; Without the closed socket the wait works.
      (is-equal (list server) (wait-for-input (list server) :timeout 1 :ready-only t)))))

(deftest wait-forever-on-no-sockets
  (multiple-value-bind (seconds)
      (timed (let ((c (signals invalid-argument-error (wait-for-input '()))))
               (is (search "forever" (socket-error-message c)) (socket-error-message c))))
    (is (< seconds 0.05) "refused at once"))
  (signals invalid-argument-error (wait-for-input '() :ready-only t))
  ;; With a timeout: sleeps it and returns NIL, NIL.
  (multiple-value-bind (seconds values)
      (timed (multiple-value-list (wait-for-input '() :timeout 0.1)))
    (is-equal '(nil nil) values)
    (is (>= seconds 0.09)))
  (is-equal '(nil nil) (multiple-value-list (wait-for-input '() :timeout 0))))
