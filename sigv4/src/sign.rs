//! Header signing: the `Authorization` header of a request.
//!
//! ```text
//! string to sign = "AWS4-HMAC-SHA256\n" + YYYYMMDDTHHMMSSZ + "\n"
//!                + YYYYMMDD/region/service/aws4_request + "\n"
//!                + hex(SHA-256(canonical request))
//! signature      = hex(HMAC-SHA256(signing key, string to sign))
//! ```
//!
//! The signer adds the headers it owns itself (`x-amz-date`, `x-amz-content-sha256` and, with
//! temporary credentials, `x-amz-security-token`) and signs them; any the caller passed under
//! those names is ignored, so signed and sent values cannot diverge. `x-amz-content-sha256`
//! is always sent, even for S3-compatible stores that would accept its absence: S3 requires
//! it with SigV4, and a real body hash (rather than `aws-chunked` or trailers) is what OCI and
//! s3fs use.

use std::fmt;

use time::OffsetDateTime;

use crate::canonical::{canonical_query, canonical_request, CanonicalHeaders};
use crate::date::AmzDate;
use crate::hash::{hmac_sha256, sha256_hex};
use crate::key::KeyCache;
use crate::{Credentials, Payload, Request, Signed, UNSIGNED_PAYLOAD};

/// The algorithm name, first line of the string to sign and first word of `Authorization`.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Headers the signer sets itself; the caller's values for these names are dropped.
/// `authorization` is never signed.
const SIGNER_OWNED: [&str; 4] = [
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "authorization",
];

/// Signs requests for one region and service (`s3`), caching the signing key per day.
///
/// `Send + Sync`: one signer is shared by every request of a client.
pub struct Signer {
    keys: KeyCache,
}

impl Signer {
    /// A signer for `region` (e.g. `us-east-1`; S3-compatible stores may check it, OCI
    /// rejects a wrong one) and `service` (`s3`).
    pub fn new(region: impl Into<String>, service: impl Into<String>) -> Signer {
        Signer {
            keys: KeyCache::new(region.into(), service.into()),
        }
    }

    /// The region this signer signs for.
    pub fn region(&self) -> &str {
        self.keys.region()
    }

    /// The service this signer signs for.
    pub fn service(&self) -> &str {
        self.keys.service()
    }

    /// How many times this signer derived a signing key rather than reusing the cached one
    /// (once per UTC day and secret in normal use). For tests and diagnostics.
    pub fn key_derivations(&self) -> u64 {
        self.keys.derivations()
    }

    /// Signs `req` at time `now` with `creds`; returns the headers to add to the request.
    ///
    /// `req.headers` must contain `host` exactly as sent. The returned headers are, in this
    /// order: `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (only with a
    /// session token) and `authorization`.
    pub fn sign(&self, creds: &Credentials, req: &Request<'_>, now: OffsetDateTime) -> Signed {
        let date = AmzDate::new(now);
        let payload_hash = match req.payload {
            Payload::Bytes(body) => sha256_hex(body),
            Payload::Sha256Hex(hash) => hash.to_owned(),
            Payload::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
        };

        let mut added: Vec<(String, String)> = vec![
            ("x-amz-date".to_owned(), date.date_time.clone()),
            ("x-amz-content-sha256".to_owned(), payload_hash.clone()),
        ];
        if let Some(token) = &creds.session_token {
            added.push(("x-amz-security-token".to_owned(), token.clone()));
        }

        let caller = req.headers.iter().copied().filter(|(name, _)| {
            let name = name.trim();
            !SIGNER_OWNED
                .iter()
                .any(|own| name.eq_ignore_ascii_case(own))
        });
        let headers = CanonicalHeaders::new(
            caller.chain(added.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        );

        let canonical_request = canonical_request(
            req.method,
            req.path,
            &canonical_query(req.query),
            &headers,
            &payload_hash,
        );
        let signature = self.signature(creds, &date, &canonical_request);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
            creds.access_key_id,
            self.scope(&date),
            headers.signed_names(),
        );
        added.push(("authorization".to_owned(), authorization));
        Signed {
            headers: added,
            signature,
            canonical_request,
        }
    }

    /// `YYYYMMDD/region/service/aws4_request`.
    pub(crate) fn scope(&self, date: &AmzDate) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            date.date,
            self.keys.region(),
            self.keys.service()
        )
    }

    /// The hex signature of `canonical_request` at `date`.
    pub(crate) fn signature(
        &self,
        creds: &Credentials,
        date: &AmzDate,
        canonical_request: &str,
    ) -> String {
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            date.date_time,
            self.scope(date),
            sha256_hex(canonical_request.as_bytes())
        );
        let key = self.keys.key(&creds.secret_access_key, &date.date);
        hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
    }
}

