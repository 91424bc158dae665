;;;; C-c on CLISP: SIGINT sent, again and again, to a child CLISP process
;;;; blocked in the binding (a read on the Gray stream, a read on compat's
;;;; native stream, an accept, a wait, a datagram receive). CLISP cannot defer
;;;; an interrupt (no WITHOUT-INTERRUPTS): the interrupt lands where the
;;;; process is, in Lisp between two 50 ms slices or inside a core call. The
;;;; child reports each interrupt, then the core's count of live handles
;;;; before and after, and that its sockets still work. CLISP has no threads,
;;;; so the signal comes from this process, once the child is asleep in the
;;;; kernel (its /proc state S). CLISP itself answers a SIGINT about 0.5 s after
;;;; it arrives (measured: 0.50 s for its own READ-LINE on standard input, no
;;;; binding involved), hence the 1 s limit.

(in-package #:usocket-cffi-tests)

(defparameter *sigint-rounds* 4 "How many times each kind of blocked call is interrupted.")

(defparameter *sigint-child-program* "
(require \"asdf\")
(push (pathname (ext:getenv \"USOCKET_CFFI_DIR\")) asdf:*central-registry*)
(let ((*standard-output* (make-broadcast-stream)) (*error-output* (make-broadcast-stream)))
  (asdf:load-system \"usocket-cffi\"))
(in-package #:usocket-cffi)
(defun say (control &rest args)
  (apply #'format t control args) (terpri) (finish-output))
(let* ((rounds (parse-integer (ext:getenv \"SIGINT_ROUNDS\")))
       (listener (socket-listen \"127.0.0.1\" 0))
       (client (socket-connect \"127.0.0.1\" (get-local-port listener)))
       (server (socket-accept listener))
       (native (let ((*native-streams* t))
                 (socket-connect \"127.0.0.1\" (get-local-port listener))))
       (native-peer (socket-accept listener))
       (udp (socket-connect nil nil :protocol :datagram :local-host \"127.0.0.1\"))
       (buffer (make-array 16 :element-type '(unsigned-byte 8)))
       (before (%open-handles)))
  (socket-stream native)
  (dotimes (round rounds)
    (dolist (kind '(:read :native-read :accept :wait :receive))
      (say \"blocking ~(~A~) ~D\" kind round)
      (handler-case
          (progn
            (ecase kind
              (:read (read-line (socket-stream server)))
              (:native-read (read-line (socket-stream native)))
              (:accept (socket-accept listener))
              (:wait (wait-for-input server))
              (:receive (socket-receive udp buffer 16)))
            (say \"returned ~(~A~)\" kind))
        (system::interrupt-condition ()
          (say \"interrupted ~(~A~) ~D\" kind round)))))
  (say \"handles ~D ~D\" before (%open-handles))
  ;; Everything still works.
  (write-line \"ping\" (socket-stream client))
  (force-output (socket-stream client))
  (write-line \"pong\" (socket-stream native-peer))
  (force-output (socket-stream native-peer))
  (say \"read ~A ~A\" (read-line (socket-stream server)) (read-line (socket-stream native)))
  (mapc #'socket-close (list udp native-peer native server client listener))
  (say \"closed ~D\" (%open-handles)))
(ext:quit 0)
")

(defun proc-state (pid)
  "The state letter of process PID (/proc/PID/stat), NIL if it is gone."
  (let ((line (ignore-errors
               (with-open-file (in (format nil "/proc/~D/stat" pid)) (read-line in nil)))))
    (and line
         (let ((paren (position #\) line :from-end t)))
           (and paren (< (+ paren 2) (length line)) (char line (+ paren 2)))))))

(defun wait-until-asleep (pid)
  "Wait (at most 2 s, looking every 5 ms) until PID sleeps in the kernel."
  (loop repeat 400
        do (let ((state (proc-state pid)))
             (when (or (null state) (char= state #\S))
               (return state))
             (sleep 0.005))))

(defun child-line-within (stream seconds)
  "The next line of STREAM, :TIMEOUT if none comes within SECONDS, NIL at its end."
  (if (member (socket:socket-status (cons stream :input) seconds) '(:input :eof :append))
      (read-line stream nil nil)
      :timeout))

(deftest sigint-repeatedly-leaks-no-handle-clisp
  (let ((script (merge-pathnames (format nil "usocket-cffi-sigint-~D.lisp" (random 1000000))
                                 #p"/tmp/"))
        (pid nil) (input nil) (output nil))
    (with-open-file (out script :direction :output :if-exists :supersede)
      (write-string *sigint-child-program* out))
    (unwind-protect
         (progn
           (multiple-value-setq (pid input output)
             (ext::launch "/usr/bin/env"
                          :arguments (list (format nil "USOCKET_CFFI_DIR=~A" (namestring *lisp-dir*))
                                           (format nil "SIGINT_ROUNDS=~D" *sigint-rounds*)
                                           "clisp" "-norc" "-q" (namestring script))
                          :input :pipe :output :pipe :wait nil))
           (let ((interrupted 0) (slowest 0) (asleep 0) (by-kind '()) (lines '()))
             (flet ((next (seconds)
                      (let ((line (child-line-within output seconds)))
                        (when (stringp line) (push line lines))
                        line)))
               (loop repeat (* 5 *sigint-rounds*)
                     do (let ((line (next 60)))  ; the first comes after the child loads
                          (unless (and (stringp line) (search "blocking" line))
                            (fail "expected the child to block, got ~S (last lines ~S)"
                                  line (reverse (subseq lines 0 (min 5 (length lines))))))
                          (let ((start (get-internal-real-time)))
                            (wait-until-asleep pid)
                            (setf asleep (max asleep (elapsed-seconds start))))
                          (let ((start (get-internal-real-time)))
                            (posix:kill pid :sigint)
                            (let ((answer (next 5)))
                              (unless (and (stringp answer) (search "interrupted" answer))
                                (fail "after ~A and a SIGINT the child said ~S" line answer))
                              (incf interrupted)
                              (let ((took (elapsed-seconds start))
                                    (kind (subseq line 9 (position #\Space line :start 9))))
                                (setf slowest (max slowest took))
                                (setf (getf by-kind (intern (string-upcase kind) :keyword))
                                      (max took (getf by-kind (intern (string-upcase kind) :keyword) 0))))))))
               (let ((handles (next 10)) (read (next 10)) (closed (next 10)))
                 (is (and (stringp handles) (search "handles" handles)) (format nil "child: ~S" handles))
                 (let ((counts (with-input-from-string (in handles :start 8)
                                 (list (read in nil) (read in nil)))))
                   (is-equal (first counts) (second counts)
                             "the core's live handles after the interrupts (before, after)"))
                 (is-equal "read ping pong" read "the sockets still work")
                 (is-equal "closed 0" closed "every handle closed at the end")))
             (format t "~&  ~D SIGINTs answered, the slowest in ~,3F s (longest wait for the child to sleep ~,3F s)~%"
                     interrupted slowest asleep)
             (format t "~&  slowest by kind:~{ ~(~A~) ~,3F s~^,~}~%" by-kind)
             (is-equal (* 5 *sigint-rounds*) interrupted)
             (is (< slowest 1) (format nil "the slowest interrupt took ~,3F s" slowest))))
      (when input (ignore-errors (close input)))
      (when (and pid (proc-state pid)) (ignore-errors (posix:kill pid :sigkill)))
      (when output (ignore-errors (close output)))
      (ignore-errors (delete-file script)))))
