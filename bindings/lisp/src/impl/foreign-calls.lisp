;;;; Implementation-specific: how a core function is defined for Lisp.
;;;;
;;;; Everywhere but ECL, CFFI's DEFCFUN. On ECL, DEFCFUN (its dynamic FFI)
;;;; looks the C symbol up by name on every call: 15-25 us a call into
;;;; libusocket, more than the socket operation itself (measured by the
;;;; benchmark helper: a round trip 2.8x native usocket's). There the
;;;; function's address is looked up once, on its first call, and every call
;;;; goes through that pointer (0.08 us).

(in-package #:usocket-cffi)

(defmacro define-core-function (c-name lisp-name return-type &rest args)
  #-ecl
  `(cffi:defcfun (,c-name ,lisp-name) ,return-type ,@args)
  #+ecl
  (let ((pointer (intern (format nil "*~A-ADDRESS*" (symbol-name lisp-name))))
        (names (mapcar #'first args)))
    `(progn
       (defvar ,pointer nil)
       (defun ,lisp-name ,names
         (cffi:foreign-funcall-pointer
          (or ,pointer
              (setf ,pointer
                    (or (cffi:foreign-symbol-pointer ,c-name)
                        (error "the usocket-core library has no function ~A" ,c-name))))
          ()
          ,@(loop for (name type) in args append (list type name))
          ,return-type)))))
