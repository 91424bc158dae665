;;;; usocket compatibility: the exported names, a usocket program run
;;;; unchanged through usocket-cffi/compat (compared with real usocket), and
;;;; every exported function used somewhere in these tests.

(in-package #:usocket-cffi-tests)

(defparameter *usocket-source* #p"/usr/share/common-lisp/source/usocket/")

(defun usocket-exports ()
  "The names usocket 0.8's DEFPACKAGE exports (plus the condition classes
its condition.lisp exports at load time)."
  (let ((form (with-open-file (in (merge-pathnames "package.lisp" *usocket-source*))
                (let ((*package* (make-package (gensym "READ") :use '())))
                  (unwind-protect
                       (loop for f = (read in nil :eof)
                             until (eq f :eof)
                             when (and (consp f) (string= (symbol-name (car f)) "DEFPACKAGE"))
                               return f)
                    (delete-package *package*))))))
    (loop for clause in (cddr form)
          when (and (consp clause) (string= (symbol-name (car clause)) "EXPORT"))
            append (mapcar #'symbol-name (cdr clause)))))

(deftest exports-everything-usocket-exports
  (unless (directory-exists-p *usocket-source*)
    (fail "usocket's source is not installed at ~A" *usocket-source*))
  (let ((names (append (usocket-exports)
                       '("INTERRUPTED-CONDITION" "NS-TRY-AGAIN-CONDITION" "NS-HOST-NOT-FOUND-ERROR"
                         "NS-NO-RECOVERY-ERROR" "ADDRESS-IN-USE-ERROR" "TIMEOUT-ERROR"))))
    (is (> (length names) 100))
    (dolist (name names)
      (multiple-value-bind (symbol status) (find-symbol name :usocket-cffi)
        (is (eq status :external) (format nil "~A is exported" name))
        (is (or (fboundp symbol) (boundp symbol) (find-class symbol nil)
                (special-variable-p symbol) ; *remote-host*: unbound, as usocket
                (macro-function symbol))
            (format nil "~A is defined" name))))))

(defun symbol-tokens (text)
  "The symbol names used in the Lisp source TEXT (not in its strings or
comments), downcased, without package prefixes, as a set (an EQUAL hash
table): exact names, not substrings."
  (let ((tokens (make-hash-table :test 'equal)) (start nil) (i 0) (n (length text)))
    (flet ((end (i)
             (when start
               (let* ((token (string-downcase (subseq text start i)))
                      (colon (position #\: token :from-end t)))
                 (setf (gethash (if colon (subseq token (1+ colon)) token) tokens) t))
               (setf start nil))))
      (loop while (< i n)
            do (let ((c (char text i)))
                 (cond ((char= c #\")            ; a string: skipped
                        (end i)
                        (incf i)
                        (loop while (and (< i n) (char/= (char text i) #\"))
                              do (when (char= (char text i) #\\) (incf i))
                                 (incf i)))
                       ((char= c #\;)            ; a comment: skipped
                        (end i)
                        (setf i (or (position #\Newline text :start i) n)))
                       ((member c '(#\Space #\Tab #\Newline #\Return #\( #\) #\' #\` #\, #\# #\|))
                        (end i))
                       (t (unless start (setf start i))))
                 (incf i))
            finally (end n)))
    tokens))

(deftest every-exported-function-is-tested
  (let ((tokens (symbol-tokens
                 (apply #'concatenate 'string
                        (mapcar #'read-file (directory (merge-pathnames "tests/*.lisp" *lisp-dir*))))))
        (missing '()))
    (is (gethash "socket-connect" tokens))
    (is (not (gethash "socket" (symbol-tokens "(socket-connect x)"))) "exact names, not substrings")
    (is (not (gethash "socket-close" (symbol-tokens "(f \"socket-close\") ; socket-close"))))
    (do-external-symbols (s :usocket-cffi)
      (when (and (fboundp s)
                 (not (gethash (string-downcase (symbol-name s)) tokens)))
        (push s missing)))
    (is (null missing) (format nil "exported functions no test uses: ~S" missing))))

(defun run-lisp (args)
  (run-program-output "sbcl" (append '("--noinform" "--non-interactive" "--no-userinit"
                                        "--no-sysinit")
                                      args)))

(defun program-lines (output)
  "The program's own lines (\"name: value\", the name in lower case), without
compiler chatter (\"WARNING: ...\", which a cold compile on ABCL prints)."
  (remove-if-not (lambda (line)
                   (let ((colon (position #\: line)))
                     (and colon (plusp colon)
                          (every #'lower-case-p (subseq line 0 colon)))))
                 (split-on #\Newline output)))

(deftest usocket-program-runs-unchanged-through-compat
  (let* ((program (namestring (merge-pathnames "tests/compat-program.lisp" *lisp-dir*)))
         (dir (namestring *lisp-dir*)))
    (multiple-value-bind (ours code)
        (run-lisp (list "--eval" "(require :asdf)"
                        "--eval" (format nil "(push #p~S asdf:*central-registry*)" dir)
                        "--eval" "(asdf:load-system \"usocket-cffi/compat\")"
                        "--eval" "(format t \"~&impl: ~A~%\" (package-name (find-package :usocket)))"
                        "--load" program))
      (is (zerop code) (format nil "the program failed on usocket-cffi: ~A" ours))
      (let ((lines (program-lines ours)))
        (is (member "impl: USOCKET-CFFI" lines :test #'string=) (format nil "~S" lines))
        (is (member "tcp: HELLO USOCKET" lines :test #'string=) (format nil "~S" lines))
        (if (directory-exists-p *usocket-source*)
            (multiple-value-bind (theirs code2) (run-lisp (list "--load" program))
              (is (zerop code2) (format nil "the program failed on usocket: ~A" theirs))
              (is-equal (program-lines theirs) (remove "impl: USOCKET-CFFI" lines :test #'string=)))
            (fail "usocket is not installed: nothing to compare with"))))))
