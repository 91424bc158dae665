;;;; Native streams on ECL: SOCKET-STREAM as ECL's own socket stream and
;;;; SOCKET as an SB-BSD-SOCKETS socket, as native usocket gives them on ECL.
;;;;
;;;; Real programs treat usocket's objects as native usocket makes them on
;;;; ECL: Hunchentoot sets (SB-BSD-SOCKETS:SOCKOPT-RECEIVE-TIMEOUT
;;;; (USOCKET:SOCKET s)) and SOCKOPT-SEND-TIMEOUT; cl+ssl takes
;;;; (SI:FILE-STREAM-FD (TWO-WAY-STREAM-INPUT-STREAM stream)). With
;;;; *NATIVE-STREAMS* true when a stream socket is made (usocket-cffi/compat
;;;; sets it), its stream is made exactly as native usocket's: an
;;;; SB-BSD-SOCKETS socket (INET-SOCKET, or LOCAL-SOCKET for a Unix-domain
;;;; socket) on a descriptor of its own from usocket_dup_fd, and
;;;; SB-BSD-SOCKETS:SOCKET-MAKE-STREAM of it (:buffering :full, the socket's
;;;; element type and external format): a TWO-WAY-STREAM of two C stdio
;;;; (FILE *) streams, the input on a dup of that descriptor, the output on
;;;; the descriptor itself. SOCKET gives that SB-BSD-SOCKETS socket
;;;; (NATIVE-SOCKET-OBJECT, with *NATIVE-SOCKET-OBJECTS*). The core
;;;; keeps the socket: its connect, options (SO_RCVTIMEO and SO_SNDTIMEO are
;;;; the socket's, so the stream's reads and writes see what SOCKET-OPTION or
;;;; SOCKOPT-RECEIVE-TIMEOUT set), waits, names, shutdown and close.
;;;;
;;;; A read that times out (SO_RCVTIMEO) is ECL's stream error with errno
;;;; EAGAIN, as natively; inside WITH-MAPPED-CONDITIONS it becomes usocket's
;;;; TIMEOUT-ERROR (native usocket on ECL leaves it a stream error).
;;;;
;;;; Closing, in any order, from any thread, any number of times: the close
;;;; operation of the two-way stream and of both its file streams (ECL's
;;;; per-stream dispatch table, whichever CLOSE, SB-BSD-SOCKETS:SOCKET-CLOSE,
;;;; cl+ssl or ECL's finalizer reaches) is replaced by one that, the first
;;;; time only:
;;;; - flushes the output (what cannot be sent is dropped);
;;;; - shuts the connection down, which wakes a thread blocked reading the
;;;;   stream (it sees end of file);
;;;; - retires both descriptor numbers: a copy of a dead descriptor (see
;;;;   DEAD-FD) is put under each (dup3, atomically), instead of closing
;;;;   them, because another thread may be inside the stream, in stdio's
;;;;   fread or fwrite on that FILE and number: closing the FILE there would
;;;;   free it under that thread, closing the number would let it read
;;;;   another file that took the number;
;;;; - marks the three streams closed as ECL's own close does (every later
;;;;   operation is a closed-stream error) without freeing the FILEs;
;;;; - closes USOCKET's core handle.
;;;; The FILEs (and with them the retired numbers) are closed by a finalizer
;;;; once the file streams are garbage, when no thread can be inside them.
;;;; So every descriptor is closed exactly once, never leaked; a stream or
;;;; socket dropped without a close is closed by ECL's finalizers.

