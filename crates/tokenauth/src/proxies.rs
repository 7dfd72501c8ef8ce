//! The client's address behind trusted reverse proxies (`X-Forwarded-For`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::request::Parts;

use crate::layer::peer_ip;

/// The reverse proxies whose `X-Forwarded-For` is believed, as a list of networks
/// (`10.0.0.0/8,::1`; a bare address is a network of one).
///
/// [`client_ip`](Self::client_ip) reads the client's address: the peer's, unless the
/// peer is a trusted proxy; then the right-most `X-Forwarded-For` entry that is not a
/// trusted proxy (each proxy appends the address it saw, so entries left of the first
/// untrusted one were written by the client and prove nothing). With no proxies
/// configured (the default), `X-Forwarded-For` is never read.
///
/// ```
/// use tokenauth::{TokenAuthLayer, TrustedProxies};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().unwrap();
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let layer = TokenAuthLayer::new(auth).with_client_ip(move |parts| proxies.client_ip(parts));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        let (network, ip, bits) = match (self.address, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(ip)) => (u128::from(n.to_bits()), u128::from(ip.to_bits()), 32),
            (IpAddr::V6(n), IpAddr::V6(ip)) => (n.to_bits(), ip.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        // A prefix of 0 matches everything (a shift by the full width would overflow).
        shift >= bits || (network >> shift) == (ip >> shift)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl TrustedProxies {
    /// No trusted proxies: the peer's address is the client's.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client's address in `parts`, read as the type's docs say; `None` if the peer
    /// is unknown (see [`peer_ip`]).
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let mut client = peer_ip(parts)?;
        if !self.contains(client) {
            return Some(client);
        }
        // Every header line, in order, and every entry of each: right to left. A line
        // that is not text stands for garbage where it is, so the walk stops there
        // rather than skipping to lines a client wrote before it.
        let entries: Vec<Option<&str>> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(Some).collect::<Vec<_>>(),
                Err(_) => vec![None],
            })
            .collect();
        for entry in entries.iter().rev() {
            let Some(Ok(hop)) = entry.map(|entry| entry.trim().parse::<IpAddr>()) else {
                // Garbage: the trusted hop that passed it on is the last one known.
                break;
            };
            client = hop.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }
}

/// A trusted-proxy list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid trusted proxies {0:?}: expected a comma-separated list of addresses or networks (10.0.0.0/8, ::1)"
)]
pub struct InvalidProxies(String);

impl FromStr for TrustedProxies {
    type Err = InvalidProxies;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidProxies(s.to_owned());
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (address, prefix) = match item.split_once('/') {
                    Some((address, prefix)) => (address, Some(prefix)),
                    None => (item, None),
                };
                let address = address.parse::<IpAddr>().map_err(|_| invalid())?.to_canonical();
                let max = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    None => max,
                    Some(prefix) => prefix
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(invalid)?,
                };
                Ok(Network { address, prefix })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, network) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            network.fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn parts(peer: &str, forwarded: &[&str]) -> Parts {
        let mut request = http::Request::builder();
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts.extensions.insert(peer.parse::<SocketAddr>().unwrap());
        parts
    }

    fn client(proxies: &str, peer: &str, forwarded: &[&str]) -> String {
        let proxies: TrustedProxies = proxies.parse().unwrap();
        proxies.client_ip(&parts(peer, forwarded)).unwrap().to_string()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        // No proxies: the header is ignored.
        assert_eq!(client("", "192.0.2.1:5", &["203.0.113.9"]), "192.0.2.1");
        // An untrusted peer: ignored.
        assert_eq!(client("10.0.0.0/8", "192.0.2.1:5", &["203.0.113.9"]), "192.0.2.1");
        // A trusted peer: the right-most entry that is not a proxy.
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1:5", &["6.6.6.6, 203.0.113.9, 10.1.2.3"]),
            "203.0.113.9"
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1:5", &["6.6.6.6", "203.0.113.9"]),
            "203.0.113.9"
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1:5", &["203.0.113.9, junk, 10.0.0.7"]),
            "10.0.0.7"
        );
        // A line that is not text is garbage too: the walk does not skip it to reach
        // a line the client wrote before.
        let parts = {
            let mut parts = parts("10.0.0.1:5", &["9.9.9.9"]);
            let binary = http::HeaderValue::from_bytes(b"\xff10.0.0.7").unwrap();
            parts.headers.append("x-forwarded-for", binary);
            parts
        };
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(proxies.client_ip(&parts).unwrap().to_string(), "10.0.0.1");
        // No header: the proxy itself.
        assert_eq!(client("::1, 10.0.0.0/8", "10.0.0.1:5", &[]), "10.0.0.1");
        assert_eq!(client("::/0", "[::1]:5", &["2001:db8::1"]), "2001:db8::1");
        assert_eq!(
            client("::ffff:10.0.0.1", "10.0.0.1:5", &["192.0.2.7"]),
            "192.0.2.7"
        );
    }

    #[test]
    fn the_list_syntax() {
        let proxies: TrustedProxies = " 10.0.0.0/8 , ::1 ,0.0.0.0/0".parse().unwrap();
        assert_eq!(proxies.to_string(), "10.0.0.0/8,::1/128,0.0.0.0/0");
        assert!(proxies.contains("1.2.3.4".parse().unwrap()));
        assert!(!proxies.contains("::2".parse().unwrap()));
        assert_eq!("".parse::<TrustedProxies>().unwrap(), TrustedProxies::none());
        for bad in ["10.0.0.0/33", "::1/129", "example.com", "10.0.0.0/"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }
}
