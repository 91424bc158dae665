;;;; Shared by every program test process (run by run.sh, one process per
;;;; implementation of usocket and group of tests):
;;;;  - loads the usocket under test, chosen by UPR_IMPL:
;;;;      native        Debian's cl-usocket (0.8.3), the control
;;;;      native-0.8.9  upstream usocket 0.8.9 from UPR_USOCKET_089 (with a bt2 shim)
;;;;      compat        usocket-cffi/compat from UPR_BINDING (answers to USOCKET)
;;;;  - keeps every fasl in UPR_CACHE (one directory per implementation: code
;;;;    compiled against one usocket must never be loaded beside another);
;;;;  - reports one line per test on standard output:
;;;;      RESULT PASS name
;;;;      RESULT FAIL name reason
;;;;      RESULT SKIP name reason
;;;;    and details (for the results file) as lines starting with "  | ".
;;;; Only ASDF, UIOP and bordeaux-threads are used here, so that other
;;;; implementations than SBCL can be added; what is SBCL's own is marked.

#+clisp (require "asdf")
#-clisp (require :asdf)

;; Every fasl goes to UPR_CACHE (per implementation of usocket), set before
;; anything is compiled; bordeaux-threads first, for the tests' time limits.
;; Only what is compiled against a usocket needs a cache of its own (usocket
;; itself, the programs that use it, usocket's tests); the rest (CFFI,
;; flexi-streams, cl-ppcre, the binding, ...) is the same whichever usocket
;; is loaded, and goes to ASDF's usual cache, which the binding's own test
;; stage (run-tests.sh) fills: compiled once per run, not once per process.
;; (ECL compiles through C: this halves a cold run's time there.)
(defparameter cl-user::*upr-usocket-dependent-sources*
  (remove nil (list "/usr/share/common-lisp/source/usocket/"
                    "/usr/share/common-lisp/source/hunchentoot/"
                    "/usr/share/common-lisp/source/drakma/"
                    "/usr/share/common-lisp/source/cl+ssl/"
                    (let ((d (uiop:getenv "UPR_USOCKET_089")))
                      (and d (plusp (length d)) (namestring (uiop:ensure-directory-pathname d)))))))
(let ((cache (uiop:getenv "UPR_CACHE")))
  (when (and cache (plusp (length cache)))
    (let ((cache (uiop:ensure-directory-pathname cache)))
      (asdf:initialize-output-translations
       `(:output-translations
         ,@(loop for source in cl-user::*upr-usocket-dependent-sources*
                 for i from 0
                 ;; explicit wildcards on both sides (ECL wants them to match)
                 collect (list (merge-pathnames "**/*.*" source)
                               (merge-pathnames
                                (format nil "~D-~A/**/*.*" i (car (last (pathname-directory source))))
                                cache)))
         :inherit-configuration)))))
(let ((*standard-output* (make-broadcast-stream)) (*error-output* (make-broadcast-stream)))
  (asdf:load-system "bordeaux-threads"))

(defpackage #:usocket-programs
  (:use #:common-lisp)
  (:export #:with-time-limit #:env #:impl #:tmp-file #:quietly #:load-systems #:report #:run-test
           #:detail #:finish #:*program-timeout*))
(in-package #:usocket-programs)

(defmacro with-time-limit ((seconds) &body body)
  "BODY under bordeaux-threads' WITH-TIMEOUT, or, in a Lisp without threads
(Debian's CLISP), with no limit of its own (run.sh's process limit bounds it)."
  `(if bt:*supports-threads-p*
       (bt:with-timeout (,seconds) ,@body)
       (progn ,@body)))

(defun env (name &optional default)
  (let ((value (uiop:getenv name)))
    (if (and value (plusp (length value))) value default)))

(defun impl ()
  (let ((name (env "UPR_IMPL" "native")))
    (cond ((string= name "native") :native)
          ((string= name "native-0.8.9") :native-0.8.9)
          ((string= name "compat") :compat)
          (t (error "UPR_IMPL must be native, native-0.8.9 or compat, not ~S" name)))))

(defun tmp-file (name)
  (merge-pathnames name (uiop:ensure-directory-pathname (env "UPR_TMP" "/tmp/"))))

;;; Results

(defun exit-process (code)
  "End the process with CODE at once, without waiting for the programs'
threads (servers still listening, workers in reads). On ECL by _exit(2):
ECL's own exit (uiop:quit, ext:quit) tears the runtime down around threads
still blocked in their sockets, and after DONE it was seen to hang until
run.sh's limit or to die of SIGSEGV, with native usocket and with compat
alike."
  (finish-output *standard-output*)
  (finish-output *error-output*)
  #+ecl (si:call-cfun (si:find-foreign-symbol "_exit" :default :pointer-void 0)
                      :void '(:int) (list code))
  (uiop:quit code nil))

(defvar *counts* (list :pass 0 :fail 0 :skip 0))

(defun one-line (string &optional (max 400))
  (let ((s (substitute #\Space #\Newline (substitute #\Space #\Return (princ-to-string string)))))
    (if (> (length s) max) (concatenate 'string (subseq s 0 max) "...") s)))

(defun detail (control &rest args)
  "Lines for the results file (not the summary)."
  (with-input-from-string (in (apply #'format nil control args))
    (loop for line = (read-line in nil) while line
          do (format t "  | ~A~%" line)))
  (finish-output))

(defun report (status name &optional reason)
  (incf (getf *counts* status))
  (format t "~&RESULT ~A ~A~@[ ~A~]~%" (symbol-name status) name
          (and reason (one-line reason)))
  (finish-output))

(defparameter *program-timeout* 15
  "No test waits longer than this (seconds) before it is failed.")

;;; A thread of the program under test (Hunchentoot's listener, a worker)
;;; that dies of an unhandled error would end the whole process in
;;; --non-interactive mode. Instead the thread alone ends, and the test running
;;; at that moment fails at once with that error as its reason.

(defvar *test-thread* nil "The thread running a test, while it runs.")

(define-condition thread-crashed (error)
  ((text :initarg :text :reader thread-crashed-text))
  (:report (lambda (c s) (write-string (thread-crashed-text c) s))))

(defun crash-text (condition)
  (format nil "unhandled ~S in thread ~S: ~A" (type-of condition)
          (ignore-errors (bt:thread-name (bt:current-thread)))
          (handler-case (princ-to-string condition) (error () "#<unprintable>"))))

(defun thread-debugger-hook (condition hook)
  (declare (ignore hook))
  (let ((text (crash-text condition))
        (main *test-thread*))
    (cond ((and main (not (eq main (bt:current-thread))))
           (ignore-errors
            (bt:interrupt-thread main (lambda () (error 'thread-crashed :text text))))
           (abort))
          (t
           (format t "~&RESULT FAIL crash ~A~%" (one-line text))
           (finish-output)
           (exit-process 3)))))

(setf *debugger-hook* #'thread-debugger-hook)
#+sbcl (setf sb-ext:*invoke-debugger-hook* #'thread-debugger-hook)

(defun run-test (name function &key (timeout *program-timeout*))
  "Runs FUNCTION, which returns :pass, (values :fail reason) or (values :skip reason),
or signals: an error or a timeout is a failure."
  (multiple-value-bind (status reason)
      (handler-case
          (progn
            (setf *test-thread* (and bt:*supports-threads-p* (bt:current-thread))) ; global: seen by every thread
            (unwind-protect
                 (with-time-limit (timeout)
                   (handler-bind ((warning #'muffle-warning))
                     (funcall function)))
              (setf *test-thread* nil)))
        (bt:timeout ()
          (values :fail (format nil "no answer within ~D s (test aborted)" timeout)))
        (error (e)
          (values :fail (format nil "~A: ~A" (type-of e)
                                (handler-case (princ-to-string e)
                                  (error () "#<unprintable>"))))))
    (case status
      ((:pass t) (report :pass name))
      (:skip (report :skip name reason))
      (t (report :fail name (or reason (format nil "returned ~S" status)))))))

(defun finish ()
  (format t "~&DONE ~D passed, ~D failed, ~D skipped~%"
          (getf *counts* :pass) (getf *counts* :fail) (getf *counts* :skip))
  (finish-output)
  ;; without waiting for the program's threads (servers still listening)
  (exit-process 0))

;;; Loading

(defmacro quietly (&body body)
  "Runs BODY with its output (compiler notes, warnings) kept aside; on an error
prints it, reports the failure as the test LOAD, and exits."
  `(let ((log (make-string-output-stream)))
     (handler-case
         (let ((*standard-output* log) (*error-output* log) (*trace-output* log))
           (handler-bind ((warning #'muffle-warning))
             ,@body))
       (error (e)
         (detail "~A" (get-output-stream-string log))
         (report :fail "load" (format nil "~A: ~A" (type-of e) e))
         (finish-output)
         (exit-process 2)))))

(defun define-bt2 ()
  "usocket-server 0.8.9 calls bt2:make-thread (bordeaux-threads 0.9); Debian has
bordeaux-threads 0.8.8. The shim gives it make-thread over bordeaux-threads."
  (unless (find-package "BT2")
    (let ((package (make-package "BORDEAUX-THREADS-2" :nicknames '("BT2") :use '())))
      (let ((symbol (intern "MAKE-THREAD" package)))
        (export symbol package)
        (setf (fdefinition symbol)
              (lambda (function &key name initial-bindings trap-conditions)
                (declare (ignore trap-conditions))
                (bt:make-thread function :name name
                                         :initial-bindings
                                         (or initial-bindings bt:*default-special-bindings*))))))))

(defun load-usocket ()
  (ecase (impl)
    (:native
     (asdf:load-system "usocket")
     (asdf:load-system "usocket-server"))
    (:native-0.8.9
     (asdf:load-system "bordeaux-threads")
     (define-bt2)
     (push (uiop:ensure-directory-pathname (env "UPR_USOCKET_089")) asdf:*central-registry*)
     (asdf:load-system "usocket")
     (asdf:load-system "usocket-server"))
    (:compat
     (push (uiop:ensure-directory-pathname (env "UPR_BINDING")) asdf:*central-registry*)
     (asdf:load-system "usocket-cffi/compat"))))

(defun describe-usocket ()
  (let ((system (asdf:find-system "usocket")))
    (format t "~&INFO ~(~A~): package ~A, system usocket ~A from ~A~%"
            (impl)
            (package-name (find-package "USOCKET"))
            (asdf:component-version system)
            (or (asdf:system-source-directory system) "(registered by usocket-cffi/compat)"))
    (finish-output)))

(defun load-systems (&rest systems)
  "Loads the usocket under test, then SYSTEMS, quietly."
  (quietly (load-usocket))
  (describe-usocket)
  (quietly (dolist (s systems) (asdf:load-system s)))
  (dolist (s systems)
    (format t "~&INFO ~A ~A from ~A~%" s (asdf:component-version (asdf:find-system s))
            (asdf:system-source-directory s)))
  (finish-output))
