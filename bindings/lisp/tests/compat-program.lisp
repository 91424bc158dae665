;;;; A small program written for usocket 0.8, left as it is: it loads
;;;; usocket through ASDF and uses only usocket's package. The test runs it
;;;; once on Debian's usocket and once on usocket-cffi/compat and compares
;;;; what it prints.

(require :asdf)
(asdf:load-system "usocket-server")

(defpackage #:usocket-demo
  (:use #:common-lisp #:usocket))
(in-package #:usocket-demo)

(defun upcase-handler (stream)
  (let ((line (read-line stream nil)))
    (when line
      (write-line (string-upcase line) stream)
      (force-output stream))))

(defun main ()
  ;; A TCP server in a thread, a client with the WITH- macros.
  (multiple-value-bind (thread server)
      (socket-server "127.0.0.1" 0 #'upcase-handler nil :in-new-thread t)
    (let ((port (get-local-port server)))
      (with-client-socket (socket stream "127.0.0.1" port)
        (format stream "hello usocket~%")
        (force-output stream)
        (wait-for-input socket :timeout 5)
        (format t "tcp: ~A~%" (read-line stream))
        (format t "peer: ~A~%" (vector-quad-to-dotted-quad (get-peer-address socket)))))
    (bt:destroy-thread thread)
    (ignore-errors (socket-close server)))
  ;; Listen, connect and accept by hand; wait on both ends.
  (with-socket-listener (listener "127.0.0.1" 0 :reuse-address t)
    (let* ((client (socket-connect "127.0.0.1" (get-local-port listener)
                                   :element-type '(unsigned-byte 8)))
           (server (socket-accept listener :element-type '(unsigned-byte 8))))
      (write-sequence (make-array 3 :element-type '(unsigned-byte 8) :initial-contents '(1 2 3))
                      (socket-stream client))
      (force-output (socket-stream client))
      (let ((ready (wait-for-input (list client server) :timeout 5 :ready-only t)))
        (format t "ready: ~A~%" (mapcar (lambda (s) (if (eq s server) :server :client)) ready)))
      (let ((buffer (make-array 3 :element-type '(unsigned-byte 8))))
        (read-sequence buffer (socket-stream server))
        (format t "bytes: ~A~%" (coerce buffer 'list)))
      (socket-close client)
      (format t "eof: ~A~%" (read-byte (socket-stream server) nil :eof))
      (socket-close server)))
  ;; UDP, unconnected and connected.
  (let* ((a (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1" :local-port 0))
         (b (socket-connect "127.0.0.1" (get-local-port a) :protocol :datagram)))
    (socket-send b (make-array 2 :element-type '(unsigned-byte 8) :initial-contents '(7 9)) 2)
    (multiple-value-bind (buffer size host)
        (socket-receive a (make-array 16 :element-type '(unsigned-byte 8)) 16)
      (format t "udp: ~A from ~A~%" (coerce (subseq buffer 0 size) 'list)
              (vector-quad-to-dotted-quad host)))
    (socket-close a)
    (socket-close b))
  ;; Conditions.
  (handler-case (socket-connect "127.0.0.1" (let ((l (socket-listen "127.0.0.1" 0)))
                                              (prog1 (get-local-port l) (socket-close l))))
    (connection-refused-error () (format t "refused: yes~%")))
  (format t "helpers: ~A ~A~%" (hbo-to-dotted-quad 2130706433) (host-byte-order "10.0.0.1")))

(main)
