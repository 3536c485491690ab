//! Building one HTTP request: URL, `host` header, signature.
//!
//! Path-style: `scheme://host[:port]/base_path/bucket/key`; virtual-hosted:
//! `scheme://bucket.host[:port]/base_path/key`. A bucket-level request (listing) ends the path
//! with `/`, as s3fs does (`GET /bucket/?delimiter=/...`).
//!
//! The raw path is encoded once with [`sigv4::encode_path`] and the query with
//! [`sigv4::canonical_query`]: the URL sent is byte for byte what was signed. Every request is
//! signed with the configured region (OCI rejects a wrong one); the `host` header is set
//! explicitly and signed, as are `range` and `if-match`.

use http::header::{HeaderName, HeaderValue};
use time::OffsetDateTime;

use crate::upload::RequestBody;
use crate::{Addressing, Credentials, Endpoint, S3Config, S3Error};

/// Where requests for one bucket go.
#[derive(Debug, Clone)]
pub(crate) struct Addresser {
    scheme: String,
    host: String,
    base_path: String,
    bucket: String,
    addressing: Addressing,
}

impl Addresser {
    pub fn new(config: &S3Config) -> Self {
        let e = &config.endpoint;
        let host = match config.addressing {
            Addressing::Path => e.authority(),
            Addressing::VirtualHosted => Endpoint {
                host: format!("{}.{}", config.bucket, e.host),
                ..e.clone()
            }
            .authority(),
        };
        let base_path = e.base_path.trim_end_matches('/');
        let base_path = if base_path.is_empty() || base_path.starts_with('/') {
            base_path.to_string()
        } else {
            format!("/{base_path}")
        };
        Addresser {
            scheme: e.scheme.clone(),
            host,
            base_path,
            bucket: config.bucket.clone(),
            addressing: config.addressing,
        }
    }

    /// The `host` header: host, plus the port when not the scheme's default.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The raw (not yet encoded) path of an object (`Some(key)`) or of the bucket (`None`).
    pub fn raw_path(&self, key: Option<&str>) -> String {
        let mut path = self.base_path.clone();
        if self.addressing == Addressing::Path {
            path.push('/');
            path.push_str(&self.bucket);
        }
        path.push('/');
        if let Some(key) = key {
            path.push_str(key);
        }
        path
    }

    /// The full URL for a raw path and raw query parameters.
    pub fn url(&self, raw_path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!(
            "{}://{}{}",
            self.scheme,
            self.host,
            sigv4::encode_path(raw_path)
        );
        if !query.is_empty() {
            url.push('?');
            url.push_str(&sigv4::canonical_query(query));
        }
        url
    }
}

/// What one request asks for; built again (and signed again) for every attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<'a> {
    pub method: &'a str,
    /// `None`: a bucket-level request.
    pub key: Option<&'a str>,
    pub query: &'a [(&'a str, &'a str)],
    /// Extra headers, lower-case names; all are signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The SHA-256 (lower-case hex) of the body [`build`] is given; `None`: empty body.
    pub payload_sha256: Option<&'a str>,
}

