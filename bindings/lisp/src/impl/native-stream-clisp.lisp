;;;; Native streams on CLISP: SOCKET-STREAM as CLISP's own buffered streams
;;;; on a descriptor from usocket_dup_fd (the CLISP counterpart of
;;;; fd-stream.lisp; loaded on CLISP only).
;;;;
;;;; Native usocket on CLISP gives a SOCKET:SOCKET-STREAM, a buffered
;;;; bidirectional stream on the socket's descriptor, as both SOCKET-STREAM and
;;;; SOCKET. CLISP makes socket streams only from its own SOCKET-CONNECT and
;;;; SOCKET-ACCEPT, and EXT:MAKE-STREAM refuses a buffered :IO stream on
;;;; anything but a regular file, so the stream here is a TWO-WAY-STREAM of a
;;;; buffered input FILE-STREAM and a buffered output FILE-STREAM, each on its
;;;; own duplicate of the descriptor (EXT:MAKE-STREAM duplicates the one
;;;; usocket_dup_fd gives, which is closed at once). In compat, usocket's SOCKET
;;;; of a stream socket is that stream too (NATIVE-SOCKET-OBJECT), as native
;;;; usocket's. What programs use of the native stream works on it: READ-LINE, READ-SEQUENCE and the rest at CLISP's
;;;; speed, EXT:STREAM-HANDLES (cl+ssl's descriptor), SOCKET:SOCKET-OPTIONS
;;;; (Hunchentoot's :SO-RCVTIMEO and :SO-SNDTIMEO: the options are the
;;;; socket's, shared by every descriptor of it, the core's included) and
;;;; SOCKET:SOCKET-STATUS. The core keeps the socket: connect, options, waits,
;;;; names, shutdown and close. A socket made with :ELEMENT-TYPE :DEFAULT
;;;; (bivalent) keeps the binding's Gray stream: CLISP's streams, its socket
;;;; streams too, are character or binary, never both.
;;;;
;;;; Closing, in any order, any number of times: CLOSE on the stream flushes
;;;; (unless :ABORT), shuts the connection down, closes both descriptors of the
;;;; stream and the core's handle; SOCKET-CLOSE closes the stream that way (or
;;;; only the handle when no stream was made). CLISP has no threads, so no
;;;; reader can be inside the stream while it closes (SBCL's dead descriptor
;;;; is not needed).
;;;;
;;;; SIGPIPE: CLISP's own handler spares only its socket and pipe streams; a
;;;; write to a reset connection through a FILE-STREAM would kill the process.
;;;; The first native stream made sets SIGPIPE to ignored for the process, so
;;;; that write fails with EPIPE (an OS-STREAM-ERROR) as it does on a native
;;;; socket stream. Processes CLISP starts afterwards inherit the ignored SIGPIPE.

