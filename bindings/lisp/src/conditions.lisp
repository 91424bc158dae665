;;;; usocket's condition hierarchy, and the mapping from the core's status codes.

(in-package #:usocket-cffi)

;;; Conditions about what this implementation supports.

(define-condition insufficient-implementation (error)
  ((feature :initarg :feature :initform nil :reader feature)
   (context :initarg :context :initform nil :reader context))
  (:documentation "Parent of the errors about unsupported arguments."))

(define-condition unsupported (insufficient-implementation)
  ((minimum :initarg :minimum :initform nil :reader minimum))
  (:report (lambda (c s)
             (format s "~A in ~A is unsupported." (feature c) (context c))
             (when (minimum c)
               (format s " Minimum version (~A) is required." (minimum c)))))
  (:documentation "The feature asked for cannot be provided here."))

(define-condition unimplemented (insufficient-implementation)
  ()
  (:report (lambda (c s)
             (format s "~A in ~A is unimplemented." (feature c) (context c))))
  (:documentation "The feature could be provided but is not (yet)."))

(defmacro unsupported (feature context &key minimum)
  "Signal UNSUPPORTED as a continuable error, as usocket does."
  `(cerror "Ignore it and continue" 'unsupported
           :feature ,feature :context ,context :minimum ,minimum))

(defmacro unimplemented (feature context)
  `(signal 'unimplemented :feature ,feature :context ,context))

(defmacro ignore-unsupported-warnings (&body body)
  "Run BODY continuing past every UNSUPPORTED error."
  `(handler-bind ((unsupported (lambda (c) (declare (ignore c)) (continue))))
     ,@body))

;;; Socket and name-service conditions. Every one carries the core's message,
;;; status code and errno where it came from the core.

(defun report-core-condition (condition stream)
  (let ((message (socket-error-message condition))
        (name (string-downcase (symbol-name (type-of condition)))))
    (if (and message (plusp (length message)))
        (format stream "~A: ~A" name message)
        (format stream "~A was signalled." name))))

(define-condition socket-condition (condition)
  ((socket :initarg :socket :initform nil :accessor usocket-socket)
   (message :initarg :message :initform nil :reader socket-error-message)
   (code :initarg :code :initform nil :reader socket-error-code)
   (errno :initarg :errno :initform 0 :reader usocket-errno))
  (:report report-core-condition)
  (:documentation "Parent condition for all socket related conditions."))

(define-condition socket-error (socket-condition error)
  ()
  (:report report-core-condition)
  (:documentation "Parent error for all socket related errors."))

(define-condition ns-condition (condition)
  ((host-or-ip :initarg :host-or-ip :initform nil :accessor host-or-ip)
   (message :initarg :message :initform nil :reader socket-error-message)
   (code :initarg :code :initform nil :reader socket-error-code)
   (errno :initarg :errno :initform 0 :reader usocket-errno))
  (:report report-core-condition)
  (:documentation "Parent condition for all name resolution conditions."))

(define-condition ns-error (ns-condition error)
  ()
  (:report report-core-condition)
  (:documentation "Parent error for all name resolution errors."))

(define-condition socket-warning (socket-condition warning)
  ()
  (:documentation "A socket condition that is only a warning."))

(define-condition interrupted-condition (socket-condition) ())

(define-condition unknown-condition (socket-condition)
  ((real-condition :initarg :real-condition :initform nil
                   :accessor usocket-real-condition))
  (:documentation "A socket condition with no more precise class."))

(define-condition unknown-error (socket-error)
  ((real-error :initarg :real-error :initform nil :accessor usocket-real-error))
  (:report (lambda (c s)
             (if (socket-error-message c)
                 (report-core-condition c s)
                 (format s "The condition ~A occurred with errno: ~D."
                         (usocket-real-error c) (usocket-errno c)))))
  (:documentation "A socket error with no more precise class."))

(defmacro define-socket-errors (&rest names)
  `(progn ,@(loop for name in names
                  collect `(define-condition ,name (socket-error) ()))))

(define-socket-errors
  address-in-use-error address-not-available-error bad-file-descriptor-error
  connection-refused-error connection-aborted-error connection-reset-error
  invalid-argument-error no-buffers-error operation-not-supported-error
  operation-not-permitted-error protocol-not-supported-error
  socket-type-not-supported-error network-unreachable-error network-down-error
  network-reset-error host-down-error host-unreachable-error shutdown-error
  timeout-error deadline-timeout-error invalid-socket-error
  invalid-socket-stream-error already-shutdown-error out-of-memory-error)

;; The core's own codes, each under the usocket class a usocket program
;; would expect for the same situation.
(define-condition invalid-handle-error (bad-file-descriptor-error) ()
  (:documentation "The socket is closed (or was closed during the call)."))
(define-condition wrong-kind-error (operation-not-supported-error) ()
  (:documentation "The call does not apply to this kind of socket."))
(define-condition internal-error (unknown-error) ()
  (:documentation "A bug inside the core library."))

(define-condition ns-try-again-condition (ns-condition) ()
  (:documentation "The name service failed for now; trying again may work.
Signalled with ERROR, as usocket does, though it is not an error class."))

(define-condition ns-unknown-condition (ns-condition)
  ((real-condition :initarg :real-condition :initform nil :accessor ns-real-condition)))

(define-condition ns-try-again-error (ns-error ns-try-again-condition) ()
  (:documentation "The name service failed for now; trying again may work (usocket 0.8.9's
class; also an NS-TRY-AGAIN-CONDITION, 0.8.3's)."))

(define-condition ns-host-not-found-error (ns-error) ())
(define-condition ns-no-recovery-error (ns-error) ())
(define-condition ns-unknown-error (ns-error)
  ((real-error :initarg :real-error :initform nil :accessor ns-real-error)))

(defun handle-condition (condition &optional socket host-or-ip)
  "usocket's mapping of an implementation's CONDITION: signal the usocket
condition it stands for (with SOCKET or HOST-OR-IP), or return NIL to let it
pass. The binding's own conditions are usocket's already."
  (declare (ignore host-or-ip))
  (let ((class (cdr (assoc condition +native-condition-map+ :test (lambda (c type) (typep c type))))))
    (when class
      (error class :socket socket :message (princ-to-string condition) :errno 0))))

(defmacro with-mapped-conditions ((&optional socket host-or-ip) &body body)
  "Run BODY, re-signalling SBCL's stream conditions (a native stream's read
timeout, a broken pipe) as usocket's classes, as usocket does (socket errors
of this binding are usocket's classes already)."
  `(handler-bind ((condition (lambda (c) (handle-condition c ,socket ,host-or-ip))))
     ,@body))

;;; Status codes (src/error.rs) to condition classes.

(defparameter +status-classes+
  (let ((table (make-array (1+ (- +err-invalid-socket-stream+)) :initial-element 'unknown-error)))
    (loop for (code class)
            on (list +err-invalid-argument+ 'invalid-argument-error
                     +err-invalid-handle+ 'invalid-handle-error
                     +err-wrong-kind+ 'wrong-kind-error
                     +err-internal+ 'internal-error
                     +err-unknown+ 'unknown-error
                     +err-address-in-use+ 'address-in-use-error
                     +err-address-not-available+ 'address-not-available-error
                     +err-bad-file-descriptor+ 'bad-file-descriptor-error
                     +err-connection-refused+ 'connection-refused-error
                     +err-connection-aborted+ 'connection-aborted-error
                     +err-connection-reset+ 'connection-reset-error
                     +err-no-buffers+ 'no-buffers-error
                     +err-operation-not-supported+ 'operation-not-supported-error
                     +err-operation-not-permitted+ 'operation-not-permitted-error
                     +err-protocol-not-supported+ 'protocol-not-supported-error
                     +err-socket-type-not-supported+ 'socket-type-not-supported-error
                     +err-network-unreachable+ 'network-unreachable-error
                     +err-network-down+ 'network-down-error
                     +err-network-reset+ 'network-reset-error
                     +err-host-down+ 'host-down-error
                     +err-host-unreachable+ 'host-unreachable-error
                     +err-shutdown+ 'shutdown-error
                     +err-timeout+ 'timeout-error
                     +err-invalid-socket+ 'invalid-socket-error
                     +err-ns-host-not-found+ 'ns-host-not-found-error
                     +err-ns-try-again+ 'ns-try-again-error
                     +err-ns-no-recovery+ 'ns-no-recovery-error
                     +err-ns-unknown+ 'ns-unknown-error
                     +err-invalid-socket-stream+ 'invalid-socket-stream-error)
          by #'cddr
          do (setf (svref table (- code)) class))
    (setf (svref table 0) nil)
    table)
  "Condition class for each status code (constants.lisp), indexed by its negation.")

(defun status-condition-class (code)
  (let ((i (- code)))
    (if (and (< 0 i) (< i (length +status-classes+)))
        (svref +status-classes+ i)
        'unknown-error)))

(defvar *error-socket* nil "The usocket a call is about, for the condition's SOCKET slot.")
(defvar *error-host* nil "The host a call is about, for name-service conditions.")

(defun make-status-condition (code message errno &key (socket *error-socket*) (host *error-host*))
  (let ((class (status-condition-class code)))
    (if (subtypep class 'ns-condition)
        (make-condition class :host-or-ip host :message message :code code :errno errno)
        (make-condition class :socket socket :message message :code code :errno errno))))

(defun invalid-argument (socket format-control &rest format-arguments)
  "Signal INVALID-ARGUMENT-ERROR (the core's code -1) for a bad argument the
binding refuses before calling the core, with a message made by FORMAT."
  (error 'invalid-argument-error
         :socket socket :code +err-invalid-argument+ :errno 0
         :message (apply #'format nil format-control format-arguments)))

(defun signal-status (code message errno &rest keys)
  "Signal the condition for CODE with ERROR (also ns-try-again-condition, as usocket)."
  (error (apply #'make-status-condition code message errno keys)))
