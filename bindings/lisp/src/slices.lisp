;;;; Blocking calls in bounded slices.
;;;;
;;;; SBCL's interrupt-thread, with-timeout, terminate-thread and C-c unwind
;;;; straight out of a foreign call, skipping the core's destructors (a Rust
;;;; lock guard or Arc would leak). So every call into the core runs inside
;;;; SB-SYS:WITHOUT-INTERRUPTS, where an interrupt is only recorded; it runs
;;;; when the WITHOUT-INTERRUPTS form ends. Calls that may block for long are
;;;; made in slices of at most USOCKET_INTERRUPT_SLICE_MS with the core's
;;;; calls bounded by their own timeout (usocket_read_for, _accept_for,
;;;; _receive_for, _receive_local, _write_some, _server_next*, waits); the
;;;; caller's timeout is counted here, and between slices interrupts run.
;;;; No socket's SO_RCVTIMEO or SO_SNDTIMEO is ever set but by its user.
;;;; When data is already there, a read or wait is still one foreign call.

(in-package #:usocket-cffi)

(defconstant +slice-ms+ +interrupt-slice-ms+
  "The longest a foreign call may block with interrupts deferred, in ms (the header's).")

;; WITHOUT-INTERRUPTS: see impl/interrupts.lisp.

(declaim (inline deadline-after))
(defun deadline-after (seconds)
  "The internal real time SECONDS from now, or NIL for no deadline."
  (when seconds
    (+ (get-internal-real-time)
       (round (* seconds internal-time-units-per-second)))))

(defun ms-until (deadline)
  "Milliseconds left until DEADLINE (0 when past); -1 when DEADLINE is NIL."
  (if deadline
      (max 0 (ceiling (* 1000 (- deadline (get-internal-real-time)))
                      internal-time-units-per-second))
      -1))

(defun slice-ms (deadline)
  "How long the next slice may wait: at most +SLICE-MS+, never past DEADLINE."
  (if deadline
      (min +slice-ms+ (ms-until deadline))
      +slice-ms+))

(defun seconds->ms (seconds)
  "A timeout in (real) seconds as a positive number of ms, or 0 for none."
  (if (and seconds (plusp seconds))
      (max 1 (ceiling (* seconds 1000)))
      0))

(defun receive-timeout-option-ms (timeout)
  "The core's receive timeout option (SO_RCVTIMEO, ms) for a user's TIMEOUT
(seconds or NIL: 0, none)."
  (seconds->ms timeout))
