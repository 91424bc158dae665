;;;; Implementation-specific: foreign pointers to octet vectors, the storage
;;;; under non-simple vectors, globals and index types.
;;;;
;;;; Bulk data always moves in blocks:
;;;; - SBCL: the vector pinned (SB-SYS:WITH-PINNED-OBJECTS), its own storage.
;;;; - ECL: its own storage (the collector does not move objects;
;;;;   SI:MAKE-FOREIGN-DATA-FROM-ARRAY, what CFFI's WITH-POINTER-TO-VECTOR-DATA
;;;;   does there), the vector held live by the caller's frame.
;;;; - CLISP and ABCL: a foreign buffer, filled and read back by one block
;;;;   copy each (CLISP: FFI:MEMORY-AS of a C array; ABCL: JNA's
;;;;   Pointer.write/read of a Java byte array), never a loop of foreign
;;;;   calls per byte.

(in-package #:usocket-cffi)

(deftype index () `(integer 0 (,array-dimension-limit)))

(defmacro define-global (name value &optional documentation)
  "A global variable that is never bound dynamically."
  #+sbcl `(sb-ext:defglobal ,name ,value ,@(and documentation (list documentation)))
  #-sbcl `(defvar ,name ,value ,@(and documentation (list documentation))))

(defmacro with-octet-storage ((data offset vector) &body body)
  "Bind DATA to a simple octet vector holding the elements of VECTOR (an
octet vector, maybe adjustable or displaced) and OFFSET to where VECTOR's
element 0 is in it. On SBCL DATA is VECTOR's own storage; elsewhere, for a
non-simple vector, DATA is a copy whose changes are copied back into VECTOR
after BODY (non-simple octet vectors have no portable storage access)."
  #+sbcl
  (let ((end (gensym "END")))
    `(sb-kernel:with-array-data ((,data ,vector) (,offset 0) (,end nil))
       (declare (ignore ,end))
       ,@body))
  #-sbcl
  (let ((v (gensym "VECTOR")))
    `(let ((,v ,vector))
       (if (typep ,v 'octets)
           (let ((,data ,v) (,offset 0))
             (declare (ignorable ,offset))
             ,@body)
           (let ((,data (make-array (length ,v) :element-type 'octet))
                 (,offset 0))
             (declare (ignorable ,offset))
             (replace ,data ,v)
             (multiple-value-prog1 (locally ,@body)
               (replace ,v ,data)))))))

;;; Block copies between Lisp octet vectors and foreign memory (CLISP, ABCL).

#+clisp
(defun octet-array-type (n)
  (ffi:parse-c-type `(ffi:c-array ffi:uint8 ,n)))

#+(or clisp abcl)
(defun copy-to-foreign (data start count pointer)
  "Copy DATA[START, START+COUNT) to the foreign memory at POINTER."
  (declare (type octets data) (type index start count))
  (when (plusp count)
    #+clisp (setf (ffi:memory-as pointer (octet-array-type count) 0)
                  (if (and (zerop start) (= count (length data)))
                      data
                      (subseq data start (+ start count))))
    #+abcl (abcl-copy-to-foreign data start count pointer))
  nil)

#+(or clisp abcl)
(defun copy-from-foreign (pointer data start count)
  "Copy COUNT bytes at POINTER into DATA from START."
  (declare (type octets data) (type index start count))
  (when (plusp count)
    #+clisp (replace data (ffi:memory-as pointer (octet-array-type count) 0) :start1 start)
    #+abcl (abcl-copy-from-foreign pointer data start count))
  nil)

#+abcl
(progn
  ;; ABCL (with :NIO, as 1.9.0) keeps a simple octet vector in a heap
  ;; java.nio.ByteBuffer, the field ELEMENTS of BasicVector_ByteBuffer: its
  ;; byte[] goes to and from foreign memory in one JNA call
  ;; (Pointer.write/read(long, byte[], int, int), a JNI block copy).
  (defvar *abcl-elements-field*
    (ignore-errors
     (let ((f (java:jcall "getDeclaredField"
                          (java:jclass "org.armedbear.lisp.BasicVector_ByteBuffer") "elements")))
       (java:jcall "setAccessible" f java:+true+)
       f)))
  (defvar *jna-write* (java:jmethod "com.sun.jna.Pointer" "write" "long" "[B" "int" "int"))
  (defvar *jna-read* (java:jmethod "com.sun.jna.Pointer" "read" "long" "[B" "int" "int"))

  (defun abcl-backing-bytes (data)
    "The byte[] holding DATA's elements and the index of element 0 in it, or NIL."
    (when (and *abcl-elements-field*
               (string= (java:jcall "getName" (java:jcall "getClass" data))
                        "org.armedbear.lisp.BasicVector_ByteBuffer"))
      (let ((buffer (java:jcall "get" *abcl-elements-field* data)))
        (when (java:jcall "hasArray" buffer)
          (values (java:jcall "array" buffer) (java:jcall "arrayOffset" buffer))))))

  (defun abcl-foreign-view (pointer count)
    "An octet vector over the COUNT bytes of foreign memory at POINTER."
    (make-array count :element-type '(unsigned-byte 8)
                      :nio-buffer (java:jcall "getByteBuffer" pointer 0 count)))

  (defun abcl-copy-to-foreign (data start count pointer)
    (multiple-value-bind (bytes base) (abcl-backing-bytes data)
      (if bytes
          (java:jcall *jna-write* pointer 0 bytes (+ base start) count)
          (replace (abcl-foreign-view pointer count) data :start2 start :end2 (+ start count)))))

  (defun abcl-copy-from-foreign (pointer data start count)
    (multiple-value-bind (bytes base) (abcl-backing-bytes data)
      (if bytes
          (java:jcall *jna-read* pointer 0 bytes (+ base start) count)
          (replace data (abcl-foreign-view pointer count) :start1 start)))))

(defconstant +copy-block+ (* 256 1024)
  "Where the pointer is to a copy (CLISP, ABCL): the most bytes one call may
be given when the caller takes a part (a read, a partial write).")

(defmacro with-octets-pointer ((pointer data start count &key (direction :io) filled)
                               &body body)
  "Bind POINTER to a foreign pointer to DATA[START, START+COUNT) (DATA a
simple octet vector) for BODY. POINTER may be (POINTER N): N is then bound to
how many of the COUNT bytes the pointer covers, which is all of them where
the pointer is to DATA itself (SBCL, ECL) and at most +COPY-BLOCK+ where it
is to a copy; the caller passes N to a call that may take a part. DIRECTION:
:OUT (foreign code reads it), :IN (foreign code fills it) or :IO. FILLED,
evaluated after BODY, is how many bytes foreign code stored (default N);
where the pointer is to a copy, only those are copied back."
  (declare (ignorable direction filled))
  (destructuring-bind (pointer &optional (n (gensym "N")) &aux (part-p (listp pointer)))
      (if (listp pointer) pointer (list pointer))
    #+sbcl
    `(sb-sys:with-pinned-objects (,data)
       (let ((,pointer (sb-sys:sap+ (sb-sys:vector-sap ,data) ,start))
             (,n ,count))
         (declare (ignorable ,n))
         ,@body))
    #+ecl
    `(let ((,pointer (cffi:inc-pointer (si:make-foreign-data-from-array ,data) ,start))
           (,n ,count))
       (declare (ignorable ,n))
       (multiple-value-prog1 (progn ,@body)
         ;; Keep DATA live (its storage is what POINTER points at) until here.
         (touch ,data)))
    #-(or sbcl ecl)
    (let ((d (gensym "DATA")) (s (gensym "START")) (whole (gensym "WHOLE")))
      `(let* ((,d ,data) (,s ,start) (,whole ,(not part-p))
              (,n (if ,whole ,count (min ,count +copy-block+))))
         (declare (ignorable ,whole))
         (with-foreign-block (,pointer ,n)
           ,@(unless (eq direction :in) `((copy-to-foreign ,d ,s ,n ,pointer)))
           (multiple-value-prog1 (progn ,@body)
             ,@(unless (eq direction :out)
                 `((copy-from-foreign ,pointer ,d ,s (min ,n ,(or filled n)))))))))))

#-(or sbcl ecl)
(defmacro with-foreign-block ((pointer n) &body body)
  "POINTER to N bytes of foreign memory during BODY: on the stack when small,
else from the heap (a large stack block overflows CLISP's C stack)."
  (let ((size (gensym "SIZE")) (f (gensym "BODY")))
    `(let ((,size (max 1 ,n)))
       (flet ((,f (,pointer) ,@body))
         (if (<= ,size 4096)
             (cffi:with-foreign-pointer (p ,size) (,f p))
             (let ((p (cffi:foreign-alloc :uint8 :count ,size)))
               (unwind-protect (,f p) (cffi:foreign-free p))))))))

#+ecl
(declaim (notinline touch))
#+ecl
(defun touch (object) object)

(defmacro word-at (pointer)
  "The size_t at POINTER."
  #+sbcl `(sb-sys:sap-ref-word ,pointer 0)
  #-sbcl `(cffi:mem-ref ,pointer 'size-t))

(defmacro with-vector-pointer ((pointer vector element-type &key (direction :io)) &body body)
  "Bind POINTER to a foreign pointer to the elements of VECTOR, a simple
vector of ELEMENT-TYPE (:UINT8 or :UINT64), for BODY (small vectors: handles
and states of waits). Where the pointer is to a copy, the elements are
copied in before BODY (unless DIRECTION is :IN) and back after it (unless
:OUT)."
  (declare (ignorable element-type direction))
  #+sbcl
  `(sb-sys:with-pinned-objects (,vector)
     (let ((,pointer (sb-sys:vector-sap ,vector)))
       ,@body))
  #+ecl
  `(let ((,pointer (si:make-foreign-data-from-array ,vector)))
     (multiple-value-prog1 (progn ,@body) (touch ,vector)))
  #-(or sbcl ecl)
  (let ((v (gensym "VECTOR")) (n (gensym "N")))
    `(let* ((,v ,vector) (,n (length ,v)))
       (cffi:with-foreign-object (,pointer ,element-type (max 1 ,n))
         ,@(unless (eq direction :in)
             `((dotimes (i ,n) (setf (cffi:mem-aref ,pointer ,element-type i) (aref ,v i)))))
         (multiple-value-prog1 (progn ,@body)
           ,@(unless (eq direction :out)
               `((dotimes (i ,n) (setf (aref ,v i) (cffi:mem-aref ,pointer ,element-type i))))))))))
