//! One INFO line per HTTP request (per attempt), at target `s3client::request`.
//!
//! Fields: `op`, `method`, `bucket`, `key` (object requests) or `prefix` (listings),
//! `range` (ranged GETs: the first and last byte asked for), `status` (absent when no
//! answer came), `bytes` (body bytes received), `sent` (body bytes sent: uploads),
//! `elapsed_ms`, `attempt` (1 = first try), and `error` when the request failed. Headers are never logged,
//! so neither the `Authorization` header nor a session token can reach a log.
//!
//! The line is written when the [`RequestLog`] is dropped, which makes "exactly once" hold on
//! every path: an early return, a finished GET body, or a GET body dropped half read.

use std::sync::Arc;
use std::time::Instant;

use crate::S3Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Key,
    Prefix,
}

#[derive(Debug)]
pub(crate) struct RequestLog {
    op: &'static str,
    method: &'static str,
    bucket: Arc<str>,
    subject: Subject,
    name: String,
    attempt: u32,
    start: Instant,
    /// The range of a ranged GET (formatted only when the line is written).
    pub range: Option<crate::ByteRange>,
    pub status: Option<u16>,
    pub bytes: u64,
    pub sent: u64,
    pub error: Option<String>,
}

impl RequestLog {
    pub fn new(
        op: &'static str,
        method: &'static str,
        bucket: Arc<str>,
        subject: Subject,
        name: &str,
        attempt: u32,
    ) -> Self {
        RequestLog {
            op,
            method,
            bucket,
            subject,
            name: name.to_string(),
            attempt,
            start: Instant::now(),
            range: None,
            status: None,
            bytes: 0,
            sent: 0,
            error: None,
        }
    }

    /// Record a failure (keeps the first one).
    pub fn fail(&mut self, e: &S3Error) {
        if self.error.is_none() {
            self.error = Some(e.to_string());
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let elapsed_ms = self.start.elapsed().as_millis() as u64;
        let error = self.error.as_deref();
        let range = self.range.map(tracing::field::display);
        match self.subject {
            Subject::Key => tracing::info!(
                target: "s3client::request",
                op = self.op,
                method = self.method,
                bucket = &*self.bucket,
                key = ?self.name,
                range,
                status = self.status,
                bytes = self.bytes,
                sent = self.sent,
                elapsed_ms,
                attempt = self.attempt,
                error,
            ),
            Subject::Prefix => tracing::info!(
                target: "s3client::request",
                op = self.op,
                method = self.method,
                bucket = &*self.bucket,
                prefix = ?self.name,
                status = self.status,
                bytes = self.bytes,
                sent = self.sent,
                elapsed_ms,
                attempt = self.attempt,
                error,
            ),
        }
    }
}
