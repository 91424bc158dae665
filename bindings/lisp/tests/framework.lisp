;;;; A small test framework: DEFTEST, checks, loopback helpers, RUN-ALL.
;;;; Every test runs under a time limit; every loop in the tests is bounded.

(in-package #:usocket-cffi-tests)

(defvar *tests* '() "(name . function), in definition order (reversed).")
(defvar *test-filter* nil "When a string, run only tests whose name contains it.")
(defparameter *test-time-limit* 60 "Seconds one test may take.")
(defvar *failures* '())

(defmacro deftest (name &body body)
  `(progn
     (setf *tests* (cons (cons ',name (lambda () ,@body))
                         (remove ',name *tests* :key #'car)))
     ',name))

(define-condition check-failed (error)
  ((text :initarg :text :reader text))
  (:report (lambda (c s) (write-string (text c) s))))

(defun fail (format &rest args)
  (error 'check-failed :text (apply #'format nil format args)))

(defmacro is (form &optional description)
  `(unless ,form
     (fail "~A: ~S is false" ,(or description "check") ',form)))

(defmacro is-equal (expected form &optional description)
  (let ((e (gensym)) (v (gensym)))
    `(let ((,e ,expected) (,v ,form))
       (unless (equalp ,e ,v)
         (fail "~@[~A: ~]~S gave ~S, expected ~S" ,description ',form ,v ,e)))))

(defmacro signals (class form)
  "FORM must signal a condition of CLASS (with ERROR or SIGNAL); returns it."
  (let ((c (gensym)))
    `(let ((,c (block caught
                 (handler-bind ((,class (lambda (c) (return-from caught c))))
                   ,form)
                 nil)))
       (unless ,c (fail "~S signalled no ~S" ',form ',class))
       ,c)))

(defun elapsed-seconds (start)
  (/ (- (get-internal-real-time) start) internal-time-units-per-second))

(defmacro timed (&body body)
  "Values: the seconds BODY took, then its first value."
  (let ((start (gensym)) (v (gensym)))
    `(let* ((,start (get-internal-real-time))
            (,v (progn ,@body)))
       (values (elapsed-seconds ,start) ,v))))

;;; Loopback helpers.

(defun make-octets (n &optional (initial 0))
  (make-array n :element-type '(unsigned-byte 8) :initial-element initial))

(defun octets (&rest bytes)
  (make-array (length bytes) :element-type '(unsigned-byte 8) :initial-contents bytes))

(defmacro with-sockets ((&rest vars) &body body)
  "Bind VARS to NIL; close every non-NIL one after BODY."
  `(let ,vars
     (unwind-protect (progn ,@body)
       (dolist (s (list ,@vars))
         (when (typep s 'usocket) (ignore-errors (socket-close s)))))))

(defun connected-pair (&key (host "127.0.0.1") (element-type 'character)
                            (server-element-type element-type) (external-format :utf-8))
  "A listener, a client connected to it and the accepted server side."
  (let* ((listener (socket-listen host 0 :reuse-address t :element-type server-element-type
                                         :external-format external-format))
         (client (socket-connect host (get-local-port listener) :element-type element-type
                                                                 :external-format external-format))
         (server (socket-accept listener)))
    (values client server listener)))

(defmacro with-pair ((client server &rest args) &body body)
  (let ((listener (gensym "LISTENER")))
    `(with-sockets (,client ,server ,listener)
       (multiple-value-setq (,client ,server ,listener) (connected-pair ,@args))
       ,@body)))

(defun open-handles () (usocket-cffi::%open-handles))

(defun send-line (stream line)
  (write-line line stream)
  (force-output stream))

(defparameter *lisp-dir*
  (asdf:system-source-directory "usocket-cffi")
  "bindings/lisp/")

;;; Running.

(defun run-test (name function)
  (let ((start (get-internal-real-time))
        (result
          (handler-case
              (block test
                (with-debugger-hook
                    (;; A condition signalled with ERROR that is not an
                     ;; error (ns-try-again-condition) ends up here.
                     (lambda (c h)
                       (declare (ignore h))
                       (return-from test (format nil "unhandled ~S: ~A" (type-of c) c))))
                  (handler-bind ((warning #'muffle-warning)
                                 (skip-test (lambda (c) (return-from test (cons :skip (skip-reason c)))))
                                 (unsupported
                                   ;; What this Lisp lacks (threads on CLISP): a skip.
                                   (lambda (c)
                                     (unless (threads-p)
                                       (return-from test
                                         (cons :skip (handler-case (princ-to-string c)
                                                       (error () "unsupported"))))))))
                    (let ((r (with-time-limit (*test-time-limit*)
                               (funcall function)
                               :pass)))
                      (if (eq r :timed-out)
                          (format nil "took more than ~A s" *test-time-limit*)
                          :pass)))))
            (error (e) (handler-case (princ-to-string e)
                         (error () (format nil "~S" (type-of e))))))))
    (if (and (consp result) (eq (car result) :skip))
        (format t "~&skip ~(~A~): ~A~%" name (cdr result))
        (format t "~&~:[FAIL~;pass~] ~(~A~) (~,2F s)~@[: ~A~]~%"
                (eq result :pass) name (elapsed-seconds start)
                (unless (eq result :pass) result)))
    (force-output)
    (cond ((eq result :pass) :pass)
          ((and (consp result) (eq (car result) :skip)) :skip)
          (t (push (cons name result) *failures*) nil))))

(defun run-all ()
  "Run the tests; print `N passed, M failed`; true when all passed."
  (setf *failures* '())
  (let ((passed 0) (failed 0) (skipped 0))
    (dolist (entry (reverse *tests*))
      (when (or (null *test-filter*)
                (search *test-filter* (string-downcase (symbol-name (car entry)))))
        (case (run-test (car entry) (cdr entry))
          (:pass (incf passed))
          (:skip (incf skipped))
          (t (incf failed)))))
    (when *failures*
      (format t "~&Failures:~%")
      (dolist (f (reverse *failures*))
        (format t "  ~(~A~): ~A~%" (car f) (cdr f))))
    (format t "~&~D passed, ~D failed~:[~;, ~D skipped~]~%" passed failed (plusp skipped) skipped)
    (force-output)
    (zerop failed)))