impl fmt::Debug for Signer {
    /// Region and service only: never the cached key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region())
            .field("service", &self.service())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: token.map(Into::into),
        }
    }

    fn get<'a>(headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            method: "GET",
            path: "/bucket/key",
            query: &[],
            headers,
            payload: Payload::Bytes(b""),
        }
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Signer>();
    }

    #[test]
    fn returned_headers_in_documented_order() {
        let s = Signer::new("us-east-1", "s3");
        let signed = s.sign(
            &creds(Some("tok")),
            &get(&[("host", "h")]),
            datetime!(2024-01-01 12:00:00 UTC),
        );
        let names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-security-token",
                "authorization"
            ]
        );
        assert_eq!(signed.headers[0].1, "20240101T120000Z");
        assert_eq!(signed.headers[1].1, crate::EMPTY_SHA256);
        assert_eq!(signed.headers[2].1, "tok");
        assert!(signed.headers[3].1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
        ));
        assert!(signed.headers[3].1.ends_with(&signed.signature));
    }

    #[test]
    fn no_token_no_token_header() {
        let s = Signer::new("us-east-1", "s3");
        let signed = s.sign(
            &creds(None),
            &get(&[("host", "h")]),
            datetime!(2024-01-01 12:00:00 UTC),
        );
        assert!(signed
            .headers
            .iter()
            .all(|(n, _)| n != "x-amz-security-token"));
        assert!(!signed.canonical_request.contains("x-amz-security-token"));
    }

    #[test]
    fn caller_values_for_signer_owned_headers_are_ignored() {
        let s = Signer::new("us-east-1", "s3");
        let now = datetime!(2024-01-01 12:00:00 UTC);
        let plain = s.sign(&creds(None), &get(&[("host", "h")]), now);
        let noisy = s.sign(
            &creds(None),
            &get(&[
                ("host", "h"),
                ("X-Amz-Date", "19990101T000000Z"),
                ("x-amz-content-sha256", "bogus"),
                ("Authorization", "old"),
            ]),
            now,
        );
        assert_eq!(plain, noisy);
    }

    #[test]
    fn payload_variants() {
        let s = Signer::new("us-east-1", "s3");
        let now = datetime!(2024-01-01 12:00:00 UTC);
        let sign = |payload| {
            let req = Request {
                payload,
                ..get(&[("host", "h")])
            };
            s.sign(&creds(None), &req, now)
        };
        let bytes = sign(Payload::Bytes(b"hello"));
        let hash = sha256_hex(b"hello");
        let given = sign(Payload::Sha256Hex(&hash));
        assert_eq!(bytes, given);
        assert_eq!(bytes.headers[1].1, hash);
        assert!(bytes.canonical_request.ends_with(&hash));
        let unsigned = sign(Payload::Unsigned);
        assert_eq!(unsigned.headers[1].1, UNSIGNED_PAYLOAD);
        assert!(unsigned.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
    }

    #[test]
    fn sign_reuses_key_within_a_day_and_derives_on_the_next() {
        let s = Signer::new("us-east-1", "s3");
        let c = creds(None);
        let req = get(&[("host", "h")]);
        assert_eq!(s.key_derivations(), 0);
        s.sign(&c, &req, datetime!(2024-01-01 00:00:00 UTC));
        assert_eq!(s.key_derivations(), 1);
        s.sign(&c, &req, datetime!(2024-01-01 23:59:59 UTC));
        assert_eq!(s.key_derivations(), 1, "same UTC day: cached key");
        let next = s.sign(&c, &req, datetime!(2024-01-02 00:00:00 UTC));
        assert_eq!(s.key_derivations(), 2, "new UTC day: new key");
        // And the cached path gives the same signature as a fresh signer would.
        let fresh =
            Signer::new("us-east-1", "s3").sign(&c, &req, datetime!(2024-01-02 00:00:00 UTC));
        assert_eq!(next, fresh);
    }

    #[test]
    fn debug_shows_no_secrets() {
        let s = Signer::new("us-east-1", "s3");
        s.sign(
            &creds(None),
            &get(&[("host", "h")]),
            datetime!(2024-01-01 12:00:00 UTC),
        );
        assert_eq!(
            format!("{s:?}"),
            r#"Signer { region: "us-east-1", service: "s3", .. }"#
        );
        let c = creds(Some("tok"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret\""));
        assert!(!shown.contains("tok\""));
    }
}
