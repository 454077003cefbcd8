//! The HTTP server loop. `axum::serve` has no read timeouts, so a client
//! that trickles its headers or body in byte by byte could hold a
//! connection, and its memory, forever. This loop is the same
//! accept-and-spawn, with hyper's header timeout and size limits switched on,
//! and a bound on how long shutdown waits for in-flight requests.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// Connection-level limits of the HTTP server, and whose word it takes.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Peers whose `x-request-id` is kept (a proxy that already logged the
    /// request under it); anyone else's is replaced by a fresh id.
    pub trusted_proxies: shared::TrustedProxies,
    /// Time a client has to send a request's line and headers, counted from
    /// when the server starts waiting for them (also on an idle keep-alive
    /// connection); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body (`408` after it).
    pub body_read_timeout: Duration,
    /// Largest request line plus headers, in bytes (`431` above it).
    pub max_header_bytes: usize,
    /// Most header fields in one request (`431` above it).
    pub max_headers: usize,
    /// How long a graceful stop waits for in-flight requests before it
    /// closes their connections.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            trusted_proxies: shared::TrustedProxies::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to `limits.shutdown_grace` for open requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(err) => {
                    // Out of file descriptors and the like: the condition
                    // passes as connections close, so wait a moment rather
                    // than spin on the error.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer address feeds the sign-in throttle (`ConnectInfo`).
        let service = app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(Lingering(Some(stream))),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "requests still running after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// How long a closed connection keeps reading what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read (and dropped) from a closed connection.
const LINGER_BYTES: u64 = 16 << 20;

/// A connection that closes the way nginx's `lingering_close` does. When the
/// server answers before reading the whole request (413 for an oversized
/// body, 408), hyper sends the response, shuts down its side and drops the
/// socket; closing a socket with unread data makes the kernel send a reset,
/// and a reset can reach the client before it has read the response — so the
/// client sees "connection reset" instead of the 413. Here the socket,
/// once dropped, keeps reading and discarding for a bounded time and amount
/// until the client closes its side, and only then closes.
struct Lingering(Option<TcpStream>);

impl Lingering {
    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.0.as_mut().expect("only taken on drop"))
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().stream().poll_shutdown(cx)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let (Some(mut stream), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            // Our side is usually shut down already (hyper does after a
            // `Connection: close` response); if not, the client learns now
            // that nothing more is coming, and closes its side.
            let _ = stream.shutdown().await;
            let mut rest = tokio::io::AsyncReadExt::take(&mut stream, LINGER_BYTES);
            let mut sink = tokio::io::sink();
            let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut rest, &mut sink)).await;
        });
    }
}
