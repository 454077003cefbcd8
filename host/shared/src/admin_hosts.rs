//! The hosts that serve the admin surface (ADR 006).
//!
//! The dashboard, the admin API and execute-by-id answer only on these
//! hosts, no app may claim them, and user routes are never served on them.
//! So no response a tenant's script controls is ever same-origin (or even
//! same-site) with a page or API that the admin's session cookie
//! authorises, and the browser never sends that cookie to a script.

use std::sync::Arc;

use crate::domain::{DomainPattern, normalize_host};

/// The hosts an install serves its admin surface on when the operator names
/// none: the loopback addresses, so that `http://127.0.0.1:8080/admin` works
/// out of the box while `localhost` belongs to the default app.
pub const DEFAULT_ADMIN_HOSTS: &str = "127.0.0.1,[::1]";

/// Paths of the admin surface: served on admin hosts only.
pub fn is_admin_path(path: &str) -> bool {
    const PREFIXES: [&str; 3] = ["/admin", "/api/v1/admin", "/api/v1/execute"];
    path == "/api/v1/openapi.json"
        || PREFIXES.iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// A normalized set of admin host names (no ports: a browser's cookies are
/// per host, whatever the port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminHosts(Arc<[String]>);

impl AdminHosts {
    /// Parses a comma-separated list (`PICLOUD_ADMIN_HOSTS`), e.g.
    /// `127.0.0.1,[::1],admin.example.com`. Ports are not allowed: the admin
    /// surface is per host.
    pub fn parse(list: &str) -> Result<AdminHosts, String> {
        let mut hosts: Vec<String> = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = normalize_host(entry).map_err(|e| format!("admin host '{entry}': {e}"))?;
            let had_port = if entry.starts_with('[') {
                !entry.trim_end_matches('.').ends_with(']')
            } else {
                entry.contains(':')
            };
            if had_port {
                return Err(format!(
                    "admin host '{entry}': name a host without a port ({host})"
                ));
            }
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        if hosts.is_empty() {
            return Err("name at least one admin host, e.g. 127.0.0.1".into());
        }
        Ok(AdminHosts(hosts.into()))
    }

    /// The normalized names, in the order given.
    pub fn hosts(&self) -> &[String] {
        &self.0
    }

    /// Whether a request's `Host` header names an admin host (any port).
    pub fn contains_header(&self, raw_host: &str) -> bool {
        normalize_host(raw_host).is_ok_and(|host| self.contains(&host))
    }

    /// Whether a normalized host is an admin host.
    pub fn contains(&self, host: &str) -> bool {
        self.0.iter().any(|h| h == host)
    }

    /// The first admin host that a domain claim would match, if any.
    pub fn claimed_by(&self, pattern: &DomainPattern) -> Option<&str> {
        self.0
            .iter()
            .find(|host| pattern.matches(host).is_some())
            .map(String::as_str)
    }
}

impl Default for AdminHosts {
    fn default() -> Self {
        AdminHosts::parse(DEFAULT_ADMIN_HOSTS).expect("the default admin hosts parse")
    }
}

impl std::fmt::Display for AdminHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_normalizes_and_refuses_ports() {
        let hosts = AdminHosts::parse(" 127.0.0.1, [::1] ,Admin.Example.COM.,127.0.0.1").unwrap();
        assert_eq!(hosts.hosts(), ["127.0.0.1", "[::1]", "admin.example.com"]);
        assert!(hosts.contains_header("ADMIN.example.com:8443"));
        assert!(hosts.contains_header("[::1]:8080"));
        assert!(!hosts.contains_header("localhost"));
        assert!(
            AdminHosts::parse("admin.example.com:8080")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            AdminHosts::parse("[::1]:8080")
                .unwrap_err()
                .contains("port")
        );
        assert!(AdminHosts::parse(" , ").is_err());
        assert!(AdminHosts::parse("a b").is_err());
    }

    #[test]
    fn claims_that_would_cover_an_admin_host_are_found() {
        let hosts = AdminHosts::parse("127.0.0.1,admin.example.com").unwrap();
        let claim = |p: &str| {
            hosts
                .claimed_by(&DomainPattern::parse(p).unwrap())
                .map(str::to_owned)
        };
        assert_eq!(
            claim("admin.example.com").as_deref(),
            Some("admin.example.com")
        );
        assert_eq!(
            claim("{x}.example.com").as_deref(),
            Some("admin.example.com")
        );
        assert_eq!(claim("api.example.com"), None);
    }

    #[test]
    fn admin_paths() {
        for path in [
            "/admin",
            "/admin/apps",
            "/api/v1/admin",
            "/api/v1/admin/apps",
            "/api/v1/execute/x",
            "/api/v1/openapi.json",
        ] {
            assert!(is_admin_path(path), "{path}");
        }
        for path in [
            "/administrator",
            "/hello",
            "/api/v1/tls/ask",
            "/healthz",
            "/version",
        ] {
            assert!(!is_admin_path(path), "{path}");
        }
    }
}
