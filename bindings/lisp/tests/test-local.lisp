;;;; Unix-domain sockets: pathname hosts (usocket 0.8.9's convention), the
;;;; abstract namespace (@name), names, credentials, datagrams, the server.

(in-package #:usocket-cffi-tests)

(defun temp-socket-path (tag)
  (format nil "/tmp/usocket-cffi-~A-~D-~D.sock" tag (getpid) (random 1000000)))

(defun abstract-name (tag)
  (format nil "@usocket-cffi-~A-~D-~D" tag (getpid) (random 1000000)))

(defmacro with-local-pair ((client server path &rest connect-args) &body body)
  "A local listener on PATH (a string), a client connected to it, the accepted server side."
  (let ((listener (gensym "LISTENER")))
    `(with-sockets (,client ,server ,listener)
       (setf ,listener (socket-listen (pathname ,path) nil)
             ,client (socket-connect (pathname ,path) nil ,@connect-args)
             ,server (socket-accept ,listener))
       ,@body)))

(deftest local-stream-sockets
  (dolist (native (native-stream-kinds))
    (let ((usocket-cffi::*native-streams* native)
          (path (temp-socket-path "stream")))
      (with-local-pair (client server path)
        (is (probe-file path) "the listener made its file")
        (format (socket-stream client) "héllo~%")
        (force-output (socket-stream client))
        (is-equal "héllo" (read-line (socket-stream server)))
        (format (socket-stream server) "back~%")
        (force-output (socket-stream server))
        (is-equal "back" (read-line (socket-stream client)))
        ;; Names as native usocket 0.8.9 gives them: the path, NIL when unnamed.
        (is-equal path (get-local-name server))
        (is-equal path (get-peer-name client))
        (is (null (get-local-name client)) "an unbound client is unnamed")
        (is (null (get-peer-name server)))
        (is-equal path (get-local-path server))
        (is-equal path (get-peer-path client))
        (is (null (get-peer-path server)))
        ;; Waits work on them as on TCP.
        (format (socket-stream client) "x")
        (force-output (socket-stream client))
        (is (wait-for-input server :timeout 1 :ready-only t)))
      (is (not (probe-file path)) "closing the listener removed its file"))))

(deftest local-peer-credentials
  (let ((path (temp-socket-path "cred")))
    (with-local-pair (client server path)
      (multiple-value-bind (pid uid gid) (get-peer-credentials server)
        (is-equal (getpid) pid)
        (is-equal (getuid) uid)
        (is (integerp gid)))
      (multiple-value-bind (pid) (get-peer-credentials client)
        (is-equal (getpid) pid)))))

(deftest local-abstract-names
  (let ((name (abstract-name "abs")))
    (with-local-pair (client server name)
      (is (not (probe-file (subseq name 1))) "no file for an abstract name")
      (is-equal name (get-local-name server))
      (is-equal name (get-peer-path client))
      (write-line "abstract" (socket-stream client))
      (force-output (socket-stream client))
      (is-equal "abstract" (read-line (socket-stream server))))))

(deftest local-errors
  (let ((path (temp-socket-path "none")))
    ;; Nothing there: the core's ENOENT (unknown-error with errno ENOENT).
    (let ((c (signals socket-error (socket-connect (pathname path) nil))))
      (is (typep c 'socket-error)))
    ;; A path too long for sun_path.
    (signals invalid-argument-error
             (socket-connect (pathname (concatenate 'string "/tmp/"
                                                    (make-string 200 :initial-element #\x)))
                             nil))
    ;; A live listener's path is in use.
    (with-sockets (a)
      (setf a (socket-listen (pathname path) nil))
      (signals address-in-use-error (socket-listen (pathname path) nil))
      (signals address-in-use-error (socket-listen (pathname path) nil :reuse-address t)))
    ;; Path calls on a TCP socket: wrong kind.
    (with-pair (client server)
      (signals wrong-kind-error (get-local-path client))
      (signals wrong-kind-error (get-peer-credentials client)))))

(deftest local-datagrams
  (let ((a-path (temp-socket-path "dga")) (b-path (temp-socket-path "dgb")))
    (with-sockets (a b c)
      (setf a (socket-connect nil nil :protocol :datagram :local-host (pathname a-path) :timeout 2)
            b (socket-connect nil nil :protocol :datagram :local-host (pathname b-path) :timeout 2))
      (is (probe-file a-path))
      (is-equal 3 (socket-send a (octets 1 2 3) 3 :host (pathname b-path)))
      (multiple-value-bind (buf n from port) (socket-receive b nil nil)
        (is-equal 3 n)
        (is-equal (octets 1 2 3) (subseq buf 0 3))
        (is-equal a-path from)
        (is (null port)))
      ;; A connected one, unnamed: its datagrams come from no path.
      (setf c (socket-connect (pathname b-path) nil :protocol :datagram))
      (socket-send c (octets 7) 1)
      (multiple-value-bind (buf n from) (socket-receive b nil nil)
        (declare (ignore buf))
        (is-equal 1 n)
        (is (null from)))
      ;; The receive timeout holds.
      (setf (socket-option b :receive-timeout) 0.1)
      (signals timeout-error (socket-receive b nil nil)))
    (is (not (probe-file a-path)) "closed: its file is gone")))

(deftest local-socket-server
  (let ((path (temp-socket-path "server")))
    (with-server (thread socket (pathname path) nil #'echo-tcp-handler nil :multi-threading t)
      (is (probe-file path))
      (with-sockets (c)
        (setf c (socket-connect (pathname path) nil))
        (send-line (socket-stream c) "local")
        (is-equal "local" (read-line (socket-stream c)))))
    (is (not (probe-file path)) "stopping the server removed its file")))
