;;;; Creating, accepting, closing and naming sockets.

(in-package #:usocket-cffi)

(defun normalize-timeout (timeout)
  "A timeout in seconds, or NIL for none (NIL, 0 and negative mean none)."
  (and timeout (realp timeout) (plusp timeout) timeout))

(defun check-port (port what)
  "PORT, an integer from 0 to 65535: another integer signals
INVALID-ARGUMENT-ERROR (WHAT names the argument), a non-integer TYPE-ERROR."
  (unless (integerp port)
    (error 'type-error :datum port :expected-type '(integer 0 65535)))
  (unless (<= 0 port 65535)
    (invalid-argument nil "~A ~D is out of range: ports are 0 to 65535" what port))
  port)

(defun check-element-type (element-type)
  (unless (or (subtypep element-type 'character)
              (subtypep element-type '(unsigned-byte 8))
              (eq element-type :default))
    (error 'type-error :datum element-type
                       :expected-type '(or (eql character) (eql (unsigned-byte 8)) (eql :default))))
  element-type)

(defmacro with-committed-call ((code value message errno) (form &body commit) &body body)
  "Make the raw core call FORM with interrupts deferred; if it succeeds,
COMMIT (also with interrupts deferred) computes VALUE, so that what the call
created is held by Lisp before any interrupt can unwind. Then BODY runs,
with CODE, VALUE, MESSAGE and ERRNO bound."
  `(multiple-value-bind (,code ,value ,message ,errno)
       (without-interrupts (core-result ,form ,@commit))
     (declare (ignorable ,value ,message ,errno))
     ,@body))

(defun make-stream-usocket (handle element-type external-format timeout)
  (register-handle-finalizer
   (make-instance 'stream-usocket :socket handle :element-type element-type
                                  :external-format external-format :timeout timeout)
   handle))

(defgeneric socket-stream (object)
  (:documentation "The stream of a connected socket (made when first asked for)."))

(defmethod socket-stream ((object stream-usocket))
  (or (slot-value object 'stream)
      (setf (slot-value object 'stream)
            (if (native-stream-socket-p object)
                (make-native-stream object (slot-value object 'element-type)
                                    (slot-value object 'external-format)
                                    (socket-timeout object))
                (make-socket-stream object (slot-value object 'element-type)
                                    (slot-value object 'external-format))))))

(defgeneric (setf socket-stream) (stream object))

(defmethod (setf socket-stream) (stream (object stream-usocket))
  (setf (slot-value object 'stream) stream))

(defun socket-connect (host port &key (protocol :stream) (element-type 'character)
                                      timeout deadline (nodelay t nodelay-specified)
                                      local-host local-port (external-format :utf-8))
  "Connect to HOST on PORT; return a STREAM-USOCKET, or a DATAGRAM-USOCKET for
:PROTOCOL :DATAGRAM (unconnected when HOST is NIL). TIMEOUT (seconds) bounds
the connect and is the read timeout (SO_RCVTIMEO, as documented). NODELAY is
on unless NIL is passed. EXTERNAL-FORMAT (our addition) codes characters."
  (declare (ignore nodelay-specified))
  (when deadline (unsupported 'deadline 'socket-connect))
  (check-type protocol (member :stream :datagram))
  (check-element-type element-type)
  (when (eq protocol :stream)
    (unless host (error 'type-error :datum host :expected-type '(not null))))
  (when host (check-port port "socket-connect: port"))
  (when local-port (check-port local-port "socket-connect: local port"))
  (let ((timeout (normalize-timeout timeout))
        (external-format (progn (normalize-external-format external-format) external-format))
        (nodelay (and nodelay t)))
    (cffi:with-foreign-objects ((opts '(:struct connect-options)) (out 'usocket-t))
      (%connect-options-init opts)
      (with-host-pointer (local local-host)
        (macrolet ((opt (slot) `(cffi:foreign-slot-value opts '(:struct connect-options) ',slot)))
          (setf (opt protocol) (if (eq protocol :datagram) +datagram+ +stream+)
                (opt timeout-ms) (slice-receive-timeout-ms timeout)
                (opt connect-timeout-ms) (if timeout (seconds->ms timeout) +forever-ms+)
                (opt nodelay) nodelay
                (opt local-host) local
                (opt local-port) (or local-port 0)))
        (with-host-pointer (remote host)
          (with-committed-call (code usocket message errno)
              ((%connect remote (or port 0) opts out)
               (let ((handle (cffi:mem-ref out 'usocket-t)))
                 (if (eq protocol :datagram)
                     (register-handle-finalizer
                      (make-instance 'datagram-usocket :socket handle :connected-p (and host t)
                                                       :timeout timeout)
                      handle)
                     (make-stream-usocket handle element-type external-format timeout))))
            (if (zerop code)
                usocket
                (signal-status code message errno :socket nil :host host))))))))

(defun wildcard-host-p (host)
  (or (null host) (eq host *wildcard-host*)
      (and (vectorp host) (= (length host) 4) (every #'eql host #(0 0 0 0)))
      (and (stringp host) (or (string= host "") (string= host "0.0.0.0")))))

(defun socket-listen (host port &key reuseaddress (reuse-address nil reuse-address-supplied-p)
                                     (backlog 5) (element-type 'character)
                                     (external-format :utf-8))
  "Listen on HOST (NIL or *WILDCARD-HOST*: every IPv4 interface) and PORT (0:
a free one); return a STREAM-SERVER-USOCKET. REUSEADDRESS is the old name of
REUSE-ADDRESS. ELEMENT-TYPE is the default for SOCKET-ACCEPT's streams."
  (check-element-type element-type)
  (check-port port "socket-listen: port")
  (unless (integerp backlog)
    (error 'type-error :datum backlog :expected-type '(integer 0 #.(1- (expt 2 31)))))
  (unless (<= 0 backlog #.(1- (expt 2 31)))
    (invalid-argument nil "socket-listen: backlog ~D is out of range: 0 to ~D" backlog
                      #.(1- (expt 2 31))))
  (normalize-external-format external-format)
  (let ((reuse (if reuse-address-supplied-p reuse-address reuseaddress)))
    (cffi:with-foreign-objects ((opts '(:struct listen-options)) (out 'usocket-t))
      (%listen-options-init opts)
      (setf (cffi:foreign-slot-value opts '(:struct listen-options) 'reuse-address) (and reuse t)
            (cffi:foreign-slot-value opts '(:struct listen-options) 'backlog) backlog)
      (with-host-pointer (local (if (wildcard-host-p host) nil host))
        (with-committed-call (code usocket message errno)
            ((%listen local port opts out)
             (let ((handle (cffi:mem-ref out 'usocket-t)))
               (register-handle-finalizer
                (make-instance 'stream-server-usocket :socket handle :element-type element-type
                                                      :external-format external-format)
                handle)))
          (unless (zerop code)
            (signal-status code message errno :socket nil :host host))
          ;; accept blocks in slices: the listener's SO_RCVTIMEO is the slice,
          ;; and the sockets it accepts inherit it.
          (with-socket-context (usocket)
            (%set-option (socket usocket) +opt-receive-timeout+ +slice-ms+))
          usocket)))))

(defgeneric socket-accept (socket &key element-type)
  (:documentation "Accept a connection on a listening SOCKET; return a
STREAM-USOCKET whose stream has ELEMENT-TYPE (default: the listener's)."))

(defun accept-with-peer (listener element-type external-format &optional peer)
  "Accept on LISTENER in interrupt-safe slices; PEER (a usocket_address
pointer or NIL) receives the client's address."
  (let ((handle (socket listener))
        (element-type (or element-type (element-type listener))))
    (check-element-type element-type)
    (cffi:with-foreign-object (out 'usocket-t)
      (multiple-value-bind (usocket short)
          (sliced-call (listener handle "accept")
              (if peer
                  (%accept-from handle out peer)
                  (%accept handle out))
            (make-stream-usocket (cffi:mem-ref out 'usocket-t) element-type
                                 external-format nil))
        ;; The accepted socket inherits the listener's SO_RCVTIMEO; its own
        ;; must be the slice (it has no receive timeout yet).
        (when (or short (/= (slice-receive-timeout-ms (socket-timeout listener)) +slice-ms+))
          (with-socket-context (usocket)
            (%set-option (socket usocket) +opt-receive-timeout+ +slice-ms+)))
        usocket))))

(defmethod socket-accept ((socket stream-server-usocket) &key element-type
                                                              (external-format nil ef-p))
  (accept-with-peer socket element-type
                    (if ef-p external-format (server-external-format socket))))

;;; Closing.

(defun close-usocket-handle (usocket)
  "Close USOCKET's core handle once; later calls do nothing."
  (unless (closed-p usocket)
    (setf (closed-p usocket) t)
    (let ((handle (socket usocket)))
      (when (integerp handle)
        (close-handle-quietly handle))))
  t)

(defgeneric socket-close (usocket)
  (:documentation "Close USOCKET (flushing its stream first). Closing twice is harmless."))

(defmethod socket-close :before ((usocket usocket))
  (let ((list (wait-list usocket)))
    (when list
      (remove-waiter list usocket))))

(defmethod socket-close ((usocket usocket))
  (close-usocket-handle usocket))

(defmethod socket-close ((usocket stream-usocket))
  (let ((stream (slot-value usocket 'stream)))
    (cond ((typep stream 'usocket-stream) (close stream))
          ((and (native-stream-p stream) (native-stream-socket-p usocket))
           ;; Its close (see fd-stream.lisp) shuts down, closes the stream's
           ;; descriptor and the handle; if it was closed already, the handle is too.
           (close stream)
           (close-usocket-handle usocket))
          (t (close-usocket-handle usocket))))
  t)

(defgeneric socket-shutdown (usocket direction)
  (:documentation "Shut down USOCKET's DIRECTION: :INPUT, :OUTPUT or :IO.
Buffered output is sent first."))

(defmethod socket-shutdown ((usocket usocket) direction)
  (let ((how (case direction
               (:input +shut-input+)
               (:output +shut-output+)
               (:io +shut-both+)
               (t (invalid-argument usocket "socket-shutdown: direction ~S is not ~
                                             :input, :output or :io" direction)))))
    (when (and (typep usocket 'stream-usocket)
               (member direction '(:output :io)))
      (let ((stream (slot-value usocket 'stream)))
        (when (and (or (typep stream 'usocket-stream) (native-stream-p stream))
                   (open-stream-p stream))
          (finish-output stream))))
    (with-socket-context (usocket)
      (%shutdown (socket usocket) how))
    t))

;;; Names.

(defgeneric get-local-name (socket)
  (:documentation "The local address (octet vector) and port of SOCKET, as two values."))
(defgeneric get-peer-name (socket)
  (:documentation "The peer's address (octet vector) and port of a connected SOCKET."))
(defgeneric get-local-address (socket))
(defgeneric get-local-port (socket))
(defgeneric get-peer-address (socket))
(defgeneric get-peer-port (socket))

(defmethod get-local-name ((socket usocket))
  (cffi:with-foreign-object (a '(:struct address))
    (with-socket-context (socket)
      (%local-name (socket socket) a))
    (values (address-octets a) (address-port a))))

(defmethod get-peer-name ((socket usocket))
  (cffi:with-foreign-object (a '(:struct address))
    (with-socket-context (socket)
      (%peer-name (socket socket) a))
    (values (address-octets a) (address-port a))))

(defmethod get-local-address ((socket usocket)) (nth-value 0 (get-local-name socket)))
(defmethod get-local-port ((socket usocket)) (nth-value 1 (get-local-name socket)))
(defmethod get-peer-address ((socket usocket)) (nth-value 0 (get-peer-name socket)))
(defmethod get-peer-port ((socket usocket)) (nth-value 1 (get-peer-name socket)))

;;; The WITH- macros. Errors inside them pass through unchanged (usocket's
;;; turn every error into UNKNOWN-ERROR).

(defmacro with-connected-socket ((var socket) &body body)
  "Bind VAR to SOCKET for BODY (evaluated only if non-NIL), closing it after."
  `(let ((,var ,socket))
     (unwind-protect
          (when ,var ,@body)
       (when ,var (socket-close ,var)))))

(defmacro with-client-socket ((socket-var stream-var &rest socket-connect-args) &body body)
  "Bind SOCKET-VAR to (SOCKET-CONNECT ,@SOCKET-CONNECT-ARGS) and STREAM-VAR
(unless NIL) to its stream, closing the socket after BODY."
  `(with-connected-socket (,socket-var (socket-connect ,@socket-connect-args))
     ,(if stream-var
          `(let ((,stream-var (socket-stream ,socket-var))) ,@body)
          `(progn ,@body))))

(defmacro with-server-socket ((var server-socket) &body body)
  `(with-connected-socket (,var ,server-socket) ,@body))

(defmacro with-socket-listener ((socket-var &rest socket-listen-args) &body body)
  `(with-server-socket (,socket-var (socket-listen ,@socket-listen-args)) ,@body))

;;; usocket's internal constructors, which its test suite uses.

(defun make-stream-socket (&key socket stream)
  "A STREAM-USOCKET over SOCKET (a core handle, or anything) and STREAM."
  (unless socket (error 'invalid-socket-error))
  (unless stream (error 'invalid-socket-stream-error))
  (make-instance 'stream-usocket :socket socket :stream stream))

(defun make-socket (&key socket)
  (unless socket (error 'invalid-socket-error))
  (make-instance 'stream-usocket :socket socket))
