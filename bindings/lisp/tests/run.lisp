;;;; <lisp> --load bindings/lisp/tests/run.lisp   (SBCL, ECL, CLISP, ABCL; see run-tests.sh)
;;;; Runs the usocket-cffi tests; prints "N passed, M failed" (", K skipped"
;;;; when some need what this Lisp lacks); exits 1 on failure.
;;;; USOCKET_CFFI_TESTS=substring runs only the tests whose name contains it.

#+clisp (require "asdf")
#-clisp (require :asdf)
(push (merge-pathnames "../" (make-pathname :name nil :type nil :defaults *load-truename*))
      asdf:*central-registry*)
(let ((log (make-string-output-stream)))
  (handler-case (let ((*standard-output* log) (*error-output* log))
                  (asdf:load-system "usocket-cffi/tests"))
    (error (e)
      (format t "~A~%Loading the tests failed: ~A~%0 passed, 1 failed~%"
              (get-output-stream-string log) e)
      (finish-output)
      (uiop:quit 1 nil))))
(let ((filter (uiop:getenv "USOCKET_CFFI_TESTS")))
  (when (and filter (plusp (length filter)))
    (setf (symbol-value (find-symbol "*TEST-FILTER*" "USOCKET-CFFI-TESTS"))
          (string-downcase filter))))
(let ((code (if (uiop:symbol-call "USOCKET-CFFI-TESTS" "RUN-ALL") 0 1)))
  (finish-output)
  ;; ECL: end the threads still running (servers' handlers) with the process.
  #+ecl (ext:quit code t)
  #-ecl (uiop:quit code nil))
