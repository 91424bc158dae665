;;;; emfile-child.lisp: the child of faults.lisp's server-accept-emfile. Runs a
;;;; socket-server greeting each client, says its port, uses up its
;;;; descriptors (RLIMIT_NOFILE 64; on a runtime that already holds more, the
;;;; JVM of ABCL about 120, or inherits a high one, 16 above its highest), says "full", waits for "go" (the parent's
;;;; client has connected), stays out of descriptors for 300 ms, frees them
;;;; and says "freed <ms of CPU in those 300 ms>", then waits for "done".
;;;; Started by faults.lisp on the implementation under test (SBCL, ECL, ABCL;
;;;; CLISP has no threads). CPU is the whole process's (getrusage), as SBCL's
;;;; GET-INTERNAL-RUN-TIME gives it.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(multiple-value-bind (thread sock)
    (socket-server +lo4+ 0 (lambda (s) (write-line "hi" s) (force-output s)) nil :in-new-thread t)
  (format t "~D~%" (get-local-port sock))
  (finish-output)
  (cffi:with-foreign-object (rl :uint64 2)
    (cffi:foreign-funcall "getrlimit" :int 7 #|RLIMIT_NOFILE|# :pointer rl :int)
    (setf (cffi:mem-aref rl :uint64 0)
          (max 64 (+ 16 (reduce #'max (mapcar #'parse-integer (directory-entries "/proc/self/fd"))))))
    (cffi:foreign-funcall "setrlimit" :int 7 :pointer rl :int))
  (let ((fds '()))
    (loop repeat 4096
          do (let ((fd (cffi:foreign-funcall "open" :string "/dev/null" :int 0 :int)))
               (if (< fd 0) (return) (push fd fds))))
    ;; Full: the limit was reached, and freeing what was taken makes room.
    (format t "~:[not full~;full~]~%" (< 0 (length fds) 4096))
    (finish-output)
    (read-line)
    (let ((cpu0 (cpu-ms)))
      (sleep 0.3)                       ; out of descriptors for 300 ms
      (let ((cpu (- (cpu-ms) cpu0)))
        (dolist (fd fds) (cffi:foreign-funcall "close" :int fd :int))
        (format t "freed ~D~%" (round cpu))
        (finish-output))))
  (read-line *standard-input* nil)
  (socket-close sock)
  (join thread 5)
  (exit-lisp 0))
