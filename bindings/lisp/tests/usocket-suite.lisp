;;;; usocket's own test suite (Debian's cl-usocket, test/ on cl-rt), loaded
;;;; as shipped through its usocket-test.asd, run against usocket-cffi/compat.
;;;; Run by usocket-suite.sh inside a network namespace; prints
;;;; "usocket suite: N passed, M failed" and exits 1 on a failure.

(require :asdf)
(defvar *here* (make-pathname :name nil :type nil :defaults *load-truename*))
(push (merge-pathnames "../" *here*) asdf:*central-registry*)

;; usocket-test's fasls go to a cache of their own: compiled against
;; usocket-cffi, they must never be picked up by an image with real usocket.
(let ((cache (sb-ext:posix-getenv "USOCKET_SUITE_CACHE")))
  (when cache
    (asdf:initialize-output-translations
     `(:output-translations
       (#p"/usr/share/common-lisp/source/usocket/" ,(pathname cache))
       :inherit-configuration))))

(let ((log (make-string-output-stream)))
  (handler-case
      (let ((*standard-output* log) (*error-output* log))
        (asdf:load-system "usocket-cffi/compat")
        (asdf:load-system "usocket-test"))
    (error (e)
      (format t "~A~%usocket suite: loading failed: ~A~%usocket suite: 0 passed, 1 failed~%"
              (get-output-stream-string log) e)
      (sb-ext:exit :code 1 :abort t))))

(format t "~&usocket is ~A; usocket-test loaded from ~A~%"
        (package-name (find-package "USOCKET"))
        (namestring (asdf:system-source-directory "usocket-test")))

(defparameter *needs-internet*
  '(;; connect to common-lisp.net
    "TIMEOUT-ERROR.1" "CONNECTION-REFUSED-ERROR.1"
    "SOCKET-CONNECT.1" "SOCKET-CONNECT.2" "SOCKET-CONNECT.3"
    "SOCKET-STREAM.1" "SOCKET-NAME.1" "SOCKET-NAME.2" "SOCKET-NAME.3"
    "SOCKET-SHUTDOWN.1" "SOCKET-SHUTDOWN.2"
    "WAIT-FOR-INPUT.1" "WAIT-FOR-INPUT.2" "WAIT-FOR-INPUT.3")
  "usocket's tests that talk to common-lisp.net: excluded.")

(dolist (name *needs-internet*)
  (unless (rt:rem-test (find-symbol name "USOCKET-TEST"))
    (format t "~&(no test named ~A to exclude)~%" name)))

(format t "~&Excluded (need the internet): ~{~A~^ ~}~%" *needs-internet*)
(finish-output)

(let* ((total (length (cdr rt::*entries*)))
       (ok (rt:do-tests))
       (failed (length (rt:pending-tests))))
  (declare (ignore ok))
  (format t "~&usocket suite: ~D passed, ~D failed (~D excluded)~%"
          (- total failed) failed (length *needs-internet*))
  (finish-output)
  (sb-ext:exit :code (if (zerop failed) 0 1) :abort t))
