;;;; External formats of the socket streams.
;;;;
;;;; UTF-8 (the default), Latin-1 and ASCII are coded inline by the stream.
;;;; Any other single-byte encoding babel knows (cp1252, iso-8859-15, koi8-r,
;;;; ...) goes through a 256-entry table built with babel. Undecodable input
;;;; becomes U+FFFD; unencodable characters are written as #\?.

(in-package #:usocket-cffi)

(defstruct (byte-table-encoding (:constructor %make-byte-table-encoding))
  (name nil)
  (decode (make-array 256) :type simple-vector)
  (encode (make-hash-table) :type hash-table))

(defvar *byte-table-encodings* (make-hash-table :test 'eq))
(defvar *byte-table-lock* (bt:make-lock "usocket-cffi encodings"))

(defconstant +replacement-code+ #xFFFD)

(defun byte-table-encoding (babel-name)
  (bt:with-lock-held (*byte-table-lock*)
    (or (gethash babel-name *byte-table-encodings*)
        (let ((enc (%make-byte-table-encoding :name babel-name)))
          (dotimes (b 256)
            (let* ((octet (make-array 1 :element-type '(unsigned-byte 8) :initial-element b))
                   (string (ignore-errors
                            (babel:octets-to-string octet :encoding babel-name :errorp t)))
                   (char (if (and string (= (length string) 1))
                             (char string 0)
                             (code-char +replacement-code+))))
              (setf (svref (byte-table-encoding-decode enc) b) char)
              (when (and string (= (length string) 1))
                (setf (gethash char (byte-table-encoding-encode enc)) b))))
          (setf (gethash babel-name *byte-table-encodings*) enc)))))

(defun normalize-external-format (external-format)
  "The stream's coding for EXTERNAL-FORMAT: :UTF-8, :LATIN-1, :ASCII or a
BYTE-TABLE-ENCODING. Accepts keywords, strings and lists such as
(:utf-8 :replacement #\\?) (only the name is used)."
  (let* ((name (if (consp external-format) (first external-format) external-format))
         (key (cond ((or (null name) (eq name :default)) :utf-8)
                    ((stringp name) (intern (string-upcase name) :keyword))
                    ((symbolp name) (intern (symbol-name name) :keyword))
                    (t (error "~S is not an external format." external-format)))))
    (case key
      ((:utf-8 :utf8) :utf-8)
      ((:latin-1 :latin1 :iso-8859-1 :iso8859-1) :latin-1)
      ((:ascii :us-ascii :ansi_x3.4-1968) :ascii)
      (t (let ((babel (ignore-errors (babel-encodings:get-character-encoding key))))
           (unless babel
             (error 'unsupported :feature external-format :context 'external-format))
           (unless (and (= 1 (babel-encodings:enc-max-units-per-char babel))
                        (= 8 (babel-encodings:enc-code-unit-size babel)))
             (error 'unsupported :feature external-format :context 'external-format))
           (byte-table-encoding (babel-encodings:enc-name babel)))))))
