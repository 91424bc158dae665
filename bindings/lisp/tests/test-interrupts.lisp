;;;; Interrupts and GC during blocking calls.
;;;;
;;;; Blocking calls wait in slices of at most 100 ms with interrupts deferred,
;;;; so an interrupt runs within about 100 ms, never inside the core. To make
;;;; sure a thread is really blocked in a call when we interrupt it, the tests
;;;; let it sit there for a while first (nothing signals "now blocked").

(in-package #:usocket-cffi-tests)

(defparameter *interrupt-limit* 0.2 "Seconds an interrupt may take to run.")
(defparameter *settle* 0.3 "Seconds a thread is left blocked before it is interrupted.")

(defun let-it-block ()
  "Give a thread time to enter its blocking call (there is no event for it)."
  (let ((lock (bt:make-lock)) (cv (bt:make-condition-variable)))
    (bt:with-lock-held (lock)
      (bt:condition-wait cv lock :timeout *settle*))))

(defun interrupt-latency (blocking-function)
  "Run BLOCKING-FUNCTION in a thread, interrupt it once it is blocked with a
throw out of it, and return the seconds from INTERRUPT-THREAD to the throw."
  (let* ((received nil)
         (thread (spawn "blocked"
                        (lambda ()
                          (catch 'interrupted
                            (funcall blocking-function)
                            :not-interrupted)))))
    (let-it-block)
    (let ((sent (get-internal-real-time)))
      (interrupt-thread thread (lambda ()
                                           (setf received (get-internal-real-time))
                                           (throw 'interrupted :interrupted)))
      (let ((result (join thread 5)))
        (unless (eq result :interrupted)
          (fail "the blocking call returned ~S instead of being interrupted" result))
        (/ (- received sent) internal-time-units-per-second)))))

(defmacro check-interruptible (form)
  `(let ((latency (interrupt-latency (lambda () ,form))))
     (is (<= latency *interrupt-limit*)
         (format nil "interrupt ran after ~,3F s" latency))))

(deftest interrupt-blocked-read
  (with-pair (client server)
    (check-interruptible (read-char (socket-stream server)))
    ;; The socket still works after an interrupted read.
    (send-line (socket-stream client) "still fine")
    (is-equal "still fine" (read-line (socket-stream server)))))

(deftest interrupt-blocked-read-sequence-binary
  (with-pair (client server :element-type '(unsigned-byte 8))
    (check-interruptible (read-sequence (make-octets 65536) (socket-stream server)))
    (write-sequence (octets 1 2) (socket-stream client))
    (finish-output (socket-stream client))
    (is-equal 1 (read-byte (socket-stream server)))))

(deftest interrupt-blocked-wait-accept-receive
  (with-pair (client server)
    (check-interruptible (wait-for-input (list server client)))
    (check-interruptible (wait-for-input server :timeout 30))
    (let ((wl (make-wait-list (list server))))
      (check-interruptible (wait-for-input wl))))
  (with-sockets (listener udp)
    (setf listener (socket-listen "127.0.0.1" 0))
    (check-interruptible (socket-accept listener))
    (setf udp (udp-receiver))
    (check-interruptible (socket-receive udp nil nil))))

(deftest interrupt-that-returns-lets-the-read-go-on
  (unless (returning-interrupts-run-p)
    (skip "~A does not run an interrupt function that returns normally in a ~
           thread blocked in a read (measured: none of 4 ran in 0.9 s; one that ~
           throws runs within 0.2 s)" (lisp-implementation-type)))
  (with-pair (client server)
    (let* ((ran 0)
           (reader (spawn "reader" (lambda () (read-line (socket-stream server))))))
      (let-it-block)
      (dotimes (i 3)
        (interrupt-thread reader (lambda () (incf ran))))
      (send-line (socket-stream client) "after interrupts")
      (is-equal "after interrupts" (join reader))
      (is-equal 3 ran))))

(deftest with-timeout-around-a-blocked-read
  (with-pair (client server)
    (multiple-value-bind (seconds result)
        (timed (handler-case (with-timeout-signalled 0.3
                               (read-line (socket-stream server)))
                 (timeout-signal () :timed-out)))
      (is-equal :timed-out result)
      (is (<= 0.25 seconds (+ 0.3 *interrupt-limit*)) (format nil "took ~,3F s" seconds)))
    (send-line (socket-stream client) "next")
    (is-equal "next" (read-line (socket-stream server)))))

(deftest terminate-thread-blocked-in-read
  (with-pair (client server)
    (let ((reader (spawn "reader" (lambda () (read-line (socket-stream server))))))
      (let-it-block)
      (let ((start (get-internal-real-time)))
        (terminate-thread reader)
        (join reader 5)
        (is (<= (elapsed-seconds start) (+ *interrupt-limit* 0.05))))
      ;; Nothing is left locked in the core: the socket still works.
      (send-line (socket-stream client) "alive")
      (is-equal "alive" (read-line (socket-stream server))))))

(deftest close-from-another-thread-wakes-a-reader
  (with-pair (client server)
    (let ((reader (spawn "reader"
                         (lambda ()
                           (handler-case (progn (read-line (socket-stream server)) :read)
                             (invalid-handle-error () :closed)
                             (error (e) e))))))
      (let-it-block)
      (let ((start (get-internal-real-time)))
        (socket-close server)
        (is-equal :closed (join reader 5))
        (is (<= (elapsed-seconds start) 0.25))))))

(deftest gc-storm-during-blocking-calls
  (with-pair (client server)
    (with-pair (c2 s2 :element-type '(unsigned-byte 8))
      (let* ((stop nil)
             (gcs 0)
             (storm (spawn "gc storm"
                           (lambda ()
                             (loop repeat 100000 until stop
                                   do (full-gc) (incf gcs)))))
             (lines 40)
             (writer (spawn "writer"
                            (lambda ()
                              ;; Data arrives while the reader is blocked.
                              (dotimes (i lines)
                                (let ((lock (bt:make-lock)) (cv (bt:make-condition-variable)))
                                  (bt:with-lock-held (lock) (bt:condition-wait cv lock :timeout 0.02)))
                                (send-line (socket-stream client) (format nil "line ~D" i))
                                (write-byte (mod i 256) (socket-stream c2))
                                (force-output (socket-stream c2)))
                              t)))
             (errors '()))
        (unwind-protect
             (handler-case
                 (progn
                   (dotimes (i lines)
                     (is-equal (format nil "line ~D" i) (read-line (socket-stream server)))
                     ;; A wait on a list and one on a wait list, both blocking.
                     (unless (wait-for-input (list s2) :timeout 5 :ready-only t)
                       (push (format nil "wait ~D timed out" i) errors))
                     (is-equal (mod i 256) (read-byte (socket-stream s2))))
                   (let ((wl (make-wait-list (list s2))))
                     (multiple-value-bind (seconds)
                         (timed (wait-for-input wl :timeout 0.3))
                       (is (>= seconds 0.25) "no early return under GC"))))
               (error (e) (push e errors)))
          (setf stop t)
          (join storm 30)
          (join writer 30))
        (is (null errors) (format nil "errors: ~A" errors))
        (is (> gcs 5) (format nil "only ~D GCs ran" gcs))))))

(deftest interrupt-blocked-write
  ;; Writes go out in slices (usocket_write_some): a writer blocked on a peer
  ;; that does not read is interruptible, and no byte is lost or repeated.
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((data (make-array (* 8 1024 1024) :element-type '(unsigned-byte 8))))
      (dotimes (i (length data)) (setf (aref data i) (mod i 251)))
      (check-interruptible (write-sequence data (socket-stream client)))
      ;; Whatever part was written arrives intact, in order.
      (socket-shutdown client :output)
      (let ((got (make-octets 65536)) (total 0) (ok t))
        (loop for n = (read-sequence got (socket-stream server))
              do (dotimes (i n) (unless (= (aref got i) (mod (+ total i) 251)) (setf ok nil)))
                 (incf total n)
              while (= n 65536))
        (is ok "the bytes written before the interrupt arrive in order")
        (is (< 0 total (length data)) (format nil "~D bytes arrived" total))))))

(deftest close-from-another-thread-wakes-a-writer
  ;; A writer blocked on a peer that does not read is also woken by closing
  ;; its socket from another thread.
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let* ((data (make-octets (* 64 1024 1024)))
           (writer (spawn "writer"
                          (lambda ()
                            (handler-case
                                (progn (write-sequence data (socket-stream client))
                                       (finish-output (socket-stream client))
                                       :written)
                              (socket-error (e) (type-of e)))))))
      (let-it-block)
      (let ((start (get-internal-real-time)))
        (close-usocket-handle-for-test client)
        (let ((result (join writer 5)))
          (is (member result '(invalid-handle-error shutdown-error connection-reset-error))
              (format nil "the writer ended with ~S" result)))
        (is (<= (elapsed-seconds start) 0.5))))))

(defun close-usocket-handle-for-test (usocket)
  "Close USOCKET's handle without flushing its stream (another thread is in it)."
  (usocket-cffi::close-usocket-handle usocket))