(in-package #:usocket-cffi)

(defvar *native-stream-sockets* (make-hash-table :test 'eq :weak :key)
  "Each native stream made here (a TWO-WAY-STREAM) to a cons (USOCKET . CLOSING),
CLOSING true once its close has begun.")

(defconstant +sigpipe+ 13)
(defconstant +f-setfd+ 2)
(defconstant +fd-cloexec+ 1)

(defvar *sigpipe-ignored* nil)

(defun ignore-sigpipe ()
  (unless *sigpipe-ignored*
    (cffi:foreign-funcall "signal" :int +sigpipe+ :pointer (cffi:make-pointer 1) :pointer)
    (setf *sigpipe-ignored* t)))

(defun close-fd (fd)
  (without-interrupts (cffi:foreign-funcall "close" :int fd :int)))

(defun set-close-on-exec (fd)
  (when (integerp fd)
    (cffi:foreign-funcall "fcntl" :int fd :int +f-setfd+ :int +fd-cloexec+ :int)))

(defun native-encoding (external-format)
  "EXTERNAL-FORMAT (as the binding takes it) as a CLISP encoding, Unix line ends."
  (let* ((name (normalize-external-format external-format))
         (charset (case name
                    (:utf-8 charset:utf-8)
                    (:latin-1 charset:iso-8859-1)
                    (:ascii charset:ascii)
                    (t (let ((symbol (find-symbol (symbol-name (byte-table-encoding-name name))
                                                  "CHARSET")))
                         (if (and symbol (boundp symbol))
                             (symbol-value symbol)
                             (error 'unsupported :feature external-format
                                                 :context 'external-format)))))))
    (ext:make-encoding :charset charset :line-terminator :unix)))

(defun make-native-stream (usocket element-type external-format timeout)
  "A TWO-WAY-STREAM of buffered FILE-STREAMs on duplicates of USOCKET's
descriptor, closing USOCKET's handle when it is closed. TIMEOUT is the
socket's SO_RCVTIMEO already, which the stream's reads obey. Element type
:DEFAULT (bivalent) gets the binding's Gray stream: CLISP's file and socket
streams are not bivalent (READ-BYTE on a character stream is an error)."
  (declare (ignore timeout))
  (when (eq element-type :default)
    (return-from make-native-stream
      (make-socket-stream usocket element-type external-format)))
  (ignore-sigpipe)
  (let ((type element-type)
        (encoding (native-encoding external-format))
        (fd (dup-fd usocket))
        (in nil) (out nil))
    (unwind-protect
         (setf in (ext:make-stream fd :direction :input :element-type type
                                      :external-format encoding :buffered t)
               out (ext:make-stream fd :direction :output :element-type type
                                       :external-format encoding :buffered t))
      (close-fd fd)
      (when (and in (not out)) (close in)))
    (set-close-on-exec (ext:stream-handles in))
    (set-close-on-exec (nth-value 1 (ext:stream-handles out)))
    (let ((stream (make-two-way-stream in out)))
      (setf (gethash stream *native-stream-sockets*) (cons usocket nil))
      stream)))

(defun close-native-stream (stream usocket abort)
  "STREAM's close: flush (unless ABORT), shut the connection down, close the
two descriptors and USOCKET's handle."
  (let ((in (two-way-stream-input-stream stream))
        (out (two-way-stream-output-stream stream)))
    (unwind-protect
         (progn
           (unless abort
             (ignore-errors (finish-output out)))
           (unless (closed-p usocket)
             (without-interrupts (%shutdown-raw (socket-handle usocket) +shut-both+))))
      (ignore-errors (close in :abort t))
      (ignore-errors (close out :abort t))
      (close-usocket-handle usocket))))

(ext:without-package-lock ("COMMON-LISP")
  (defmethod close :around ((stream two-way-stream) &key abort)
    (let ((entry (gethash stream *native-stream-sockets*)))
      (cond ((null entry) (call-next-method))
            ((cdr entry) (call-next-method)) ; closed or closing already
            (t (setf (cdr entry) t)
               (unwind-protect (close-native-stream stream (car entry) abort)
                 (call-next-method)))))))

(defun native-stream-p (stream)
  (and (typep stream 'two-way-stream)
       (nth-value 1 (gethash stream *native-stream-sockets*))))

(defun native-buffered-input-p (stream)
  "Whether reading STREAM would not wait: input in its buffer (or at the
descriptor, or end of file). No system call when the buffer holds input."
  (and (open-stream-p stream)
       (let ((in (two-way-stream-input-stream stream)))
         (ignore-errors
          (if (subtypep (stream-element-type in) 'character)
              (eq (listen in) t)
              (not (ext:read-byte-will-hang-p in)))))))

(defun set-native-stream-timeout (stream seconds)
  "Nothing to do: the stream's reads obey the socket's SO_RCVTIMEO, which
SOCKET-OPTION has set."
  (declare (ignore stream seconds))
  nil)

;;; usocket's SOCKET of a stream socket in compat: its native stream, as
;;; native usocket's on CLISP (there the socket stream is both). Hunchentoot's
;;; CLISP path sets its timeouts with SOCKET:SOCKET-OPTIONS on it.

(defmethod native-socket-object ((usocket stream-usocket))
  (when (and *native-socket-objects* (native-stream-socket-p usocket))
    (let ((stream (slot-value usocket 'stream)))
      (cond ((native-stream-p stream) stream)
            ((and (null stream) (not (closed-p usocket))
                  (not (eq (slot-value usocket 'element-type) :default)))
             (let ((made (socket-stream usocket)))
               (and (native-stream-p made) made)))))))

;;; CLISP's conditions from native streams, as native usocket maps them
;;; (backend/clisp.lisp's +clisp-error-map+): by the errno of an OS-ERROR or
;;; OS-STREAM-ERROR. A read timeout (SO_RCVTIMEO) is an OS-STREAM-ERROR with
;;; EAGAIN: a TIMEOUT-ERROR.

(defun clisp-errno (condition)
  (and (typep condition '(or ext:os-error ext:os-stream-error))
       (ignore-errors (ext:os-error-code condition))))

(defparameter +clisp-errno-classes+
  '((:eaddrinuse . address-in-use-error)
    (:eaddrnotavail . address-not-available-error)
    (:ebadf . bad-file-descriptor-error)
    (:econnrefused . connection-refused-error)
    (:econnreset . connection-reset-error)
    (:econnaborted . connection-aborted-error)
    (:einval . invalid-argument-error)
    (:enobufs . no-buffers-error)
    (:enomem . out-of-memory-error)
    (:enotsup . operation-not-supported-error)
    (:eperm . operation-not-permitted-error)
    (:eprotonosupport . protocol-not-supported-error)
    (:esocktnosupport . socket-type-not-supported-error)
    (:enetunreach . network-unreachable-error)
    (:enetdown . network-down-error)
    (:enetreset . network-reset-error)
    (:eshutdown . already-shutdown-error)
    (:etimedout . timeout-error)
    (:ehostdown . host-down-error)
    (:ehostunreach . host-unreachable-error)
    (:eagain . timeout-error)
    (:ewouldblock . timeout-error)))

(defun clisp-errno-type (errno)
  "A type specifier for the OS-ERRORs and OS-STREAM-ERRORs with ERRNO."
  (let ((predicate (intern (format nil "CLISP-ERRNO-~A-P" errno) '#:usocket-cffi)))
    (setf (symbol-function predicate)
          (lambda (condition) (eq (clisp-errno condition) errno)))
    `(satisfies ,predicate)))

;; impl/native-stream.lisp has no entries for CLISP; these are its.
(setf +native-condition-map+
      (loop for (errno . class) in +clisp-errno-classes+
            collect (cons (clisp-errno-type errno) class)))
