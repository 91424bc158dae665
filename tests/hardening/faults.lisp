;;;; faults.lisp: the Lisp (SBCL, usocket-cffi) runner of the shared fault
;;;; table (faults.tsv).
;;;;
;;;;   sbcl --noinform --non-interactive --no-userinit --no-sysinit \
;;;;        --load tests/hardening/faults.lisp
;;;;
;;;; Every fault whose `lisp` column says `run` is provoked through
;;;; usocket-cffi's API (the raw-handle faults through its own FFI layer and
;;;; status mapping, as the table's header explains) and must signal the
;;;; condition whose class name is the table's `expected` (`end-of-file`:
;;;; CL's END-OF-FILE from a read). The `n/a` rows check their reason where it
;;;; can be checked. Unknown-host faults run only inside the private
;;;; namespace of netns.sh. Prints one line per fault and "N passed, M
;;;; failed" last.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(defparameter *unknown* "no-such-host.invalid")

(defun outcome (thunk)
  "The class name of the condition THUNK signals (as an error), or \"ok\"."
  (handler-case
      (sb-ext:with-timeout 30
        (let ((r (funcall thunk)))
          (if (eq r :eof) "end-of-file" "ok")))
    (sb-ext:timeout () "took more than 30 s")
    ((or error socket-condition ns-condition) (c) (condition-name c))))

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
         (h (socket u)))
    (socket-close u)
    (get-local-name (adopt h))))

(deffault "zero-handle"
  (get-local-name (adopt 0)))

(deffault "double-close"
  (let* ((l (socket-listen +lo4+ 0))
         (h (socket l)))
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

(defna "wrong-kind-read-datagram"
  (let ((u (udp))) (with-closing (u) (no-method-p #'socket-stream u))))

(defna "wrong-kind-accept-stream"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l) (no-method-p #'socket-accept c))))

(defna "wrong-kind-send-stream"
  (multiple-value-bind (c a l) (pair)
    (with-closing (c a l) (no-method-p #'socket-send c (octets 1) 1))))

(defna "wrong-kind-receive-listener"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l) (no-method-p #'socket-receive l nil nil))))

(defna "wrong-kind-write-listener"
  (let ((l (socket-listen +lo4+ 0)))
    (with-closing (l) (no-method-p #'socket-stream l))))

;;; Running the table.

(defun read-table ()
  (with-open-file (in (merge-pathnames "faults.tsv" cl-user::*hardening-dir*) :external-format :utf-8)
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
                     (let ((claim (gethash id *na-checks*)))
                       (when claim
                         (check (ignore-errors (funcall claim)) (format nil "~A (n/a)" id)
                                "~A" (subseq lisp (min 5 (length lisp)))))))
                    ((string/= lisp "run")
                     (check nil id "the lisp column says ~S" lisp))
                    ((null fault)
                     (check nil id "no Lisp implementation of this fault"))
                    ((and (string= needs "netns") (not netns))
                     (push id seen)
                     (check nil id "not inside the private namespace (netns.sh): ~
                                    refusing to ask the real resolver"))
                    (t
                     (push id seen)
                     (full-gc)
                     (let* ((handles (usocket-cffi::%open-handles))
                            (fds (fd-count))
                            (t0 (now-ms))
                            (got (outcome fault))
                            (took (- (now-ms) t0)))
                       ;; Finalizers of objects a fault dropped close their handles.
                       (full-gc)
                       (let ((handles1 (usocket-cffi::%open-handles)) (fds1 (fd-count)))
                         (cond ((string/= got expected)
                                (check nil id "expected ~A, got ~A" expected got))
                               ((or (/= handles handles1) (/= fds fds1))
                                (check nil id "~A, but handles ~D -> ~D, descriptors ~D -> ~D"
                                       got handles handles1 fds fds1))
                               (t (check t id "~A (~D ms)" got (round took))))))))))))
    (maphash (lambda (id f)
               (declare (ignore f))
               (unless (member id seen :test #'string=)
                 (check nil id "implemented in Lisp but not marked run in the table")))
             *faults*)
    (format t "faults (Lisp): ~D rows, ~D n/a~%" (length rows) na)))

(run-faults)
(summary "faults (Lisp)")
