;;;; usocket-cffi: usocket's API for SBCL over the usocket-core C library.
;;;;
;;;; (asdf:load-system "usocket-cffi")         ; package USOCKET-CFFI
;;;; (asdf:load-system "usocket-cffi/compat")  ; ... which then also answers to USOCKET
;;;; (asdf:test-system "usocket-cffi")         ; the loopback test suite
;;;;
;;;; The shared library is found through the environment variable
;;;; USOCKET_LIBRARY (a full path), then the repository's build output
;;;; (../../target/release/libusocket.so relative to this file), then the
;;;; system's library path (libusocket.so).

(defsystem "usocket-cffi"
  :description "usocket 0.8's API for SBCL, over the usocket-core C library (CFFI)"
  :version "0.1.0"
  :license "MIT"
  :depends-on ("cffi" "trivial-gray-streams" "bordeaux-threads" "babel"
               (:feature :ecl (:require "sb-bsd-sockets"))) ; native-stream-ecl.lisp
  :components ((:module "src"
                :serial t
                :components ((:file "package")
                             (:file "library")
                             (:file "constants")
                             (:module "impl"
                              :serial t
                              :components ((:file "foreign-calls")
                                           (:file "interrupts")
                                           (:file "finalizers")
                                           (:file "native-stream")))
                             (:file "conditions")
                             (:file "ffi")
                             (:file "slices")
                             (:file "hosts")
                             (:module "impl-data"
                              :pathname "impl"
                              :serial t
                              :components ((:file "pinning")
                                           (:file "platform")
                                           (:file "gray")))
                             (:file "classes")
                             (:file "encoding")
                             (:file "stream")
                             (:file "fd-stream" :if-feature :sbcl)
                             (:file "native-stream-ecl" :pathname "impl/native-stream-ecl" :if-feature :ecl)
                             (:file "native-stream-clisp" :pathname "impl/native-stream-clisp" :if-feature :clisp)
                             (:file "sockets")
                             (:file "local")
                             (:file "datagram")
                             (:file "wait")
                             (:file "options")
                             (:file "server")
                             (:file "native-socket-abcl" :pathname "impl/native-socket-abcl"
                              :if-feature :abcl))))
  :in-order-to ((test-op (test-op "usocket-cffi/tests"))))

(defsystem "usocket-cffi/compat"
  :description "Makes usocket-cffi answer to the package name USOCKET (and the ASDF
systems usocket and usocket-server), for programs written for usocket that cannot be edited."
  :depends-on ("usocket-cffi")
  :components ((:module "src" :components ((:file "compat")))))

(defsystem "usocket-cffi/tests"
  :description "Loopback tests of usocket-cffi."
  :depends-on ("usocket-cffi")
  :components ((:module "tests"
                :serial t
                :components ((:file "portability")
                             (:file "framework")
                             (:file "test-basics")
                             (:file "test-streams")
                             (:file "test-fd-streams" :if-feature :sbcl)
                             (:file "test-native-stream-ecl" :if-feature :ecl)
                             (:file "test-native-stream-clisp" :if-feature :clisp)
                             (:file "test-datagram")
                             (:file "test-wait")
                             (:file "test-conditions")
                             (:file "test-server")
                             (:file "test-local")
                             (:file "test-interrupts")
                             (:file "test-sigint" :if-feature (:or :sbcl :ecl))
                             (:file "test-sigint-clisp" :if-feature :clisp)
                             (:file "test-native-socket-abcl" :if-feature :abcl)
                             (:file "test-arguments")
                             (:file "test-timeouts")
                             (:file "test-header")
                             (:file "test-compat")
                             (:file "test-api"))))
  :perform (test-op (o c)
             (declare (ignore o c))
             (unless (uiop:symbol-call "USOCKET-CFFI-TESTS" "RUN-ALL")
               (error "usocket-cffi tests failed"))))
