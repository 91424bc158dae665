;;;; hlisp.lisp: what the Lisp programs of tests/hardening/ share. Loaded by
;;;; each of them first: loads usocket-cffi from bindings/lisp (the way
;;;; bindings/lisp/tests/run.lisp does), and defines the package
;;;; USOCKET-HARDENING with a pass/fail tally, loopback helpers, descriptor
;;;; and memory counters and a /proc-based "is this thread blocked" probe.
;;;; Runs on SBCL, ECL, CLISP and ABCL: what each does its own way is in
;;;; hportable.lisp (loaded below), and nowhere else but the next two lines.

#+clisp (require "asdf")
#-clisp (require :asdf)

(defparameter cl-user::*hardening-dir*
  (make-pathname :name nil :type nil :version nil :defaults *load-truename*))
(defparameter cl-user::*repo-dir* (merge-pathnames "../../" cl-user::*hardening-dir*))

(push (merge-pathnames "bindings/lisp/" cl-user::*repo-dir*) asdf:*central-registry*)
(let ((log (make-string-output-stream)))
  (handler-case (let ((*standard-output* log) (*error-output* log))
                  (asdf:load-system "usocket-cffi"))
    (error (e)
      (format t "~A~%Loading usocket-cffi failed: ~A~%0 passed, 1 failed~%"
              (get-output-stream-string log) e)
      (finish-output)
      (uiop:quit 1 nil))))

(defpackage #:usocket-hardening
  (:use #:common-lisp #:usocket-cffi)
  (:export #:check #:summary #:passed #:failed))

(in-package #:usocket-hardening)

(load (merge-pathnames "hportable.lisp" cl-user::*hardening-dir*))

;;; Tally.

(defvar *passed* 0)
(defvar *failed* 0)

(defun check (ok name &optional (format "") &rest args)
  "Count and print one check."
  (if ok (incf *passed*) (incf *failed*))
  (format t "~:[FAIL~;ok  ~] ~A~@[: ~A~]~%" ok name
          (let ((text (apply #'format nil format args))) (and (plusp (length text)) text)))
  (finish-output)
  ok)

(defun summary (&optional (label "lisp"))
  "Print the last line run.sh reads and exit 0 only when nothing failed."
  (format t "~A: ~D passed, ~D failed~%~D passed, ~D failed~%" label *passed* *failed* *passed* *failed*)
  (exit-lisp (if (zerop *failed*) 0 1)))

(defun getenv-integer (name default)
  (let ((v (getenv name)))
    (or (and v (parse-integer v :junk-allowed t)) default)))

;;; Descriptors and memory (clocks, descriptor counts and GC: hportable.lisp).

(defun status-kib (key &optional (pid "self"))
  (with-open-file (in (format nil "/proc/~A/status" pid))
    (loop for line = (read-line in nil)
          while line
          when (and (> (length line) (1+ (length key)))
                    (string= key line :end2 (length key))
                    (char= #\: (char line (length key))))
            return (parse-integer line :start (1+ (length key)) :junk-allowed t))))

(defun rss-kib () (status-kib "VmRSS"))

(defun split-words (line)
  (let ((words '()) (start nil))
    (dotimes (i (length line))
      (let ((blank (member (char line i) '(#\Space #\Tab #\Return))))
        (cond ((and blank start) (push (subseq line start i) words) (setf start nil))
              ((and (not blank) (null start)) (setf start i)))))
    (when start (push (subseq line start) words))
    (nreverse words)))

(defun in-private-namespace-p ()
  "Inside the namespace netns.sh makes: the resolver reads files only."
  (and (equal (getenv "USOCKET_HARDENING_NETNS") "1")
       (with-open-file (in "/etc/nsswitch.conf" :if-does-not-exist nil)
         (and in
              (loop for line = (read-line in nil)
                    while line
                    do (let ((words (split-words line)))
                         (when (equal (first words) "hosts:")
                           (return (equal (rest words) '("files"))))))))))

(defun split-tabs (line)
  (loop with start = 0
        for tab = (position #\Tab line :start start)
        collect (subseq line start tab)
        while tab do (setf start (1+ tab))))

;;; Loopback helpers.

(defparameter +lo4+ "127.0.0.1")

(defun linger0 (usocket)
  "Make the next close of USOCKET send a RST (SO_LINGER 0), on the
descriptor the core lends."
  (cffi:with-foreign-object (l :int 2)
    (setf (cffi:mem-aref l :int 0) 1 (cffi:mem-aref l :int 1) 0)
    (cffi:foreign-funcall "setsockopt" :int (socket-fd usocket) :int 1 #|SOL_SOCKET|#
                          :int 13 #|SO_LINGER|# :pointer l :uint32 8 :int)))

(defun pair (&key (host +lo4+) (element-type '(unsigned-byte 8)))
  "Values: a client, the accepted server side and the listener."
  (let* ((listener (socket-listen host 0 :reuse-address t :element-type element-type))
         (client (socket-connect host (get-local-port listener) :element-type element-type
                                                                :timeout nil))
         (server (socket-accept listener)))
    (values client server listener)))

(defun close-all (&rest sockets)
  (dolist (s sockets)
    (when (typep s 'usocket) (ignore-errors (socket-close s)))))

(defvar *next-port* (+ 20000 (* 10 (mod (getpid) 1200))))

(defun dead-port (&optional (host +lo4+))
  "A port where nothing listens now, below the ephemeral range (32768-60999),
so no connect of ours can pick it as its own local port and connect to
itself (TCP simultaneous open)."
  (loop repeat 2000
        do (let ((port (+ 20000 (mod (- (incf *next-port*) 20000) 12000))))
             (handler-case (let ((l (socket-listen host port)))
                             (socket-close l)
                             (return-from dead-port port))
               (address-in-use-error () nil))))
  (error "no free port below the ephemeral range"))

(defun udp (&key (port 0) timeout)
  (socket-connect nil nil :protocol :datagram :local-host +lo4+ :local-port port :timeout timeout))

(defun octets (n &optional (initial 0))
  (make-array n :element-type '(unsigned-byte 8) :initial-element initial))

;;; Is a thread blocked in a system call? /proc/self/task/TID/syscall says
;;; which one; there is no event for "now inside recv".

(defparameter +blocking-syscalls+
  ;; x86-64: poll sendto recvfrom accept accept4 epoll_wait epoll_pwait ppoll
  '(7 44 45 43 288 232 281 271))

(defun thread-syscall (thread)
  (let ((tid (thread-tid thread)))
    (with-open-file (in (if tid (format nil "/proc/self/task/~D/syscall" tid) "/nonexistent")
                        :if-does-not-exist nil)
      (let ((line (and in (read-line in nil))))
        (and line (digit-char-p (char line 0))
             (parse-integer line :junk-allowed t))))))

(defun wait-blocked (thread &key (syscalls +blocking-syscalls+) (timeout 5))
  "Wait (bounded, polling /proc every half millisecond) until THREAD is
blocked in one of SYSCALLS. True if it is."
  (let ((end (+ (now-ms) (* 1000 timeout))))
    (loop
      (when (member (thread-syscall thread) syscalls) (return t))
      (when (> (now-ms) end) (return nil))
      (sleep 0.0005))))

(defun condition-name (c)
  (string-downcase (symbol-name (type-of c))))
