;;;; Writes tests/usocket-0.8.9-api.sexp: every symbol native usocket 0.8.9
;;;; exports, what it is (function, macro, generic function, variable,
;;;; constant, class, condition) and its lambda list, read from a real 0.8.9
;;;; loaded natively on SBCL (the control, ../shared/usocket-0.8.9). The
;;;; internal keyword arguments of SOCKET-CONNECT and SOCKET-LISTEN (which
;;;; take &REST ARGS) are those of their backend functions.
;;;;
;;;;   sbcl --script bindings/lisp/tests/gen-usocket-api.lisp [USOCKET-0.8.9-DIR]
;;;;
;;;; tests/test-api.lisp compares usocket-cffi/compat against the file.

(require :asdf)
(require :sb-bsd-sockets)
(defvar *here* (make-pathname :name nil :type nil :defaults *load-truename*))
(defvar *source* (or (second sb-ext:*posix-argv*)
                     (namestring (merge-pathnames "/work/shared/usocket-0.8.9/" *here*))))
;; usocket-server 0.8.9 calls bt2:make-thread (bordeaux-threads 0.9+); Debian has 0.8.8.
(let ((*standard-output* (make-broadcast-stream)) (*error-output* (make-broadcast-stream)))
  (asdf:load-system "bordeaux-threads")
  (unless (find-package "BT2")
    (make-package "BT2" :use '())
    (setf (symbol-function (intern "MAKE-THREAD" "BT2"))
          (lambda (function &key name &allow-other-keys)
            (funcall (intern "MAKE-THREAD" "BORDEAUX-THREADS") function :name name)))
    (export (intern "MAKE-THREAD" "BT2") "BT2"))
  (push (pathname *source*) asdf:*central-registry*)
  (asdf:load-system "usocket")
  (asdf:load-system "usocket-server"))

(defun kind (symbol)
  (cond ((macro-function symbol) :macro)
        ((and (fboundp symbol) (typep (fdefinition symbol) 'generic-function)) :generic)
        ((fboundp symbol) :function)
        ((constantp symbol) :constant)
        ((find-class symbol nil)
         (if (subtypep symbol 'condition) :condition :class))
        ((or (boundp symbol) (eq (sb-int:info :variable :kind symbol) :special)) :variable)
        (t :other)))

(defun lambda-list (symbol)
  (cond ((macro-function symbol) (sb-kernel:%fun-lambda-list (macro-function symbol)))
        ((and (fboundp symbol) (typep (fdefinition symbol) 'generic-function))
         (sb-mop:generic-function-lambda-list (fdefinition symbol)))
        ((fboundp symbol) (sb-kernel:%fun-lambda-list (fdefinition symbol)))))

(defun names (list)
  "A lambda list with every variable as a string, defaults dropped, and a
destructuring pattern (a list in a required position) as \"(...)\"."
  (let ((required t))
    (loop for x in list
          collect (coerce
                   (cond ((member x lambda-list-keywords)
                          (unless (member x '(&whole &environment)) (setf required nil))
                          (symbol-name x))
                         ((and (consp x) required) "(...)")
                         ((consp x) (let ((v (first x))) (symbol-name (if (consp v) (second v) v))))
                         (t (symbol-name x)))
                   '(simple-array character (*))))))

(defun keys-of (fn)
  (let ((ll (sb-kernel:%fun-lambda-list (fdefinition fn))))
    (loop for x in (cdr (member '&key ll))
          until (member x lambda-list-keywords)
          collect (coerce (symbol-name (if (consp x) (if (consp (car x)) (cadar x) (car x)) x))
                          '(simple-array character (*))))))

(let ((entries '()))
  (do-external-symbols (s "USOCKET")
    (push (list (coerce (symbol-name s) '(simple-array character (*))) (kind s)
                (let ((ll (lambda-list s))) (and ll (names ll))))
          entries))
  (setf entries (sort entries #'string< :key #'first))
  (with-open-file (out (merge-pathnames "usocket-0.8.9-api.sexp" *here*)
                       :direction :output :if-exists :supersede)
    (with-standard-io-syntax
      (let ((*print-pretty* t) (*print-right-margin* 100) (*print-readably* nil))
        (format out ";;;; usocket 0.8.9's exported API, from tests/gen-usocket-api.lisp. Do not edit.~%")
        (print (list :exports entries
                     :socket-connect-keys (keys-of (find-symbol "SOCKET-CONNECT-INTERNAL" "USOCKET"))
                     :socket-listen-keys (keys-of (find-symbol "SOCKET-LISTEN-INTERNAL" "USOCKET")))
               out)
        (terpri out))))
  (format t "~D exported symbols~%" (length entries)))
