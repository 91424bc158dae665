;;;; hportable.lisp: what the Lisp programs of tests/hardening/ need from the
;;;; implementation, each Lisp's way (SBCL, ECL, CLISP, ABCL). The only file
;;;; of tests/hardening/ with #+sbcl/#+ecl/#+clisp/#+abcl besides the loader
;;;; line of hlisp.lisp (CLISP's (require "asdf")). Loaded by hlisp.lisp
;;;; into USOCKET-HARDENING, after usocket-cffi (so ASDF/UIOP, CFFI and
;;;; bordeaux-threads are there). Threads through bordeaux-threads, processes
;;;; and the environment through UIOP, the OS (clocks, pids, thread ids,
;;;; rlimits, files, plain sockets) through CFFI. What only SBCL can do
;;;; (a time limit that interrupts a call) is a no-op elsewhere, said so below.

(in-package #:usocket-hardening)

;;; The process.

(defun getenv (name) (uiop:getenv name))

(defun exit-lisp (code)
  "Exit now with CODE, not waiting for other threads (servers' handlers)."
  (finish-output)
  #+sbcl (sb-ext:exit :code code :abort t)
  #+ecl (ext:quit code t)                 ; t: end the threads still running
  #-(or sbcl ecl) (uiop:quit code nil))

(defun implementation-name ()
  #+sbcl "SBCL" #+ecl "ECL" #+clisp "CLISP" #+abcl "ABCL"
  #-(or sbcl ecl clisp abcl) (lisp-implementation-type))

(defun runtime-owns-descriptors-p ()
  "Whether the runtime opens and closes descriptors of its own while Lisp code
runs (the JVM: class files, jars, its own pipes), so that a fault may see one
fewer descriptor after it than before without closing anything of anyone's."
  #+abcl t
  #-abcl nil)

(defun lisp-command (script)
  "The command line that runs SCRIPT on this implementation (a child runtime
of the same kind as the one under test), as bindings/lisp/run-tests.sh and
run.sh start it."
  (let ((file (uiop:native-namestring script)))
    #+sbcl (list (or (getenv "SBCL") "sbcl") "--noinform" "--non-interactive"
                 "--no-userinit" "--no-sysinit" "--load" file)
    #+ecl (list "ecl" "-norc" "--load" file)
    #+clisp (list "clisp" "-norc" "-q" file)
    #+abcl (list "abcl" "--noinform" "--noinit" "--batch" "--load" file)))

(defun launch (command)
  "Start COMMAND (a list) with pipes to its input and from its output; its
errors go nowhere. A UIOP process-info."
  (uiop:launch-program command :input :stream :output :stream :error-output nil))

(defun process-input-stream (p) (uiop:process-info-input p))
(defun process-output-stream (p) (uiop:process-info-output p))
(defun process-alive (p) (uiop:process-alive-p p))

(defun process-exit-code (p)
  "The exit code of the ended process P (its status number)."
  (uiop:wait-process p))

(defun process-kill (p)
  (ignore-errors (uiop:terminate-process p :urgent t))
  (ignore-errors (uiop:wait-process p)))

(defun process-done (p)
  (ignore-errors (uiop:close-streams p)))

(defun utf-8 ()
  "The external format OPEN takes for UTF-8."
  #+clisp charset:utf-8
  #-clisp :utf-8)

(defun full-gc ()
  #+sbcl (sb-ext:gc :full t)
  #+ecl (ext:gc t)
  #+clisp (ext:gc)
  #+abcl (progn (java:jstatic "gc" "java.lang.System") ; EXT:GC loops until the heap settles
                (java:jstatic "runFinalization" "java.lang.System")))

(defun cheap-full-gc-p ()
  "Whether a full GC before and after each checked call costs little: not on
ABCL, where one took 0.27 s (measured: 10 in 2.65 s after loading usocket-cffi)."
  #+abcl nil
  #-abcl t)

(defun function-lambda-list* (symbol)
  "SYMBOL's function's lambda list, or NIL where it is not known."
  (ignore-errors
   #+sbcl (funcall (intern "FUNCTION-LAMBDA-LIST" (progn (require :sb-introspect) :sb-introspect))
                   symbol)
   #+ecl (ext:function-lambda-list symbol)
   #+clisp (ext:arglist symbol)
   #+abcl (sys::arglist symbol)))

;;; The OS through CFFI.

(cffi:defcfun ("getpid" getpid) :int32)
(cffi:defcfun ("clock_gettime" %clock-gettime) :int (clock :int) (ts :pointer))
(cffi:defcfun ("syscall" %syscall0) :long (number :long))
(cffi:defcfun ("getrusage" %getrusage) :int (who :int) (usage :pointer))
(cffi:defcfun ("mkdir" %mkdir) :int (path :string) (mode :uint32))
(cffi:defcfun ("rmdir" %rmdir) :int (path :string))
(cffi:defcfun ("unlink" %unlink) :int (path :string))
(cffi:defcfun ("access" %access) :int (path :string) (mode :int))
(cffi:defcfun ("opendir" %opendir) :pointer (path :string))
(cffi:defcfun ("readdir" %readdir) :pointer (dir :pointer))
(cffi:defcfun ("closedir" %closedir) :int (dir :pointer))
(cffi:defcfun ("socket" %socket) :int (domain :int) (type :int) (protocol :int))
(cffi:defcfun ("bind" %bind) :int (fd :int) (addr :pointer) (len :uint32))
(cffi:defcfun ("close" %close-fd) :int (fd :int))

(defun now-ms ()
  "CLOCK_MONOTONIC in ms (GET-INTERNAL-REAL-TIME is the 4 ms coarse clock here)."
  (cffi:with-foreign-object (ts :int64 2)
    (%clock-gettime 1 ts)
    (+ (* (cffi:mem-aref ts :int64 0) 1000d0) (/ (cffi:mem-aref ts :int64 1) 1d6))))

(defun gettid () (%syscall0 186))          ; x86-64 SYS_gettid

(defun cpu-ms ()
  "CPU time of the whole process (user + system, every thread) in ms:
getrusage(RUSAGE_SELF), what SBCL's GET-INTERNAL-RUN-TIME reads (on the JVM
GET-INTERNAL-RUN-TIME is not the process's)."
  (cffi:with-foreign-object (ru :int64 18)
    (%getrusage 0 ru)
    (flet ((tv (i) (+ (* 1000d0 (cffi:mem-aref ru :int64 i)) (/ (cffi:mem-aref ru :int64 (1+ i)) 1d3))))
      (+ (tv 0) (tv 2)))))

(defun make-directory* (path mode)
  (unless (zerop (%mkdir path mode)) (error "mkdir ~A failed" path))
  path)

(defun delete-file* (path) (zerop (%unlink path)))
(defun delete-directory* (path) (zerop (%rmdir path)))
(defun exists-p (path)
  "Does a file of any kind (a socket file too) exist at PATH?"
  (zerop (%access path 0)))

(defun directory-entries (dir)
  "The names in directory DIR (a native path), without . and .."
  (let ((d (%opendir dir)) (names '()))
    (unless (cffi:null-pointer-p d)
      (unwind-protect
           (loop for e = (%readdir d)
                 until (cffi:null-pointer-p e)
                 do (let ((name (cffi:foreign-string-to-lisp (cffi:inc-pointer e 19)))) ; d_name
                      (unless (member name '("." "..") :test #'string=) (push name names))))
        (%closedir d)))
    names))

(defun fd-count ()
  "Open descriptors of this process (the listing's own included, as always)."
  (let ((d (%opendir "/proc/self/fd")) (n 0))
    (unless (cffi:null-pointer-p d)
      (unwind-protect
           (loop for e = (%readdir d)
                 until (cffi:null-pointer-p e)
                 do (when (digit-char-p (code-char (cffi:mem-ref e :uint8 19))) (incf n)))
        (%closedir d)))
    n))

(defun make-stale-socket-file (path)
  "A socket file nobody accepts on, made as a plain program makes it: socket,
bind, close (libc through CFFI)."
  (let ((fd (%socket 1 1 0)))             ; AF_UNIX, SOCK_STREAM
    (when (< fd 0) (error "socket(AF_UNIX) failed"))
    (unwind-protect
         (cffi:with-foreign-object (sun :uint8 110)
           (dotimes (i 110) (setf (cffi:mem-aref sun :uint8 i) 0))
           (setf (cffi:mem-ref sun :uint16) 1) ; sun_family
           (let ((octets (babel:string-to-octets path :encoding :utf-8)))
             (assert (< (length octets) 108))
             (dotimes (i (length octets)) (setf (cffi:mem-aref sun :uint8 (+ 2 i)) (aref octets i))))
           (unless (zerop (%bind fd sun 110)) (error "bind ~A failed" path)))
      (%close-fd fd))))

(defun parse-native (path) (uiop:parse-native-namestring path))

;;; Threads (bordeaux-threads). A thread made by SPAWN records its OS thread
;;; id (for /proc/self/task/TID) and its value; JOIN waits for any thread
;;; with a time limit (bordeaux-threads' JOIN-THREAD has none). Timed waits
;;; poll a flag every 2 ms: bordeaux-threads 0.8.8's timed CONDITION-WAIT
;;; (and so WAIT-ON-SEMAPHORE with a timeout) is, on ECL, WITH-TIMEOUT, a
;;; thread that interrupts the waiter; an ECL child of server-accept-emfile
;;; died of SIGSEGV in one (measured).

(defun wait-until (predicate timeout)
  "Poll PREDICATE every 2 ms until it is true (then T) or TIMEOUT seconds
have passed (then NIL)."
  (let ((end (+ (now-ms) (* 1000 timeout))))
    (loop (when (funcall predicate) (return t))
          (when (> (now-ms) end) (return nil))
          (sleep 0.002))))

(defun threads-p () bt:*supports-threads-p*)

(defstruct (hthread (:constructor make-hthread ()))
  (tid nil) (value nil) (finished nil))

(defvar *hthreads-lock* (bt:make-lock "hthreads"))
(defvar *hthreads* '()
  "(thread . hthread) of the threads SPAWN made (an alist: threads need not hash).")

(defun hthread-of (thread)
  (bt:with-lock-held (*hthreads-lock*) (cdr (assoc thread *hthreads* :test #'eq))))

(defun spawn (function &key (name "hardening"))
  "Run FUNCTION in a new thread; the thread object."
  (let* ((h (make-hthread))
         (thread (bt:make-thread
                  (lambda ()
                    (setf (hthread-tid h) (gettid))
                    (unwind-protect (setf (hthread-value h) (funcall function))
                      (setf (hthread-finished h) t)))
                  :name name)))
    (bt:with-lock-held (*hthreads-lock*) (push (cons thread h) *hthreads*))
    thread))

(defun thread-alive (thread) (bt:thread-alive-p thread))

(defun thread-tid (thread)
  "THREAD's OS thread id, or NIL while it is not known yet."
  #+sbcl (sb-thread::thread-os-tid thread)
  #-sbcl (let ((h (hthread-of thread))) (and h (hthread-tid h))))

(defun join (thread &optional (limit 10))
  "Join THREAD within LIMIT seconds; values: its value (threads of SPAWN)
and whether it ended."
  #+sbcl
  (multiple-value-bind (v status) (sb-thread:join-thread thread :default :timed-out :timeout limit)
    (declare (ignore status))
    (values v (not (eq v :timed-out))))
  #-sbcl
  (let ((h (hthread-of thread)))
    ;; A thread made elsewhere (a socket server's) has ended when it is no
    ;; longer alive.
    (if (wait-until (lambda () (if h (hthread-finished h) (not (bt:thread-alive-p thread)))) limit)
        (progn (ignore-errors (bt:join-thread thread)) (values (and h (hthread-value h)) t))
        (values :timed-out nil))))

(defun make-flag () (list nil))
(defun flag-set (flag) (setf (car flag) t))
(defun flag-wait (flag timeout)
  "Whether FLAG was set within TIMEOUT seconds."
  (wait-until (lambda () (car flag)) timeout))

(defun threads-absent-p ()
  "This Lisp has no threads (checked: bordeaux-threads says so and making
one fails)."
  (and (not (threads-p))
       (handler-case (progn (bt:make-thread (lambda () nil)) nil)
         (error () t))))

;;; A time limit on a call: SBCL's WITH-TIMEOUT. Elsewhere none (bordeaux-
;;; threads' WITH-TIMEOUT is a sleeping thread per call that interrupts; ECL
;;; then crashed at exit, see bindings/lisp/tests/portability.lisp; CLISP has
;;; no threads): there run.sh's limit on the whole part bounds a call that
;;; hangs, and the part fails.

(defmacro with-time-limit ((seconds timed-out-form) &body body)
  "BODY; TIMED-OUT-FORM's value if it took more than SECONDS (SBCL only)."
  #+sbcl `(handler-case (sb-ext:with-timeout ,seconds ,@body)
            ;; An error that is also a TIMEOUT (SB-SYS:IO-TIMEOUT, a native
            ;; stream's) stays itself; only our own WITH-TIMEOUT is the limit.
            (error (e) (error e))
            (sb-ext:timeout () ,timed-out-form))
  #-sbcl `(progn ,seconds ,@body))

(defun largest-safe-octet-vector ()
  "The largest octet vector a test may make: Debian's CLISP 2.49.93 dies of
SIGSEGV in its GC holding a 16 MiB vector once ASDF is loaded (see
bindings/lisp/tests/portability.lisp), so large writes go in blocks there."
  #+clisp (* 1024 1024)
  #-clisp array-total-size-limit)