(in-package #:usocket-cffi)

(ffi:clines "
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern int dup3(int oldfd, int newfd, int flags);

/* A stream's dispatch table with room for what its close needs. ECL gives
   every stream a table of its own (it closes a stream by changing it), so
   ours replaces it. Allocated by the GC (scanned): the stream's OPS field
   is traced, and holds the closer and the SB-BSD-SOCKETS socket alive. */
struct usocket_ecl_ops {
        struct ecl_file_ops ops; /* first: the stream points here */
        cl_object closer;        /* (lambda (stream)): the connection's close */
        cl_object native_socket; /* the SB-BSD-SOCKETS socket */
};

static cl_object
usocket_ecl_close(cl_object strm)
{
        struct usocket_ecl_ops *u = (struct usocket_ecl_ops *)strm->stream.ops;
        return cl_funcall(2, u->closer, strm);
}

static int usocket_ecl_dead_fd = -1;
")

(defun %hook-stream (stream closer native-socket)
  "Give STREAM a dispatch table whose close calls CLOSER (with the stream)."
  (ffi:c-inline (stream closer native-socket) (:object :object :object) :void
                "{
        struct usocket_ecl_ops *u = (struct usocket_ecl_ops *)ecl_alloc(sizeof(struct usocket_ecl_ops));
        u->ops = *(#0)->stream.ops;
        u->ops.close = usocket_ecl_close;
        u->closer = #1;
        u->native_socket = #2;
        (#0)->stream.ops = &u->ops;
}"))

(defun %hooked-p (stream)
  "Whether STREAM's close is ours (a native stream of this binding)."
  (and (streamp stream)
       (ffi:c-inline (stream) (:object) :bool
                     "ECL_ANSI_STREAM_P(#0) && (#0)->stream.ops->close == usocket_ecl_close"
                     :one-liner t)))

(defun %hooked-native-socket (stream)
  (ffi:c-inline (stream) (:object) :object
                "((struct usocket_ecl_ops *)(#0)->stream.ops)->native_socket"
                :one-liner t))

(defun %stdio-stream-p (stream)
  "Whether STREAM is an ECL stream over a C FILE (what SOCKET-MAKE-STREAM makes)."
  (ffi:c-inline (stream) (:object) :bool
                "ECL_ANSI_STREAM_P(#0) && ((#0)->stream.mode == ecl_smm_input
                                        || (#0)->stream.mode == ecl_smm_output
                                        || (#0)->stream.mode == ecl_smm_io)
                 && (#0)->stream.file.stream != NULL"
                :one-liner t))

(defun %stdio-fd (stream)
  "The descriptor number of the stdio STREAM's FILE."
  (ffi:c-inline (stream) (:object) :int "fileno((#0)->stream.file.stream)" :one-liner t))

(defun %buffered-input-p (stream)
  "Whether the stdio input STREAM holds input read already: bytes in its
FILE's buffer (glibc's read pointers) or unread by ECL."
  (ffi:c-inline (stream) (:object) :bool
                "{
        FILE *f = (#0)->stream.file.stream;
        @(return) = ((#0)->stream.byte_stack != ECL_NIL)
                    || (f != NULL && f->_IO_read_ptr < f->_IO_read_end);
}"))

(defun %purge-output (stream)
  "Drop what the stdio output STREAM's FILE still holds (it could not be sent)."
  (ffi:c-inline (stream) (:object) :void
                "if ((#0)->stream.file.stream) __fpurge((#0)->stream.file.stream);"
                :one-liner t))

(defun %release-file (stream)
  "Close the FILE (and its descriptor number) of the retired stdio STREAM."
  (ffi:c-inline (stream) (:object) :void
                "{
        FILE *f = (#0)->stream.file.stream;
        if (f != NULL) {
                (#0)->stream.file.stream = NULL;
                __fpurge(f);
                fclose(f);
        }
}"))

(defun %retire-stream (stream template)
  "Mark STREAM closed as ECL's own close does (its operations become
TEMPLATE's, a closed stream's: each signals a closed-stream error), keeping
its FILE and our close operation."
  (ffi:c-inline (stream template) (:object :object) :void
                "{
        struct ecl_file_ops *ops = (#0)->stream.ops;
        const struct ecl_file_ops *t = (#1)->stream.ops;
        if (ops->input_p(#0)) {
                ops->read_byte8 = t->read_byte8;
                ops->read_char = t->read_char;
                ops->unread_char = t->unread_char;
                ops->listen = t->listen;
                ops->clear_input = t->clear_input;
        }
        if (ops->output_p(#0)) {
                ops->write_byte8 = t->write_byte8;
                ops->write_char = t->write_char;
                ops->clear_output = t->clear_output;
                ops->force_output = t->force_output;
                ops->finish_output = t->finish_output;
        }
        ops->get_position = t->get_position;
        ops->set_position = t->set_position;
        ops->length = t->length;
        (#0)->stream.closed = 1;
}"))

(defun %shutdown-fd (fd)
  (ffi:c-inline (fd) (:int) :int "shutdown(#0, SHUT_RDWR)" :one-liner t))

(defun %set-cloexec (fd)
  (ffi:c-inline (fd) (:int) :int "fcntl(#0, F_SETFD, FD_CLOEXEC)" :one-liner t))

(defun %close-fd (fd)
  (ffi:c-inline (fd) (:int) :int "close(#0)" :one-liner t))

(defvar *closed-template*
  (let ((stream (make-two-way-stream (make-string-input-stream "")
                                     (make-string-output-stream))))
    (close stream)
    stream)
  "A closed two-way stream: its dispatch table holds ECL's closed-stream operations.")

;;; The dead descriptor: a Unix socket whose peer is gone and which is shut
;;; down both ways. A read gives end of file at once, a write fails (EPIPE).
;;; A retired stream's numbers hold copies of it until its FILEs are closed.

(defvar *dead-fd-lock* (bt:make-lock "usocket-cffi dead descriptor"))

(defun dead-fd ()
  (bt:with-lock-held (*dead-fd-lock*)
    (let ((fd (ffi:c-inline () () :int
                            "{
        int sv[2];
        if (usocket_ecl_dead_fd < 0
            && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
                shutdown(sv[0], SHUT_RDWR);
                close(sv[1]);
                usocket_ecl_dead_fd = sv[0];
        }
        @(return) = usocket_ecl_dead_fd;
}")))
      (when (< fd 0)
        (error 'no-buffers-error :message "socketpair() failed for the dead descriptor"))
      fd)))

(defun bury-fd (fd)
  "Make the descriptor number FD refer to the dead descriptor (close-on-exec)."
  (let ((dead (dead-fd)))
    (ffi:c-inline (dead fd) (:int :int) :int "dup3(#0, #1, O_CLOEXEC)" :one-liner t)))

;;; Making and closing.

(defun ecl-external-format (external-format)
  "EXTERNAL-FORMAT as ECL's streams name it. The binding's own check comes
first (the same formats, the same errors as its Gray stream); then ECL's
name for the encoding: ECL calls cp1252 :WINDOWS-CP1252."
  (let ((coding (normalize-external-format external-format)))
    (case coding
      (:utf-8 :utf-8)
      (:latin-1 :latin-1)
      (:ascii :us-ascii)
      (t (let* ((name (byte-table-encoding-name coding))
                (text (symbol-name name)))
           (flet ((known (key) (ignore-errors (ext:make-encoding key) key)))
             (or (known name)
                 (and (> (length text) 2) (string= "CP" text :end2 2)
                      (known (intern (concatenate 'string "WINDOWS-" text) :keyword)))
                 (some #'known (babel-encodings:enc-aliases
                                (babel-encodings:get-character-encoding name)))
                 (error 'unsupported :feature external-format
                                     :context 'external-format))))))))

(defstruct (native-connection (:conc-name nc-))
  "What a native stream's close works on."
  usocket socket two-way input output (closing nil))

(defvar *closing-lock* (bt:make-lock "usocket-cffi native close"))

(defun claim-close (connection)
  "True for the first caller only."
  (bt:with-lock-held (*closing-lock*)
    (unless (nc-closing connection)
      (setf (nc-closing connection) t))))

(defun close-native-connection (connection)
  "The close of a native stream (any of its three streams): flush, shut the
connection down (waking readers), retire both numbers (BURY-FD), mark the
streams closed, and close the core handle; the first call only."
  (when (claim-close connection)
    (let ((usocket (nc-usocket connection))
          (in (nc-input connection))
          (out (nc-output connection)))
      (unwind-protect
           (progn
             (ignore-errors (finish-output out)) ; send what is buffered
             (without-interrupts
               (%purge-output out)       ; what could not be sent
               (let ((in-fd (%stdio-fd in)) (out-fd (%stdio-fd out)))
                 (%shutdown-fd out-fd)
                 (bury-fd in-fd)
                 (bury-fd out-fd))
               (%retire-stream in *closed-template*)
               (%retire-stream out *closed-template*)
               (%retire-stream (nc-two-way connection) *closed-template*)
               ;; The FILEs are closed when nobody can be inside them.
               (ext:set-finalizer in #'%release-file)
               (ext:set-finalizer out #'%release-file)
               ;; As SB-BSD-SOCKETS:SOCKET-CLOSE leaves a closed socket.
               (setf (slot-value (nc-socket connection) 'sb-bsd-sockets::file-descriptor) -1)))
        (close-usocket-handle usocket))))
  t)

(defun make-native-stream (usocket element-type external-format timeout)
  "ECL's own socket stream (SB-BSD-SOCKETS:SOCKET-MAKE-STREAM) on a
duplicate of USOCKET's descriptor, closing USOCKET's handle when it is
closed. TIMEOUT is the socket's SO_RCVTIMEO already (the core set it), which
the stream's reads see."
  (declare (ignore timeout))
  (let* ((format (ecl-external-format external-format))
         (fd (dup-fd usocket))
         (socket nil) (stream nil) (done nil))
    (unwind-protect
         (progn
           (setf socket (make-instance (if (local-p usocket)
                                           'sb-bsd-sockets:local-socket
                                           'sb-bsd-sockets:inet-socket)
                                       :descriptor fd :type :stream
                                       :protocol (if (local-p usocket) 0 6)) ; IPPROTO_TCP
                 stream (sb-bsd-sockets:socket-make-stream socket :input t :output t
                                                                  :buffering :full
                                                                  :element-type element-type
                                                                  :external-format format))
           (let* ((in (two-way-stream-input-stream stream))
                  (out (two-way-stream-output-stream stream))
                  (connection (make-native-connection :usocket usocket :socket socket
                                                      :two-way stream :input in :output out))
                  (closer (lambda (s) (declare (ignore s)) (close-native-connection connection))))
             (unless (and (%stdio-stream-p in) (%stdio-stream-p out))
               (error "usocket-cffi: SB-BSD-SOCKETS:SOCKET-MAKE-STREAM gave ~S, not two stdio streams"
                      stream))
             (%set-cloexec (%stdio-fd in)) ; SOCKET-MAKE-STREAM's dup is not
             (dolist (s (list stream in out))
               (%hook-stream s closer socket))
             (setf done t)
             stream))
      (unless done                      ; its descriptors, then: not the handle's
        (if stream (close stream) (%close-fd fd))))))

(defun native-stream-p (stream)
  (and (typep stream 'two-way-stream) (%hooked-p stream)))

(defun native-stream-socket (stream)
  "The SB-BSD-SOCKETS socket of the native STREAM."
  (%hooked-native-socket stream))

(defun native-buffered-input-p (stream)
  "Whether the native STREAM holds input it has read already."
  (and (open-stream-p stream)
       (let ((in (two-way-stream-input-stream stream)))
         (and (%stdio-stream-p in) (%buffered-input-p in)))))

(defun set-native-stream-timeout (stream seconds)
  "Nothing to do: the stream's reads see the socket's SO_RCVTIMEO, which the
core has just set."
  (declare (ignore stream seconds))
  nil)

;;; usocket's SOCKET (with *NATIVE-SOCKET-OBJECTS*, as compat sets it): the
;;; SB-BSD-SOCKETS socket of a native stream socket, made with its stream.

(defmethod native-socket-object ((usocket stream-usocket))
  (when (and *native-socket-objects*
             (native-stream-socket-p usocket)
             (integerp (socket-handle usocket))) ; not usocket::make-stream-socket's own
    (or (native-object usocket)
        (let ((stream (if (closed-p usocket)
                          (slot-value usocket 'stream)
                          (socket-stream usocket))))
          (and (native-stream-p stream)
               (setf (native-object usocket) (native-stream-socket stream)))))))

;;; ECL's conditions, as usocket's inside WITH-MAPPED-CONDITIONS. A native
;;; stream's failures are ECL's stream errors, whose third format argument
;;; is strerror(errno): EAGAIN is a timeout (SO_RCVTIMEO or SO_SNDTIMEO).

(defun errno-text (name)
  (ffi:c-inline (name) (:int) :cstring "strerror(#0)" :one-liner t))

(defparameter +ecl-errno-texts+
  (list (cons (errno-text (ffi:c-inline () () :int "EAGAIN" :one-liner t)) 'timeout-error)
        (cons (errno-text (ffi:c-inline () () :int "EPIPE" :one-liner t)) 'connection-aborted-error)
        (cons (errno-text (ffi:c-inline () () :int "ECONNRESET" :one-liner t))
              'connection-reset-error))
  "strerror's text of the errno values whose stream errors have a usocket class.")

(defun stream-error-errno-class (condition)
  (and (typep condition 'stream-error)
       (typep condition 'simple-condition)
       (let ((args (simple-condition-format-arguments condition)))
         (and (consp args)
              (let ((text (car (last args))))
                (and (stringp text)
                     (cdr (assoc text +ecl-errno-texts+ :test #'string=))))))))

(defun ecl-stream-timeout-p (condition)
  (eq (stream-error-errno-class condition) 'timeout-error))
(defun ecl-stream-broken-pipe-p (condition)
  (eq (stream-error-errno-class condition) 'connection-aborted-error))
(defun ecl-stream-reset-p (condition)
  (eq (stream-error-errno-class condition) 'connection-reset-error))

(setf +native-condition-map+
      (append
       (list (cons '(satisfies ecl-stream-timeout-p) 'timeout-error)
             (cons '(satisfies ecl-stream-broken-pipe-p) 'connection-aborted-error)
             (cons '(satisfies ecl-stream-reset-p) 'connection-reset-error))
       ;; SB-BSD-SOCKETS' own, as native usocket maps them on ECL.
       (loop for (name . class) in '(("ADDRESS-IN-USE-ERROR" . address-in-use-error)
                                     ("NO-ADDRESS-ERROR" . address-not-available-error)
                                     ("BAD-FILE-DESCRIPTOR-ERROR" . bad-file-descriptor-error)
                                     ("CONNECTION-REFUSED-ERROR" . connection-refused-error)
                                     ("INVALID-ARGUMENT-ERROR" . invalid-argument-error)
                                     ("NO-BUFFERS-ERROR" . no-buffers-error)
                                     ("OPERATION-NOT-SUPPORTED-ERROR" . operation-not-supported-error)
                                     ("OPERATION-NOT-PERMITTED-ERROR" . operation-not-permitted-error)
                                     ("PROTOCOL-NOT-SUPPORTED-ERROR" . protocol-not-supported-error)
                                     ("SOCKET-TYPE-NOT-SUPPORTED-ERROR" . socket-type-not-supported-error)
                                     ("NETWORK-UNREACHABLE-ERROR" . network-unreachable-error)
                                     ("OPERATION-TIMEOUT-ERROR" . timeout-error))
             for symbol = (find-symbol name "SB-BSD-SOCKETS")
             when (and symbol (find-class symbol nil))
               collect (cons symbol class))))
