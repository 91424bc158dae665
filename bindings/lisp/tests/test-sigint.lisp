;;;; C-c in a child SBCL process blocked in a read (SBCL only: the child,
;;;; tests/sigint-child.lisp, is an SBCL program).

(in-package #:usocket-cffi-tests)

(deftest sigint-interrupts-a-blocked-read
  ;; C-c: SIGINT to an SBCL process blocked in a read, in a child process.
  (let* ((script (namestring (merge-pathnames "tests/sigint-child.lisp" *lisp-dir*)))
         (process (sb-ext:run-program "sbcl" (list "--noinform" "--non-interactive"
                                                   "--no-userinit" "--no-sysinit"
                                                   "--load" script)
                                      :search t :output :stream :error :output :wait nil
                                      :environment (append (list (format nil "USOCKET_CFFI_DIR=~A"
                                                                         (namestring *lisp-dir*)))
                                                           (sb-ext:posix-environ))))
         (out (sb-ext:process-output process)))
    (unwind-protect
         (let ((lines '()))
           ;; Wait (bounded by the child's own output) for it to be reading.
           (loop for line = (read-line out nil nil)
                 while line
                 do (push line lines)
                 until (search "blocking" line))
           (is (and lines (search "blocking" (first lines))) (format nil "child: ~S" lines))
           (let-it-block)
           (let ((start (get-internal-real-time)))
             (sb-ext:process-kill process sb-unix:sigint)
             (let ((line (loop for line = (read-line out nil nil)
                               while line
                               when (search "interrupted" line) return line)))
               (is line "the child saw the interrupt")
               (is (<= (elapsed-seconds start) (+ *interrupt-limit* 0.1))
                   (format nil "SIGINT took ~,3F s" (elapsed-seconds start))))))
      (when (sb-ext:process-alive-p process)
        (sb-ext:process-kill process sb-unix:sigkill))
      (sb-ext:process-wait process)
      (sb-ext:process-close process))))

