;;;; support.lisp: what bench-lisp.lisp's measures need from the Lisp they run
;;;; on, compiled (COMPILE-FILE, cached) into the package BENCH-LISP. Every
;;;; #+sbcl/#+ecl/#+clisp of the bench is here and in bench-lisp.lisp's few
;;;; lines of start-up and exit; measures.lisp has none.
;;;;
;;;;   NOW                 seconds on CLOCK_MONOTONIC (GET-INTERNAL-REAL-TIME is
;;;;                       a 1-4 ms clock here: ECL counts milliseconds)
;;;;   the peers           echo servers, bulk sender, UDP echo, the sender of the
;;;;                       wait's one datagram, the accept drain's clients.
;;;;                       SBCL forks raw-syscall peers of its own (the bench's
;;;;                       behaviour since version 0.1); elsewhere each peer is a
;;;;                       process of bench/build/bench_peer (raw C, bench/c/
;;;;                       bench_peer.c; CLISP has no threads and no fork, and
;;;;                       one C program is the same peer for both sides).
;;;;   NATIVE-DESCRIPTOR   the descriptor of a native usocket datagram socket
;;;;
;;;; Timed blocks, RESULT and MEDIAN are portable and here too, compiled.

(in-package #:bench-lisp)

;;; The clock.

#+sbcl
(defun now ()
  "Seconds on CLOCK_MONOTONIC (GET-INTERNAL-REAL-TIME is a coarse clock on Linux)."
  (multiple-value-bind (sec nsec) (sb-unix::clock-gettime 1)
    (+ sec (* nsec 1d-9))))

#-sbcl
(progn
  (cffi:defcfun ("clock_gettime" %clock-gettime) :int (clock :int) (ts :pointer))
  (defvar *timespec* (cffi:foreign-alloc :int64 :count 2))
  (defun now ()
    "Seconds on CLOCK_MONOTONIC, through CFFI (one foreign call, no allocation
of foreign memory; loaded with both implementations measured)."
    (let ((ts *timespec*))
      (%clock-gettime 1 ts)
      (+ (cffi:mem-aref ts :int64 0) (* (cffi:mem-aref ts :int64 1) 1d-9)))))

(defvar *unsupported* '()
  "What native usocket said it does not support and the measure went on without.")

(defun result (value unit count elapsed &rest extra)
  (when *unsupported*
    (setf extra (append extra (list "unsupported" (format nil "~{~A~^ ~}" *unsupported*)))))
  (when (consp *collect*)
    (setf (car *collect*) (list* value unit :count count :elapsed elapsed extra))
    (return-from result nil))
  (format t "{\"status\":\"ok\",\"measure\":~A,\"impl\":~A,\"value\":~,6F,\"unit\":~A,\"count\":~D,\"elapsed_s\":~,6F~{,~A:~A~}}~%"
          (json-string *measure*) (json-string *impl*) (float value 1d0) (json-string unit) count
          (float elapsed 1d0)
          (loop for (k v) on extra by #'cddr
                collect (json-string (string-downcase (string k)))
                collect (cond ((stringp v) (json-string v))
                              ((integerp v) (format nil "~D" v))
                              (t (format nil "~,6F" (float v 1d0))))))
  (finish-output))

;;; Timed blocks, as bench/c/common.h.

(defconstant +blocks+ 20)

