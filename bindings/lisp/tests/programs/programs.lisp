;;;; Entry point: Hunchentoot, Drakma and cl+ssl, as Debian ships them, on the
;;;; usocket chosen by UPR_IMPL (see common.lisp). Run by run.sh.

(load (merge-pathnames "common.lisp" *load-truename*))
(usocket-programs:load-systems "hunchentoot" "drakma" "cl+ssl")
(load (merge-pathnames "program-tests.lisp" *load-truename*))
;; CLISP has no threads: servers run in child processes (program-tests-clisp.lisp).
#+clisp (load (merge-pathnames "program-tests-clisp.lisp" *load-truename*))
#+clisp (uiop:symbol-call "USOCKET-PROGRAMS" "RUN-CLISP-PROGRAM-TESTS")
#-clisp (uiop:symbol-call "USOCKET-PROGRAMS" "RUN-PROGRAM-TESTS")
(usocket-programs:finish)
