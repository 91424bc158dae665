;;;; Generates src/constants.lisp from the C header, the one source of the
;;;; core's constants (status codes, options, defaults, sizes):
;;;;
;;;;   sbcl --script bindings/lisp/gen-constants.lisp [include/usocket.h [src/constants.lisp]]
;;;;
;;;; Each "#define USOCKET_NAME value" becomes (defconstant +name+ value),
;;;; with the header's comment above it as its documentation. tests/test-header.lisp
;;;; fails when the committed file differs from what this makes of the header.

(defpackage #:usocket-cffi-gen-constants
  (:use #:common-lisp)
  (:export #:constants-text #:header-defines))

(in-package #:usocket-cffi-gen-constants)

(defparameter +utf-8+
  (or (let ((clisp-charset (find-package "CHARSET")))   ; CLISP's OPEN takes charset:utf-8
        (and clisp-charset (symbol-value (find-symbol "UTF-8" clisp-charset))))
      :utf-8))

(defun trim (s) (string-trim '(#\Space #\Tab) s))

(defun starts-with (prefix s)
  (and (>= (length s) (length prefix)) (string= prefix s :end2 (length prefix))))

(defun parse-value (text)
  "An integer from the header's value text: 42, -3, (1 << 20), (~0)."
  (let ((s (trim text)))
    (cond ((and (starts-with "(" s) (char= (char s (1- (length s))) #\)))
           (parse-value (subseq s 1 (1- (length s)))))
          ((search "<<" s)
           (let ((i (search "<<" s)))
             (ash (parse-value (subseq s 0 i)) (parse-value (subseq s (+ i 2))))))
          (t (let ((end (or (position-if-not (lambda (c) (or (digit-char-p c) (char= c #\-))) s)
                            (length s))))
               ;; Integer suffixes (U, L, LL) are dropped.
               (unless (every (lambda (c) (find c "uUlL")) (subseq s end))
                 (error "Cannot read the value ~S" text))
               (parse-integer s :end end))))))

(defun header-defines (header)
  "((name value comment) ...) of the header's #define USOCKET_* lines, in order."
  (with-open-file (in header :external-format +utf-8+)
    (let ((comment '()) (result '()))
      (loop for line = (read-line in nil)
            while line
            do (let ((l (trim line)))
                 (cond ((starts-with "//" l)
                        (push (trim (subseq l 2)) comment))
                       ((and (starts-with "#define USOCKET_" l)
                             (not (string= l "#define USOCKET_H")))
                        (let* ((rest (subseq l (length "#define ")))
                               (space (position #\Space rest))
                               (name (subseq rest 0 space))
                               (value (parse-value (subseq rest space))))
                          (push (list name value (format nil "~{~A~^ ~}" (reverse comment)))
                                result))
                        (setf comment '()))
                       (t (setf comment '())))))
      (nreverse result))))

(defun lisp-name (c-name)
  "USOCKET_ERR_TIMEOUT -> +ERR-TIMEOUT+"
  (format nil "+~A+" (substitute #\- #\_ (string-downcase (subseq c-name (length "USOCKET_"))))))

(defun constants-text (header)
  (with-output-to-string (out)
    (format out ";;;; The core's constants, generated from include/usocket.h by gen-constants.lisp.~%~
                 ;;;; Do not edit: run `sbcl --script bindings/lisp/gen-constants.lisp`.~%~%~
                 (in-package #:usocket-cffi)~%")
    (dolist (d (header-defines header))
      (destructuring-bind (name value comment) d
        (format out "~%(defconstant ~A ~D~%  ~S)~%" (lisp-name name) value
                (format nil "~A: ~A" name comment))))))

(defun main (args)
  (let* ((here (make-pathname :name nil :type nil :defaults *load-truename*))
         (header (or (first args) (merge-pathnames "../../include/usocket.h" here)))
         (output (or (second args) (merge-pathnames "src/constants.lisp" here))))
    (with-open-file (out output :direction :output :if-exists :supersede :external-format +utf-8+)
      (write-string (constants-text header) out))
    (format t "~A written from ~A~%" (namestring output) (namestring header))))

;; Run as a script unless loaded by the tests (which bind this variable).
(unless (boundp 'cl-user::*gen-constants-library-only*)
  ;; Run with sbcl --script; found at run time, so other Lisps can load this file.
  (main (rest (symbol-value (find-symbol "*POSIX-ARGV*" "SB-EXT")))))
