//! A small HTTP/1.1 server loop on loopback for the local stand-ins, with graceful stop.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub type HttpResponse = Response<Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serve `handler` on `listener` until `stopped` turns true, then let open connections
/// finish (for up to 2 s). An `Err` from the handler drops the connection, as hyper does.
pub async fn serve<F, Fut, B, E>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    handler: F,
) where
    F: Fn(http::Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    E: Into<BoxError>,
{
    let server = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, peer)) = accepted else { continue };
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |req| handler.clone()(req, peer));
                let conn = server.serve_connection(TokioIo::new(socket), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move { let _ = conn.await; });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), graceful.shutdown()).await;
}

/// Read a whole request body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ()> {
    Limited::new(body, limit)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| ())
}

pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// API Gateway's own answers, which never reach a function: `{"message": …}`.
pub fn gateway_message(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "message": message }))
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    respond(status, "application/json", value.to_string())
}
