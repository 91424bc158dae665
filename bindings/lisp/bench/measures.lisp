;;;; The measures of bench-lisp.lisp, written against usocket's API (the
;;;; package USOCKET). bench-lisp.lisp compiles this file once per
;;;; implementation, into a package of its own (see LOAD-MEASURES); its
;;;; helpers (OPT, RESULT, FAIL, NOW, TIMED-BLOCKS, the peers of
;;;; support.lisp) are imported. Nothing here depends on the Lisp.


(defmacro ignoring-unsupported (&body body)
  "BODY, continuing past usocket's UNSUPPORTED (a CERROR whose CONTINUE
restart ignores the argument, as usocket's IGNORE-UNSUPPORTED-WARNINGS does):
native usocket 0.8.3 has no :nodelay on CLISP and no datagram :timeout on ECL.
Each one ignored is named in the result line (\"unsupported\")."
  `(handler-bind ((usocket:unsupported
                    (lambda (c)
                      (pushnew (princ-to-string c) *unsupported* :test #'string=)
                      (continue c))))
     ,@body))

(defun m-rtt ()
  (let* ((size (opt "size" 1)) (iters (opt "iters" 200000)) (secs (opt "seconds" 1))
         (warm (opt "warmup" 2000)))
    (multiple-value-bind (port done) (peer-tcp-echo)
    (let* ((s (ignoring-unsupported
                (usocket:socket-connect "127.0.0.1" port
                                        :element-type '(unsigned-byte 8) :nodelay t)))
           (stream (usocket:socket-stream s))
           (out (octets size)) (in (octets size 0)))
      (funcall done)
      (flet ((round-trip ()
               (write-sequence out stream)
               (force-output stream)
               (unless (= size (read-sequence in stream))
                 (fail "short read"))))
        (dotimes (i warm) (round-trip))
        (multiple-value-bind (median mean count elapsed) (timed-blocks (iters secs) (round-trip))
          (usocket:socket-close s)
          (result median "us" count elapsed "mean" mean "blocks" +blocks+ "size" size)))))))

(defun m-bulk ()
  (let* ((total (round (opt "bytes" 2147483648))) (rd (opt "read" 65536))
         (secs (opt "seconds" 60)))
    (multiple-value-bind (port done) (peer-bulk total)
    (let* ((s (usocket:socket-connect "127.0.0.1" port
                                      :element-type '(unsigned-byte 8)))
           (stream (usocket:socket-stream s))
           (buf (octets rd 0))
           (got 0) (calls 0)
           (t0 (now)) (deadline (+ t0 secs)))
      (funcall done)
      (loop while (< got total)
            do (let ((n (read-sequence buf stream)))
                 (when (zerop n) (return))
                 (incf got n)
                 (incf calls)
                 (when (and (zerop (logand calls 255)) (> (now) deadline))
                   (fail "bulk: time limit after ~D bytes" got))))
      (let ((el (- (now) t0)))
        (unless (= got total) (fail "bulk: got ~D of ~D bytes" got total))
        (usocket:socket-close s)
        (result (/ got el 1d9) "GB/s" calls el "bytes" got))))))

(defun m-udp ()
  (let* ((size (opt "size" 64)) (iters (opt "iters" 200000)) (secs (opt "seconds" 1))
         (warm (opt "warmup" 2000)))
    (multiple-value-bind (port done) (peer-udp-echo)
    (let* ((s (ignoring-unsupported
                (usocket:socket-connect "127.0.0.1" port :protocol :datagram :timeout 2)))
           (out (octets size)) (in (octets 65536 0)))
      (funcall done)
      (flet ((round-trip ()
               (usocket:socket-send s out size)
               (unless (= size (nth-value 1 (usocket:socket-receive s in (length in))))
                 (fail "short datagram"))))
        (dotimes (i warm) (round-trip))
        (multiple-value-bind (median mean count elapsed) (timed-blocks (iters secs) (round-trip))
          (usocket:socket-close s)
          (result median "us" count elapsed "mean" mean "blocks" +blocks+ "size" size)))))))

(defun m-wait ()
  (let* ((n (opt "n" 1000)) (iters (opt "iters" 100000)) (secs (opt "seconds" 0.5))
         (method (or (and (search "waitlist" *impl*) "waitlist")
                     (and (search "list" *impl*) "list")
                     (opt "method" "list")))
         ;; --sockets tcp: N + 1 TCP connections to a peer process that sends
         ;; one byte on the last (for native usocket on CLISP, which never
         ;; reports a datagram socket ready); default udp, as bench/c does.
         (tcp (string= (opt "sockets" "udp") "tcp"))
         (sockets (handler-case
                      (if tcp
                          (let ((port (parse-integer (start-peer "accept" (1+ n)))))
                            (loop repeat (1+ n)
                                  collect (usocket:socket-connect "127.0.0.1" port
                                                                  :element-type '(unsigned-byte 8))))
                          (loop repeat (1+ n)
                                collect (usocket:socket-connect nil nil :protocol :datagram
                                                                        :local-host "127.0.0.1"
                                                                        :local-port 0)))
                    (error (e) (fail "making ~D sockets: ~A" (1+ n) e))))
         (ready (car (last sockets))))
    ;; usocket 0.8.3 waits with select(): a descriptor past FD_SETSIZE
    ;; overflows its fd_set (an error, or memory corruption that kills the
    ;; image). Say so rather than crash, unless asked to try (--force 1).
    (when (and (not (search "CFFI" (package-name (symbol-package 'usocket:socket-connect))))
               (zerop (opt "force" 0)))
      (let ((fd (native-descriptor (usocket:socket ready))))
        (when (and fd (>= fd 1024))
          (fail "not run: usocket's wait-for-input uses select(), and descriptor ~D is past ~
                 FD_SETSIZE (1024): an error or a crash of the image (--force 1 tries)" fd))))
    (unless tcp (send-one-datagram (usocket:get-local-port ready)))
    (unwind-protect
         (let ((target (if (string= method "waitlist") (usocket:make-wait-list sockets) sockets)))
           (flet ((wait ()
                    (let ((r (usocket:wait-for-input target :timeout 1 :ready-only t)))
                      (unless (and r (eq (first r) ready)) (fail "the ready socket was not found")))))
             (handler-case (wait)
               (error (e) (fail "~A wait on ~D sockets: ~A" method (1+ n) e)))
             (multiple-value-bind (median mean count elapsed) (timed-blocks (iters secs) (wait))
               (result median "us" count elapsed "mean" mean "blocks" +blocks+ "n" n
                       "method" method "sockets" (if tcp "tcp" "udp")))))
      ;; Closed, so that runs in one image do not pile up descriptors.
      (dolist (s sockets) (ignore-errors (usocket:socket-close s))))))

(defun m-accept ()
  (let* ((count (opt "count" 4000)) (backlog (opt "backlog" 4096)) (rounds (opt "rounds" 5))
         (rates '()) (total-time 0d0) (limit (+ (now) 60)))
    (dotimes (r rounds)
      (let* ((listener (usocket:socket-listen "127.0.0.1" 0 :backlog backlog :reuse-address t))
             (port (usocket:get-local-port listener))
             (close-clients (connect-clients port count))
             (accepted (make-array count :initial-element nil))
             (t0 (now)))
        (dotimes (i count)
          (setf (aref accepted i) (usocket:socket-accept listener))
          (when (and (zerop (logand i 255)) (> (now) limit)) (fail "accept: time limit")))
        (let ((el (- (now) t0)))
          (push (/ count el) rates)
          (incf total-time el))
        (loop for a across accepted do (usocket:socket-close a))
        (usocket:socket-close listener)
        (funcall close-clients)))
    (result (median rates) "conn/s" (* count rounds) total-time
            "rounds" rounds "mean" (/ (* count rounds) total-time)
            "us_per_accept" (/ total-time (* count rounds) 1d-6))))

