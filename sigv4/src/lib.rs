//! AWS Signature Version 4, as S3 wants it.
//!
//! Pure: no I/O, no clock. The caller passes the time, so tests are deterministic.
//!
//! The one rule that matters most for S3: the path is encoded **once** (RFC 3986 unreserved
//! characters and `/` kept, every other byte `%XX` upper-case), and the very same encoded path
//! is both sent on the wire and used as the canonical URI. [`encode_path`] and
//! [`canonical_query`] are public so the HTTP client builds its URLs with the same functions
//! the signer uses.
//!
//! Why S3 encodes once: general SigV4 signs a path that was normalised and encoded twice,
//! which would make keys such as `a//b`, `./x` or `dir/` unaddressable. S3 keys are arbitrary
//! byte strings, so S3 signs the path exactly as sent (see [`encode_path`]).
//!
//! API:
//! - [`Credentials`]: access key, secret, optional session token; `Debug` never prints secrets.
//! - [`Signer::new(region, service)`](Signer::new): caches the derived signing key per
//!   UTC day (and secret); the region and service are fixed per signer.
//! - [`Signer::sign`]: returns the headers to add (`x-amz-date`, `x-amz-content-sha256`,
//!   `x-amz-security-token` if any, `authorization`).
//! - [`Signer::presign`]: the query string of a presigned URL.
//! - [`encode_path`], [`encode_query_component`], [`canonical_query`], [`sha256_hex`]: the
//!   building blocks, public so URLs are built with exactly what is signed.
//!
//! One module per job: `encode` (percent-encoding), `canonical` (canonical query, headers and
//! request), `date` (the two UTC renderings of the time), `hash` (SHA-256, HMAC), `key`
//! (signing-key derivation and its per-day cache), `sign` (the `Authorization` header),
//! `presign` (query-string signing).

mod canonical;
mod date;
mod encode;
mod hash;
mod key;
mod presign;
mod sign;

pub use canonical::canonical_query;
pub use encode::{encode_path, encode_query_component};
pub use hash::sha256_hex;
pub use sign::Signer;

use std::fmt;

/// SHA-256 of the empty string, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The `x-amz-content-sha256` value for an unsigned payload.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Long-term or temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How the payload enters the signature.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body: its SHA-256 is computed and signed.
    Bytes(&'a [u8]),
    /// A SHA-256 (lower-case hex) the caller already computed.
    Sha256Hex(&'a str),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

/// A request to sign. Everything is raw (not yet percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The raw path, starting with `/` (e.g. `/bucket/dir/a b+c.txt`).
    pub path: &'a str,
    /// Raw query parameters in any order; a parameter without value has `""`.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign; must include `host` (as sent, with a non-default port). Names in any
    /// case; a name given twice is signed as one header with the values joined by `,`. The
    /// signer adds `x-amz-date`, `x-amz-content-sha256` and, with a session token,
    /// `x-amz-security-token` itself; values given here under those names (or
    /// `authorization`) are ignored.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: Payload<'a>,
}

/// The result of signing: headers the caller must add to the request as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Lower-case names: `x-amz-date`, `x-amz-content-sha256`, optionally
    /// `x-amz-security-token`, and `authorization`.
    pub headers: Vec<(String, String)>,
    /// Hex signature (also inside `authorization`).
    pub signature: String,
    /// The canonical request that was signed (for debugging signature mismatches).
    pub canonical_request: String,
}
