;;;; Native streams on ECL (usocket-cffi/compat's): SOCKET-STREAM as ECL's own
;;;; socket stream (a two-way stream of two stdio file streams, as
;;;; SB-BSD-SOCKETS:SOCKET-MAKE-STREAM makes it), SOCKET as an SB-BSD-SOCKETS
;;;; socket on the stream's own descriptor, and closing in every order.

(in-package #:usocket-cffi-tests)

(defmacro with-native-streams (&body body)
  "BODY with usocket-cffi/compat's settings: native streams, SOCKET the native object."
  `(let ((usocket-cffi::*native-streams* t)
         (usocket-cffi::*native-socket-objects* t))
     ,@body))

(defmacro with-open-sockets (bindings &body body)
  "LET* BINDINGS (each of a usocket); close every one after BODY."
  `(let* ,bindings
     (unwind-protect (progn ,@body)
       (dolist (s (list ,@(mapcar #'first bindings)))
         (when (typep s 'usocket) (ignore-errors (socket-close s)))))))

(defun fd-count ()
  (length (directory #p"/proc/self/fd/*" :resolve-symlinks nil)))

(defun open-fd-count ()
  "Descriptors open in this process, once the finalizers of garbage streams
have closed theirs (a closed native stream's descriptor numbers are kept on
a dead descriptor until its file streams are garbage). ECL runs finalizers
after a collection, and a stream dropped open takes two (its close, then
its FILEs): four collections."
  (usocket-cffi::dead-fd)               ; made once, at the first close
  (loop repeat 4 do (full-gc))
  (fd-count))

(defun settled-handles ()
  "The core's open handles, once garbage sockets' finalizers have run."
  (open-fd-count)
  (open-handles))

(defun live-fd-count ()
  "Descriptors open in this process that are not copies of the binding's
dead descriptor, after OPEN-FD-COUNT's collections. A closed native stream
keeps its numbers on dead copies until its file streams are garbage, and
ECL's conservative collector may see a retired stream for a while yet (one
run under load kept 16 copies of 60 streams); a copy holds no connection."
  (open-fd-count)
  (let ((dead (fd-link (usocket-cffi::dead-fd))))
    (count-if-not (lambda (entry)
                    (let ((fd (ignore-errors (parse-integer (file-namestring entry)))))
                      (and fd (equal (fd-link fd) dead))))
                  (directory #p"/proc/self/fd/*" :resolve-symlinks nil))))

(defun fds-back-to (before)
  "No descriptor but dead copies is left beyond the BEFORE (LIVE-FD-COUNT)."
  (let ((now (live-fd-count)))
    (unless (<= now before)
      (fail "~D descriptors open (dead copies not counted), ~D before" now before))))

(defun in-thread (function)
  "FUNCTION's value, computed in a thread of its own, which has ended when
this returns: what it made is then not seen by the conservative GC on a
stack (an error in it is signalled here). The thread says it is done on a
socket, waited for with a bound."
  (let ((native usocket-cffi::*native-streams*) ; as the caller has them bound
        (objects usocket-cffi::*native-socket-objects*)
        (result (list :error "the work did not finish within 60 s")))
    (let ((usocket-cffi::*native-streams* nil)) ; the signal's sockets: no descriptors of their own
      (with-pair (done reader :element-type '(unsigned-byte 8))
        (let ((thread (bt:make-thread
                       (lambda ()
                         (unwind-protect
                              (setf result
                                    (let ((usocket-cffi::*native-streams* native)
                                          (usocket-cffi::*native-socket-objects* objects))
                                      (handler-case (list :value (funcall function))
                                        (error (e) (list :error e)))))
                           (write-byte 1 (socket-stream done))
                           (force-output (socket-stream done))))
                       :name "native stream work")))
          (when (wait-for-input reader :timeout 60 :ready-only t)
            (bt:join-thread thread)))))
    (if (eq (first result) :error)
        (if (stringp (second result))
            (error "~A" (second result))
            (error (second result)))
        (second result))))

(defmacro counting-fds (&body body)
  "Run BODY in a thread of its own; then no descriptor may be left."
  (let ((fds (gensym "FDS")))
    `(let ((,fds (live-fd-count)))
       (in-thread (lambda () ,@body))
       (fds-back-to ,fds))))

(defun fd-open-p (fd)
  (/= -1 (cffi:foreign-funcall "fcntl" :int fd :int 1 :int))) ; F_GETFD

(defun fd-link (fd)
  "What /proc/self/fd/FD names (\"socket:[inode]\" for a socket), or NIL."
  (cffi:with-foreign-pointer-as-string ((buf size) 128)
    (let ((n (cffi:foreign-funcall "readlink" :string (format nil "/proc/self/fd/~D" fd)
                                              :pointer buf :size (1- size) :long)))
      (when (minusp n) (return-from fd-link nil))
      (setf (cffi:mem-aref buf :char n) 0))))

(defun dead-fd-p (fd)
  "Whether FD is a copy of the binding's dead descriptor (a retired stream's)."
  (let ((link (fd-link fd)))
    (and link (equal link (fd-link (usocket-cffi::dead-fd))))))

(defun stream-fds (stream)
  "The descriptors of the native STREAM: its input's, its output's."
  (list (si:file-stream-fd (two-way-stream-input-stream stream))
        (si:file-stream-fd (two-way-stream-output-stream stream))))

(deftest ecl-native-stream-is-ecls-own
  (with-native-streams
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (is (typep out 'two-way-stream))
        (is (typep (two-way-stream-input-stream out) 'file-stream))
        (is (typep (two-way-stream-output-stream out) 'file-stream))
        (is-equal '(unsigned-byte 8) (stream-element-type out))
        (destructuring-bind (in-fd out-fd) (stream-fds out)
          (is (/= in-fd out-fd (socket-fd client)) "descriptors of its own")
          (is (and (fd-open-p in-fd) (fd-open-p out-fd)))
          ;; usocket:socket is the sb-bsd-sockets socket on the stream's descriptor.
          (let ((socket (socket client)))
            (is (typep socket 'sb-bsd-sockets:inet-socket))
            (is-equal out-fd (sb-bsd-sockets:socket-file-descriptor socket))
            (is (eq socket (socket client)) "the same object each time")))
        (write-sequence (octets 1 2 3) out)
        (force-output out)
        (let ((v (make-octets 3)))
          (is-equal 3 (read-sequence v in))
          (is-equal (octets 1 2 3) v))
        ;; The handle's calls still work beside it.
        (is-equal (get-local-port client) (get-peer-port server))))
    ;; character (the default): ECL's socket streams of characters are bivalent.
    (with-pair (client server)
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (format out "héllo~%")
        (write-byte 7 out)
        (force-output out)
        (is-equal "héllo" (read-line in))
        (is-equal 7 (read-byte in) "a character stream reads bytes too")))))

(deftest ecl-native-socket-takes-hunchentoot-timeouts
  ;; Hunchentoot's ECL path: (setf (sb-bsd-sockets:sockopt-receive-timeout
  ;; (usocket:socket s)) secs) and the send timeout likewise.
  (with-native-streams
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((socket (socket server)))
        (setf (sb-bsd-sockets:sockopt-receive-timeout socket) 0.2
              (sb-bsd-sockets:sockopt-send-timeout socket) 1)
        (is (< 0.19 (sb-bsd-sockets:sockopt-receive-timeout socket) 0.21))
        (is (< 0.99 (sb-bsd-sockets:sockopt-send-timeout socket) 1.01))
        ;; A read then times out: natively ECL's stream error (errno EAGAIN),
        ;; usocket's TIMEOUT-ERROR inside WITH-MAPPED-CONDITIONS.
        (let ((time (timed (signals stream-error (read-byte (socket-stream server))))))
          (is (< 0.15 time 2) "the read timed out after about 0.2 s"))
        (let* ((c nil)
               (time (timed (setf c (signals timeout-error
                                             (with-mapped-conditions (server)
                                               (read-byte (socket-stream server))))))))
          (is (< 0.15 time 2) "again, as usocket's condition")
          (is (eq server (usocket-cffi::usocket-socket c))))
        ;; Still usable after the timeout.
        (write-byte 5 (socket-stream client))
        (force-output (socket-stream client))
        (is-equal 5 (read-byte (socket-stream server)))))))

(deftest ecl-native-stream-socket-option-timeout
  (with-native-streams
    (with-open-sockets ((listener (socket-listen "127.0.0.1" 0 :reuse-address t))
                        (client (socket-connect "127.0.0.1" (get-local-port listener) :timeout 0.3))
                        (server (socket-accept listener)))
      (progn
        (is (< 0.29 (sb-bsd-sockets:sockopt-receive-timeout (socket client)) 0.31)
            "socket-connect's :timeout is the socket's SO_RCVTIMEO")
        (setf (socket-option server :receive-timeout) 0.2)
        (is (< 0.19 (sb-bsd-sockets:sockopt-receive-timeout (socket server)) 0.21))
        (is-equal 0.2 (socket-option server :receive-timeout))
        (signals timeout-error (with-mapped-conditions (server)
                                 (read-char (socket-stream server))))))))

(defun close-orders-test (closer)
  "Make a connected pair, write, then close the client with CLOSER; check
the handle and every descriptor are gone and the peer sees end of file."
  (with-native-streams
    (let ((handles (settled-handles)))
      (with-pair (client server :element-type '(unsigned-byte 8))
        (let* ((out (socket-stream client))
               (fds (stream-fds out))
               (socket (socket client))
               (core-fd (socket-fd client)))
          (write-byte 9 out)            ; buffered until the close
          (funcall closer client out)
          (is (not (open-stream-p out)))
          (is (not (open-stream-p (two-way-stream-input-stream out))))
          (is (not (open-stream-p (two-way-stream-output-stream out))))
          (is (every #'dead-fd-p fds) "the stream's numbers now hold the dead descriptor")
          (is (not (fd-open-p core-fd)) "the core's descriptor is closed")
          (is-equal -1 (sb-bsd-sockets:socket-file-descriptor socket) "the socket says closed")
          (is (eq :closed (handler-case (read-byte out) (error () :closed))))
          (is-equal 9 (read-byte (socket-stream server)) "buffered output was sent")
          (is-equal :eof (read-byte (socket-stream server) nil :eof))))
      (is-equal handles (open-handles) "no handle left"))))

(deftest ecl-native-stream-close-orders
  (counting-fds
    (close-orders-test (lambda (s stream) (declare (ignore stream)) (socket-close s)))
    (close-orders-test (lambda (s stream) (declare (ignore s)) (close stream)))
    (close-orders-test (lambda (s stream) (close stream) (socket-close s)))
    (close-orders-test (lambda (s stream) (socket-close s) (close stream)))
    (close-orders-test (lambda (s stream)
                         (socket-close s) (socket-close s) (close stream) (close stream)
                         (close stream :abort t)))
    ;; What else programs close: the sb-bsd-sockets socket, one file stream.
    (close-orders-test (lambda (s stream) (declare (ignore stream))
                         (sb-bsd-sockets:socket-close (socket s))))
    (close-orders-test (lambda (s stream)
                         (close (two-way-stream-output-stream stream))
                         (sb-bsd-sockets:socket-close (socket s))
                         (socket-close s)))))

(deftest ecl-native-stream-close-wakes-reader
  (with-native-streams
    (dolist (how '(:close :socket-close))
      (counting-fds
        (with-pair (client server :element-type '(unsigned-byte 8))
          (let* ((in (socket-stream client))
                 (reader (spawn "reader" (lambda ()
                                           (handler-case (read-byte in nil :eof)
                                             (error (e) (type-of e)))))))
            ;; Let it block in the read (a wait with nothing to wait for).
            (wait-for-input server :timeout 0.1)
            (let ((time (timed (ecase how
                                 (:socket-close (socket-close client))
                                 (:close (close in))))))
              (is (< time 1)))
            (is (join reader 2) (format nil "the reader returned (~S)" how))))))))

(deftest ecl-native-stream-no-descriptor-leak
  (with-native-streams
    (let ((handles (settled-handles)))
      (counting-fds
       (dotimes (i 200)
         (with-pair (client server :element-type '(unsigned-byte 8))
           (write-byte 1 (socket-stream client))
           (force-output (socket-stream client))
           (read-byte (socket-stream server))
           (case (mod i 4)
             (0 (close (socket-stream client)))
             (1 (socket-close client))
             (2 (close (socket-stream server) :abort t))
             (3 (sb-bsd-sockets:socket-close (socket server)))))))
      (is-equal handles (open-handles) "no handle left"))))

(deftest ecl-native-stream-dropped-is-closed
  ;; A native stream socket dropped without a close: ECL's finalizers close
  ;; its descriptors and the core's handle.
  (with-native-streams
    (let ((handles (settled-handles)))
      (counting-fds
        (with-sockets (listener)
          (setf listener (socket-listen "127.0.0.1" 0 :reuse-address t))
          (dotimes (i 20)
            (let ((client (socket-connect "127.0.0.1" (get-local-port listener))))
              (socket-stream client)
              (socket-close (socket-accept listener))))))
      (loop repeat 5 until (= handles (open-handles)) do (open-fd-count))
      (is-equal handles (open-handles) "the dropped sockets' handles were closed"))))

(deftest ecl-native-stream-concurrent-closes
  (with-native-streams
    (let ((handles (settled-handles)))
      (counting-fds
       (dotimes (round 20)
         (with-pair (client server :element-type '(unsigned-byte 8))
           (let* ((stream (socket-stream client))
                  (go nil)
                  (threads (loop for i below 4
                                 collect (let ((i i))
                                           (spawn "closer"
                                                  (lambda ()
                                                    (loop repeat 100000 until go)
                                                    (if (evenp i)
                                                        (socket-close client)
                                                        (close stream))
                                                    t))))))
             (setf go t)
             (dolist (th threads) (is (join th 5)))))))
      (is-equal handles (open-handles) "no handle left"))))

(deftest ecl-native-stream-wait-sees-buffered-input
  (with-native-streams
    (with-pair (client server)
      (let ((in (socket-stream server)))
        (format (socket-stream client) "ab~%")
        (force-output (socket-stream client))
        (is-equal #\a (read-char in))   ; "b\n" now sits in the FILE's buffer
        (is (wait-for-input server :timeout 0 :ready-only t) "a list wait sees it")
        (let ((wl (make-wait-list (list server))))
          (is (wait-for-input wl :timeout 0 :ready-only t) "a wait list sees it")
          (is-equal "b" (read-line in))
          (is (null (wait-for-input wl :timeout 0 :ready-only t)) "and then nothing"))
        ;; UNREAD-CHAR's character counts too.
        (format (socket-stream client) "c")
        (force-output (socket-stream client))
        (is (wait-for-input server :timeout 2 :ready-only t))
        (unread-char (read-char in) in)
        (is (usocket-cffi::native-buffered-input-p in))
        (is-equal #\c (read-char in))
        (is (not (usocket-cffi::native-buffered-input-p in)))))))

(deftest ecl-native-stream-close-races-readers
  ;; Readers racing a close from another thread (before, during and after
  ;; their read, by socket-close or by close): every one returns at once
  ;; with a byte, end of file or a closed-stream error, and no descriptor or
  ;; handle is left.
  (with-native-streams
    (let ((handles (settled-handles))
          (outcomes (make-hash-table :test 'equal)))
      (counting-fds
       (with-sockets (listener)
         (setf listener (socket-listen "127.0.0.1" 0 :backlog 128
                                                     :element-type '(unsigned-byte 8)))
         (dotimes (i 60)
           (let* ((client (socket-connect "127.0.0.1" (get-local-port listener)
                                          :element-type '(unsigned-byte 8)))
                  (server (socket-accept listener))
                  (in (socket-stream client))
                  (readers (loop repeat 2
                                 collect (spawn "racing reader"
                                                (lambda ()
                                                  (handler-case (read-byte in nil :eof)
                                                    (stream-error (e)
                                                      (if (open-stream-p (stream-error-stream e))
                                                          (type-of e)
                                                          :closed))
                                                    (error (e) (type-of e))))))))
             (when (evenp i)
               (write-byte 1 (socket-stream server))
               (force-output (socket-stream server)))
             (if (zerop (mod i 3)) (close in) (socket-close client))
             (dolist (r readers)
               (incf (gethash (join r 5) outcomes 0)))
             (socket-close server)))))
      (maphash (lambda (outcome n)
                 (is (member outcome '(1 :eof :closed))
                     (format nil "a reader got ~S (~D times)" outcome n)))
               outcomes)
      (is-equal handles (open-handles) "no handle left"))))

(deftest ecl-native-stream-local-socket
  (with-native-streams
    (let ((path (format nil "/tmp/usocket-cffi-ecl-~D.sock" (random 1000000 (make-random-state t)))))
      (with-sockets (listener client server)
        (setf listener (socket-listen (pathname path) nil)
              client (socket-connect (pathname path) nil)
              server (socket-accept listener))
        (is (typep (socket client) 'sb-bsd-sockets:local-socket))
        (format (socket-stream client) "over a unix socket~%")
        (force-output (socket-stream client))
        (is-equal "over a unix socket" (read-line (socket-stream server)))))))
