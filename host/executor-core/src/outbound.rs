//! Outbound HTTP for scripts (`http::get`, `http::request`): denied unless
//! the app's allow-list names the URL's scheme, host and port, and never to
//! private, loopback, link-local or metadata addresses unless the operator
//! allows them.
//!
//! The address check happens after DNS resolution, inside the client's
//! resolver, and the client connects only to the addresses that passed: a
//! name that resolves to a public address when checked and to 127.0.0.1 a
//! moment later (DNS rebinding) cannot slip through, because there is no
//! second lookup. IP literals in URLs never reach a resolver, so they are
//! checked before the request is sent. Redirects are not followed (each hop
//! would need the allow-list again); scripts see the 3xx and decide.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use shared::AllowPattern;

use crate::bindings::picloud::platform::http_client::{HttpError, Request, Response};

/// Operator settings for outbound HTTP.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Allow private, loopback, link-local and other non-public addresses
    /// (a home server calling a device on its LAN; tests). Off by default.
    pub allow_private: bool,
    /// Longest wait for one response, headers and body; the execution's own
    /// deadline may cut it shorter.
    pub timeout: Duration,
    /// Largest response body a script may receive.
    pub max_response_bytes: u64,
    /// Largest request body a script may send.
    pub max_request_bytes: u64,
    /// Outbound requests one execution may make.
    pub max_calls: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_private: false,
            timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
            max_request_bytes: 4 << 20,
            max_calls: 20,
        }
    }
}

/// The process-wide client: connection pools are shared by all scripts
/// (each request still passes the allow-list and the address check).
pub(crate) struct Outbound {
    client: reqwest::Client,
    config: OutboundConfig,
}

impl Outbound {
    pub(crate) fn new(config: OutboundConfig) -> Result<Outbound, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A proxy from the environment would connect on the script's
            // behalf to addresses the resolver never saw.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: config.allow_private,
            }))
            .connect_timeout(config.timeout)
            .user_agent(concat!("PiCloud/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, config })
    }

    pub(crate) fn max_calls(&self) -> u32 {
        self.config.max_calls
    }

    /// Sends one request for a script whose app allows `allowed`.
    pub(crate) async fn send(
        &self,
        allowed: &[AllowPattern],
        request: Request,
    ) -> Result<Response, HttpError> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| {
            HttpError::InvalidRequest(format!("'{}' is not a URL: {e}", request.url))
        })?;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(HttpError::InvalidRequest(format!(
                "'{scheme}' URLs are not supported; use http or https"
            )));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(0);
        if !allowed.iter().any(|p| p.allows(scheme, &host, port)) {
            return Err(HttpError::NotAllowed(format!(
                "{scheme}://{host}:{port} is not on the app's outbound allow-list"
            )));
        }
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                HttpError::InvalidRequest(format!("'{}' is not an HTTP method", request.method))
            })?;
        if request.body.len() as u64 > self.config.max_request_bytes {
            return Err(HttpError::TooLarge(format!(
                "the request body is {} bytes; the most a script may send is {}",
                request.body.len(),
                self.config.max_request_bytes
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &request.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::InvalidRequest(format!("'{name}' is not a valid header name"))
            })?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                HttpError::InvalidRequest(format!("the value of header '{name}' is not valid"))
            })?;
            headers.append(name, value);
        }
        // Checked last, so that a malformed request is reported as such.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.config.allow_private
            && is_forbidden(ip)
        {
            return Err(HttpError::BlockedAddress(format!(
                "{ip} is a private or local address, which scripts may not call"
            )));
        }
        let send = async {
            let mut response = self
                .client
                .request(method, url)
                .headers(headers)
                .body(request.body)
                .send()
                .await
                .map_err(|e| failure(&e))?;
            let limit = self.config.max_response_bytes;
            let too_large = || {
                HttpError::TooLarge(format!(
                    "the response body is larger than {limit} bytes, the most a script may receive"
                ))
            };
            if response.content_length().is_some_and(|len| len > limit) {
                return Err(too_large());
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| failure(&e))? {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.config.timeout, send).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(format!(
                "no complete response within {} ms",
                self.config.timeout.as_millis()
            ))),
        }
    }
}

/// A failed request as the script sees it: the address check's own message
/// when that refused it, else what went wrong without the client's internals.
fn failure(error: &reqwest::Error) -> HttpError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<Blocked>() {
            return HttpError::BlockedAddress(blocked.0.clone());
        }
        source = err.source();
    }
    if error.is_timeout() {
        return HttpError::Timeout("the request timed out".into());
    }
    let mut message = String::from("the request failed");
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    HttpError::ConnectionFailed(message)
}

/// The resolver's refusal, found again in the error chain by [`failure`].
#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

