//! Status codes, errno mapping and the per-thread last error.
//!
//! Every code names one usocket condition class. Codes are fixed forever:
//! a code is never renumbered and never reused for another meaning.

use std::cell::RefCell;
use std::ffi::CString;
use std::fmt;
use std::io;

/// Success.
pub const USOCKET_OK: i32 = 0;
/// A NULL pointer, a non-UTF-8 string, a length that does not fit, an unknown enum value ("invalid-argument-error"; also EINVAL).
pub const USOCKET_ERR_INVALID_ARGUMENT: i32 = -1;
/// A handle that is not, or no longer, a live object ("invalid-handle-error").
pub const USOCKET_ERR_INVALID_HANDLE: i32 = -2;
/// The handle is of the wrong kind for the call: a stream call on a datagram socket and so on ("wrong-kind-error").
pub const USOCKET_ERR_WRONG_KIND: i32 = -3;
/// A bug inside the library, such as a caught panic ("internal-error").
pub const USOCKET_ERR_INTERNAL: i32 = -4;
/// An OS error with no more precise class; `usocket_last_os_error` tells which ("unknown-error").
pub const USOCKET_ERR_UNKNOWN: i32 = -5;
/// EADDRINUSE ("address-in-use-error").
pub const USOCKET_ERR_ADDRESS_IN_USE: i32 = -6;
/// EADDRNOTAVAIL ("address-not-available-error").
pub const USOCKET_ERR_ADDRESS_NOT_AVAILABLE: i32 = -7;
/// EBADF ("bad-file-descriptor-error").
pub const USOCKET_ERR_BAD_FILE_DESCRIPTOR: i32 = -8;
/// ECONNREFUSED ("connection-refused-error").
pub const USOCKET_ERR_CONNECTION_REFUSED: i32 = -9;
/// ECONNABORTED ("connection-aborted-error").
pub const USOCKET_ERR_CONNECTION_ABORTED: i32 = -10;
/// ECONNRESET ("connection-reset-error").
pub const USOCKET_ERR_CONNECTION_RESET: i32 = -11;
/// ENOBUFS, ENOMEM ("no-buffers-error").
pub const USOCKET_ERR_NO_BUFFERS: i32 = -12;
/// EOPNOTSUPP ("operation-not-supported-error").
pub const USOCKET_ERR_OPERATION_NOT_SUPPORTED: i32 = -13;
/// EPERM, EACCES ("operation-not-permitted-error").
pub const USOCKET_ERR_OPERATION_NOT_PERMITTED: i32 = -14;
/// EPROTONOSUPPORT ("protocol-not-supported-error").
pub const USOCKET_ERR_PROTOCOL_NOT_SUPPORTED: i32 = -15;
/// ESOCKTNOSUPPORT ("socket-type-not-supported-error").
pub const USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED: i32 = -16;
/// ENETUNREACH ("network-unreachable-error").
pub const USOCKET_ERR_NETWORK_UNREACHABLE: i32 = -17;
/// ENETDOWN ("network-down-error").
pub const USOCKET_ERR_NETWORK_DOWN: i32 = -18;
/// ENETRESET ("network-reset-error").
pub const USOCKET_ERR_NETWORK_RESET: i32 = -19;
/// EHOSTDOWN ("host-down-error").
pub const USOCKET_ERR_HOST_DOWN: i32 = -20;
/// EHOSTUNREACH ("host-unreachable-error").
pub const USOCKET_ERR_HOST_UNREACHABLE: i32 = -21;
/// ESHUTDOWN, EPIPE: writing after the connection was shut down or the peer went away ("shutdown-error").
pub const USOCKET_ERR_SHUTDOWN: i32 = -22;
/// ETIMEDOUT, or a read, write, accept, receive or connect that ran out of time ("timeout-error").
pub const USOCKET_ERR_TIMEOUT: i32 = -23;
/// ENOTSOCK: the descriptor is not a socket ("invalid-socket-error").
pub const USOCKET_ERR_INVALID_SOCKET: i32 = -24;
/// The name does not exist: EAI_NONAME, EAI_NODATA ("ns-host-not-found-error").
pub const USOCKET_ERR_NS_HOST_NOT_FOUND: i32 = -25;
/// The name service failed for now; trying again may work: EAI_AGAIN ("ns-try-again-condition").
pub const USOCKET_ERR_NS_TRY_AGAIN: i32 = -26;
/// The name service failed for good: EAI_FAIL ("ns-no-recovery-error").
pub const USOCKET_ERR_NS_NO_RECOVERY: i32 = -27;
/// Any other name-service failure ("ns-unknown-error").
pub const USOCKET_ERR_NS_UNKNOWN: i32 = -28;
/// A stream that is not, or no longer, usable ("invalid-socket-stream-error").
pub const USOCKET_ERR_INVALID_SOCKET_STREAM: i32 = -29;


