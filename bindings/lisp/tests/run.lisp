;;;; sbcl --non-interactive --load bindings/lisp/tests/run.lisp
;;;; Runs the usocket-cffi tests; prints "N passed, M failed"; exits 1 on failure.
;;;; USOCKET_CFFI_TESTS=substring runs only the tests whose name contains it.

(require :asdf)
(push (merge-pathnames "../" (make-pathname :name nil :type nil :defaults *load-truename*))
      asdf:*central-registry*)
(let ((log (make-string-output-stream)))
  (handler-case (let ((*standard-output* log) (*error-output* log))
                  (asdf:load-system "usocket-cffi/tests"))
    (error (e)
      (format t "~A~%Loading the tests failed: ~A~%0 passed, 1 failed~%"
              (get-output-stream-string log) e)
      (sb-ext:exit :code 1 :abort t))))
(let ((filter (sb-ext:posix-getenv "USOCKET_CFFI_TESTS")))
  (when (and filter (plusp (length filter)))
    (setf usocket-cffi-tests:*test-filter* (string-downcase filter))))
(sb-ext:exit :code (if (usocket-cffi-tests:run-all) 0 1) :abort t)
