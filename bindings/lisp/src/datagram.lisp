;;;; UDP: SOCKET-SEND and SOCKET-RECEIVE.

(in-package #:usocket-cffi)

(defgeneric socket-send (usocket buffer length &key host port)
  (:documentation "Send LENGTH octets of BUFFER as one datagram, to HOST and
PORT on an unconnected socket. Returns the number of octets sent."))

(defgeneric socket-receive (usocket buffer length &key)
  (:documentation "Receive one datagram into BUFFER (a fresh one of LENGTH,
or 65507, octets when NIL); a longer datagram is cut to LENGTH. Returns
(values buffer length host port). Blocks at most the socket's timeout, then
signals TIMEOUT-ERROR."))

(defun octets-for-sending (buffer start length)
  "BUFFER's octets from START as a simple octet vector and its start."
  (if (typep buffer '(array (unsigned-byte 8) (*)))
      (with-octet-storage (data offset buffer)
        (if (typep buffer 'octets)
            (values data (+ offset start))
            (values (subseq data (+ offset start) (+ offset start length)) 0)))
      (let ((v (make-array length :element-type 'octet)))
        (if (stringp buffer)
            (replace v (babel:string-to-octets buffer :encoding :utf-8) :start2 start)
            (replace v buffer :start2 start))
        (values v 0))))

(defmethod socket-send ((usocket datagram-usocket) buffer length &key host port (offset 0))
  (when (and host port) (check-port port "socket-send: port"))
  (let ((length (or length (- (length buffer) offset))))
    (when (> (+ offset length) (length buffer))
      (error "~D octets from ~D do not fit in a buffer of ~D." length offset (length buffer)))
    (multiple-value-bind (data start) (octets-for-sending buffer offset length)
      (declare (type octets data) (type fixnum start))
      (when (or (local-p usocket) (pathnamep host))
        (return-from socket-send
          (send-local usocket data start length (and host (local-path-string host)))))
      (with-socket-context (usocket host)
        (with-host-pointer (to (and host port host))
          (cffi:with-foreign-object (nsent 'size-t)
            (with-committed-call (code value message errno)
                ((with-octets-pointer (p data start length :direction :out)
                   (%send (socket-handle usocket) p length to (if (and host port) port 0) nsent))
                 (cffi:mem-ref nsent 'size-t))
              (if (zerop code)
                  value
                  (signal-status code message errno)))))))))

(defmethod socket-receive ((usocket datagram-usocket) buffer length &key element-type)
  (declare (ignore element-type))
  (let* ((buffer (or buffer (make-array (or length +max-datagram-packet-size+)
                                        :element-type 'octet)))
         (length (min (or length (length buffer)) (length buffer))))
    (unless (typep buffer '(array (unsigned-byte 8) (*)))
      (error 'type-error :datum buffer :expected-type '(vector (unsigned-byte 8))))
    (with-octet-storage (data start buffer)
      (declare (type octets data) (type fixnum start))
      (let ((handle (socket-handle usocket)))
        (if (local-p usocket)
            (receive-local usocket handle data start length buffer)
            (cffi:with-foreign-objects ((n 'size-t) (from '(:struct address)))
              (let ((count (sliced-call (usocket "receive") (slice)
                               (with-octets-pointer ((p nbytes) data start length :direction :in
                                                        :filled (cffi:mem-ref n 'size-t))
                                 (%receive-for handle p nbytes slice n from))
                             (cffi:mem-ref n 'size-t))))
                (values buffer count (address-octets from) (address-port from)))))))))

(defun receive-local (usocket handle data start length buffer)
  "SOCKET-RECEIVE on a Unix-domain datagram socket: (values buffer count
sender-path nil); the path is NIL for an unnamed sender."
  (let ((cap (1+ +local-path-max+)))
    (cffi:with-foreign-objects ((n 'size-t) (from :char cap) (from-len 'size-t))
      (let ((count (sliced-call (usocket "receive") (slice)
                       (with-octets-pointer ((p nbytes) data start length :direction :in
                                                :filled (cffi:mem-ref n 'size-t))
                         (%receive-local handle p nbytes slice n from cap from-len))
                     (cffi:mem-ref n 'size-t))))
        (let ((path (cffi:foreign-string-to-lisp from :encoding :utf-8)))
          (values buffer count (if (string= path "") nil path) nil))))))
