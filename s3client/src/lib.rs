//! Our own S3 client.
//!
//! - [`ObjectClient`]: the small async trait the filesystem is generic over. Each operation
//!   has its own request and result types ([`types`]).
//! - [`S3Client`]: the real client on hyper 1 + hyper-rustls, signing with [`sigv4`].
//! - `MockClient` (cargo feature `mock`): an in-memory bucket for tests of the layers above.
//!
//! # How `S3Client` behaves on the wire
//! One module per job: `request` (URLs, signing), `transport` (pooled hyper client,
//! timeouts), `tls` (rustls with the ring provider), `xml` (quick-xml documents), `response`
//! (headers, error classification), `body` (the streamed GET), `retry`, `log`, `client`.
//!
//! - Every request is signed (SigV4, configured region, real empty-body SHA-256, `host`
//!   signed); anonymous when [`S3Config::credentials`] is `None`.
//! - Listings are ListObjects V1 by default (`GET /bucket/?delimiter=/&max-keys=..&prefix=..`,
//!   as s3fs sends them), V2 with [`ListVersion::V2`]; `encoding-type=url` is not sent, but a
//!   page that says `<EncodingType>url</EncodingType>` is decoded (`+` is a space there:
//!   AWS form-encodes; moto and Garage send `%20`/`%2B`). [`ListPage::next`] is opaque:
//!   pass it back unchanged. V1 continues from NextMarker, else from the greater of the last
//!   key and the last common prefix; V1 pages drop common prefixes the previous page already
//!   returned (Garage repeats them when a prefix spans its internal batches). moto's V1 still
//!   repeats every common prefix on every page (and max-keys counts keys only): callers that
//!   merge pages should tolerate a repeated prefix. A truncated page that cannot continue is
//!   [`S3Error::InvalidResponse`].
//! - `check_bucket` lists one key (`GET /bucket/?max-keys=1`), so the body names the error.
//! - GET: `Range: bytes=a-b` (inclusive), `If-Match`; `info.size` is the object's total size;
//!   a body shorter than its Content-Length ends the stream with [`S3Error::Transport`]; a
//!   server that ignores `Range` (200) has the range cut out for it. An empty range sends a
//!   HEAD instead (S3 refuses empty ranges).
//! - Retries: [`S3Error::is_retryable`] errors only, `retries` extra attempts, exponential
//!   backoff 100 ms doubling to 5 s with equal jitter; a GET only until its body starts.
//! - Timeouts: `connect_timeout` on TCP connect; response headers within
//!   `connect_timeout + read_timeout` (the pooled client does not separate the two); each
//!   body chunk within `read_timeout`.
//! - Logging: one INFO line per HTTP request at target `s3client::request`; no header is
//!   ever logged.
//! - What stores answer (tested): a wrong secret is 403 `AccessDenied` on Garage
//!   ([`S3Error::AccessDenied`]; AWS says `SignatureDoesNotMatch`); a wrong region is 400
//!   `AuthorizationHeaderMalformed` on Garage ([`S3Error::Service`]); a HEAD has no body, so
//!   its 403/404 carry no code.

mod body;
mod client;
mod config;
mod error;
mod log;
mod request;
mod response;
mod retry;
mod tls;
mod transport;
pub mod types;
mod upload;
mod xml;

pub use client::S3Client;
pub use config::{Addressing, Endpoint, ListVersion, S3Config};
pub use sigv4::Credentials;

pub use error::{ErrorDetails, S3Error};
pub use types::{
    ByteRange, ByteStream, CopyRequest, GetRequest, GetResponse, ListPage, ListRequest,
    ListedObject, ObjectInfo, PutBody, PutRequest, PutResult,
};

#[cfg(feature = "mock")]
pub mod mock;

use std::future::Future;

/// The operations the filesystem needs from an object store.
///
/// Implementations must be cheap to share (`Arc` inside) and safe to call concurrently.
pub trait ObjectClient: Send + Sync + 'static {
    /// HEAD one object. [`S3Error::NotFound`] when it does not exist.
    fn head_object(&self, key: &str) -> impl Future<Output = Result<ObjectInfo, S3Error>> + Send;

    /// GET an object or a byte range of it, body streamed.
    fn get_object(
        &self,
        request: GetRequest,
    ) -> impl Future<Output = Result<GetResponse, S3Error>> + Send;

    /// One page of a listing.
    fn list_objects(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage, S3Error>> + Send;

    /// Check that the bucket exists and the credentials may read it.
    fn check_bucket(&self) -> impl Future<Output = Result<(), S3Error>> + Send;

    /// Upload a whole object in one PUT, replacing what was there.
    fn put_object(
        &self,
        request: PutRequest,
    ) -> impl Future<Output = Result<PutResult, S3Error>> + Send;

    /// Delete one object. Deleting a key that does not exist succeeds, as in S3.
    fn delete_object(&self, key: &str) -> impl Future<Output = Result<(), S3Error>> + Send;

    /// Copy an object inside the bucket on the server, optionally replacing its metadata.
    /// [`S3Error::NotFound`] when the source does not exist.
    fn copy_object(
        &self,
        request: CopyRequest,
    ) -> impl Future<Output = Result<PutResult, S3Error>> + Send;
}
