//! The HTTP transport: one pooled hyper-util client (keep-alive connections reused across
//! requests, never one TLS handshake per request) over hyper-rustls, for http and https.
//!
//! Timeouts: `connect_timeout` bounds TCP connect on the connector; the wait for response
//! headers and for each body chunk is bounded by `read_timeout` (see [`send`], [`next_chunk`]);
//! an upload's wait is counted from the last body chunk it handed over (see [`send`]).

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::upload::{Progress, RequestBody};
use crate::{tls, S3Config, S3Error};

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// Idle pooled connections are closed after this long (S3 closes its side after about 20 s
/// idle; a shorter client timeout avoids reusing a connection the server just dropped).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) fn build_client(config: &S3Config) -> Result<HttpClient, S3Error> {
    let tls = tls::client_config(config)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(30)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}

/// Send one request and wait for the response headers.
///
/// The bound is `connect_timeout + read_timeout`: the legacy client does not tell connecting
/// apart from waiting, and the connector enforces `connect_timeout` itself. An upload (with
/// `progress`) is bounded by its progress instead: once its body has started, the wait is
/// at most `read_timeout` after the last body chunk was taken, so a long upload that keeps
/// moving never times out, and a stalled one (or one whose answer does not come) does.
pub(crate) async fn send(
    client: &HttpClient,
    request: http::Request<RequestBody>,
    config: &S3Config,
    progress: Option<&Progress>,
) -> Result<http::Response<Incoming>, S3Error> {
    let bound = config.connect_timeout.saturating_add(config.read_timeout);
    let started = tokio::time::Instant::now();
    let deadline = || match progress.and_then(Progress::last_activity) {
        Some(last) => tokio::time::Instant::from_std(last) + config.read_timeout,
        None => started + bound,
    };
    let response = client.request(request);
    tokio::pin!(response);
    loop {
        match tokio::time::timeout_at(deadline(), &mut response).await {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(e)) => return Err(classify_error(&e)),
            // The body may have moved since the deadline was computed.
            Err(_) if deadline() > tokio::time::Instant::now() => continue,
            Err(_) => {
                let what = match progress.and_then(Progress::last_activity) {
                    Some(_) => format!(
                        "upload stalled: no progress and no response for {} s ({:.0} s since the request started)",
                        config.read_timeout.as_secs_f64(),
                        started.elapsed().as_secs_f64()
                    ),
                    None => format!("no response within {} s", bound.as_secs_f64()),
                };
                return Err(S3Error::Timeout(what));
            }
        }
    }
}

/// Transport errors: a timeout anywhere in the cause chain (connect timeout) is a
/// [`S3Error::Timeout`], everything else [`S3Error::Transport`], with the whole chain.
pub(crate) fn classify_error(e: &(dyn StdError + 'static)) -> S3Error {
    let mut message = e.to_string();
    let mut timed_out = false;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        let text = s.to_string();
        timed_out |= text.contains("timed out") || text.contains("timeout");
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    if timed_out {
        S3Error::Timeout(message)
    } else {
        S3Error::Transport(message)
    }
}

/// The next data chunk of a body, `Ok(None)` at its end; waits at most `read_timeout`.
/// Trailers are skipped.
pub(crate) async fn next_chunk(
    body: &mut Incoming,
    read_timeout: Duration,
) -> Result<Option<Bytes>, S3Error> {
    loop {
        match tokio::time::timeout(read_timeout, body.frame()).await {
            Err(_) => {
                return Err(S3Error::Timeout(format!(
                    "no body bytes within {} s",
                    read_timeout.as_secs_f64()
                )))
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(classify_error(&e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// Read a whole (small) body: listings and error documents. At most `limit` bytes are kept;
/// with `fail_over_limit` a longer body is an error, otherwise it is cut (error documents).
pub(crate) async fn read_body(
    body: &mut Incoming,
    read_timeout: Duration,
    limit: usize,
    fail_over_limit: bool,
) -> Result<Bytes, S3Error> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = next_chunk(body, read_timeout).await? {
        if buf.len() + chunk.len() > limit {
            if fail_over_limit {
                return Err(S3Error::InvalidResponse(format!(
                    "response body longer than {limit} bytes"
                )));
            }
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