/// Resolves with the system resolver and drops every forbidden address; the
/// client connects only to what is left.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = permitted(&host, resolved, allow_private)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `host` a script may connect to; an error naming the
/// host when none is left.
fn permitted(
    host: &str,
    resolved: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Blocked> {
    if resolved.is_empty() {
        return Err(Blocked(format!("{host} has no address")));
    }
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| allow_private || !is_forbidden(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(Blocked(format!(
            "{host} resolves only to private or local addresses, which scripts may not call"
        )));
    }
    Ok(allowed)
}

/// Addresses a script may not reach: loopback, private, link-local (cloud
/// metadata lives at 169.254.169.254), shared (CGNAT), unspecified,
/// broadcast, multicast, documentation, benchmarking and reserved ranges,
/// and IPv6's equivalents, including IPv4 addresses embedded in IPv6 and
/// the tunnelling and translation prefixes whose IPv4 end cannot be checked.
pub(crate) fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => {
            // The kernel sends to an IPv4-mapped address (::ffff:0:0/96) over
            // IPv4, so it is exactly as reachable as the IPv4 address itself.
            if let Some(v4) = ip.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            match ip.segments() {
                // IPv4-translated (::ffff:0:a.b.c.d, RFC 2765): a stateless
                // translator on the path delivers it to the IPv4 address.
                [0, 0, 0, 0, 0xffff, 0, hi, lo] => return forbidden_v4(embedded(hi, lo)),
                // NAT64's well-known prefix (64:ff9b::/96, RFC 6052): the
                // host's NAT64 gateway delivers it to the IPv4 address.
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return forbidden_v4(embedded(hi, lo)),
                // Local-use NAT64 (64:ff9b:1::/48, RFC 8215): where the IPv4
                // address sits depends on the prefix length the operator
                // chose, which we cannot know, so no check of it is sound,
                // and the range exists only for operators' own translators.
                [0x64, 0xff9b, 1, ..] => return true,
                // 6to4 (2002::/16, RFC 3056): a host with a 6to4 route sends
                // it encapsulated to the IPv4 address in bits 16..48, which
                // may be internal; a public one is no worse than calling
                // that address directly.
                [0x2002, hi, lo, ..] => return forbidden_v4(embedded(hi, lo)),
                // Teredo (2001::/32, RFC 4380): a NAT-traversal tunnel that
                // embeds a server and an (obfuscated) client IPv4 address; a
                // server has no business calling through it, and checking
                // both addresses would still trust the relay's routing.
                [0x2001, 0, ..] => return true,
                // IPv4-compatible (::a.b.c.d, deprecated by RFC 4291):
                // nothing legitimate uses it, and stacks that still honour
                // it send to the IPv4 address; refused whole (with :: and
                // ::1, which are in it).
                [0, 0, 0, 0, 0, 0, _, _] => return true,
                _ => {}
            }
            let s = ip.segments();
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || ip == Ipv6Addr::UNSPECIFIED
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be forbidden");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn ipv6_forms_embedding_internal_ipv4_are_forbidden() {
        for ip in [
            // IPv4-mapped, ::ffff:0:0/96.
            "::ffff:10.0.0.1",
            // IPv4-translated, ::ffff:0:0:0/96.
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "::ffff:0:a9fe:a9fe",
            // IPv4-compatible (deprecated), ::/96.
            "::a00:1",
            "::a9fe:a9fe",
            // NAT64 well-known prefix, 64:ff9b::/96.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            // 6to4, 2002::/16: the IPv4 address is in bits 16..48.
            "2002:7f00:0001::1",
            "2002:0a00:0001::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101:1::1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be forbidden");
        }
        for ip in [
            "::ffff:0:808:808",
            "64:ff9b::101:101",
            "2002:0808:0808::1",
            "2002:5db8:d822:1::1",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn tunnel_and_local_translation_prefixes_are_forbidden_whole() {
        for ip in [
            // Local-use NAT64, 64:ff9b:1::/48, at any prefix length and
            // whatever IPv4 address it embeds.
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "64:ff9b:1:a00:1::",
            "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            // Teredo, 2001::/32: server 65.54.227.120 with client 127.0.0.1,
            // then with client 8.8.8.8 (clients are stored XOR 0xffffffff).
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            "2001::1",
            "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be forbidden");
        }
        // The neighbours of those ranges keep their usual treatment.
        for ip in ["64:ff9b:2::808:808", "2001:200::1", "2001:4860:4860::8888"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn mapped_ipv6_allow_entries_match_the_url_host() {
        // The URL parser prints an IPv4-mapped host in hex ([::ffff:a00:5]),
        // std in dotted form; the allow-list compares both as 10.0.0.5.
        let allowed = |entry: &str, url: &str| {
            let url = reqwest::Url::parse(url).unwrap();
            AllowPattern::parse(entry).unwrap().allows(
                url.scheme(),
                url.host_str().unwrap(),
                url.port_or_known_default().unwrap(),
            )
        };
        let mapped = "http://[::ffff:10.0.0.5]:8080";
        assert!(allowed(mapped, "http://[::ffff:10.0.0.5]:8080/x"));
        assert!(allowed(mapped, "http://[::ffff:a00:5]:8080/x"));
        assert!(allowed(mapped, "http://10.0.0.5:8080/x"));
        assert!(allowed(
            "http://10.0.0.5:8080",
            "http://[::ffff:10.0.0.5]:8080/"
        ));
        assert!(!allowed(mapped, "http://10.0.0.6:8080/"));
        assert!(!allowed(mapped, "http://[::10.0.0.5]:8080/"));
    }

    #[test]
    fn resolution_keeps_only_public_addresses() {
        let addr = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
        // A rebinding name that answers with a public and a loopback address
        // connects only to the public one.
        let mixed = vec![addr("93.184.216.34"), addr("127.0.0.1")];
        assert_eq!(
            permitted("rebind.test", mixed.clone(), false).unwrap(),
            vec![addr("93.184.216.34")]
        );
        assert_eq!(
            permitted("rebind.test", mixed.clone(), true).unwrap(),
            mixed
        );
        let err =
            permitted("internal.test", vec![addr("10.0.0.5"), addr("::1")], false).unwrap_err();
        assert_eq!(
            err.0,
            "internal.test resolves only to private or local addresses, which scripts may not call"
        );
        assert!(permitted("nothing.test", vec![], true).is_err());
    }
}
