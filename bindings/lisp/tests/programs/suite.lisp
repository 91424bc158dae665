;;;; Entry point: one of usocket's own test suites, as its authors ship it
;;;; (cl-rt, usocket-test.asd), on the usocket chosen by UPR_IMPL:
;;;;   UPR_SUITE=0.8.3  Debian's cl-usocket test/ (found by ASDF's source registry)
;;;;   UPR_SUITE=0.8.9  upstream's tests/ in UPR_USOCKET_089
;;;; Each test runs alone (rt::do-entry) under a time limit and is reported as
;;;; usocket-SUITE.TEST-NAME. Run by run.sh inside its network namespace
;;;; (UPR_INTERNET=emulated: common-lisp.net is 127.0.0.1 with an HTTP
;;;; responder on port 80, 1.2.3.4 swallows packets, CAP_NET_BIND_SERVICE is
;;;; dropped); without it the tests that need the internet are skipped.

(load (merge-pathnames "common.lisp" *load-truename*))
(in-package #:usocket-programs)

(defvar *suite* (env "UPR_SUITE" "0.8.3"))

(when (string= *suite* "0.8.9")
  (push (uiop:ensure-directory-pathname (env "UPR_USOCKET_089")) asdf:*central-registry*))

(load-systems "usocket-test")

(let ((expected (if (string= *suite* "0.8.9")
                    (uiop:ensure-directory-pathname (env "UPR_USOCKET_089"))
                    #p"/usr/share/common-lisp/source/usocket/")))
  (unless (equal (namestring (truename (asdf:system-source-directory "usocket-test")))
                 (namestring (truename expected)))
    (report :fail "load" (format nil "usocket-test ~A came from ~A, not ~A" *suite*
                                 (asdf:system-source-directory "usocket-test") expected))
    (finish)))

(defparameter *needs-internet*
  '("TIMEOUT-ERROR.1" "CONNECTION-REFUSED-ERROR.1"
    "SOCKET-CONNECT.1" "SOCKET-CONNECT.2" "SOCKET-CONNECT.3" "SOCKET-STREAM.1"
    "SOCKET-NAME.1" "SOCKET-NAME.2" "SOCKET-NAME.3"
    "SOCKET-SHUTDOWN.1" "SOCKET-SHUTDOWN.2" "SOCKET-SHUTDOWN.3"
    "WAIT-FOR-INPUT.1" "WAIT-FOR-INPUT.2" "WAIT-FOR-INPUT.3")
  "Tests that talk to common-lisp.net.")

(defparameter *needs-namespace*
  '(("OPERATION-NOT-PERMITTED-ERROR.1" . "needs CAP_NET_BIND_SERVICE dropped (run.sh's namespace)")
    ("SOCKET-FAILURE.2" . "needs 1.2.3.4 to swallow packets (run.sh's namespace)")
    ("NS-HOST-NOT-FOUND-ERROR.1" . "needs the resolver limited to /etc/hosts (run.sh's namespace)")))

(defparameter *known-differences*
  (if (string= *suite* "0.8.9")
      '(("SOCKET-FAILURE.1" nil
         "known difference: wants a refused connect to 127.0.0.1 reported as timeout-error; Linux loopback refuses at once (connection-refused-error)")
        ("TCP-TIMEOUT-IN-WRITE-SEQUENCE" nil
         "known difference: its 1.2 MB are absorbed by loopback socket buffers, no write ever blocks, so no send timeout can fire"))
      '(("TIMEOUT-ERROR.1" (:native)
         "known difference of the control: Debian's usocket 0.8.3 on SBCL runs :timeout 0 as a timer that fires after loopback has already refused the connect (connection-refused-error); usocket 0.8.9 and compat expire it at once (timeout-error)")))
  "(name implementations reason): tests that a correct implementation cannot pass
on Linux loopback, for every implementation (NIL) or only those listed.
Reported SKIP when they fail, PASS when they pass; never counted as failures.")

(defun known-difference (name)
  (let ((entry (assoc name *known-differences* :test #'string=)))
    (and entry
         (or (null (second entry)) (member (impl) (second entry)))
         (third entry))))

(defparameter *suite-test-timeout* 30)

(defun thread-failure-p (text)
  "Whether a failed test's report shows it stopped at making a thread: the
condition compat signals for a missing feature (UNSUPPORTED, naming threads)
or the one bordeaux-threads signals in a Lisp without them."
  (or (search "UNSUPPORTED" text) (search "BORDEAUX-MP-CONDITION" text)))

(defun rt-report-reason (text)
  "\"expected ...; got ...\" out of rt's failure report."
  (let* ((flat (one-line text 100000))
         (e (search "Expected value" flat))
         (a (search "Actual value" flat)))
    (if (and e a)
        (format nil "expected~A; got~A"
                (subseq flat (or (position #\: flat :start e) e) a)
                (subseq flat (or (position #\: flat :start a) a)))
        flat)))

(defun run-entry (entry)
  (let* ((name (symbol-name (rt::name entry)))
         (full (format nil "usocket-~A.~(~A~)" *suite* name))
         (internet (env "UPR_INTERNET"))
         (known (known-difference name)))
    (cond ((and (not internet) (member name *needs-internet* :test #'string=))
           (report :skip full "needs the internet (common-lisp.net): run.sh had no network namespace to emulate it"))
          ((and (not internet) (assoc name *needs-namespace* :test #'string=))
           (report :skip full (cdr (assoc name *needs-namespace* :test #'string=))))
          (t
           (let* ((out (make-string-output-stream))
                  (start (get-internal-real-time))
                  (passed
                    (handler-case
                        (progn
                          (setf *test-thread* (and bt:*supports-threads-p* (bt:current-thread)))
                          (unwind-protect
                               (with-time-limit (*suite-test-timeout*)
                                 (let ((*standard-output* out))
                                   (rt::do-entry entry out)))
                            (setf *test-thread* nil)))
                      (serious-condition (c)
                        (format out "~&Aborted: ~A: ~A~%" (type-of c)
                                (handler-case (princ-to-string c) (error () "?")))
                        nil)))
                  (seconds (/ (- (get-internal-real-time) start) internal-time-units-per-second 1.0))
                  (text (get-output-stream-string out)))
             (cond (passed (report :pass full))
                   (t
                    (detail "~A (~,1F s):~%~A" full seconds text)
                    (let ((reason (format nil "~A~:[~; (stopped after ~,1F s)~]"
                                          (rt-report-reason text)
                                          (>= seconds *suite-test-timeout*) seconds)))
                      (cond (known
                             (report :skip full (format nil "~A [ran: ~A]" known reason)))
                            ((and (not bt:*supports-threads-p*) (thread-failure-p text))
                             (report :skip full (format nil "needs threads, which ~A ~A is built without [ran: ~A]"
                                                        (lisp-implementation-type)
                                                        (lisp-implementation-version) reason)))
                            (t (report :fail full reason)))))))))))

(format t "~&INFO usocket-test ~A: ~D tests from ~A~%" *suite* (length (cdr rt::*entries*))
        (asdf:system-source-directory "usocket-test"))
(finish-output)
(dolist (entry (copy-list (cdr rt::*entries*)))
  (run-entry entry))
(finish)
