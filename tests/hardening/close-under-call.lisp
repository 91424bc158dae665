;;;; close-under-call.lisp: close under a blocked call, from Lisp (issue 7).
;;;;
;;;; For read, write to a full buffer, accept, receive, a plain wait and a
;;;; wait on a wait list, a thread blocks in the call and the main thread
;;;; closes the socket (SOCKET-CLOSE; for the wait list, frees the list's
;;;; handle, as usocket has no call for that) once the kernel says the thread
;;;; is blocked in the system call (/proc/self/task/TID/syscall; for read,
;;;; accept and receive also poll/ppoll, 7 and 271: 0.2's sliced _for calls
;;;; wait in the core's poll first). The call must signal INVALID-HANDLE-ERROR within 100 ms of the close.
;;;; Prints one line per case and "N passed, M failed" last.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(defparameter *limit-ms* 100)
(defparameter +poll+ '(7 271))
(defparameter +epoll+ '(232 281))

(defun run-case (name call victim syscalls &optional cleanup)
  "Block in CALL on a thread, close VICTIM (a function) once it is blocked."
  (let* ((returned nil)
         (thread (sb-thread:make-thread
                  (lambda ()
                    (prog1 (handler-case (progn (funcall call) :returned)
                             ((or error socket-condition) (c) c))
                      (setf returned (now-ms))))
                  :name name)))
    (unwind-protect
         (let ((blocked (wait-blocked thread :syscalls syscalls))
               (closed (now-ms)))
           (funcall victim)
           (multiple-value-bind (result ended) (join thread 5)
             (let ((took (and returned (- returned closed))))
               (check (and blocked ended (typep result 'invalid-handle-error) took (< took *limit-ms*))
                      name "~:[never seen blocked in ~A; ~;~*~]~:[still running 5 s after the close~;~
                            ~:*ended with ~A ~,1F ms after the close~]"
                      blocked syscalls
                      (and ended (if (typep result 'condition) (condition-name result) result))
                      took))))
      (when (sb-thread:thread-alive-p thread) (sb-thread:terminate-thread thread))
      (when cleanup (funcall cleanup)))))

(defun cases ()
  (multiple-value-bind (c a l) (pair)
    (run-case "read" (lambda () (read-byte (socket-stream c)))
              (lambda () (socket-close c)) '(45 7 271) (lambda () (close-all a l))))
  (multiple-value-bind (c a l) (pair)
    (let ((data (octets (* 32 1024 1024))))
      (run-case "write to a full buffer"
                (lambda () (write-sequence data (socket-stream c)) (force-output (socket-stream c)))
                (lambda () (socket-close c)) (list* 44 +poll+) (lambda () (close-all a l)))))
  (let ((l (socket-listen +lo4+ 0)))
    (run-case "accept" (lambda () (socket-accept l)) (lambda () (socket-close l)) '(288 43 7 271)))
  (let ((u (udp)))
    (run-case "receive" (lambda () (socket-receive u nil nil)) (lambda () (socket-close u)) '(45 7 271)))
  (multiple-value-bind (c a l) (pair)
    (run-case "wait-for-input" (lambda () (wait-for-input (list a)))
              (lambda () (socket-close a)) +poll+ (lambda () (close-all c l))))
  (multiple-value-bind (c a l) (pair)
    (let ((wl (make-wait-list (list a))))
      (run-case "wait-for-input on a wait list" (lambda () (wait-for-input wl))
                (lambda () (usocket-cffi::%wait-list-free (usocket-cffi::wait-list-handle wl)))
                +epoll+ (lambda () (close-all c a l))))))

(let ((handles (usocket-cffi::%open-handles)) (fds (fd-count)))
  (cases)
  (full-gc)
  (check (and (= handles (usocket-cffi::%open-handles)) (= fds (fd-count)))
         "nothing leaked" "handles ~D -> ~D, descriptors ~D -> ~D"
         handles (usocket-cffi::%open-handles) fds (fd-count)))
(summary "close under call (Lisp)")
