;;;; ABCL: in compat, usocket's SOCKET of a stream socket is a java.net.Socket
;;;; whose setSoTimeout/getSoTimeout are the socket's :receive-timeout
;;;; (impl/native-socket-abcl.lisp), as Hunchentoot's SET-TIMEOUTS uses it.

(in-package #:usocket-cffi-tests)

(defun java-so-timeout (object &optional (milliseconds nil set))
  (if set
      (java:jcall (java:jmethod "java.net.Socket" "setSoTimeout" "int") object milliseconds)
      (java:jcall (java:jmethod "java.net.Socket" "getSoTimeout") object)))

(deftest abcl-socket-is-the-handle-outside-compat
  (let ((usocket-cffi::*native-socket-objects* nil))
    (with-pair (client server)
      (is (integerp (socket client)))
      (is-equal (usocket-cffi::socket-handle client) (socket client)))))

(deftest abcl-socket-is-a-java-socket-carrying-the-read-timeout
  (let ((usocket-cffi::*native-socket-objects* t))
    (with-pair (client server :element-type '(unsigned-byte 8))
      (let ((carrier (socket client)))
        (is (java:jinstance-of-p carrier "java.net.Socket"))
        (is (eq carrier (socket client)) "the same object each time")
        (is-equal 0 (java-so-timeout carrier) "no timeout yet")
        (java-so-timeout carrier 300)
        (is-equal 0.3 (socket-option client :receive-timeout) "setSoTimeout sets the option")
        (is-equal 300 (java-so-timeout carrier))
        (let ((t0 (precise-seconds)))
          (signals timeout-error (read-byte (socket-stream client)))
          (let ((took (- (precise-seconds) t0)))
            (is (< 0.25 took 1.5) (format nil "the read timed out after ~,3F s" took))))
        (java-so-timeout carrier 0)
        (is (null (socket-option client :receive-timeout)) "0 is no timeout, as in Java")
        (java-so-timeout carrier 200)
        (java-so-timeout carrier -1)
        (is-equal 200 (java-so-timeout carrier) "a negative timeout changes nothing")
        ;; the connection still works
        (write-byte 7 (socket-stream server))
        (force-output (socket-stream server))
        (is-equal 7 (read-byte (socket-stream client)))))))

(deftest abcl-carrier-of-a-closed-socket-changes-nothing
  (let ((usocket-cffi::*native-socket-objects* t) carrier)
    (with-pair (client server)
      (setf carrier (socket client)))
    ;; with-pair closed both: the carrier neither throws (it cannot: see
    ;; native-socket-abcl.lisp) nor reaches the closed socket
    (let ((*error-output* (make-broadcast-stream)))
      (java-so-timeout carrier 100))
    (is-equal 0 (java-so-timeout carrier))))
