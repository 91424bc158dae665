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
;;;;   retires the stream's descriptor (see BURY-FD: its number is closed when
;;;;   the stream is garbage, never while a thread may be inside it) and
;;;;   closes the core's handle.
;;;; - SOCKET-CLOSE closes the stream that way (it wraps the stream's close),
;;;;   or only the handle when no stream was made.
;;;; Both descriptors are therefore closed once each, never leaked: a stream
;;;; or socket dropped without a close is closed by its finalizer; the
;;;; connection itself ends at the close.

(in-package #:usocket-cffi)

(defun dup-fd (usocket)
  "A new descriptor (close-on-exec) for USOCKET's socket, owned by the caller."
  (cffi:with-foreign-object (fd :int32)
    (with-socket-context (usocket)
      (%dup-fd (socket-handle usocket) fd))
    (cffi:mem-ref fd :int32)))

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
                                                             (socket-handle usocket)))
                   (error (e)
                     (sb-unix:unix-close fd)
                     (error e)))))
    (wrap-native-close stream usocket)
    stream))

;;; A descriptor that is "dead": a Unix socket whose peer is gone and which is
;;; shut down both ways. poll says it is readable (and hung up), read gives
;;; end of file, write fails with EPIPE. Closing a native stream puts a copy
;;; of it under the stream's descriptor number (dup3, atomically) instead of
;;; closing that number at once, because another thread may be inside the
;;; stream, between SBCL's poll and read on that number: closing it there
;;; makes SBCL's poll loop spin on POLLNVAL, or read another file that took
;;; the number; and the stream keeps the number (not -1, on which SBCL's
;;; poll would wait forever). The number is closed by the stream's own
;;; finalizer (MAKE-FD-STREAM's :AUTO-CLOSE), once no thread can be inside
;;; it (a thread reading the stream holds the stream).

(defvar *dead-fd* nil)
(defvar *dead-fd-lock* (sb-thread:make-mutex :name "usocket-cffi dead descriptor"))

(defconstant +af-unix+ 1)
(defconstant +sock-stream+ 1)
(defconstant +o-cloexec+ #o2000000)
(defconstant +f-setfd+ 2)
(defconstant +fd-cloexec+ 1)
(defconstant +shut-rdwr+ 2)

(defun dead-fd ()
  (or *dead-fd*
      (sb-thread:with-mutex (*dead-fd-lock*)
        (or *dead-fd*
            (sb-alien:with-alien ((sv (array sb-alien:int 2)))
              (unless (zerop (sb-alien:alien-funcall
                              (sb-alien:extern-alien "socketpair"
                                                     (function sb-alien:int sb-alien:int sb-alien:int
                                                               sb-alien:int (* sb-alien:int)))
                              +af-unix+ +sock-stream+ 0
                              (sb-alien:cast sv (* sb-alien:int))))
                (error 'no-buffers-error :message "socketpair() failed for the dead descriptor"))
              (let ((keep (sb-alien:deref sv 0)) (drop (sb-alien:deref sv 1)))
                (sb-alien:alien-funcall
                 (sb-alien:extern-alien "shutdown" (function sb-alien:int sb-alien:int sb-alien:int))
                 keep +shut-rdwr+)
                (sb-unix:unix-close drop)
                (sb-alien:alien-funcall
                 (sb-alien:extern-alien "fcntl" (function sb-alien:int sb-alien:int sb-alien:int
                                                          sb-alien:int))
                 keep +f-setfd+ +fd-cloexec+)
                (setf *dead-fd* keep)))))))

(defun bury-fd (fd)
  "Make the descriptor number FD refer to the dead descriptor (close-on-exec)."
  (sb-alien:alien-funcall
   (sb-alien:extern-alien "dup3" (function sb-alien:int sb-alien:int sb-alien:int sb-alien:int))
   (dead-fd) fd +o-cloexec+))

(defparameter +misc-close+
  ;; SBCL 2.x numbers the ANSI-STREAM-MISC operations; older ones used keywords.
  (if (fboundp 'sb-impl::%stream-opcode) (sb-impl::%stream-opcode :close) :close)
  "The operation ANSI-STREAM-MISC gets from CLOSE.")

(defun close-native-stream (stream usocket abort)
  "STREAM's close: flush (unless ABORT), shut the connection down (waking any
thread blocked on it), retire the descriptor (BURY-FD) and close USOCKET's
handle. The stream is then closed for every later operation, but what a
thread already inside it uses stays valid: the descriptor number (now the
dead descriptor, so a poll there returns at once and a read sees end of
file) and the buffers (never given back to SBCL's pool). SBCL's own
finalizer of the stream closes the number once the stream is garbage."
  (unwind-protect
       (progn
         (unless abort                  ; send what is buffered
           (ignore-errors (finish-output stream)))
         (unless (closed-p usocket)
           (without-interrupts (%shutdown-raw (socket-handle usocket) +shut-both+)))
         (let ((fd (sb-sys:fd-stream-fd stream)))
           (when (>= fd 0) (bury-fd fd)))
         ;; What SBCL's close does besides closing the descriptor and pooling
         ;; the buffers: no buffered input left, every operation a closed-stream error.
         (setf (sb-impl::ansi-stream-in-index stream) sb-impl::+ansi-stream-in-buffer-length+)
         (sb-impl::set-closed-flame stream))
    (close-usocket-handle usocket)))

(defun wrap-native-close (stream usocket)
  "Make STREAM's close (its ANSI-STREAM-MISC close operation) flush, shut the
connection down (waking readers), retire the stream's descriptor safely and
close USOCKET's handle; only the first close of any thread does anything."
  (let ((misc (sb-impl::ansi-stream-misc stream))
        (closing (list nil)))            ; CAS cell: T once a close has begun
    (setf (sb-impl::ansi-stream-misc stream)
          (lambda (stream operation arg1)
            (if (eql operation +misc-close+)
                (when (null (sb-ext:compare-and-swap (car closing) nil t))
                  (close-native-stream stream usocket arg1))
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

(defun set-native-stream-timeout (stream seconds)
  "Set the read timeout of the fd-stream STREAM (SECONDS or NIL)."
  (setf (sb-impl::fd-stream-timeout stream)
        (and seconds (coerce seconds 'single-float))))
