;;;; emfile-child.lisp: the child of faults.lisp's server-accept-emfile. Runs a
;;;; socket-server greeting each client, says its port, uses up its
;;;; descriptors (RLIMIT_NOFILE 64), says "full", waits for "go" (the parent's
;;;; client has connected), stays out of descriptors for 300 ms, frees them
;;;; and says "freed <ms of CPU in those 300 ms>", then waits for "done".

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(multiple-value-bind (thread sock)
    (socket-server +lo4+ 0 (lambda (s) (write-line "hi" s) (force-output s)) nil :in-new-thread t)
  (format t "~D~%" (get-local-port sock))
  (finish-output)
  (cffi:with-foreign-object (rl :uint64 2)
    (cffi:foreign-funcall "getrlimit" :int 7 #|RLIMIT_NOFILE|# :pointer rl :int)
    (setf (cffi:mem-aref rl :uint64 0) 64)
    (cffi:foreign-funcall "setrlimit" :int 7 :pointer rl :int))
  (let ((fds '()))
    (loop repeat 200
          do (let ((fd (cffi:foreign-funcall "open" :string "/dev/null" :int 0 :int)))
               (if (< fd 0) (return) (push fd fds))))
    (format t "~:[not full~;full~]~%" (< (length fds) 200))
    (finish-output)
    (read-line)
    (let ((cpu0 (get-internal-run-time)))
      (sleep 0.3)                       ; out of descriptors for 300 ms
      (let ((cpu (- (get-internal-run-time) cpu0)))
        (dolist (fd fds) (cffi:foreign-funcall "close" :int fd :int))
        (format t "freed ~D~%" (round (* 1000 cpu) internal-time-units-per-second))
        (finish-output))))
  (read-line *standard-input* nil)
  (socket-close sock)
  (join thread 5)
  (sb-ext:exit :code 0 :abort t))
