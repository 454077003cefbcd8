//! What to request: `--target` specs, the weighted round-robin schedule and
//! the statuses a target is expected to answer.

use std::fmt;

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use http::Method;

/// Weights above this would make the schedule (one slot per unit of weight)
/// needlessly large; ratios finer than 1:1000 are not what a load mix needs.
const MAX_WEIGHT: u32 = 1000;

/// One kind of request in the mix, parsed from
/// `[weight=N] [expect=LIST] [body=TEXT|@FILE] METHOD PATH [HOST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request method.
    pub method: Method,
    /// Path and query, sent as is (origin form).
    pub path: String,
    /// `Host` header; `None` sends the `--url`'s authority.
    pub host: Option<String>,
    /// Share of the mix relative to the other targets' weights.
    pub weight: u32,
    /// Statuses that count as expected. Empty means "any 2xx".
    pub expect: Vec<Expect>,
    /// Request body (empty: none).
    pub body: Bytes,
    /// `content-type` sent with a body: `application/json` when the body
    /// parses as JSON (what a PiCloud script's `request.json()` wants), else
    /// `text/plain; charset=utf-8`.
    pub content_type: Option<&'static str>,
}

impl Target {
    /// `METHOD PATH [HOST]`, the name the reports use.
    pub fn label(&self) -> String {
        match &self.host {
            Some(host) => format!("{} {} {host}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// Whether a response with `status` (and, for error responses, PiCloud's
    /// `error.code`) is one this target is meant to get. `extra` is the global
    /// `--expect-status` list, which holds for every target.
    pub fn expects(&self, status: u16, code: Option<&str>, extra: &[Expect]) -> bool {
        let own = if self.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect.iter().any(|e| e.matches(status, code))
        };
        own || extra.iter().any(|e| e.matches(status, code))
    }
}

impl std::str::FromStr for Target {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> anyhow::Result<Self> {
        let mut weight = 1;
        let mut expect = Vec::new();
        let mut body = Bytes::new();
        let mut positional = Vec::new();
        // Options may stand anywhere: a PATH always starts with `/` and a HOST
        // never contains `=`, so `key=value` tokens cannot be mistaken for them.
        for token in spec.split_whitespace() {
            if let Some(v) = token.strip_prefix("weight=") {
                weight = v
                    .parse()
                    .ok()
                    .filter(|w| (1..=MAX_WEIGHT).contains(w))
                    .with_context(|| format!("target `{spec}`: weight must be 1..={MAX_WEIGHT}"))?;
            } else if let Some(v) = token.strip_prefix("expect=") {
                expect.extend(parse_expect_list(v).with_context(|| format!("target `{spec}`"))?);
            } else if let Some(v) = token.strip_prefix("body=") {
                body = match v.strip_prefix('@') {
                    Some(file) => std::fs::read(file)
                        .with_context(|| format!("target `{spec}`: reading {file}"))?
                        .into(),
                    None => Bytes::copy_from_slice(v.as_bytes()),
                };
            } else {
                positional.push(token);
            }
        }
        let (method, path, host) = match positional[..] {
            [m, p] => (m, p, None),
            [m, p, h] => (m, p, Some(h.to_ascii_lowercase())),
            _ => bail!(
                "target `{spec}`: expected `[weight=N] [expect=LIST] [body=TEXT|@FILE] METHOD PATH [HOST]`"
            ),
        };
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("target `{spec}`: bad method"))?;
        ensure!(
            path.starts_with('/') && path.parse::<http::uri::PathAndQuery>().is_ok(),
            "target `{spec}`: the path must start with `/` and be a valid URI path"
        );
        let content_type = match &body {
            b if b.is_empty() => None,
            b if serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok() => {
                Some("application/json")
            }
            _ => Some("text/plain; charset=utf-8"),
        };
        Ok(Self {
            method,
            path: path.to_owned(),
            host,
            weight,
            expect,
            body,
            content_type,
        })
    }
}

/// One entry of an expected-status list: `200`, `2xx`, `500:fuel_exhausted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    status: StatusPattern,
    /// PiCloud's `{"error": {"code": …}}`; `None` accepts any body.
    code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusPattern {
    Exact(u16),
    /// `4xx` → 4.
    Class(u16),
}

impl Expect {
    fn matches(&self, status: u16, code: Option<&str>) -> bool {
        let status_ok = match self.status {
            StatusPattern::Exact(s) => s == status,
            StatusPattern::Class(c) => status / 100 == c,
        };
        status_ok && self.code.as_deref().is_none_or(|want| code == Some(want))
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            StatusPattern::Exact(s) => write!(f, "{s}")?,
            StatusPattern::Class(c) => write!(f, "{c}xx")?,
        }
        match &self.code {
            Some(code) => write!(f, ":{code}"),
            None => Ok(()),
        }
    }
}

