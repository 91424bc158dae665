;;;; Hosts and addresses: usocket's helpers, host arguments for the core,
;;;; and name resolution.

(in-package #:usocket-cffi)

(defparameter *wildcard-host* #(0 0 0 0)
  "The host to pass to SOCKET-LISTEN to listen on every interface.")

(defparameter *auto-port* 0
  "The port to pass to SOCKET-LISTEN to have the system pick a free one.")

(defvar *ipv6-only-p* nil
  "When true, GET-HOST-BY-NAME and GET-RANDOM-HOST-BY-NAME answer IPv6
addresses only (usocket 0.8.9).")

(defparameter *version* "0.8.9"
  "The usocket version whose API this implements.")

(defparameter *backend* :native)

(defvar *default-event-base* nil "Unused here (usocket's IOlib backend).")

(setf (documentation '+max-datagram-packet-size+ 'variable) ; constants.lisp
      "The largest payload of an IPv4 UDP datagram: 65535 less 20 (IP) and 8 (UDP).")

(deftype octet () '(unsigned-byte 8))
(deftype octets () '(simple-array (unsigned-byte 8) (*)))

;;; Integers and octet buffers.

(defun integer-to-octet-buffer (integer buffer octets &key (start 0))
  "Store INTEGER big-endian in OCTETS bytes of BUFFER from START; return BUFFER."
  (dotimes (i octets buffer)
    (setf (aref buffer (+ start i))
          (ldb (byte 8 (* 8 (- octets i 1))) integer))))

(defun octet-buffer-to-integer (buffer octets &key (start 0))
  "The big-endian integer in OCTETS bytes of BUFFER from START."
  (let ((n 0))
    (dotimes (i octets n)
      (setf n (logior (ash n 8) (aref buffer (+ start i)))))))

(defun port-to-octet-buffer (port buffer &key (start 0))
  (integer-to-octet-buffer port buffer 2 :start start))

(defun port-from-octet-buffer (buffer &key (start 0))
  (octet-buffer-to-integer buffer 2 :start start))

(defun ip-to-octet-buffer (ip buffer &key (start 0))
  (integer-to-octet-buffer (host-byte-order ip) buffer 4 :start start))

(defun ip-from-octet-buffer (buffer &key (start 0))
  (octet-buffer-to-integer buffer 4 :start start))

;;; IPv4.

(defun hbo-to-dotted-quad (integer)
  "A 32-bit host-byte-order address as \"a.b.c.d\"."
  (format nil "~D.~D.~D.~D"
          (ldb (byte 8 24) integer) (ldb (byte 8 16) integer)
          (ldb (byte 8 8) integer) (ldb (byte 8 0) integer)))

(defun hbo-to-vector-quad (integer)
  "A 32-bit host-byte-order address as a vector of four integers."
  (vector (ldb (byte 8 24) integer) (ldb (byte 8 16) integer)
          (ldb (byte 8 8) integer) (ldb (byte 8 0) integer)))

(defun vector-quad-to-dotted-quad (vector)
  (format nil "~D.~D.~D.~D" (aref vector 0) (aref vector 1) (aref vector 2) (aref vector 3)))

(defun parse-dotted-quad (string)
  "The four parts of a dotted quad as a list of integers, or NIL if STRING is not one."
  (let ((parts '()) (start 0) (len (length string)))
    (loop
      (let ((dot (or (position #\. string :start start) len)))
        (when (or (= dot start) (> (- dot start) 3)
                  (notevery #'digit-char-p (subseq string start dot)))
          (return-from parse-dotted-quad nil))
        (let ((n (parse-integer string :start start :end dot)))
          (when (> n 255) (return-from parse-dotted-quad nil))
          (push n parts))
        (when (>= dot len) (return))
        (setf start (1+ dot))))
    (when (= (length parts) 4) (nreverse parts))))

(defun dotted-quad-to-vector-quad (string)
  "\"a.b.c.d\" as a vector of four integers."
  (let ((parts (or (parse-dotted-quad string)
                   (error 'type-error :datum string :expected-type '(satisfies parse-dotted-quad)))))
    (apply #'vector parts)))

(defgeneric host-byte-order (address)
  (:documentation "An IPv4 address (dotted quad, 4-vector or integer) as a 32-bit integer."))

(defmethod host-byte-order ((address string))
  (host-byte-order (dotted-quad-to-vector-quad address)))

(defmethod host-byte-order ((address vector))
  (logior (ash (aref address 0) 24) (ash (aref address 1) 16)
          (ash (aref address 2) 8) (aref address 3)))

(defmethod host-byte-order ((address integer))
  address)

;;; IPv6. The text form is usocket's: hexadecimal words in upper case, the
;;; first run of zero words written as "::".

(defun vector-to-ipv6-host (vector)
  "A 16-octet address as IPv6 text, the way usocket writes it."
  (let* ((words (loop for i from 0 below 16 by 2
                      collect (logior (ash (aref vector i) 8) (aref vector (1+ i)))))
         (run-start (position 0 words))
         (run-end (if run-start (or (position-if #'plusp words :start run-start) 8) 0)))
    (with-output-to-string (out)
      (flet ((write-words (list)
               (format out "~{~X~^:~}" list)))
        (cond ((null run-start) (write-words words))
              (t (write-words (subseq words 0 run-start))
                 (write-string "::" out)
                 (write-words (subseq words run-end))))))))

(defun parse-ipv6 (string)
  "The 16 octets of an IPv6 literal (brackets and an embedded dotted quad
allowed), or NIL if STRING is not one."
  (let* ((s (if (and (> (length string) 1) (char= (char string 0) #\[)
                     (char= (char string (1- (length string))) #\]))
                (subseq string 1 (1- (length string)))
                string))
         (gap (search "::" s)))
    (when (and gap (search "::" s :start2 (1+ gap)))
      (return-from parse-ipv6 nil))
    (labels ((split (part)
               (if (string= part "")
                   '()
                   (loop with start = 0
                         for colon = (position #\: part :start start)
                         collect (subseq part start colon)
                         while colon do (setf start (1+ colon)))))
             (words (fields last-part-p)
               ;; Each field is 1-4 hex digits; the very last may be a dotted quad.
               (loop for (field . more) on fields
                     append (cond ((and last-part-p (null more) (find #\. field))
                                   (let ((q (parse-dotted-quad field)))
                                     (unless q (return-from parse-ipv6 nil))
                                     (list (logior (ash (first q) 8) (second q))
                                           (logior (ash (third q) 8) (fourth q)))))
                                  ((and (<= 1 (length field) 4)
                                        (every (lambda (c) (digit-char-p c 16)) field))
                                   (list (parse-integer field :radix 16)))
                                  (t (return-from parse-ipv6 nil))))))
      (let* ((head (words (split (if gap (subseq s 0 gap) s)) (not gap)))
             (tail (and gap (words (split (subseq s (+ gap 2))) t)))
             (all (cond (gap (when (<= (+ (length head) (length tail)) 7)
                               (append head
                                       (make-list (- 8 (length head) (length tail))
                                                  :initial-element 0)
                                       tail)))
                        ((= (length head) 8) head))))
        (when all
          (let ((v (make-array 16 :element-type 'octet)))
            (loop for w in all for i from 0 by 2
                  do (setf (aref v i) (ldb (byte 8 8) w)
                           (aref v (1+ i)) (ldb (byte 8 0) w)))
            v))))))

(defun ipv6-host-to-vector (string)
  "IPv6 text as a vector of 16 octets."
  (or (parse-ipv6 string)
      (error "~S is not an IPv6 address literal." string)))

(defun host-to-hostname (host)
  "A host (string, 4- or 16-octet vector, integer, NIL) as a string."
  (etypecase host
    (string host)
    (vector (case (length host)
              (4 (vector-quad-to-dotted-quad host))
              (16 (vector-to-ipv6-host host))
              (t (error 'type-error :datum host
                                    :expected-type '(or (vector * 4) (vector * 16))))))
    (integer (hbo-to-dotted-quad host))
    (null "0.0.0.0")))

(defun ip= (ip1 ip2)
  "Whether two addresses (strings, vectors or integers) are the same."
  (etypecase ip1
    (string (string= ip1 (host-to-hostname ip2)))
    (vector (equalp ip1 (if (stringp ip2)
                            (or (let ((q (parse-dotted-quad ip2))) (and q (apply #'vector q)))
                                (parse-ipv6 ip2)
                                ip2)
                            (if (integerp ip2) (hbo-to-vector-quad ip2) ip2))))
    (integer (= ip1 (host-byte-order ip2)))))

(defun ip/= (ip1 ip2)
  (not (ip= ip1 ip2)))

;;; Host arguments for the core.

(defun printable-host (string)
  "STRING with control characters and surrogates written as \\uXXXX, for messages."
  (with-output-to-string (out)
    (loop for c across string
          for code = (char-code c)
          do (if (or (< code 32) (= code 127) (<= #xD800 code #xDFFF))
                 (format out "\\u~4,'0X" code)
                 (write-char c out)))))

(defun check-host-text (string)
  "Refuse a host string the core would see cut or mangled: a NUL (a C string
ends there, so \"127.0.0.1<NUL>.example\" would reach the core as 127.0.0.1)
or a character UTF-8 cannot encode (a surrogate code point)."
  (let ((nul (position (code-char 0) string)))
    (when nul
      (invalid-argument nil "host \"~A\" contains a NUL character (at position ~D)"
                        (printable-host string) nul)))
  (let ((bad (position-if (lambda (c) (<= #xD800 (char-code c) #xDFFF)) string)))
    (when bad
      (invalid-argument nil "host \"~A\" is not valid Unicode: a surrogate code point (U+~4,'0X) ~
                             at position ~D cannot be encoded in UTF-8"
                        (printable-host string) (char-code (char string bad)) bad)))
  string)

(defun host-string (host)
  "The string to give the core for a host argument, NIL for none/wildcard.
A string holding a NUL or a surrogate signals INVALID-ARGUMENT-ERROR."
  (cond ((null host) nil)
        ((stringp host) (check-host-text host))
        ((and (vectorp host) (= (length host) 4))
         (if (every #'zerop host) "0.0.0.0" (vector-quad-to-dotted-quad host)))
        ((and (vectorp host) (= (length host) 16)) (vector-to-ipv6-host host))
        ((and (integerp host) (<= 0 host #xffffffff)) (hbo-to-dotted-quad host))
        (t (error 'type-error :datum host
                              :expected-type '(or string (vector * 4) (vector * 16)
                                               (unsigned-byte 32) null)))))

(defmacro with-host-pointer ((var host) &body body)
  "Bind VAR to a foreign UTF-8 copy of HOST (as HOST-STRING makes it), or a
null pointer."
  (let ((string (gensym "HOST")))
    `(let ((,string (host-string ,host)))
       (if ,string
           (cffi:with-foreign-string (,var ,string) ,@body)
           (let ((,var (cffi:null-pointer))) ,@body)))))

(defun address-octets (pointer)
  "The address in the usocket_address at POINTER, as a 4- or 16-octet vector."
  (let* ((family (cffi:foreign-slot-value pointer '(:struct address) 'family))
         (n (if (= family +family-ipv6+) 16 4))
         (v (make-array n :element-type 'octet))
         (octets (cffi:foreign-slot-pointer pointer '(:struct address) 'octets)))
    (dotimes (i n v)
      (setf (aref v i) (cffi:mem-aref octets :uint8 i)))))

(defun address-port (pointer)
  (cffi:foreign-slot-value pointer '(:struct address) 'port))

;;; Name service.

(defun get-hosts-by-name (name)
  "Every address NAME resolves to, as octet vectors, in the resolver's order."
  (let ((*error-host* name)
        (cap 8))
    (loop
      (cffi:with-foreign-objects ((out '(:struct address) cap) (count 'size-t))
        (%resolve (host-string name) out cap count)
        (let ((n (cffi:mem-ref count 'size-t)))
          (when (<= n cap)
            (return (loop for i below n
                          collect (address-octets
                                   (cffi:mem-aptr out '(:struct address) i)))))
          (setf cap n))))))

(defun get-host-by-name (name)
  "The first IPv4 address of NAME, else its first IPv6 address (the core's
usocket_host_by_name); with *IPV6-ONLY-P*, its first IPv6 address."
  (if *ipv6-only-p*
      (find 16 (get-hosts-by-name name) :key #'length)
      (let ((*error-host* name))
        (cffi:with-foreign-object (out '(:struct address))
          (%host-by-name (host-string name) out)
          (address-octets out)))))

(defun get-random-host-by-name (name)
  "A random IPv4 address of NAME, or a random one of any family if it has
none; with *IPV6-ONLY-P*, a random IPv6 address."
  (let* ((hosts (get-hosts-by-name name))
         (pool (if *ipv6-only-p*
                   (remove 16 hosts :key #'length :test-not #'=)
                   (or (remove 4 hosts :key #'length :test-not #'=) hosts))))
    (when pool (elt pool (random (length pool))))))

(defun get-host-name ()
  "This machine's host name (usocket 0.8.9)."
  (multiple-value-bind (name errno) (host-name)
    (or name (error 'unknown-error :errno (or errno 0) :message "gethostname() failed"))))
