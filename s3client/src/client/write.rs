//! The write operations of [`S3Client`]: PutObject, DeleteObject, CopyObject.

use std::collections::BTreeMap;

use crate::log::Subject;
use crate::request::Spec;
use crate::transport;
use crate::upload::{file_stream, hash_bytes, hash_file, Progress, RequestBody};
use crate::xml::{parse_copy_result, CopyOutcome, ErrorFields};
use crate::{CopyRequest, ErrorDetails, PutBody, PutRequest, PutResult, S3Error};

use super::{S3Client, MAX_ERROR_BODY};

/// The content type of an upload that names none (s3fs sends the same).
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// `content-type` and `x-amz-meta-*` headers (names lower-cased), in that order.
pub(crate) fn metadata_headers(
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(metadata.len() + 1);
    headers.push((
        "content-type".to_string(),
        content_type.unwrap_or(DEFAULT_CONTENT_TYPE).to_string(),
    ));
    for (name, value) in metadata {
        headers.push((
            format!("x-amz-meta-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    headers
}

/// The headers of a CopyObject, `x-amz-copy-source` first.
pub(crate) fn copy_headers(bucket: &str, req: &CopyRequest) -> Vec<(String, String)> {
    let mut headers = vec![(
        "x-amz-copy-source".to_string(),
        sigv4::encode_path(&format!("/{bucket}/{}", req.source_key)),
    )];
    if let Some(etag) = &req.if_match {
        headers.push(("x-amz-copy-source-if-match".to_string(), etag.clone()));
    }
    if let Some(metadata) = &req.metadata {
        headers.push((
            "x-amz-metadata-directive".to_string(),
            "REPLACE".to_string(),
        ));
        headers.extend(metadata_headers(req.content_type.as_deref(), metadata));
    }
    headers
}

/// The error a 200 answer with an `<Error>` body stands for. The code classifies it as it
/// would with its usual status; an unknown code is a server error (retried), as the AWS SDKs
/// treat it.
pub(crate) fn error_in_ok_answer(fields: ErrorFields) -> S3Error {
    let status = match fields.code.as_str() {
        "NoSuchKey" | "NoSuchBucket" => 404,
        "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => 403,
        "PreconditionFailed" => 412,
        "SlowDown" | "ServiceUnavailable" => 503,
        "InvalidRequest" | "InvalidArgument" | "EntityTooLarge" => 400,
        _ => 500,
    };
    let message = if fields.message.is_empty() {
        "sent in a 200 OK answer".to_string()
    } else {
        format!("{} (sent in a 200 OK answer)", fields.message)
    };
    S3Error::from_status(ErrorDetails {
        status,
        code: fields.code,
        message,
        request_id: fields.request_id,
    })
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// The SHA-256 of a byte body, computed once for all attempts.
pub(crate) async fn bytes_sha256(body: &PutBody) -> Option<String> {
    match body {
        PutBody::Bytes(data) => Some(hash_bytes(data).await),
        PutBody::File { .. } => None,
    }
}

impl S3Client {
    /// One PutObject attempt. The outer error is the request's (retried by the policy); the
    /// inner one is a failure of the local file, which no retry can fix.
    pub(super) async fn put_attempt(
        &self,
        req: &PutRequest,
        bytes_sha256: Option<&str>,
        headers: &[(String, String)],
        attempt: u32,
    ) -> Result<Result<PutResult, S3Error>, S3Error> {
        let key = req.key.as_str();
        let mut log = self.log("PutObject", "PUT", Subject::Key, key, attempt);
        let progress = Progress::new();
        let (body, sha256) = match (&req.body, bytes_sha256) {
            (PutBody::Bytes(data), Some(sha)) => (
                RequestBody::bytes(data.clone(), Some(progress.clone())),
                sha.to_string(),
            ),
            (PutBody::Bytes(data), None) => (
                RequestBody::bytes(data.clone(), Some(progress.clone())),
                hash_bytes(data).await,
            ),
            (PutBody::File { path, len }, _) => match hash_file(path, *len).await {
                Ok(hashed) => {
                    let sha = hashed.sha256.clone();
                    (
                        RequestBody::file(file_stream(hashed), *len, progress.clone()),
                        sha,
                    )
                }
                Err(message) => {
                    let e = S3Error::Transport(message);
                    log.fail(&e);
                    return Ok(Err(e));
                }
            },
        };
        let mut body = body;
        let handshake = body.expect_continue();
        let headers = borrowed(headers);
        let spec = Spec {
            method: "PUT",
            key: Some(key),
            query: &[],
            headers: &headers,
            payload_sha256: Some(&sha256),
        };
        let sent = self
            .execute_with_body(&spec, body, Some(&progress), &mut log)
            .await;
        if let Some(handshake) = handshake {
            // An answer is in (or the request failed): a body still waiting never goes.
            handshake.abort();
        }
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                return match progress.local_error() {
                    // The body failed because of the file: say so, and do not retry.
                    Some(message) => {
                        let e = S3Error::Transport(message);
                        log.error = Some(e.to_string());
                        Ok(Err(e))
                    }
                    None => Err(e),
                };
            }
        };
        log.sent = req.body.len();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_string();
        // Drain the (empty) body so the connection goes back to the pool.
        if let Ok(body) = transport::read_body(
            resp.body_mut(),
            self.inner.config.read_timeout,
            MAX_ERROR_BODY,
            false,
        )
        .await
        {
            log.bytes = body.len() as u64;
        }
        Ok(Ok(PutResult { etag }))
    }

    pub(super) async fn delete_attempt(&self, key: &str, attempt: u32) -> Result<(), S3Error> {
        let mut log = self.log("DeleteObject", "DELETE", Subject::Key, key, attempt);
        let spec = Spec {
            method: "DELETE",
            key: Some(key),
            query: &[],
            headers: &[],
            payload_sha256: None,
        };
        match self.execute(&spec, &mut log).await {
            Ok(mut resp) => {
                if let Ok(body) = transport::read_body(
                    resp.body_mut(),
                    self.inner.config.read_timeout,
                    MAX_ERROR_BODY,
                    false,
                )
                .await
                {
                    log.bytes = body.len() as u64;
                }
                Ok(())
            }
            // S3 answers 204 for a missing key; some stores say 404 NoSuchKey.
            Err(S3Error::NotFound(_)) => {
                log.error = None;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn copy_attempt(
        &self,
        req: &CopyRequest,
        headers: &[(String, String)],
        attempt: u32,
    ) -> Result<PutResult, S3Error> {
        let mut log = self.log("CopyObject", "PUT", Subject::Key, &req.dest_key, attempt);
        let headers = borrowed(headers);
        let spec = Spec {
            method: "PUT",
            key: Some(&req.dest_key),
            query: &[],
            headers: &headers,
            payload_sha256: None,
        };
        let mut resp = self.execute(&spec, &mut log).await?;
        let result = async {
            let body = transport::read_body(
                resp.body_mut(),
                self.inner.config.read_timeout,
                MAX_ERROR_BODY,
                true,
            )
            .await?;
            log.bytes = body.len() as u64;
            match parse_copy_result(&body)? {
                CopyOutcome::Copied(etag) => Ok(PutResult { etag }),
                CopyOutcome::Failed(fields) => Err(error_in_ok_answer(fields)),
            }
        }
        .await;
        if let Err(e) = &result {
            log.fail(e);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_headers() {
        let mut m = BTreeMap::new();
        m.insert("mode".to_string(), "33188".to_string());
        m.insert("MTime".to_string(), "1700000000".to_string());
        assert_eq!(
            metadata_headers(None, &m),
            vec![
                ("content-type".into(), "application/octet-stream".into()),
                // Ordered by the names as given ("MTime" < "mode").
                ("x-amz-meta-mtime".into(), "1700000000".into()),
                ("x-amz-meta-mode".into(), "33188".into()),
            ]
        );
        assert_eq!(
            metadata_headers(Some("application/x-directory"), &BTreeMap::new()),
            vec![("content-type".into(), "application/x-directory".into())]
        );
    }

    #[test]
    fn copy_source_is_encoded_once() {
        let req = |k: &str| CopyRequest {
            source_key: k.into(),
            dest_key: "d".into(),
            ..CopyRequest::default()
        };
        let source = |k: &str| copy_headers("bkt", &req(k))[0].1.clone();
        assert_eq!(source("a b+c"), "/bkt/a%20b%2Bc");
        assert_eq!(
            source("dir/café 模型"),
            "/bkt/dir/caf%C3%A9%20%E6%A8%A1%E5%9E%8B"
        );
        assert_eq!(source("100%?#&="), "/bkt/100%25%3F%23%26%3D");
        // COPY directive: nothing else. REPLACE: directive, content type, metadata.
        assert_eq!(copy_headers("bkt", &req("k")).len(), 1);
        let mut m = BTreeMap::new();
        m.insert("mode".to_string(), "1".to_string());
        let r = CopyRequest {
            metadata: Some(m),
            content_type: Some("text/plain".into()),
            if_match: Some("\"e\"".into()),
            ..req("k")
        };
        assert_eq!(
            copy_headers("bkt", &r),
            vec![
                ("x-amz-copy-source".into(), "/bkt/k".into()),
                ("x-amz-copy-source-if-match".into(), "\"e\"".into()),
                ("x-amz-metadata-directive".into(), "REPLACE".into()),
                ("content-type".into(), "text/plain".into()),
                ("x-amz-meta-mode".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn errors_in_ok_answers() {
        let f = |code: &str| ErrorFields {
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
        };
        let e = error_in_ok_answer(f("InternalError"));
        assert!(
            matches!(&e, S3Error::Server(_)) && e.is_retryable(),
            "{e:?}"
        );
        assert!(e.to_string().contains("200 OK"), "{e}");
        assert!(matches!(
            error_in_ok_answer(f("SlowDown")),
            S3Error::Throttled(_)
        ));
        assert!(matches!(
            error_in_ok_answer(f("NoSuchKey")),
            S3Error::NotFound(_)
        ));
        assert!(matches!(
            error_in_ok_answer(f("AccessDenied")),
            S3Error::AccessDenied(_)
        ));
        assert!(matches!(
            error_in_ok_answer(f("PreconditionFailed")),
            S3Error::PreconditionFailed(_)
        ));
        assert!(matches!(
            error_in_ok_answer(f("InvalidRequest")),
            S3Error::Service(_)
        ));
        assert!(matches!(error_in_ok_answer(f("")), S3Error::Server(_)));
    }
}
