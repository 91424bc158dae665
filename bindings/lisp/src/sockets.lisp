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
  (unless (or (eq element-type :default)   ; first: not a type (CLISP's SUBTYPEP refuses it)
              (subtypep element-type 'character)
              (subtypep element-type '(unsigned-byte 8)))
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

(defmacro with-connect-restarts ((host port) &body body)
  "usocket 0.8.9's restarts around SOCKET-CONNECT and SOCKET-LISTEN:
USE-OTHER-PORT, USE-OTHER-HOST and RETRY (BODY sees the new HOST and PORT)."
  `(loop
     (restart-case (return (progn ,@body))
       (use-other-port (new-port)
         :report "Use a different port."
         :interactive (lambda ()
                        (format *query-io* "Port: ")
                        (list (parse-integer (read-line *query-io*))))
         (setq ,port new-port))
       (use-other-host (new-host)
         :report "Use a different host."
         :interactive (lambda ()
                        (format *query-io* "Host: ")
                        (list (read-line *query-io*)))
         (setq ,host new-host))
       (retry ()
         :report "Retry socket connection."))))

(defun connect-timeout-ms (seconds)
  "usocket_connect_for's bound for a connection timeout in SECONDS: NIL
leaves it to the OS (-1); 0 does not wait at all (usocket's \"expire at
once\"); otherwise the ms, at most USOCKET_MAX_TIMEOUT_MS."
  (cond ((null seconds) -1)
        ((not (realp seconds)) (error 'type-error :datum seconds :expected-type '(or null (real 0))))
        ((nan-p seconds)
         (invalid-argument nil "socket-connect: the connection timeout is NaN"))
        ((not (plusp seconds)) 0)
        ((infinity-p seconds) -1)
        (t (let ((ms (seconds->ms seconds)))  ; not MIN: see SERVER-TIMEOUT-MS
             (if (> ms +max-timeout-ms+) +max-timeout-ms+ ms)))))

(defun socket-connect (host port &rest args
                       &key (protocol :stream) (element-type 'character)
                            timeout (connection-timeout nil connection-timeout-p)
                            (read-timeout nil read-timeout-p) deadline (nodelay t)
                            local-host local-port (external-format :utf-8))
  "Connect to HOST on PORT; return a STREAM-USOCKET, or a DATAGRAM-USOCKET for
:PROTOCOL :DATAGRAM (unconnected when HOST is NIL). HOST may be a pathname:
a Unix-domain socket (a name starting with @ is in the abstract namespace;
PORT is ignored). TIMEOUT (seconds) is both the connection timeout and the
read timeout (SO_RCVTIMEO, as documented); CONNECTION-TIMEOUT and
READ-TIMEOUT override it for each (usocket 0.8.9). A connection timeout of
0 expires at once. NODELAY is on unless NIL is passed. EXTERNAL-FORMAT (our
addition) codes characters. Restarts: USE-OTHER-PORT, USE-OTHER-HOST, RETRY."
  (declare (ignore args))
  (when deadline (unsupported 'deadline 'socket-connect))
  (let ((read-timeout (if read-timeout-p read-timeout timeout))
        (connection-timeout (if connection-timeout-p connection-timeout timeout)))
    (with-connect-restarts (host port)
      (socket-connect-internal host port protocol element-type read-timeout
                               connection-timeout nodelay local-host local-port
                               external-format))))

(defun socket-connect-internal (host port protocol element-type read-timeout connection-timeout
                                nodelay local-host local-port external-format)
  (check-type protocol (member :stream :datagram))
  (check-element-type element-type)
  (when (or (pathnamep host) (and (null host) (pathnamep local-host)))
    (return-from socket-connect-internal
      (connect-local host protocol element-type read-timeout connection-timeout
                     local-host external-format)))
  (when (eq protocol :stream)
    (unless host (error 'type-error :datum host :expected-type '(not null))))
  (when host (check-port port "socket-connect: port"))
  (when local-port (check-port local-port "socket-connect: local port"))
  (let ((timeout (normalize-timeout read-timeout))
        (external-format (progn (normalize-external-format external-format) external-format))
        (nodelay (and nodelay t)))
    (cffi:with-foreign-objects ((opts '(:struct connect-options)) (out 'usocket-t))
      (%connect-options-init opts)
      (with-host-pointer (local local-host)
        (macrolet ((opt (slot) `(cffi:foreign-slot-value opts '(:struct connect-options) ',slot)))
          (setf (opt protocol) (if (eq protocol :datagram) +datagram+ +stream+)
                (opt timeout-ms) (receive-timeout-option-ms timeout)
                (opt nodelay) nodelay
                (opt local-host) local
                (opt local-port) (or local-port 0)))
        (with-host-pointer (remote host)
          (with-committed-call (code usocket message errno)
              ((%connect-for remote (or port 0) opts (connect-timeout-ms connection-timeout) out)
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

(defun socket-listen (host port &rest args
                      &key reuseaddress (reuse-address nil reuse-address-supplied-p)
                           (backlog +default-backlog+) (element-type 'character)
                           (external-format :utf-8))
  "Listen on HOST (NIL or *WILDCARD-HOST*: every IPv4 interface; a pathname:
a Unix-domain socket, PORT ignored) and PORT (0: a free one); return a
STREAM-SERVER-USOCKET. REUSEADDRESS is the old name of REUSE-ADDRESS.
ELEMENT-TYPE is the default for SOCKET-ACCEPT's streams. Restarts:
USE-OTHER-PORT, USE-OTHER-HOST, RETRY."
  (declare (ignore args))
  (let ((reuse (if reuse-address-supplied-p reuse-address reuseaddress)))
    (with-connect-restarts (host port)
      (socket-listen-internal host port reuse backlog element-type external-format))))

(defun socket-listen-internal (host port reuse backlog element-type external-format)
  (check-element-type element-type)
  (when (pathnamep host)
    (return-from socket-listen-internal
      (listen-local host reuse backlog element-type external-format)))
  (check-port port "socket-listen: port")
  (unless (integerp backlog)
    (error 'type-error :datum backlog :expected-type '(integer 0 #.(1- (expt 2 31)))))
  (unless (<= 0 backlog #.(1- (expt 2 31)))
    (invalid-argument nil "socket-listen: backlog ~D is out of range: 0 to ~D" backlog
                      #.(1- (expt 2 31))))
  (normalize-external-format external-format)
  (progn
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
          usocket)))))

(defgeneric socket-accept (socket &key element-type)
  (:documentation "Accept a connection on a listening SOCKET; return a
STREAM-USOCKET whose stream has ELEMENT-TYPE (default: the listener's)."))

(defun accept-with-peer (listener element-type external-format &optional peer)
  "Accept on LISTENER with usocket_accept_for in interrupt-safe slices
(bounded by the listener's receive timeout, if any); PEER (a
usocket_address pointer or NIL) receives the client's address."
  (let ((handle (socket-handle listener))
        (element-type (or element-type (element-type listener))))
    (check-element-type element-type)
    (cffi:with-foreign-object (out 'usocket-t)
      (sliced-call (listener "accept") (slice)
          (%accept-for handle slice out (or peer (cffi:null-pointer)))
        (let ((handle (cffi:mem-ref out 'usocket-t)))
          (register-handle-finalizer
           ;; The kernel gave it the listener's SO_RCVTIMEO: so does Lisp.
           (make-instance 'stream-usocket :socket handle :element-type element-type
                                          :external-format external-format
                                          :timeout (socket-timeout listener)
                                          :local-p (local-p listener))
           handle))))))

(defmethod socket-accept ((socket stream-server-usocket) &key element-type
                                                              (external-format nil ef-p))
  (accept-with-peer socket element-type
                    (if ef-p external-format (server-external-format socket))))

;;; Closing.

(defun close-usocket-handle (usocket)
  "Close USOCKET's core handle once; later calls do nothing."
  (unless (closed-p usocket)
    (setf (closed-p usocket) t)
    (let ((cell (finalizer-cell usocket)))
      (when cell (setf (car cell) nil)))  ; its finalizer has nothing to close
    (let ((handle (socket-handle usocket)))
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
      (%shutdown (socket-handle usocket) how))
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
  (when (local-p socket)
    ;; As native usocket 0.8.9 on SBCL: the path, NIL when unnamed.
    (return-from get-local-name (get-local-path socket)))
  (cffi:with-foreign-object (a '(:struct address))
    (with-socket-context (socket)
      (%local-name (socket-handle socket) a))
    (values (address-octets a) (address-port a))))

(defmethod get-peer-name ((socket usocket))
  (when (local-p socket)
    (return-from get-peer-name (get-peer-path socket)))
  (cffi:with-foreign-object (a '(:struct address))
    (with-socket-context (socket)
      (%peer-name (socket-handle socket) a))
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
