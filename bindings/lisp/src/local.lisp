;;;; Unix-domain sockets: a pathname as the host (usocket 0.8.9's convention).
;;;;
;;;;   (socket-connect #p"/run/x.sock" nil)          ; stream client
;;;;   (socket-listen #p"/run/x.sock" nil)           ; stream server
;;;;   (socket-connect #p"/run/x.sock" nil :protocol :datagram)   ; connected datagrams
;;;;   (socket-connect nil nil :protocol :datagram :local-host #p"/tmp/me.sock")
;;;;   (socket-server #p"/run/x.sock" nil #'handler)
;;;;
;;;; A name starting with @ is Linux's abstract namespace (no file). All of it
;;;; goes through the core's local calls; the sockets are the usual classes
;;;; with LOCAL-P true. GET-LOCAL-NAME and GET-PEER-NAME answer as native
;;;; usocket 0.8.9 on SBCL does: the path (a string), or NIL for an unnamed
;;;; socket. GET-LOCAL-PATH, GET-PEER-PATH and GET-PEER-CREDENTIALS are ours.

(in-package #:usocket-cffi)

(defun local-path-string (path)
  "The core's path text for PATH (a pathname or a string)."
  (when (and (pathnamep path) (wild-pathname-p path))
    (invalid-argument nil "~S is a wild pathname, not a socket's path" path))
  (let ((text (etypecase path
                ;; Not merged with *DEFAULT-PATHNAME-DEFAULTS*: "@name" stays abstract,
                ;; a relative path is the process's (as the C API takes it).
                (pathname (native-namestring path))
                (string path))))
    (check-host-text text)))

(defmacro with-local-path ((var path) &body body)
  "Bind VAR to a foreign UTF-8 copy of PATH's text, or a null pointer for NIL."
  (let ((text (gensym "PATH")))
    `(let ((,text (and ,path (local-path-string ,path))))
       (if ,text
           (cffi:with-foreign-string (,var ,text) ,@body)
           (let ((,var (cffi:null-pointer))) ,@body)))))

(defun connect-local (path protocol element-type read-timeout connection-timeout
                      local-path external-format)
  "SOCKET-CONNECT of a pathname host (or of NIL with a pathname LOCAL-PATH
for a datagram socket)."
  (when (and (eq protocol :stream) (null path))
    (error 'type-error :datum path :expected-type '(not null)))
  (let ((timeout (normalize-timeout read-timeout)))
    (normalize-external-format external-format)
    (cffi:with-foreign-objects ((opts '(:struct connect-options)) (out 'usocket-t))
      (%connect-options-init opts)
      (with-local-path (local local-path)
        (macrolet ((opt (slot) `(cffi:foreign-slot-value opts '(:struct connect-options) ',slot)))
          (setf (opt protocol) (if (eq protocol :datagram) +datagram+ +stream+)
                (opt timeout-ms) (receive-timeout-option-ms timeout)
                (opt connect-timeout-ms) (let ((ms (connect-timeout-ms connection-timeout)))
                                           ;; The options' "none" is <= 0; a local
                                           ;; connect does not wait anyway.
                                           (if (plusp ms) ms 0))
                (opt local-host) local))
        (with-local-path (remote path)
          (with-committed-call (code usocket message errno)
              ((%connect-local remote opts out)
               (let ((handle (cffi:mem-ref out 'usocket-t)))
                 (register-handle-finalizer
                  (if (eq protocol :datagram)
                      (make-instance 'datagram-usocket :socket handle :connected-p (and path t)
                                                       :timeout timeout :local-p t)
                      (make-instance 'stream-usocket :socket handle :element-type element-type
                                                     :external-format external-format
                                                     :timeout timeout :local-p t))
                  handle)))
            (if (zerop code)
                usocket
                (signal-status code message errno :socket nil :host path))))))))

(defun listen-local (path reuse backlog element-type external-format)
  "SOCKET-LISTEN of a pathname host."
  (unless (and (integerp backlog) (<= 0 backlog #.(1- (expt 2 31))))
    (invalid-argument nil "socket-listen: backlog ~S is not an integer from 0 to ~D" backlog
                      #.(1- (expt 2 31))))
  (normalize-external-format external-format)
  (cffi:with-foreign-objects ((opts '(:struct listen-options)) (out 'usocket-t))
    (%listen-options-init opts)
    (setf (cffi:foreign-slot-value opts '(:struct listen-options) 'reuse-address) (and reuse t)
          (cffi:foreign-slot-value opts '(:struct listen-options) 'backlog) backlog)
    (with-local-path (local path)
      (with-committed-call (code usocket message errno)
          ((%listen-local local opts out)
           (let ((handle (cffi:mem-ref out 'usocket-t)))
             (register-handle-finalizer
              (make-instance 'stream-server-usocket :socket handle :element-type element-type
                                                    :external-format external-format :local-p t)
              handle)))
        (if (zerop code)
            usocket
            (signal-status code message errno :socket nil :host path))))))

;;; Paths and credentials.

(defun core-path (usocket function)
  "The path FUNCTION (%LOCAL-PATH or %PEER-PATH) writes for USOCKET, or NIL
for an unnamed socket."
  (let ((cap (1+ +local-path-max+)))
    (cffi:with-foreign-objects ((buf :char cap) (len 'size-t))
      (with-socket-context (usocket)
        (funcall function (socket-handle usocket) buf cap len))
      (let ((path (cffi:foreign-string-to-lisp buf :count (cffi:mem-ref len 'size-t)
                                                   :encoding :utf-8)))
        (if (string= path "") nil path)))))

(defgeneric get-local-path (socket)
  (:documentation "The path of a Unix-domain SOCKET (\"@name\" for an abstract
name), or NIL when it is unnamed."))
(defgeneric get-peer-path (socket)
  (:documentation "The path of a connected Unix-domain SOCKET's peer, or NIL
when the peer is unnamed (a client that did not bind)."))
(defgeneric get-peer-credentials (socket)
  (:documentation "The pid, uid and gid (three values) of the process at the
other end of a connected Unix-domain stream SOCKET (SO_PEERCRED)."))

(defmethod get-local-path ((socket usocket))
  (core-path socket #'%local-path))

(defmethod get-peer-path ((socket usocket))
  (core-path socket #'%peer-path))

(defmethod get-peer-credentials ((socket usocket))
  (cffi:with-foreign-objects ((pid :int32) (uid :uint32) (gid :uint32))
    (with-socket-context (socket)
      (%peer-credentials (socket-handle socket) pid uid gid))
    (values (cffi:mem-ref pid :int32) (cffi:mem-ref uid :uint32) (cffi:mem-ref gid :uint32))))

;;; Datagrams to and from paths.

(defun send-local (usocket data start length path)
  "Send LENGTH octets of the simple octet vector DATA from START to PATH (NIL
on a connected socket); the count sent."
  (with-socket-context (usocket path)
    (with-local-path (to path)
      (cffi:with-foreign-object (nsent 'size-t)
        (with-committed-call (code value message errno)
            ((with-octets-pointer (p data start length :direction :out)
               (%send-local (socket-handle usocket) p length to nsent))
             (cffi:mem-ref nsent 'size-t))
          (if (zerop code) value (signal-status code message errno)))))))
