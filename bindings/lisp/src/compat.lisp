;;;; usocket-cffi/compat: let programs written for usocket run unchanged.
;;;;
;;;; - The package USOCKET-CFFI also answers to the name USOCKET, so
;;;;   usocket:socket-connect and (:use :usocket) find our definitions. This
;;;;   is refused if a real usocket is loaded already.
;;;; - The ASDF systems "usocket" and "usocket-server" are registered as
;;;;   already loaded (immutable), so a program's (asdf:load-system "usocket")
;;;;   or a system that :depends-on it does not load the real one beside us.
;;;; - Stream sockets get SBCL's own SB-SYS:FD-STREAM as their stream, as
;;;;   native usocket's (*NATIVE-STREAMS*, see fd-stream.lisp): Hunchentoot's
;;;;   FD-STREAM-TIMEOUT, cl+ssl's FD-STREAM-FD and serve-event work on it.
;;;; - usocket's internal names that its own test suite uses exist here too
;;;;   (usocket::make-stream-socket, usocket::ignore-unsupported-warnings,
;;;;   usocket::usocket-real-error, usocket::usocket-real-condition,
;;;;   usocket::state, usocket::socket-state).

(in-package #:usocket-cffi)

(let ((ours (find-package "USOCKET-CFFI"))
      (theirs (find-package "USOCKET")))
  (cond ((null theirs)
         (rename-package ours (package-name ours)
                         (adjoin "USOCKET" (package-nicknames ours) :test #'string=)))
        ((eq theirs ours))
        (t
         (error "usocket-cffi/compat: a package named USOCKET exists already (~S): ~
                 usocket itself is loaded, so usocket-cffi cannot stand in for it."
                theirs))))

(dolist (name '("usocket" "usocket-server"))
  (unless (asdf:component-loaded-p name)
    (asdf:register-immutable-system name :version *version*)))

;; Native streams where this Lisp has them (SBCL); elsewhere the Gray stream
;; (see impl/native-stream.lisp and the README's table).
(setf *native-streams* (native-streams-supported-p))
;; SOCKET gives the implementation's own socket object where there is one.
(setf *native-socket-objects* t)
