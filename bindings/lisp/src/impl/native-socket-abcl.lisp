;;;; Implementation-specific (ABCL): the object usocket's SOCKET gives for a
;;;; stream socket in compat.
;;;;
;;;; Native usocket on ABCL gives a java.net.Socket, and programs set its read
;;;; timeout through Java: Hunchentoot's SET-TIMEOUTS calls
;;;; java.net.Socket.setSoTimeout(int) on (usocket:socket s). Our connection is
;;;; the core's, not a Java socket's, so SOCKET gives a TIMEOUT-CARRIER: an
;;;; unconnected java.net.Socket of a class made at run time whose
;;;; setSoTimeout/getSoTimeout are the socket's :receive-timeout option (the
;;;; user's timeout, in the core), in milliseconds, 0 for none, as Java's.
;;;; The carrier opens no descriptor of its own: its overridden methods never
;;;; reach the JDK's socket implementation, and nothing else is called on it.

(in-package #:usocket-cffi)

(defvar *carrier-sockets* (make-hash-table :test 'equal :weakness :key-and-value)
  "Each timeout carrier and the stream socket it stands for. EQUAL: the
carrier Java hands to its methods is another wrapper of the same object. Weak
both ways: the socket holds its carrier, so an entry goes when both are
unreachable from elsewhere.")

(defvar *carrier-lock* (bt:make-lock "usocket-cffi timeout carriers"))

(defun carrier-socket (carrier)
  (bt:with-lock-held (*carrier-lock*) (gethash carrier *carrier-sockets*)))

(defun carrier-set-timeout (carrier milliseconds)
  ;; Java's 0 is no timeout. Nothing may unwind out of here: a Lisp non-local
  ;; exit that crosses the Java method's frame reaches the caller as an
  ;; org.armedbear.lisp.Return exception instead of going where it was sent.
  ;; So a negative value (Java's IllegalArgumentException) or a closed socket
  ;; (Java's SocketException) leaves everything as it was, and so does a
  ;; failure of the option (not even a warning: a handler that muffles it
  ;; would unwind across that frame).
  (ignore-errors
   (let ((usocket (carrier-socket carrier)))
     (unless (or (minusp milliseconds) (null usocket) (closed-p usocket))
       (setf (socket-option usocket :receive-timeout)
             (if (zerop milliseconds) nil (/ milliseconds 1000.0))))))
  (values))

(defun carrier-get-timeout (carrier)
  (let* ((usocket (carrier-socket carrier))
         (seconds (and usocket (not (closed-p usocket))
                       (ignore-errors (socket-option usocket :receive-timeout)))))
    (if seconds (round (* seconds 1000)) 0)))

(defvar *carrier-class* nil)

(defun carrier-class ()
  (bt:with-lock-held (*carrier-lock*)
    (or *carrier-class*
        (setf *carrier-class*
              (java:jnew-runtime-class
               "org.usocket_cffi.TimeoutCarrier"
               :superclass "java.net.Socket"
               :methods (list (list "setSoTimeout" :void '(:int) #'carrier-set-timeout)
                              (list "getSoTimeout" :int '() #'carrier-get-timeout)))))))

(defmethod native-socket-object ((usocket stream-usocket))
  (when *native-socket-objects*
    (or (native-object usocket)
        (let ((carrier (java:jnew (carrier-class))))
          (bt:with-lock-held (*carrier-lock*)
            (setf (gethash carrier *carrier-sockets*) usocket))
          (setf (native-object usocket) carrier)))))
