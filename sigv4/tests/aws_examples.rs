//! The four worked examples of the S3 API reference's "Signature calculation: transfer payload
//! in a single chunk" page, with their published signatures
//! (`/work/shared/reference/sigv4-examples.md` in the project's notes). Virtual-hosted style,
//! region `us-east-1`, 2013-05-24T00:00:00Z.

use sigv4::{Credentials, Payload, Request, Signer, EMPTY_SHA256};
use time::macros::datetime;
use time::OffsetDateTime;

const HOST: &str = "examplebucket.s3.amazonaws.com";
const NOW: OffsetDateTime = datetime!(2013-05-24 00:00:00 UTC);

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    }
}

fn header<'a>(signed: &'a sigv4::Signed, name: &str) -> &'a str {
    signed
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", signed.headers))
}

fn check(signed: &sigv4::Signed, signed_headers: &str, content_sha: &str, signature: &str) {
    assert_eq!(
        signed.signature, signature,
        "canonical request:\n{}",
        signed.canonical_request
    );
    assert_eq!(header(signed, "x-amz-date"), "20130524T000000Z");
    assert_eq!(header(signed, "x-amz-content-sha256"), content_sha);
    assert_eq!(
        header(signed, "authorization"),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders={signed_headers}, Signature={signature}"
        )
    );
}

#[test]
fn get_object_with_range() {
    let signed = Signer::new("us-east-1", "s3").sign(
        &creds(),
        &Request {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &[("Host", HOST), ("Range", "bytes=0-9")],
            payload: Payload::Bytes(b""),
        },
        NOW,
    );
    check(
        &signed,
        "host;range;x-amz-content-sha256;x-amz-date",
        EMPTY_SHA256,
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    assert_eq!(
        signed.canonical_request,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
         x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
         x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn put_object_with_dollar_in_key() {
    let body = b"Welcome to Amazon S3.";
    let signed = Signer::new("us-east-1", "s3").sign(
        &creds(),
        &Request {
            method: "PUT",
            path: "/test$file.text",
            query: &[],
            headers: &[
                ("Host", HOST),
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            payload: Payload::Bytes(body),
        },
        NOW,
    );
    check(
        &signed,
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    assert!(signed
        .canonical_request
        .starts_with("PUT\n/test%24file.text\n\n"));
}

#[test]
fn get_bucket_lifecycle() {
    let signed = Signer::new("us-east-1", "s3").sign(
        &creds(),
        &Request {
            method: "GET",
            path: "/",
            query: &[("lifecycle", "")],
            headers: &[("Host", HOST)],
            payload: Payload::Bytes(b""),
        },
        NOW,
    );
    check(
        &signed,
        "host;x-amz-content-sha256;x-amz-date",
        EMPTY_SHA256,
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    assert!(signed.canonical_request.starts_with("GET\n/\nlifecycle=\n"));
}

#[test]
fn list_objects_max_keys_prefix() {
    let signed = Signer::new("us-east-1", "s3").sign(
        &creds(),
        &Request {
            method: "GET",
            path: "/",
            // Deliberately out of order: the signer sorts.
            query: &[("prefix", "J"), ("max-keys", "2")],
            headers: &[("Host", HOST)],
            payload: Payload::Sha256Hex(EMPTY_SHA256),
        },
        NOW,
    );
    check(
        &signed,
        "host;x-amz-content-sha256;x-amz-date",
        EMPTY_SHA256,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
    assert!(signed
        .canonical_request
        .starts_with("GET\n/\nmax-keys=2&prefix=J\n"));
}
