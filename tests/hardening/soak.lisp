;;;; soak.lisp: the Lisp soak. N connect/accept/close cycles (default 5,000;
;;;; USOCKET_SOAK_CYCLES, run.sh soak: 100,000) through usocket-cffi, mixed
;;;; with refused connects, read and accept timeouts, resets (SO_LINGER 0)
;;;; and double closes, every outcome checked.
;;;;
;;;;   USOCKET_SOAK_CYCLES=N sbcl --noinform --non-interactive --no-userinit \
;;;;        --no-sysinit --load tests/hardening/soak.lisp
;;;;
;;;; After a warm-up (N/10 cycles, at least 500) and a full GC, the descriptor
;;;; count (/proc/self/fd), the core's open handles and VmRSS are the
;;;; baseline; after the N cycles (and a full GC, which also runs the
;;;; finalizers of dropped sockets) descriptors and handles must be back to it
;;;; exactly and VmRSS within 1 MiB. The nursery is set to 8 MiB so that the
;;;; heap's resident high-water mark is reached during the warm-up.

(load (merge-pathnames "hlisp.lisp" *load-truename*))
(in-package #:usocket-hardening)

(setf (sb-ext:bytes-consed-between-gcs) (* 8 1024 1024))

(defvar *listener*)
(defvar *port*)
(defvar *idle*)
(defvar *dead*)
(defvar *failures* 0)
(defvar *counts* (make-array 6 :initial-element 0))

(defun fail (cycle format &rest args)
  (when (<= (incf *failures*) 10)
    (format t "  cycle ~D: ~?~%" cycle format args)
    (finish-output)))

(defmacro expect (cycle class form)
  "FORM must signal CLASS; true if it did."
  `(handler-case (progn ,form (fail ,cycle "expected ~A, got no error" ',class) nil)
     (,class () t)
     ((or error socket-condition ns-condition) (c)
       (fail ,cycle "expected ~A, got ~A: ~A" ',class (condition-name c) c)
       nil)))

(defun connect (&optional timeout)
  (let ((c (socket-connect +lo4+ *port* :element-type '(unsigned-byte 8) :timeout timeout)))
    (values c (socket-accept *listener*))))

(defun raw-close-status (handle)
  (let ((code (usocket-cffi::%close handle)))
    (unless (zerop code)
      (usocket-cffi::signal-status code (usocket-cffi::%last-error-message) (usocket-cffi::%last-os-error)))))

(defun one-cycle (i)
  ;; Of every 20 cycles: 12 clean, 2 refused, 1 read timeout, 2 resets,
  ;; 2 double closes, 1 accept timeout.
  (case (mod i 20)
    ((12 13)
     (when (expect i connection-refused-error (socket-close (socket-connect +lo4+ *dead* :timeout 2)))
       (incf (aref *counts* 1))))
    (14
     (multiple-value-bind (c s) (connect 0.001)
       (unwind-protect
            (when (expect i timeout-error (read-byte (socket-stream c)))
              (incf (aref *counts* 2)))
         (socket-close s)
         (socket-close c))))
    (15
     (when (expect i timeout-error (socket-close (socket-accept *idle*)))
       (incf (aref *counts* 5))))
    ((16 17)
     (multiple-value-bind (c s) (connect 5)
       (linger0 s)
       (socket-close s)
       (unwind-protect
            (when (expect i connection-reset-error (read-byte (socket-stream c)))
              (incf (aref *counts* 3)))
         (socket-close c))))
    ((18 19)
     (multiple-value-bind (c s) (connect 5)
       (let ((ok t))
         (dolist (sock (list c s))
           (let ((h (usocket-cffi::socket-handle sock)))
             (socket-close sock)
             (socket-close sock)        ; idempotent
             (setf ok (and (expect i invalid-handle-error (raw-close-status h)) ok))))
         (when ok (incf (aref *counts* 4))))))
    (t
     (multiple-value-bind (c s) (connect 5)
       (let ((b (mod i 256)))
         (write-byte b (socket-stream c))
         (force-output (socket-stream c))
         (let ((got (read-byte (socket-stream s))))
           (unless (= got b) (fail i "read ~D, wrote ~D" got b))))
       (if (oddp i)
           (progn (socket-close c) (socket-close s))
           (progn (socket-close s) (socket-close c)))
       (incf (aref *counts* 0))))))

(defun settle ()
  "Two full GCs (the finalizers of the first run before the second)."
  (full-gc)
  (sb-impl::run-pending-finalizers)
  (full-gc))

(defun run-soak ()
  (let* ((n (getenv-integer "USOCKET_SOAK_CYCLES" 5000))
         (warm (max 500 (floor n 10))))
    (setf *listener* (socket-listen +lo4+ 0 :backlog 128 :reuse-address t :element-type '(unsigned-byte 8))
          *port* (get-local-port *listener*)
          *idle* (socket-listen +lo4+ 0 :backlog 1)
          *dead* (dead-port))
    (setf (socket-option *idle* :receive-timeout) 0.001)
    (dotimes (i warm) (one-cycle i))
    (fill *counts* 0)
    (settle)
    (let ((fds0 (fd-count)) (handles0 (usocket-cffi::%open-handles)) (rss0 (rss-kib))
          (t0 (now-ms)))
      (loop for i from warm below (+ warm n) do (one-cycle i))
      (let ((secs (/ (- (now-ms) t0) 1000)))
        (settle)
        (let ((fds1 (fd-count)) (handles1 (usocket-cffi::%open-handles)) (rss1 (rss-kib)))
          (socket-close *listener*)
          (socket-close *idle*)
          (format t "soak (Lisp): ~D cycles in ~,1F s (~D/s): ~D clean, ~D refused, ~D read timeouts, ~
                     ~D resets, ~D double closes, ~D accept timeouts~%"
                  n secs (round n secs) (aref *counts* 0) (aref *counts* 1) (aref *counts* 2)
                  (aref *counts* 3) (aref *counts* 4) (aref *counts* 5))
          (format t "soak (Lisp): descriptors ~D -> ~D, handles ~D -> ~D, VmRSS ~D -> ~D KiB (~@D KiB)~%"
                  fds0 fds1 handles0 handles1 rss0 rss1 (- rss1 rss0))
          (check (zerop *failures*) "every cycle ended as expected" "~D failed" *failures*)
          (check (= fds1 fds0) "descriptors back to the baseline")
          (check (= handles1 handles0) "handles back to the baseline")
          (check (<= (- rss1 rss0) 1024) "VmRSS within 1 MiB of the baseline"))))))

(run-soak)
(summary "soak (Lisp)")
