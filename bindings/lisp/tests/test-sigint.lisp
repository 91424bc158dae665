;;;; C-c in a child process blocked in a read (SBCL and ECL, which defer
;;;; interrupts around core calls; CLISP cannot, see test-sigint-clisp.lisp if
;;;; present; ABCL's JVM ends on SIGINT). The child is tests/sigint-child.lisp
;;;; on the same implementation as this one.

(in-package #:usocket-cffi-tests)

(deftest sigint-interrupts-a-blocked-read
  (let* ((script (namestring (merge-pathnames "tests/sigint-child.lisp" *lisp-dir*)))
         (process (uiop:launch-program
                   (append (list "env" (format nil "USOCKET_CFFI_DIR=~A" (namestring *lisp-dir*)))
                           (lisp-command-to-load script))
                   :output :stream :error-output :output))
         (out (uiop:process-info-output process)))
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
             (uiop:run-program (list "kill" "-INT" (princ-to-string (uiop:process-info-pid process))))
             (let ((line (loop for line = (read-line out nil nil)
                               while line
                               when (search "interrupted" line) return line)))
               (is line "the child saw the interrupt")
               (is (<= (elapsed-seconds start) (+ *interrupt-limit* 0.1))
                   (format nil "SIGINT took ~,3F s" (elapsed-seconds start)))
               (is (search "INTERACTIVE-INTERRUPT" line) line))
             (let ((handles (read-line out nil ""))
                   (after (read-line out nil "")))
               (multiple-value-bind (before end) (parse-integer handles :start 8 :junk-allowed t)
                 (is (and before (eql before (parse-integer handles :start (+ end 8) :junk-allowed t)))
                     (format nil "the core's handles after the interrupt: ~A" handles)))
               (is-equal "then read after" after "the sockets still work"))))
      (when (uiop:process-alive-p process)
        (uiop:terminate-process process :urgent t))
      (uiop:wait-process process)
      (uiop:close-streams process))))
