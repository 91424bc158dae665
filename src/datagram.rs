//! UDP: connected and unconnected datagram sockets, send and receive.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use socket2::{Protocol, SockAddr, Type};

use crate::address::{resolve, resolve_local};
use crate::error::{Error, Result};
use crate::socket::{domain_of, local_for, set_receive_timeout, ConnectOptions, Kind, Socket, Wait};

/// The largest datagram usocket sends: 65,535 less the IPv4 and UDP headers.
pub(crate) const MAX_DATAGRAM: usize = crate::constants::USOCKET_MAX_DATAGRAM_PACKET_SIZE;

fn new_udp(ip: &IpAddr) -> Result<socket2::Socket> {
    socket2::Socket::new(domain_of(ip), Type::DGRAM, Some(Protocol::UDP)).map_err(|e| Error::from_io(e, "socket"))
}

/// An unconnected datagram socket bound to `host`:`port` (NULL, "" and
/// "0.0.0.0": the IPv4 wildcard), with SO_REUSEADDR when asked.
pub(crate) fn bound(host: Option<&str>, port: u16, reuse_address: bool) -> Result<Arc<Socket>> {
    let ip = resolve_local(host)?[0];
    let sock = new_udp(&ip)?;
    if reuse_address {
        sock.set_reuse_address(true).map_err(|e| Error::from_io(e, "setting SO_REUSEADDR"))?;
    }
    let local = SocketAddr::new(ip, port);
    sock.bind(&SockAddr::from(local)).map_err(|e| Error::from_io(e, &format!("binding {local}")))?;
    Ok(Socket::new(sock, Kind::Datagram, false))
}

