//! Addresses: the C `usocket_address` struct, host strings, name resolution.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::constants::{USOCKET_FAMILY_IPV4, USOCKET_FAMILY_IPV6, USOCKET_FAMILY_LOCAL};
use crate::error::{code_for_errno, Error, Result};
use crate::error::{
    USOCKET_ERR_NS_HOST_NOT_FOUND, USOCKET_ERR_NS_NO_RECOVERY, USOCKET_ERR_NS_TRY_AGAIN, USOCKET_ERR_NS_UNKNOWN,
};

/// An IP address and port.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct usocket_address {
    /// `USOCKET_FAMILY_IPV4` (4) or `USOCKET_FAMILY_IPV6` (6); for a
    /// Unix-domain peer `USOCKET_FAMILY_LOCAL` (0), with zero octets and port.
    pub family: u8,
    /// Network order; IPv4 uses octets[0..4], the rest are zero.
    pub octets: [u8; 16],
    /// Host order.
    pub port: u16,
}

impl usocket_address {
    pub fn from_socket_addr(addr: &SocketAddr) -> usocket_address {
        let mut octets = [0u8; 16];
        match addr {
            SocketAddr::V4(a) => {
                octets[..4].copy_from_slice(&a.ip().octets());
                usocket_address { family: USOCKET_FAMILY_IPV4, octets, port: a.port() }
            }
            SocketAddr::V6(a) => {
                octets.copy_from_slice(&a.ip().octets());
                usocket_address { family: USOCKET_FAMILY_IPV6, octets, port: a.port() }
            }
        }
    }

    /// What a call that also serves IP sockets writes for a Unix-domain peer.
    pub const LOCAL: usocket_address = usocket_address { family: USOCKET_FAMILY_LOCAL, octets: [0; 16], port: 0 };

    pub fn to_socket_addr(&self) -> Result<SocketAddr> {
        match self.family {
            USOCKET_FAMILY_IPV4 => {
                let o = &self.octets;
                Ok(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(o[0], o[1], o[2], o[3]), self.port)))
            }
            USOCKET_FAMILY_IPV6 => Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(self.octets), self.port, 0, 0))),
            f => Err(Error::invalid_argument(format!("address family {f} is neither 4 nor 6"))),
        }
    }

    /// "127.0.0.1" or "::1", without the port.
    pub fn format_ip(&self) -> Result<String> {
        Ok(self.to_socket_addr()?.ip().to_string())
    }
}

/// A host given as a literal address, with or without IPv6 brackets.
pub fn parse_literal(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().ok()
}

/// glibc's EAI_ADDRFAMILY (the host has no address of the asked family).
const EAI_ADDRFAMILY: libc::c_int = -9;

/// The code for a `getaddrinfo` failure.
fn code_for_gai(rc: libc::c_int, errno: i32) -> (i32, i32) {
    match rc {
        libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY => (USOCKET_ERR_NS_HOST_NOT_FOUND, 0),
        libc::EAI_AGAIN => (USOCKET_ERR_NS_TRY_AGAIN, 0),
        libc::EAI_FAIL => (USOCKET_ERR_NS_NO_RECOVERY, 0),
        libc::EAI_SYSTEM if errno != 0 => (code_for_errno(errno), errno),
        _ => (USOCKET_ERR_NS_UNKNOWN, 0),
    }
}

/// Every address `host` resolves to, in the resolver's order, without repeats.
/// Literals are returned as they are, with no look-up.
pub fn resolve(host: &str) -> Result<Vec<IpAddr>> {
    if host.is_empty() {
        return Err(Error::invalid_argument("the host is an empty string"));
    }
    if let Some(ip) = parse_literal(host) {
        return Ok(vec![ip]);
    }
    let c_host = CString::new(host).map_err(|_| Error::invalid_argument("the host contains a NUL byte"))?;
    // SAFETY: addrinfo is plain data; all-zero is its documented empty value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: the host is NUL-terminated, the hints initialised, `list` an out-pointer.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if rc != 0 {
        let errno = crate::error::errno();
        let (code, os_error) = code_for_gai(rc, errno);
        // SAFETY: gai_strerror returns a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy().into_owned();
        return Err(Error { code, os_error, message: format!("resolving {host:?}: {text}") });
    }
    let mut out: Vec<IpAddr> = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-NULL node of the list getaddrinfo returned, alive until freeaddrinfo.
        let info = unsafe { &*cursor };
        // SAFETY: ai_addr points to ai_addrlen bytes of address (getaddrinfo's contract).
        if let Some(ip) = unsafe { sockaddr_ip(info.ai_addr, info.ai_addrlen) } {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        cursor = info.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    if out.is_empty() {
        return Err(Error::new(USOCKET_ERR_NS_HOST_NOT_FOUND, format!("{host:?} has no IP address")));
    }
    Ok(out)
}

/// The IP address of a socket address.
///
/// # Safety
/// `sa` is NULL or points to `len` readable bytes of socket address.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-NULL and readable (the caller); every address starts with its family.
    match unsafe { (*sa).sa_family } as libc::c_int {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: an AF_INET address of at least sockaddr_in's size.
            let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: an AF_INET6 address of at least sockaddr_in6's size.
            let sin6 = unsafe { &*(sa as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The addresses to bind for a local host: NULL, "" and "0.0.0.0" are the
/// IPv4 wildcard; "::" the IPv6 wildcard; anything else is resolved.
pub fn resolve_local(host: Option<&str>) -> Result<Vec<IpAddr>> {
    match host {
        None | Some("") | Some("0.0.0.0") => Ok(vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]),
        Some(h) => resolve(h),
    }
}

/// usocket 0.8.9's get-host-by-name: the first IPv4 address of `host`, else
/// its first IPv6 address.
pub fn host_by_name(host: &str) -> Result<IpAddr> {
    let ips = resolve(host)?;
    Ok(ips.iter().copied().find(IpAddr::is_ipv4).unwrap_or(ips[0]))
}
