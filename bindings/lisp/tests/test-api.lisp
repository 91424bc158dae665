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
        ((or (boundp symbol) (special-variable-p symbol)) :variable)
        (t :other)))

(defun our-lambda-list (symbol)
  (cond ((macro-function symbol) (macro-lambda-list symbol))
        ((typep (fdefinition symbol) 'generic-function)
         (gf-lambda-list (fdefinition symbol)))
        (t (function-lambda-list (fdefinition symbol)))))

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

(deftest get-host-name-is-this-machines
  (is-equal (machine-host-name) (get-host-name)))

(deftest connect-timeouts-of-0.8.9
  (with-sockets (listener client server)
    (setf listener (socket-listen "127.0.0.1" 0))
    ;; :read-timeout alone: the read timeout, the connect unbounded.
    (setf client (socket-connect "127.0.0.1" (get-local-port listener) :read-timeout 0.2))
    (is-equal 0.2 (socket-option client :receive-timeout))
    (is-equal 200 (usocket-cffi::core-option client usocket-cffi::+opt-receive-timeout+))
    (socket-close client)
    ;; :connection-timeout overrides :timeout for the connect only.
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                 :timeout 0.3 :connection-timeout 5))
    (is-equal 0.3 (socket-option client :receive-timeout))
    (socket-close client)
    (setf client (socket-connect "127.0.0.1" (get-local-port listener)
                                 :timeout 0.3 :read-timeout nil))
    (is (null (socket-option client :receive-timeout)))))

(deftest connect-timeout-0-expires-at-once
  ;; usocket's timeout-error.1: (socket-connect host 81 :timeout 0) signals
  ;; TIMEOUT-ERROR at once, even where a refusal would come a moment later
  ;; (usocket_connect_for with 0 does not wait at all).
  (let ((closed (with-sockets (probe)
                  (setf probe (socket-listen "127.0.0.1" 0))
                  (get-local-port probe))))
    (dotimes (i 3)
      (signals timeout-error (socket-connect "127.0.0.1" closed :timeout 0))))
  ;; And a connect that cannot finish: to a listener whose backlog is full,
  ;; whose SYNs the kernel drops.
  (with-sockets (listener)
    (setf listener (socket-listen "127.0.0.1" 0 :backlog 0))
    (let ((fillers '()))
      (unwind-protect
           (progn
             ;; Fill the accept queue (bounded): until a connect times out.
             (let ((c (loop repeat 16
                            do (handler-case
                                   (push (socket-connect "127.0.0.1" (get-local-port listener)
                                                         :timeout 0.2)
                                         fillers)
                                 (timeout-error (c) (return c))))))
               (is (typep c 'timeout-error) "the listener's queue filled up"))
             (multiple-value-bind (took c)
                 (timed (signals timeout-error
                                 (socket-connect "127.0.0.1" (get-local-port listener) :timeout 0)))
               (declare (ignore c))
               (is (< took 0.1) (format nil ":timeout 0 took ~,3F s" took))))
        (mapc #'socket-close fillers)))))

(deftest connect-and-listen-restarts
  (let ((port (with-sockets (probe)
                (setf probe (socket-listen "127.0.0.1" 0))
                (get-local-port probe))))
    (with-sockets (listener client)
      (setf listener (socket-listen "127.0.0.1" 0))
      ;; A refused connect, retried on another port through USE-OTHER-PORT.
      (setf client (handler-bind ((connection-refused-error
                                    (lambda (c) (declare (ignore c))
                                      (invoke-restart 'use-other-port (get-local-port listener)))))
                     (socket-connect "127.0.0.1" port)))
      (is (typep client 'stream-usocket))
      (socket-close client)
      (setf client (handler-bind ((error (lambda (c) (declare (ignore c))
                                           (invoke-restart 'use-other-host "127.0.0.1"))))
                     (socket-connect (format nil "bad~Chost" (code-char 0)) (get-local-port listener))))
      (is (typep client 'stream-usocket)))
    ;; SOCKET-LISTEN has them too; RETRY tries again.
    (with-sockets (a b)
      (setf a (socket-listen "127.0.0.1" 0))
      (let ((tries 0))
        (setf b (handler-bind ((address-in-use-error
                                 (lambda (c) (declare (ignore c))
                                   (if (< (incf tries) 3)
                                       (invoke-restart 'retry)
                                       (invoke-restart 'use-other-port 0)))))
                  (socket-listen "127.0.0.1" (get-local-port a))))
        (is-equal 3 tries)
        (is (/= (get-local-port a) (get-local-port b)))))))

(deftest ipv6-only-p-and-host-by-name
  ;; "localhost" in /etc/hosts: 127.0.0.1 and ::1 here (the core's rule: the
  ;; first IPv4, else the first IPv6; *ipv6-only-p*: the first IPv6).
  (is-equal #(127 0 0 1) (get-host-by-name "127.0.0.1"))
  (is-equal 16 (length (get-host-by-name "::1")))
  (let ((*ipv6-only-p* t))
    (is-equal (ipv6-host-to-vector "::1") (get-host-by-name "::1"))
    (is (null (get-host-by-name "127.0.0.1")) "no IPv6 address")
    (is-equal (ipv6-host-to-vector "::1") (get-random-host-by-name "::1"))))

(deftest socket-option-reads-back-what-was-set
  ;; Exactly the value given, and the socket's SO_RCVTIMEO/SO_SNDTIMEO (what C
  ;; reads) is that value in ms: no slice, no other timeout set behind it.
  (with-pair (client server)
    (flet ((core (option) (usocket-cffi::core-option client option)))
      (is-equal 0 (core usocket-cffi::+opt-receive-timeout+) "no receive timeout unless asked")
      (is-equal 0 (core usocket-cffi::+opt-send-timeout+) "no send timeout unless asked")
      (dolist (v '(0.3 1/3 2 0.05d0))
        (setf (socket-option client :receive-timeout) v
              (socket-option client :send-timeout) v)
        (is (eql v (socket-option client :receive-timeout)))
        (is (eql v (socket-option client :send-timeout)))
        (is-equal (ceiling (* v 1000)) (core usocket-cffi::+opt-receive-timeout+))
        (is-equal (ceiling (* v 1000)) (core usocket-cffi::+opt-send-timeout+)))
      ;; Reading from a socket with a timeout leaves it as it was.
      (setf (socket-option client :receive-timeout) 0.1)
      (signals timeout-error (read-char (socket-stream client)))
      (is-equal 100 (core usocket-cffi::+opt-receive-timeout+))
      (setf (socket-option client :receive-timeout) nil
            (socket-option client :send-timeout) nil)
      (is-equal 0 (core usocket-cffi::+opt-receive-timeout+))
      (is-equal 0 (core usocket-cffi::+opt-send-timeout+)))))