/// A datagram socket: connected to `host`:`port` when `host` is given,
/// otherwise unconnected and bound to the local host and port.
pub fn connect(host: Option<&str>, port: u16, opts: &ConnectOptions) -> Result<Arc<Socket>> {
    let socket = match host {
        None => bound(opts.local_host.as_deref(), opts.local_port, false)?,
        Some(host) => {
            let mut last = None;
            let mut found = None;
            for ip in resolve(host)? {
                let attempt = (|| {
                    let sock = new_udp(&ip)?;
                    if let Some(local) = local_for(&ip, opts.local_host.as_deref(), opts.local_port)? {
                        sock.bind(&SockAddr::from(local))
                            .map_err(|e| Error::from_io(e, &format!("binding {local}")))?;
                    }
                    let remote = SocketAddr::new(ip, port);
                    sock.connect(&SockAddr::from(remote))
                        .map_err(|e| Error::from_io(e, &format!("connecting to {remote}")))?;
                    Ok::<_, Error>(sock)
                })();
                match attempt {
                    Ok(sock) => {
                        found = Some(sock);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match found {
                Some(sock) => Socket::new(sock, Kind::Datagram, true),
                None => return Err(last.unwrap_or_else(|| Error::invalid_argument("no address"))),
            }
        }
    };
    if opts.timeout_ms > 0 {
        set_receive_timeout(&socket, opts.timeout_ms)?;
    }
    Ok(socket)
}

/// The destination for a send: the first address of `host` in the socket's
/// family (learnt once per socket), or the first address at all.
fn destination(s: &Socket, host: &str, port: u16) -> Result<SockAddr> {
    let ips = resolve(host)?;
    let ip = if ips.len() == 1 {
        ips[0]
    } else {
        let v4 = *s
            .is_ipv4
            .get_or_init(|| s.inner.local_addr().ok().and_then(|a| a.as_socket()).map_or(true, |a| a.is_ipv4()));
        ips.iter().find(|ip| ip.is_ipv4() == v4).copied().unwrap_or(ips[0])
    };
    Ok(SockAddr::from(SocketAddr::new(ip, port)))
}

/// Sends one datagram, to `host`:`port` or, when `host` is None, to the peer.
pub fn send(s: &Socket, buf: &[u8], host: Option<&str>, port: u16) -> Result<usize> {
    s.expect_kind(Kind::Datagram, "send")?;
    if buf.len() > MAX_DATAGRAM {
        return Err(Error::invalid_argument(format!(
            "a datagram of {} bytes is larger than {MAX_DATAGRAM}",
            buf.len()
        )));
    }
    match host {
        None => {
            if !s.connected {
                return Err(Error::invalid_argument("send on an unconnected datagram socket needs a host and port"));
            }
            send_connected(s, buf)
        }
        Some(host) => send_to_sockaddr(s, buf, &destination(s, host, port)?, "send"),
    }
}

/// Sends one datagram to the connected peer (UDP or Unix-domain).
pub(crate) fn send_connected(s: &Socket, buf: &[u8]) -> Result<usize> {
    let fd = s.fd();
    // SAFETY: `buf` is valid for its length for the call.
    let n = s.blocking_out("send", |flags| unsafe {
        libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), flags | libc::MSG_NOSIGNAL)
    })?;
    Ok(n as usize)
}

/// Sends one datagram to `to` (a server's reply to a sender it received from).
pub fn send_to(s: &Socket, buf: &[u8], to: &SocketAddr) -> Result<usize> {
    send_to_sockaddr(s, buf, &SockAddr::from(*to), "send")
}

/// Sends one datagram to `to` (an IP or a Unix-domain address); `what`
/// names the call in errors.
pub(crate) fn send_to_sockaddr(s: &Socket, buf: &[u8], to: &SockAddr, what: &str) -> Result<usize> {
    let fd = s.fd();
    let n = s.blocking_out(what, |flags| {
        // SAFETY: `buf` and `to` are valid for the call's duration.
        unsafe {
            libc::sendto(
                fd,
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                flags | libc::MSG_NOSIGNAL,
                to.as_ptr(),
                to.len(),
            )
        }
    })?;
    Ok(n as usize)
}

/// Receives one datagram into `buf` (cut to its length), with the sender.
/// The sender's address is asked of the kernel only when `want_from`.
pub fn receive(s: &Socket, buf: &mut [u8], want_from: bool) -> Result<(usize, Option<SocketAddr>)> {
    receive_waiting(s, buf, want_from, Wait::SocketTimeout)
}

/// `receive`, waiting as `wait` says.
pub fn receive_waiting(s: &Socket, buf: &mut [u8], want_from: bool, wait: Wait) -> Result<(usize, Option<SocketAddr>)> {
    let (n, from) = receive_raw(s, buf, want_from, wait)?;
    Ok((n, from.and_then(|a| a.as_socket())))
}

/// Receives one datagram (UDP or Unix-domain), waiting as `wait` says, with
/// the sender's address as the kernel wrote it when `want_from`.
pub(crate) fn receive_raw(s: &Socket, buf: &mut [u8], want_from: bool, wait: Wait) -> Result<(usize, Option<SockAddr>)> {
    s.expect_kind(Kind::Datagram, "receive")?;
    let fd = s.fd();
    let mut storage = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len: libc::socklen_t = 0;
    let ptr = buf.as_mut_ptr();
    let cap = buf.len();
    let n = s.receiving("receive", wait, |flags| {
        if want_from {
            len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `ptr`/`cap` describe the caller's buffer; `storage` has room for any address and `len` says so.
            unsafe {
                libc::recvfrom(
                    fd,
                    ptr as *mut libc::c_void,
                    cap,
                    flags,
                    storage.as_mut_ptr() as *mut libc::sockaddr,
                    &mut len,
                )
            }
        } else {
            // SAFETY: `ptr`/`cap` describe the caller's buffer.
            unsafe { libc::recv(fd, ptr as *mut libc::c_void, cap, flags) }
        }
    })?;
    // SAFETY: zeroed storage is a valid sockaddr_storage, written or not by the kernel.
    let storage = unsafe { storage.assume_init() };
    if s.is_closed() {
        return Err(Error::closed_during_call());
    }
    // SAFETY: the kernel wrote `len` bytes of address into `storage` (none
    // when `len` is 0).
    let from = if want_from { Some(unsafe { SockAddr::new(storage, len) }) } else { None };
    Ok((n as usize, from))
}
