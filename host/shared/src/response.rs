//! What a script's response may contain, checked in one place: the executor
//! calls [`check_response`] on every response a script returns, whatever
//! started it (a user route, execute-by-id, a test run, cron, a cluster
//! executor), and the ingress builds only responses that passed.
//!
//! A script controls its status, headers and body, and nothing else: the
//! server frames the message (`content-length`, `transfer-encoding`) and
//! manages the connection. A script that could set those could make one
//! response on a keep-alive connection end early or late, so that the bytes
//! it wrote become, or swallow, the next response on that connection; behind
//! a proxy that reuses upstream connections that is another user's response.

use crate::{ExecutionError, Limits};

/// The admin dashboard's session cookie, on plain HTTP.
pub const SESSION_COOKIE: &str = "picloud_session";
/// The same over HTTPS: a `__Host-` cookie can be set only by a secure
/// origin, only for the whole host and never for a parent domain, so a
/// sibling host cannot plant one.
pub const SESSION_COOKIE_SECURE: &str = "__Host-picloud_session";

/// Whether `name` is one of the admin session cookie's names. Compared
/// without regard to case: some clients fold cookie names, and a script has
/// no business with any spelling of them.
pub fn is_session_cookie(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(SESSION_COOKIE)
        || name.trim().eq_ignore_ascii_case(SESSION_COOKIE_SECURE)
}

/// Most headers one response may carry.
pub const MAX_RESPONSE_HEADERS: usize = 100;
/// Most bytes of header names and values one response may carry (what
/// proxies and browsers accept comfortably; nginx's default buffers hold
/// less).
pub const MAX_RESPONSE_HEADER_BYTES: usize = 32 << 10;

/// Statuses a script may answer with. 1xx are interim responses that the
/// server sends on its own (a `101` would switch the connection's protocol
/// under the pipelined requests behind it); there is no 6xx.
pub const SCRIPT_STATUSES: std::ops::RangeInclusive<u16> = 200..=599;

/// Marks an HTTP response as a script's own (a response extension): layers
/// that give the platform's empty error answers a JSON body leave a script's
/// `response(404, ())` as the script wrote it.
#[derive(Debug, Clone, Copy)]
pub struct FromScript;

/// Headers only the server may set: framing (`content-length`,
/// `transfer-encoding`, `trailer`) and the hop-by-hop ones of RFC 9110 §7.6.1
/// (`connection`, `keep-alive`, `te`, `upgrade`, `proxy-*`).
pub fn is_server_only_header(name: &str) -> bool {
    const NAMES: [&str; 7] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
    ];
    NAMES.iter().any(|n| name.eq_ignore_ascii_case(n))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

/// Checks a script's response against the rules above and `limits`; the
/// error names the header or value at fault, for the execution log.
///
/// The response's size is its body plus its header bytes, so that neither
/// can carry what `max_response_bytes` refuses to the other.
pub fn check_response(
    status: u16,
    headers: &[(String, String)],
    body_len: usize,
    limits: &Limits,
) -> Result<(), ExecutionError> {
    let bad = |message: String| Err(ExecutionError::BadResponse(message));
    if !SCRIPT_STATUSES.contains(&status) {
        return bad(format!(
            "response status {status} is not between {} and {}",
            SCRIPT_STATUSES.start(),
            SCRIPT_STATUSES.end()
        ));
    }
    if headers.len() > MAX_RESPONSE_HEADERS {
        return bad(format!(
            "the response has {} headers; at most {MAX_RESPONSE_HEADERS} are allowed",
            headers.len()
        ));
    }
    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if header_bytes > MAX_RESPONSE_HEADER_BYTES {
        return bad(format!(
            "the response's headers hold {header_bytes} bytes; at most {MAX_RESPONSE_HEADER_BYTES} are allowed"
        ));
    }
    let size = (body_len as u64).saturating_add(header_bytes as u64);
    if size > limits.max_response_bytes {
        return Err(ExecutionError::ResponseTooLarge {
            size,
            limit: limits.max_response_bytes,
        });
    }
    for (name, value) in headers {
        if !valid_header_name(name) {
            return bad(format!("'{}' is not a valid header name", shorten(name)));
        }
        if !valid_header_value(value) {
            return bad(format!(
                "the value of header '{name}' contains characters not allowed in HTTP headers"
            ));
        }
        if is_server_only_header(name) {
            return bad(format!(
                "scripts may not set the '{name}' header: the server frames responses and \
                 manages connections itself"
            ));
        }
        if name.eq_ignore_ascii_case("set-cookie") {
            let cookie_name = value.split_once('=').map_or(value.as_str(), |(n, _)| n);
            if is_session_cookie(cookie_name) {
                return bad(format!(
                    "scripts may not set the '{}' cookie: it is the admin dashboard's session",
                    cookie_name.trim()
                ));
            }
        }
    }
    Ok(())
}

