;;;; WAIT-FOR-INPUT over lists (usocket_wait_for_input, poll: any number of
;;;; sockets, any descriptor) and over wait lists (the core's epoll lists:
;;;; a wait costs in proportion to the sockets that are ready).

(in-package #:usocket-cffi)

(defconstant +wait-batch+ 64
  "The most ready sockets one wait on a wait list reports.")

(defstruct (wait-list (:constructor %make-wait-list (handle)))
  (handle 0 :type (unsigned-byte 64))
  (waiters '() :type list)              ; every usocket in the list
  (count 0 :type fixnum)
  (map (make-hash-table :test 'eql))    ; core handle -> usocket
  (ready (make-array +wait-batch+ :element-type '(unsigned-byte 64))
   :type (simple-array (unsigned-byte 64) (*)))
  (marked '() :type list)               ; sockets the last wait set to :READ
  (pending '() :type list)              ; stream sockets that may hold buffered input
  (generation 0 :type fixnum)           ; counts the waits, to mark sockets once per wait
  (scratch (make-array 2 :element-type '(unsigned-byte 64)) ; nready, remaining_ms
   :type (simple-array (unsigned-byte 64) (2))))

(defmethod print-object ((wl wait-list) stream)
  (print-unreadable-object (wl stream :type t :identity t)
    (format stream "~D socket~:P" (wait-list-count wl))))

(defun make-wait-list (waiters)
  "A wait list holding the usockets in WAITERS."
  (let ((wl (cffi:with-foreign-object (out 'usocket-t)
              (with-committed-call (code value message errno)
                  ((%wait-list-new out)
                   (let ((handle (cffi:mem-ref out 'usocket-t)))
                     (register-handle-finalizer (%make-wait-list handle) handle)))
                (if (zerop code) value (signal-status code message errno))))))
    (dolist (w waiters wl)
      (add-waiter wl w))))

(defun add-waiter (wait-list input)
  "Add the usocket INPUT to WAIT-LIST."
  (unless (eq (wait-list input) wait-list)
    (let ((old (wait-list input)))
      (when old (remove-waiter old input)))
    (with-socket-context (input)
      (%wait-list-add (wait-list-handle wait-list) (socket-handle input)))
    (setf (gethash (socket-handle input) (wait-list-map wait-list)) input
          (wait-list input) wait-list)
    (push input (wait-list-waiters wait-list))
    (incf (wait-list-count wait-list))
    (note-buffered-input input))
  wait-list)

(defun remove-waiter (wait-list input)
  "Take the usocket INPUT out of WAIT-LIST."
  (when (eq (wait-list input) wait-list)
    (unless (closed-p input)
      ;; A closed socket has left the core's list by itself.
      (handler-case
          (with-socket-context (input)
            (%wait-list-remove (wait-list-handle wait-list) (socket-handle input)))
        (invalid-handle-error () nil)))
    (remhash (socket-handle input) (wait-list-map wait-list))
    (setf (wait-list-waiters wait-list) (delete input (wait-list-waiters wait-list))
          (wait-list-marked wait-list) (delete input (wait-list-marked wait-list))
          (wait-list-pending wait-list) (delete input (wait-list-pending wait-list))
          (wait-list input) nil)
    (decf (wait-list-count wait-list)))
  wait-list)

(defun remove-all-waiters (wait-list)
  "Empty WAIT-LIST."
  (%wait-list-clear (wait-list-handle wait-list))
  (dolist (w (wait-list-waiters wait-list))
    (setf (wait-list w) nil))
  (clrhash (wait-list-map wait-list))
  (setf (wait-list-waiters wait-list) '()
        (wait-list-marked wait-list) '()
        (wait-list-pending wait-list) '()
        (wait-list-count wait-list) 0)
  wait-list)

;;; Input already in a stream's buffer counts as ready, without asking the core.

(defun buffered-input-p (usocket)
  (and (typep usocket 'stream-usocket)
       (let ((stream (slot-value usocket 'stream)))
         (cond ((typep stream 'usocket-stream)
                (let ((io (stream-io stream)))
                  (< (io-ipos io) (io-iend io))))
               ((native-stream-p stream) (native-buffered-input-p stream))))))

(defun note-buffered-input (usocket)
  "Called when USOCKET's stream has read into its buffer: the wait list it is
in must check that buffer at its next wait."
  (let ((wl (wait-list usocket)))
    (when (and wl (not (member usocket (wait-list-pending wl) :test #'eq)))
      (push usocket (wait-list-pending wl)))))

;;; Waiting.

(defun remaining-time (timeout start ready-p)
  "usocket's second value: the time left of TIMEOUT when something became
ready before it ran out; NIL without a timeout or when it ran out."
  (when (and timeout ready-p)
    (let ((left (- timeout (/ (- (get-internal-real-time) start)
                              internal-time-units-per-second))))
      (when (plusp left) left))))

(defun wait-for-input (socket-or-sockets &key timeout ready-only)
  "Wait until one or more of SOCKET-OR-SOCKETS (a usocket, a list of them or
a WAIT-LIST) can be read (or accepted) without blocking, or TIMEOUT seconds
(NIL: forever, 0: just look). Sets each socket's SOCKET-STATE to :READ or NIL.
Returns the sockets (READY-ONLY: a list of the ready ones) and the time left
(NIL without a timeout). A closed socket signals INVALID-HANDLE-ERROR; no
sockets (NIL) and no timeout, INVALID-ARGUMENT-ERROR (it would never return)."
  (let ((start (get-internal-real-time))
        (timeout (and timeout (max 0 timeout))))
    (cond ((null socket-or-sockets)
           ;; The core decides (as in every runtime): with a timeout it waits
           ;; that long, without one it is INVALID-ARGUMENT-ERROR.
           (wait-on-nothing timeout)
           (values nil nil))
          ((wait-list-p socket-or-sockets)
           (let ((ready (wait-on-wait-list socket-or-sockets timeout)))
             (values (if ready-only ready socket-or-sockets)
                     (remaining-time timeout start ready))))
          (t
           (let ((sockets (if (listp socket-or-sockets)
                              socket-or-sockets
                              (list socket-or-sockets))))
             (let ((nready (wait-on-sockets sockets timeout)))
               (values (if ready-only
                           (remove-if-not #'state sockets)
                           socket-or-sockets)
                       (remaining-time timeout start (plusp nready)))))))))

(defun wait-on-nothing (timeout)
  "usocket_wait_for_input with no sockets, in interrupt-safe slices."
  (let ((deadline (deadline-after timeout)))
    (cffi:with-foreign-objects ((count 'size-t) (remaining :int64) (none 'usocket-t)
                                (states :uint8))
      (loop
        (let ((slice (if deadline (slice-ms deadline) -1)))
          (with-committed-call (code value message errno)
              ((%wait-for-input none 0 slice states count remaining)
               nil)
            (unless (zerop code)
              (signal-status code message errno :socket nil))
            (when (<= (ms-until deadline) 0)
              (return))))))))

(defun wait-on-sockets (sockets timeout)
  "Set the STATE of each of SOCKETS; return the number ready. A closed
socket among them signals INVALID-HANDLE-ERROR, as the core does."
  (let* ((n (length sockets))
         (handles (make-array n :element-type '(unsigned-byte 64)))
         (states (make-array n :element-type '(unsigned-byte 8) :initial-element 0))
         (i 0)
         (buffered 0))
    (declare (type fixnum i buffered))
    (dolist (s sockets)
      (check-type s usocket)
      (when (closed-p s)
        (error 'invalid-handle-error
               :socket s :code +err-invalid-handle+ :errno 0
               :message (format nil "wait-for-input: ~A is closed" s))))
    (dolist (s sockets)
      (setf (state s) nil)
      (when (buffered-input-p s)
        (setf (state s) :read)
        (incf buffered))
      (setf (aref handles i) (socket-handle s))
      (incf i))
    (let ((deadline (deadline-after timeout))
          (nready 0))
      (cffi:with-foreign-objects ((count 'size-t) (remaining :int64))
        (loop
          (let ((slice (if (plusp buffered) 0 (slice-ms deadline))))
            (with-committed-call (code value message errno)
                ((with-vector-pointer (hp handles :uint64 :direction :out)
                   (with-vector-pointer (sp states :uint8 :direction :in)
                     (%wait-for-input hp n slice sp count remaining)))
                 (cffi:mem-ref count 'size-t))
              (unless (zerop code)
                ;; A socket closed (by another thread) during the wait.
                (signal-status code message errno :socket (find-if #'closed-p sockets)))
              (setf nready value)
              (when (or (plusp nready) (plusp buffered) (zerop slice)
                        (and deadline (<= (ms-until deadline) 0)))
                (return))))))
      (when (plusp nready)
        (let ((i 0))
          (declare (type fixnum i))
          (dolist (s sockets)
            (when (= (aref states i) +state-read+)
              (setf (state s) :read))
            (incf i))))
      (count :read sockets :key #'state))))

(defun wait-on-wait-list (wl timeout)
  "Wait on the wait list WL; set the STATE of the sockets that are ready (and
reset those the previous wait set). Returns the list of ready sockets."
  (declare (type wait-list wl) (optimize speed))
  (dolist (s (wait-list-marked wl))
    (setf (state s) nil))
  (let ((marked '())
        (generation (setf (wait-list-generation wl)
                          (logand (1+ (wait-list-generation wl)) most-positive-fixnum))))
    (declare (type fixnum generation))
    (macrolet ((mark (form)
                 `(let ((s ,form))
                    (unless (= (the fixnum (wait-mark s)) generation)
                      (setf (wait-mark s) generation
                            (state s) :read)
                      (push s marked)))))
      ;; Sockets whose streams hold input already.
      (when (wait-list-pending wl)
        (setf (wait-list-pending wl)
              (delete-if-not (lambda (s)
                               ;; An fd-stream fills its buffer without telling
                               ;; us: its socket stays pending, looked at each wait.
                               (or (when (buffered-input-p s)
                                     (mark s)
                                     t)
                                   (and (typep s 'stream-usocket)
                                        (native-stream-socket-p s))))
                             (wait-list-pending wl))))
      (let* ((ready (wait-list-ready wl))
             (scratch (wait-list-scratch wl))
             ;; At most +wait-batch+ ready sockets a wait (the core's epoll is
             ;; level-triggered: the others come with the next wait); the core
             ;; sets up room for CAP events at each call.
             (cap (min (length ready) (max 1 (wait-list-count wl))))
             (handle (wait-list-handle wl))
             (map (wait-list-map wl))
             ;; The first slice needs no clock; later ones count from here.
             (deadline nil)
             (slice (cond (marked 0)
                          (timeout (min +slice-ms+ (seconds->ms timeout)))
                          (t +slice-ms+))))
        (declare (type fixnum slice))
        (when (and timeout (> (seconds->ms timeout) slice))
          (setf deadline (deadline-after timeout)))
        (loop
          (with-committed-call (code value message errno)
              ((with-vector-pointer (rp ready :uint64 :direction :in)
                 (with-vector-pointer (sp scratch :uint64 :direction :in)
                   (%wait-list-wait handle slice rp cap sp (cffi:inc-pointer sp 8))))
               (aref scratch 0))
            (unless (zerop code)
              (signal-status code message errno :socket nil))
            (dotimes (i value)
              (let ((s (gethash (aref ready i) map)))
                (when s (mark s))))
            (when (or marked (zerop slice)
                      (and timeout (null deadline))
                      (and deadline (<= (the fixnum (ms-until deadline)) 0)))
              (return))
            (setf slice (slice-ms deadline))))))
    (setf (wait-list-marked wl) marked)
    marked))
