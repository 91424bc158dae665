;;;; The binding against include/usocket.h: every function of the header has
;;;; a CFFI definition with the same argument and return types; the
;;;; constants agree; the structures have the header's layout (checked with
;;;; the C compiler).

(in-package #:usocket-cffi-tests)

(defparameter *header*
  (merge-pathnames "../../include/usocket.h" *lisp-dir*))

(defun read-file (path)
  (with-open-file (in path :external-format (utf-8))
    (let ((s (make-string (file-length in))))
      (subseq s 0 (read-sequence s in)))))

(defun strip-c-comments (text)
  "TEXT without /* */ and // comments and without preprocessor lines."
  (with-output-to-string (out)
    (let ((i 0) (n (length text)) (line-start t))
      (loop while (< i n)
            do (let ((c (char text i)))
                 (cond ((and (char= c #\/) (< (1+ i) n) (char= (char text (1+ i)) #\*))
                        (setf i (+ 2 (or (search "*/" text :start2 (+ i 2)) (- n 2)))))
                       ((and (char= c #\/) (< (1+ i) n) (char= (char text (1+ i)) #\/))
                        (setf i (or (position #\Newline text :start i) n)))
                       ((and line-start (char= c #\#))
                        (setf i (or (position #\Newline text :start i) n)))
                       (t (write-char c out)
                          (setf line-start (char= c #\Newline))
                          (incf i))))))))

(defun squeeze (string)
  (string-trim " " (with-output-to-string (out)
                     (let ((space nil))
                       (loop for c across string
                             do (if (member c '(#\Space #\Tab #\Newline #\Return))
                                    (setf space t)
                                    (progn (when space (write-char #\Space out))
                                           (setf space nil)
                                           (write-char c out))))))))

(defun split-on (char string)
  (loop with start = 0
        for pos = (position char string :start start)
        collect (subseq string start pos)
        while pos do (setf start (1+ pos))))

(defun c-type->cffi (type)
  "The CFFI base type for a C type as written in the header."
  (let ((type (strip-const type)))
    (cond ((find #\* type) :pointer)
          ((string= type "int32_t") :int32)
          ((string= type "int64_t") :int64)
          ((string= type "uint64_t") :uint64)
          ((string= type "usocket_t") :uint64)
          ((string= type "uint16_t") :uint16)
          ((string= type "uint8_t") :uint8)
          ((string= type "size_t") 'usocket-cffi::size-t)
          ((string= type "bool") :bool)
          ((string= type "void") :void)
          ((member type '("usocket_tcp_handler" "usocket_udp_handler") :test #'string=)
           :pointer)
          (t (list :unknown type)))))

(defun strip-const (type)
  (squeeze (format nil "~{~A~^ ~}"
                   (remove "const" (split-on #\Space (squeeze type)) :test #'string=))))

(defun parse-parameter (text)
  "The CFFI type of one C parameter declaration (\"const char *host\")."
  (let* ((text (strip-const text))
         (star (position #\* text :from-end t)))
    (if star
        :pointer
        (let ((words (split-on #\Space text)))
          (c-type->cffi (if (= (length words) 1)
                            (first words)
                            (format nil "~{~A~^ ~}" (butlast words))))))))

(defun header-functions ()
  "An alist: C name -> (return-type (arg-type ...)), from the header."
  (let ((text (strip-c-comments (read-file *header*)))
        (result '()))
    (dolist (statement (split-on #\; text) (nreverse result))
      (let* ((s (squeeze statement))
             ;; Only what follows the last brace: drop struct bodies and
             ;; extern "C" {.
             (s (squeeze (subseq s (1+ (or (position-if (lambda (c) (member c '(#\{ #\})))
                                                        s :from-end t)
                                           -1)))))
             (open (position #\( s)))
        (when (and open (not (search "typedef" s)))
          (let* ((head (squeeze (subseq s 0 open)))
                 (close (position #\) s :from-end t))
                 (params (squeeze (subseq s (1+ open) close)))
                 (words (split-on #\Space head))
                 (name (string-left-trim "*" (car (last words))))
                 (return-text (concatenate 'string
                                           (format nil "~{~A~^ ~}" (butlast words))
                                           (if (find #\* (car (last words))) " *" ""))))
            (when (and (> (length name) 8) (string= "usocket_" name :end2 8))
              (push (list name
                          (if (find #\* return-text) :pointer (c-type->cffi (strip-const return-text)))
                          (if (or (string= params "") (string= params "void"))
                              '()
                              (mapcar #'parse-parameter (split-on #\, params))))
                    result))))))))

(deftest header-functions-all-defined-with-matching-types
  (let ((header (header-functions))
        (defined usocket-cffi::*core-functions*))
    (is (> (length header) 30) (format nil "parsed ~D functions from the header" (length header)))
    (dolist (entry header)
      (destructuring-bind (name return args) entry
        (is (not (and (consp return) (eq (first return) :unknown)))
            (format nil "~A: return type understood" name))
        (let ((lisp (gethash name defined)))
          (is lisp (format nil "~A has a CFFI definition" name))
          (dolist (definition lisp)
            (destructuring-bind (lisp-name lisp-return lisp-args) definition
              (is (eq return lisp-return)
                  (format nil "~A (~(~A~)): returns ~S, the binding says ~S"
                          name lisp-name return lisp-return))
              (is (equal args lisp-args)
                  (format nil "~A (~(~A~)): arguments ~S, the binding says ~S"
                          name lisp-name args lisp-args))
              (is (fboundp lisp-name)))))))
    ;; And nothing defined that neither the header nor the contract knows.
    (let ((spec (ignore-errors (read-file (merge-pathnames "../../../shared/spec/C-API.md" *lisp-dir*)))))
      (maphash (lambda (name definitions)
                 (declare (ignore definitions))
                 (unless (assoc name header :test #'string=)
                   (is (and spec (search name spec))
                       (format nil "~A is defined in the binding but in neither the header nor C-API.md"
                               name))))
               defined))))

(deftest header-constants-agree
  (let ((text (read-file *header*))
        (checked 0))
    (dolist (line (split-on #\Newline text))
      (let ((line (squeeze line)))
        (when (and (> (length line) 16) (string= "#define USOCKET_" line :end2 16))
          (let* ((words (split-on #\Space line))
                 (cname (second words))
                 (value (ignore-errors (parse-integer (third words))))
                 (lisp (find-symbol (format nil "+~A+" (substitute #\- #\_ (subseq cname 8)))
                                    :usocket-cffi)))
            (when (and value lisp (boundp lisp))
              (incf checked)
              (is-equal value (symbol-value lisp)))))))
    (is (>= checked 20) (format nil "~D constants compared" checked))))

(defvar cl-user::*gen-constants-library-only* t)

(deftest constants-file-is-generated-from-the-header
  ;; src/constants.lisp is what gen-constants.lisp makes of the header now:
  ;; a header constant added or changed without regenerating fails here.
  (let ((cl-user::*gen-constants-library-only* t))
    (load (merge-pathnames "gen-constants.lisp" *lisp-dir*)))
  (let ((expected (uiop:symbol-call "USOCKET-CFFI-GEN-CONSTANTS" "CONSTANTS-TEXT" *header*))
        (committed (read-file (merge-pathnames "src/constants.lisp" *lisp-dir*))))
    (is (string= expected committed)
        "src/constants.lisp is out of date: run sbcl --script bindings/lisp/gen-constants.lisp"))
  ;; No status code or option number is spelled as a bare literal outside it.
  (dolist (file (directory (merge-pathnames "src/**/*.lisp" *lisp-dir*)))
    (unless (string= (pathname-name file) "constants")
      (let ((text (read-file file)))
        (loop for needle in '(":code -" ":errno 1" ":errno 2" ":errno 9" "(eql code -" "(= code -")
              do (is (not (search needle text))
                     (format nil "~A spells a status or errno literally (~S)"
                             (pathname-name file) needle)))))))

(defun c-layout (struct fields)
  "sizeof STRUCT and offsetof each of FIELDS, from the C compiler."
  (let* ((dir (format nil "/tmp/usocket-cffi-layout-~D/" (getpid)))
         (c (concatenate 'string dir "layout.c"))
         (exe (concatenate 'string dir "layout")))
    (ensure-directories-exist dir)
    (unwind-protect
         (progn
           (with-open-file (out c :direction :output :if-exists :supersede)
             (format out "#include <stdio.h>~%#include <stddef.h>~%#include \"~A\"~%int main(void){~%"
                     (namestring (truename *header*)))
             (format out "printf(\"%zu\\n\", sizeof(struct ~A));~%" struct)
             (dolist (f fields)
               (format out "printf(\"%zu\\n\", offsetof(struct ~A, ~A));~%" struct f))
             (format out "return 0;}~%"))
           (multiple-value-bind (output code) (run-program-output "cc" (list "-o" exe c))
             (unless (zerop code) (fail "cc failed: ~A" output)))
           (with-input-from-string (in (run-program-output exe '()))
             (loop for line = (read-line in nil) while line collect (parse-integer line))))
      (ignore-errors (delete-file c))
      (ignore-errors (delete-file exe))
      (ignore-errors (delete-directory dir)))))

(defun cffi-layout (struct fields)
  (cons (cffi:foreign-type-size `(:struct ,struct))
        (mapcar (lambda (f) (cffi:foreign-slot-offset `(:struct ,struct) f)) fields)))

(deftest header-structure-layouts
  (let ((header-text (read-file *header*)))
    (dolist (spec '(("usocket_address" usocket-cffi::address
                     ("family" "octets" "port")
                     (usocket-cffi::family usocket-cffi::octets usocket-cffi::port))
                    ("usocket_connect_options" usocket-cffi::connect-options
                     ("protocol" "timeout_ms" "connect_timeout_ms" "nodelay" "local_host" "local_port")
                     (usocket-cffi::protocol usocket-cffi::timeout-ms usocket-cffi::connect-timeout-ms
                      usocket-cffi::nodelay usocket-cffi::local-host usocket-cffi::local-port))
                    ("usocket_listen_options" usocket-cffi::listen-options
                     ("reuse_address" "backlog")
                     (usocket-cffi::reuse-address usocket-cffi::backlog))
                    ("usocket_server_options" usocket-cffi::server-options
                     ("protocol" "reuse_address" "backlog" "multi_threading" "timeout_ms"
                      "max_buffer_size")
                     (usocket-cffi::protocol usocket-cffi::reuse-address usocket-cffi::backlog
                      usocket-cffi::multi-threading usocket-cffi::timeout-ms
                      usocket-cffi::max-buffer-size))))
      (destructuring-bind (c-name lisp-name c-fields lisp-fields) spec
        (when (search (format nil "struct ~A {" c-name) header-text)
          (is-equal (c-layout c-name c-fields) (cffi-layout lisp-name lisp-fields)))))))
