;;;; The socket stream: a bivalent Gray stream with its own buffers.
;;;;
;;;; Reads fill an input buffer with one usocket_read; READ-SEQUENCE of an
;;;; octet vector copies what is buffered and then reads straight into the
;;;; caller's (pinned) vector. Writes collect in an output buffer sent by
;;;; FORCE-OUTPUT; a large WRITE-SEQUENCE of octets goes straight from the
;;;; caller's vector. Characters are UTF-8 unless another external format
;;;; was asked for. Every element type can read and write both bytes and
;;;; characters; STREAM-ELEMENT-TYPE reports the one asked for.

(in-package #:usocket-cffi)

(defconstant +input-buffer-size+ 16384)
(defconstant +output-buffer-size+ 16384)

(declaim (type octets +no-buffer+))
(define-global +no-buffer+ (make-array 0 :element-type 'octet))

;;; The state a stream's I/O works on, in a structure for fast access.
(defstruct (sock-io (:conc-name io-) (:constructor make-sock-io (usocket handle encoding)))
  (usocket nil)
  (handle 0 :type (unsigned-byte 64))
  (open-p t)
  (ibuf +no-buffer+ :type octets)
  (ipos 0 :type fixnum)
  (iend 0 :type fixnum)
  (char-start -1 :type fixnum)          ; where the last READ-CHAR began, for UNREAD-CHAR
  (obuf +no-buffer+ :type octets)
  (opos 0 :type fixnum)
  (encoding :utf-8)
  (column 0 :type (or null fixnum)))

(defclass usocket-stream (trivial-gray-streams:fundamental-binary-input-stream
                          trivial-gray-streams:fundamental-binary-output-stream
                          trivial-gray-streams:fundamental-character-input-stream
                          trivial-gray-streams:fundamental-character-output-stream
                          trivial-gray-streams:trivial-gray-stream-mixin)
  ((io :initarg :io :reader stream-io :type sock-io)
   (element-type :initarg :element-type :reader %stream-element-type))
  (:documentation "The stream of a STREAM-USOCKET."))

(defmethod print-object ((s usocket-stream) stream)
  (print-unreadable-object (s stream :type t :identity t)
    (format stream "~S~:[ (closed)~;~]" (%stream-element-type s) (io-open-p (stream-io s)))))

(defun make-socket-stream (usocket element-type external-format)
  (make-instance 'usocket-stream
                 :io (make-sock-io usocket (socket-handle usocket)
                                   (normalize-external-format external-format))
                 :element-type element-type))

(defmethod stream-element-type ((s usocket-stream))
  (%stream-element-type s))

(defun stream-closed (io)
  (error (closed-stream-error-class)
         :stream (let ((u (io-usocket io))) (and u (slot-value u 'stream)))))

(defun timeout-condition (usocket what seconds)
  (make-condition 'timeout-error
                  :socket usocket :code +err-timeout+ :errno 0
                  :message (format nil "~A: timed out after ~A s" what seconds)))

(defmacro core-result (form &rest success-forms)
  "Evaluate the raw core call FORM; on success evaluate SUCCESS-FORMS and
return (values 0 their-value); on failure return (values code nil message errno),
the message read at once, before anything else can call the core."
  (let ((code (gensym "CODE")))
    `(let ((,code ,form))
       (declare (type (signed-byte 32) ,code))
       (if (zerop ,code)
           (values 0 (progn ,@success-forms))
           (values ,code nil
                   (if (= ,code +err-timeout+) nil (%last-error-message))
                   (%last-os-error))))))

;;; Receive-like calls (reads, accepts, receives) in slices: each slice is
;;; one core call bounded by its own timeout (the _for calls), at most
;;; +SLICE-MS+; the caller's receive timeout (SOCKET-TIMEOUT, seconds) is
;;; counted here. The socket's SO_RCVTIMEO is never touched: it is what the
;;; user set, read by C and by any runtime sharing the descriptor.

(defmacro sliced-call ((usocket what &key (timeout nil timeout-p)) (slice-ms) form &body commit)
  "Make FORM, a raw core call that waits at most SLICE-MS (bound to the
slice's length for it), in interrupt-safe slices until it succeeds. On
success COMMIT runs with interrupts still deferred (what the call made is
held by Lisp before an interrupt can unwind) and its value is returned.
Other failures signal their condition; TIMEOUT-ERROR comes when TIMEOUT
(seconds or NIL; by default USOCKET's receive timeout), counted from the
start, has run out. With data already there this is one foreign call and
no clock read without a timeout."
  (let ((u (gensym "USOCKET")) (tmo (gensym "TIMEOUT")) (deadline (gensym "DEADLINE"))
        (slice (gensym "SLICE")) (code (gensym "CODE")) (value (gensym "VALUE"))
        (message (gensym "MESSAGE")) (errno (gensym "ERRNO")))
    `(let* ((,u ,usocket)
            (,tmo ,(if timeout-p timeout `(socket-timeout ,u)))
            ;; Counted from the start (one clock read, only with a timeout).
            (,deadline (and ,tmo (deadline-after ,tmo)))
            (,slice (if ,tmo (min +slice-ms+ (seconds->ms ,tmo)) +slice-ms+)))
       (declare (type fixnum ,slice))
       (loop
         (multiple-value-bind (,code ,value ,message ,errno)
             (let ((,slice-ms ,slice))
               (declare (type fixnum ,slice-ms))
               (without-interrupts (core-result ,form ,@commit)))
           (cond ((zerop ,code) (return ,value))
                 ((= ,code +err-timeout+)
                  (when ,tmo
                    (setf ,slice (min +slice-ms+ (ms-until ,deadline)))
                    (when (<= ,slice 0)
                      (error (timeout-condition ,u ,what ,tmo)))))
                 (t (signal-status ,code ,message ,errno :socket ,u))))))))

(defmacro sliced-read ((n io vector start end what) &body commit)
  "Read into VECTOR[START,END) with usocket_read_for in interrupt-safe slices,
binding N to the count (0 at end of file) for COMMIT, which runs with
interrupts still deferred. Returns N."
  (let ((nread (gensym)) (handle (gensym)) (slice (gensym)))
    `(let ((,handle (io-handle ,io)))
       (declare (type (unsigned-byte 64) ,handle))
       (cffi:with-foreign-pointer (,nread 8)
         (setf (word-at ,nread) 0)
         (values
          (sliced-call ((io-usocket ,io) ,what) (,slice)
              (with-octets-pointer ((p nbytes) ,vector ,start (- ,end ,start) :direction :in
                                        :filled (word-at ,nread))
                (%read-for ,handle p nbytes ,slice ,nread))
            (let ((,n (word-at ,nread)))
              (declare (type fixnum ,n))
              ,@commit
              ,n)))))))

(defun io-fill (io)
  "Read more input into the input buffer (after moving what is left to its
start). Returns the number of new bytes, 0 at end of file."
  (declare (type sock-io io) (optimize speed))
  (unless (io-open-p io) (stream-closed io))
  (let ((ibuf (io-ibuf io)) (pos (io-ipos io)) (end (io-iend io)))
    (declare (type fixnum pos end))
    (when (zerop (length ibuf))
      (setf ibuf (make-array +input-buffer-size+ :element-type 'octet)
            (io-ibuf io) ibuf))
    (when (plusp pos)
      (when (< pos end)                 ; else nothing is left to keep
        (replace ibuf ibuf :start2 pos :end2 end))
      (setf end (- end pos) (io-ipos io) 0 (io-iend io) end (io-char-start io) -1))
    (when (>= end (length ibuf))
      ;; Never happens (nothing keeps more than a character's bytes), but a
      ;; full buffer must not look like end of file.
      (setf ibuf (replace (make-array (* 2 (length ibuf)) :element-type 'octet) ibuf)
            (io-ibuf io) ibuf))
    (let ((n (sliced-read (n io ibuf end (length ibuf) "read")
               (setf (io-iend io) (+ end n)))))
      (declare (type fixnum n))
      (when (plusp n)
        (let ((usocket (io-usocket io)))
          (when (and usocket (wait-list usocket))
            (note-buffered-input usocket))))
      n)))

(defun io-read-direct (io vector start end)
  "Read at least one byte straight into VECTOR (a simple octet vector);
returns the count, 0 at end of file."
  (unless (io-open-p io) (stream-closed io))
  (sliced-read (n io vector start end "read")))

;; SO_SNDTIMEO is left alone: writes go out with usocket_write_some in
;; slices of at most +SLICE-MS+ (each sends what fits and reports it, so no
;; byte is lost between slices), interrupts run between slices, and the
;; socket's send timeout is kept here.
(defun io-write-direct (io vector start end)
  "Write VECTOR[START,END) (a simple octet vector) in interrupt-safe slices."
  (declare (type sock-io io) (type octets vector) (type fixnum start end)
           (optimize speed (safety 1)))
  (unless (io-open-p io) (stream-closed io))
  (let ((handle (io-handle io)) (pos start) (deadline nil) (timeout :unknown))
    (declare (type fixnum pos) (type (unsigned-byte 64) handle))
    (loop while (< pos end) do
      (multiple-value-bind (code value message errno)
          (let ((slice (if deadline (slice-ms deadline) +slice-ms+)))
            (declare (type fixnum slice))
            (cffi:with-foreign-pointer (nwritten 8)
              (with-octets-pointer ((p nbytes) vector pos (- end pos) :direction :out)
                (without-interrupts
                  (core-result (%write-some handle p nbytes slice nwritten)
                               (word-at nwritten))))))
        (cond ((zerop code) (incf pos (the fixnum value)))
              ((= code +err-timeout+)
               ;; The first slice timed out: fix the deadline of the send timeout.
               (when (eq timeout :unknown)
                 (setf timeout (ignore-errors (socket-option (io-usocket io) :send-timeout))
                       deadline (deadline-after timeout)))
               (when (and deadline (<= (ms-until deadline) 0))
                 (error (timeout-condition (io-usocket io) "write" timeout))))
              (t (signal-status code message errno :socket (io-usocket io))))))))

(defun io-flush (io)
  (declare (type sock-io io))
  (let ((n (io-opos io)))
    (when (plusp n)
      ;; The buffer is emptied whether or not the write succeeds: a failed
      ;; connection would fail again at every later flush and at close.
      (setf (io-opos io) 0)
      (io-write-direct io (io-obuf io) 0 n))))

(defun io-output-room (io needed)
  "Make room for NEEDED bytes in the output buffer; return the buffer."
  (declare (type sock-io io) (type fixnum needed))
  (let ((obuf (io-obuf io)))
    (when (zerop (length obuf))
      (unless (io-open-p io) (stream-closed io))
      (setf obuf (make-array +output-buffer-size+ :element-type 'octet)
            (io-obuf io) obuf))
    (when (> (+ (io-opos io) needed) (length obuf))
      (io-flush io))
    obuf))

;;; Bytes.

(declaim (inline io-read-byte))
(defun io-read-byte (io)
  (declare (type sock-io io) (optimize speed))
  (let ((pos (io-ipos io)))
    (when (>= pos (io-iend io))
      (when (zerop (the fixnum (io-fill io)))
        (return-from io-read-byte :eof))
      (setf pos (io-ipos io)))
    (setf (io-ipos io) (1+ pos))
    (aref (io-ibuf io) pos)))

(defmethod stream-read-byte ((s usocket-stream))
  (io-read-byte (stream-io s)))

(defmethod stream-write-byte ((s usocket-stream) byte)
  (let* ((io (stream-io s))
         (obuf (io-output-room io 1))
         (pos (io-opos io)))
    (setf (aref obuf pos) byte
          (io-opos io) (1+ pos))
    byte))

;;; Characters.

(declaim (inline utf-8-length))
(defun utf-8-length (lead)
  "How many bytes a UTF-8 sequence starting with LEAD has, 0 if LEAD cannot start one."
  (declare (type octet lead))
  (cond ((< lead #x80) 1)
        ((< lead #xC2) 0)
        ((< lead #xE0) 2)
        ((< lead #xF0) 3)
        ((< lead #xF5) 4)
        (t 0)))

(defun decode-utf-8 (buf pos need)
  "The code point of the NEED-byte sequence at POS, or NIL if it is malformed."
  (declare (type octets buf) (type fixnum pos need) (optimize speed))
  (flet ((cont (i)
           (let ((b (aref buf (+ pos i))))
             (if (= (logand b #xC0) #x80) (logand b #x3F) (return-from decode-utf-8 nil)))))
    (let ((lead (aref buf pos)))
      (let ((code (ecase need
                    (2 (logior (ash (logand lead #x1F) 6) (cont 1)))
                    (3 (logior (ash (logand lead #x0F) 12) (ash (cont 1) 6) (cont 2)))
                    (4 (logior (ash (logand lead #x07) 18) (ash (cont 1) 12)
                               (ash (cont 2) 6) (cont 3))))))
        (declare (type fixnum code))
        (when (and (case need (3 (>= code #x800)) (4 (<= #x10000 code #x10FFFF)) (t t))
                   (not (<= #xD800 code #xDFFF)))
          code)))))

(defun io-read-char (io)
  "The next character, or :EOF."
  (declare (type sock-io io) (optimize speed))
  (let ((pos (io-ipos io)))
    (declare (type fixnum pos))
    (when (>= pos (io-iend io))
      (when (zerop (the fixnum (io-fill io)))
        (return-from io-read-char :eof))
      (setf pos (io-ipos io)))
    (let* ((buf (io-ibuf io))
           (b (aref buf pos))
           (encoding (io-encoding io)))
      (cond ((and (< b #x80) (not (byte-table-encoding-p encoding)))
             (setf (io-char-start io) pos (io-ipos io) (1+ pos))
             (code-char b))
            ((eq encoding :utf-8)
             (let ((need (utf-8-length b)))
               (declare (type fixnum need))
               (when (zerop need)
                 (setf (io-char-start io) pos (io-ipos io) (1+ pos))
                 (return-from io-read-char (code-char +replacement-code+)))
               ;; Make sure the whole sequence is in the buffer.
               (loop while (< (- (io-iend io) (io-ipos io)) need)
                     do (when (zerop (the fixnum (io-fill io)))
                          (return)))
               (setf pos (io-ipos io) buf (io-ibuf io))
               (let ((code (and (<= need (- (io-iend io) pos)) (decode-utf-8 buf pos need))))
                 (setf (io-char-start io) pos)
                 (cond (code (setf (io-ipos io) (+ pos need)) (code-char code))
                       (t (setf (io-ipos io) (1+ pos)) (code-char +replacement-code+))))))
            (t
             (setf (io-char-start io) pos (io-ipos io) (1+ pos))
             (case encoding
               (:latin-1 (code-char b))
               (:ascii (code-char +replacement-code+))
               (t (svref (byte-table-encoding-decode encoding) b))))))))

(defun encode-char (io char)
  "Append CHAR, encoded, to the output buffer."
  (declare (type sock-io io) (type character char) (optimize speed))
  (let* ((code (char-code char))
         (encoding (io-encoding io)))
    (declare (type fixnum code))
    (if (and (< code #x80) (not (byte-table-encoding-p encoding)))
        (let* ((obuf (io-output-room io 1)) (pos (io-opos io)))
          (setf (aref obuf pos) code (io-opos io) (1+ pos)))
        (case encoding
          (:utf-8
           (let* ((obuf (io-output-room io 4)) (pos (io-opos io)))
             (declare (type fixnum pos))
             (cond ((< code #x800)
                    (setf (aref obuf pos) (logior #xC0 (ash code -6))
                          (aref obuf (+ pos 1)) (logior #x80 (logand code #x3F))
                          (io-opos io) (+ pos 2)))
                   ((< code #x10000)
                    (setf (aref obuf pos) (logior #xE0 (ash code -12))
                          (aref obuf (+ pos 1)) (logior #x80 (logand (ash code -6) #x3F))
                          (aref obuf (+ pos 2)) (logior #x80 (logand code #x3F))
                          (io-opos io) (+ pos 3)))
                   (t
                    (setf (aref obuf pos) (logior #xF0 (ash code -18))
                          (aref obuf (+ pos 1)) (logior #x80 (logand (ash code -12) #x3F))
                          (aref obuf (+ pos 2)) (logior #x80 (logand (ash code -6) #x3F))
                          (aref obuf (+ pos 3)) (logior #x80 (logand code #x3F))
                          (io-opos io) (+ pos 4))))))
          (t
           (let* ((obuf (io-output-room io 1)) (pos (io-opos io))
                  (byte (case encoding
                          (:latin-1 (if (< code 256) code 63))
                          (:ascii 63)
                          (t (gethash char (byte-table-encoding-encode encoding) 63)))))
             (setf (aref obuf pos) byte (io-opos io) (1+ pos))))))))

(defmethod stream-read-char ((s usocket-stream))
  (io-read-char (stream-io s)))

(defmethod stream-unread-char ((s usocket-stream) char)
  (declare (ignore char))
  (let ((io (stream-io s)))
    (when (< (io-char-start io) 0)
      (error "UNREAD-CHAR without a READ-CHAR before it on ~S." s))
    (setf (io-ipos io) (io-char-start io)
          (io-char-start io) -1)
    nil))

(defun io-poll (io)
  "What a read would find without blocking: :DATA, :EOF or NIL (it would block)."
  (declare (type sock-io io))
  (cond ((< (io-ipos io) (io-iend io)) :data)
        ((not (io-open-p io)) nil)
        ((cffi:with-foreign-object (flag :bool)
           (with-socket-context ((io-usocket io))
             (without-interrupts (%input-available (io-handle io) flag)))
           (cffi:mem-ref flag :bool))
         ;; Data or end of file: a read will not block; find out which.
         (if (plusp (io-fill io)) :data :eof))
        (t nil)))

(defun io-listen (io)
  "True when input can be read without blocking; false at end of file, as CL's LISTEN."
  (eq (io-poll io) :data))

(defmethod stream-listen ((s usocket-stream))
  (io-listen (stream-io s)))

(defmethod stream-read-char-no-hang ((s usocket-stream))
  (let ((io (stream-io s)))
    (case (io-poll io)
      ;; A multibyte character cut at the end of what has arrived makes this
      ;; wait for its last bytes, which are on their way.
      (:data (io-read-char io))
      (:eof :eof)
      (t nil))))

(defmethod stream-clear-input ((s usocket-stream))
  (let ((io (stream-io s)))
    (setf (io-ipos io) 0 (io-iend io) 0 (io-char-start io) -1))
  nil)

(defun decode-range (io start end final)
  "Decode IBUF[START,END) into a fresh string. Returns the string and the
position where decoding stopped: before an incomplete trailing sequence,
unless FINAL (nothing more belongs to it), when such bytes are undecodable."
  (declare (type sock-io io) (type fixnum start end) (optimize speed))
  (let ((buf (io-ibuf io))
        (encoding (io-encoding io)))
    (if (and (not (byte-table-encoding-p encoding))
             (loop for i of-type fixnum from start below end always (< (aref buf i) #x80)))
        (let ((string (make-string (- end start))))
          (loop for i of-type fixnum from start below end
                for j of-type fixnum from 0
                do (setf (schar string j) (code-char (aref buf i))))
          (values string end))
        (let ((string (make-string (- end start)))
              (i start) (j 0))
          (declare (type fixnum i j))
          (loop while (< i end)
                do (let ((b (aref buf i)))
                     (case encoding
                       (:utf-8
                        (let ((need (utf-8-length b)))
                          (declare (type fixnum need))
                          (cond ((= need 1) (setf (schar string j) (code-char b)) (incf i))
                                ((zerop need)
                                 (setf (schar string j) (code-char +replacement-code+)) (incf i))
                                ((and (> (+ i need) end) (not final)) (return))
                                ((> (+ i need) end)
                                 (setf (schar string j) (code-char +replacement-code+)) (incf i))
                                (t (let ((code (decode-utf-8 buf i need)))
                                     (cond (code (setf (schar string j) (code-char code))
                                                 (incf i need))
                                           (t (setf (schar string j) (code-char +replacement-code+))
                                              (incf i))))))))
                       (:latin-1 (setf (schar string j) (code-char b)) (incf i))
                       (:ascii (setf (schar string j)
                                     (code-char (if (< b #x80) b +replacement-code+)))
                               (incf i))
                       (t (setf (schar string j)
                                (svref (byte-table-encoding-decode encoding) b))
                          (incf i)))
                     (incf j)))
          (values (if (= j (length string)) string (subseq string 0 j)) i)))))

(defmethod stream-read-line ((s usocket-stream))
  (let ((io (stream-io s))
        (pieces '()))
    (flet ((result (last missing-newline-p)
             (values (if pieces
                         (apply #'concatenate 'string (nreverse (cons last pieces)))
                         last)
                     missing-newline-p)))
      (loop
        (let* ((start (io-ipos io))
               (end (io-iend io))
               (newline (and (< start end) (position 10 (io-ibuf io) :start start :end end))))
          (cond (newline
                 (multiple-value-bind (line stop) (decode-range io start newline t)
                   (declare (ignore stop))
                   (setf (io-ipos io) (1+ newline) (io-char-start io) -1)
                   (return (result line nil))))
                (t
                 (when (< start end)
                   (multiple-value-bind (piece stop) (decode-range io start end nil)
                     (push piece pieces)
                     (setf (io-ipos io) stop)))
                 (when (zerop (io-fill io))
                   ;; End of file: whatever is left (an incomplete sequence) is
                   ;; undecodable.
                   (let ((rest (- (io-iend io) (io-ipos io))))
                     (when (and (null pieces) (zerop rest))
                       (return (values (line-at-end-of-file) t)))
                     (setf (io-ipos io) (io-iend io))
                     (return (result (make-string rest :initial-element
                                                  (code-char +replacement-code+))
                                     t)))))))))))

(defmethod stream-write-char ((s usocket-stream) char)
  (let ((io (stream-io s)))
    (encode-char io char)
    (when (io-column io)
      (setf (io-column io) (if (char= char #\Newline) 0 (1+ (io-column io))))))
  char)

(defmethod stream-write-string ((s usocket-stream) string &optional (start 0) end)
  (let* ((io (stream-io s))
         (end (or end (length string))))
    (declare (type fixnum start end))
    (if (and (simple-string-p string) (not (byte-table-encoding-p (io-encoding io))))
        (let ((string string))
          (declare (type simple-string string) (optimize speed))
          (loop with i of-type fixnum = start
                while (< i end)
                do (let* ((obuf (io-output-room io (min 64 (- end i))))
                          (pos (io-opos io))
                          (stop (min end (+ i (- (length obuf) pos)))))
                     (declare (type fixnum pos stop))
                     ;; ASCII straight into the buffer; others one by one.
                     (block run
                       (loop while (< i stop)
                             do (let ((code (char-code (schar string i))))
                                  (if (< code #x80)
                                      (setf (aref obuf pos) code pos (1+ pos) i (1+ i))
                                      (progn (setf (io-opos io) pos)
                                             (encode-char io (schar string i))
                                             (setf i (1+ i))
                                             (return-from run)))))
                       (setf (io-opos io) pos)))))
        (loop for i from start below end do (encode-char io (char string i))))
    (when (< start end)
      (let ((newline (position #\Newline string :start start :end end :from-end t)))
        (setf (io-column io)
              (if newline
                  (- end newline 1)
                  (and (io-column io) (+ (io-column io) (- end start))))))))
  string)

(defmethod stream-line-column ((s usocket-stream))
  (io-column (stream-io s)))

(defmethod stream-start-line-p ((s usocket-stream))
  (eql 0 (io-column (stream-io s))))

(defmethod stream-force-output ((s usocket-stream))
  (io-flush (stream-io s))
  nil)

(defmethod stream-finish-output ((s usocket-stream))
  (io-flush (stream-io s))
  nil)

(defmethod stream-clear-output ((s usocket-stream))
  (setf (io-opos (stream-io s)) 0)
  nil)

;;; Sequences.

(defmacro with-octet-data ((data offset vector) &body body)
  "Bind DATA to the simple octet vector under VECTOR and OFFSET to VECTOR's
start in it, or DATA to NIL if VECTOR does not hold octets."
  `(if (typep ,vector '(array (unsigned-byte 8) (*)))
       (with-octet-storage (,data ,offset ,vector)
         ,@body)
       (let ((,data nil) (,offset 0))
         (declare (ignorable ,offset))
         ,@body)))

(defun character-sequence-p (sequence stream)
  (if (vectorp sequence)
      (subtypep (array-element-type sequence) 'character)
      (let ((type (%stream-element-type stream)))
        (and (not (eq type :default)) (subtypep type 'character)))))

(declaim (inline copy-octets))
(defun copy-octets (to to-start from from-start n)
  "Copy N bytes of the simple octet vector FROM at FROM-START into TO at
TO-START (bounds checked by the caller): a plain loop for a few bytes,
which costs less than REPLACE's block copy there."
  (declare (type octets to from) (type index to-start from-start n)
           (optimize speed (safety 1)))
  (if (< n 16)
      (dotimes (k n)
        (setf (aref to (+ to-start k)) (aref from (+ from-start k))))
      (replace to from :start1 to-start :start2 from-start :end2 (+ from-start n)))
  nil)

(defun io-read-octets (io data i stop)
  "Read into the simple octet vector DATA from I below STOP (bounds checked
by the caller): what is buffered first, then until STOP or end of file.
Returns the index after the last byte stored."
  (declare (type sock-io io) (type octets data) (type index i stop)
           (optimize speed (safety 1)))
  ;; What is buffered first.
  (let* ((pos (io-ipos io))
         (n (min (- (io-iend io) pos) (- stop i))))
    (declare (type index pos) (type fixnum n))
    (when (plusp n)
      (copy-octets data i (io-ibuf io) pos n)
      (setf (io-ipos io) (+ pos n) (io-char-start io) -1)
      (incf i n)))
  ;; Then straight into the caller's vector for large reads, through
  ;; the buffer for small ones.
  (loop while (< i stop)
        do (let ((n (if (>= (- stop i) (floor +input-buffer-size+ 2))
                        (io-read-direct io data i stop)
                        (let ((got (io-fill io)))
                          (declare (type fixnum got))
                          (if (plusp got)
                              (let* ((pos (io-ipos io))
                                     (k (min (- (io-iend io) pos) (- stop i))))
                                (declare (type index pos k))
                                (copy-octets data i (io-ibuf io) pos k)
                                (setf (io-ipos io) (+ pos k))
                                k)
                              0)))))
             (declare (type fixnum n))
             (if (plusp n)
                 (incf i n)
                 (return))))
  i)

(defun stream-read-sequence* (s sequence start end)
  (let* ((io (stream-io s))
         (end (or end (length sequence))))
    (declare (type fixnum start end))
    (when (and (typep sequence 'octets) (<= 0 start end (length sequence)))
      ;; The common case, without the general dispatch below.
      (return-from stream-read-sequence* (io-read-octets io sequence start end)))
    (with-octet-data (data offset sequence)
      (cond
        (data
         ;; Never past the end (a large read goes straight to memory).
         (unless (<= 0 start end (length sequence))
           (error 'type-error :datum end :expected-type `(integer ,start ,(length sequence))))
         (- (the fixnum (io-read-octets io data (+ start offset) (+ end offset))) offset))
        ((character-sequence-p sequence s)
         (loop for i from start below end
               do (let ((c (io-read-char io)))
                    (when (eq c :eof) (return i))
                    (setf (elt sequence i) c))
               finally (return end)))
        (t
         (loop for i from start below end
               do (let ((b (io-read-byte io)))
                    (when (eq b :eof) (return i))
                    (setf (elt sequence i) b))
               finally (return end)))))))

(defun io-write-octets (io data i n)
  "Write N bytes of the simple octet vector DATA from I (bounds checked by the caller)."
  (declare (type sock-io io) (type octets data) (type index i n)
           (optimize speed (safety 1)))
  (if (< n (floor +output-buffer-size+ 2))
      (let ((obuf (io-output-room io n)) (pos (io-opos io)))
        (declare (type octets obuf) (type index pos))
        (copy-octets obuf pos data i n)
        (setf (io-opos io) (+ pos n)))
      (progn (io-flush io)
             (io-write-direct io data i (+ i n))))
  nil)

(defun stream-write-sequence* (s sequence start end)
  (let* ((io (stream-io s))
         (end (or end (length sequence))))
    (declare (type fixnum start end))
    (when (and (typep sequence 'octets) (<= 0 start end (length sequence)))
      ;; The common case, without the general dispatch below.
      (io-write-octets io sequence start (- end start))
      (return-from stream-write-sequence* sequence))
    (cond
      ((stringp sequence)
       (stream-write-string s sequence start end))
      (t
       (with-octet-data (data offset sequence)
         (cond
           (data
            ;; Never past the end (a large write goes straight from memory).
            (unless (<= 0 start end (length sequence))
              (error 'type-error :datum end :expected-type `(integer ,start ,(length sequence))))
            (io-write-octets io data (+ start offset) (- end start)))
           (t
            (if (vectorp sequence)
                (loop for i from start below end
                      do (let ((e (aref sequence i)))
                           (if (characterp e) (stream-write-char s e) (stream-write-byte s e))))
                (loop for e in (subseq sequence start end)
                      do (if (characterp e) (stream-write-char s e) (stream-write-byte s e)))))))))
    sequence))

;; SBCL: methods on SB-GRAY's generics too (see impl/gray.lisp).
(define-direct-sequence-methods usocket-stream stream-read-sequence* stream-write-sequence*)

(defmethod trivial-gray-streams:stream-read-sequence ((s usocket-stream) sequence start end &key)
  (stream-read-sequence* s sequence start end))

(defmethod trivial-gray-streams:stream-write-sequence ((s usocket-stream) sequence start end &key)
  (stream-write-sequence* s sequence start end))

;;; Closing.

(defun io-close (io abort)
  "Flush (unless ABORT) and close the connection. Idempotent."
  (when (io-open-p io)
    (unwind-protect
         (unless abort (io-flush io))
      (setf (io-open-p io) nil
            (io-ibuf io) +no-buffer+ (io-ipos io) 0 (io-iend io) 0
            (io-obuf io) +no-buffer+ (io-opos io) 0)
      (let ((usocket (io-usocket io)))
        (when usocket
          (close-usocket-handle usocket)
          ;; Closed through its stream: leave the wait list as SOCKET-CLOSE does.
          (let ((list (wait-list usocket)))
            (when list (remove-waiter list usocket))))))))

(defmethod close ((s usocket-stream) &key abort)
  (let ((io (stream-io s)))
    (unwind-protect (io-close io abort)
      (call-next-method)))
  t)

(defmethod open-stream-p ((s usocket-stream))
  (io-open-p (stream-io s)))
