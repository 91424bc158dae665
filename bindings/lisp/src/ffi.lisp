;;;; The C ABI of usocket-core (include/usocket.h), one CFFI definition per
;;;; header function. DEFCORE records each signature in *CORE-FUNCTIONS* so
;;;; that tests/test-header.lisp can compare them with the header.

(in-package #:usocket-cffi)

;;; The status return type: a negative code signals the mapped condition,
;;; with the core's message for this thread's last failure.

(cffi:define-foreign-type status-type ()
  ()
  (:actual-type :int32)
  (:simple-parser status))

(defmethod cffi:translate-from-foreign (value (type status-type))
  (if (< value 0)
      (signal-status value (%last-error-message) (%last-os-error))
      value))

(defmethod cffi:expand-from-foreign (form (type status-type))
  ;; FORM is the foreign call itself: run it with interrupts deferred (an
  ;; interrupt then runs after the call, never unwinding through the core),
  ;; read the message at once on failure, and signal only afterwards.
  (let ((code (gensym "CODE")) (message (gensym "MESSAGE")) (errno (gensym "ERRNO")))
    `(multiple-value-bind (,code ,message ,errno)
         (without-interrupts
           (let ((,code ,form))
             (declare (type (signed-byte 32) ,code))
             (if (< ,code 0)
                 (values ,code (%last-error-message) (%last-os-error))
                 (values ,code nil 0))))
       (declare (type (signed-byte 32) ,code))
       (if (< ,code 0) (signal-status ,code ,message ,errno) ,code))))

;;; Types as the header spells them.

(cffi:defctype usocket-t :uint64 "typedef uint64_t usocket_t: a handle, never 0, never reused.")

(cffi:defcstruct address
  (family :uint8)
  (octets :uint8 :count 16)
  (port :uint16))

(cffi:defcstruct connect-options
  (protocol :int32)
  (timeout-ms :int64)
  (connect-timeout-ms :int64)
  (nodelay :bool)
  (local-host :pointer)
  (local-port :uint16))

(cffi:defcstruct listen-options
  (reuse-address :bool)
  (backlog :int32))

(cffi:defcstruct server-options
  (protocol :int32)
  (reuse-address :bool)
  (backlog :int32)
  (multi-threading :bool)
  (timeout-ms :int64)
  (max-buffer-size size-t))

;;; The header's constants are in constants.lisp, generated from it.

;;; The registry of definitions, for the header test.

(defvar *core-functions* (make-hash-table :test 'equal)
  "C name -> (lisp-name return-type (arg-type ...)), types as CFFI base types.")

(eval-when (:compile-toplevel :load-toplevel :execute)
  (defun canonical-type (type)
    "The C-level type behind a CFFI type name used here."
    (case type
      (status :int32)
      (usocket-t :uint64)
      (:string :pointer)
      (t type))))

(defmacro defcore (c-name lisp-name return-type &rest args)
  "DEFCFUN LISP-NAME for the header function C-NAME, recording its signature.
Several Lisp definitions may share one C function (a raw variant returning
the bare code for use inside WITHOUT-INTERRUPTS)."
  `(progn
     (push (list ',lisp-name ',(canonical-type return-type)
                 ',(mapcar (lambda (a) (canonical-type (second a))) args))
           (gethash ,c-name *core-functions*))
     (define-core-function ,c-name ,lisp-name ,return-type ,@args)))

;;; Errors and version.

(defcore "usocket_last_error" %last-error :int32)
(defcore "usocket_last_os_error" %last-os-error :int32)
(defcore "usocket_last_error_message" %last-error-message :string)
(defcore "usocket_error_name" %error-name :string (code :int32))
(defcore "usocket_version" %version :string)

(defun core-version () (%version))


;;; Addresses.

(defcore "usocket_address_format" %address-format status
  (a :pointer) (buf :pointer) (cap size-t))
(defcore "usocket_resolve" %resolve status
  (host :string) (out :pointer) (cap size-t) (count :pointer))
(defcore "usocket_host_by_name" %host-by-name status (host :string) (out :pointer))

;;; Creating and closing.

(defcore "usocket_connect_options_init" %connect-options-init :void (o :pointer))
(defcore "usocket_connect" %connect :int32
  (host :pointer) (port :uint16) (opts :pointer) (out :pointer))
(defcore "usocket_connect_for" %connect-for :int32
  (host :pointer) (port :uint16) (opts :pointer) (timeout-ms :int64) (out :pointer))
(defcore "usocket_listen_options_init" %listen-options-init :void (o :pointer))
(defcore "usocket_listen" %listen :int32
  (host :pointer) (port :uint16) (opts :pointer) (out :pointer))
(defcore "usocket_accept" %accept :int32 (listener usocket-t) (out :pointer))
(defcore "usocket_accept_from" %accept-from :int32
  (listener usocket-t) (out :pointer) (peer :pointer))
(defcore "usocket_close" %close :int32 (s usocket-t))
(defcore "usocket_shutdown" %shutdown status (s usocket-t) (how :int32))
(defcore "usocket_shutdown" %shutdown-raw :int32 (s usocket-t) (how :int32))
(defcore "usocket_dup_fd" %dup-fd status (s usocket-t) (fd :pointer))
(defcore "usocket_kind" %kind status (s usocket-t) (kind :pointer))
(defcore "usocket_fd" %fd status (s usocket-t) (fd :pointer))

;;; Stream I/O. The raw variants return the bare code: they run inside
;;; WITHOUT-INTERRUPTS, and conditions are signalled after it.

(declaim (inline %read %write %write-some %input-available %send %receive %accept %accept-from
                 %wait-for-input %wait-list-wait))
(defcore "usocket_read" %read :int32
  (s usocket-t) (buf :pointer) (len size-t) (nread :pointer))
(defcore "usocket_write" %write :int32
  (s usocket-t) (buf :pointer) (len size-t) (nwritten :pointer))
(defcore "usocket_write_some" %write-some :int32
  (s usocket-t) (buf :pointer) (len size-t) (timeout-ms :int64) (nwritten :pointer))
(defcore "usocket_input_available" %input-available status
  (s usocket-t) (available :pointer))

;;; Calls bounded by their own timeout (0.2): what blocking calls are sliced into.

(declaim (inline %read-for %accept-for %receive-for))
(defcore "usocket_read_for" %read-for :int32
  (s usocket-t) (buf :pointer) (len size-t) (timeout-ms :int64) (nread :pointer))
(defcore "usocket_accept_for" %accept-for :int32
  (listener usocket-t) (timeout-ms :int64) (out :pointer) (peer :pointer))
(defcore "usocket_receive_for" %receive-for :int32
  (s usocket-t) (buf :pointer) (len size-t) (timeout-ms :int64) (nreceived :pointer)
  (from :pointer))

;;; Datagram I/O.

(defcore "usocket_send" %send :int32
  (s usocket-t) (buf :pointer) (len size-t) (host :pointer) (port :uint16) (nsent :pointer))
(defcore "usocket_receive" %receive :int32
  (s usocket-t) (buf :pointer) (len size-t) (nreceived :pointer) (from :pointer))

;;; Unix-domain sockets (0.2).

(defcore "usocket_connect_local" %connect-local :int32 (path :pointer) (opts :pointer) (out :pointer))
(defcore "usocket_listen_local" %listen-local :int32 (path :pointer) (opts :pointer) (out :pointer))
(defcore "usocket_local_path" %local-path status
  (s usocket-t) (buf :pointer) (cap size-t) (len :pointer))
(defcore "usocket_peer_path" %peer-path status
  (s usocket-t) (buf :pointer) (cap size-t) (len :pointer))
(defcore "usocket_peer_credentials" %peer-credentials status
  (s usocket-t) (pid :pointer) (uid :pointer) (gid :pointer))
(defcore "usocket_send_local" %send-local :int32
  (s usocket-t) (buf :pointer) (len size-t) (path :pointer) (nsent :pointer))
(declaim (inline %receive-local))
(defcore "usocket_receive_local" %receive-local :int32
  (s usocket-t) (buf :pointer) (len size-t) (timeout-ms :int64) (nreceived :pointer)
  (from :pointer) (from-cap size-t) (from-len :pointer))

;;; Names and options.

(defcore "usocket_local_name" %local-name status (s usocket-t) (out :pointer))
(defcore "usocket_peer_name" %peer-name status (s usocket-t) (out :pointer))
(defcore "usocket_get_option" %get-option status (s usocket-t) (option :int32) (value :pointer))
(defcore "usocket_set_option" %set-option status (s usocket-t) (option :int32) (value :int64))

;;; Waiting.

(defcore "usocket_wait_for_input" %wait-for-input :int32
  (sockets :pointer) (n size-t) (timeout-ms :int64) (states :pointer)
  (nready :pointer) (remaining-ms :pointer))
(defcore "usocket_wait_list_new" %wait-list-new status (out :pointer))
(defcore "usocket_wait_list_add" %wait-list-add status (list usocket-t) (s usocket-t))
(defcore "usocket_wait_list_remove" %wait-list-remove status (list usocket-t) (s usocket-t))
(defcore "usocket_wait_list_wait" %wait-list-wait :int32
  (list usocket-t) (timeout-ms :int64) (ready :pointer) (cap size-t)
  (nready :pointer) (remaining-ms :pointer))
(defcore "usocket_wait_list_clear" %wait-list-clear status (list usocket-t))
(defcore "usocket_wait_list_free" %wait-list-free :int32 (list usocket-t))
(defcore "usocket_open_handles" %open-handles size-t)

;;; The core's own socket server. SOCKET-SERVER is built from Lisp threads
;;; instead (handlers run as Lisp code, in Lisp threads, with Lisp's special
;;; bindings); these are here for completeness and for callers who want the
;;; native server with C callbacks.

(defcore "usocket_server_options_init" %server-options-init :void (o :pointer))
(defcore "usocket_server_new" %server-new :int32
  (host :pointer) (port :uint16) (opts :pointer) (tcp :pointer) (udp :pointer)
  (user-data :pointer) (server :pointer))
(defcore "usocket_server_run" %server-run :int32 (server usocket-t))
(defcore "usocket_server_spawn" %server-spawn status (server usocket-t))
(defcore "usocket_server_stop" %server-stop status (server usocket-t))
(defcore "usocket_server_set_stack_size" %server-set-stack-size status
  (server usocket-t) (bytes size-t))
(defcore "usocket_server_wait" %server-wait :int32 (server usocket-t) (timeout-ms :int64))
(defcore "usocket_server_new_local" %server-new-local :int32
  (path :pointer) (opts :pointer) (tcp :pointer) (user-data :pointer) (server :pointer))
;; A server loop on Lisp threads (0.2): SOCKET-SERVER is built on these.
(declaim (inline %server-next %server-next-datagram))
(defcore "usocket_server_next" %server-next :int32
  (server usocket-t) (timeout-ms :int64) (client :pointer) (peer :pointer))
(defcore "usocket_server_next_datagram" %server-next-datagram :int32
  (server usocket-t) (timeout-ms :int64) (buf :pointer) (cap size-t) (len :pointer)
  (peer :pointer))
(defcore "usocket_server_reply" %server-reply :int32
  (server usocket-t) (buf :pointer) (len size-t) (peer :pointer))
