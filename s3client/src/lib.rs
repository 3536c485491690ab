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
//! (headers, error classification), `body` (the streamed GET), `upload` (request bodies:
//! bytes, streamed files, `Expect: 100-continue`), `retry`, `log`, `client` (reads) and
//! `client::write` (PUT, DELETE, copy).
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
//! - PUT ([`ObjectClient::put_object`]): one plain request, as s3fs sends it (§2.9 of the
//!   s3fs notes) and as OCI requires: `Content-Length` (also `0`), `Content-Type` (the given
//!   one, else `application/octet-stream`), `x-amz-meta-NAME` per metadata entry (names
//!   lower-cased), and `x-amz-content-sha256` = the real SHA-256 of the body, signed with
//!   `content-type` and the `x-amz-meta-*` headers. Never `Transfer-Encoding: chunked`,
//!   `aws-chunked`, checksum trailers, `Content-MD5` or `UNSIGNED-PAYLOAD`. The result's
//!   ETag is the answer's `ETag` header.
//!   - A [`PutBody::File`] is hashed (first `len` bytes), then streamed in 256 KiB reads on
//!     the blocking pool, from the same open file; never whole in memory. The bytes sent are
//!     hashed again: a file that ends early, changes size, or changes bytes fails the body
//!     *before its last chunk*, so the server never stores a partial or mixed object. A file
//!     that is missing, unreadable or shorter than `len` fails before anything is sent.
//!     These local failures are [`S3Error::Transport`] naming the file, and are not retried.
//!   - `Expect: 100-continue` (unsigned) goes with bodies of 64 KiB or more, and the body
//!     waits for `100 Continue` (at most 1 s, then it goes anyway, as curl does). Reason:
//!     a store that refuses a PUT (Garage for a wrong secret: 403 at once, then it closes)
//!     answers before reading the body; a client still writing a large body then gets a
//!     broken pipe, and hyper reports that instead of the answer (seen with a 5 MiB body on
//!     Garage: `Transport(... Broken pipe)`, retried, never `AccessDenied`). With the wait,
//!     the 403 comes back and no body byte is sent. Empty bodies never carry `Expect`
//!     (Garage stalls the next request on the connection after a 0-byte PUT with it); small
//!     bodies fit in the socket buffer at once. hyper has no 100-continue support of its
//!     own: the 1xx answer is observed with `hyper::ext::on_informational`.
//!   - An upload times out when its body stops moving: the wait is `read_timeout` after the
//!     last chunk was handed to the connection (before the first: `connect_timeout +
//!     read_timeout`), so a multi-GB upload is not cut off after a fixed time. Bytes already
//!     in the kernel's socket buffers count as moved.
//!   - Retries re-read and re-hash the file and re-sign the request.
//! - DELETE ([`ObjectClient::delete_object`]): 204; a 404 is success too (S3 answers 204
//!   for a missing key; some stores 404).
//! - Copy ([`ObjectClient::copy_object`]): `PUT dest` with `x-amz-copy-source:
//!   /BUCKET/KEY` encoded once with [`sigv4::encode_path`] (path style or not; space `%20`,
//!   `+` `%2B`, UTF-8 percent-encoded), `x-amz-copy-source-if-match` when given, and with
//!   metadata `x-amz-metadata-directive: REPLACE`, `Content-Type` (default
//!   `application/octet-stream`: with REPLACE, a content type not sent is lost) and the
//!   `x-amz-meta-*` headers. The ETag comes from the `<CopyObjectResult>` body. A 200
//!   whose body is an `<Error>` (S3 sends the status before the copy finishes) is that
//!   error, classified by its code as with its usual status (`InternalError` and unknown
//!   codes: [`S3Error::Server`], retried, as the AWS SDKs do); leading whitespace (S3's
//!   keep-alive spaces during a long copy) is skipped.
//! - Retries: [`S3Error::is_retryable`] errors only, `retries` extra attempts, exponential
//!   backoff 100 ms doubling to 5 s with equal jitter; a GET only until its body starts.
//! - Timeouts: `connect_timeout` on TCP connect; response headers within
//!   `connect_timeout + read_timeout` (the pooled client does not separate the two); each
//!   body chunk within `read_timeout`.
//! - Logging: one INFO line per HTTP request at target `s3client::request` (ops
//!   `HeadObject`, `GetObject`, `ListObjects`, `CheckBucket`, `PutObject`, `DeleteObject`,
//!   `CopyObject`; `sent=` counts uploaded body bytes); no header is ever logged.
//! - What stores answer (tested): a wrong secret is 403 `AccessDenied` on Garage
//!   ([`S3Error::AccessDenied`]; AWS says `SignatureDoesNotMatch`); a wrong region is 400
//!   `AuthorizationHeaderMalformed` on Garage ([`S3Error::Service`]); a HEAD has no body, so
//!   its 403/404 carry no code. A PUT, DELETE or copy with a wrong secret is 403
//!   `AccessDenied` on Garage too, whatever the body size, and stores nothing. moto and
//!   Garage both answer `100 Continue` at once. The ETag of a copy (also an in-place
//!   metadata REPLACE) is the source's (the MD5 of the bytes) on both. moto ignores
//!   `x-amz-copy-source-if-match` (the copy happens anyway); Garage answers 412.

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
