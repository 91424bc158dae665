;;;; Native streams (usocket-cffi/compat's): SOCKET-STREAM as SB-SYS:FD-STREAM
;;;; on a descriptor of its own, and closing in every order.

(in-package #:usocket-cffi-tests)

(defmacro with-native-streams (&body body)
  `(let ((usocket-cffi::*native-streams* t)) ,@body))

(defmacro with-open-sockets (bindings &body body)
  "LET* BINDINGS (each of a usocket); close every one after BODY."
  `(let* ,bindings
     (unwind-protect (progn ,@body)
       (dolist (s (list ,@(mapcar #'first bindings)))
         (when (typep s 'usocket) (ignore-errors (socket-close s)))))))

(defun open-fd-count ()
  "Descriptors open in this process, after the finalizers of garbage
streams have closed theirs (a closed native stream's descriptor number is
kept on a dead descriptor until the stream is garbage)."
  (usocket-cffi::dead-fd)               ; made once, at the first close
  (sb-ext:gc :full t)
  (sb-kernel:run-pending-finalizers)
  (length (directory #p"/proc/self/fd/*" :resolve-symlinks nil)))

(defun fd-open-p (fd)
  (and (sb-unix:unix-fstat fd) t))

(defun fds-back-to (before)
  "The descriptors are back to BEFORE, give or take the few that retired
streams the conservative GC still sees may hold."
  (let ((now (open-fd-count)))
    (unless (<= now (+ before 3))
      (fail "~D descriptors open, ~D before" now before))))

(defun fd-inode (fd)
  (multiple-value-bind (ok dev ino) (sb-unix:unix-fstat fd)
    (and ok (list dev ino))))

(defun dead-fd-p (fd)
  "Whether FD is a copy of the binding's dead descriptor (a retired stream's)."
  (equal (fd-inode fd) (fd-inode (usocket-cffi::dead-fd))))

(deftest native-stream-is-an-fd-stream
  (with-native-streams
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (is (typep out 'sb-sys:fd-stream))
        (is (typep in 'sb-sys:fd-stream))
        (let ((fd (sb-sys:fd-stream-fd out)))
          (is (/= fd (socket-fd client)) "the stream has a descriptor of its own")
          (is (fd-open-p fd)))
        (write-sequence (octets 1 2 3) out)
        (force-output out)
        (let ((v (make-octets 3)))
          (is-equal 3 (read-sequence v in))
          (is-equal (octets 1 2 3) v))
        ;; Hunchentoot's read timeout.
        (setf (sb-impl::fd-stream-timeout in) 0.2)
        (let ((time (timed (signals sb-sys:io-timeout (read-byte in)))))
          (is (< 0.1 time 2) "the read timed out after about 0.2 s"))))))

(deftest native-stream-element-types-and-formats
  (with-native-streams
    ;; character (the default): text; :default: bivalent.
    (with-pair (client server :server-element-type :default)
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (format out "héllo~%")
        (force-output out)
        (is-equal "héllo" (read-line in))
        (format out "x")
        (force-output out)
        (is-equal (char-code #\x) (read-byte in) "a :default stream is bivalent")))
    ;; :external-format on both ends: check the bytes on the wire.
    (with-open-sockets ((listener (socket-listen "127.0.0.1" 0 :reuse-address t
                                                 :element-type '(unsigned-byte 8)))
                        (client (socket-connect "127.0.0.1" (get-local-port listener)
                                                :external-format :latin-1))
                        (server (socket-accept listener)))
      (progn
        (write-string "é" (socket-stream client))
        (force-output (socket-stream client))
        (is-equal #xE9 (read-byte (socket-stream server)) "latin-1 on the wire")
        (close (socket-stream client))))
    (with-open-sockets ((listener (socket-listen "127.0.0.1" 0 :reuse-address t))
                        (client (socket-connect "127.0.0.1" (get-local-port listener)
                                                :element-type '(unsigned-byte 8)))
                        (server (socket-accept listener :external-format :latin-1)))
      (progn
        (write-sequence (octets #xE9 10) (socket-stream client))
        (force-output (socket-stream client))
        (is-equal (string (code-char #xE9)) (read-line (socket-stream server))
                  "socket-accept's :external-format decodes")))))

(defun close-orders-test (closer)
  "Make a connected pair, read and write, then close the client with CLOSER;
check the handle and both descriptors are gone and the peer sees end of file."
  (with-native-streams
    (let* ((fds (open-fd-count))        ; after a GC: no garbage socket is closed meanwhile
           (handles (open-handles)))
      (declare (ignorable fds))
      (with-pair (client server :element-type '(unsigned-byte 8))
        (let* ((out (socket-stream client))
               (fd (sb-sys:fd-stream-fd out))
               (core-fd (socket-fd client)))
          (write-byte 9 out)
          (funcall closer client out)
          (is (not (open-stream-p out)))
          (is (dead-fd-p fd) "the stream's descriptor number now holds the dead descriptor")
          (is (not (fd-open-p core-fd)) "the core's descriptor is closed")
          (is-equal 9 (read-byte (socket-stream server)) "buffered output was sent")
          (is-equal :eof (read-byte (socket-stream server) nil :eof))))
      (is-equal handles (open-handles) "no handle left"))))

(deftest native-stream-close-orders
  (close-orders-test (lambda (s stream) (declare (ignore stream)) (socket-close s)))
  (close-orders-test (lambda (s stream) (declare (ignore s)) (close stream)))
  (close-orders-test (lambda (s stream) (close stream) (socket-close s)))
  (close-orders-test (lambda (s stream) (socket-close s) (close stream)))
  (close-orders-test (lambda (s stream)
                       (socket-close s) (socket-close s) (close stream) (close stream)
                       (close stream :abort t))))

(deftest native-stream-close-wakes-reader
  (with-native-streams
    (dolist (how (quote (:close :socket-close)))
      (let ((fds (open-fd-count)))
        (with-pair (client server :element-type '(unsigned-byte 8))
          (let* ((in (socket-stream client))
                 (ready (sb-thread:make-semaphore))
                 (reader (spawn "reader"
                                (lambda ()
                                  (sb-thread:signal-semaphore ready)
                                  (handler-case (read-byte in nil :eof)
                                    (error (e) (type-of e)))))))
            (sb-thread:wait-on-semaphore ready)
            ;; Let it block in the read (a wait with nothing to wait for).
            (wait-for-input server :timeout 0.1)
            (let ((time (timed (ecase how
                                 (:socket-close (socket-close client))
                                 (:close (close in))))))
              (is (< time 1)))
            (let ((result (join reader 2)))
              (is result (format nil "the reader returned (~S)" how)))))
        (fds-back-to fds)))))

(deftest native-stream-no-descriptor-leak
  (with-native-streams
    (let ((fds (open-fd-count)))
      (dotimes (i 200)
        (with-pair (client server :element-type '(unsigned-byte 8))
          (write-byte 1 (socket-stream client))
          (force-output (socket-stream client))
          (read-byte (socket-stream server))
          (case (mod i 3)
            (0 (close (socket-stream client)))
            (1 (socket-close client))
            (2 (close (socket-stream server) :abort t)))))
      (fds-back-to fds))))

(deftest native-stream-concurrent-closes
  (with-native-streams
    (let* ((fds (open-fd-count)) (handles (open-handles)))
      (dotimes (round 20)
        (with-pair (client server :element-type '(unsigned-byte 8))
          (let* ((stream (socket-stream client))
                 (go (sb-thread:make-semaphore))
                 (threads (loop for i below 4
                                collect (let ((i i))
                                          (spawn "closer"
                                                 (lambda ()
                                                   (sb-thread:wait-on-semaphore go)
                                                   (if (evenp i)
                                                       (socket-close client)
                                                       (close stream))
                                                   t))))))
            (sb-thread:signal-semaphore go 4)
            (dolist (th threads) (is (join th 5))))))
      (is-equal handles (open-handles) "no handle left")
      (fds-back-to fds))))

(deftest native-stream-wait-sees-buffered-input
  (with-native-streams
    (with-pair (client server)
      (let ((in (socket-stream server)))
        (format (socket-stream client) "ab~%")
        (force-output (socket-stream client))
        (is-equal #\a (read-char in))   ; "b\n" now sits in the stream's buffer
        (is (wait-for-input server :timeout 0 :ready-only t) "a list wait sees it")
        (let ((wl (make-wait-list (list server))))
          (is (wait-for-input wl :timeout 0 :ready-only t) "a wait list sees it")
          (is-equal "b" (read-line in))
          (is (null (wait-for-input wl :timeout 0 :ready-only t)) "and then nothing"))))))

(deftest native-stream-timeouts
  (with-native-streams
    (with-open-sockets ((listener (socket-listen "127.0.0.1" 0 :reuse-address t))
                        (client (socket-connect "127.0.0.1" (get-local-port listener) :timeout 0.3))
                        (server (socket-accept listener)))
      (progn
        (is-equal 0.3 (sb-impl::fd-stream-timeout (socket-stream client))
                  "socket-connect's :timeout is the stream's read timeout")
        (setf (socket-option server :receive-timeout) 0.2)
        (is-equal 0.2 (sb-impl::fd-stream-timeout (socket-stream server)))
        (is-equal 0.2 (socket-option server :receive-timeout))
        (signals sb-sys:io-timeout (read-char (socket-stream server)))))))

(deftest native-stream-serve-event
  (with-native-streams
    (with-pair (client server)
      (let ((fd (sb-sys:fd-stream-fd (socket-stream server)))
            (fired nil))
        (format (socket-stream client) "x")
        (force-output (socket-stream client))
        (sb-sys:with-fd-handler (fd :input (lambda (fd) (declare (ignore fd)) (setf fired t)))
          (loop repeat 20 until fired do (sb-sys:serve-event 0.1)))
        (is fired "serve-event saw the stream's descriptor ready")
        (is-equal #\x (read-char (socket-stream server)))))))

(deftest with-mapped-conditions-maps-native-stream-conditions
  ;; Hunchentoot reads its connection inside usocket:with-mapped-conditions:
  ;; a native stream's read timeout becomes usocket's timeout-error there.
  (with-native-streams
    (with-pair (client server)
      (setf (sb-impl::fd-stream-timeout (socket-stream server)) 0.1)
      (let ((c (signals timeout-error
                        (with-mapped-conditions (server)
                          (read-char (socket-stream server))))))
        (is (eq server (usocket-cffi::usocket-socket c))))
      ;; Our own conditions pass through unchanged.
      (signals invalid-argument-error
               (with-mapped-conditions ()
                 (usocket-cffi::invalid-argument nil "x")))
      ;; Others are left alone.
      (is (eq :other (handler-case (with-mapped-conditions () (error "plain"))
                       (simple-error () :other)))))))

(deftest native-stream-close-races-readers
  ;; Readers racing a close from another thread (before, during and after
  ;; their read, by socket-close or by close): every one returns at once with
  ;; a byte, end of file or a closed-stream error (never a hang: SBCL's poll
  ;; on -1 or a closed number; never a type error from a dropped buffer),
  ;; and no descriptor or handle is left.
  (with-native-streams
    (let* ((fds (open-fd-count)) (handles (open-handles))
           (outcomes (make-hash-table :test 'equal)))
      (with-sockets (listener)
        (setf listener (socket-listen "127.0.0.1" 0 :backlog 128
                                                    :element-type '(unsigned-byte 8)))
        (dotimes (i 150)
          (let* ((client (socket-connect "127.0.0.1" (get-local-port listener)
                                         :element-type '(unsigned-byte 8)))
                 (server (socket-accept listener))
                 (in (socket-stream client))
                 (readers (loop repeat 2
                                collect (spawn "racing reader"
                                               (lambda ()
                                                 (handler-case (read-byte in nil :eof)
                                                   (sb-int:closed-stream-error () :closed)
                                                   (error (e) (type-of e))))))))
            (when (evenp i)
              (write-byte 1 (socket-stream server))
              (force-output (socket-stream server)))
            (if (zerop (mod i 3)) (close in) (socket-close client))
            (dolist (r readers)
              (incf (gethash (join r 5) outcomes 0)))
            (socket-close server))))
      (maphash (lambda (outcome n)
                 (is (member outcome '(1 :eof :closed))
                     (format nil "a reader got ~S (~D times)" outcome n)))
               outcomes)
      (is-equal handles (open-handles) "no handle left")
      (fds-back-to fds))))