/// Build the request for `spec` with `body`, signed at `now` when there are credentials
/// (anonymous requests for public buckets go out unsigned).
///
/// A PUT always carries `Content-Length` (also `0`: S3 refuses a PUT without it), not
/// signed. `Expect: 100-continue` (not signed) goes with bodies that wait for it
/// ([`RequestBody::expect_continue`]); 1xx answers are passed to the handshake.
pub(crate) fn build(
    addresser: &Addresser,
    signer: &sigv4::Signer,
    credentials: Option<&Credentials>,
    user_agent: Option<&HeaderValue>,
    spec: &Spec<'_>,
    body: RequestBody,
    now: OffsetDateTime,
) -> Result<http::Request<RequestBody>, S3Error> {
    let raw_path = addresser.raw_path(spec.key);
    let url = addresser.url(&raw_path, spec.query);

    let mut signed_headers: Vec<(&str, &str)> = Vec::with_capacity(spec.headers.len() + 1);
    signed_headers.push(("host", addresser.host()));
    signed_headers.extend_from_slice(spec.headers);

    let mut builder = http::Request::builder().method(spec.method).uri(&url);
    for (name, value) in &signed_headers {
        builder = builder.header(*name, header_value(value)?);
    }
    if let Some(credentials) = credentials {
        let signed = signer.sign(
            credentials,
            &sigv4::Request {
                method: spec.method,
                path: &raw_path,
                query: spec.query,
                headers: &signed_headers,
                payload: sigv4::Payload::Sha256Hex(
                    spec.payload_sha256.unwrap_or(sigv4::EMPTY_SHA256),
                ),
            },
            now,
        );
        for (name, value) in &signed.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| S3Error::InvalidResponse(format!("bad header name {name:?}")))?;
            builder = builder.header(name, header_value(value)?);
        }
    }
    if let Some(ua) = user_agent {
        builder = builder.header(http::header::USER_AGENT, ua.clone());
    }
    if body.continue_handle().is_some() {
        // Not signed: proxies may drop or answer `Expect` themselves.
        builder = builder.header(http::header::EXPECT, "100-continue");
    }
    let length = hyper::body::Body::size_hint(&body).exact();
    if spec.method == "PUT" || length.is_some_and(|n| n > 0) {
        if let Some(n) = length {
            builder = builder.header(http::header::CONTENT_LENGTH, n);
        }
    }
    let handshake = body.continue_handle().cloned();
    let mut request = builder
        .body(body)
        .map_err(|e| S3Error::InvalidResponse(format!("cannot build a request for {url}: {e}")))?;
    if let Some(handshake) = handshake {
        hyper::ext::on_informational(&mut request, move |answer| {
            if answer.status() == http::StatusCode::CONTINUE {
                handshake.go();
            }
        });
    }
    Ok(request)
}

fn header_value(value: &str) -> Result<HeaderValue, S3Error> {
    // Values here are ours or came from the server (an ETag); a bad one names no secret.
    HeaderValue::from_str(value).map_err(|_| {
        S3Error::InvalidResponse(format!("value {value:?} cannot be sent in a header"))
    })
}

/// A `User-Agent` header from the configured string, dropping what a header cannot carry;
/// `None` when nothing is left (s3fs `noua`).
pub(crate) fn user_agent(ua: &str) -> Option<HeaderValue> {
    let clean: String = ua
        .chars()
        .filter(|c| c.is_ascii() && (*c == ' ' || c.is_ascii_graphic()))
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        None
    } else {
        HeaderValue::from_str(clean).ok()
    }
}

