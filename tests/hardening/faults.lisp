;;;; faults.lisp: the Lisp (usocket-cffi) runner of the shared fault table
;;;; (faults.tsv), on SBCL, ECL, CLISP and ABCL (what each does its own way
;;;; is in hportable.lisp).
;;;;
;;;;   sbcl --noinform --non-interactive --no-userinit --no-sysinit \
;;;;        --load tests/hardening/faults.lisp
;;;;   ecl -norc --load tests/hardening/faults.lisp
;;;;   clisp -norc -q tests/hardening/faults.lisp
;;;;   abcl --noinform --noinit --batch --load tests/hardening/faults.lisp
;;;;
;;;; Every fault whose `lisp` column says `run` is provoked through
;;;; usocket-cffi's API (the raw-handle faults through its own FFI layer and
;;;; status mapping, as the table's header explains) and must signal the
;;;; condition whose class name is the table's `expected` (`end-of-file`:
;;;; CL's END-OF-FILE from a read). The `n/a` rows check their reason where it
;;;; can be checked. Unknown-host faults run only inside the private
;;;; namespace of netns.sh. A Lisp without threads (CLISP) reports the rows
;;;; that need them as n/a, after checking that it has none (*NEEDS-THREADS*).
;;;; Prints one line per fault and "N passed, M failed" last.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(defparameter *unknown* "no-such-host.invalid")

