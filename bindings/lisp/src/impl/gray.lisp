;;;; Implementation-specific: Gray stream entry points beyond trivial-gray-streams.

(in-package #:usocket-cffi)

(defmacro define-direct-sequence-methods (class reader writer)
  "SBCL calls SB-GRAY:STREAM-READ-SEQUENCE (and -WRITE-): methods there skip
trivial-gray-streams' keyword-parsing trampoline (half the cost of a small
READ-SEQUENCE). Elsewhere the trivial-gray-streams methods are the entry."
  (declare (ignorable class reader writer))
  #+sbcl
  `(progn
     (defmethod sb-gray:stream-read-sequence ((s ,class) sequence &optional (start 0) end)
       (,reader s sequence start end))
     (defmethod sb-gray:stream-write-sequence ((s ,class) sequence &optional (start 0) end)
       (,writer s sequence start end)))
  #-sbcl nil)

(declaim (inline line-at-end-of-file))
(defun line-at-end-of-file ()
  "What STREAM-READ-LINE returns (with T) at end of file when nothing was
read: ECL's READ-LINE wants NIL there, the others take \"\"."
  #+ecl nil
  #-ecl "")
