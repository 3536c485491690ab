//! Reading response headers: object information, `Content-Range`, HTTP dates, and the
//! classification of an error answer.

use std::collections::BTreeMap;

use http::HeaderMap;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::xml::parse_error;
use crate::{ErrorDetails, ObjectInfo, S3Error};

/// `Content-Range: bytes START-END/TOTAL` (END inclusive; TOTAL may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub start: u64,
    pub end_inclusive: u64,
    pub total: Option<u64>,
}

pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start = start.trim().parse::<u64>().ok()?;
    let end_inclusive = end.trim().parse::<u64>().ok()?;
    if end_inclusive < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => {
            let t = t.parse::<u64>().ok()?;
            if t <= end_inclusive {
                return None;
            }
            Some(t)
        }
    };
    Some(ContentRange {
        start,
        end_inclusive,
        total,
    })
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), also accepting RFC 2822 and RFC 3339.
pub(crate) fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    let imf = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(value, imf)
        .map(PrimitiveDateTime::assume_utc)
        .or_else(|_| OffsetDateTime::parse(value, &Rfc2822))
        .or_else(|_| OffsetDateTime::parse(value, &Rfc3339))
        .ok()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, "content-length").and_then(|v| v.trim().parse().ok())
}

/// Object information from HEAD or GET response headers; `size` is decided by the caller
/// (Content-Length of a HEAD, the total of a Content-Range).
pub(crate) fn object_info(key: &str, headers: &HeaderMap, size: u64) -> ObjectInfo {
    let etag = header_str(headers, "etag").unwrap_or("").trim().to_string();
    let last_modified = header_str(headers, "last-modified")
        .and_then(parse_http_date)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let content_type = header_str(headers, "content-type").map(|v| v.trim().to_string());
    let mut metadata = BTreeMap::new();
    for (name, value) in headers {
        // Header names are lower-case in `http`.
        if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
            metadata.insert(
                meta.to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            );
        }
    }
    ObjectInfo {
        key: key.to_string(),
        size,
        etag,
        last_modified,
        content_type,
        metadata,
    }
}

/// The error for a non-success answer: the S3 `<Error>` document of the body when there is
/// one (HEAD answers have none), classified by [`S3Error::from_status`].
pub(crate) fn error_from_answer(status: u16, headers: &HeaderMap, body: &[u8]) -> S3Error {
    let fields = parse_error(body);
    let request_id = if fields.request_id.is_empty() {
        header_str(headers, "x-amz-request-id")
            .unwrap_or("")
            .to_string()
    } else {
        fields.request_id
    };
    let code = if fields.code.is_empty() {
        // A HEAD answer has no body; S3 and some stores name the error in a header.
        header_str(headers, "x-amz-error-code")
            .unwrap_or("")
            .to_string()
    } else {
        fields.code
    };
    let message = if fields.message.is_empty() {
        header_str(headers, "x-amz-error-message")
            .unwrap_or("")
            .to_string()
    } else {
        fields.message
    };
    S3Error::from_status(ErrorDetails {
        status,
        code,
        message,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 0-9/10"),
            Some(ContentRange {
                start: 0,
                end_inclusive: 9,
                total: Some(10)
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-5/1000000000000"),
            Some(ContentRange {
                start: 5,
                end_inclusive: 5,
                total: Some(1_000_000_000_000)
            })
        );
        assert_eq!(
            parse_content_range(" bytes 3-4/*"),
            Some(ContentRange {
                start: 3,
                end_inclusive: 4,
                total: None
            })
        );
        for bad in [
            "",
            "bytes",
            "bytes */10",
            "bytes 5-4/10",
            "bytes 0-9/9",
            "items 0-9/10",
            "bytes 0-9",
            "bytes a-9/10",
            "bytes -1-9/10",
            "bytes 0-18446744073709551616/1",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Wed, 12 Oct 2009 17:50:00 GMT"),
            Some(datetime!(2009-10-12 17:50:00 UTC))
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
        assert_eq!(
            parse_http_date("2009-10-12T17:50:30.000Z"),
            Some(datetime!(2009-10-12 17:50:30 UTC))
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn object_info_from_headers() {
        let mut h = HeaderMap::new();
        h.insert("etag", "\"abc\"".parse().unwrap());
        h.insert(
            "last-modified",
            "Wed, 12 Oct 2009 17:50:00 GMT".parse().unwrap(),
        );
        h.insert("content-type", "text/plain".parse().unwrap());
        h.insert("x-amz-meta-mode", "33188".parse().unwrap());
        h.insert("X-Amz-Meta-MTime", "1700000000".parse().unwrap());
        h.insert("x-amz-request-id", "r".parse().unwrap());
        let info = object_info("k", &h, 42);
        assert_eq!(info.size, 42);
        assert_eq!(info.etag, "\"abc\"");
        assert_eq!(info.last_modified, datetime!(2009-10-12 17:50:00 UTC));
        assert_eq!(info.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            info.metadata.into_iter().collect::<Vec<_>>(),
            vec![
                ("mode".to_string(), "33188".to_string()),
                ("mtime".to_string(), "1700000000".to_string())
            ]
        );
        // Nothing at all: defaults, no panic.
        let info = object_info("k", &HeaderMap::new(), 0);
        assert_eq!(info.etag, "");
        assert_eq!(info.last_modified, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(info.content_type, None);
    }

    #[test]
    fn errors_are_classified_from_body_or_headers() {
        let h = HeaderMap::new();
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        match error_from_answer(403, &h, body) {
            S3Error::SignatureMismatch(d) => {
                assert_eq!(d.status, 403);
                assert_eq!(d.code, "SignatureDoesNotMatch");
                assert_eq!(d.request_id, "4442587FB7D0A2F9");
                assert!(d.message.starts_with("The request signature"));
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            error_from_answer(404, &h, b"<Error><Code>NoSuchBucket</Code></Error>"),
            S3Error::NoSuchBucket(_)
        ));
        // HEAD: no body, status alone.
        assert!(matches!(
            error_from_answer(404, &h, b""),
            S3Error::NotFound(_)
        ));
        assert!(matches!(
            error_from_answer(403, &h, b""),
            S3Error::AccessDenied(_)
        ));
        // A proxy's HTML page.
        let html = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        match error_from_answer(502, &h, html) {
            S3Error::Server(d) => assert_eq!((d.status, d.code.as_str()), (502, "")),
            e => panic!("{e:?}"),
        }
        // Unclosed HTML tags, binary junk: still just the status.
        assert!(matches!(
            error_from_answer(503, &h, b"<html><body><p>busy<br></body></html>"),
            S3Error::Server(_)
        ));
        assert!(matches!(
            error_from_answer(500, &h, &[0xff, 0xfe, 0]),
            S3Error::Server(_)
        ));
        // The error code in headers (some stores on HEAD), request id from headers.
        let mut h = HeaderMap::new();
        h.insert("x-amz-error-code", "NoSuchBucket".parse().unwrap());
        h.insert("x-amz-request-id", "RID".parse().unwrap());
        match error_from_answer(404, &h, b"") {
            S3Error::NoSuchBucket(d) => assert_eq!(d.request_id, "RID"),
            e => panic!("{e:?}"),
        }
    }
}