;;; USOCKET_HARDENING_LISP_NATIVE=1: stream sockets get SBCL's own fd-streams,
;;; as usocket-cffi/compat gives them to real programs (not run by run.sh;
;;; for comparing the two kinds of stream against the same table).
(when (equal (getenv "USOCKET_HARDENING_LISP_NATIVE") "1")
  (cond ((not (boundp 'usocket-cffi::*native-streams*))
         (format t "FAIL USOCKET_HARDENING_LISP_NATIVE=1: this binding has no *native-streams*~%")
         (incf *failed*))
        ((not (ignore-errors (funcall 'usocket-cffi::native-streams-supported-p)))
         (format t "FAIL USOCKET_HARDENING_LISP_NATIVE=1: the binding has no native streams on ~A~%"
                 (implementation-name))
         (incf *failed*))
        (t (setf (symbol-value 'usocket-cffi::*native-streams*) t))))

(defun outcome (thunk)
  "The class name of the condition THUNK signals (as an error), or \"ok\".
A condition that is not usocket's (nor END-OF-FILE) comes with its text, so
that a failed check of a result says what it found."
  (handler-case
      (with-time-limit (30 "took more than 30 s") ; SBCL only (hportable.lisp)
        (let ((r (funcall thunk)))
          (if (eq r :eof) "end-of-file" "ok")))
    ((or socket-condition ns-condition) (c) (condition-name c))
    ;; CL's END-OF-FILE, whichever subclass the implementation signals
    ;; (CLISP: SYSTEM::SIMPLE-END-OF-FILE).
    (end-of-file () "end-of-file")
    (error (c) (let ((text (substitute #\Space #\Newline (princ-to-string c))))
                 (format nil "~A: ~A" (condition-name c) (subseq text 0 (min 400 (length text))))))))

(defmacro with-closing ((&rest vars) &body body)
  `(unwind-protect (progn ,@body) (close-all ,@vars)))

(defun read1 (usocket)
  (read-byte (socket-stream usocket)))

(defun write1 (usocket &optional (byte 1))
  (let ((s (socket-stream usocket)))
    (write-byte byte s)
    (force-output s)))

(defun reset-pair ()
  "A client whose peer was closed with a RST, once the RST has arrived."
  (multiple-value-bind (c a l) (pair)
    (socket-close l)
    (linger0 a)
    (socket-close a)
    (unless (wait-for-input c :timeout 2 :ready-only t)
      (socket-close c)
      (error "the RST did not arrive within 2 s"))
    c))

(defun raw-status (code)
  "Signal the binding's condition for a raw status CODE (0: nothing)."
  (unless (zerop code)
    (usocket-cffi::signal-status code (usocket-cffi::%last-error-message)
                                 (usocket-cffi::%last-os-error))))

(defun adopt (handle)
  "A usocket object over a raw HANDLE, as usocket's internal constructor makes it."
  (usocket-cffi::make-socket :socket handle))

(defparameter *faults* (make-hash-table :test 'equal))

(defmacro deffault (id &body body)
  `(setf (gethash ,id *faults*) (lambda () ,@body)))

(deffault "connect-refused"
  (socket-close (socket-connect +lo4+ (dead-port) :timeout 2)))

(deffault "connect-refused-ipv6"
  (socket-close (socket-connect "::1" (dead-port "::1") :timeout 2)))

(deffault "connect-timeout-full-backlog"
  (let* ((l (socket-listen +lo4+ 0 :backlog 0 :reuse-address t))
         (first (socket-connect +lo4+ (get-local-port l) :timeout 2))
         (t0 (now-ms)))
    (with-closing (l first)
      (handler-bind ((timeout-error
                       (lambda (c)
                         (declare (ignore c))
                         (let ((took (- (now-ms) t0)))
                           (unless (<= 180 took 400)
                             (error "the connect timed out after ~,0F ms, not ~~200" took))))))
        (socket-close (socket-connect +lo4+ (get-local-port l) :timeout 0.2))))))

(deffault "read-timeout"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l)
      (setf (socket-option c :receive-timeout) 0.1)
      (let ((t0 (now-ms)))
        (handler-bind ((timeout-error
                         (lambda (e)
                           (declare (ignore e))
                           (let ((took (- (now-ms) t0)))
                             (unless (<= 90 took 200)
                               (error "timed out after ~,0F ms, not ~~100" took))))))
          (read1 c))))))

(deffault "accept-timeout"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l)
      (setf (socket-option l :receive-timeout) 0.1)
      (socket-close (socket-accept l)))))

(deffault "receive-timeout"
  (let ((u (udp :timeout 0.1)))
    (with-closing (u)
      (socket-receive u nil nil))))

(deffault "reset-by-peer-read"
  (let ((c (reset-pair)))
    (with-closing (c) (read1 c))))

(deffault "write-after-peer-reset"
  (let ((c (reset-pair)))
    (with-closing (c) (write1 c))))

(deffault "write-after-reset-reported"
  (let ((c (reset-pair)))
    (with-closing (c)
      (handler-case (progn (write1 c) (error "the first write after the reset succeeded"))
        (connection-reset-error () nil))
      (write1 c 2))))

(deffault "write-after-shutdown-output"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l)
      (socket-shutdown c :output)
      (write1 c))))

(deffault "eof-read"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c l)
      (socket-close a)
      (read1 c))))

(deffault "datagram-refused"
  (let* ((gone (udp))
         (port (get-local-port gone)))
    (socket-close gone)
    (let ((u (socket-connect +lo4+ port :protocol :datagram :timeout 2)))
      (with-closing (u)
        (socket-send u (octets 4 1) 4)
        (socket-receive u nil nil)))))

(deffault "unknown-host-connect"
  (socket-close (socket-connect *unknown* 80 :timeout 2)))

(deffault "unknown-host-resolve"
  (get-hosts-by-name *unknown*))

(deffault "unknown-host-send"
  (let ((u (udp)))
    (with-closing (u)
      (socket-send u (octets 1) 1 :host *unknown* :port 9))))

(deffault "unknown-local-host"
  (socket-close (socket-listen *unknown* 0)))

(deffault "empty-host"
  (socket-close (socket-connect "" (dead-port) :timeout 2)))

(deffault "nul-in-host"
  ;; A live listener on the port: a host cut at the NUL would connect.
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l)
      (socket-close (socket-connect (format nil "127.0.0.1~C.example" (code-char 0))
                                    (get-local-port l) :timeout 2)))))

(deffault "invalid-utf8-host"
  (socket-close (socket-connect (string (code-char #xD800)) 80 :timeout 2)))

(deffault "port-out-of-range"
  (socket-close (socket-connect +lo4+ 70000 :timeout 2)))

(deffault "port-negative"
  (socket-close (socket-connect +lo4+ -1 :timeout 2)))

(deffault "address-in-use-tcp"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l)
      (socket-close (socket-listen +lo4+ (get-local-port l))))))

(deffault "address-in-use-udp"
  (let ((u (udp)))
    (with-closing (u)
      (socket-close (udp :port (get-local-port u))))))

(deffault "local-port-in-use"
  (let* ((l (socket-listen +lo4+ 0))
         (port (get-local-port l)))
    (with-closing (l)
      (socket-close (socket-connect +lo4+ port :local-host +lo4+ :local-port port :timeout 2)))))

(deffault "address-not-available"
  (socket-close (socket-listen "192.0.2.1" 0)))

(deffault "local-host-family-mismatch"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l)
      (socket-close (socket-connect +lo4+ (get-local-port l) :local-host "::1" :timeout 2)))))

