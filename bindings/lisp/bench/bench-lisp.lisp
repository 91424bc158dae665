;;;; bench-lisp.lisp: one measurement of usocket on SBCL, ECL or CLISP, either through
;;;; usocket-cffi (this binding) or through Debian's usocket 0.8.3, by the
;;;; same code (it is written against the package USOCKET; for the binding,
;;;; usocket-cffi/compat provides it).
;;;;
;;;; Usage:
;;;;   sbcl --script bench-lisp.lisp MEASURE IMPL [--key value]...
;;;;   ecl -norc --shell bench-lisp.lisp MEASURE IMPL [--key value]...
;;;;   clisp -norc -q bench-lisp.lisp MEASURE IMPL [--key value]...
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
;;;;          --sockets tcp: N + 1 TCP connections to a peer process that sent
;;;;          one byte on the last, instead of UDP sockets (native usocket
;;;;          0.8.3 on CLISP never reports a datagram socket ready: CLISP's
;;;;          socket-status says :IO, which its wait-for-input does not take).
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
;;;;   load   only load IMPL and compile the bench (a warm-up; value 0)
;;;;
;;;;   --peer PATH (off SBCL): the peer program, default bench/build/bench_peer.
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
;;;; server, bulk sender, UDP echo) are processes making raw system calls, the
;;;; same for both IMPLs: on SBCL forks of the image, elsewhere
;;;; bench/build/bench_peer (bench/c/bench_peer.c; CLISP has no threads and
;;;; one C program serves both sides alike); run under `taskset -c 0` to share
;;;; a CPU. An argument native usocket says it does not support (CLISP: no
;;;; :nodelay; ECL: no datagram :timeout) is skipped through usocket's
;;;; CONTINUE restart and named in the line ("unsupported").
;;;; The library of the binding is found as usocket-cffi finds it
;;;; (USOCKET_LIBRARY, then the repository's target/release).

;;;; What differs between SBCL, ECL and CLISP is in support.lisp (compiled and
;;;; cached, as measures.lisp is) and in the few #+ lines of this file.

#+clisp (require "asdf")
#-clisp (require :asdf)
#+sbcl (require :sb-posix)
#+sbcl (require :sb-bsd-sockets)

(defpackage #:bench-lisp (:use #:common-lisp))
(in-package #:bench-lisp)

(defun script-arguments ()
  "The words after the script's name on the command line."
  #+sbcl (cdr sb-ext:*posix-argv*)      ; --script leaves ("sbcl" MEASURE ...)
  #+clisp ext:*args*
  #-(or sbcl clisp)
  (let ((all (uiop:raw-command-line-arguments)))
    (or (cdr (member-if (lambda (a) (search "bench-lisp.lisp" a)) all)) '())))

(defvar *measure* (or (first (script-arguments)) "?"))
(defvar *args* (rest (script-arguments)))
;; IMPL positional (third argument), or as --impl IMPL anywhere after MEASURE.
(defvar *impl*
  (let ((tail (member "--impl" *args* :test #'string=)))
    (cond (tail (prog1 (or (second tail) "?")
                  (setf *args* (append (ldiff *args* tail) (cddr tail)))))
          ((and *args* (not (eql 0 (search "--" (first *args*)))))
           (pop *args*))
          (t "?"))))

(defun exit-lisp (code)
  "End the process at once (no unwinding, no exit hooks), output flushed."
  (finish-output)
  #+sbcl (sb-ext:exit :code code :abort t)
  #+ecl (ext:quit code t)
  #+clisp (ext:exit code)
  #-(or sbcl ecl clisp) (uiop:quit code nil))

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

(defvar *collect* nil
  "When a cons, RESULT stores (value unit . extras) in its car instead of printing.")

(defun fail (format &rest args)
  (when (consp *collect*)
    (error 'measure-failed :text (apply #'format nil format args)))
  (format t "{\"status\":\"failed\",\"measure\":~A,\"impl\":~A,\"reason\":~A}~%"
          (json-string *measure*) (json-string *impl*)
          (json-string (apply #'format nil format args)))
  (exit-lisp 2))

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

;;; Loading the implementation measured.

(defvar *bench-dir* (make-pathname :name nil :type nil :defaults *load-truename*))

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
                (t (error "IMPL must be binding or usocket, not ~A" *impl*)))
          ;; Off SBCL the clock (support.lisp's NOW) is one CFFI call, in
          ;; every image: the binding's has CFFI already, native usocket's
          ;; loads it (used only by the clock).
          #-sbcl (asdf:load-system "cffi"))
      (error (e) (fail "loading ~A: ~A" impl e)))))

(defun compiled (name package-name)
  "The compiled file of NAME (a .lisp file of this directory) for the
implementation measured, compiled into PACKAGE-NAME, from a cache (ECL
compiles through C: seconds a file). The cache is per Lisp, per directory of
the bench, per IMPL and package; a file older than any source of the bench is
compiled again (to a temporary name, then renamed: concurrent runs are safe)."
  (let* ((source (merge-pathnames name *bench-dir*))
         (key (format nil "~(~A-~A-~A~)" (pathname-name source) package-name
                      (subseq *impl* 0 (or (position #\- *impl*) (length *impl*)))))
         (dir (uiop:xdg-cache-home "usocket-bench"
                                   (uiop:implementation-identifier)
                                   (format nil "~36R/" (sxhash (namestring *bench-dir*)))))
         (fasl (compile-file-pathname (merge-pathnames (concatenate 'string key ".lisp") dir)))
         (newest (reduce #'max (mapcar (lambda (f) (or (file-write-date (merge-pathnames f *bench-dir*)) 0))
                                       '("bench-lisp.lisp" "support.lisp" "measures.lisp")))))
    (unless (and (probe-file fasl) (> (or (file-write-date fasl) 0) newest))
      (ensure-directories-exist fasl)
      (let* ((tmp (make-pathname :name (format nil "~A-tmp~D" key (random 1000000000 (make-random-state t)))
                                 :defaults fasl))
             (out (let ((*error-output* (make-broadcast-stream))
                        (*standard-output* (make-broadcast-stream)))
                    (compile-file source :output-file tmp))))
        ;; CLISP writes a .lib beside its .fas: not needed to load it
        (let ((lib (make-pathname :type "lib" :defaults tmp)))
          (when (probe-file lib) (delete-file lib)))
        (unless out (fail "compiling ~A failed" source))
        (uiop:rename-file-overwriting-target out fasl)))
    fasl))

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

(let ((*package* (find-package :bench-lisp)))
  (load (compiled "support.lisp" "BENCH-LISP")))

(defun load-measures (package-name)
  (let ((package (or (find-package package-name) (make-package package-name :use '(:cl)))))
    (do-symbols (s :bench-lisp)
      (when (eq (symbol-package s) (find-package :bench-lisp))
        (shadowing-import s package)))
    (let ((*package* package)
          (*error-output* (make-broadcast-stream)) (*standard-output* (make-broadcast-stream)))
      (load (compiled "measures.lisp" package-name)))
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
             ;; past native usocket's UNSUPPORTED (ECL: no datagram :timeout),
             ;; as measures.lisp's IGNORING-UNSUPPORTED
             (handler-bind ((error (lambda (c)
                                     (when (and (string= (symbol-name (type-of c)) "UNSUPPORTED")
                                                (find-restart 'continue c))
                                       (pushnew (princ-to-string c) *unsupported* :test #'string=)
                                       (continue c)))))
             (ecase kind
               (:rtt (multiple-value-bind (port done) (peer-tcp-echo)
                       (prog1 (funcall (fn package "socket-connect") "127.0.0.1" port
                                       :element-type '(unsigned-byte 8))
                         (funcall done))))
               (:udp (multiple-value-bind (port done) (peer-udp-echo)
                       (prog1 (funcall (fn package "socket-connect") "127.0.0.1" port
                                       :protocol :datagram :timeout 2)
                         (funcall done))))))))
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
            ;; load: only load the implementation and compile the bench (the
            ;; runner's warm-up, so that no timed run pays a cold compile)
            ((string= measure "load") (result 0 "s" 0 0))
            (t (fail "unknown measure ~A (rtt bulk udp wait accept)" measure))))
  (error (e) (fail "~A" e)))
(exit-lisp 0)