/// Parses `200,2xx,500:fuel_exhausted`.
pub fn parse_expect_list(list: &str) -> anyhow::Result<Vec<Expect>> {
    list.split(',').map(str::parse).collect()
}

impl std::str::FromStr for Expect {
    type Err = anyhow::Error;

    /// One entry: `200`, `2xx` or `500:fuel_exhausted`.
    fn from_str(entry: &str) -> anyhow::Result<Self> {
        let (status, code) = match entry.split_once(':') {
            Some((s, c)) if !c.is_empty() => (s, Some(c)),
            Some(_) => bail!("`{entry}`: empty error code after `:`"),
            None => (entry, None),
        };
        let status = match status.strip_suffix("xx") {
            Some(class) => match class.parse() {
                Ok(c @ 1..=5) => StatusPattern::Class(c),
                _ => bail!("`{entry}`: a status class is 1xx..5xx"),
            },
            None => match status.parse() {
                Ok(s @ 100..=599) => StatusPattern::Exact(s),
                _ => bail!("`{entry}`: not an HTTP status (100..599, or 2xx)"),
            },
        };
        Ok(Expect {
            status,
            code: code.map(str::to_owned),
        })
    }
}

/// Weighted round-robin: slot `n` of the run goes to `schedule[n % len]`.
/// Each target's slots are spread evenly over the cycle (rather than `AAAB`),
/// so a heavy target does not arrive in bursts on neighbouring connections:
/// slot `k` of a target with weight `w` sits at `(2k + 1) / 2w` of the cycle.
pub fn schedule(targets: &[Target]) -> Vec<usize> {
    let mut slots: Vec<(u64, u64, usize)> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            (0..t.weight).map(move |k| (u64::from(2 * k + 1), u64::from(2 * t.weight), i))
        })
        .collect();
    // Compare the fractions exactly (cross-multiplied); ties by target order.
    slots.sort_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)).then(a.2.cmp(&b.2)));
    slots.into_iter().map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(spec: &str) -> Target {
        spec.parse().unwrap()
    }

    #[test]
    fn parses_targets() {
        let hello = t("GET /hello localhost");
        assert_eq!(hello.method, Method::GET);
        assert_eq!(hello.path, "/hello");
        assert_eq!(hello.host.as_deref(), Some("localhost"));
        assert_eq!((hello.weight, hello.expect.len()), (1, 0));
        assert_eq!(hello.label(), "GET /hello localhost");

        let spin = t("weight=3 post /spin?x=1 expect=500:fuel_exhausted,2xx body={\"a\":1}");
        assert_eq!(spin.method, Method::POST);
        assert_eq!(spin.path, "/spin?x=1");
        assert_eq!(spin.host, None);
        assert_eq!(spin.weight, 3);
        assert_eq!(spin.body, Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(
            spin.expect
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["500:fuel_exhausted", "2xx"]
        );

        for bad in [
            "GET",
            "GET hello",
            "GET /a b c",
            "weight=0 GET /",
            "weight=x GET /",
            "expect=99 GET /",
            "expect=6xx GET /",
            "expect=500: GET /",
            "G\u{e9}T /",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn expectations() {
        let plain = t("GET /hello");
        assert!(plain.expects(200, None, &[]));
        assert!(plain.expects(204, None, &[]));
        assert!(!plain.expects(500, Some("fuel_exhausted"), &[]));
        let global = parse_expect_list("503").unwrap();
        assert!(plain.expects(503, Some("executor_overloaded"), &global));

        let spin = t("expect=500:fuel_exhausted GET /spin");
        assert!(spin.expects(500, Some("fuel_exhausted"), &[]));
        assert!(!spin.expects(500, Some("internal_error"), &[]));
        assert!(!spin.expects(500, None, &[]));
        // An explicit list replaces the 2xx default: `loop {}` must not succeed.
        assert!(!spin.expects(200, None, &[]));
    }

    #[test]
    fn schedule_is_weighted_and_spread() {
        let targets = [t("weight=3 GET /a"), t("GET /b"), t("weight=2 GET /c")];
        let s = schedule(&targets);
        assert_eq!(s.len(), 6);
        for (i, want) in [3, 1, 2].into_iter().enumerate() {
            assert_eq!(s.iter().filter(|&&x| x == i).count(), want);
        }
        // The heavy target is never sent three times in a row.
        assert!(!s.windows(3).any(|w| w.iter().all(|&x| x == 0)));
        assert_eq!(schedule(&[t("GET /a")]), [0]);
    }
}
