;;;; Implementation-specific: finalizers (run a function once an object is garbage).

(in-package #:usocket-cffi)

(defun finalize (object function)
  "Call FUNCTION (no arguments; it must not refer to OBJECT) once OBJECT is
garbage. Returns OBJECT."
  #+sbcl (sb-ext:finalize object function :dont-save t)
  #+ecl (ext:set-finalizer object (lambda (o) (declare (ignore o)) (funcall function)))
  #+clisp (ext:finalize object (lambda (o) (declare (ignore o)) (funcall function)))
  #+abcl (ext:finalize object function)
  object)
