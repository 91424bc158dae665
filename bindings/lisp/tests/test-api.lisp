;;;; usocket 0.8.9's whole exported API, checked symbol by symbol against a
;;;; record made from the real 0.8.9 (tests/usocket-0.8.9-api.sexp, written
;;;; by tests/gen-usocket-api.lisp): every symbol it exports is exported here
;;;; (exact names), is the same kind of thing (function, generic function,
;;;; macro, variable, constant, class, condition), and every function and
;;;; macro takes the same arguments (the same required and optional
;;;; parameters, &rest/&body, and at least the same keywords).

(in-package #:usocket-cffi-tests)

(defun api-record ()
  (with-open-file (in (merge-pathnames "tests/usocket-0.8.9-api.sexp" *lisp-dir*))
    (with-standard-io-syntax
      (let ((*read-eval* nil)) (read in)))))

(defun our-kind (symbol)
  (cond ((macro-function symbol) :macro)
        ((and (fboundp symbol) (typep (fdefinition symbol) 'generic-function)) :generic)
        ((fboundp symbol) :function)
        ((constantp symbol) :constant)
        ((find-class symbol nil) (if (subtypep symbol 'condition) :condition :class))
        ((or (boundp symbol) (eq (sb-int:info :variable :kind symbol) :special)) :variable)
        (t :other)))

(defun our-lambda-list (symbol)
  (cond ((macro-function symbol) (sb-kernel:%fun-lambda-list (macro-function symbol)))
        ((typep (fdefinition symbol) 'generic-function)
         (sb-mop:generic-function-lambda-list (fdefinition symbol)))
        (t (sb-kernel:%fun-lambda-list (fdefinition symbol)))))

(defun lambda-list-shape (list)
  "(required optional rest-p (keys...) allow-other-keys-p) of a lambda list,
its variables as strings (a destructuring pattern counts as one required)."
  (let ((required 0) (optional 0) (rest nil) (keys '()) (other nil) (state :required))
    (dolist (x list)
      (let ((name (cond ((stringp x) x)
                        ((and (symbolp x) (member x lambda-list-keywords)) (symbol-name x))
                        ((and (consp x) (eq state :required)) "(...)")
                        (t nil))))
        (cond ((member name '("&OPTIONAL") :test #'equal) (setf state :optional))
              ((member name '("&REST" "&BODY") :test #'equal) (setf state :rest rest t))
              ((equal name "&KEY") (setf state :key))
              ((equal name "&ALLOW-OTHER-KEYS") (setf other t))
              ((member name '("&AUX" "&ENVIRONMENT" "&WHOLE") :test #'equal) (setf state :ignore))
              (t (case (if (equal name "(...)") :required state)
                   (:required (incf required))
                   (:optional (incf optional))
                   (:key (push (let ((v (if (consp x) (first x) x)))
                                 (string-upcase (if (consp v) (first v) (princ-to-string v))))
                               keys)))))))
    (list required optional rest (sort keys #'string<) other)))

(deftest api-matches-usocket-0.8.9
  (let* ((record (api-record))
         (exports (getf record :exports))
         (problems '()))
    (is (> (length exports) 100) "the record lists 0.8.9's exports")
    (flet ((problem (format &rest args) (push (apply #'format nil format args) problems)))
      (dolist (entry exports)
        (destructuring-bind (name kind lambda-list) entry
          (multiple-value-bind (symbol status) (find-symbol name :usocket-cffi)
            (cond
              ((not (eq status :external)) (problem "~A is not exported" name))
              ((eq kind :other))        ; exported, defined nowhere in 0.8.9 (restarts, ...)
              ((not (eq kind (our-kind symbol)))
               (problem "~A is a ~(~A~) in 0.8.9, here a ~(~A~)" name kind (our-kind symbol)))
              ((member kind '(:function :generic :macro))
               (let ((theirs (lambda-list-shape lambda-list))
                     (ours (lambda-list-shape
                            (mapcar (lambda (x) (if (and (symbolp x) (member x lambda-list-keywords))
                                                    (symbol-name x) x))
                                    (our-lambda-list symbol)))))
                 (cond
                   ((member name '("SOCKET-CONNECT" "SOCKET-LISTEN") :test #'string=)
                    ;; 0.8.9: (host port &rest args), the keywords those of the backend.
                    (let ((keys (remove "PORT" (getf record (if (string= name "SOCKET-CONNECT")
                                                                :socket-connect-keys
                                                                :socket-listen-keys))
                                        :test #'string=)))
                      (unless (= 2 (first ours)) (problem "~A: ~S" name ours))
                      (dolist (k keys)
                        (unless (member k (fourth ours) :test #'string=)
                          (problem "~A takes no :~A" name k)))))
                   (t
                    (unless (and (= (first theirs) (first ours))
                                 (= (second theirs) (second ours))
                                 (eq (third theirs) (third ours))
                                 (subsetp (fourth theirs) (fourth ours) :test #'string=)
                                 (or (not (fifth theirs)) (fifth ours)))
                      (problem "~A: 0.8.9's lambda list ~S, ours ~S"
                               name lambda-list (our-lambda-list symbol)))))))))))
      (is (null problems) (format nil "~{~%  ~A~}" (reverse problems))))))

(deftest api-extra-exports-are-deliberate
  ;; What we export beyond 0.8.9: 0.8.3's and ours, each on purpose.
  (let* ((theirs (mapcar #'first (getf (api-record) :exports)))
         (extra '()))
    (do-external-symbols (s :usocket-cffi)
      (unless (member (symbol-name s) theirs :test #'string=)
        (push (symbol-name s) extra)))
    (is-equal '("CORE-VERSION" "GET-LOCAL-PATH" "GET-PEER-CREDENTIALS" "GET-PEER-PATH"
                "INTERNAL-ERROR" "INVALID-HANDLE-ERROR" "SOCKET-ERROR-CODE" "SOCKET-ERROR-MESSAGE"
                "SOCKET-FD" "USOCKET-ERRNO" "WRONG-KIND-ERROR")
              (sort extra #'string<))))
