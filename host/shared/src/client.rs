//! Who a request came from and which URL it used, believing `X-Forwarded-*`
//! headers only from trusted proxies: anyone else can forge them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The default: a proxy on this machine (Caddy in the shipped set-ups).
pub const DEFAULT_TRUSTED_PROXIES: &str = "127.0.0.0/8,::1/128";

/// Peers whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`
/// are believed (`PICLOUD_TRUSTED_PROXIES`: addresses or CIDR blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies::parse(DEFAULT_TRUSTED_PROXIES).expect("the default parses")
    }
}

impl TrustedProxies {
    /// A comma-separated list of addresses (`10.0.0.2`) or blocks
    /// (`10.0.0.0/8`, `fd00::/8`); empty trusts no one.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{item}' is not an IP address or CIDR block"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("'{item}': the prefix length must be 0-{max}"))?,
            };
            blocks.push((addr, bits));
        }
        Ok(TrustedProxies(blocks))
    }

    /// Whether `peer` is one of them.
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.0
            .iter()
            .any(|(block, bits)| match (canonical(*block), peer) {
                (IpAddr::V4(block), IpAddr::V4(peer)) => prefix_eq(
                    u128::from(block.to_bits()),
                    u128::from(peer.to_bits()),
                    32,
                    *bits,
                ),
                (IpAddr::V6(block), IpAddr::V6(peer)) => {
                    prefix_eq(block.to_bits(), peer.to_bits(), 128, *bits)
                }
                _ => false,
            })
    }

    /// The client's address: the TCP peer, or, when the peer is a trusted
    /// proxy, the last address it appended to `X-Forwarded-For`.
    pub fn client_ip<'a>(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let peer = canonical(peer?.ip());
        if !self.contains(peer) {
            return Some(peer);
        }
        let forwarded = forwarded_for
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .last();
        Some(forwarded.map_or(peer, canonical))
    }

    /// The URL as the client used it: `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` from a trusted proxy, otherwise `http` and the
    /// `Host` header.
    pub fn request_url(
        &self,
        peer: Option<SocketAddr>,
        host: &str,
        forwarded_proto: Option<&str>,
        forwarded_host: Option<&str>,
        path_and_query: &str,
    ) -> String {
        let trusted = peer.is_some_and(|p| self.contains(p.ip()));
        fn first(v: Option<&str>) -> Option<&str> {
            v.and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        }
        let scheme = match first(forwarded_proto).filter(|_| trusted) {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let host = first(forwarded_host).filter(|_| trusted).unwrap_or(host);
        format!("{scheme}://{host}{path_and_query}")
    }
}

/// An IPv4-mapped IPv6 peer (a dual-stack listener) is its IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: u128, b: u128, width: u8, bits: u8) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = u32::from(width - bits);
    (a >> shift) == (b >> shift)
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(addr, bits)| format!("{addr}/{bits}"))
            .collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn parses_addresses_and_blocks_and_refuses_nonsense() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, fd00::/8,192.168.1.2").unwrap();
        assert!(trusted.contains("10.200.3.4".parse().unwrap()));
        assert!(trusted.contains("fd12::1".parse().unwrap()));
        assert!(trusted.contains("192.168.1.2".parse().unwrap()));
        assert!(!trusted.contains("192.168.1.3".parse().unwrap()));
        assert!(!trusted.contains("11.0.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(
            !TrustedProxies::parse("")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_peers() {
        let trusted = TrustedProxies::default();
        let xff = || ["203.0.113.9, 198.51.100.7"].into_iter();
        // From loopback (Caddy): the address Caddy appended.
        assert_eq!(
            trusted.client_ip(peer("127.0.0.1"), xff()),
            Some("198.51.100.7".parse().unwrap())
        );
        // A dual-stack listener's mapped loopback is loopback too.
        assert_eq!(
            trusted.client_ip(peer("::ffff:127.0.0.1"), xff()),
            Some("198.51.100.7".parse().unwrap())
        );
        // From anyone else: the peer, whatever it claims.
        assert_eq!(
            trusted.client_ip(peer("192.0.2.1"), xff()),
            Some("192.0.2.1".parse().unwrap())
        );
        let url = |p| {
            trusted.request_url(
                peer(p),
                "localhost:8080",
                Some("https"),
                Some("shop.example"),
                "/a?b=c",
            )
        };
        assert_eq!(url("127.0.0.1"), "https://shop.example/a?b=c");
        assert_eq!(url("192.0.2.1"), "http://localhost:8080/a?b=c");
    }
}
