;;;; Implementation-specific: the implementation's own socket stream, for
;;;; usocket-cffi/compat (see fd-stream.lisp for SBCL's SB-SYS:FD-STREAM).
;;;;
;;;; On SBCL, *NATIVE-STREAMS* gives stream sockets an SB-SYS:FD-STREAM on a
;;;; descriptor from usocket_dup_fd (fd-stream.lisp, loaded on SBCL only);
;;;; on ECL, ECL's own socket stream (SB-BSD-SOCKETS:SOCKET-MAKE-STREAM) on
;;;; such a descriptor, and SOCKET gives its SB-BSD-SOCKETS socket
;;;; (native-stream-ecl.lisp, loaded on ECL only, which also sets
;;;; +NATIVE-CONDITION-MAP+); on CLISP, a two-way stream of buffered file
;;;; streams on such descriptors, which SOCKET also gives (for
;;;; SOCKET:SOCKET-OPTIONS; native-stream-clisp.lisp). On ABCL there is no
;;;; native stream: stream sockets have the binding's Gray stream, and these
;;;; stand-ins say so (SOCKET gives a java.net.Socket carrying the read
;;;; timeout, native-socket-abcl.lisp).

(in-package #:usocket-cffi)

(defgeneric native-socket-object (usocket)
  (:documentation "The implementation's own socket object that usocket's SOCKET
gives for USOCKET in compat (ECL: an sb-bsd-sockets socket on a dup of the
descriptor, for Hunchentoot's timeouts), or NIL: SOCKET is then the core's
handle. Methods live in the implementation's native-stream file.")
  (:method (usocket) (declare (ignore usocket)) nil))

(defun native-streams-supported-p ()
  "Whether this Lisp gets native streams with *NATIVE-STREAMS*."
  #+(or sbcl ecl clisp) t
  #-(or sbcl ecl clisp) nil)

(defparameter +native-condition-map+
  #+sbcl
  (remove nil
          (list (cons 'sb-sys:io-timeout 'timeout-error) ; an fd-stream's read timeout
                (cons 'sb-ext:timeout 'timeout-error)
                (let ((broken-pipe (find-symbol "BROKEN-PIPE" "SB-INT")))
                  (and broken-pipe (cons broken-pipe 'connection-aborted-error)))))
  #-sbcl '()                          ; ECL's: set in native-stream-ecl.lisp
  "The implementation's own conditions (from native streams) and the usocket
class each becomes inside WITH-MAPPED-CONDITIONS, as native usocket maps them.")

#-(or sbcl ecl clisp)
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
