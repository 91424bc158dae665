;;;; SOCKET-SERVER, TCP and UDP.

(in-package #:usocket-cffi-tests)

(defmacro with-server ((thread socket &rest server-args) &body body)
  "Run (SOCKET-SERVER ,@SERVER-ARGS :IN-NEW-THREAD T); stop it after BODY by
closing its socket, and check that its thread ends."
  `(multiple-value-bind (,thread ,socket) (socket-server ,@server-args :in-new-thread t)
     (unwind-protect (progn ,@body)
       (socket-close ,socket)
       (join ,thread 5))))

(defun server-port (socket) (get-local-port socket))

(deftest tcp-server-echo
  (with-server (thread socket "127.0.0.1" 0 #'echo-tcp-handler nil)
    (is (bt:threadp thread))
    (is (stream-server-usocket-p socket))
    (with-client-socket (c stream "127.0.0.1" (server-port socket))
      (send-line stream "first")
      (is-equal "first" (read-line stream))
      (send-line stream "sécond")
      (is-equal "sécond" (read-line stream)))))

(deftest tcp-server-remote-host-and-arguments
  (let ((seen nil))
    (with-server (thread socket "127.0.0.1" 0
                         (lambda (stream tag)
                           (setf seen (list tag *remote-host* *remote-port*))
                           (format stream "~A~%" tag))
                         '(:tag-value))
      (with-client-socket (c stream "127.0.0.1" (server-port socket))
        (is-equal "TAG-VALUE" (read-line stream))
        (is-equal (list :tag-value (octets 127 0 0 1) (get-local-port c)) seen)
        ;; The server closed the client after the handler.
        (is (eq :eof (read-line stream nil :eof)))))))

(deftest tcp-server-default-handler-and-element-type
  (with-server (thread socket "127.0.0.1" 0 #'default-tcp-handler nil)
    (with-client-socket (c stream "127.0.0.1" (server-port socket))
      (is-equal "Hello world!" (read-line stream))))
  (with-server (thread socket "127.0.0.1" 0
                       (lambda (stream) (write-sequence (octets 1 2 3) stream))
                       nil :element-type '(unsigned-byte 8))
    (with-client-socket (c stream "127.0.0.1" (server-port socket) :element-type '(unsigned-byte 8))
      (let ((v (make-octets 3)))
        (is-equal 3 (read-sequence v stream))
        (is-equal (octets 1 2 3) v)))))

(deftest tcp-server-handler-errors-do-not-kill-it
  (let ((*error-output* (make-broadcast-stream)))
    (with-server (thread socket "127.0.0.1" 0
                         (lambda (stream)
                           (let ((line (read-line stream)))
                             (when (string= line "boom") (error "handler failed"))
                             (send-line stream line)))
                         nil)
      (with-client-socket (c stream "127.0.0.1" (server-port socket))
        (send-line stream "boom")
        (is (eq :eof (read-line stream nil :eof))))
      (with-client-socket (c stream "127.0.0.1" (server-port socket))
        (send-line stream "fine")
        (is-equal "fine" (read-line stream))))))

(deftest tcp-server-multi-threading
  ;; The first client's handler waits for a second client to be served.
  (let ((lock (bt:make-lock)) (cv (bt:make-condition-variable)) (second-done nil))
    (with-server (thread socket "127.0.0.1" 0
                         (lambda (stream)
                           (let ((line (read-line stream)))
                             (if (string= line "first")
                                 (bt:with-lock-held (lock)
                                   (loop repeat 50 until second-done
                                         do (bt:condition-wait cv lock :timeout 0.2))
                                   (send-line stream (if second-done "after second" "alone")))
                                 (progn (send-line stream "second")
                                        (bt:with-lock-held (lock)
                                          (setf second-done t)
                                          (bt:condition-notify cv))))))
                         nil :multi-threading t)
      (with-client-socket (c1 s1 "127.0.0.1" (server-port socket))
        (send-line s1 "first")
        (with-client-socket (c2 s2 "127.0.0.1" (server-port socket))
          (send-line s2 "x")
          (is-equal "second" (read-line s2)))
        (is-equal "after second" (read-line s1))))))

(defun free-port ()
  (with-sockets (probe)
    (setf probe (socket-listen "127.0.0.1" 0))
    (get-local-port probe)))

(deftest tcp-server-on-calling-thread
  ;; Without :in-new-thread it serves on the calling thread until its socket
  ;; is closed (here by the handler, through usocket's *server*).
  (let* ((port (free-port))
         (thread (spawn "caller"
                        (lambda ()
                          (socket-server "127.0.0.1" port
                                         (lambda (stream)
                                           (send-line stream "served")
                                           (socket-close usocket-cffi::*server*)))
                          :returned))))
    ;; Nothing tells when the other thread listens: retry the connect (bounded).
    (let ((client (loop repeat 500
                        do (handler-case (return (socket-connect "127.0.0.1" port))
                             (connection-refused-error () (sleep 0.01))))))
      (is client "connected to the server")
      (when client
        (unwind-protect (is-equal "served" (read-line (socket-stream client)))
          (socket-close client))))
    (is-equal :returned (join thread 5))))

(deftest udp-server
  (with-server (thread socket "127.0.0.1" 0 #'default-udp-handler nil :protocol :datagram)
    (is (datagram-usocket-p socket))
    (with-sockets (c)
      (setf c (socket-connect "127.0.0.1" (server-port socket) :protocol :datagram :timeout 5))
      (socket-send c (octets 1 2 3) 3)
      (multiple-value-bind (buf n host port) (socket-receive c nil nil)
        (is-equal 3 n)
        (is-equal (octets 1 2 3) (subseq buf 0 3))
        (is-equal (octets 127 0 0 1) host)
        (is-equal (server-port socket) port)))))

(deftest udp-server-replies-to-sender-with-arguments
  (let ((seen '()))
    (with-server (thread socket "127.0.0.1" 0
                         (lambda (data k)
                           (push (list *remote-host* *remote-port*) seen)
                           (if (= (aref data 0) 0)
                               nil     ; no reply
                               (map '(vector (unsigned-byte 8)) (lambda (b) (* b k)) data)))
                         '(2) :protocol :datagram :max-buffer-size 16 :timeout 1)
      (with-sockets (a b)
        (setf a (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1" :timeout 5)
              b (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1" :timeout 5))
        (socket-send a (octets 0) 1 :host "127.0.0.1" :port (server-port socket))
        (socket-send a (octets 1 2) 2 :host "127.0.0.1" :port (server-port socket))
        (socket-send b (octets 5) 1 :host "127.0.0.1" :port (server-port socket))
        (multiple-value-bind (buf n) (socket-receive a nil nil)
          (is-equal 2 n)
          (is-equal (octets 2 4) (subseq buf 0 2)))
        (multiple-value-bind (buf n) (socket-receive b nil nil)
          (is-equal 1 n)
          (is-equal 10 (aref buf 0)))
        (is (member (list (octets 127 0 0 1) (get-local-port b)) seen :test #'equalp))
        (is-equal 3 (length seen))))))

(deftest udp-server-timeout-is-checked-by-the-core
  ;; A negative or too large UDP timeout is invalid-argument (the core checks
  ;; it, as for every runtime); a short one never ends the server.
  (signals invalid-argument-error
           (socket-server "127.0.0.1" 0 #'default-udp-handler nil :protocol :datagram
                                                                   :timeout -1 :in-new-thread t))
  (signals invalid-argument-error
           (socket-server "127.0.0.1" 0 #'default-udp-handler nil :protocol :datagram
                                                                   :timeout (expt 2 40)
                                                                   :in-new-thread t))
  (with-server (thread socket "127.0.0.1" 0 #'default-udp-handler nil :protocol :datagram
                                                                       :timeout 0.01)
    (wait-for-input '() :timeout 0.1)     ; several timeouts pass
    (is (bt:thread-alive-p thread) "the server goes on after its timeout")
    (with-sockets (c)
      (setf c (socket-connect "127.0.0.1" (server-port socket) :protocol :datagram :timeout 5))
      (socket-send c (octets 9) 1)
      (is-equal 1 (nth-value 1 (socket-receive c nil nil))))))

(deftest server-runs-on-the-cores-server-next
  ;; The Lisp server is a core server handle served with usocket_server_next
  ;; (the core's accept policy); a burst of clients beyond the default
  ;; listen backlog all get served (backlog SOMAXCONN).
  (let ((served 0) (lock (bt:make-lock)))
    (with-server (thread socket "127.0.0.1" 0
                         (lambda (stream)
                           (bt:with-lock-held (lock) (incf served))
                           (write-line "ok" stream))
                         nil :multi-threading t)
      (let ((clients (loop repeat 64
                           collect (socket-connect "127.0.0.1" (server-port socket)))))
        (unwind-protect
             (dolist (c clients)
               (is-equal "ok" (read-line (socket-stream c))))
          (mapc #'socket-close clients)))
      (is-equal 64 served))))

(deftest finalizers-of-closed-sockets-leave-the-last-error-alone
  ;; A finalizer may run in this thread during any allocation (ECL's
  ;; collector runs them where it allocates). The finalizer of a socket
  ;; closed already must make no core call that fails: that would replace
  ;; the last error message (and free the string) that this thread may be
  ;; reading. Regression: ECL server threads died of babel's
  ;; INVALID-UTF8-CONTINUATION-BYTE decoding such a freed message.
  (handler-case (socket-close (socket-connect "127.0.0.1" (free-port)))
    (connection-refused-error () nil))
  (let ((before (usocket-cffi::%last-error-message)))
    (is (search "refused" before) before)
    (loop repeat 200
          do (socket-close (socket-listen "127.0.0.1" 0)))
    (loop repeat 4 do (full-gc) (make-list 100000)) ; allocate: finalizers run
    (is-equal before (usocket-cffi::%last-error-message))))
