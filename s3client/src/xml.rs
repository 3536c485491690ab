//! The XML documents of the S3 API: ListBucketResult (V1 and V2), CopyObjectResult and
//! `<Error>`.
//!
//! quick-xml reads the body into a small element tree ([`Element`]: local name, text,
//! children), and the documents are read from the tree by element name. That makes the parser
//! tolerant by construction of what real servers send:
//! - the S3 namespace (`xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`) or none at all,
//! - prefixed element names (`<s3:Key>`): only the local name counts,
//! - unknown elements anywhere (Owner, StorageClass, ChecksumAlgorithm, RestoreStatus, ...),
//! - entity and character references, CDATA sections.
//!
//! Text is never trimmed: a key may start or end with spaces.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{ListedObject, S3Error};

/// Deeper nesting than this is not an S3 document; refusing it keeps the recursive drop of
/// the tree far from the stack limit whatever the server sends.
const MAX_DEPTH: usize = 64;

/// One element: its local name (namespace prefix removed), its direct text, its children.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parse a whole document into its root element.
pub(crate) fn parse_document(body: &[u8]) -> Result<Element, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH} elements"));
                }
                stack.push(Element {
                    name: start.local_name().as_ref().to_string(),
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: start.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::End(_) => {
                // quick-xml checks that end names match their start tags.
                let element = stack
                    .pop()
                    .ok_or_else(|| "unexpected closing tag".to_string())?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Cow::Owned(c.to_string()),
                        _ => return Err(format!("bad character reference &{};", &*r)),
                    }
                } else {
                    match resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Err(format!("unknown entity &{};", &*r)),
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => {
                return Err(if stack.is_empty() {
                    "no XML element in the body".to_string()
                } else {
                    "XML document ends inside an element".to_string()
                })
            }
        }
    }
}

/// The fields of an S3 `<Error>` document; empty strings for what the body did not have.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ErrorFields {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// Read `<Error><Code/><Message/><RequestId/></Error>` (also when wrapped, as in
/// `<ErrorResponse><Error>..</Error></ErrorResponse>`). Any other body (empty, HTML from a
/// proxy, garbage) gives empty fields: the status alone then classifies the error.
pub(crate) fn parse_error(body: &[u8]) -> ErrorFields {
    let Ok(root) = parse_document(body) else {
        return ErrorFields::default();
    };
    let error = if root.name == "Error" {
        &root
    } else if let Some(e) = root.child("Error") {
        e
    } else {
        return ErrorFields::default();
    };
    let field = |name: &str| error.child_text(name).unwrap_or("").trim().to_string();
    ErrorFields {
        code: field("Code"),
        message: field("Message"),
        request_id: field("RequestId"),
    }
}

/// What the body of a 200 answer to a CopyObject says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyOutcome {
    /// `<CopyObjectResult><ETag>..</ETag>..</CopyObjectResult>`: the ETag, quotes included.
    Copied(String),
    /// `<Error>..</Error>`: S3 reports a copy that failed after the 200 status was sent this
    /// way (the status goes out first; the spaces S3 sends while a long copy runs keep the
    /// connection alive).
    Failed(ErrorFields),
}

/// Read the body of a 200 answer to a CopyObject. Leading whitespace (S3's keep-alive
/// spaces during a long copy) is fine; anything but the two documents is an error, and so is
/// a result without an ETag.
pub(crate) fn parse_copy_result(body: &[u8]) -> Result<CopyOutcome, S3Error> {
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |i| &body[i..]);
    let root = parse_document(trimmed).map_err(|e| {
        S3Error::InvalidResponse(format!("CopyObject answer is not an XML document: {e}"))
    })?;
    match root.name.as_str() {
        "CopyObjectResult" => match root.child_text("ETag").map(str::trim) {
            Some(etag) if !etag.is_empty() => Ok(CopyOutcome::Copied(etag.to_string())),
            _ => Err(S3Error::InvalidResponse(
                "CopyObjectResult without an ETag".into(),
            )),
        },
        "Error" => Ok(CopyOutcome::Failed(parse_error(trimmed))),
        other => Err(S3Error::InvalidResponse(format!(
            "CopyObject answered a <{other}> document"
        ))),
    }
}

