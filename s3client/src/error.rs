//! The error taxonomy of the client.
//!
//! Two families: what the store answered ([`S3Error::NotFound`] … [`S3Error::Service`],
//! each with the parsed S3 error document), and this client's own failures to get an answer
//! ([`S3Error::Transport`], [`S3Error::Timeout`], [`S3Error::InvalidResponse`]).

/// The parsed `<Error>` document of a failed S3 request, plus the HTTP status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    pub status: u16,
    /// S3 error code, e.g. `SignatureDoesNotMatch`; empty when the body had none (HEAD).
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl std::fmt::Display for ErrorDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.request_id.is_empty() {
            write!(f, " (request id {})", self.request_id)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    /// The key does not exist (404 NoSuchKey, or a 404 HEAD).
    #[error("object not found ({0})")]
    NotFound(ErrorDetails),
    /// The bucket does not exist (404 NoSuchBucket).
    #[error("bucket not found ({0})")]
    NoSuchBucket(ErrorDetails),
    /// 403 other than a signature problem: AccessDenied, InvalidAccessKeyId, ...
    #[error("access denied ({0})")]
    AccessDenied(ErrorDetails),
    /// 403 SignatureDoesNotMatch (wrong secret, wrong region, or a signing bug).
    #[error("signature does not match: check the secret key and the region ({0})")]
    SignatureMismatch(ErrorDetails),
    /// 412: an `If-Match` precondition failed (the object changed).
    #[error("precondition failed: the object changed ({0})")]
    PreconditionFailed(ErrorDetails),
    /// 416 InvalidRange.
    #[error("invalid range ({0})")]
    InvalidRange(ErrorDetails),
    /// 429, 503 SlowDown and similar: retried, and this is what remains after the retries.
    #[error("throttled by the server ({0})")]
    Throttled(ErrorDetails),
    /// Any other 5xx.
    #[error("server error ({0})")]
    Server(ErrorDetails),
    /// Any other 4xx.
    #[error("request rejected ({0})")]
    Service(ErrorDetails),
    /// Could not connect, connection reset, TLS failure, DNS failure.
    #[error("transport error: {0}")]
    Transport(String),
    /// No answer (or no further body bytes) within the configured timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered something this client cannot understand.
    #[error("invalid response from the server: {0}")]
    InvalidResponse(String),
}

impl S3Error {
    /// The server's error details, when the server answered.
    pub fn details(&self) -> Option<&ErrorDetails> {
        match self {
            S3Error::NotFound(d)
            | S3Error::NoSuchBucket(d)
            | S3Error::AccessDenied(d)
            | S3Error::SignatureMismatch(d)
            | S3Error::PreconditionFailed(d)
            | S3Error::InvalidRange(d)
            | S3Error::Throttled(d)
            | S3Error::Server(d)
            | S3Error::Service(d) => Some(d),
            S3Error::Transport(_) | S3Error::Timeout(_) | S3Error::InvalidResponse(_) => None,
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            S3Error::Throttled(_)
                | S3Error::Server(_)
                | S3Error::Transport(_)
                | S3Error::Timeout(_)
        )
    }

    /// Classify an answer of the server from its status and S3 error code.
    pub fn from_status(details: ErrorDetails) -> S3Error {
        match (details.status, details.code.as_str()) {
            (404, "NoSuchBucket") => S3Error::NoSuchBucket(details),
            (404, _) => S3Error::NotFound(details),
            (403, "SignatureDoesNotMatch") => S3Error::SignatureMismatch(details),
            (403, _) | (401, _) => S3Error::AccessDenied(details),
            (412, _) => S3Error::PreconditionFailed(details),
            (416, _) => S3Error::InvalidRange(details),
            (429, _) | (503, "SlowDown") | (_, "SlowDown") | (_, "Throttling") => {
                S3Error::Throttled(details)
            }
            (500..=599, _) => S3Error::Server(details),
            _ => S3Error::Service(details),
        }
    }
}
