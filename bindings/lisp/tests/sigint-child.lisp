;;;; Child process of the sigint-interrupts-a-blocked-read test (SBCL, ECL):
;;;; blocks in a read on a loopback socket, reports the SIGINT its parent
;;;; sends (the condition's type), and then that the core's handles are all
;;;; still there and the sockets still work.
(require :asdf)
(push (pathname (uiop:getenv "USOCKET_CFFI_DIR")) asdf:*central-registry*)
(let ((*error-output* (make-broadcast-stream)))
  (asdf:load-system "usocket-cffi"))
(in-package #:usocket-cffi)
(let* ((listener (socket-listen "127.0.0.1" 0))
       (client (socket-connect "127.0.0.1" (get-local-port listener)))
       (server (socket-accept listener))
       (before (%open-handles)))
  (format t "blocking~%")
  (finish-output)
  (handler-case (progn (read-line (socket-stream server))
                       (format t "read returned~%"))
    ;; SBCL's SB-SYS:INTERACTIVE-INTERRUPT, ECL's EXT:INTERACTIVE-INTERRUPT
    (serious-condition (c)
      (format t "interrupted ~A~%" (type-of c))))
  (format t "handles ~D before, ~D after~%" before (%open-handles))
  (write-line "after" (socket-stream client))
  (force-output (socket-stream client))
  (format t "then read ~A~%" (read-line (socket-stream server)))
  (finish-output)
  (uiop:quit 0 nil))