/// A parsed `ListBucketResult`, keys already URL-decoded when the server encoded them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ListDocument {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// V1 `NextMarker` (only sent by V1 servers when a delimiter was given).
    pub next_marker: Option<String>,
    /// V2 `NextContinuationToken` (opaque, never URL-encoded).
    pub next_continuation_token: Option<String>,
}

pub(crate) fn parse_list(body: &[u8]) -> Result<ListDocument, S3Error> {
    let root = parse_document(body)
        .map_err(|e| S3Error::InvalidResponse(format!("listing is not valid XML: {e}")))?;
    if root.name != "ListBucketResult" {
        return Err(S3Error::InvalidResponse(format!(
            "expected a ListBucketResult document, got <{}>",
            root.name
        )));
    }
    let url_encoded = root
        .child_text("EncodingType")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("url"));
    let decode = |s: &str| -> Result<String, S3Error> {
        if url_encoded {
            url_decode(s)
        } else {
            Ok(s.to_string())
        }
    };

    let mut objects = Vec::new();
    for contents in root.children_named("Contents") {
        let key = contents
            .child_text("Key")
            .ok_or_else(|| S3Error::InvalidResponse("a <Contents> without <Key>".into()))?;
        let key = decode(key)?;
        let size = contents.child_text("Size").unwrap_or("").trim();
        let size = size.parse::<u64>().map_err(|_| {
            S3Error::InvalidResponse(format!("bad <Size> {size:?} for key {key:?}"))
        })?;
        let etag = contents.child_text("ETag").unwrap_or("").trim().to_string();
        let last_modified = contents
            .child_text("LastModified")
            .and_then(|t| OffsetDateTime::parse(t.trim(), &Rfc3339).ok())
            // A missing or odd date is not worth failing a whole page for.
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        objects.push(ListedObject {
            key,
            size,
            etag,
            last_modified,
        });
    }

    let mut common_prefixes = Vec::new();
    for cp in root.children_named("CommonPrefixes") {
        // AWS sends one <Prefix> per <CommonPrefixes>; accept several too.
        for p in cp.children_named("Prefix") {
            common_prefixes.push(decode(&p.text)?);
        }
    }

    let is_truncated = match root.child_text("IsTruncated").map(str::trim) {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("true") => true,
        Some(t) if t.eq_ignore_ascii_case("false") => false,
        Some(t) => return Err(S3Error::InvalidResponse(format!("bad <IsTruncated> {t:?}"))),
    };
    let next_marker = match root.child_text("NextMarker") {
        Some(m) if !m.is_empty() => Some(decode(m)?),
        _ => None,
    };
    let next_continuation_token = root
        .child_text("NextContinuationToken")
        .filter(|t| !t.is_empty())
        .map(str::to_string);

    Ok(ListDocument {
        objects,
        common_prefixes,
        is_truncated,
        next_marker,
        next_continuation_token,
    })
}

