//! Request and result types of the [`ObjectClient`](crate::ObjectClient) operations.

use std::collections::BTreeMap;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use time::OffsetDateTime;

use crate::S3Error;

/// What a HEAD (or the headers of a GET) says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    /// Total size of the object in bytes (not of a ranged response).
    pub size: u64,
    /// The ETag as the server sent it, quotes included.
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub content_type: Option<String>,
    /// User metadata: `x-amz-meta-NAME` headers, NAME lower-cased, prefix removed.
    pub metadata: BTreeMap<String, String>,
}

/// A byte range `start..end` (end exclusive), as asked for in a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn new(start: u64, end: u64) -> Self {
        debug_assert!(start <= end);
        Self { start, end }
    }
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// HTTP's form: the first and the last byte, both included (`0-1023`).
impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end.saturating_sub(1))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetRequest {
    pub key: String,
    /// `None` reads the whole object. An empty range must not be sent (S3 answers
    /// InvalidRange for `bytes=0-` on an empty object); callers skip the request.
    pub range: Option<ByteRange>,
    /// Send `If-Match` with this ETag: the read fails with [`S3Error::PreconditionFailed`]
    /// if the object changed since it was looked up.
    pub if_match: Option<String>,
}

/// The body of a GET as a stream of chunks, in order.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, S3Error>> + Send>>;

pub struct GetResponse {
    /// Information about the whole object (size is the total size, not the range's).
    pub info: ObjectInfo,
    /// The bytes of the asked range (or of the whole object).
    pub body: ByteStream,
}

impl std::fmt::Debug for GetResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResponse")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    /// Usually `Some("/")`; `None` lists everything under the prefix.
    pub delimiter: Option<String>,
    /// Opaque continuation from the previous page's [`ListPage::next`].
    pub continuation: Option<String>,
    /// Page size; the server's default (1000) when `None`.
    pub max_keys: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The full key, already URL-decoded when the server used `encoding-type=url`.
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects in key order.
    pub objects: Vec<ListedObject>,
    /// Common prefixes (each ends with the delimiter), in order.
    pub common_prefixes: Vec<String>,
    /// Where the next page starts; `None` when this was the last page. Opaque to callers:
    /// for ListObjects V1 it is a marker, for V2 a continuation token.
    pub next: Option<String>,
}

/// The body of a PUT.
#[derive(Debug, Clone)]
pub enum PutBody {
    Bytes(Bytes),
    /// The first `len` bytes of a local file, read (twice: once for the payload SHA-256,
    /// once to send) when the request is made, and again on each retry. A file shorter than
    /// `len`, or one that changes while it is sent, fails the upload; nothing is stored.
    File {
        path: std::path::PathBuf,
        len: u64,
    },
}

impl PutBody {
    pub fn len(&self) -> u64 {
        match self {
            PutBody::Bytes(b) => b.len() as u64,
            PutBody::File { len, .. } => *len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A single-request upload (no multipart, no aws-chunked encoding: a plain body with its
/// real SHA-256 signed, as s3fs sends it and as Oracle's endpoint requires).
#[derive(Debug, Clone)]
pub struct PutRequest {
    pub key: String,
    pub body: PutBody,
    /// `None`: `application/octet-stream`.
    pub content_type: Option<String>,
    /// User metadata, sent as `x-amz-meta-NAME` (names lower-case, without the prefix).
    pub metadata: BTreeMap<String, String>,
}

/// What a PUT or a copy answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The new object's ETag, quotes included, as the server sent it (empty if it sent none).
    pub etag: String,
}

/// A server-side copy (`PUT` with `x-amz-copy-source`): no data passes through the client.
/// Also the way to change an object's metadata in place (`source_key == dest_key` with
/// `metadata: Some`; S3 refuses a copy onto itself that replaces nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyRequest {
    pub source_key: String,
    pub dest_key: String,
    /// `None`: the copy keeps the source's metadata and content type
    /// (`x-amz-metadata-directive: COPY`, the default). `Some`: they are replaced
    /// (`REPLACE`) by these names (lower-case, without `x-amz-meta-`) and by `content_type`.
    pub metadata: Option<BTreeMap<String, String>>,
    /// The new content type when `metadata` is `Some` (`application/octet-stream` when
    /// `None`, as for a PUT); ignored when `metadata` is `None`.
    pub content_type: Option<String>,
    /// Copy only if the source's ETag is this one (`x-amz-copy-source-if-match`), else
    /// [`S3Error::PreconditionFailed`].
    pub if_match: Option<String>,
}
