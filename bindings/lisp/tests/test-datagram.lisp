;;;; UDP: connected and unconnected, IPv4 and IPv6.

(in-package #:usocket-cffi-tests)

(defun udp-receiver (&optional (host "127.0.0.1"))
  (socket-connect nil nil :protocol :datagram :local-host host :local-port 0))

(deftest udp-connected
  (with-sockets (receiver sender)
    (setf receiver (udp-receiver))
    (let ((port (get-local-port receiver)))
      (setf sender (socket-connect "127.0.0.1" port :protocol :datagram))
      (is (usocket-cffi::connected-p sender))
      (is (not (usocket-cffi::connected-p receiver)))
      (is-equal 5 (socket-send sender (octets 1 2 3 4 5) 5))
      (let ((buffer (make-octets 32)))
        (multiple-value-bind (buf n host from-port) (socket-receive receiver buffer 32)
          (is (eq buf buffer))
          (is-equal 5 n)
          (is-equal (octets 1 2 3 4 5) (subseq buffer 0 5))
          (is-equal (octets 127 0 0 1) host)
          (is-equal (get-local-port sender) from-port)
          ;; Answer the sender.
          (is-equal 3 (socket-send receiver (octets 9 8 7) 3 :host host :port from-port))))
      (multiple-value-bind (buf n host from-port) (socket-receive sender nil nil)
        (is-equal +max-datagram-packet-size+ (length buf))
        (is-equal 3 n)
        (is-equal (octets 9 8 7) (subseq buf 0 3))
        (is-equal (octets 127 0 0 1) host)
        (is-equal port from-port))
      (is-equal port (get-peer-port sender))
      (is-equal (octets 127 0 0 1) (get-peer-address sender))
      (multiple-value-bind (address lport) (get-local-name sender)
        (is-equal (octets 127 0 0 1) address)
        (is (plusp lport))))))

(deftest udp-unconnected
  (with-sockets (a b)
    (setf a (udp-receiver) b (socket-connect nil nil :protocol :datagram))
    (is (datagram-usocket-p b))
    (socket-send b (octets 10 20) 2 :host "127.0.0.1" :port (get-local-port a))
    (multiple-value-bind (buf n host port) (socket-receive a (make-octets 8) nil)
      (is-equal 2 n)
      (is-equal (octets 10 20) (subseq buf 0 2))
      (socket-send a (octets 30) 1 :host host :port port))
    (multiple-value-bind (buf n) (socket-receive b (make-octets 8) 8)
      (is-equal 1 n)
      (is-equal 30 (aref buf 0)))
    ;; Host forms for the destination.
    (socket-send b (octets 1) 1 :host #(127 0 0 1) :port (get-local-port a))
    (socket-send b (octets 2) 1 :host 2130706433 :port (get-local-port a))
    (is-equal 1 (aref (socket-receive a nil nil) 0))
    (is-equal 2 (aref (socket-receive a nil nil) 0))
    ;; Without a destination an unconnected socket cannot send.
    (signals socket-error (socket-send b (octets 1) 1))))

(deftest udp-ipv6
  (with-sockets (a b)
    (setf a (udp-receiver "::1"))
    (is-equal 16 (length (get-local-address a)))
    (setf b (socket-connect "::1" (get-local-port a) :protocol :datagram))
    (socket-send b (octets 6 6) 2)
    (multiple-value-bind (buf n host) (socket-receive a nil nil)
      (is-equal 2 n)
      (is-equal (octets 6 6) (subseq buf 0 2))
      (is-equal (ipv6-host-to-vector "::1") host))
    (setf (socket-option a :receive-timeout) 1)
    (socket-close b)
    (setf b (socket-connect nil nil :protocol :datagram :local-host "::1"))
    (socket-send b (octets 7) 1 :host (ipv6-host-to-vector "::1") :port (get-local-port a))
    (is-equal 7 (aref (socket-receive a nil nil) 0))))

(deftest udp-truncation-offset-and-odd-buffers
  (with-sockets (a b)
    (setf a (udp-receiver))
    (setf b (socket-connect "127.0.0.1" (get-local-port a) :protocol :datagram))
    (socket-send b (octets 1 2 3 4 5 6 7 8) 8)
    (multiple-value-bind (buf n) (socket-receive a (make-octets 16) 4)
      (is-equal 4 n "cut to the length asked for")
      (is-equal (octets 1 2 3 4) (subseq buf 0 4)))
    ;; :offset, a non-simple buffer, a general vector.
    (socket-send b (octets 0 0 5 6 7) 3 :offset 2)
    (is-equal (octets 5 6 7) (subseq (socket-receive a nil nil) 0 3))
    (socket-send b (make-array 3 :element-type '(unsigned-byte 8) :adjustable t
                                 :initial-contents '(4 5 6))
                 3)
    (is-equal (octets 4 5 6) (subseq (socket-receive a nil nil) 0 3))
    (socket-send b #(1 1) 2)
    (is-equal (octets 1 1) (subseq (socket-receive a nil nil) 0 2))
    (let ((d (make-array 4 :element-type '(unsigned-byte 8) :displaced-to (make-octets 10)
                           :displaced-index-offset 3)))
      (socket-send b (octets 9 9 9) 3)
      (multiple-value-bind (buf n) (socket-receive a d nil)
        (is (eq buf d))
        (is-equal 3 n)
        (is-equal (octets 9 9 9 0) (coerce d '(vector (unsigned-byte 8))))))
    ;; The largest datagram.
    (socket-send b (make-octets +max-datagram-packet-size+ 3) +max-datagram-packet-size+)
    (multiple-value-bind (buf n) (socket-receive a nil nil)
      (is-equal +max-datagram-packet-size+ n)
      (is-equal 3 (aref buf (1- n))))
    (signals invalid-argument-error
             (socket-send b (make-octets (1+ +max-datagram-packet-size+))
                          (1+ +max-datagram-packet-size+)))))

(deftest udp-receive-timeout
  (with-sockets (a)
    (setf a (socket-connect nil nil :protocol :datagram :local-host "127.0.0.1" :timeout 0.3))
    (multiple-value-bind (seconds)
        (timed (signals timeout-error (socket-receive a nil nil)))
      (is (<= 0.25 seconds 1.5)))))

(deftest udp-refused
  ;; A connected datagram socket learns of an ICMP port unreachable.
  (with-sockets (probe sender)
    (setf probe (udp-receiver))
    (let ((port (get-local-port probe)))
      (socket-close probe)
      (setf sender (socket-connect "127.0.0.1" port :protocol :datagram :timeout 2))
      (socket-send sender (octets 1) 1)
      (signals connection-refused-error (socket-receive sender nil nil)))))

(deftest udp-shutdown-and-wrong-kind
  (with-sockets (a b)
    (setf a (udp-receiver) b (socket-connect "127.0.0.1" 9 :protocol :datagram))
    (is (socket-shutdown b :io))
    (signals wrong-kind-error (read-byte (socket-stream (make-instance 'stream-usocket
                                                                       :socket (socket a)))))))
