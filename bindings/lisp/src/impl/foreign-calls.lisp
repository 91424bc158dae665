;;;; Implementation-specific: how a core function is defined for Lisp.
;;;;
;;;; Everywhere but ECL, CFFI's DEFCFUN. On ECL, DEFCFUN (its dynamic FFI)
;;;; looks the C symbol up by name on every call: 15-25 us a call into
;;;; libusocket, more than the socket operation itself (measured by the
;;;; benchmark helper: a round trip 2.8x native usocket's). There the
;;;; function's address is looked up once, on its first call, and every call
;;;; goes through that pointer (0.08 us).

(in-package #:usocket-cffi)

;;; size_t. CFFI's :SIZE is :UINT64 only where the 64-BIT feature is on, and
;;; ABCL does not have it: there :SIZE is 4 bytes, so a size_t out-parameter
;;; would get 4 bytes of the core's 8, a struct's size_t field would be laid
;;; out short, and a size_t argument passed on the stack (the seventh and
;;; later) would carry 4 bytes of garbage above it (seen: a FROM-CAP of 108
;;; arriving as #x900001010000006C). SIZE-T is the width of a pointer.
(cffi:defctype size-t #.(if (= 8 (cffi:foreign-type-size :pointer)) :uint64 :uint32)
  "C's size_t (the core's usize).")

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
