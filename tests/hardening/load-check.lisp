;;;; load-check.lisp: run.sh's check that usocket-cffi loads on a Lisp other
;;;; than SBCL, which also fills ASDF's fasl cache before a part is timed
;;;; (ECL compiles through C: about a minute cold). Prints one line and
;;;; exits 0; hlisp.lisp prints the reason and exits 1 when it does not load.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)
(format t "usocket-cffi loads on ~A ~A (core ~A)~%" (implementation-name)
        (let ((v (lisp-implementation-version))) (subseq v 0 (position #\Space v)))
        (usocket-cffi:core-version))
(exit-lisp 0)
