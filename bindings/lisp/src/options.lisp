;;;; SOCKET-OPTION and its SETF: usocket's option keywords.
;;;;
;;;;   :receive-timeout   seconds or NIL   (SO_RCVTIMEO, and kept in Lisp: reads,
;;;;                                        receives and accepts, made in slices
;;;;                                        of the core's _for calls, signal
;;;;                                        TIMEOUT-ERROR after it)
;;;;   :send-timeout      seconds or NIL   (SO_SNDTIMEO)
;;;;   :tcp-nodelay       boolean          (also :tcp-no-delay)
;;;;   :reuse-address     boolean
;;;;   :keep-alive        boolean          (also :keepalive)
;;;;   :broadcast         boolean
;;;;   :receive-buffer    octets           (SO_RCVBUF; Linux reports twice what was set)
;;;;   :send-buffer       octets           (SO_SNDBUF; likewise)
;;;;
;;;; Bad values signal INVALID-ARGUMENT-ERROR (a negative or NaN timeout, a
;;;; buffer size outside 1 to 2^31-1, an unknown option keyword: usocket
;;;; signals UNIMPLEMENTED for the last); values of the wrong type, and an
;;;; option that is not a keyword, TYPE-ERROR (as usocket).

(in-package #:usocket-cffi)

(defgeneric socket-option (socket option &key)
  (:documentation "The value of SOCKET's OPTION (a keyword)."))

(defgeneric (setf socket-option) (new-value socket option &key)
  (:documentation "Set SOCKET's OPTION (a keyword) to NEW-VALUE."))

(defparameter +option-names+
  '(:receive-timeout :send-timeout :tcp-nodelay :tcp-no-delay :reuse-address
    :keep-alive :keepalive :broadcast :receive-buffer :send-buffer)
  "Every option name SOCKET-OPTION knows, aliases included.")

(defun option-number (option &optional socket)
  (case option
    (:send-timeout +opt-send-timeout+)
    ((:tcp-nodelay :tcp-no-delay) +opt-tcp-nodelay+)
    (:reuse-address +opt-reuse-address+)
    ((:keep-alive :keepalive) +opt-keepalive+)
    (:broadcast +opt-broadcast+)
    (:receive-buffer +opt-receive-buffer+)
    (:send-buffer +opt-send-buffer+)
    (t (if (keywordp option)
           ;; usocket signals UNIMPLEMENTED here; the core, the C and Python
           ;; bindings and the shared fault table say INVALID-ARGUMENT-ERROR.
           (invalid-argument socket "socket-option: unknown option ~S; known: ~{~S~^, ~}"
                             option +option-names+)
           (error 'type-error :datum option :expected-type 'keyword)))))

(defun timeout-seconds (value what socket)
  "A timeout option's NEW-VALUE checked: NIL (none) or a non-negative real
(an infinite float counts as none). A negative or NaN one signals
INVALID-ARGUMENT-ERROR, anything else TYPE-ERROR."
  (cond ((null value) nil)
        ((not (realp value))
         (error 'type-error :datum value :expected-type '(or null (real 0))))
        ((nan-p value)
         (invalid-argument socket "(setf socket-option) ~S: the timeout is NaN" what))
        ((minusp value)
         (invalid-argument socket "(setf socket-option) ~S: the timeout must not be negative, got ~A"
                           what value))
        ((infinity-p value) nil)
        ((> value #.(floor most-positive-fixnum 1000000))
         (invalid-argument socket "(setf socket-option) ~S: the timeout ~A s is too large"
                           what value))
        (t value)))

(defun core-option (socket number)
  (cffi:with-foreign-object (value :int64)
    (with-socket-context (socket)
      (%get-option (socket-handle socket) number value))
    (cffi:mem-ref value :int64)))

(defun (setf core-option) (value socket number)
  (with-socket-context (socket)
    (%set-option (socket-handle socket) number value))
  value)

(defmethod socket-option ((socket usocket) option &key)
  (if (eq option :receive-timeout)
      (socket-timeout socket)
      (let* ((number (option-number option socket))
             (value (core-option socket number)))
        (cond ((= number +opt-send-timeout+)
               ;; Exactly what the user set, unless C changed it since.
               (let ((set (send-timeout-setting socket)))
                 (cond ((zerop value) nil)
                       ((and set (= value (seconds->ms set))) set)
                       (t (/ value 1000)))))
              ((member number (list +opt-receive-buffer+ +opt-send-buffer+)) value)
              (t (/= value 0))))))

(defmethod (setf socket-option) (new-value (socket usocket) option &key)
  (if (eq option :receive-timeout)
      (let ((timeout (normalize-timeout (timeout-seconds new-value option socket))))
        (setf (core-option socket +opt-receive-timeout+) (receive-timeout-option-ms timeout)
              (socket-timeout socket) timeout)
        ;; A native stream times its reads itself, as native usocket's does.
        (when (typep socket 'stream-usocket)
          (let ((stream (slot-value socket 'stream)))
            (when (native-stream-p stream)
              (set-native-stream-timeout stream timeout)))))
      (let ((number (option-number option socket)))
        (setf (core-option socket number)
              (cond ((= number +opt-send-timeout+)
                     (let ((seconds (timeout-seconds new-value option socket)))
                       (setf (send-timeout-setting socket) seconds)
                       (seconds->ms seconds)))
                    ((member number (list +opt-receive-buffer+ +opt-send-buffer+))
                     (unless (integerp new-value)
                       (error 'type-error :datum new-value
                                          :expected-type '(integer 1 #.(1- (expt 2 31)))))
                     (unless (<= 1 new-value #.(1- (expt 2 31)))
                       (invalid-argument socket "(setf socket-option) ~S: ~D octets is out of ~
                                                 range: 1 to ~D"
                                         option new-value #.(1- (expt 2 31))))
                     new-value)
                    (t (if new-value 1 0))))))
  new-value)
