;;;; SOCKET-SERVER: usocket's simple TCP and UDP servers. The core makes and
;;;; owns the server (usocket_server_new / _new_local, no C handlers) and
;;;; applies its accept policy (transient errors retried, descriptor
;;;; exhaustion backed off) inside usocket_server_next; the handlers run as
;;;; Lisp code on Lisp threads (bordeaux-threads) around usocket_server_next,
;;;; usocket_server_next_datagram and usocket_server_reply. No accept loop of
;;;; our own.

(in-package #:usocket-cffi)

(defvar *remote-host*)
(setf (documentation '*remote-host* 'variable)
      "The client's address (octet vector) while a SOCKET-SERVER handler runs.")
(defvar *remote-port*)
(setf (documentation '*remote-port* 'variable)
      "The client's port while a SOCKET-SERVER handler runs.")

(defvar *server* nil "The socket of the last SOCKET-SERVER run on the calling thread.")


(defun default-udp-handler (buffer)
  "Echo the datagram."
  (declare (type (simple-array (unsigned-byte 8) (*)) buffer))
  buffer)

(defun default-tcp-handler (stream)
  "Greet the client."
  ;; No (TYPE STREAM) declaration: ABCL's Gray streams are not of type STREAM.
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

(defun peer-host (peer local-p)
  (if local-p nil (address-octets peer)))

(defun peer-port (peer local-p)
  (if local-p nil (address-port peer)))

(defmacro server-loop-call ((server what) (slice) form)
  "FORM, a raw usocket_server_next* call bounded by SLICE ms, in interrupt-safe
slices until it succeeds: true then; NIL once the server was stopped or closed."
  (let ((code (gensym)) (message (gensym)) (errno (gensym)) (value (gensym)))
    `(loop
       (multiple-value-bind (,code ,value ,message ,errno)
           (let ((,slice +slice-ms+)) (without-interrupts (core-result ,form t)))
         (declare (ignore ,value))
         (cond ((zerop ,code) (return t))
               ((= ,code +err-timeout+))
               ((or (= ,code +err-shutdown+) (= ,code +err-invalid-handle+)) (return nil))
               (t (signal-status ,code ,message ,errno :socket ,server
                                 :host ,what)))))))

(defun tcp-event-loop (server function arguments element-type multi-threading)
  "Serve SERVER (a STREAM-SERVER-USOCKET over a core server handle)."
  (let ((handle (socket-handle server))
        (local-p (local-p server))
        (element-type (or element-type (element-type server))))
    (unwind-protect
         (cffi:with-foreign-objects ((peer '(:struct address)) (out 'usocket-t))
           (loop
             (let ((client (and (server-loop-call (server "socket-server") (slice)
                                  (%server-next handle slice out peer))
                                (register-handle-finalizer
                                 (make-instance 'stream-usocket
                                                :socket (cffi:mem-ref out 'usocket-t)
                                                :element-type element-type
                                                :external-format (server-external-format server)
                                                :local-p local-p)
                                 (cffi:mem-ref out 'usocket-t)))))
               (unless client (return))
               (let ((host (peer-host peer local-p)) (port (peer-port peer local-p)))
                 (if multi-threading
                     (bt:make-thread (lambda ()
                                       (serve-tcp-client client host port function arguments))
                                     :name "USOCKET Client")
                     (serve-tcp-client client host port function arguments))))))
      (socket-close server)))
  (values))

(defun udp-event-loop (server function arguments max-buffer-size)
  "Serve SERVER (a DATAGRAM-USOCKET over a core UDP server handle)."
  (let ((handle (socket-handle server))
        (buffer (make-array max-buffer-size :element-type 'octet)))
    (unwind-protect
         (cffi:with-foreign-objects ((peer '(:struct address)) (len 'size-t))
           (loop
             (unless (server-loop-call (server "socket-server") (slice)
                       (with-octets-pointer (p buffer 0 max-buffer-size :direction :in
                                                              :filled (cffi:mem-ref len 'size-t))
                         (%server-next-datagram handle slice p max-buffer-size len peer)))
               (return))
             (let* ((n (cffi:mem-ref len 'size-t))
                    (reply (let ((*remote-host* (address-octets peer))
                                 (*remote-port* (address-port peer)))
                             (with-handler-errors-reported
                               (apply function (subseq buffer 0 n) arguments)))))
               (when (and reply (plusp (length reply)))
                 (multiple-value-bind (data start) (octets-for-sending reply 0 (length reply))
                   (let ((code (with-octets-pointer (p data start (length reply) :direction :out)
                                 (without-interrupts
                                   (%server-reply handle p (length reply) peer)))))
                     ;; A reply that cannot go (too long, an ICMP error) is
                     ;; dropped; a closed server ends the loop.
                     (when (or (= code +err-shutdown+) (= code +err-invalid-handle+))
                       (return))))))))
      (socket-close server)))
  (values))

(defun server-timeout-ms (timeout)
  "A UDP server's TIMEOUT (seconds) for the core, which checks it: a negative
or too large one is INVALID-ARGUMENT-ERROR there, as in every runtime."
  (cond ((or (nan-p timeout) (infinity-p timeout))
         (invalid-argument nil "socket-server: timeout ~A is not a finite number of seconds"
                           timeout))
        ((minusp timeout) -1)
        ;; Not MIN with the constant: ECL 21.2.1 compiles that (with
        ;; 2^31) to a wrapped 32-bit result.
        (t (let ((ms (ceiling (* timeout 1000))))
             (if (> ms +max-timeout-ms+) (1+ +max-timeout-ms+) ms)))))

(defun make-core-server (host port protocol reuse-address timeout max-buffer-size)
  "A core server handle (serving nothing yet) wrapped as a usocket."
  (unless (typep max-buffer-size '(integer 1 #.+max-datagram-packet-size+))
    (invalid-argument nil "socket-server: max-buffer-size ~S is not an integer from 1 to ~D"
                      max-buffer-size +max-datagram-packet-size+))
  (unless (realp timeout)
    (error 'type-error :datum timeout :expected-type 'real))
  (cffi:with-foreign-objects ((opts '(:struct server-options)) (out 'usocket-t))
    (%server-options-init opts)
    (macrolet ((opt (slot) `(cffi:foreign-slot-value opts '(:struct server-options) ',slot)))
      (setf (opt protocol) (if (eq protocol :datagram) +datagram+ +stream+)
            (opt reuse-address) (and reuse-address t)
            (opt backlog) +server-default-backlog+
            (opt multi-threading) nil
            ;; The core checks it (negative or too large: invalid-argument).
            (opt timeout-ms) (server-timeout-ms timeout)
            (opt max-buffer-size) max-buffer-size))
    (flet ((wrap (handle)
             (register-handle-finalizer
              (if (eq protocol :datagram)
                  (make-instance 'datagram-usocket :socket handle)
                  (make-instance 'stream-server-usocket :socket handle :local-p (pathnamep host)))
              handle)))
      (if (pathnamep host)
          (with-local-path (path host)
            (with-committed-call (code usocket message errno)
                ((%server-new-local path opts (cffi:null-pointer) (cffi:null-pointer) out)
                 (wrap (cffi:mem-ref out 'usocket-t)))
              (if (zerop code) usocket (signal-status code message errno :socket nil :host host))))
          (with-host-pointer (local (if (wildcard-host-p host) nil host))
            (with-committed-call (code usocket message errno)
                ((%server-new local port opts (cffi:null-pointer) (cffi:null-pointer)
                              (cffi:null-pointer) out)
                 (wrap (cffi:mem-ref out 'usocket-t)))
              (if (zerop code) usocket (signal-status code message errno :socket nil :host host))))))))

(muffling-style-warnings ; &optional with &key, as usocket
(defun socket-server (host port function &optional arguments
                      &key in-new-thread (protocol :stream)
                           (timeout 1) (max-buffer-size +max-datagram-packet-size+)
                           element-type (reuse-address t) multi-threading name)
  "Serve on HOST (NIL: every interface; a pathname: a Unix-domain stream
socket) and PORT. TCP: FUNCTION is called with each client's stream (and
ARGUMENTS), one client at a time or, with MULTI-THREADING, a thread per
client; the stream is closed after it. UDP: FUNCTION is called with each
datagram (and ARGUMENTS); what it returns is sent back to the sender.
*REMOTE-HOST* and *REMOTE-PORT* name the client (NIL for a local one). An
error in FUNCTION is reported and the server goes on. TIMEOUT (UDP, seconds)
is how long one wait for a datagram lasts before the loop looks again
whether it was stopped; it never ends the server. With IN-NEW-THREAD,
returns the server's thread and its socket (SOCKET-CLOSE on the socket stops
the server); otherwise serves until the socket is closed."
  (check-type protocol (member :stream :datagram))
  (when in-new-thread (require-threads "socket-server :in-new-thread t"))
  (when (and multi-threading (eq protocol :stream))
    (require-threads "socket-server :multi-threading t"))
  (when element-type (check-element-type element-type))
  (unless (pathnamep host) (check-port port "socket-server: port"))
  (let* ((host (or host *wildcard-host*))
         (socket (make-core-server host port protocol reuse-address timeout max-buffer-size)))
    (when (and element-type (eq protocol :stream))
      (setf (slot-value socket 'element-type) element-type))
    (flet ((serve ()
             (ecase protocol
               (:stream (tcp-event-loop socket function arguments element-type multi-threading))
               (:datagram (udp-event-loop socket function arguments max-buffer-size)))))
      (if in-new-thread
          (values (bt:make-thread #'serve :name (or name "USOCKET Server")) socket)
          (progn (setf *server* socket)
                 (serve)))))))
