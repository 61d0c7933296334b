//! Which PBX an audit may touch. An audit sends login attempts and test calls: pointed at someone else's PBX it
//! is an attack. Only a PBX named in the guard's configuration (`[pbx] address`) or one the user explicitly
//! declares their own (`--i-own-this`) is accepted; everything else is refused before a packet leaves.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use serde::Serialize;

use crate::AuditError;

/// SIP transport of an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn parse(s: &str) -> Option<Transport> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
    /// As written in a Via header.
    pub fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
    pub fn default_port(self) -> u16 {
        if self == Transport::Tls { 5061 } else { 5060 }
    }
}

/// A PBX to audit: the name the user gave and the address it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// HOST or HOST:PORT as given (used in Request-URIs and as the TLS server name).
    pub host: String,
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl Target {
    /// Resolves `HOST[:PORT]` (an IPv6 address in brackets), the port defaulting to the transport's.
    pub fn resolve(spec: &str, transport: Transport) -> Result<Target, AuditError> {
        let spec = spec.trim();
        let bad = || AuditError::BadTarget(spec.to_owned());
        let (host, port) = split_host_port(spec).ok_or_else(bad)?;
        let port = port.unwrap_or(transport.default_port());
        let addr = (host.trim_matches(|c| c == '[' || c == ']'), port)
            .to_socket_addrs()
            .map_err(|_| bad())?
            .next()
            .ok_or_else(bad)?;
        Ok(Target {
            host: host.to_owned(),
            addr,
            transport,
        })
    }

    /// The same PBX on another port and transport.
    pub fn with(&self, port: u16, transport: Transport) -> Target {
        Target {
            host: self.host.clone(),
            addr: SocketAddr::new(self.addr.ip(), port),
            transport,
        }
    }

    /// `host:port` for a SIP URI.
    pub fn hostport(&self) -> String {
        match self.addr {
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            SocketAddr::V4(a) => a.to_string(),
        }
    }
}

fn split_host_port(spec: &str) -> Option<(&str, Option<u16>)> {
    if spec.is_empty() {
        return None;
    }
    if let Some(rest) = spec.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &spec[..end + 2];
        let tail = &rest[end + 1..];
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if tail.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match spec.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Some((spec, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((spec, None)),
    }
}

/// The user's permission to audit: the PBX addresses of their guard configuration, or an explicit
/// `--i-own-this`.
#[derive(Debug, Clone, Default)]
pub struct Permission {
    pub configured: Vec<IpAddr>,
    pub i_own_this: bool,
}

impl Permission {
    /// Refuses a target that is neither a configured PBX nor confirmed as the user's own.
    pub fn check(&self, target: &Target) -> Result<(), AuditError> {
        if self.i_own_this || self.configured.contains(&target.addr.ip()) {
            return Ok(());
        }
        Err(AuditError::NotYours {
            target: target.addr,
            configured: self.configured.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let t = Target::resolve("127.0.0.5:5070", Transport::Udp).unwrap();
        assert_eq!(t.addr, "127.0.0.5:5070".parse().unwrap());
        assert_eq!(t.host, "127.0.0.5");
        let t = Target::resolve("127.0.0.5", Transport::Tls).unwrap();
        assert_eq!(t.addr.port(), 5061);
        let t = Target::resolve("[::1]:5080", Transport::Tcp).unwrap();
        assert_eq!(t.hostport(), "[::1]:5080");
        assert!(Target::resolve("", Transport::Udp).is_err());
        assert!(Target::resolve("127.0.0.1:x", Transport::Udp).is_err());
    }

    #[test]
    fn a_public_address_is_refused_unless_configured_or_owned() {
        let t = Target::resolve("203.0.113.7:5060", Transport::Udp).unwrap();
        assert!(matches!(
            Permission::default().check(&t),
            Err(AuditError::NotYours { .. })
        ));
        let configured = Permission {
            configured: vec!["203.0.113.7".parse().unwrap()],
            i_own_this: false,
        };
        assert!(configured.check(&t).is_ok());
        let owned = Permission {
            configured: vec![],
            i_own_this: true,
        };
        assert!(owned.check(&t).is_ok());
    }
}
