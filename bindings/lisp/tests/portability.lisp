;;;; What the tests need from the implementation, each Lisp's way (the only
;;;; test file with #+sbcl/#+ecl/#+clisp/#+abcl): threads with bounded joins,
;;;; a time limit per test, processes, the environment, GC, clocks, and
;;;; introspection of variables and lambda lists.

(defpackage #:usocket-cffi-tests
  (:use #:common-lisp #:usocket-cffi)
  (:shadow #:run)
  (:export #:run-all #:*test-filter*))

(in-package #:usocket-cffi-tests)

(define-condition skip-test (condition)
  ((reason :initarg :reason :reader skip-reason))
  (:report (lambda (c s) (write-string (skip-reason c) s))))

(defun skip (format &rest args)
  "End the running test as skipped, saying why."
  (signal 'skip-test :reason (apply #'format nil format args))
  (error "skip outside a test: ~?" format args))

(defun threads-p () bt:*supports-threads-p*)

(defun need-threads (what)
  (unless (threads-p)
    (skip "needs threads (~A), which ~A ~A is built without" what
          (lisp-implementation-type) (lisp-implementation-version))))

;;; Threads.

(defstruct (test-thread (:constructor %make-test-thread))
  thread (lock (bt:make-lock "test thread")) (done (bt:make-condition-variable))
  (finished nil) (value nil) (error nil) name)

(defun spawn (name function)
  "Run FUNCTION in a new thread (skips the test where there are none)."
  (need-threads name)
  (let ((tt (%make-test-thread :name name)))
    (setf (test-thread-thread tt)
          (bt:make-thread (lambda ()
                            (let ((value nil))
                              ;; An error ends the thread, not the process (nor
                              ;; a debugger reading the terminal from it): JOIN
                              ;; fails the test with it.
                              (unwind-protect
                                   (handler-case (setf value (funcall function))
                                     (error (e)
                                       (setf (test-thread-error tt) e)
                                       (ignore-errors
                                        (format *error-output* "~&thread ~A: ~S: ~A~%"
                                                name (type-of e) e))))
                                (bt:with-lock-held ((test-thread-lock tt))
                                  (setf (test-thread-value tt) value
                                        (test-thread-finished tt) t)
                                  (bt:condition-notify (test-thread-done tt))))))
                          :name name))
    tt))

(defun wait-finished (tt limit)
  "Wait until TT's function has returned or unwound, at most LIMIT seconds;
whether it has."
  (let ((deadline (+ (get-internal-real-time) (* limit internal-time-units-per-second))))
    (bt:with-lock-held ((test-thread-lock tt))
      (loop repeat 10000
            until (test-thread-finished tt)
            do (let ((left (/ (- deadline (get-internal-real-time)) internal-time-units-per-second)))
                 (when (<= left 0) (return))
                 (bt:condition-wait (test-thread-done tt) (test-thread-lock tt)
                                    :timeout (min left 1))))
      (test-thread-finished tt))))

(defun os-thread (thread)
  "The implementation's thread object of THREAD (from SPAWN)."
  (test-thread-thread thread))

(defun join (thread &optional (limit 10))
  "Join THREAD (from SPAWN, or a thread made elsewhere, e.g. SOCKET-SERVER's),
failing if it is still running after LIMIT seconds. Returns its value (NIL
if it was terminated)."
  (unless (test-thread-p thread)
    ;; Joined by a thread of ours, which we can wait for with a limit.
    (let ((joiner (spawn "joiner" (lambda () (bt:join-thread thread)))))
      (if (wait-finished joiner limit)
          (return-from join (test-thread-value joiner))
          (progn (ignore-errors (bt:destroy-thread thread))
                 (fail "thread ~A did not finish within ~A s" (bt:thread-name thread) limit)))))
  (if (wait-finished thread limit)
      (progn (ignore-errors (bt:join-thread (test-thread-thread thread)))
             (let ((e (test-thread-error thread)))
               (when e
                 (fail "thread ~A signalled ~S: ~A" (test-thread-name thread) (type-of e)
                       (handler-case (princ-to-string e) (error () "#<unprintable>")))))
             (test-thread-value thread))
      (progn (ignore-errors (bt:destroy-thread (test-thread-thread thread)))
             (fail "thread ~A did not finish within ~A s" (test-thread-name thread) limit))))

(defun thread-alive-p (thread)
  (bt:thread-alive-p (test-thread-thread thread)))

;; Interrupts (SBCL, ECL, ABCL).

(defun interrupt-thread (thread function)
  "Run FUNCTION in THREAD (from SPAWN), interrupting what it does."
  (bt:interrupt-thread (os-thread thread) function))

(defun returning-interrupts-run-p ()
  "Whether an interrupt function that returns normally runs in a thread
blocked in a read (ABCL 1.9.0: it did not, measured)."
  #+abcl nil
  #-abcl t)

(defun terminate-thread (thread)
  #+sbcl (sb-thread:terminate-thread (os-thread thread))
  #-sbcl (bt:destroy-thread (os-thread thread)))

(defmacro with-timeout-signalled (seconds &body body)
  "BODY, interrupted by a TIMEOUT-SIGNAL condition after SECONDS (SBCL's
SB-EXT:WITH-TIMEOUT, elsewhere bordeaux-threads')."
  #+sbcl `(sb-ext:with-timeout ,seconds ,@body)
  #-sbcl `(progn (need-threads "a timeout") (bt:with-timeout (,seconds) ,@body)))

(deftype timeout-signal ()
  #+sbcl 'sb-ext:timeout
  #-sbcl 'bt:timeout)

;;; A time limit on each test.

(defmacro with-time-limit ((seconds) &body body)
  "BODY, or :TIMED-OUT when it took more than SECONDS. SBCL only: elsewhere
bordeaux-threads' WITH-TIMEOUT is a sleeping thread per call that interrupts
(ECL then crashed at exit), so there the runner's time limit on the whole run
bounds a test that hangs."
  #+sbcl `(handler-case (sb-ext:with-timeout ,seconds ,@body)
            (sb-ext:timeout () :timed-out))
  #-sbcl `(progn ,seconds ,@body))

(defun native-stream-kinds ()
  "The stream kinds to test: the Gray stream (NIL), and the implementation's
native stream (T) where usocket-cffi/compat has one."
  (if (usocket-cffi::native-streams-supported-p) '(nil t) '(nil)))

(defmacro with-debugger-hook ((hook) &body body)
  "BODY with HOOK called for a condition that reaches the debugger."
  #+sbcl `(let ((sb-ext:*invoke-debugger-hook* ,hook)) ,@body)
  #-sbcl `(let ((*debugger-hook* ,hook)) ,@body))

;;; Processes and the environment.

(defun utf-8 ()
  "The external format OPEN takes for UTF-8."
  #+clisp charset:utf-8
  #-clisp :utf-8)

(defun machine-host-name ()
  "This machine's host name as MACHINE-INSTANCE gives it (CLISP appends
\" [address]\")."
  (let ((name (machine-instance)))
    #+clisp (subseq name 0 (or (position #\Space name) (length name)))
    #-clisp name))

(defun directory-exists-p (path) (uiop:directory-exists-p path))

(defun macro-lambda-list (symbol)
  #+clisp (ext:arglist symbol)
  #+abcl (sys::arglist symbol)
  #-(or clisp abcl) (function-lambda-list (macro-function symbol)))

(defun run-program-output (program args &key (input nil))
  "Run PROGRAM with ARGS; values: its output (stdout and stderr) and exit code."
  (multiple-value-bind (out err code)
      (uiop:run-program (cons program args) :output :string :error-output :output
                                            :input input :ignore-error-status t)
    (declare (ignore err))
    (values out code)))

(defun getenv (name) (uiop:getenv name))

(cffi:defcfun ("getpid" getpid) :int32)
(cffi:defcfun ("getuid" getuid) :uint32)
(cffi:defcfun ("clock_gettime" %clock-gettime) :int (clock :int) (ts :pointer))

(defun precise-seconds ()
  "CLOCK_MONOTONIC in seconds (GET-INTERNAL-REAL-TIME is a 4 ms coarse clock here)."
  (cffi:with-foreign-object (ts :int64 2)
    (%clock-gettime 1 ts)
    (+ (cffi:mem-aref ts :int64 0) (/ (cffi:mem-aref ts :int64 1) 1d9))))

(defun largest-safe-octet-vector ()
  "The largest octet vector a test may make: Debian's CLISP 2.49.93 dies of
SIGSEGV in its GC holding a 16 MiB vector once ASDF is loaded (reproduced
with (require \"asdf\") alone), so tests write large amounts in blocks there."
  #+clisp (* 1024 1024)
  #-clisp array-total-size-limit)

(defun full-gc ()
  #+sbcl (sb-ext:gc :full t)
  #+ecl (ext:gc t)
  #+clisp (ext:gc)
  #+abcl (java:jstatic "gc" "java.lang.System")) ; EXT:GC loops until the heap settles

(defun delete-directory (dir) (uiop:delete-empty-directory dir))

(defun positive-infinity ()
  "A float infinity, or NIL where floats have none (CLISP)."
  #+sbcl sb-ext:double-float-positive-infinity
  #+ecl ext:double-float-positive-infinity
  #+abcl ext:double-float-positive-infinity
  #-(or sbcl ecl abcl) nil)

;;; Introspection.

(defun special-variable-p (symbol)
  #+sbcl (eq (sb-int:info :variable :kind symbol) :special)
  #+ecl (si:specialp symbol)
  #+(or clisp abcl) (ext:special-variable-p symbol))

(defun function-lambda-list (function)
  #+sbcl (sb-kernel:%fun-lambda-list function)
  #+ecl (ext:function-lambda-list function)
  #+clisp (ext:arglist function)
  #+abcl (sys::arglist function))

(defun gf-lambda-list (gf)
  #+sbcl (sb-mop:generic-function-lambda-list gf)
  #+(or ecl clisp) (clos:generic-function-lambda-list gf)
  #+abcl (mop:generic-function-lambda-list gf))

(defun gray-read-sequence (stream sequence start end)
  "The stream's Gray READ-SEQUENCE method, reached without CL's checks."
  #+sbcl (sb-gray:stream-read-sequence stream sequence start end)
  #-sbcl (trivial-gray-streams:stream-read-sequence stream sequence start end))

(defun gray-write-sequence (stream sequence start end)
  #+sbcl (sb-gray:stream-write-sequence stream sequence start end)
  #-sbcl (trivial-gray-streams:stream-write-sequence stream sequence start end))

(defun exit-lisp (code)
  (finish-output)
  (uiop:quit code nil))
