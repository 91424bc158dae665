;;;; bench-lisp.lisp: one measurement of usocket on SBCL, either through
;;;; usocket-cffi (this binding) or through Debian's usocket 0.8.3, by the
;;;; same code (it is written against the package USOCKET; for the binding,
;;;; usocket-cffi/compat provides it).
;;;;
;;;; Usage:
;;;;   sbcl --script bench-lisp.lisp MEASURE IMPL [--key value]...
;;;;   (or MEASURE --impl IMPL [--key value]...)
;;;;
;;;;   IMPL: binding | usocket. For wait also binding-list, binding-waitlist,
;;;;         usocket-list, usocket-waitlist (or --method list|waitlist).
;;;;
;;;;   rtt    --size 1 --iters 200000 --seconds 1 --warmup 2000
;;;;          TCP echo round trip of SIZE bytes: write-sequence, force-output,
;;;;          read-sequence on an (unsigned-byte 8) stream.          unit "us"
;;;;   bulk   --bytes 2147483648 --read 65536 --seconds 60
;;;;          receive BYTES with read-sequence of READ bytes.       unit "GB/s"
;;;;   udp    --size 64 --iters 200000 --seconds 1 --warmup 2000
;;;;          socket-send then socket-receive on a connected UDP socket.   "us"
;;;;   wait   --n 1000 --iters 100000 --seconds 0.5 [--method list|waitlist] [--force 1]
;;;;          wait-for-input (:timeout 1 :ready-only t) over N idle UDP sockets
;;;;          plus one with a datagram queued and never read (last); on the
;;;;          list itself or on a wait list made once.                     "us"
;;;;          usocket with descriptors past 1023 is reported as failed without
;;;;          running (select() overflows; --force 1 runs it anyway).
;;;;   accept --count 4000 --backlog 4096 --rounds 5
;;;;          drain COUNT queued connections with socket-accept, per round a
;;;;          fresh listener; accepted sockets closed after the drain. "conn/s"
;;;;
;;;;   paired-rtt / paired-udp  IMPL ignored (say "both"); same options as rtt/udp
;;;;          Loads both implementations into one image and alternates their
;;;;          blocks on two connections to two identical peers, so machine
;;;;          load hits both alike. value: binding median / usocket median;
;;;;          "binding_us" and "usocket_us" hold the two medians.    unit "ratio"
;;;;
;;;;   --streams native|gray (any measure): the binding's stream is SBCL's
;;;;          fd-stream or its own Gray stream (default: compat native, plain gray).
;;;;
;;;; Prints exactly one JSON line on stdout, as bench/c does:
;;;;   {"status":"ok","measure":"rtt","impl":"binding","value":5.1,"unit":"us",
;;;;    "count":...,"elapsed_s":...,"mean":...,"blocks":20}
;;;; or {"status":"failed","measure":...,"impl":...,"reason":"..."} (exit 2).
;;;; Round trips and waits run in 20 timed blocks (each bounded by
;;;; ITERS/20 operations and SECONDS/20 seconds); the value is the median
;;;; block's time per operation, "mean" the overall mean. The peers (echo
;;;; server, bulk sender, UDP echo) are forked processes making raw system
;;;; calls, the same for both IMPLs; run under `taskset -c 0` to share a CPU.
;;;; The library of the binding is found as usocket-cffi finds it
;;;; (USOCKET_LIBRARY, then the repository's target/release).

(require :asdf)
(require :sb-posix)
(require :sb-bsd-sockets)

(defpackage #:bench-lisp (:use #:common-lisp))
(in-package #:bench-lisp)

(defvar *measure* (or (second sb-ext:*posix-argv*) "?"))
(defvar *args* (cddr sb-ext:*posix-argv*))
;; IMPL positional (third argument), or as --impl IMPL anywhere after MEASURE.
(defvar *impl*
  (let ((tail (member "--impl" *args* :test #'string=)))
    (cond (tail (prog1 (or (second tail) "?")
                  (setf *args* (append (ldiff *args* tail) (cddr tail)))))
          ((and *args* (not (eql 0 (search "--" (first *args*)))))
           (pop *args*))
          (t "?"))))

(defun json-string (s)
  (with-output-to-string (out)
    (write-char #\" out)
    (loop for c across (princ-to-string s)
          do (cond ((member c '(#\" #\\)) (write-char #\\ out) (write-char c out))
                   ((< (char-code c) 32) (format out "\\u~4,'0X" (char-code c)))
                   (t (write-char c out))))
    (write-char #\" out)))

(define-condition measure-failed (error) ((text :initarg :text :reader text))
  (:report (lambda (c s) (write-string (text c) s))))

(defvar *collect*)

(defun fail (format &rest args)
  (when (and (boundp '*collect*) (consp *collect*))
    (error 'measure-failed :text (apply #'format nil format args)))
  (format t "{\"status\":\"failed\",\"measure\":~A,\"impl\":~A,\"reason\":~A}~%"
          (json-string *measure*) (json-string *impl*)
          (json-string (apply #'format nil format args)))
  (finish-output)
  (sb-ext:exit :code 2 :abort t))

(defun opt (key default)
  (let ((tail (member (format nil "--~A" key) *args* :test #'string=)))
    (if (and tail (cdr tail))
        (let ((v (second tail)))
          (if (numberp default)
              (let ((*read-default-float-format* 'double-float))
                (let ((n (with-standard-io-syntax
                           (let ((*read-eval* nil) (*read-default-float-format* 'double-float))
                             (read-from-string v)))))
                  (if (realp n) n (fail "--~A wants a number, not ~A" key v))))
              v))
        default)))

(defun now ()
  "Seconds on CLOCK_MONOTONIC (GET-INTERNAL-REAL-TIME is a coarse clock on Linux)."
  (multiple-value-bind (sec nsec) (sb-unix::clock-gettime 1)
    (+ sec (* nsec 1d-9))))

(defun result (value unit count elapsed &rest extra)
  (when (consp *collect*)
    (setf (car *collect*) (list* value unit :count count :elapsed elapsed extra))
    (return-from result nil))
  (format t "{\"status\":\"ok\",\"measure\":~A,\"impl\":~A,\"value\":~,6F,\"unit\":~A,\"count\":~D,\"elapsed_s\":~,6F~{,~A:~A~}}~%"
          (json-string *measure*) (json-string *impl*) value (json-string unit) count elapsed
          (loop for (k v) on extra by #'cddr
                collect (json-string (string-downcase (string k)))
                collect (cond ((stringp v) (json-string v))
                              ((integerp v) (format nil "~D" v))
                              (t (format nil "~,6F" v)))))
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

;;; Forked raw peers (raw system calls only; they die with this process).

(defun die-with-parent ()
  (sb-alien:alien-funcall (sb-alien:extern-alien "prctl" (function sb-alien:int sb-alien:int
                                                                   sb-alien:unsigned-long))
                          1 9))                ; PR_SET_PDEATHSIG, SIGKILL

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


;;; Loading the implementation measured.

(defun load-impl ()
  (let ((impl (subseq *impl* 0 (or (position #\- *impl*) (length *impl*))))
        (log (make-string-output-stream)))
    (handler-case
        (let ((*standard-output* log) (*error-output* log))
          (cond ((string= impl "both")
                 (push (merge-pathnames "../" (make-pathname :name nil :type nil
                                                             :defaults *load-truename*))
                       asdf:*central-registry*)
                 (asdf:load-system "usocket")
                 (asdf:load-system "usocket-cffi"))
                ((string= impl "binding")
                 (push (merge-pathnames "../" (make-pathname :name nil :type nil
                                                             :defaults *load-truename*))
                       asdf:*central-registry*)
                 (asdf:load-system "usocket-cffi/compat"))
                ((string= impl "usocket")
                 (asdf:load-system "usocket"))
                (t (error "IMPL must be binding or usocket, not ~A" *impl*))))
      (error (e) (fail "loading ~A: ~A" impl e)))))

(defvar *bench-dir* (make-pathname :name nil :type nil :defaults *load-truename*))

(load-impl)

;; --streams native|gray: the binding's SOCKET-STREAM is SBCL's fd-stream
;; (usocket-cffi/compat's default) or the binding's own Gray stream (plain
;; usocket-cffi's default). Without it each system keeps its default.
(let ((streams (opt "streams" nil))
      (var (and (find-package "USOCKET-CFFI")
                (find-symbol "*NATIVE-STREAMS*" "USOCKET-CFFI"))))
  (when (and streams var)
    (setf (symbol-value var)
          (cond ((string= streams "native") t)
                ((string= streams "gray") nil)
                (t (fail "--streams wants native or gray, not ~A" streams))))))

;;; The measures (bench/measures.lisp, written against usocket's API) are
;;; compiled into a package of their own for each implementation loaded: with
;;; both loaded, once while USOCKET names native usocket (package
;;; BENCH-NATIVE) and once while it names usocket-cffi (BENCH-BINDING), so
;;; the same code measures both in one image.

(defun octets (n &optional (fill 97))
  (make-array n :element-type '(unsigned-byte 8) :initial-element fill))

(setf *collect* nil)
(setf (documentation '*collect* 'variable)
  "When a cons, RESULT stores (value unit . extras) in its car instead of printing.")

(defun load-measures (package-name)
  (let ((package (or (find-package package-name) (make-package package-name :use '(:cl)))))
    (do-symbols (s :bench-lisp)
      (when (eq (symbol-package s) (find-package :bench-lisp))
        (shadowing-import s package)))
    (let ((*package* package)
          (*error-output* (make-broadcast-stream)) (*standard-output* (make-broadcast-stream)))
      (load (compile-file (merge-pathnames "measures.lisp" *bench-dir*)
                          :output-file (format nil "/tmp/bench-measures-~(~A~)-~D.fasl"
                                               package-name (sb-unix:unix-getpid)))))
    package))

(defun measure-function (package name)
  (symbol-function (find-symbol (string-upcase name) package)))

(cond ((string= (subseq *impl* 0 (min 4 (length *impl*))) "both")
       (load-measures "BENCH-NATIVE")
       ;; Now USOCKET names the binding.
       (rename-package (find-package "USOCKET") "USOCKET-NATIVE")
       (rename-package (find-package "USOCKET-CFFI") "USOCKET-CFFI" '("USOCKET"))
       (load-measures "BENCH-BINDING"))
      (t (load-measures "BENCH-ONE")))

(defun fn (package name)
  (symbol-function (find-symbol (string-upcase name) package)))

(defun paired (kind)
  "Alternate blocks of the two implementations; KIND is :rtt or :udp."
  (let* ((size (opt "size" (if (eq kind :rtt) 1 64))) (iters (opt "iters" 200000))
         (secs (opt "seconds" 2)) (warm (opt "warmup" 2000))
         (per (max 1 (floor iters (* 2 +blocks+))))
         (block-seconds (/ secs (* 2 +blocks+)))
         (results '()))
    (flet ((client (package)
             (ecase kind
               (:rtt (let ((listener (raw-listener)))
                       (fork-tcp-echo listener)
                       (prog1 (funcall (fn package "socket-connect") "127.0.0.1" (port-of listener)
                                       :element-type '(unsigned-byte 8))
                         (sb-bsd-sockets:socket-close listener))))
               (:udp (let ((peer (make-instance 'sb-bsd-sockets:inet-socket :type :datagram
                                                                            :protocol :udp)))
                       (sb-bsd-sockets:socket-bind peer #(127 0 0 1) 0)
                       (fork-udp-echo peer)
                       (prog1 (funcall (fn package "socket-connect") "127.0.0.1" (port-of peer)
                                       :protocol :datagram :timeout 2)
                         (sb-bsd-sockets:socket-close peer)))))))
      (let* ((impls (list (list "binding" "USOCKET-CFFI" (client "USOCKET-CFFI") '())
                          (list "usocket" "USOCKET-NATIVE" (client "USOCKET-NATIVE") '())))
             (out (octets size)) (in (octets 65536 0)))
        (dolist (impl impls)
          (destructuring-bind (name package socket times) impl
            (declare (ignore name times))
            (let* ((stream (and (eq kind :rtt) (funcall (fn package "socket-stream") socket)))
                   (send (fn package "socket-send")) (receive (fn package "socket-receive"))
                   (f (ecase kind
                        (:rtt (lambda ()
                                (write-sequence out stream)
                                (force-output stream)
                                (read-sequence in stream :end size)))
                        (:udp (lambda ()
                                (funcall send socket out size)
                                (funcall receive socket in 65536))))))
              (setf (fourth impl) f)
              (dotimes (i warm) (funcall f)))))
        (let ((blocks (list (cons "binding" '()) (cons "usocket" '()))))
          (dotimes (b (* 2 +blocks+))
            (let* ((impl (nth (mod (+ b (floor b 2)) 2) impls))
                   (f (fourth impl))
                   (t0 (now)) (deadline (+ t0 block-seconds)) (n 0))
              (loop while (< n per)
                    do (funcall f) (incf n)
                       (when (and (zerop (logand n 15)) (> (now) deadline)) (return)))
              (push (/ (- (now) t0) n) (cdr (assoc (first impl) blocks :test #'string=)))))
          (let ((ours (* 1d6 (median (cdr (assoc "binding" blocks :test #'string=)))))
                (theirs (* 1d6 (median (cdr (assoc "usocket" blocks :test #'string=))))))
            (setf results (list ours theirs))
            (result (/ ours theirs) "ratio" (* 2 +blocks+) 0d0
                    "binding_us" ours "usocket_us" theirs "size" size)))))
    results))

(defparameter +paired-rows+
  '(("rtt 1 B" "m-rtt" :time ("--size" "1" "--iters" "60000" "--seconds" "0.6"))
    ("rtt 64 B" "m-rtt" :time ("--size" "64" "--iters" "60000" "--seconds" "0.6"))
    ("bulk 64 KiB reads" "m-bulk" :rate ("--bytes" "536870912" "--read" "65536"))
    ("udp 64 B" "m-udp" :time ("--size" "64" "--iters" "60000" "--seconds" "0.6"))
    ("wait 300+1, list" "m-wait" :time ("--n" "300" "--method" "list" "--iters" "20000"
                                        "--seconds" "0.3"))
    ("wait 300+1, wait list" "m-wait" :time ("--n" "300" "--method" "waitlist" "--iters" "20000"
                                             "--seconds" "0.3"))
    ("accept drain 1000" "m-accept" :rate ("--count" "1000" "--rounds" "1" "--backlog" "1024")))
  "(name measure kind args): KIND :time (smaller is better) or :rate (larger).")

(defun paired-all ()
  "Every row of +PAIRED-ROWS+, binding and native usocket alternating
(--runs, 3 each), one JSON line per row: the medians and their ratio, binding
over native in time (below 1: the binding is faster)."
  (let ((runs (opt "runs" 3)))
    (dolist (row +paired-rows+)
      (destructuring-bind (name measure kind args) row
        (let ((values (list (cons "BENCH-BINDING" '()) (cons "BENCH-NATIVE" '())))
              (failure nil) (unit nil))
          (dotimes (r runs)
            (dolist (package (if (evenp r) '("BENCH-BINDING" "BENCH-NATIVE")
                                 '("BENCH-NATIVE" "BENCH-BINDING")))
              (let ((*collect* (list nil)) (*args* args))
                (handler-case
                    (progn (funcall (measure-function package measure))
                           (setf unit (second (car *collect*)))
                           (push (first (car *collect*)) (cdr (assoc package values :test #'string=))))
                  (error (e) (setf failure (format nil "~A: ~A" package e)))))))
          (let ((b (cdr (assoc "BENCH-BINDING" values :test #'string=)))
                (n (cdr (assoc "BENCH-NATIVE" values :test #'string=))))
            (if (or (null b) (null n))
                (format t "{\"status\":\"failed\",\"measure\":~A,\"reason\":~A}~%"
                        (json-string name) (json-string (or failure "no result")))
                (let* ((mb (median b)) (mn (median n))
                       (ratio (if (eq kind :time) (/ mb mn) (/ mn mb))))
                  (format t "{\"status\":\"ok\",\"measure\":~A,\"unit\":~A,\"binding\":~,4F,~
                             \"usocket\":~,4F,\"ratio\":~,3F,\"runs\":~D}~%"
                          (json-string name) (json-string unit) mb mn ratio runs)))
            (finish-output)))))))

(handler-case
    (let ((measure *measure*))
      (cond ((member measure '("rtt" "bulk" "udp" "wait" "accept") :test #'string=)
             (funcall (measure-function "BENCH-ONE" (format nil "m-~A" measure))))
            ((string= measure "paired-rtt") (paired :rtt))
            ((string= measure "paired-udp") (paired :udp))
            ((string= measure "paired-all") (paired-all))
            (t (fail "unknown measure ~A (rtt bulk udp wait accept)" measure))))
  (error (e) (fail "~A" e)))
(sb-ext:exit :code 0 :abort t)
