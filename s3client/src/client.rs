//! [`S3Client`]: the real [`ObjectClient`] over HTTP.

mod write;

use std::sync::Arc;

use http::header::HeaderValue;
use hyper::body::Incoming;
use time::OffsetDateTime;

use crate::body::BodyReader;
use crate::log::{RequestLog, Subject};
use crate::request::{self, Addresser, Spec};
use crate::response::{self, content_length, object_info, parse_content_range};
use crate::retry::{self, Jitter, RetryPolicy, XorShiftJitter};
use crate::transport::{self, HttpClient};
use crate::upload::{Progress, RequestBody};
use crate::xml::{parse_list, ListDocument};
use crate::CopyRequest;
use crate::{
    ByteStream, GetRequest, GetResponse, ListPage, ListRequest, ListVersion, ObjectClient,
    ObjectInfo, PutRequest, PutResult, S3Config, S3Error,
};

/// Longest listing page accepted (1000 keys of 1 KiB each, with room to spare).
const MAX_LIST_BODY: usize = 16 << 20;
/// Longest error document kept (the rest is not read).
const MAX_ERROR_BODY: usize = 64 << 10;

/// An S3 client for one bucket: pooled keep-alive connections, SigV4 on every request,
/// retries with backoff. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: S3Config,
    bucket: Arc<str>,
    http: HttpClient,
    addresser: Addresser,
    signer: sigv4::Signer,
    user_agent: Option<HeaderValue>,
    retry: RetryPolicy,
    jitter: XorShiftJitter,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // S3Config's Debug goes through Credentials' Debug, which redacts the secrets.
        f.debug_struct("S3Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// Build a client. Needs no runtime and does no I/O except reading the CA certificates;
    /// fails only when the TLS configuration cannot be built (e.g. an unreadable
    /// `ca_bundle`), with [`S3Error::Transport`].
    pub fn new(config: S3Config) -> Result<S3Client, S3Error> {
        let http = transport::build_client(&config)?;
        Ok(S3Client {
            inner: Arc::new(Inner {
                bucket: Arc::from(config.bucket.as_str()),
                addresser: Addresser::new(&config),
                signer: sigv4::Signer::new(config.region.clone(), "s3"),
                user_agent: request::user_agent(&config.user_agent),
                retry: RetryPolicy::new(config.retries),
                jitter: XorShiftJitter::from_time(),
                http,
                config,
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Run `attempt` under the retry policy, sleeping on the tokio clock.
    async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, S3Error>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, S3Error>>,
    {
        let jitter: &dyn Jitter = &self.inner.jitter;
        retry::run(&self.inner.retry, jitter, tokio::time::sleep, attempt).await
    }

    /// Build, sign and send one request; a non-2xx answer becomes its classified error
    /// (reading the error document when the method has a body). The log gets the status.
    async fn execute(
        &self,
        spec: &Spec<'_>,
        log: &mut RequestLog,
    ) -> Result<http::Response<Incoming>, S3Error> {
        self.execute_with_body(spec, RequestBody::empty(), None, log)
            .await
    }

    /// [`Self::execute`] with a request body; `progress` is the upload's (see
    /// [`transport::send`]).
    async fn execute_with_body(
        &self,
        spec: &Spec<'_>,
        body: RequestBody,
        progress: Option<&Progress>,
        log: &mut RequestLog,
    ) -> Result<http::Response<Incoming>, S3Error> {
        let inner = &*self.inner;
        let result = async {
            let req = request::build(
                &inner.addresser,
                &inner.signer,
                inner.config.credentials.as_ref(),
                inner.user_agent.as_ref(),
                spec,
                body,
                OffsetDateTime::now_utc(),
            )?;
            let mut resp = transport::send(&inner.http, req, &inner.config, progress).await?;
            let status = resp.status().as_u16();
            log.status = Some(status);
            if resp.status().is_success() {
                return Ok(resp);
            }
            let body = if spec.method == "HEAD" {
                bytes::Bytes::new()
            } else {
                // A broken error body still leaves the status to classify by.
                transport::read_body(
                    resp.body_mut(),
                    inner.config.read_timeout,
                    MAX_ERROR_BODY,
                    false,
                )
                .await
                .unwrap_or_default()
            };
            log.bytes = body.len() as u64;
            Err(response::error_from_answer(status, resp.headers(), &body))
        }
        .await;
        if let Err(e) = &result {
            log.fail(e);
        }
        result
    }

    fn log(
        &self,
        op: &'static str,
        method: &'static str,
        subject: Subject,
        name: &str,
        attempt: u32,
    ) -> RequestLog {
        RequestLog::new(
            op,
            method,
            self.inner.bucket.clone(),
            subject,
            name,
            attempt,
        )
    }

    async fn head_attempt(&self, key: &str, attempt: u32) -> Result<ObjectInfo, S3Error> {
        let mut log = self.log("HeadObject", "HEAD", Subject::Key, key, attempt);
        let spec = Spec {
            method: "HEAD",
            key: Some(key),
            query: &[],
            headers: &[],
            payload_sha256: None,
        };
        let resp = self.execute(&spec, &mut log).await?;
        let size = content_length(resp.headers()).ok_or_else(|| {
            let e = S3Error::InvalidResponse(format!("HEAD {key:?}: no Content-Length"));
            log.fail(&e);
            e
        })?;
        Ok(object_info(key, resp.headers(), size))
    }

    async fn get_attempt(&self, req: &GetRequest, attempt: u32) -> Result<GetResponse, S3Error> {
        let key = req.key.as_str();
        let mut log = self.log("GetObject", "GET", Subject::Key, key, attempt);
        let range_value = req.range.map(request::range_header);
        log.range = req.range;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(2);
        if let Some(r) = &range_value {
            headers.push(("range", r));
        }
        if let Some(etag) = &req.if_match {
            headers.push(("if-match", etag));
        }
        let spec = Spec {
            method: "GET",
            key: Some(key),
            query: &[],
            headers: &headers,
            payload_sha256: None,
        };
        let resp = self.execute(&spec, &mut log).await?;
        let fail = |log: &mut RequestLog, msg: String| {
            let e = S3Error::InvalidResponse(msg);
            log.fail(&e);
            e
        };
        let status = resp.status().as_u16();
        let length = content_length(resp.headers());
        let (size, skip, take) = match (status, req.range) {
            (206, range) => {
                let header = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let cr = parse_content_range(header).ok_or_else(|| {
                    fail(
                        &mut log,
                        format!("GET {key:?}: 206 with Content-Range {header:?}"),
                    )
                })?;
                let total = cr.total.ok_or_else(|| {
                    fail(
                        &mut log,
                        format!("GET {key:?}: Content-Range {header:?} has no total size"),
                    )
                })?;
                let asked_start = range.map_or(0, |r| r.start);
                if cr.start != asked_start {
                    return Err(fail(
                        &mut log,
                        format!("GET {key:?}: asked bytes from {asked_start}, got Content-Range {header:?}"),
                    ));
                }
                (total, 0, None)
            }
            (_, range) => {
                // 200: the whole object. If a range was asked, the server ignored it.
                let total = length
                    .ok_or_else(|| fail(&mut log, format!("GET {key:?}: no Content-Length")))?;
                match range {
                    Some(r) => (total, r.start, Some(r.len())),
                    None => (total, 0, None),
                }
            }
        };
        let info = object_info(key, resp.headers(), size);
        let body = BodyReader {
            body: resp.into_body(),
            read_timeout: self.inner.config.read_timeout,
            expected: length,
            skip,
            take,
            log,
        }
        .into_stream();
        Ok(GetResponse { info, body })
    }

    async fn list_attempt(
        &self,
        op: &'static str,
        req: &ListRequest,
        attempt: u32,
    ) -> Result<ListPage, S3Error> {
        let mut log = self.log(op, "GET", Subject::Prefix, &req.prefix, attempt);
        let max_keys = req.max_keys.map(|n| n.to_string());
        let version = self.inner.config.list_version;
        let mut query: Vec<(&str, &str)> = Vec::with_capacity(5);
        if version == ListVersion::V2 {
            query.push(("list-type", "2"));
        }
        if let Some(d) = &req.delimiter {
            query.push(("delimiter", d));
        }
        if let Some(c) = &req.continuation {
            query.push((
                match version {
                    ListVersion::V1 => "marker",
                    ListVersion::V2 => "continuation-token",
                },
                c,
            ));
        }
        if let Some(n) = &max_keys {
            query.push(("max-keys", n));
        }
        if !req.prefix.is_empty() {
            query.push(("prefix", &req.prefix));
        }
        let spec = Spec {
            method: "GET",
            key: None,
            query: &query,
            headers: &[],
            payload_sha256: None,
        };
        let mut resp = self.execute(&spec, &mut log).await?;
        let result = async {
            let body = transport::read_body(
                resp.body_mut(),
                self.inner.config.read_timeout,
                MAX_LIST_BODY,
                true,
            )
            .await?;
            log.bytes = body.len() as u64;
            let mut doc = parse_list(&body)?;
            let next = next_page(version, &doc, req)?;
            drop_repeated_prefixes(version, &mut doc, req);
            Ok(ListPage {
                objects: doc.objects,
                common_prefixes: doc.common_prefixes,
                next,
            })
        }
        .await;
        if let Err(e) = &result {
            log.fail(e);
        }
        result
    }
}

/// Where the next page starts, from a parsed page.
///
/// V1: `NextMarker` when present, else the greater of the last key and the last common
/// prefix (a V1 server sends `NextMarker` only with a delimiter; moto sends a hash of the
/// last key instead, which it accepts back as a marker). V2: the continuation token.
/// A truncated page with no way on, or one that would not move forward, is an
/// [`S3Error::InvalidResponse`]: never loop forever on a broken server.
pub(crate) fn next_page(
    version: ListVersion,
    doc: &ListDocument,
    req: &ListRequest,
) -> Result<Option<String>, S3Error> {
    if !doc.is_truncated {
        return Ok(None);
    }
    let next = match version {
        ListVersion::V2 => doc.next_continuation_token.clone().ok_or_else(|| {
            S3Error::InvalidResponse(
                "truncated ListObjectsV2 page without NextContinuationToken".into(),
            )
        })?,
        ListVersion::V1 => {
            let last_key = doc.objects.last().map(|o| o.key.as_str());
            let last_prefix = doc.common_prefixes.last().map(String::as_str);
            doc.next_marker
                .clone()
                .or_else(|| last_key.max(last_prefix).map(str::to_string))
                .ok_or_else(|| {
                    S3Error::InvalidResponse(
                        "truncated ListObjects page without NextMarker, keys or prefixes".into(),
                    )
                })?
        }
    };
    if let Some(previous) = &req.continuation {
        let stuck = match version {
            ListVersion::V2 => next == *previous,
            // A marker computed from the page's keys must move past the previous one. A
            // NextMarker is compared for equality only: moto sends an opaque token there.
            ListVersion::V1 if doc.next_marker.is_none() => next.as_str() <= previous.as_str(),
            ListVersion::V1 => next == *previous,
        };
        if stuck {
            return Err(S3Error::InvalidResponse(format!(
                "listing does not advance: next page would start at {next:?} again"
            )));
        }
    }
    Ok(Some(next))
}

/// V1 only: drop the common prefixes that the previous page already returned.
///
/// A marker that lies inside a common prefix P (P itself, or a key under P) can only come
/// from a page that reported P. Garage's V1 NextMarker after a common prefix is a key inside
/// it, so without this the next page reports P again (once per page when pages are small).
/// Continuations are opaque (the previous page's `next`), which makes this rule exact.
pub(crate) fn drop_repeated_prefixes(
    version: ListVersion,
    doc: &mut ListDocument,
    req: &ListRequest,
) {
    if version != ListVersion::V1 {
        return;
    }
    if let Some(marker) = &req.continuation {
        doc.common_prefixes
            .retain(|p| !marker.starts_with(p.as_str()));
    }
}

impl ObjectClient for S3Client {
    async fn head_object(&self, key: &str) -> Result<ObjectInfo, S3Error> {
        self.with_retries(|attempt| self.head_attempt(key, attempt))
            .await
    }

    async fn get_object(&self, request: GetRequest) -> Result<GetResponse, S3Error> {
        if request.range.is_some_and(|r| r.is_empty()) {
            // Nothing to read, and S3 refuses an empty range: answer from a HEAD.
            let mut info = self.head_object(&request.key).await?;
            if let Some(etag) = &request.if_match {
                if *etag != info.etag {
                    return Err(S3Error::from_status(crate::ErrorDetails {
                        status: 412,
                        code: "PreconditionFailed".into(),
                        message: "the object's ETag changed".into(),
                        request_id: String::new(),
                    }));
                }
            }
            info.key = request.key.clone();
            let body: ByteStream = Box::pin(futures_util::stream::empty());
            return Ok(GetResponse { info, body });
        }
        self.with_retries(|attempt| self.get_attempt(&request, attempt))
            .await
    }

    async fn list_objects(&self, request: ListRequest) -> Result<ListPage, S3Error> {
        self.with_retries(|attempt| self.list_attempt("ListObjects", &request, attempt))
            .await
    }

    async fn check_bucket(&self) -> Result<(), S3Error> {
        // s3fs lists the bucket at mount time; one key is enough to prove the bucket exists
        // and the credentials (and region) work, and the body names the error when not.
        let request = ListRequest {
            max_keys: Some(1),
            ..ListRequest::default()
        };
        self.with_retries(|attempt| self.list_attempt("CheckBucket", &request, attempt))
            .await
            .map(|_| ())
    }

    async fn put_object(&self, request: PutRequest) -> Result<PutResult, S3Error> {
        let headers = write::metadata_headers(request.content_type.as_deref(), &request.metadata);
        let sha256 = write::bytes_sha256(&request.body).await;
        self.with_retries(|attempt| {
            self.put_attempt(&request, sha256.as_deref(), &headers, attempt)
        })
        .await
        .and_then(|local| local)
    }

    async fn delete_object(&self, key: &str) -> Result<(), S3Error> {
        self.with_retries(|attempt| self.delete_attempt(key, attempt))
            .await
    }

    async fn copy_object(&self, request: CopyRequest) -> Result<PutResult, S3Error> {
        let headers = write::copy_headers(&self.inner.bucket, &request);
        self.with_retries(|attempt| self.copy_attempt(&request, &headers, attempt))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ListedObject;

    fn doc(keys: &[&str], prefixes: &[&str], truncated: bool) -> ListDocument {
        ListDocument {
            objects: keys
                .iter()
                .map(|k| ListedObject {
                    key: k.to_string(),
                    size: 0,
                    etag: String::new(),
                    last_modified: OffsetDateTime::UNIX_EPOCH,
                })
                .collect(),
            common_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            is_truncated: truncated,
            ..ListDocument::default()
        }
    }

    fn req(continuation: Option<&str>) -> ListRequest {
        ListRequest {
            continuation: continuation.map(str::to_string),
            ..ListRequest::default()
        }
    }

    #[test]
    fn v1_next_marker() {
        use ListVersion::V1;
        assert_eq!(
            next_page(V1, &doc(&["a", "b"], &[], false), &req(None)).unwrap(),
            None
        );
        // No NextMarker: the greater of the last key and the last prefix.
        assert_eq!(
            next_page(V1, &doc(&["a", "b"], &[], true), &req(None))
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            next_page(V1, &doc(&["a", "z"], &["m/"], true), &req(None))
                .unwrap()
                .as_deref(),
            Some("z")
        );
        assert_eq!(
            next_page(V1, &doc(&["a"], &["m/"], true), &req(None))
                .unwrap()
                .as_deref(),
            Some("m/")
        );
        // NextMarker wins.
        let mut d = doc(&["a"], &["m/"], true);
        d.next_marker = Some("n".into());
        assert_eq!(next_page(V1, &d, &req(None)).unwrap().as_deref(), Some("n"));
        // Truncated with nothing to go on, or not advancing.
        assert!(matches!(
            next_page(V1, &doc(&[], &[], true), &req(None)),
            Err(S3Error::InvalidResponse(_))
        ));
        assert!(matches!(
            next_page(V1, &doc(&["a", "b"], &[], true), &req(Some("b"))),
            Err(S3Error::InvalidResponse(_))
        ));
        assert!(matches!(
            next_page(V1, &doc(&["a"], &[], true), &req(Some("b"))),
            Err(S3Error::InvalidResponse(_))
        ));
        // A NextMarker need not be a key (moto sends a hash), only different.
        let mut d = doc(&["c"], &[], true);
        d.next_marker = Some("0a1b".into());
        assert_eq!(
            next_page(V1, &d, &req(Some("b"))).unwrap().as_deref(),
            Some("0a1b")
        );
        assert!(matches!(
            next_page(V1, &d, &req(Some("0a1b"))),
            Err(S3Error::InvalidResponse(_))
        ));
        assert_eq!(
            next_page(V1, &doc(&["c"], &[], true), &req(Some("b")))
                .unwrap()
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn repeated_prefixes_are_dropped_in_v1() {
        // Garage: page 1 ended with prefix odd/ and NextMarker "odd/ leading".
        let mut d = doc(&["p"], &["odd/", "q/"], true);
        drop_repeated_prefixes(ListVersion::V1, &mut d, &req(Some("odd/ leading")));
        assert_eq!(d.common_prefixes, vec!["q/"]);
        // AWS-style NextMarker = the prefix itself.
        let mut d = doc(&[], &["odd/", "q/"], true);
        drop_repeated_prefixes(ListVersion::V1, &mut d, &req(Some("odd/")));
        assert_eq!(d.common_prefixes, vec!["q/"]);
        // First page, V2, or a marker outside the prefix: untouched.
        for (version, marker) in [
            (ListVersion::V1, None),
            (ListVersion::V2, Some("odd/x")),
            (ListVersion::V1, Some("odd")),
            (ListVersion::V1, Some("5b87564c")),
        ] {
            let mut d = doc(&[], &["odd/", "q/"], true);
            drop_repeated_prefixes(version, &mut d, &req(marker));
            assert_eq!(
                d.common_prefixes,
                vec!["odd/", "q/"],
                "{version:?} {marker:?}"
            );
        }
    }

    #[test]
    fn v2_continuation_token() {
        use ListVersion::V2;
        let mut d = doc(&["a"], &[], true);
        assert!(matches!(
            next_page(V2, &d, &req(None)),
            Err(S3Error::InvalidResponse(_))
        ));
        d.next_continuation_token = Some("tok".into());
        assert_eq!(
            next_page(V2, &d, &req(None)).unwrap().as_deref(),
            Some("tok")
        );
        assert!(matches!(
            next_page(V2, &d, &req(Some("tok"))),
            Err(S3Error::InvalidResponse(_))
        ));
        d.is_truncated = false;
        assert_eq!(next_page(V2, &d, &req(Some("tok"))).unwrap(), None);
    }

    #[test]
    fn client_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<S3Client>();
    }
}
