;;;; The socket streams: characters, bytes, both, sequences, end of file.

(in-package #:usocket-cffi-tests)

(deftest character-stream-basics
  (with-pair (client server)
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (is-equal 'character (stream-element-type out))
      (is (input-stream-p in))
      (is (output-stream-p out))
      (is (not (listen in)) "nothing to read yet")
      (is (null (read-char-no-hang in)))
      (format out "héllo, wörld ✓ 𝄞~%second line~%x")
      (force-output out)
      (is-equal "héllo, wörld ✓ 𝄞" (read-line in))
      (is (listen in))
      (is-equal #\s (peek-char nil in))
      (is-equal #\s (read-char in))
      (unread-char #\s in)
      (is-equal "second line" (read-line in))
      (is-equal #\x (read-char in))
      (is (null (read-char-no-hang in)))
      (write-char #\é out)
      (finish-output out)
      (is-equal #\é (read-char in))
      (write-string "abcdef" out :start 1 :end 4)
      (terpri out)
      (finish-output out)
      (is-equal "bcd" (read-line in)))))

(deftest line-column-and-fresh-line
  (with-pair (client server)
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (is (eql 0 (trivial-gray-streams:stream-line-column out)))
      (write-string "abc" out)
      (is-equal 3 (trivial-gray-streams:stream-line-column out))
      (fresh-line out)
      (is-equal 0 (trivial-gray-streams:stream-line-column out))
      (fresh-line out)
      (format out "x~&y~%")
      (finish-output out)
      (is-equal '("abc" "x" "y") (list (read-line in) (read-line in) (read-line in))))))

(deftest binary-stream-basics
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (is (equal '(unsigned-byte 8) (stream-element-type out)))
      (dotimes (i 256) (write-byte i out))
      (force-output out)
      (dotimes (i 256)
        (unless (= i (read-byte in)) (fail "byte ~D" i)))
      (write-sequence (octets 1 2 3 4 5) out :start 1 :end 4)
      (finish-output out)
      (let ((v (make-octets 3)))
        (is-equal 3 (read-sequence v in))
        (is-equal (octets 2 3 4) v)))))

(deftest bivalent-streams
  ;; A character stream reads and writes octets ...
  (with-pair (client server)
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (write-sequence (babel:string-to-octets (format nil "ok é~%") :encoding :utf-8) out)
      (write-byte 7 out)
      (force-output out)
      (is-equal "ok é" (read-line in))
      (is-equal 7 (read-byte in))))
  ;; ... and an octet stream characters.
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (format out "line ✓~%")
      (write-byte 200 out)
      (force-output out)
      (is-equal "line ✓" (read-line in))
      (is-equal 200 (read-byte in))
      (write-string "abc" out)
      (finish-output out)
      (let ((s (make-string 3)))
        (is-equal 3 (read-sequence s in))
        (is-equal "abc" s)))))

(deftest character-split-across-writes
  (unless (> char-code-limit #x1D11E)
    (skip "~A's characters stop at U+~X: U+1D11E is no character there"
          (lisp-implementation-type) (1- char-code-limit)))
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (socket-stream client)) (in (socket-stream server))
          (bytes (babel:string-to-octets "𝄞é" :encoding :utf-8)))
      ;; One byte per packet: decoding must wait for the rest.
      (let ((reader (spawn "reader" (lambda () (list (read-char in) (read-char in))))))
        (loop for b across bytes
              do (write-byte b out) (force-output out))
        (is-equal (list (code-char #x1D11E) #\é) (join reader))))))

(deftest invalid-utf-8-becomes-replacement
  (with-pair (client server :element-type '(unsigned-byte 8) :server-element-type 'character)
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (write-sequence (octets 65 #xFF 66 #xC3 10) out)
      (finish-output out)
      (is-equal (coerce (list #\A (code-char #xFFFD) #\B (code-char #xFFFD)) 'string)
                (read-line in)))))

(defun wire-check (external-format text octets)
  "TEXT written to a stream of EXTERNAL-FORMAT arrives as OCTETS on the wire
(read by an octet stream), and OCTETS sent raw read back as TEXT: each end
checked alone, so a format that were ignored would fail."
  (with-sockets (listener client server)
    (setf listener (socket-listen "127.0.0.1" 0 :element-type '(unsigned-byte 8)))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                 :external-format external-format))
    (setf server (socket-accept listener))
    ;; Encoding: the client's format, the server reads raw octets.
    (write-line text (socket-stream client))
    (finish-output (socket-stream client))
    (let ((got (make-octets (1+ (length octets)))))
      (is-equal (length got) (read-sequence got (socket-stream server)))
      (is-equal (concatenate '(vector (unsigned-byte 8)) octets #(10)) got
                (format nil "~S encodes ~S" external-format text)))
    ;; Decoding: raw octets in, the client's format reads them.
    (write-sequence (concatenate '(vector (unsigned-byte 8)) octets #(10)) (socket-stream server))
    (finish-output (socket-stream server))
    (is-equal text (read-line (socket-stream client))
              (format nil "~S decodes ~S" external-format octets))))

(deftest external-format-latin-1
  (dolist (native (native-stream-kinds))             ; the Gray stream and compat's fd-stream
    (let ((usocket-cffi::*native-streams* native))
      (wire-check :latin-1 "café" #(99 97 102 #xE9))
      (wire-check :utf-8 "café" #(99 97 102 #xC3 #xA9))
      (wire-check :cp1252 (string (code-char #x20AC)) #(#x80))))
  ;; The listener's format is its accepted streams'.
  (with-sockets (listener client server)
    (setf listener (socket-listen "127.0.0.1" 0 :external-format :cp1252))
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                 :element-type '(unsigned-byte 8)))
    (setf server (socket-accept listener))
    (write-sequence (octets #x80 10) (socket-stream client))
    (finish-output (socket-stream client))
    (is-equal (string (code-char #x20AC)) (read-line (socket-stream server)))))

(deftest socket-accept-element-type-and-external-format
  (dolist (native (native-stream-kinds))
    (let ((usocket-cffi::*native-streams* native))
      (with-sockets (listener client server)
        (setf listener (socket-listen "127.0.0.1" 0))
        (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                     :element-type '(unsigned-byte 8)))
        ;; :element-type :default: bivalent; :external-format: socket-accept's own.
        (setf server (socket-accept listener :element-type :default :external-format :latin-1))
        (write-sequence (octets #xE9 10 7) (socket-stream client))
        (finish-output (socket-stream client))
        (is-equal (string (code-char #xE9)) (read-line (socket-stream server))
                  (format nil "latin-1 decoded (native ~A)" native))
        (is-equal 7 (read-byte (socket-stream server)) "and a byte from the same stream")
        (write-char (code-char #xE9) (socket-stream server))
        (finish-output (socket-stream server))
        (is-equal #xE9 (read-byte (socket-stream client)) "latin-1 encoded")))))

(defun pattern-byte (i) (logand (* i 7) 255))

(deftest large-transfer-both-ways
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let* ((n (* 8 1024 1024))
           (data (let ((v (make-octets n)))
                   (dotimes (i n v) (setf (aref v i) (pattern-byte i)))))
           (writer (spawn "writer" (lambda ()
                                     (write-sequence data (socket-stream client))
                                     (finish-output (socket-stream client))
                                     (socket-shutdown client :output)
                                     t))))
      (let ((got (make-octets n)))
        (is-equal n (read-sequence got (socket-stream server)))
        (is (eq :eof (read-byte (socket-stream server) nil :eof)))
        (is (equalp data got) "the data arrived intact"))
      (is (join writer)))))

(deftest read-sequence-odd-vectors
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (write-sequence (let ((v (make-octets 100))) (dotimes (i 100 v) (setf (aref v i) i))) out)
      (finish-output out)
      ;; Adjustable with a fill pointer.
      (let ((v (make-array 10 :element-type '(unsigned-byte 8) :adjustable t :fill-pointer 10)))
        (is-equal 10 (read-sequence v in))
        (is-equal (loop for i below 10 collect i) (coerce v 'list)))
      ;; Displaced into a larger vector, with start and end.
      (let* ((base (make-octets 30 255))
             (d (make-array 20 :element-type '(unsigned-byte 8) :displaced-to base
                               :displaced-index-offset 5)))
        (is-equal 15 (read-sequence d in :start 5 :end 15))
        (is-equal 255 (aref base 9))
        (is-equal (loop for i from 10 below 20 collect i) (coerce (subseq base 10 20) 'list)))
      ;; A general vector and a list.
      (let ((v (make-array 5)))
        (is-equal 5 (read-sequence v in))
        (is-equal #(20 21 22 23 24) v))
      (let ((l (make-list 5)))
        (is-equal 5 (read-sequence l in))
        (is-equal '(25 26 27 28 29) l))
      ;; Writing from non-simple vectors.
      (let ((v (make-array 4 :element-type '(unsigned-byte 8) :adjustable t
                             :initial-contents '(9 8 7 6))))
        (write-sequence v out)
        (write-sequence #(5 4) out)
        (write-sequence '(3 2) out)
        (finish-output out))
      (let ((v (make-octets 70)))
        (is-equal 70 (read-sequence v in))
        (is-equal 99 (aref v 69)))
      (let ((v (make-octets 8)))
        (is-equal 8 (read-sequence v in))
        (is-equal (octets 9 8 7 6 5 4 3 2) v)))))

(deftest end-of-file
  (with-pair (client server)
    (send-line (socket-stream client) "last")
    (write-string "partial" (socket-stream client))
    (socket-close client)
    (let ((in (socket-stream server)))
      (is-equal "last" (read-line in))
      (is-equal '("partial" t) (multiple-value-list (read-line in nil :eof)))
      (is (eq :eof (read-line in nil :eof)))
      (is (eq :eof (read-char in nil :eof)))
      (is (eq :eof (read-byte in nil :eof)))
      (is (not (listen in)) "LISTEN is false at end of file")
      (is (eq :eof (read-char-no-hang in nil :eof)))
      (signals end-of-file (read-line in))
      (signals end-of-file (read-byte in))
      (let ((v (make-octets 10)))
        (is-equal 0 (read-sequence v in))))))

(deftest read-sequence-partial-at-eof
  (with-pair (client server :element-type '(unsigned-byte 8))
    (write-sequence (make-octets 100000 1) (socket-stream client))
    (socket-close client)
    (let ((v (make-octets 200000)))
      (is-equal 100000 (read-sequence v (socket-stream server))))))

(deftest clear-input-and-output
  (with-pair (client server)
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (write-string "discarded" out)
      (clear-output out)
      (send-line out "kept")
      (is-equal "kept" (read-line in))
      (send-line out "one")
      (is-equal #\o (read-char in))
      (clear-input in)
      (send-line out "two")
      (is-equal "two" (read-line in)))))

(deftest long-lines
  (with-pair (client server)
    (let ((line (make-string 100000 :initial-element #\é)))
      (let ((writer (spawn "writer" (lambda () (send-line (socket-stream client) line) t))))
        (is-equal line (read-line (socket-stream server)))
        (join writer)))))

(deftest reading-a-closed-stream-signals
  (with-pair (client server)
    (close (socket-stream client))
    (signals error (read-char (socket-stream client)))
    (signals error (progn (write-char #\a (socket-stream client))
                          (force-output (socket-stream client))))))

(deftest read-sequence-bounds-checked
  ;; The octet fast paths never store past a vector's end, whichever way the
  ;; Gray method is reached (CL's READ-SEQUENCE may check before it).
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (socket-stream client)) (in (socket-stream server)))
      (write-sequence (make-octets 40 7) out)
      (finish-output out)
      (signals error (gray-read-sequence in (make-octets 4) 0 30))
      (let ((v (make-array 4 :element-type '(unsigned-byte 8) :adjustable t)))
        (signals error (gray-read-sequence in v 0 30000))
        (signals error (gray-write-sequence out v 0 30000)))
      (let ((v (make-octets 8)))
        (is-equal 8 (read-sequence v in))
        (is-equal (make-octets 8 7) v)))))

(deftest bulk-transfer-moves-in-blocks
  ;; 1 MiB through write-sequence/read-sequence in 64 KiB blocks (no thread
  ;; needed: each block fits the socket buffers) well under a second on every
  ;; implementation: the data goes to the core in blocks (pinned, the
  ;; vector's own storage, or one block copy), never byte by byte.
  (with-pair (client server :element-type '(unsigned-byte 8))
    (let ((out (make-octets (* 64 1024))) (in (make-octets (* 64 1024)))
          (ok t))
      (dotimes (i (length out)) (setf (aref out i) (mod (* i 7) 251)))
      (multiple-value-bind (took)
          (timed (dotimes (k 16)
                   (write-sequence out (socket-stream client))
                   (finish-output (socket-stream client))
                   (fill in 0)
                   (is-equal (length in) (read-sequence in (socket-stream server)))
                   (unless (equalp in out) (setf ok nil))))
        (is ok "every block arrived intact")
        (is (< took 1) (format nil "1 MiB took ~,3F s" took))))))