/// A `cookie` request header without the admin session cookies, or `None`
/// when nothing else is left. Scripts never see the admin's session, even
/// where a browser would send it to them.
pub fn without_session_cookies(cookie_header: &str) -> Option<String> {
    let kept: Vec<&str> = cookie_header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_session_cookie(pair.split_once('=').map_or(*pair, |(n, _)| n)))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// RFC 9110 token characters.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces, tabs and obs-text; never CR, LF or NUL.
fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// At most 64 bytes of `text`, for messages about values that may be huge.
fn shorten(text: &str) -> String {
    if text.len() <= 64 {
        return text.to_owned();
    }
    let mut end = 64;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, headers: &[(&str, &str)]) -> Result<(), ExecutionError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        check_response(status, &headers, 0, &Limits::default())
    }

    fn message(result: Result<(), ExecutionError>) -> String {
        match result {
            Err(ExecutionError::BadResponse(message)) => message,
            other => panic!("expected invalid_response, got {other:?}"),
        }
    }

    #[test]
    fn framing_and_hop_by_hop_headers_are_refused_by_name() {
        for name in [
            "content-length",
            "Content-Length",
            "transfer-encoding",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "proxy-authenticate",
            "Proxy-Connection",
        ] {
            let message = message(check(200, &[(name, "0")]));
            assert!(message.contains(name), "{message}");
        }
        assert!(check(200, &[("x-proxy-id", "1"), ("content-type", "a/b")]).is_ok());
    }

    #[test]
    fn only_final_statuses_from_200_to_599() {
        for status in [100, 101, 103, 199, 600] {
            assert!(message(check(status, &[])).contains(&status.to_string()));
        }
        for status in [200, 204, 302, 404, 599] {
            assert!(check(status, &[]).is_ok());
        }
    }

    #[test]
    fn header_count_and_bytes_are_limited() {
        let many: Vec<(String, String)> = (0..=MAX_RESPONSE_HEADERS)
            .map(|i| (format!("x-{i}"), "v".to_owned()))
            .collect();
        assert!(message(check_response(200, &many, 0, &Limits::default())).contains("headers"));
        let big = vec![("x-big".to_owned(), "a".repeat(MAX_RESPONSE_HEADER_BYTES))];
        assert!(message(check_response(200, &big, 0, &Limits::default())).contains("bytes"));
        // Header bytes count toward the response size limit.
        let limits = Limits {
            max_response_bytes: 100,
            ..Limits::default()
        };
        let header = vec![("x-a".to_owned(), "a".repeat(50))];
        assert!(matches!(
            check_response(200, &header, 60, &limits),
            Err(ExecutionError::ResponseTooLarge {
                size: 113,
                limit: 100
            })
        ));
    }

    #[test]
    fn the_admin_session_cookie_cannot_be_set_or_seen() {
        for value in [
            "picloud_session=x; Path=/",
            "__Host-picloud_session=x; Secure; Path=/",
            " PICLOUD_SESSION =x",
        ] {
            assert!(message(check(200, &[("set-cookie", value)])).contains("session"));
        }
        assert!(check(200, &[("set-cookie", "theme=dark; Path=/")]).is_ok());
        assert_eq!(
            without_session_cookies("a=1; picloud_session=s; b=2; __Host-picloud_session=t")
                .as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_session_cookies("picloud_session=s"), None);
    }
}
