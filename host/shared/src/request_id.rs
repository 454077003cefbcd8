//! Request ids: the `x-request-id` every response carries, the execution
//! record stores and scripts read as `request.id`.

use std::net::SocketAddr;

use crate::TrustedProxies;

/// The header that carries the id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest id taken from a proxy; a longer one is replaced.
const MAX_LEN: usize = 128;

/// A fresh id: 32 hex digits (a random UUID without dashes), the form
/// Caddy and most proxies generate.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The id for a request from `peer` that carried `header`: the header's
/// when the peer is a trusted proxy (it already logged the request under
/// that id) and the value is 1-128 visible ASCII characters, else a fresh
/// one. An untrusted client's id is never taken: it could make its
/// requests look like another's in the logs.
pub fn request_id_from(
    trusted: &TrustedProxies,
    peer: Option<SocketAddr>,
    header: Option<&[u8]>,
) -> String {
    header
        .filter(|_| peer.is_some_and(|p| trusted.contains(p.ip())))
        .filter(|v| !v.is_empty() && v.len() <= MAX_LEN && v.iter().all(u8::is_ascii_graphic))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map_or_else(new_request_id, str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxys_id_is_kept_and_anyone_elses_replaced() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let proxy = Some("10.1.2.3:5000".parse().unwrap());
        let stranger = Some("192.0.2.7:5000".parse().unwrap());
        assert_eq!(
            request_id_from(&trusted, proxy, Some(b"abc-123")),
            "abc-123"
        );
        let fresh = request_id_from(&trusted, stranger, Some(b"abc-123"));
        assert_ne!(fresh, "abc-123");
        assert_eq!(fresh.len(), 32);
        assert!(fresh.bytes().all(|b| b.is_ascii_hexdigit()));
        // Unusable values from a trusted proxy are replaced too.
        for bad in [&b""[..], b"has space", &[b'a'; 129], "é".as_bytes()] {
            assert_ne!(request_id_from(&trusted, proxy, Some(bad)).as_bytes(), bad);
        }
        assert_eq!(request_id_from(&trusted, proxy, None).len(), 32);
    }
}
