;;;; SOCKET-SERVER: usocket's simple TCP and UDP servers, on Lisp threads
;;;; (bordeaux-threads) over the core's accept and receive.

(in-package #:usocket-cffi)

(defvar *remote-host*)
(setf (documentation '*remote-host* 'variable)
      "The client's address (octet vector) while a SOCKET-SERVER handler runs.")
(defvar *remote-port*)
(setf (documentation '*remote-port* 'variable)
      "The client's port while a SOCKET-SERVER handler runs.")

(defvar *server* nil "The socket of the last SOCKET-SERVER run on the calling thread.")

(defconstant +server-backlog+ 4096
  "SOMAXCONN: a burst of clients queues instead of being refused.")

(defun default-udp-handler (buffer)
  "Echo the datagram."
  (declare (type (simple-array (unsigned-byte 8) (*)) buffer))
  buffer)

(defun default-tcp-handler (stream)
  "Greet the client."
  (declare (type stream stream))
  (format stream "Hello world!~%"))

(defun echo-tcp-handler (stream)
  "Send back each line the client sends, until it closes."
  (loop for line = (read-line stream nil)
        while line
        do (write-line line stream)
           (force-output stream)))

(defun report-handler-error (condition)
  "A handler failed: say so on *ERROR-OUTPUT*; the server goes on."
  (ignore-errors
   (format *error-output* "~&;; usocket-cffi socket-server: handler error: ~A~%" condition)
   (force-output *error-output*)))

(defmacro with-handler-errors-reported (&body body)
  `(handler-case (progn ,@body)
     ((or error ns-condition) (c) (report-handler-error c) nil)))

(defun serve-tcp-client (client host port function arguments)
  (unwind-protect
       (let ((*remote-host* host) (*remote-port* port))
         (with-handler-errors-reported
           (apply function (socket-stream client) arguments)))
    (ignore-errors (socket-close client))
    ;; If flushing failed, the handle must still go.
    (close-usocket-handle client)))

(defun tcp-event-loop (socket function arguments element-type multi-threading)
  (unwind-protect
       (cffi:with-foreign-object (peer '(:struct address))
         (loop
           (let ((client (handler-case
                             (accept-with-peer socket element-type
                                               (server-external-format socket) peer)
                           (invalid-handle-error () (return))
                           (socket-error ()
                             ;; E.g. a client that gave up before we got to it,
                             ;; or out of descriptors: keep serving.
                             (sleep 0.01)
                             nil))))
             (when client
               (let ((host (address-octets peer)) (port (address-port peer)))
                 (if multi-threading
                     (bt:make-thread (lambda ()
                                       (serve-tcp-client client host port function arguments))
                                     :name "USOCKET Client")
                     (serve-tcp-client client host port function arguments)))))))
    (socket-close socket))
  (values))

(defun udp-event-loop (socket function arguments max-buffer-size)
  (let ((buffer (make-array max-buffer-size :element-type 'octet)))
    (unwind-protect
         (loop
           (multiple-value-bind (received n host port)
               (handler-case (socket-receive socket buffer max-buffer-size)
                 (invalid-handle-error () (return))
                 ;; E.g. an ICMP error left by an earlier reply.
                 (socket-error () nil))
             (when received
               (let ((reply (let ((*remote-host* host) (*remote-port* port))
                              (with-handler-errors-reported
                                (apply function (subseq buffer 0 n) arguments)))))
                 (when (and reply (plusp (length reply)))
                   (handler-case (socket-send socket reply (length reply) :host host :port port)
                     (invalid-handle-error () (return))
                     (socket-error () nil)))))))
      (socket-close socket)))
  (values))

(locally (declare (sb-ext:muffle-conditions style-warning)) ; &optional with &key, as usocket
(defun socket-server (host port function &optional arguments
                      &key in-new-thread (protocol :stream)
                           (timeout 1) (max-buffer-size +max-datagram-packet-size+)
                           element-type (reuse-address t) multi-threading name)
  "Serve on HOST (NIL: every interface) and PORT. TCP: FUNCTION is called with
each client's stream (and ARGUMENTS), one client at a time or, with
MULTI-THREADING, a thread per client; the stream is closed after it. UDP:
FUNCTION is called with each datagram (and ARGUMENTS); what it returns is
sent back to the sender. *REMOTE-HOST* and *REMOTE-PORT* name the client.
An error in FUNCTION is reported and the server goes on. With IN-NEW-THREAD,
returns the server's thread and its socket (SOCKET-CLOSE on the socket stops
the server); otherwise serves until the socket is closed.
TIMEOUT (usocket's UDP wake-up interval) is accepted and not needed."
  (declare (ignore timeout))
  (let* ((host (or host *wildcard-host*))
         (socket (ecase protocol
                   (:stream (socket-listen host port :reuse-address reuse-address
                                                     :backlog +server-backlog+
                                                     :element-type (or element-type 'character)))
                   (:datagram (socket-connect nil nil :protocol :datagram
                                                      :local-host host :local-port port)))))
    (flet ((serve ()
             (ecase protocol
               (:stream (tcp-event-loop socket function arguments element-type multi-threading))
               (:datagram (udp-event-loop socket function arguments max-buffer-size)))))
      (if in-new-thread
          (values (bt:make-thread #'serve :name (or name "USOCKET Server")) socket)
          (progn (setf *server* socket)
                 (serve)))))))
