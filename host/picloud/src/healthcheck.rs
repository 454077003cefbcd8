//! `picloud healthcheck`: a liveness probe for container runtimes, so a
//! minimal image needs no curl. Docker runs it every interval (the image's
//! `HEALTHCHECK`), keeps its last line of output and treats exit 0 as healthy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The URL probed when none is given: `/healthz` on the address the server
/// listens on (`PICLOUD_LISTEN`), with a wildcard address replaced by
/// loopback, so the probe follows the server's setting in the same container.
pub(crate) fn default_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// GETs `url` once and prints one line saying why it is healthy or not.
/// Returns whether it answered 200 within `timeout`.
pub(crate) async fn probe(url: &str, timeout: Duration) -> bool {
    match get(url, timeout).await {
        Ok(status) if status == reqwest::StatusCode::OK => {
            println!("healthy: {url} answered {status}");
            true
        }
        Ok(status) => {
            eprintln!("unhealthy: {url} answered {status}");
            false
        }
        Err(err) => {
            eprintln!("unhealthy: {url}: {err:#}");
            false
        }
    }
}

async fn get(url: &str, timeout: Duration) -> anyhow::Result<reqwest::StatusCode> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // The probe asks this server, not whatever a redirect or an
        // HTTP_PROXY in the container's environment points at.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    Ok(client.get(url).send().await?.status())
}

#[cfg(test)]
mod tests {
    use super::default_url;

    #[test]
    fn default_url_probes_loopback_for_wildcard_addresses() {
        let url = |listen: &str| default_url(listen.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(url("[::]:9000"), "http://[::1]:9000/healthz");
        assert_eq!(url("10.0.0.5:8080"), "http://10.0.0.5:8080/healthz");
    }
}
