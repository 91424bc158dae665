;;;; Implementation-specific: the implementation's own socket stream, for
;;;; usocket-cffi/compat (see fd-stream.lisp for SBCL's SB-SYS:FD-STREAM).
;;;;
;;;; On SBCL, *NATIVE-STREAMS* gives stream sockets an SB-SYS:FD-STREAM on a
;;;; descriptor from usocket_dup_fd (fd-stream.lisp, loaded on SBCL only).
;;;; Elsewhere there is no native stream yet: stream sockets have the
;;;; binding's Gray stream, and these stand-ins say so.

(in-package #:usocket-cffi)

(defgeneric native-socket-object (usocket)
  (:documentation "The implementation's own socket object that usocket's SOCKET
gives for USOCKET in compat (ECL: an sb-bsd-sockets socket on a dup of the
descriptor, for Hunchentoot's timeouts), or NIL: SOCKET is then the core's
handle. Methods live in the implementation's native-stream file.")
  (:method (usocket) (declare (ignore usocket)) nil))

(defun native-streams-supported-p ()
  "Whether this Lisp gets native streams with *NATIVE-STREAMS*."
  #+(or sbcl clisp) t
  #-(or sbcl clisp) nil)

(defparameter +native-condition-map+
  #+sbcl
  (remove nil
          (list (cons 'sb-sys:io-timeout 'timeout-error) ; an fd-stream's read timeout
                (cons 'sb-ext:timeout 'timeout-error)
                (let ((broken-pipe (find-symbol "BROKEN-PIPE" "SB-INT")))
                  (and broken-pipe (cons broken-pipe 'connection-aborted-error)))))
  #-sbcl '()
  "The implementation's own conditions (from native streams) and the usocket
class each becomes inside WITH-MAPPED-CONDITIONS, as native usocket maps them.")

#-(or sbcl clisp)
(progn
  (defun native-stream-p (stream)
    (declare (ignore stream))
    nil)
  (defun native-buffered-input-p (stream)
    (declare (ignore stream))
    nil)
  (defun set-native-stream-timeout (stream seconds)
    (declare (ignore stream seconds))
    nil)
  (defun make-native-stream (usocket element-type external-format timeout)
    (declare (ignore usocket element-type external-format timeout))
    (error 'unsupported :feature "Native socket streams"
                        :context (lisp-implementation-type))))