/// usocket's condition name for a code, as a NUL-terminated static string.
pub fn error_name_cstr(code: i32) -> &'static [u8] {
    match code {
        USOCKET_OK => b"ok\0",
        USOCKET_ERR_INVALID_ARGUMENT => b"invalid-argument-error\0",
        USOCKET_ERR_INVALID_HANDLE => b"invalid-handle-error\0",
        USOCKET_ERR_WRONG_KIND => b"wrong-kind-error\0",
        USOCKET_ERR_INTERNAL => b"internal-error\0",
        USOCKET_ERR_UNKNOWN => b"unknown-error\0",
        USOCKET_ERR_ADDRESS_IN_USE => b"address-in-use-error\0",
        USOCKET_ERR_ADDRESS_NOT_AVAILABLE => b"address-not-available-error\0",
        USOCKET_ERR_BAD_FILE_DESCRIPTOR => b"bad-file-descriptor-error\0",
        USOCKET_ERR_CONNECTION_REFUSED => b"connection-refused-error\0",
        USOCKET_ERR_CONNECTION_ABORTED => b"connection-aborted-error\0",
        USOCKET_ERR_CONNECTION_RESET => b"connection-reset-error\0",
        USOCKET_ERR_NO_BUFFERS => b"no-buffers-error\0",
        USOCKET_ERR_OPERATION_NOT_SUPPORTED => b"operation-not-supported-error\0",
        USOCKET_ERR_OPERATION_NOT_PERMITTED => b"operation-not-permitted-error\0",
        USOCKET_ERR_PROTOCOL_NOT_SUPPORTED => b"protocol-not-supported-error\0",
        USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED => b"socket-type-not-supported-error\0",
        USOCKET_ERR_NETWORK_UNREACHABLE => b"network-unreachable-error\0",
        USOCKET_ERR_NETWORK_DOWN => b"network-down-error\0",
        USOCKET_ERR_NETWORK_RESET => b"network-reset-error\0",
        USOCKET_ERR_HOST_DOWN => b"host-down-error\0",
        USOCKET_ERR_HOST_UNREACHABLE => b"host-unreachable-error\0",
        USOCKET_ERR_SHUTDOWN => b"shutdown-error\0",
        USOCKET_ERR_TIMEOUT => b"timeout-error\0",
        USOCKET_ERR_INVALID_SOCKET => b"invalid-socket-error\0",
        USOCKET_ERR_NS_HOST_NOT_FOUND => b"ns-host-not-found-error\0",
        USOCKET_ERR_NS_TRY_AGAIN => b"ns-try-again-condition\0",
        USOCKET_ERR_NS_NO_RECOVERY => b"ns-no-recovery-error\0",
        USOCKET_ERR_NS_UNKNOWN => b"ns-unknown-error\0",
        USOCKET_ERR_INVALID_SOCKET_STREAM => b"invalid-socket-stream-error\0",
        _ => b"unknown-error\0",
    }
}

/// usocket's condition name for a code, without the NUL.
pub fn error_name(code: i32) -> &'static str {
    let bytes = error_name_cstr(code);
    std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap_or("unknown-error")
}

