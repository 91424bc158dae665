;;;; hostile-server.lisp: the Lisp server the hostile-peer driver attacks:
;;;; usocket-cffi:socket-server, TCP with :multi-threading t (line echo:
;;;; each line a client sends comes back, until it closes) and UDP (a
;;;; datagram of 0 octets is answered "empty", any other is echoed), both
;;;; :in-new-thread t.
;;;;
;;;;   sbcl --noinform --non-interactive --no-userinit --no-sysinit \
;;;;        --load tests/hardening/hostile-server.lisp
;;;;
;;;; Prints "READY <tcp-port> <udp-port>", serves until stdin reaches end of
;;;; file, then closes both servers' sockets (which stops them) and exits 0.
;;;; Same protocol as hostile_server.c and hostile_server.py.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(defun echo-lines (stream)
  (handler-case
      (loop for line = (read-line stream nil)
            while line
            do (write-line line stream)
               (force-output stream))
    ;; the hostile clients that reset or go away mid-request
    ((or connection-reset-error shutdown-error) () nil)))

(defun udp-reply (data)
  (if (zerop (length data))
      (map '(vector (unsigned-byte 8)) #'char-code "empty")
      data))

(multiple-value-bind (tcp-thread tcp-socket)
    (socket-server +lo4+ 0 #'echo-lines nil :in-new-thread t :multi-threading t)
  (multiple-value-bind (udp-thread udp-socket)
      (socket-server +lo4+ 0 #'udp-reply nil :in-new-thread t :protocol :datagram)
    (format t "READY ~D ~D~%" (get-local-port tcp-socket) (get-local-port udp-socket))
    (finish-output)
    (loop while (read-line *standard-input* nil))
    (socket-close tcp-socket)
    (socket-close udp-socket)
    (join tcp-thread 10)
    (join udp-thread 10)
    (sb-ext:exit :code 0 :abort t)))
