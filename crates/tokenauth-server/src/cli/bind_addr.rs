//! `--bind`, `--metrics-bind` and `healthcheck --bind`: an IP address or a host name,
//! and a port, the name resolved when the command starts.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::CliError;

/// Where to listen (or, for the health check, where to ask): `HOST:PORT`, the host an
/// IP address (`[...]` around IPv6) or a name such as `localhost`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddr {
    host: String,
    port: u16,
}

const EXPECTED: &str =
    "expected HOST:PORT (a port from 0 to 65535), such as 127.0.0.1:8000, [::]:8000 or localhost:8000";

impl FromStr for BindAddr {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        let (host, port) = s.rsplit_once(':').ok_or(EXPECTED)?;
        let port = port.parse().map_err(|_| EXPECTED)?;
        // A bare IPv6 address, or anything no resolver takes for a name.
        if host.is_empty() || host.contains(|c: char| c == ':' || c == '[' || c == ']' || c.is_whitespace()) {
            return Err(EXPECTED);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl From<SocketAddr> for BindAddr {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl BindAddr {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the host is the unspecified address (`0.0.0.0`, `::`): every interface.
    pub fn is_unspecified(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
    }

    /// The address: the host's own if it is an IP address; else, as Go's `net.Listen`
    /// does, the first IPv4 address the name resolves to, or the first address if it
    /// has none.
    pub async fn resolve(&self) -> Result<SocketAddr, CliError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok((ip, self.port).into());
        }
        let unresolved = |source| CliError::Resolve {
            name: self.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(unresolved)?
            .collect();
        addrs
            .iter()
            .find(|addr| addr.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| unresolved(io::Error::new(io::ErrorKind::NotFound, "it has no address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_parse_and_print_as_given() {
        for text in [
            "127.0.0.1:8000",
            "[::]:0",
            "localhost:8000",
            "tokenauth.internal:9090",
        ] {
            assert_eq!(text.parse::<BindAddr>().unwrap().to_string(), text);
        }
        assert!("0.0.0.0:80".parse::<BindAddr>().unwrap().is_unspecified());
        assert!(!"localhost:80".parse::<BindAddr>().unwrap().is_unspecified());
    }

    #[test]
    fn a_missing_or_bad_port_or_host_is_refused() {
        for text in [
            "localhost",
            "localhost:",
            "localhost:65536",
            ":8000",
            "::1:8000",
            "a b:80",
            "[::1]",
        ] {
            assert_eq!(text.parse::<BindAddr>(), Err(EXPECTED), "{text}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_ipv4_first() {
        let addr = "localhost:8000"
            .parse::<BindAddr>()
            .unwrap()
            .resolve()
            .await
            .unwrap();
        assert_eq!(addr.port(), 8000);
        assert!(addr.ip().is_loopback(), "{addr}");
        let error = CliError::Resolve {
            name: "nowhere.invalid:8000".to_owned(),
            source: io::Error::other("failed to lookup address information"),
        };
        assert_eq!(error.to_string(), "cannot resolve nowhere.invalid:8000");
    }
}