/// Undo `encoding-type=url`.
///
/// What servers send (checked): AWS S3 form-encodes, a space becomes `+` and a `+` becomes
/// `%2B` (botocore decodes with `unquote_plus`); moto (`urllib.parse.quote`) and Garage
/// (`uri_encode`) send `%20` and `%2B`. No server sends a literal `+` for a `+`, so decoding
/// `+` as a space is right for all of them and required for AWS.
/// A `%` not followed by two hex digits is kept as it is.
pub(crate) fn url_decode(s: &str) -> Result<String, S3Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let h = bytes.get(i + 1).copied().and_then(hex);
                let l = bytes.get(i + 2).copied().and_then(hex);
                match (h, l) {
                    (Some(h), Some(l)) => {
                        out.push((h << 4) | l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        S3Error::InvalidResponse(format!("URL-encoded name {s:?} does not decode to UTF-8"))
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const V1_NAMESPACED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>dir/</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>
  <Contents>
    <Key>dir/a &amp; b.txt</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size>
    <Owner><ID>8a6925ce4a7f21c32aa379004fef</ID><DisplayName>me</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents><Key> spaced </Key><LastModified>2009-10-12T17:50:31Z</LastModified><ETag>"x"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>dir/zz/</Prefix></CommonPrefixes>
</ListBucketResult>"#;

    #[test]
    fn v1_namespaced_page() {
        let d = parse_list(V1_NAMESPACED.as_bytes()).unwrap();
        assert!(!d.is_truncated);
        assert_eq!(d.objects.len(), 2);
        let a = &d.objects[0];
        assert_eq!(a.key, "dir/a & b.txt");
        assert_eq!(a.size, 434234);
        assert_eq!(a.etag, "\"fba9dede5f27731c9771645a39863328\"");
        assert_eq!(a.last_modified, datetime!(2009-10-12 17:50:30 UTC));
        // Spaces in keys are data.
        assert_eq!(d.objects[1].key, " spaced ");
        assert_eq!(d.common_prefixes, vec!["dir/sub/", "dir/zz/"]);
        assert_eq!(d.next_marker, None);
    }

    #[test]
    fn unnamespaced_prefixed_and_unknown_elements() {
        let body = r#"<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">
  <s3:Name>b</s3:Name>
  <Futuristic><Key>not-a-key</Key><Nested><Contents/></Nested></Futuristic>
  <s3:IsTruncated>true</s3:IsTruncated>
  <s3:NextMarker>k2</s3:NextMarker>
  <s3:Contents><s3:Key>k1</s3:Key><s3:Size>1</s3:Size><Checksum><Algo>CRC32</Algo></Checksum></s3:Contents>
  <s3:Contents><s3:Key><![CDATA[k<2>]]></s3:Key><s3:Size>2</s3:Size><s3:LastModified>garbage</s3:LastModified></s3:Contents>
  <!-- a comment -->
  <?pi whatever?>
</s3:ListBucketResult>"#;
        let d = parse_list(body.as_bytes()).unwrap();
        assert!(d.is_truncated);
        assert_eq!(d.next_marker.as_deref(), Some("k2"));
        let keys: Vec<_> = d.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["k1", "k<2>"]);
        assert_eq!(d.objects[1].last_modified, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(d.objects[0].etag, "");

        let plain = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&#x20;b&#233;</Key><Size>3</Size></Contents></ListBucketResult>";
        let d = parse_list(plain.as_bytes()).unwrap();
        assert_eq!(d.objects[0].key, "a bé");
    }

    #[test]
    fn v2_page() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>a</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"1"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"2"</ETag><Size>2</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"#;
        let d = parse_list(body.as_bytes()).unwrap();
        assert!(d.is_truncated);
        assert_eq!(
            d.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(d.objects.len(), 2);
    }

    #[test]
    fn url_encoded_page() {
        // AWS form-encodes (space as '+', '+' as %2B); moto and Garage use %20.
        let body = r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<NextMarker>run+books%2Fz</NextMarker>
<Contents><Key>a+b.txt</Key><Size>1</Size></Contents>
<Contents><Key>a%2Bb.txt</Key><Size>1</Size></Contents>
<Contents><Key>a%20b%25.txt</Key><Size>1</Size></Contents>
<Contents><Key>%ED%95%9C%EA%B8%80/x~y=z</Key><Size>1</Size></Contents>
<CommonPrefixes><Prefix>run+books/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let d = parse_list(body.as_bytes()).unwrap();
        let keys: Vec<_> = d.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["a b.txt", "a+b.txt", "a b%.txt", "한글/x~y=z"]);
        assert_eq!(d.common_prefixes, vec!["run books/"]);
        assert_eq!(d.next_marker.as_deref(), Some("run books/z"));

        // Without EncodingType nothing is decoded.
        let body = "<ListBucketResult><Contents><Key>a+b%20c</Key><Size>1</Size></Contents></ListBucketResult>";
        assert_eq!(
            parse_list(body.as_bytes()).unwrap().objects[0].key,
            "a+b%20c"
        );
    }

    #[test]
    fn url_decoding_edge_cases() {
        assert_eq!(url_decode("").unwrap(), "");
        assert_eq!(url_decode("100%").unwrap(), "100%");
        assert_eq!(url_decode("%zz%4").unwrap(), "%zz%4");
        assert_eq!(url_decode("%41%2f%2F").unwrap(), "A//");
        assert!(matches!(
            url_decode("%FF"),
            Err(S3Error::InvalidResponse(_))
        ));
    }

    #[test]
    fn empty_results() {
        let d = parse_list(
            br#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>nothing/</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"#,
        )
        .unwrap();
        assert_eq!(d, ListDocument::default());
        let d = parse_list(b"<ListBucketResult/>").unwrap();
        assert_eq!(d, ListDocument::default());
    }

    #[test]
    fn broken_listings_are_invalid_responses() {
        for body in [
            &b""[..],
            b"not xml at all",
            b"<ListBucketResult><Contents><Key>a</Key>",
            b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
            b"<ListAllMyBucketsResult></ListAllMyBucketsResult>",
            b"<ListBucketResult><a></b></ListBucketResult>",
            b"<ListBucketResult><Key>&bogus;</Key></ListBucketResult>",
            b"\xff\xfe<ListBucketResult/>",
        ] {
            assert!(
                matches!(parse_list(body), Err(S3Error::InvalidResponse(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        // Absurd nesting is refused, not recursed into.
        let deep = "<a>".repeat(100_000);
        assert!(parse_document(deep.as_bytes()).is_err());
    }

    #[test]
    fn copy_results() {
        let ok = br#"<?xml version="1.0" encoding="UTF-8"?>
<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>"#;
        assert_eq!(
            parse_copy_result(ok).unwrap(),
            CopyOutcome::Copied("\"9b2cf535f27731c974343645a3985328\"".into())
        );
        // S3's keep-alive spaces before the document during a long copy.
        let mut spaced = b"   \n  ".to_vec();
        spaced.extend_from_slice(ok);
        assert!(matches!(
            parse_copy_result(&spaced).unwrap(),
            CopyOutcome::Copied(_)
        ));
        let failed = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e67</RequestId></Error>"#;
        match parse_copy_result(failed).unwrap() {
            CopyOutcome::Failed(f) => {
                assert_eq!(f.code, "InternalError");
                assert_eq!(f.request_id, "656c76696e67");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            &b""[..],
            b"   ",
            b"<CopyObjectResult><LastModified>x</LastModified></CopyObjectResult>",
            b"<CopyObjectResult><ETag> </ETag></CopyObjectResult>",
            b"<html><body>502</body></html>",
            b"garbage",
        ] {
            assert!(
                matches!(parse_copy_result(bad), Err(S3Error::InvalidResponse(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn error_documents() {
        let e = parse_error(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message><Resource>/b/k</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"#,
        );
        assert_eq!(e.code, "NoSuchKey");
        assert_eq!(e.message, "The resource you requested does not exist");
        assert_eq!(e.request_id, "4442587FB7D0A2F9");
        // Namespaced, prefixed, wrapped.
        let e = parse_error(br#"<x:Error xmlns:x="http://s3.amazonaws.com/doc/2006-03-01/"><x:Code>AccessDenied</x:Code></x:Error>"#);
        assert_eq!(e.code, "AccessDenied");
        let e = parse_error(b"<ErrorResponse><Error><Code>SlowDown</Code></Error><RequestId>r</RequestId></ErrorResponse>");
        assert_eq!(e.code, "SlowDown");
        // Empty, HTML, junk: nothing, no panic.
        for body in [
            &b""[..],
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b"<html><body>unclosed<br></body></html>",
            b"Service Unavailable",
            b"\x00\x01\xff",
        ] {
            assert_eq!(parse_error(body), ErrorFields::default());
        }
    }
}
