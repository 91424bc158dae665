;;;; Native streams: SOCKET-STREAM as SBCL's own SB-SYS:FD-STREAM.
;;;;
;;;; Real programs treat usocket's stream as what native usocket returns on
;;;; SBCL: Hunchentoot sets (SB-IMPL::FD-STREAM-TIMEOUT stream), cl+ssl takes
;;;; (SB-SYS:FD-STREAM-FD stream), serve-event users watch that descriptor.
;;;; With *NATIVE-STREAMS* true when a stream socket is made (usocket-cffi/compat
;;;; sets it), its stream is an FD-STREAM made exactly as SB-BSD-SOCKETS'
;;;; SOCKET-MAKE-STREAM makes native usocket's (full buffering, dual channel,
;;;; :SERVE-EVENTS NIL, the read timeout as the stream's timeout), on a
;;;; descriptor of its own from usocket_dup_fd. The core keeps the socket: its
;;;; connect, options, waits, names, shutdown and close.
;;;;
;;;; Closing, in any order, from any thread, any number of times:
;;;; - CLOSE on the stream flushes (unless :ABORT), shuts the connection down
;;;;   (which wakes a thread blocked reading the stream: it sees end of file),
;;;;   closes the stream's descriptor (SBCL closes it exactly once, with a
;;;;   CAS) and then the core's handle.
;;;; - SOCKET-CLOSE closes the stream that way (it wraps the stream's close),
;;;;   or only the handle when no stream was made.
;;;; Both descriptors are therefore closed once each, never leaked: a stream
;;;; or socket dropped without a close is closed by its finalizer.

(in-package #:usocket-cffi)

(defun dup-fd (usocket)
  "A new descriptor (close-on-exec) for USOCKET's socket, owned by the caller."
  (if (cffi:foreign-symbol-pointer "usocket_dup_fd")
      (cffi:with-foreign-object (fd :int32)
        (with-socket-context (usocket)
          (%dup-fd (socket usocket) fd))
        (cffi:mem-ref fd :int32))
      ;; TEMPORARY until the core has usocket_dup_fd.
      (values (sb-unix:unix-dup (socket-fd usocket)))))

(defun native-external-format (external-format)
  "EXTERNAL-FORMAT as SBCL's fd-streams take it (:DEFAULT and NIL: SBCL's default)."
  (if (null external-format) :default external-format))

(defun make-native-stream (usocket element-type external-format timeout)
  "An SB-SYS:FD-STREAM on a duplicate of USOCKET's descriptor, closing
USOCKET's handle when it is closed."
  (let* ((fd (dup-fd usocket))
         (stream (handler-case
                     (sb-sys:make-fd-stream fd :input t :output t
                                               :element-type element-type
                                               :buffering :full
                                               :external-format
                                               (native-external-format external-format)
                                               :timeout timeout
                                               :serve-events nil
                                               :dual-channel-p t
                                               :auto-close t
                                               :name (format nil "usocket-cffi socket, handle ~D"
                                                             (socket usocket)))
                   (error (e)
                     (sb-unix:unix-close fd)
                     (error e)))))
    (wrap-native-close stream usocket)
    stream))

(defparameter +misc-close+
  ;; SBCL 2.x numbers the ANSI-STREAM-MISC operations; older ones used keywords.
  (if (fboundp 'sb-impl::%stream-opcode) (sb-impl::%stream-opcode :close) :close)
  "The operation ANSI-STREAM-MISC gets from CLOSE.")

(defun wrap-native-close (stream usocket)
  "Make STREAM's close (its ANSI-STREAM-MISC :CLOSE operation) also shut the
connection down first (waking readers) and close USOCKET's handle after."
  (let ((misc (sb-impl::ansi-stream-misc stream))
        (closing (list nil)))            ; CAS cell: T once a close has begun
    (setf (sb-impl::ansi-stream-misc stream)
          (lambda (stream operation arg1)
            (if (eql operation +misc-close+)
                (when (null (sb-ext:compare-and-swap (car closing) nil t))
                  (unwind-protect
                       (progn
                         (unless arg1   ; not :abort: send what is buffered
                           (ignore-errors (finish-output stream)))
                         ;; Wake any thread blocked on the stream's or the
                         ;; handle's descriptor; the connection ends anyway.
                         (unless (closed-p usocket)
                           (without-interrupts (%shutdown-raw (socket usocket) +shut-both+)))
                         (funcall misc stream operation t))
                    (close-usocket-handle usocket)))
                (funcall misc stream operation arg1))))
    stream))

(defun native-stream-p (stream)
  (typep stream 'sb-sys:fd-stream))

(defun native-buffered-input-p (stream)
  "Whether the fd-stream STREAM holds input it has read already."
  (and (open-stream-p stream)
       (let ((ibuf (sb-impl::fd-stream-ibuf stream)))
         (or (and ibuf (< (sb-impl::buffer-head ibuf) (sb-impl::buffer-tail ibuf)))
             (plusp (length (sb-impl::fd-stream-instead stream)))))))
