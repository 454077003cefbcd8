//! An app's CORS policy: which browser origins may call its routes, and how
//! the platform answers their preflights (docs/apps.md, "CORS").

use serde::{Deserialize, Serialize};

use crate::domain::DomainPattern;

/// The `cors` setting of an app. Off (`None` on the app) by default.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsPolicy {
    /// `https://app.example.com`, `https://{sub}.example.com` (whole-label
    /// wildcards, as domain claims), or `*` (any origin, without credentials).
    pub allow_origins: Vec<String>,
    /// Methods a preflight may allow; empty: whatever the route accepts.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may allow; empty: the ones it asks for.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers the page may read beyond the CORS-safelisted ones.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Whether cookies and HTTP authentication may be sent.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight, in seconds (at most a day).
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// The longest preflight cache a policy may ask for (browsers cap lower).
pub const MAX_CORS_AGE: u32 = 86_400;

impl CorsPolicy {
    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.allow_origins.is_empty() {
            return Err("cors.allow_origins must list at least one origin (or \"*\")".into());
        }
        for origin in &self.allow_origins {
            if origin == "*" {
                if self.allow_credentials {
                    return Err(
                        "cors: \"*\" cannot be combined with allow_credentials: list the origins"
                            .into(),
                    );
                }
                continue;
            }
            parse_origin(origin).map_err(|e| format!("cors.allow_origins: {e}"))?;
        }
        for method in &self.allow_methods {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!(
                    "cors.allow_methods: '{method}' is not an HTTP method"
                ));
            }
        }
        for header in self.allow_headers.iter().chain(&self.expose_headers) {
            if header.is_empty() || !header.bytes().all(is_token_byte) {
                return Err(format!("cors: '{header}' is not a header name"));
            }
        }
        if self.max_age.is_some_and(|age| age > MAX_CORS_AGE) {
            return Err(format!(
                "cors.max_age must be at most {MAX_CORS_AGE} seconds"
            ));
        }
        Ok(())
    }

    /// Whether a request's `Origin` may read the response.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|allowed| {
            allowed == "*"
                || parse_origin(allowed).is_ok_and(|(scheme, pattern, port)| {
                    parse_origin(origin).is_ok_and(|(s, host, p)| {
                        s == scheme && p == port && pattern.matches(&host.to_string()).is_some()
                    })
                })
        })
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin: `*`
    /// when any origin is allowed without credentials, else the origin itself.
    pub fn allow_origin_value<'a>(&self, origin: &'a str) -> &'a str {
        if !self.allow_credentials && self.allow_origins.iter().any(|o| o == "*") {
            "*"
        } else {
            origin
        }
    }
}

/// `scheme://host[:port]`, lower-cased; the host may hold `{name}` labels.
fn parse_origin(origin: &str) -> Result<(String, DomainPattern, String), String> {
    let lower = origin.to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https")
        .ok_or_else(|| format!("'{origin}' must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "'{origin}' must be scheme://host[:port], with no path"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port.to_owned())
        }
        Some(_) => return Err(format!("'{origin}' has a malformed port")),
        None => (rest, String::new()),
    };
    let pattern = DomainPattern::parse(host).map_err(|e| format!("'{origin}': {e}"))?;
    Ok((scheme.to_owned(), pattern, port))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
        CorsPolicy {
            allow_origins: origins.iter().map(|o| o.to_string()).collect(),
            allow_methods: Vec::new(),
            allow_headers: Vec::new(),
            expose_headers: Vec::new(),
            allow_credentials: credentials,
            max_age: None,
        }
    }

    #[test]
    fn origins_match_exactly_or_by_whole_labels() {
        let p = policy(
            &["https://app.example.com", "https://{sub}.example.com:8443"],
            false,
        );
        assert!(p.validate().is_ok());
        assert!(p.allows("https://app.example.com"));
        assert!(p.allows("https://eu.example.com:8443"));
        assert!(!p.allows("http://app.example.com"));
        assert!(!p.allows("https://app.example.com:8443.evil.test"));
        assert!(!p.allows("https://eu.example.com"));
        assert!(!p.allows("https://a.b.example.com:8443"));
        assert!(!p.allows("null"));
        assert_eq!(
            p.allow_origin_value("https://app.example.com"),
            "https://app.example.com"
        );
        let any = policy(&["*"], false);
        assert!(any.allows("http://localhost:3000"));
        assert_eq!(any.allow_origin_value("http://localhost:3000"), "*");
    }

    #[test]
    fn bad_policies_are_named() {
        for (p, needle) in [
            (policy(&[], false), "at least one"),
            (policy(&["*"], true), "allow_credentials"),
            (policy(&["app.example.com"], false), "http://"),
            (policy(&["https://app.example.com/x"], false), "no path"),
            (policy(&["https://*.example.com"], false), "{name}"),
        ] {
            let err = p.validate().unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