(deffault "use-after-close"
  (let ((l (socket-listen +lo4+ 0)))
    (socket-close l)
    (get-local-name l)))

(deffault "stale-handle"
  (let* ((u (udp))
         (h (usocket-cffi::socket-handle u)))
    (socket-close u)
    (get-local-name (adopt h))))

(deffault "zero-handle"
  (get-local-name (adopt 0)))

(deffault "double-close"
  (let* ((l (socket-listen +lo4+ 0))
         (h (usocket-cffi::socket-handle l)))
    (socket-close l)
    (socket-close l)                    ; idempotent by contract: no condition
    (raw-status (usocket-cffi::%close h))))

(deffault "double-free-wait-list"
  (let* ((wl (make-wait-list '()))
         (h (usocket-cffi::wait-list-handle wl)))
    (raw-status (usocket-cffi::%wait-list-free h))
    (raw-status (usocket-cffi::%wait-list-free h))))

(deffault "wait-on-closed-socket"
  (let ((l1 (socket-listen +lo4+ 0))
        (l2 (socket-listen +lo4+ 0)))
    (socket-close l1)
    (with-closing (l2)
      (wait-for-input (list l2 l1) :timeout 0.1))))

(deffault "wait-list-add-closed"
  (let ((l (socket-listen +lo4+ 0))
        (wl (make-wait-list '())))
    (socket-close l)
    (unwind-protect (add-waiter wl l)
      (usocket-cffi::%wait-list-free (usocket-cffi::wait-list-handle wl)))))

(deffault "wait-on-freed-wait-list"
  (let ((wl (make-wait-list '())))
    (raw-status (usocket-cffi::%wait-list-free (usocket-cffi::wait-list-handle wl)))
    (wait-for-input wl :timeout 0.1)))

;;; A handle of the wrong kind given to a socket object: usocket's internal
;;; constructor (make-socket: a stream-usocket) or make-instance of the class
;;; the call needs. A call that never reaches the core (a native stream over
;;; a descriptor of the wrong kind) is stopped after 5 s and says so.

(defun adopted (class usocket)
  (if (eq class 'stream-usocket)
      (usocket-cffi::make-socket :socket (usocket-cffi::socket-handle usocket))
      (make-instance class :socket (usocket-cffi::socket-handle usocket))))

(defmacro within-5s (&body body)
  ;; Only SBCL's native streams can block outside the core; elsewhere the
  ;; streams are the binding's own and no limit is set (hportable.lisp).
  `(with-time-limit (5 (error "still blocked after 5 s: the call did not reach the core"))
     ,@body))

(deffault "wrong-kind-read-datagram"
  (let* ((u (udp)) (w (adopted 'stream-usocket u)))
    (with-closing (w u) (within-5s (read1 w)))))

(deffault "wrong-kind-accept-stream"
  (multiple-value-bind (c a l) (pair)
    (let ((w (adopted 'stream-server-usocket c)))
      (with-closing (w c a l) (within-5s (socket-close (socket-accept w)))))))

(deffault "wrong-kind-send-stream"
  (multiple-value-bind (c a l) (pair)
    (let ((w (adopted 'datagram-usocket c)))
      (setf (usocket-cffi::connected-p w) t)
      (with-closing (w c a l) (within-5s (socket-send w (octets 1) 1))))))

(deffault "wrong-kind-receive-listener"
  (let* ((l (socket-listen +lo4+ 0)) (w (adopted 'datagram-usocket l)))
    (with-closing (w l) (within-5s (socket-receive w nil nil)))))

(deffault "wrong-kind-write-listener"
  (let* ((l (socket-listen +lo4+ 0)) (w (adopted 'stream-usocket l)))
    (with-closing (w l) (within-5s (write1 w)))))

(deffault "wrong-kind-nodelay-datagram"
  (let ((u (udp)))
    (with-closing (u)
      (setf (socket-option u :tcp-nodelay) t))))

(deffault "wrong-kind-peer-name-listener"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l) (get-peer-name l))))

(deffault "wrong-kind-shutdown-listener"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l) (socket-shutdown l :io))))

(deffault "wrong-kind-wait-list-as-socket"
  (let ((wl (make-wait-list '())))
    (unwind-protect (get-local-name (adopt (usocket-cffi::wait-list-handle wl)))
      (usocket-cffi::%wait-list-free (usocket-cffi::wait-list-handle wl)))))

(deffault "datagram-too-large"
  (let* ((r (udp))
         (u (socket-connect +lo4+ (get-local-port r) :protocol :datagram)))
    (with-closing (u r)
      (socket-send u (octets (1+ +max-datagram-packet-size+)) (1+ +max-datagram-packet-size+)))))

(deffault "send-unconnected-no-host"
  (let ((u (udp)))
    (with-closing (u) (socket-send u (octets 1) 1))))

(deffault "bad-option"
  (let ((u (udp)))
    (with-closing (u) (socket-option u :no-such-option))))

(deffault "bad-option-value"
  (let ((u (udp)))
    (with-closing (u) (setf (socket-option u :receive-buffer) 0))))

(deffault "negative-timeout-option"
  (let ((u (udp)))
    (with-closing (u) (setf (socket-option u :receive-timeout) -1))))

(deffault "shutdown-bad-direction"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l) (socket-shutdown c :sideways))))

(deffault "negative-backlog"
  (socket-close (socket-listen +lo4+ 0 :backlog -1)))

(deffault "wait-forever-on-nothing"
  (wait-for-input '()))

;;; Version 0.2: the decisions of issue 10 item 4, and local sockets.

(defparameter *dual* "dualstack.usocket.test"
  "Listed ::1 first, then 127.0.0.1, in netns.sh's hosts file.")

(defun core-fn-p (name)
  "Does the loaded core export the C function NAME?"
  (not (cffi:null-pointer-p (cffi:foreign-symbol-pointer name))))

(defun send-timeout-partial (on-thread)
  "A whole write of 8 MiB to a peer that never reads: timeout-error after part went out.
The write is on the calling thread or, ON-THREAD, on a new one; a watchdog
thread closes the socket after 5 s (without threads, CLISP, run.sh's limit on
the part stands in for it)."
  (multiple-value-bind (c a l) (pair)
    (let* ((total (* 8 1024 1024))
           ;; CLISP writes it in blocks of 1 MiB (hportable.lisp: a larger vector kills it)
           (data (octets (min total (largest-safe-octet-vector))))
           (result nil) (took nil) (fired nil)
           (done (make-flag)))
      (with-closing (c a l)
        (setf (socket-option c :send-buffer) 4096
              (socket-option a :receive-buffer) 4096
              (socket-option c :send-timeout) 0.2)
        (flet ((write-all ()
                 (let ((t0 (now-ms)))
                   (setf result (handler-case (let ((s (socket-stream c)))
                                                (loop repeat (floor total (length data))
                                                      do (write-sequence data s))
                                                (force-output s)
                                                :returned)
                                  (error (e) e)))
                   (setf took (- (now-ms) t0))
                   (flag-set done))))
          (let ((dog (and (threads-p)
                          (spawn (lambda ()
                                   (unless (flag-wait done 5)
                                     (setf fired t)
                                     (ignore-errors (socket-close c))))
                                 :name "send-timeout watchdog"))))
            (if on-thread
                (join (spawn #'write-all :name "writer") 10)
                (write-all))
            (when dog (join dog 10))))
        (let ((part (wait-for-input a :timeout 0 :ready-only t)))
          (when fired (error "the write was still blocked after 5 s (closed then: ~A)" result))
          (unless part (error "setup: nothing reached the peer, so no part of the data went out"))
          (cond ((eq result :returned)
                 (error "write-sequence and force-output returned instead of signalling timeout-error"))
                ((and (typep result 'timeout-error) (not (<= 180 took 2000)))
                 (error "timeout-error after ~,0F ms, not ~~200" took))
                (t (error result))))))))

(deffault "send-timeout-partial" (send-timeout-partial nil))
(deffault "send-timeout-partial-thread" (send-timeout-partial t))

(defun dual-hosts-checked ()
  (let ((hosts (get-hosts-by-name *dual*)))
    (unless (and hosts (= 16 (length (first hosts)))
                 (find #(127 0 0 1) hosts :test #'equalp))
      (error "setup: the resolver gives ~S, not ::1 first and 127.0.0.1 after it; the fault cannot tell" hosts))))

(deffault "host-by-name-ipv4-first"
  (dual-hosts-checked)
  (let ((got (progv (list 'usocket-cffi::*ipv6-only-p*) (list nil) (get-host-by-name *dual*))))
    (unless (equalp got #(127 0 0 1))
      (error "wrong result: get-host-by-name gave ~S, not #(127 0 0 1)" got))))

(deffault "host-by-name-ipv6-only"
  (dual-hosts-checked)
  (let ((got (progv (list 'usocket-cffi::*ipv6-only-p*) (list t) (get-host-by-name *dual*))))
    (unless (equalp got #(0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1))
      (error "wrong result: get-host-by-name with *ipv6-only-p* gave ~S, not ::1" got))))

(defun thread-syscalls (thunk)
  "THUNK's value on a new thread, and an alist (syscall . samples) of the
system calls that thread was seen in, sampled every half millisecond."
  (let* ((counts (make-hash-table))
         (thread (spawn thunk :name "sampled")))
    (loop while (thread-alive thread)
          do (let ((nr (ignore-errors (thread-syscall thread))))
               (when nr (incf (gethash nr counts 0))))
             (sleep 0.0005))
    (values (join thread 10)
            (sort (loop for k being the hash-keys of counts using (hash-value v) collect (cons k v))
                  #'> :key #'cdr))))

(deffault "wait-timeout-on-nothing"
  (multiple-value-bind (rc core)
      (thread-syscalls (lambda ()
                         (cffi:with-foreign-object (n 'usocket-cffi::size-t)
                           (cffi:foreign-funcall "usocket_wait_for_input" :pointer (cffi:null-pointer)
                                                 usocket-cffi::size-t 0 :int64 200 :pointer (cffi:null-pointer)
                                                 :pointer n :pointer (cffi:null-pointer) :int32))))
    (unless (and (eql rc 0) core)
      (error "setup: the core's own wait on nothing gave ~S, samples ~S" rc core))
    (let (ready took)
      (multiple-value-bind (v mine)
          (thread-syscalls (lambda ()
                             (let ((t0 (now-ms)))
                               (prog1 (wait-for-input '() :timeout 0.2 :ready-only t)
                                 (setf took (- (now-ms) t0))))))
        (setf ready v)
        (unless (and (null ready) took (<= 180 took 400))
          (error "wrong result: ~S after ~A ms" ready (and took (round took))))
        (unless (eql (car (first mine)) (car (first core)))
          (error "the wait sat in system call ~S (~S), not ~S, the one of the core's wait on nothing: ~
                  the binding does not ask the core" (car (first mine)) mine (car (first core))))))))

(defun udp-server-with-timeout (timeout)
  ;; Without threads (CLISP) on the calling thread: the timeout is refused
  ;; before the server serves (a server that took it would serve until
  ;; run.sh's limit on the part).
  (multiple-value-bind (thread sock)
      (socket-server +lo4+ 0 #'identity nil :protocol :datagram :timeout timeout
                                            :in-new-thread (threads-p))
    (socket-close sock)
    (join thread 5)))

(deffault "udp-server-timeout-negative" (udp-server-with-timeout -1))
(deffault "udp-server-timeout-too-large" (udp-server-with-timeout 2147484))

(defun udp-echo (u byte)
  (socket-send u (octets 1 byte) 1)
  (unless (wait-for-input u :timeout 2 :ready-only t)
    (error "no reply to ~D within 2 s" byte))
  (multiple-value-bind (buffer n) (socket-receive u nil nil)
    (unless (and (eql n 1) (eql (aref buffer 0) byte))
      (error "a reply of ~S octets (first ~S) to ~D" n (and buffer (plusp (length buffer)) (aref buffer 0)) byte))))

(deffault "udp-server-timeout-keeps-serving"
  (multiple-value-bind (thread sock)
      (socket-server +lo4+ 0 #'identity nil :protocol :datagram :timeout 0.05 :in-new-thread t)
    (unwind-protect
         (let ((u (socket-connect +lo4+ (get-local-port sock) :protocol :datagram)))
           (with-closing (u)
             (udp-echo u 1)
             (when (wait-for-input u :timeout 0.3 :ready-only t) ; idle: six timeouts of 50 ms
               (error "something arrived while the client sent nothing"))
             (udp-echo u 2)))
      (socket-close sock)
      (unless (nth-value 1 (join thread 5))
        (error "the server did not end within 5 s of its stop")))))

(defun greet (stream)
  (write-line "hi" stream)
  (force-output stream))

(deffault "server-accept-reset"
  (multiple-value-bind (thread sock)
      (socket-server +lo4+ 0 #'greet nil :in-new-thread t)
    (unwind-protect
         (let ((port (get-local-port sock)))
           (let ((c1 (socket-connect +lo4+ port)))
             (linger0 c1)
             (socket-close c1))           ; RST while it waits in the accept queue
           (let ((c2 (socket-connect +lo4+ port)))
             (with-closing (c2)
               (unless (wait-for-input c2 :timeout 2 :ready-only t)
                 (error "the second client was not served within 2 s"))
               (let ((line (read-line (socket-stream c2) nil)))
                 (unless (equal line "hi")
                   (error "the second client got ~S" line))))))
      (socket-close sock)
      (join thread 5))))

(defun child-line (in)
  "The child's next line, past what the implementation says while it loads
files (ECL's \";;; Loading ...\" on standard output)."
  (loop for line = (read-line in)
        unless (and (plusp (length line)) (char= (char line 0) #\;))
          return line))

(deffault "server-accept-emfile"
  ;; The child is this same implementation (hportable.lisp's LISP-COMMAND).
  (let ((child (launch (lisp-command (merge-pathnames "emfile-child.lisp" cl-user::*hardening-dir*)))))
    (unwind-protect
         (let* ((in (process-output-stream child))
                (out (process-input-stream child))
                (port (parse-integer (child-line in) :junk-allowed t)))
           (unless (equal (child-line in) "full")
             (error "setup: the child could not use up its descriptors"))
           (let ((c (socket-connect +lo4+ port)))
             (with-closing (c)
               (write-line "go" out)
               (finish-output out)
               (let* ((freed (child-line in))
                      (t0 (now-ms))
                      (served (wait-for-input c :timeout 3 :ready-only t))
                      (took (- (now-ms) t0))
                      (line (and served (read-line (socket-stream c) nil)))
                      (cpu (and (> (length freed) 6) (string= "freed " freed :end2 6)
                                (parse-integer freed :start 6 :junk-allowed t))))
                 (cond ((null cpu) (error "setup: the child said ~S" freed))
                       ((not (equal line "hi")) (error "the client got ~S within 3 s of the free" line))
                       ((> cpu 150) (error "the child used ~D ms of CPU in 300 ms out of descriptors (a busy loop)" cpu))
                       ((> took 2500) (error "served ~,0F ms after the free" took))))))
           ;; And the child stops its server and exits cleanly (an ECL child
           ;; once died of SIGSEGV here, unseen).
           (write-line "done" out)
           (close out)
           (unless (wait-until (lambda () (not (process-alive child))) 10)
             (error "the child did not exit within 10 s of \"done\""))
           (let ((code (process-exit-code child)))
             (unless (eql code 0) (error "the child exited with status ~S" code))))
      (when (process-alive child) (process-kill child))
      (process-done child))))

;;; Local sockets: paths as pathnames (usocket 0.8.9's convention).

(defparameter *local-dir*
  (make-directory* (format nil "/tmp/usocket-hardening-local.~D" (getpid)) #o700))

(defun local (name)
  (let ((path (format nil "~A/~A" *local-dir* name)))
    (when (exists-p path) (delete-file* path))
    path))

(defun local-pathname (path) (parse-native path))

(defun make-stale (path)
  "A socket file nobody accepts on: bound by a plain socket (libc), then closed."
  (make-stale-socket-file path))

(defun make-regular (path)
  (with-open-file (o path :direction :output :if-exists :supersede) (write-string "keep" o)))

(defun regular-intact-p (path)
  (with-open-file (i path :if-does-not-exist nil) (and i (equal (read-line i nil) "keep"))))


(defun local-listen (path &optional reuse)
  (socket-listen (local-pathname path) nil :reuse-address reuse))

(defun local-connect (path) (socket-connect (local-pathname path) nil))

(defun local-serves-p (listener path)
  (let ((c (local-connect path)))
    (with-closing (c)
      (and (wait-for-input listener :timeout 2 :ready-only t)
           (progn (socket-close (socket-accept listener)) t)))))

(deffault "local-path-too-long"
  (let ((path (format nil "~A/~A" *local-dir* (make-string (- 108 (length *local-dir*) 1) :initial-element #\x))))
    (assert (= 108 (length path)))
    (handler-case (progn (socket-close (local-listen path))
                         (error "listen on a 108-byte path succeeded"))
      (invalid-argument-error () nil))
    (socket-close (local-connect path))))

(deffault "local-stale-no-reuse"
  (let ((path (local "stale.sock")))
    (make-stale path)
    (unwind-protect (socket-close (local-listen path))
      (when (exists-p path) (delete-file* path)))))

(deffault "local-stale-reuse"
  (let ((path (local "stale.sock")))
    (make-stale path)
    (let ((l (handler-bind ((error (lambda (e) (declare (ignore e)) (delete-file* path))))
               (local-listen path t))))
      (with-closing (l)
        (unless (local-serves-p l path) (error "the new listener does not accept"))))
    (when (exists-p path)
      (delete-file* path)
      (error "closing the listener left its file"))))

(deffault "local-live-reuse"
  (let* ((path (local "live.sock"))
         (live (local-listen path)))
    (with-closing (live)
      (handler-bind ((address-in-use-error
                       (lambda (e)
                         (declare (ignore e))
                         (unless (local-serves-p live path)
                           (error "address-in-use, but the live listener no longer accepts")))))
        (socket-close (local-listen path t))))))

(deffault "local-connect-missing"
  (handler-bind ((unknown-error
                   (lambda (e)
                     (unless (eql 2 (ignore-errors (usocket-errno e)))
                       (error "unknown-error with errno ~S, not ENOENT (2)" (ignore-errors (usocket-errno e)))))))
    (socket-close (local-connect (local "missing.sock")))))

(deffault "local-connect-stale"
  (let ((path (local "stale.sock")))
    (make-stale path)
    (unwind-protect (socket-close (local-connect path))
      (delete-file* path))))

(deffault "local-regular-file-listen"
  (let ((path (local "file")))
    (make-regular path)
    (unwind-protect
         (let ((got (loop for reuse in '(nil t)
                          collect (handler-case (progn (socket-close (local-listen path reuse)) nil)
                                    (error (e) e)))))
           (unless (regular-intact-p path) (error "the regular file was changed or removed"))
           (unless (eq (type-of (first got)) (type-of (second got)))
             (error "~A without reuse-address, ~A with it" (first got) (second got)))
           (when (first got) (error (first got))))
      (when (exists-p path) (delete-file* path)))))

(deffault "local-regular-file-connect"
  (let ((path (local "file")))
    (make-regular path)
    (unwind-protect (socket-close (local-connect path))
      (delete-file* path))))

(deffault "peer-credentials-tcp"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l) (usocket-cffi::get-peer-credentials c))))

(deffault "local-path-tcp"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l) (usocket-cffi::get-local-path c))))

;;; The n/a claims that can be checked.

(defun no-method-p (gf &rest args)
  (null (compute-applicable-methods gf args)))

(defparameter *na-checks* (make-hash-table :test 'equal))

(defmacro defna (id &body body)
  `(setf (gethash ,id *na-checks*) (lambda () ,@body)))

(defna "read-after-close"
  (multiple-value-bind (c a l) (pair)
    (let ((stream (socket-stream c)))
      (socket-close c)
      (with-closing (a l)
        (handler-case (progn (read-byte stream) nil)
          (stream-error () t))))))

(defna "null-out-pointer"
  ;; No exported function takes a parameter for an out-pointer: results are
  ;; returned as values.
  (let ((bad '()))
    (do-external-symbols (sym :usocket-cffi)
      (when (fboundp sym)
        (dolist (p (function-lambda-list* sym))
          (when (and (symbolp p) (member (symbol-name p) '("OUT" "POINTER" "PTR") :test #'string=))
            (push sym bad)))))
    ;; ... and this Lisp does say what the parameters are.
    (and (member "HOST" (mapcar #'string (remove-if-not #'symbolp (function-lambda-list* 'socket-connect)))
                 :test #'string=)
         (null bad))))

(defna "huge-length"
  ;; No Lisp vector can claim more than PTRDIFF_MAX octets.
  (and (< array-total-size-limit (expt 2 63))
       (handler-case (progn (make-array (expt 2 63) :element-type '(unsigned-byte 8)) nil)
         (error () t))))

;;; Rows that need threads: on a Lisp without them (CLISP) they are n/a, and
;;; the claim is checked: bordeaux-threads says there are none, making one
;;; fails, and socket-server :in-new-thread t signals usocket-cffi's
;;; UNSUPPORTED (the binding's documented answer) instead of serving.

(defparameter *needs-threads*
  '(("send-timeout-partial-thread" . "the write runs on a second thread")
    ("wait-timeout-on-nothing" . "a second thread samples the system call the waiting thread sits in")
    ("udp-server-timeout-keeps-serving" . "the server runs in a thread while this one sends")
    ("server-accept-reset" . "the server runs in a thread while this one connects")
    ("server-accept-emfile" . "the child's server runs in a thread while its main thread takes and frees the descriptors")))

(defun no-threads-checked-p ()
  (and (threads-absent-p)
       (handler-case (progn (socket-server +lo4+ 0 #'identity nil :in-new-thread t) nil)
         (unsupported () t))))

;;; Running the table.

(defun settled-counts (handles fds)
  "Open handles and descriptors after a fault, once finalizers of objects it
dropped have closed theirs: after a full GC (where one is cheap; on ABCL, a
JVM full GC of about 0.25 s, only when the counts differ from HANDLES and
FDS), and again after more GCs while they differ (finalizers may run on a
thread of their own)."
  (loop for try from 0
        do (when (or (plusp try) (cheap-full-gc-p)) (full-gc))
           (let ((h (usocket-cffi::%open-handles)) (f (fd-count)))
             (when (or (and (= h handles) (= f fds)) (= try 3))
               (return (values h f))))
           (sleep (* try 0.05))))

(defun read-table ()
  (with-open-file (in (merge-pathnames "faults.tsv" cl-user::*hardening-dir*) :external-format (utf-8))
    (loop for line = (read-line in nil)
          while line
          unless (or (zerop (length line)) (char= (char line 0) #\#))
            collect (split-tabs line))))

(defun run-faults ()
  (let ((rows (read-table)) (na 0) (seen '()) (netns (in-private-namespace-p)))
    (check (>= (length rows) 30) "the table has at least 30 faults" "~D" (length rows))
    (dolist (row rows)
      (if (/= (length row) 7)
          (check nil (format nil "table row ~A" (first row)) "~D columns, not 7" (length row))
          (destructuring-bind (id expected c python lisp needs description) row
            (declare (ignore c python description))
            (let ((fault (gethash id *faults*)))
              (cond ((and (>= (length lisp) 3) (string= "n/a" lisp :end2 3))
                     (incf na)
                     (when fault
                       (push id seen)
                       (check nil id "marked n/a for Lisp but the runner implements it"))
                     ;; Every n/a claim is checked: one without a check would pass
                     ;; whatever the binding does.
                     (let ((claim (gethash id *na-checks*)))
                       (check (and claim (ignore-errors (funcall claim))) (format nil "~A (n/a)" id)
                              "~:[no check of this claim: ~;~]~A" claim (subseq lisp (min 5 (length lisp))))))
                    ((string/= lisp "run")
                     (check nil id "the lisp column says ~S" lisp))
                    ((null fault)
                     (check nil id "no Lisp implementation of this fault"))
                    ((and (assoc id *needs-threads* :test #'string=) (not (threads-p)))
                     (push id seen)
                     (incf na)
                     (check (ignore-errors (no-threads-checked-p))
                            (format nil "~A (n/a on ~A)" id (implementation-name))
                            "needs threads (~A), which ~A ~A lacks~:[ (NOT confirmed: the check failed)~;~
                             : checked (none in bordeaux-threads, making one fails, ~
                             socket-server :in-new-thread t signals unsupported)~]"
                            (cdr (assoc id *needs-threads* :test #'string=))
                            (implementation-name)
                            (let ((v (lisp-implementation-version))) (subseq v 0 (position #\Space v)))
                            (ignore-errors (no-threads-checked-p))))
                    ((and (string= needs "netns") (not netns))
                     (push id seen)
                     (check nil id "not inside the private namespace (netns.sh): ~
                                    refusing to ask the real resolver"))
                    (t
                     (push id seen)
                     (when (cheap-full-gc-p) (full-gc))
                     (let* ((handles (usocket-cffi::%open-handles))
                            (fds (fd-count))
                            (t0 (now-ms))
                            (got (outcome fault))
                            (took (- (now-ms) t0)))
                       (multiple-value-bind (handles1 fds1) (settled-counts handles fds)
                         (cond ((string/= got expected)
                                (check nil id "expected ~A, got ~A" expected got))
                               ((or (/= handles handles1)
                                    (if (runtime-owns-descriptors-p) (> fds1 fds) (/= fds fds1)))
                                (check nil id "~A, but handles ~D -> ~D, descriptors ~D -> ~D"
                                       got handles handles1 fds fds1))
                               (t (check t id "~A (~D ms)" got (round took))))))))))))
    (maphash (lambda (id f)
               (declare (ignore f))
               (unless (member id seen :test #'string=)
                 (check nil id "implemented in Lisp but not marked run in the table")))
             *faults*)
    (format t "faults (Lisp): ~D rows, ~D n/a~%" (length rows) na)))

(defun remove-local-dir ()
  "Remove *local-dir* and whatever a failed fault left in it."
  (dolist (name (directory-entries *local-dir*))
    (delete-file* (format nil "~A/~A" *local-dir* name)))
  (delete-directory* *local-dir*))

(unwind-protect (run-faults)
  (remove-local-dir))
(summary (format nil "faults (Lisp, ~A)" (implementation-name)))
