;;;; SOCKET-OPTION and its SETF: usocket's option keywords.
;;;;
;;;;   :receive-timeout   seconds or NIL   (kept in Lisp; reads, receives and
;;;;                                        accepts signal TIMEOUT-ERROR after it)
;;;;   :send-timeout      seconds or NIL   (SO_SNDTIMEO)
;;;;   :tcp-nodelay       boolean          (also :tcp-no-delay)
;;;;   :reuse-address     boolean
;;;;   :keep-alive        boolean          (also :keepalive)
;;;;   :broadcast         boolean
;;;;   :receive-buffer    octets           (SO_RCVBUF; Linux reports twice what was set)
;;;;   :send-buffer       octets           (SO_SNDBUF; likewise)

(in-package #:usocket-cffi)

(defgeneric socket-option (socket option &key)
  (:documentation "The value of SOCKET's OPTION (a keyword)."))

(defgeneric (setf socket-option) (new-value socket option &key)
  (:documentation "Set SOCKET's OPTION (a keyword) to NEW-VALUE."))

(defun option-number (option)
  (case option
    (:send-timeout +opt-send-timeout+)
    ((:tcp-nodelay :tcp-no-delay) +opt-tcp-nodelay+)
    (:reuse-address +opt-reuse-address+)
    ((:keep-alive :keepalive) +opt-keepalive+)
    (:broadcast +opt-broadcast+)
    (:receive-buffer +opt-receive-buffer+)
    (:send-buffer +opt-send-buffer+)
    (t (if (keywordp option)
           (error 'unimplemented :feature option :context 'socket-option)
           (error 'type-error :datum option :expected-type 'keyword)))))

(defun core-option (socket number)
  (cffi:with-foreign-object (value :int64)
    (with-socket-context (socket)
      (%get-option (socket socket) number value))
    (cffi:mem-ref value :int64)))

(defun (setf core-option) (value socket number)
  (with-socket-context (socket)
    (%set-option (socket socket) number value))
  value)

(defmethod socket-option ((socket usocket) option &key)
  (if (eq option :receive-timeout)
      (socket-timeout socket)
      (let* ((number (option-number option))
             (value (core-option socket number)))
        (cond ((= number +opt-send-timeout+) (if (zerop value) nil (/ value 1000)))
              ((member number (list +opt-receive-buffer+ +opt-send-buffer+)) value)
              (t (/= value 0))))))

(defmethod (setf socket-option) (new-value (socket usocket) option &key)
  (if (eq option :receive-timeout)
      (progn
        (check-type new-value (or null (real 0)))
        (let ((timeout (normalize-timeout new-value)))
          (setf (core-option socket +opt-receive-timeout+) (slice-receive-timeout-ms timeout)
                (socket-timeout socket) timeout)))
      (let ((number (option-number option)))
        (setf (core-option socket number)
              (cond ((= number +opt-send-timeout+)
                     (check-type new-value (or null (real 0)))
                     (seconds->ms new-value))
                    ((member number (list +opt-receive-buffer+ +opt-send-buffer+))
                     (check-type new-value (integer 1))
                     new-value)
                    (t (if new-value 1 0))))))
  new-value)
