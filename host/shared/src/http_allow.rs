//! Outbound HTTP allow-list entries: which scheme, host and port an app's
//! scripts may call. Outbound HTTP is denied by default; an app's operator
//! adds entries such as `https://api.example.com` or
//! `https://*.example.com:8443`. The manager validates entries with
//! [`AllowPattern::parse`] when they are added; the executor checks every
//! outbound request's URL with [`AllowPattern::allows`].

use std::fmt;

/// One allow-list entry: a scheme, a host (exact, or every subdomain of a
/// domain), and a port (the scheme's default when the entry names none).
/// Serialized as its text form, which [`AllowPattern::parse`] reads back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct AllowPattern {
    https: bool,
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    /// This host only (a DNS name in ASCII, or an IP literal).
    Exact(String),
    /// Any host ending in `.{domain}`, at any depth; not `domain` itself.
    Subdomains(String),
}

impl AllowPattern {
    /// Parses `scheme://host[:port]`, with an optional trailing `/`. The
    /// scheme is `http` or `https`; the host is a DNS name (Unicode names
    /// are converted to their ASCII form), `*.` followed by a domain of at
    /// least two labels, an IPv4 address, or an IPv6 address in brackets
    /// (an IPv4-mapped one, `[::ffff:10.0.0.5]`, is held as its IPv4
    /// address). The error is a sentence naming what is wrong.
    pub fn parse(text: &str) -> Result<AllowPattern, String> {
        let trimmed = text.trim();
        let (https, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("'{text}' must start with https:// or http://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "'{text}' may only name a scheme, a host and a port: no path, query or user"
            ));
        }
        let (host, port) = split_port(authority).map_err(|e| format!("'{text}': {e}"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let host = if let Some(domain) = host.strip_prefix("*.") {
            let domain = dns_name(domain).map_err(|e| format!("'{text}': {e}"))?;
            if !domain.contains('.') {
                return Err(format!(
                    "'{text}': a wildcard needs a domain of at least two labels, like *.example.com"
                ));
            }
            Host::Subdomains(domain)
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip: std::net::Ipv6Addr = v6
                .parse()
                .map_err(|_| format!("'{text}': '{v6}' is not an IPv6 address"))?;
            Host::Exact(ipv6_host(ip))
        } else if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            Host::Exact(ip.to_string())
        } else {
            Host::Exact(dns_name(host).map_err(|e| format!("'{text}': {e}"))?)
        };
        Ok(AllowPattern { https, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    /// `host` is as a parsed URL gives it: ASCII, lower case, IPv6 in brackets.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return false,
        };
        if https != self.https || port != self.port {
            return false;
        }
        let mut host = host.trim_end_matches('.').to_ascii_lowercase();
        // The URL parser prints an IPv4-mapped host in hex ([::ffff:a00:5]);
        // brought to the form `parse` gives it, an entry naming the address
        // either way matches a request naming it either way.
        if let Some(ip) = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok())
        {
            host = ipv6_host(ip);
        }
        match &self.host {
            Host::Exact(exact) => host == *exact,
            Host::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        }
    }
}

impl From<AllowPattern> for String {
    fn from(pattern: AllowPattern) -> String {
        pattern.to_string()
    }
}

impl TryFrom<String> for AllowPattern {
    type Error = String;

    fn try_from(text: String) -> Result<AllowPattern, String> {
        AllowPattern::parse(&text)
    }
}

impl fmt::Display for AllowPattern {
    /// The canonical form, port included: `https://*.example.com:443`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match &self.host {
            Host::Exact(host) => write!(f, "{scheme}://{host}:{}", self.port),
            Host::Subdomains(domain) => write!(f, "{scheme}://*.{domain}:{}", self.port),
        }
    }
}

/// An IPv6 host as entries hold it: in brackets, except that an
/// IPv4-mapped address (::ffff:a.b.c.d) becomes its IPv4 address, which is
/// where a connection to it goes, so that `[::ffff:10.0.0.5]` and
/// `10.0.0.5` are one host however the entry or the request spells it.
fn ipv6_host(ip: std::net::Ipv6Addr) -> String {
    match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => format!("[{ip}]"),
    }
}

/// `host[:port]`, where an IPv6 host is in brackets.
fn split_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if rest.is_empty() => (host, None),
                    None => return Err("unexpected text after the IPv6 address".into()),
                }
            }
            None => return Err("an IPv6 address needs a closing ']'".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("'{port}' is not a port number (1 to 65535)"))?,
        ),
        None => None,
    };
    Ok((host, port))
}

