;;;; Run by namespace-conditions.sh inside a private network namespace.
;;;; (namespace-conditions:run MODE) prints "ok <class>" or "FAIL <class>: ..."
;;;; for each check and exits 1 if one failed.

(defpackage #:namespace-conditions
  (:use #:common-lisp #:usocket-cffi)
  (:export #:run))

(in-package #:namespace-conditions)

(defvar *failed* nil)

(defmacro expect (class &body body)
  `(let ((result (block check
                   (handler-bind ((,class (lambda (c) (return-from check c))))
                     (handler-case (progn ,@body nil)
                       (error (e) (return-from check e)))))))
     (if (typep result ',class)
         (format t "ok ~(~A~): ~A~%" ',class result)
         (progn (setf *failed* t)
                (format t "FAIL ~(~A~): got ~S~%" ',class result)))
     (force-output)))

(defun check (what ok detail)
  (if ok
      (format t "ok ~A~%" what)
      (progn (setf *failed* t)
             (format t "FAIL ~A: ~S~%" what detail)))
  (force-output))

(defun resolver-order (name)
  "NAME's addresses in getaddrinfo's order (getent ahosts), each once, as text."
  (let* ((out (with-output-to-string (s)
                (sb-ext:run-program "getent" (list "ahosts" name) :search t :output s)))
         (addresses '()))
    (with-input-from-string (in out)
      (loop for line = (read-line in nil)
            while line
            do (let ((a (subseq line 0 (position #\Space line))))
                 (when (plusp (length a)) (pushnew a addresses :test #'string=)))))
    (mapcar (lambda (a) (if (find #\: a) (vector-to-ipv6-host (ipv6-host-to-vector a)) a))
            (nreverse addresses))))

(defun run (mode)
  (ecase mode
    (:files
     ;; "hosts: files" and no such name in /etc/hosts.
     (expect ns-host-not-found-error (socket-connect "no-such-host.invalid" 80))
     (expect ns-host-not-found-error (get-hosts-by-name "no-such-host.invalid"))
     (expect ns-host-not-found-error (get-host-by-name "xxx"))
     (let ((c (nth-value 1 (ignore-errors (get-hosts-by-name "no-such-host.invalid")))))
       (unless (equal "no-such-host.invalid" (host-or-ip c))
         (setf *failed* t)
         (format t "FAIL host-or-ip: ~S~%" (and c (host-or-ip c)))))
     ;; No route at all (only lo is up).
     (expect network-unreachable-error (socket-connect "203.0.113.1" 80 :timeout 2))
     ;; An "unreachable" route.
     (expect host-unreachable-error (socket-connect "198.51.100.7" 80 :timeout 2))
     (expect host-unreachable-error
       (let ((s (socket-connect nil nil :protocol :datagram)))
         (unwind-protect (socket-send s (make-array 1 :element-type '(unsigned-byte 8)) 1
                                      :host "198.51.100.7" :port 9)
           (socket-close s))))
     ;; get-hosts-by-name keeps the resolver's (getaddrinfo's) order, as
     ;; getent ahosts shows it; get-host-by-name is the first IPv4, else the
     ;; first IPv6 (*ipv6-only-p*: the first IPv6).
     (let ((resolver (resolver-order "dual.test"))
           (ours (mapcar #'host-to-hostname (get-hosts-by-name "dual.test"))))
       (check "get-hosts-by-name order" (and (= 3 (length ours)) (equal resolver ours))
              (list :resolver resolver :ours ours)))
     (check "get-host-by-name: first IPv4"
            (equal (host-to-hostname (get-host-by-name "dual.test"))
                   (find-if (lambda (a) (find #\. a)) (resolver-order "dual.test")))
            (get-host-by-name "dual.test"))
     (check "get-host-by-name: IPv6 when no IPv4"
            (equalp (ipv6-host-to-vector "::1") (get-host-by-name "six.test"))
            (get-host-by-name "six.test"))
     (let ((*ipv6-only-p* t))
       (check "*ipv6-only-p*" (equalp (ipv6-host-to-vector "::1") (get-host-by-name "dual.test"))
              (get-host-by-name "dual.test"))))
    (:unprivileged
     ;; Binding a port below 1024 needs CAP_NET_BIND_SERVICE.
     (expect operation-not-permitted-error (socket-listen "0.0.0.0" 81)))
    (:try-again
     ;; The resolver's only server is 127.0.0.1, where nothing answers.
     (expect ns-try-again-condition (get-hosts-by-name "example.invalid"))))
  (sb-ext:exit :code (if *failed* 1 0)))
