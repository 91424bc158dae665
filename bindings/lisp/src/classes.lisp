;;;; usocket's socket classes over core handles.

(in-package #:usocket-cffi)

(defvar *native-streams* nil
  "When true, stream sockets made from now on (by SOCKET-CONNECT and
SOCKET-ACCEPT on this thread, or globally) get an SB-SYS:FD-STREAM as their
SOCKET-STREAM, as native usocket's on SBCL; otherwise the binding's own Gray
stream. usocket-cffi/compat sets it to T.")

(defvar *native-socket-objects* nil
  "When true, SOCKET of a stream socket gives the implementation's own socket
object where the binding has one for this Lisp (NATIVE-SOCKET-OBJECT), as
native usocket does, for programs that set options through it (Hunchentoot).
usocket-cffi/compat sets it to T.")

(defclass usocket ()
  ((socket :initarg :socket :accessor socket-handle
           :documentation "The core's handle (an integer). See SOCKET for what
usocket's users get.")
   (wait-list :initform nil :accessor wait-list
              :documentation "The WAIT-LIST this socket is in, if any.")
   (state :initform nil :accessor state
          :documentation "Set by WAIT-FOR-INPUT: NIL (not ready) or :READ.")
   (timeout :initform nil :initarg :timeout :accessor socket-timeout
            :documentation "The receive timeout in seconds (NIL: none), as the user
gave it; also the socket's SO_RCVTIMEO.")
   (send-timeout :initform nil :accessor send-timeout-setting
                 :documentation "The send timeout as the user last gave it (SO_SNDTIMEO holds it in ms).")
   (closed-p :initform nil :accessor closed-p)
   (finalizer-cell :initform nil :accessor finalizer-cell
                   :documentation "The cell its finalizer closes the handle from, if any
(REGISTER-HANDLE-FINALIZER); emptied when the handle is closed.")
   (local-p :initform nil :initarg :local-p :reader local-p
            :documentation "Whether it is a Unix-domain socket (see local.lisp).")
   (wait-mark :initform 0 :accessor wait-mark :type fixnum
              :documentation "The wait-list generation that last marked this socket ready."))
  (:documentation "The main socket class. Close sockets with SOCKET-CLOSE."))

(defclass stream-usocket (usocket)
  ((stream :initarg :stream :initform nil
           :documentation "The Gray stream over the connection, made when first asked for.")
   (element-type :initarg :element-type :initform 'character)
   (external-format :initarg :external-format :initform :utf-8)
   (native-p :initarg :native-p :initform *native-streams* :reader native-stream-socket-p
             :documentation "Whether its stream is an SB-SYS:FD-STREAM (see fd-stream.lisp).")
   (native-object :initform nil :accessor native-object
                  :documentation "The implementation's own socket object SOCKET gives, once
made (see NATIVE-SOCKET-OBJECT)."))
  (:documentation "A connected TCP socket. Close it with SOCKET-CLOSE or by
closing its stream."))

(defclass stream-server-usocket (usocket)
  ((element-type :initarg :element-type :initform 'character :reader element-type
                 :documentation "Default element type of the streams of SOCKET-ACCEPT.")
   (external-format :initarg :external-format :initform :utf-8
                    :reader server-external-format))
  (:documentation "A listening TCP socket."))

(defclass datagram-usocket (usocket)
  ((connected-p :initarg :connected-p :initform nil :accessor connected-p))
  (:documentation "A UDP socket, connected to one peer or not."))

(defgeneric socket-state (socket)
  (:documentation "NIL (not ready) or :READ, as the last WAIT-FOR-INPUT left it."))

(defmethod socket-state ((socket usocket))
  (state socket))

(defun usocket-p (socket) (typep socket 'usocket))
(defun stream-usocket-p (socket) (typep socket 'stream-usocket))
(defun stream-server-usocket-p (socket) (typep socket 'stream-server-usocket))
(defun datagram-usocket-p (socket) (typep socket 'datagram-usocket))

(defmethod print-object ((s usocket) stream)
  (print-unreadable-object (s stream :type t :identity t)
    (format stream "~:[handle ~D~;closed~]" (closed-p s) (socket-handle s))))

(defun close-handle-quietly (handle)
  (without-interrupts (%close handle)))

(defun register-handle-finalizer (object handle)
  "Close HANDLE when OBJECT is garbage, unless it was closed already. The
closure holds only a cell with the handle, never OBJECT; a usocket keeps the
cell too, and CLOSE-USOCKET-HANDLE empties it. A finalizer may run in any
thread in the middle of an allocation (ECL's collector runs them in the
thread that allocates), so it must not make a core call fail: a failed close
of a closed handle would replace that thread's last error message, whose
string the binding may be decoding at that moment (seen on ECL: babel's
INVALID-UTF8-CONTINUATION-BYTE on the freed message, in a server thread). A
close that succeeds leaves the last error alone."
  (let ((cell (list handle)))
    (when (typep object 'usocket)
      (setf (finalizer-cell object) cell))
    (finalize object (lambda ()
                       (let ((h (car cell)))
                         (when h
                           (setf (car cell) nil)
                           (close-handle-quietly h)))))))

(defmacro with-socket-context ((socket &optional host) &body body)
  "Evaluate BODY with SOCKET (and HOST) recorded for conditions signalled by
core calls in it."
  `(let ((*error-socket* ,socket) (*error-host* ,host))
     ,@body))

(defgeneric socket (usocket)
  (:documentation "usocket's SOCKET: the implementation's own socket object
where compat gives one (NATIVE-SOCKET-OBJECT: ECL's sb-bsd-sockets socket,
CLISP's socket stream), else the core's handle (an integer). The binding's
own calls use SOCKET-HANDLE."))

(defmethod socket ((usocket usocket))
  (let ((handle (socket-handle usocket)))
    ;; a socket made by MAKE-SOCKET with an object of the user's own gives it back
    (or (and (integerp handle) (native-socket-object usocket)) handle)))

(defmethod (setf socket) (handle (usocket usocket))
  (setf (socket-handle usocket) handle))

(defun dup-fd (usocket)
  "A new descriptor (close-on-exec) for USOCKET's socket, owned by the caller: what
a native stream is made on (fd-stream.lisp, impl/native-stream-ecl.lisp)."
  (cffi:with-foreign-object (fd :int32)
    (with-socket-context (usocket)
      (%dup-fd (socket-handle usocket) fd))
    (cffi:mem-ref fd :int32)))

(defun socket-fd (usocket)
  "The OS descriptor of USOCKET (still owned by the library)."
  (with-socket-context (usocket)
    (cffi:with-foreign-object (fd :int32)
      (%fd (socket-handle usocket) fd)
      (cffi:mem-ref fd :int32))))
