//! The accept loop: one hyper connection per TCP stream, with the timeouts a public endpoint
//! needs. A client that sends its request head slower than `http.header_read_timeout_ms`
//! (slowloris) is disconnected, and a request body that sends nothing for
//! `http.body_idle_timeout_ms` fails (its reader gets an error); at shutdown, open connections finish their requests and close.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request head (request line and headers) a client may send.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    body_idle_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A request head larger than this is refused (431) instead of buffered.
        .max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a keep-alive client waits out its delayed ACK (~40 ms) whenever a
        // response leaves in two segments (headers, then the streamed body).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(tower_http::timeout::RequestBodyTimeout::new(
            app.clone(),
            body_idle_timeout,
        ));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::trace!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers one connection made while the node is still starting: every request gets 503
/// `starting` (with `Retry-After`), and the connection closes after it, so the client's next
/// request reaches the started node.
pub async fn answer_starting(stream: tokio::net::TcpStream) {
    let app: Router = Router::new().fallback(|| async {
        crate::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the node is starting",
        )
        .retry_after(1)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(5));
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    if tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .is_err()
    {
        tracing::debug!("a connection made while starting was cut");
    }
}
