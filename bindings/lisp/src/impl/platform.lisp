;;;; Implementation-specific: small things each Lisp spells its own way
;;;; (floats that are not numbers, host name, native file names, closed
;;;; streams, muffled style warnings).

(in-package #:usocket-cffi)

(defun nan-p (x)
  "Whether X is a float NaN."
  #+sbcl (and (floatp x) (sb-ext:float-nan-p x))
  #+clisp (declare (ignore x))            ; CLISP's floats are never NaN
  #+clisp nil
  #-(or sbcl clisp) (and (floatp x) (/= x x)))

(defun infinity-p (x)
  "Whether X is a float infinity."
  #+sbcl (and (floatp x) (sb-ext:float-infinity-p x))
  #+clisp (declare (ignore x))            ; nor infinite
  #+clisp nil
  #-(or sbcl clisp) (and (floatp x) (= x x) (> (abs x) most-positive-long-float)))

(defun native-namestring (pathname)
  "PATHNAME as the OS spells it, not merged with *DEFAULT-PATHNAME-DEFAULTS*."
  #+sbcl (sb-ext:native-namestring pathname :as-file t)
  #-sbcl (uiop:native-namestring pathname))

(cffi:defcfun ("gethostname" %gethostname) :int (name :pointer) (len size-t))

(defun host-name ()
  "This machine's host name, or NIL and the errno."
  #+sbcl (sb-unix:unix-gethostname)
  #-sbcl (cffi:with-foreign-pointer (buf 256)
           (if (zerop (%gethostname buf 256))
               (progn (setf (cffi:mem-ref buf :char 255) 0)
                      (cffi:foreign-string-to-lisp buf))
               (values nil 0))))

#-sbcl
(define-condition closed-stream-error (stream-error) ()
  (:report (lambda (c s) (format s "~S is closed." (stream-error-stream c))))
  (:documentation "An operation on a closed socket stream (SBCL: SB-INT:CLOSED-STREAM-ERROR)."))

(defun closed-stream-error-class ()
  #+sbcl 'sb-int:closed-stream-error
  #-sbcl 'closed-stream-error)

(defmacro muffling-style-warnings (&body body)
  "BODY (top-level forms stay top-level) without its style warnings."
  #+sbcl `(locally (declare (sb-ext:muffle-conditions style-warning)) ,@body)
  #-sbcl `(progn ,@body))