/// The code for an errno value, as usocket's `+unix-errno-error-map+` maps it.
pub fn code_for_errno(errno: i32) -> i32 {
    match errno {
        libc::EADDRINUSE => USOCKET_ERR_ADDRESS_IN_USE,
        libc::EADDRNOTAVAIL => USOCKET_ERR_ADDRESS_NOT_AVAILABLE,
        libc::EBADF => USOCKET_ERR_BAD_FILE_DESCRIPTOR,
        libc::ECONNREFUSED => USOCKET_ERR_CONNECTION_REFUSED,
        libc::ECONNRESET => USOCKET_ERR_CONNECTION_RESET,
        libc::ECONNABORTED => USOCKET_ERR_CONNECTION_ABORTED,
        libc::EINVAL => USOCKET_ERR_INVALID_ARGUMENT,
        libc::ENOBUFS | libc::ENOMEM => USOCKET_ERR_NO_BUFFERS,
        libc::EOPNOTSUPP => USOCKET_ERR_OPERATION_NOT_SUPPORTED,
        libc::EPERM | libc::EACCES => USOCKET_ERR_OPERATION_NOT_PERMITTED,
        libc::EPROTONOSUPPORT => USOCKET_ERR_PROTOCOL_NOT_SUPPORTED,
        libc::ESOCKTNOSUPPORT => USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED,
        libc::ENETUNREACH => USOCKET_ERR_NETWORK_UNREACHABLE,
        libc::ENETDOWN => USOCKET_ERR_NETWORK_DOWN,
        libc::ENETRESET => USOCKET_ERR_NETWORK_RESET,
        libc::ESHUTDOWN | libc::EPIPE => USOCKET_ERR_SHUTDOWN,
        libc::ETIMEDOUT | libc::EAGAIN => USOCKET_ERR_TIMEOUT,
        libc::EHOSTDOWN => USOCKET_ERR_HOST_DOWN,
        libc::EHOSTUNREACH => USOCKET_ERR_HOST_UNREACHABLE,
        libc::ENOTSOCK => USOCKET_ERR_INVALID_SOCKET,
        _ => USOCKET_ERR_UNKNOWN,
    }
}

/// A failure: the code, the errno behind it (0 if none) and a message.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: i32,
    pub os_error: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error { code, os_error: 0, message: message.into() }
    }

    /// An error from an errno value, with `what` saying which call failed.
    pub fn from_errno(errno: i32, what: &str) -> Error {
        let text = io::Error::from_raw_os_error(errno);
        Error { code: code_for_errno(errno), os_error: errno, message: format!("{what}: {text}") }
    }

    /// An error from a failed `std::io` call (socket2's), with `what` saying which.
    pub fn from_io(e: io::Error, what: &str) -> Error {
        match e.raw_os_error() {
            Some(errno) => Error::from_errno(errno, what),
            None => Error::new(USOCKET_ERR_UNKNOWN, format!("{what}: {e}")),
        }
    }

    /// An error from the calling thread's errno.
    pub fn last_os(what: &str) -> Error {
        Error::from_errno(errno(), what)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(USOCKET_ERR_INVALID_ARGUMENT, message)
    }

    pub fn invalid_handle(handle: u64) -> Error {
        Error::new(USOCKET_ERR_INVALID_HANDLE, format!("handle {handle} is not open"))
    }

    pub fn closed_during_call() -> Error {
        Error::new(USOCKET_ERR_INVALID_HANDLE, "the socket was closed during the call")
    }

    pub fn wrong_kind(message: impl Into<String>) -> Error {
        Error::new(USOCKET_ERR_WRONG_KIND, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(USOCKET_ERR_INTERNAL, message)
    }

    pub fn timeout(what: &str) -> Error {
        Error { code: USOCKET_ERR_TIMEOUT, os_error: libc::ETIMEDOUT, message: format!("{what}: timed out") }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, error_name(self.code))
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::from_io(e, "socket")
    }
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

struct LastError {
    code: i32,
    os_error: i32,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        code: USOCKET_OK,
        os_error: 0,
        message: CString::default(),
    });
}

/// Records `e` as this thread's last error.
pub fn set_last_error(e: &Error) {
    let message = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut last) = cell.try_borrow_mut() {
            last.code = e.code;
            last.os_error = e.os_error;
            last.message = message;
        }
    });
}

/// This thread's last error code.
pub fn last_error_code() -> i32 {
    LAST_ERROR.try_with(|cell| cell.try_borrow().map(|l| l.code).unwrap_or(USOCKET_ERR_INTERNAL)).unwrap_or(USOCKET_ERR_INTERNAL)
}

/// This thread's last errno.
pub fn last_os_error() -> i32 {
    LAST_ERROR.try_with(|cell| cell.try_borrow().map(|l| l.os_error).unwrap_or(0)).unwrap_or(0)
}

/// This thread's last message; the pointer stays valid until this thread's next failing call.
pub fn last_error_message_ptr() -> *const libc::c_char {
    static EMPTY: &[u8] = b"\0";
    LAST_ERROR
        .try_with(|cell| cell.try_borrow().map(|l| l.message.as_ptr()).unwrap_or(EMPTY.as_ptr() as *const libc::c_char))
        .unwrap_or(EMPTY.as_ptr() as *const libc::c_char)
}

/// The message as a Rust string (for Rust callers and tests).
pub fn last_error_message() -> String {
    LAST_ERROR
        .try_with(|cell| cell.try_borrow().map(|l| l.message.to_string_lossy().into_owned()).unwrap_or_default())
        .unwrap_or_default()
}
