;;;; Implementation-specific: deferring interrupts around foreign calls, and
;;;; whether this Lisp has threads.
;;;;
;;;; - SBCL: interrupt-thread, with-timeout, terminate-thread and C-c unwind
;;;;   straight out of a foreign call; SB-SYS:WITHOUT-INTERRUPTS defers them.
;;;; - ECL: MP:WITHOUT-INTERRUPTS defers MP:INTERRUPT-PROCESS the same way.
;;;; - CLISP (Debian's, without threads): nothing can defer SIGINT; a C-c in
;;;;   a foreign call may jump out of it. Calls are sliced (50 ms) anyway, so
;;;;   a C-c lands in Lisp nearly always; handles are held by Lisp objects
;;;;   with finalizers, so an unwound call leaks no handle.
;;;; - ABCL: interrupts (THREADS:INTERRUPT-THREAD) run only at Lisp safe
;;;;   points, never inside a JNA call: nothing to defer.

(in-package #:usocket-cffi)

(defmacro without-interrupts (&body body)
  "Run BODY (a foreign call and the bookkeeping of its result, which make no
non-local exit) with interrupts deferred: an interrupt that arrives meanwhile
runs when BODY has returned."
  #+sbcl
  ;; SB-SYS:WITHOUT-INTERRUPTS without its UNWIND-PROTECT (BODY cannot
  ;; unwind), which halves its cost on the fast path.
  (if (find-symbol "RECEIVE-PENDING-INTERRUPT" "SB-UNIX")
      `(multiple-value-prog1
           (let ((sb-sys:*interrupts-enabled* nil)
                 (sb-sys:*allow-with-interrupts* nil))
             ,@body)
         (when (and sb-sys:*interrupts-enabled* sb-sys:*interrupt-pending*)
           (,(find-symbol "RECEIVE-PENDING-INTERRUPT" "SB-UNIX"))))
      `(sb-sys:without-interrupts ,@body))
  #+ecl `(mp:without-interrupts ,@body)
  #-(or sbcl ecl) `(progn ,@body))

(defun require-threads (context)
  "Signal UNSUPPORTED (an error naming the missing feature) when this Lisp
has no threads (Debian's CLISP); CONTEXT says what needed them."
  (unless bt:*supports-threads-p*
    (error 'unsupported
           :feature (format nil "Threads (~A ~A is built without them)"
                            (lisp-implementation-type) (lisp-implementation-version))
           :context context)))
