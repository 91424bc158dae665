;;;; WAIT-FOR-INPUT on sockets, lists and wait lists.

(in-package #:usocket-cffi-tests)

(deftest wait-single-socket
  (with-pair (client server)
    (multiple-value-bind (result remaining) (wait-for-input server :timeout 0)
      (is (eq result server) "the socket itself comes back")
      (is (null remaining))
      (is (null (socket-state server))))
    (is (null (wait-for-input server :timeout 0 :ready-only t)))
    (send-line (socket-stream client) "hi")
    (multiple-value-bind (result remaining) (wait-for-input server :timeout 5)
      (is (eq result server))
      (is (and remaining (< 0 remaining) (<= remaining 5)) "time left is returned")
      (is (eq :read (socket-state server))))
    (is-equal (list server) (wait-for-input server :ready-only t))
    (is-equal "hi" (read-line (socket-stream server)))
    (multiple-value-bind (seconds)
        (timed (wait-for-input server :timeout 0.2))
      (is (<= 0.15 seconds 1.0) "a timeout of 0.2 s waits about that long"))
    (is (null (socket-state server)) "the state is reset")))

(deftest wait-list-of-sockets
  (with-pair (c1 s1)
    (with-pair (c2 s2)
      (let ((sockets (list s1 s2)))
        (multiple-value-bind (result remaining) (wait-for-input sockets :timeout 0)
          (is (eq result sockets))
          (is (null remaining))
          (is (notany #'socket-state sockets)))
        (send-line (socket-stream c2) "two")
        (is-equal (list s2) (wait-for-input sockets :timeout 5 :ready-only t))
        (is (eq :read (socket-state s2)))
        (is (null (socket-state s1)))
        (send-line (socket-stream c1) "one")
        (wait-for-input sockets :timeout 5)
        ;; A short bounded wait for both to show.
        (loop repeat 50 until (every #'socket-state sockets)
              do (wait-for-input sockets :timeout 0.1))
        (is (every #'socket-state sockets))
        (is-equal 2 (length (wait-for-input sockets :ready-only t)))))))

(deftest wait-server-and-datagram-readiness
  (with-sockets (listener client udp sender server)
    (setf listener (socket-listen "127.0.0.1" 0))
    (is (null (wait-for-input listener :timeout 0 :ready-only t)))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)))
    (is-equal (list listener) (wait-for-input listener :timeout 5 :ready-only t))
    (setf server (socket-accept listener))
    (is (null (wait-for-input listener :timeout 0 :ready-only t)))
    (setf udp (udp-receiver))
    (is (null (wait-for-input udp :timeout 0 :ready-only t)))
    (setf sender (socket-connect "127.0.0.1" (get-local-port udp) :protocol :datagram))
    (socket-send sender (octets 1) 1)
    (is-equal (list udp) (wait-for-input (list listener udp) :timeout 5 :ready-only t))))

(deftest wait-eof-is-ready
  (with-pair (client server)
    (socket-close client)
    (is-equal (list server) (wait-for-input server :timeout 5 :ready-only t))
    (is (eq :eof (read-char (socket-stream server) nil :eof)))))

(deftest wait-buffered-input-counts
  (with-pair (client server)
    (send-line (socket-stream client) "a")
    (send-line (socket-stream client) "b")
    (finish-output (socket-stream client))
    ;; Read until both lines are in the stream's buffer.
    (is-equal "a" (read-line (socket-stream server)))
    (loop repeat 100
          until (usocket-cffi::buffered-input-p server)
          do (wait-for-input server :timeout 0.05))
    (when (usocket-cffi::buffered-input-p server)
      ;; The socket itself has nothing more, the buffer has "b".
      (multiple-value-bind (ready) (wait-for-input (list server) :timeout 0 :ready-only t)
        (is-equal (list server) ready))
      (let ((wl (make-wait-list (list server))))
        (is-equal (list server) (wait-for-input wl :timeout 0 :ready-only t))))
    (is-equal "b" (read-line (socket-stream server)))))

(deftest wait-lists
  (with-pair (c1 s1)
    (with-pair (c2 s2)
      (let ((wl (make-wait-list (list s1))))
        (is (usocket-cffi::wait-list-p wl))
        (add-waiter wl s2)
        (is (eq wl (usocket-cffi::wait-list s2)))
        (multiple-value-bind (result remaining) (wait-for-input wl :timeout 0)
          (is (eq result wl))
          (is (null remaining)))
        (send-line (socket-stream c1) "x")
        (is-equal (list s1) (wait-for-input wl :timeout 5 :ready-only t))
        (is (eq :read (socket-state s1)))
        (is-equal "x" (read-line (socket-stream s1)))
        (is (null (wait-for-input wl :timeout 0 :ready-only t)))
        (is (null (socket-state s1)) "states of the last wait are reset")
        (remove-waiter wl s1)
        (send-line (socket-stream c1) "y")
        (is (null (wait-for-input wl :timeout 0.05 :ready-only t)) "s1 was removed")
        (send-line (socket-stream c2) "z")
        (is-equal (list s2) (wait-for-input wl :timeout 5 :ready-only t))
        (remove-all-waiters wl)
        (is (null (usocket-cffi::wait-list-waiters wl)))
        (is (null (wait-for-input wl :timeout 0.05 :ready-only t)))
        (add-waiter wl s2)
        (is-equal (list s2) (wait-for-input wl :timeout 5 :ready-only t))
        ;; A closed socket leaves the list.
        (socket-close s2)
        (is (null (usocket-cffi::wait-list-waiters wl)))
        (is (null (wait-for-input wl :timeout 0.05 :ready-only t)))))))

(deftest wait-alone-after-a-list
  ;; usocket keeps a stale cached wait list here and returns at once.
  (with-pair (c1 s1)
    (with-pair (c2 s2)
      (send-line (socket-stream c2) "ready")
      (is-equal (list s2) (wait-for-input (list s1 s2) :timeout 5 :ready-only t))
      (multiple-value-bind (seconds result)
          (timed (wait-for-input s1 :timeout 0.3 :ready-only t))
        (is (null result))
        (is (>= seconds 0.25) "waiting on the idle socket alone waits"))
      (let ((wl (make-wait-list (list s1 s2))))
        (is-equal (list s2) (wait-for-input wl :timeout 5 :ready-only t))
        (multiple-value-bind (seconds result)
            (timed (wait-for-input s1 :timeout 0.3 :ready-only t))
          (is (null result))
          (is (>= seconds 0.25)))
        (send-line (socket-stream c1) "now")
        (is-equal (list s1) (wait-for-input s1 :timeout 5 :ready-only t))))))

(deftest wait-empty-list
  (multiple-value-bind (seconds result) (timed (wait-for-input '() :timeout 0.1))
    (is (null result))
    (is (>= seconds 0.09))))

(defun make-many-pairs (n listener)
  "N connected pairs to LISTENER: (client . server) conses."
  (loop repeat n
        collect (let ((c (socket-connect "127.0.0.1" (get-local-port listener))))
                  (cons c (socket-accept listener)))))

(deftest wait-1500-sockets
  (let ((pairs '()) listener)
    (unwind-protect
         (progn
           (setf listener (socket-listen "127.0.0.1" 0 :backlog 128))
           (setf pairs (make-many-pairs 1500 listener))
           (let* ((servers (mapcar #'cdr pairs))
                  (last (car (last pairs))))
             (is (> (socket-fd (cdr last)) 1023) "descriptors past FD_SETSIZE")
             (is (null (wait-for-input servers :timeout 0 :ready-only t)))
             (send-line (socket-stream (car last)) "far")
             (is-equal (list (cdr last)) (wait-for-input servers :timeout 5 :ready-only t))
             (let ((wl (make-wait-list servers)))
               (is-equal 1500 (usocket-cffi::wait-list-count wl))
               (is-equal (list (cdr last)) (wait-for-input wl :timeout 5 :ready-only t))
               (send-line (socket-stream (car (first pairs))) "near")
               (let ((ready (wait-for-input wl :timeout 5 :ready-only t)))
                 (is (member (cdr (first pairs)) ready))
                 (is (<= (length ready) 2)))
               ;; Timing: a wait on the list costs little.
               (read-line (socket-stream (cdr last)))
               (read-line (socket-stream (cdr (first pairs))))
               (multiple-value-bind (seconds result)
                   (timed (wait-for-input wl :timeout 0.2 :ready-only t))
                 (is (null result))
                 (is (>= seconds 0.15))))))
      (dolist (p pairs) (socket-close (car p)) (socket-close (cdr p)))
      (when listener (socket-close listener)))))

(deftest wait-on-nothing-asks-the-core
  ;; With a timeout the core waits that long and nothing is ready; without
  ;; one it is invalid-argument (it would never return), as in every runtime.
  (signals invalid-argument-error (wait-for-input '()))
  (multiple-value-bind (seconds result) (timed (wait-for-input '() :timeout 0.12))
    (is (null result))
    (is (<= 0.1 seconds 1))))