/// A DNS name in lower-case ASCII (IDNA), with LDH labels.
fn dns_name(name: &str) -> Result<String, String> {
    let ascii = idna::domain_to_ascii(name.trim_end_matches('.'))
        .map_err(|_| format!("'{name}' is not a valid host name"))?;
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(format!("'{name}' is not a valid host name"));
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::AllowPattern;

    fn allows(pattern: &str, scheme: &str, host: &str, port: u16) -> bool {
        AllowPattern::parse(pattern)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_hosts_match_scheme_host_and_port() {
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(allows(
            "https://API.Example.com/",
            "https",
            "api.example.com",
            443
        ));
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com.",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "http",
            "api.example.com",
            80
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            8443
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "example.com",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "evil-api.example.com",
            443
        ));
        assert!(allows("http://localhost:8080", "http", "localhost", 8080));
        assert!(allows("http://127.0.0.1:9000", "http", "127.0.0.1", 9000));
        assert!(allows("https://[::1]:8443", "https", "[::1]", 8443));
        assert!(allows(
            "https://bücher.example",
            "https",
            "xn--bcher-kva.example",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "ftp",
            "api.example.com",
            443
        ));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = "https://*.example.com:443";
        assert!(allows(p, "https", "a.example.com", 443));
        assert!(allows(p, "https", "a.b.example.com", 443));
        assert!(!allows(p, "https", "example.com", 443));
        assert!(!allows(p, "https", "badexample.com", 443));
        assert!(!allows(p, "https", "a.example.com.evil.net", 443));
        assert!(!allows(p, "https", ".example.com", 443));
    }

    #[test]
    fn canonical_form_names_the_port() {
        let text = |p: &str| AllowPattern::parse(p).unwrap().to_string();
        assert_eq!(
            text("https://API.example.com/"),
            "https://api.example.com:443"
        );
        assert_eq!(text("http://*.Example.com"), "http://*.example.com:80");
        assert_eq!(text("https://[0:0::1]:8443"), "https://[::1]:8443");
    }

    #[test]
    fn ipv4_mapped_entries_are_held_as_ipv4() {
        let text = |p: &str| AllowPattern::parse(p).unwrap().to_string();
        assert_eq!(
            text("http://[::ffff:10.0.0.5]:8080"),
            "http://10.0.0.5:8080"
        );
        assert_eq!(text("http://[::FFFF:a00:5]:8080/"), "http://10.0.0.5:8080");
        assert_eq!(
            AllowPattern::parse("http://[::ffff:10.0.0.5]:8080").unwrap(),
            AllowPattern::parse("http://10.0.0.5:8080").unwrap()
        );
        // Only the mapped form: IPv4-compatible and translated addresses
        // stay IPv6.
        assert_eq!(text("http://[::10.0.0.5]"), "http://[::a00:5]:80");
        assert_eq!(
            text("http://[::ffff:0:a00:5]"),
            "http://[::ffff:0:a00:5]:80"
        );

        let mapped = "http://[::ffff:10.0.0.5]:8080";
        // The URL parser's spelling of the request host, and std's.
        assert!(allows(mapped, "http", "[::ffff:a00:5]", 8080));
        assert!(allows(mapped, "http", "[::ffff:10.0.0.5]", 8080));
        assert!(allows(mapped, "http", "10.0.0.5", 8080));
        assert!(allows(
            "http://10.0.0.5:8080",
            "http",
            "[::ffff:a00:5]",
            8080
        ));
        assert!(!allows(mapped, "http", "10.0.0.6", 8080));
        assert!(!allows(mapped, "http", "[::ffff:a00:6]", 8080));
        assert!(!allows(mapped, "http", "[::a00:5]", 8080));
        assert!(!allows(mapped, "http", "10.0.0.5", 8081));
    }

    #[test]
    fn malformed_entries_are_refused_with_a_reason() {
        for (pattern, reason) in [
            ("api.example.com", "must start with https:// or http://"),
            (
                "ftp://api.example.com",
                "must start with https:// or http://",
            ),
            ("https://api.example.com/v1", "no path"),
            ("https://user@api.example.com", "no path, query or user"),
            ("https://", "the host is missing"),
            ("https://api.example.com:0", "not a port number"),
            ("https://api.example.com:99999", "not a port number"),
            ("https://*.com", "at least two labels"),
            ("https://a.*.example.com", "not a valid host name"),
            ("https://*", "not a valid host name"),
            ("https://exa mple.com", "not a valid host name"),
            ("https://[::1", "closing ']'"),
            ("https://[zz::1]", "not an IPv6 address"),
        ] {
            let err = AllowPattern::parse(pattern).unwrap_err();
            assert!(err.contains(reason), "{pattern}: {err}");
        }
    }
}
