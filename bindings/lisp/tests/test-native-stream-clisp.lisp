;;;; Native streams on CLISP (usocket-cffi/compat's, impl/native-stream-clisp.lisp):
;;;; CLISP's own buffered streams on descriptors of their own, closing in
;;;; every order without leaking a descriptor or a handle.

(in-package #:usocket-cffi-tests)

(defmacro with-clisp-native-streams (&body body)
  "BODY as in compat: native streams, and SOCKET gives them."
  `(let ((usocket-cffi::*native-streams* t) (usocket-cffi::*native-socket-objects* t)) ,@body))

(defun open-fd-count-clisp ()
  (length (directory "/proc/self/fd/*" :full t :if-does-not-exist :ignore)))

(defun fd-open-p-clisp (fd)
  (and (probe-file (format nil "/proc/self/fd/~D" fd)) t))

(deftest clisp-native-stream-is-clisps-own
  (with-clisp-native-streams
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (is (typep out 'two-way-stream))
        (is (typep (two-way-stream-input-stream out) 'file-stream))
        (is (eq out (socket client)) "SOCKET is the stream, as native usocket's on CLISP")
        (multiple-value-bind (input output) (ext:stream-handles out)
          (is (integerp input) "cl+ssl's descriptor (EXT:STREAM-HANDLES)")
          (is (/= input (socket-fd client)) "the stream has descriptors of its own")
          (is (integerp output)))
        (write-sequence (octets 1 2 3) out)
        (force-output out)
        (let ((v (make-octets 3)))
          (is-equal 3 (read-sequence v in))
          (is-equal (octets 1 2 3) v))
        ;; Hunchentoot's CLISP path: SOCKET:SOCKET-OPTIONS on USOCKET:SOCKET.
        (socket:socket-options (socket server) :so-rcvtimeo 0.2)
        (let* ((condition nil)
               (time (timed (handler-case (read-byte in)
                              (error (e) (setf condition e))))))
          (is (typep condition 'ext:os-stream-error) (format nil "got ~S" condition))
          (is (< 0.1 time 2) "the read timed out after about 0.2 s"))
        (signals timeout-error (with-mapped-conditions (server) (read-byte in)))))))

(deftest clisp-native-stream-close-orders
  (dolist (closer (list (lambda (s stream) (declare (ignore stream)) (socket-close s))
                        (lambda (s stream) (declare (ignore s)) (close stream))
                        (lambda (s stream) (close stream) (socket-close s))
                        (lambda (s stream) (socket-close s) (close stream))
                        (lambda (s stream)
                          (socket-close s) (socket-close s) (close stream) (close stream))))
    (with-clisp-native-streams
      (let ((handles (open-handles))
            (fds (open-fd-count-clisp)))
        (with-pair (client server :element-type '(unsigned-byte 8))
          (let* ((out (socket-stream client))
                 (stream-fds (multiple-value-list (ext:stream-handles out)))
                 (core-fd (socket-fd client)))
            (write-byte 9 out)             ; buffered
            (funcall closer client out)
            (is (not (open-stream-p out)))
            (dolist (fd (cons core-fd stream-fds))
              (is (not (fd-open-p-clisp fd)) (format nil "descriptor ~D closed" fd)))
            (is-equal 9 (read-byte (socket-stream server)) "buffered output was sent")
            (is-equal :eof (read-byte (socket-stream server) nil :eof))))
        (is-equal handles (open-handles) "no handle left")
        (is-equal fds (open-fd-count-clisp) "no descriptor left")))))

(deftest clisp-native-stream-write-to-reset-peer-is-an-error
  ;; A FILE-STREAM's write to a reset connection would raise SIGPIPE, which
  ;; kills CLISP; the native stream ignores SIGPIPE, so it is an error.
  (with-clisp-native-streams
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((out (socket-stream client)))
        (socket-close server)
        (let ((condition (handler-case
                             (progn (loop repeat 100
                                          do (write-sequence (make-octets 1000) out)
                                             (finish-output out))
                                    nil)
                           (error (e) e))))
          (is (typep condition 'ext:os-stream-error) (format nil "got ~S" condition))
          (is (member (ext:os-error-code condition) '(:epipe :econnreset))))))))

(deftest clisp-native-stream-wait-sees-buffered-input
  (with-clisp-native-streams
    (with-pair (client server)
      (send-line (socket-stream client) "one")
      (send-line (socket-stream client) "two")
      (is (wait-for-input server :timeout 1 :ready-only t))
      (is-equal "one" (read-line (socket-stream server)))
      ;; "two" is in the stream's buffer now, nothing at the descriptor.
      (is (wait-for-input server :timeout 0 :ready-only t) "buffered input is ready")
      (is-equal "two" (read-line (socket-stream server)))
      (is (null (wait-for-input server :timeout 0 :ready-only t))))))

(deftest clisp-native-stream-formats-and-default
  (with-clisp-native-streams
    (with-pair (client server :server-element-type :default :external-format :latin-1)
      (let ((out (socket-stream client)) (in (socket-stream server)))
        (is (typep out 'two-way-stream))
        (is (typep in 'usocket-cffi::usocket-stream)
            ":default (bivalent) keeps the Gray stream: CLISP's streams are not bivalent")
        (is (integerp (socket server)) "and SOCKET is then the core's handle")
        (write-line (string (code-char #xE9)) out)
        (force-output out)
        (is-equal #xE9 (read-byte in) "latin-1 on the wire")))))
