;;;; Finding and loading libusocket.

(in-package #:usocket-cffi)

(defvar *library-pathname* nil
  "The file the core was loaded from, or the bare name the system's loader resolved.")

(defun repository-library ()
  "target/release/libusocket.so of the repository this system lives in, if built."
  (let ((system (asdf:find-system "usocket-cffi" nil)))
    (when system
      (let ((candidate (merge-pathnames "../../target/release/libusocket.so"
                                        (asdf:system-source-directory system))))
        (probe-file candidate)))))

(defun find-core-library (&key (env (uiop:getenv "USOCKET_LIBRARY"))
                                (repository (repository-library)))
  "USOCKET_LIBRARY (ENV), then the repository's build output (REPOSITORY),
then the system's path (the bare name, for the dynamic loader)."
  (cond ((and env (plusp (length env)))
         (or (probe-file env)
             (error "USOCKET_LIBRARY names ~S, which does not exist." env)))
        (repository)
        (t "libusocket.so")))

(defun load-core-library ()
  (let ((path (find-core-library)))
    (cffi:load-foreign-library (if (pathnamep path) (namestring path) path))
    (setf *library-pathname* path)))

(load-core-library)