/// `Range: bytes=a-b` for our end-exclusive range (the wire's end is inclusive).
pub(crate) fn range_header(range: crate::ByteRange) -> String {
    format!("bytes={range}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresser(url: &str, addressing: Addressing) -> Addresser {
        let mut c = S3Config::new(Endpoint::parse(url).unwrap(), "my-bucket");
        c.addressing = addressing;
        Addresser::new(&c)
    }

    #[test]
    fn path_style_urls() {
        let a = addresser("http://127.0.0.1:9000", Addressing::Path);
        assert_eq!(a.host(), "127.0.0.1:9000");
        assert_eq!(a.raw_path(None), "/my-bucket/");
        assert_eq!(a.raw_path(Some("dir/a.txt")), "/my-bucket/dir/a.txt");
        assert_eq!(
            a.url(&a.raw_path(Some("dir/a.txt")), &[]),
            "http://127.0.0.1:9000/my-bucket/dir/a.txt"
        );
        // s3fs's listing, with the query sorted and encoded as signed.
        assert_eq!(
            a.url(
                &a.raw_path(None),
                &[
                    ("prefix", "d ir/"),
                    ("delimiter", "/"),
                    ("max-keys", "1000")
                ]
            ),
            "http://127.0.0.1:9000/my-bucket/?delimiter=%2F&max-keys=1000&prefix=d%20ir%2F"
        );
    }

    #[test]
    fn odd_keys_are_encoded_once() {
        let a = addresser("https://s3.example.com", Addressing::Path);
        let url = |k: &str| a.url(&a.raw_path(Some(k)), &[]);
        assert_eq!(url("a b"), "https://s3.example.com/my-bucket/a%20b");
        assert_eq!(url("a+b"), "https://s3.example.com/my-bucket/a%2Bb");
        assert_eq!(url("100%"), "https://s3.example.com/my-bucket/100%25");
        assert_eq!(url("a//b/"), "https://s3.example.com/my-bucket/a//b/");
        assert_eq!(url("~x=y"), "https://s3.example.com/my-bucket/~x%3Dy");
        assert_eq!(
            url("café/模型"),
            "https://s3.example.com/my-bucket/caf%C3%A9/%E6%A8%A1%E5%9E%8B"
        );
        assert_eq!(url("a?b#c"), "https://s3.example.com/my-bucket/a%3Fb%23c");
        // The empty key names the bucket itself.
        assert_eq!(url(""), "https://s3.example.com/my-bucket/");
        // Every URL we build parses as a URI.
        for k in [
            "a b",
            "a+b",
            "100%",
            "a//b/",
            "café/模型",
            "a?b#c",
            "",
            "/lead",
        ] {
            url(k).parse::<http::Uri>().unwrap();
        }
    }

    #[test]
    fn virtual_hosted_urls() {
        let a = addresser("http://s3.local:9000", Addressing::VirtualHosted);
        assert_eq!(a.host(), "my-bucket.s3.local:9000");
        assert_eq!(a.raw_path(None), "/");
        assert_eq!(a.raw_path(Some("a b")), "/a b");
        assert_eq!(
            a.url(&a.raw_path(Some("a b")), &[]),
            "http://my-bucket.s3.local:9000/a%20b"
        );
        let a = addresser("https://s3.amazonaws.com:443", Addressing::VirtualHosted);
        assert_eq!(a.host(), "my-bucket.s3.amazonaws.com");
        assert_eq!(
            a.url(&a.raw_path(Some("")), &[]),
            "https://my-bucket.s3.amazonaws.com/"
        );
    }

    #[test]
    fn base_path_is_kept() {
        let a = addresser("http://127.0.0.1:9000/svc/", Addressing::Path);
        assert_eq!(a.raw_path(Some("k")), "/svc/my-bucket/k");
        assert_eq!(a.raw_path(None), "/svc/my-bucket/");
        let a = addresser("http://h/svc", Addressing::VirtualHosted);
        assert_eq!(a.raw_path(Some("k")), "/svc/k");
        assert_eq!(a.host(), "my-bucket.h");
    }

    #[test]
    fn ranges_are_inclusive_on_the_wire() {
        assert_eq!(range_header(crate::ByteRange::new(0, 1)), "bytes=0-0");
        assert_eq!(range_header(crate::ByteRange::new(10, 20)), "bytes=10-19");
    }

    #[test]
    fn user_agent_is_sanitised() {
        assert_eq!(user_agent("mountd/0.1").unwrap(), "mountd/0.1");
        assert_eq!(user_agent("a\r\nb é").unwrap(), "ab");
        assert!(user_agent("").is_none());
        assert!(user_agent("  ").is_none());
    }

    #[test]
    fn signed_request_carries_host_date_and_authorization() {
        let a = addresser("http://127.0.0.1:9000", Addressing::Path);
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("TOKEN".into()),
        };
        let signer = sigv4::Signer::new("us-ashburn-1", "s3");
        let now = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let req = build(
            &a,
            &signer,
            Some(&creds),
            user_agent("ua/1").as_ref(),
            &Spec {
                method: "GET",
                key: Some("a b+c"),
                query: &[],
                headers: &[("range", "bytes=0-9")],
                payload_sha256: None,
            },
            RequestBody::empty(),
            now,
        )
        .unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9000/my-bucket/a%20b%2Bc");
        let h = req.headers();
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["range"], "bytes=0-9");
        assert_eq!(h["x-amz-date"], "20260102T030405Z");
        assert_eq!(h["x-amz-content-sha256"], sigv4::EMPTY_SHA256);
        assert_eq!(h["x-amz-security-token"], "TOKEN");
        assert_eq!(h["user-agent"], "ua/1");
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-ashburn-1/s3/aws4_request"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
            "{auth}"
        );

        // Anonymous: no signature headers at all.
        let req = build(
            &a,
            &signer,
            None,
            None,
            &Spec {
                method: "HEAD",
                key: Some("k"),
                query: &[],
                headers: &[],
                payload_sha256: None,
            },
            RequestBody::empty(),
            now,
        )
        .unwrap();
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get("x-amz-date").is_none());
        assert!(req.headers().get("user-agent").is_none());
    }
}
