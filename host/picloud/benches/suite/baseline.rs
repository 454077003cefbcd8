//! The reference for the end-to-end benchmarks: a minimal axum handler that
//! returns the same bytes as PiCloud's Hello World, in its own process on a
//! default multi-threaded tokio runtime (what `picloud` runs on too), so both
//! sides of the ratio pay for a process, a runtime and hyper alike.

use axum::Router;
use axum::routing::get;

pub(crate) fn serve() {
    tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            println!("baseline listening on http://{addr}");
            let app = Router::new().route("/hello", get(|| async { "Hello, World!" }));
            axum::serve(listener, app).await.expect("serve");
        });
}
