//! Socket options: usocket's eight, by number.

use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::socket::{set_receive_timeout, set_send_timeout, Kind, Socket};

use crate::constants::{
    USOCKET_OPT_BROADCAST as OPT_BROADCAST, USOCKET_OPT_KEEPALIVE as OPT_KEEPALIVE,
    USOCKET_OPT_RECEIVE_BUFFER as OPT_RECEIVE_BUFFER, USOCKET_OPT_RECEIVE_TIMEOUT as OPT_RECEIVE_TIMEOUT,
    USOCKET_OPT_REUSE_ADDRESS as OPT_REUSE_ADDRESS, USOCKET_OPT_SEND_BUFFER as OPT_SEND_BUFFER,
    USOCKET_OPT_SEND_TIMEOUT as OPT_SEND_TIMEOUT, USOCKET_OPT_TCP_NODELAY as OPT_TCP_NODELAY,
};

/// The longest timeout accepted: about 24.8 days, what poll(2) can wait.
pub(crate) const MAX_TIMEOUT_MS: i64 = crate::constants::USOCKET_MAX_TIMEOUT_MS;

fn os<T>(r: std::io::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| Error::from_io(e, what))
}

fn needs_tcp(s: &Socket, name: &str) -> Result<()> {
    if s.kind == Kind::Datagram {
        return Err(Error::wrong_kind(format!("{name} applies to stream sockets, not a datagram socket")));
    }
    if s.is_local() {
        return Err(Error::wrong_kind(format!("{name} applies to TCP sockets, not a Unix-domain socket")));
    }
    Ok(())
}

pub fn get(s: &Socket, option: i32) -> Result<i64> {
    let v = match option {
        OPT_RECEIVE_TIMEOUT => s.receive_timeout_ms.load(Ordering::Relaxed),
        OPT_SEND_TIMEOUT => s.send_timeout_ms.load(Ordering::Relaxed),
        OPT_TCP_NODELAY => {
            needs_tcp(s, "tcp-nodelay")?;
            os(s.inner.nodelay(), "getsockopt(TCP_NODELAY)")? as i64
        }
        OPT_REUSE_ADDRESS => os(s.inner.reuse_address(), "getsockopt(SO_REUSEADDR)")? as i64,
        OPT_KEEPALIVE => os(s.inner.keepalive(), "getsockopt(SO_KEEPALIVE)")? as i64,
        OPT_BROADCAST => os(s.inner.broadcast(), "getsockopt(SO_BROADCAST)")? as i64,
        OPT_RECEIVE_BUFFER => os(s.inner.recv_buffer_size(), "getsockopt(SO_RCVBUF)")? as i64,
        OPT_SEND_BUFFER => os(s.inner.send_buffer_size(), "getsockopt(SO_SNDBUF)")? as i64,
        other => return Err(Error::invalid_argument(format!("unknown option {other}"))),
    };
    Ok(v)
}

pub fn set(s: &Socket, option: i32, value: i64) -> Result<()> {
    let flag = value != 0;
    match option {
        OPT_RECEIVE_TIMEOUT | OPT_SEND_TIMEOUT => {
            if !(0..=MAX_TIMEOUT_MS).contains(&value) {
                return Err(Error::invalid_argument(format!("timeout {value} ms is outside 0..={MAX_TIMEOUT_MS}")));
            }
            if option == OPT_RECEIVE_TIMEOUT {
                set_receive_timeout(s, value)
            } else {
                set_send_timeout(s, value)
            }
        }
        OPT_TCP_NODELAY => {
            needs_tcp(s, "tcp-nodelay")?;
            os(s.inner.set_nodelay(flag), "setsockopt(TCP_NODELAY)")
        }
        OPT_REUSE_ADDRESS => os(s.inner.set_reuse_address(flag), "setsockopt(SO_REUSEADDR)"),
        OPT_KEEPALIVE => os(s.inner.set_keepalive(flag), "setsockopt(SO_KEEPALIVE)"),
        OPT_BROADCAST => os(s.inner.set_broadcast(flag), "setsockopt(SO_BROADCAST)"),
        OPT_RECEIVE_BUFFER | OPT_SEND_BUFFER => {
            if !(1..=i32::MAX as i64).contains(&value) {
                return Err(Error::invalid_argument(format!("buffer size {value} is outside 1..={}", i32::MAX)));
            }
            if option == OPT_RECEIVE_BUFFER {
                os(s.inner.set_recv_buffer_size(value as usize), "setsockopt(SO_RCVBUF)")
            } else {
                os(s.inner.set_send_buffer_size(value as usize), "setsockopt(SO_SNDBUF)")
            }
        }
        other => Err(Error::invalid_argument(format!("unknown option {other}"))),
    }
}