(defun median (list)
  (let* ((v (sort (coerce list 'vector) #'<)) (n (length v)))
    (if (oddp n) (aref v (floor n 2)) (/ (+ (aref v (1- (floor n 2))) (aref v (floor n 2))) 2))))

(defmacro timed-blocks ((max-count max-seconds) &body body)
  "Run BODY in +BLOCKS+ blocks; return (values median-us mean-us count elapsed)."
  `(let* ((per (max 1 (floor ,max-count +blocks+)))
          (block-seconds (/ ,max-seconds +blocks+))
          (per-op '()) (total 0) (total-time 0d0))
     (dotimes (b +blocks+)
       (let* ((t0 (now)) (deadline (+ t0 block-seconds)) (n 0))
         (loop while (< n per)
               do (progn ,@body)
                  (incf n)
                  (when (and (zerop (logand n 15)) (> (now) deadline)) (return)))
         (let ((el (- (now) t0)))
           (push (/ el n) per-op)
           (incf total n)
           (incf total-time el))))
     (values (* 1d6 (median per-op)) (* 1d6 (/ total-time total)) total total-time)))

(defun octets (n &optional (fill 97))
  (make-array n :element-type '(unsigned-byte 8) :initial-element fill))

;;; The peers. Each function returns the port to talk to and a function to
;;; call once connected (it closes what the measuring process no longer needs).

#+sbcl
(progn
  ;; Forked raw peers (raw system calls only; they die with this process).
  (defun die-with-parent ()
    (sb-alien:alien-funcall (sb-alien:extern-alien "prctl" (function sb-alien:int sb-alien:int
                                                                     sb-alien:unsigned-long))
                            1 9))              ; PR_SET_PDEATHSIG, SIGKILL

  (defmacro forked (&body body)
    "Run BODY in a child process, which then exits."
    `(let ((pid (sb-posix:fork)))
       (if (zerop pid)
           (progn (die-with-parent)
                  (ignore-errors ,@body)
                  (sb-ext:exit :code 0 :abort t))
           pid)))

  (defun raw-listener (&optional (backlog 16))
    (let ((s (make-instance 'sb-bsd-sockets:inet-socket :type :stream :protocol :tcp)))
      (setf (sb-bsd-sockets:sockopt-reuse-address s) t)
      (sb-bsd-sockets:socket-bind s #(127 0 0 1) 0)
      (sb-bsd-sockets:socket-listen s backlog)
      s))

  (defun port-of (s) (nth-value 1 (sb-bsd-sockets:socket-name s)))

  (defvar *peer-buffer* nil)
  (defun peer-buffer ()
    (or *peer-buffer*
        (setf *peer-buffer* (sb-alien:alien-sap (sb-alien:make-alien (sb-alien:unsigned 8) 1048576)))))

  (defun write-all (fd sap n)
    (let ((off 0))
      (loop while (< off n)
            do (let ((w (sb-unix:unix-write fd sap off (- n off))))
                 (unless (and w (plusp w)) (return-from write-all nil))
                 (incf off w))))
    t)

  (defun fork-tcp-echo (listener)
    (forked
      (let* ((c (sb-bsd-sockets:socket-accept listener))
             (fd (sb-bsd-sockets:socket-file-descriptor c))
             (buf (peer-buffer)))
        (setf (sb-bsd-sockets:sockopt-tcp-nodelay c) t)
        (loop (let ((n (sb-unix:unix-read fd buf 65536)))
                (unless (and n (plusp n)) (return))
                (unless (write-all fd buf n) (return)))))))

  (defun fork-bulk-sender (listener total)
    (forked
      (let* ((c (sb-bsd-sockets:socket-accept listener))
             (fd (sb-bsd-sockets:socket-file-descriptor c))
             (buf (peer-buffer)))
        (loop with left = total
              while (plusp left)
              do (let ((n (min left 1048576)))
                   (unless (write-all fd buf n) (return))
                   (decf left n)))
        (sb-unix:unix-close fd))))

  (defun fork-udp-echo (udp)
    (forked
      (let ((fd (sb-bsd-sockets:socket-file-descriptor udp))
            (buf (peer-buffer))
            (recvfrom (sb-alien:extern-alien "recvfrom" (function sb-alien:long sb-alien:int
                                                                  sb-sys:system-area-pointer
                                                                  sb-alien:unsigned-long sb-alien:int
                                                                  sb-sys:system-area-pointer
                                                                  sb-sys:system-area-pointer)))
            (sendto (sb-alien:extern-alien "sendto" (function sb-alien:long sb-alien:int
                                                              sb-sys:system-area-pointer
                                                              sb-alien:unsigned-long sb-alien:int
                                                              sb-sys:system-area-pointer
                                                              sb-alien:unsigned))))
        (sb-alien:with-alien ((addr (array (sb-alien:unsigned 8) 128))
                              (len sb-alien:unsigned))
          (loop
            (setf len 128)
            (let ((n (sb-alien:alien-funcall recvfrom fd buf 65536 0
                                             (sb-alien:alien-sap addr)
                                             (sb-alien:alien-sap (sb-alien:addr len)))))
              (when (< n 0) (return))
              (sb-alien:alien-funcall sendto fd buf n 0 (sb-alien:alien-sap addr) len)))))))

  (defun peer-tcp-echo ()
    (let ((listener (raw-listener)))
      (fork-tcp-echo listener)
      (values (port-of listener) (lambda () (sb-bsd-sockets:socket-close listener)))))

  (defun peer-bulk (total)
    (let ((listener (raw-listener)))
      (fork-bulk-sender listener total)
      (values (port-of listener) (lambda () (sb-bsd-sockets:socket-close listener)))))

  (defun peer-udp-echo ()
    (let ((peer (make-instance 'sb-bsd-sockets:inet-socket :type :datagram :protocol :udp)))
      (sb-bsd-sockets:socket-bind peer #(127 0 0 1) 0)
      (fork-udp-echo peer)
      (values (port-of peer) (lambda () (sb-bsd-sockets:socket-close peer)))))

  (defun send-one-datagram (port)
    (let ((sender (make-instance 'sb-bsd-sockets:inet-socket :type :datagram :protocol :udp)))
      (sb-bsd-sockets:socket-send sender (octets 1) 1 :address (list #(127 0 0 1) port))
      (sb-bsd-sockets:socket-close sender)))

  (defun connect-clients (port count)
    "COUNT plain TCP connections to 127.0.0.1:PORT; a function closing them."
    (let ((clients (loop repeat count
                         collect (let ((s (make-instance 'sb-bsd-sockets:inet-socket
                                                         :type :stream :protocol :tcp)))
                                   (sb-bsd-sockets:socket-connect s #(127 0 0 1) port)
                                   s))))
      (lambda () (dolist (c clients) (sb-bsd-sockets:socket-close c))))))

#-sbcl
(progn
  (defvar *peer-program* nil "bench/build/bench_peer (--peer PATH).")
  (defvar *peers* '() "The output streams of the peers started (kept open).")

  (defun peer-program ()
    (or *peer-program*
        (setf *peer-program*
              (namestring (or (let ((p (opt "peer" nil))) (and p (probe-file p)))
                              (probe-file (merge-pathnames "../../../bench/build/bench_peer" *bench-dir*))
                              (fail "no peer program: build bench/build/bench_peer (bench/run.py does) ~
                                     or pass --peer PATH"))))))

  (defun start-peer (&rest args)
    "Start bench_peer with ARGS; return the line it prints when ready."
    (let* ((args (mapcar #'princ-to-string args))
           (out #+clisp (ext:run-program (peer-program) :arguments args :input nil
                                                        :output :stream :wait nil)
                #-clisp (uiop:process-info-output
                         (uiop:launch-program (cons (peer-program) args) :input nil
                                                                          :output :stream)))
           (line (read-line out nil nil)))
      (push out *peers*)
      (if (and line (plusp (length line)) (digit-char-p (char line 0)))
          line
          (fail "peer ~{~A~^ ~}: ~A" args (or line "no output")))))

  (defun peer-port (&rest args)
    (values (parse-integer (apply #'start-peer args)) (lambda ())))

  (defun peer-tcp-echo () (peer-port "tcp-echo"))
  (defun peer-bulk (total) (peer-port "bulk" total))
  (defun peer-udp-echo () (peer-port "udp-echo"))
  (defun send-one-datagram (port) (start-peer "udp-send" port))
  (defun connect-clients (port count)
    "COUNT plain TCP connections to 127.0.0.1:PORT from a peer process, which
ends once the accepted sockets were closed."
    (let ((line (start-peer "connect" port count)))
      (unless (eql count (parse-integer line :junk-allowed t)) (fail "connect peer: ~A" line))
      (lambda ()))))

(defun native-descriptor (s)
  "The descriptor of S, what native usocket's USOCKET:SOCKET gives for a
datagram socket, or NIL."
  (cond ((integerp s) s)                    ; CLISP's rawsock datagram sockets
        ((find-package "SB-BSD-SOCKETS")    ; SBCL, ECL
         (ignore-errors (uiop:symbol-call "SB-BSD-SOCKETS" "SOCKET-FILE-DESCRIPTOR" s)))
        (t nil)))
