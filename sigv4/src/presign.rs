//! Presigned URLs: the signature travels in the query string instead of a header.
//!
//! S3's form: the authentication parameters (`X-Amz-Algorithm`, `X-Amz-Credential`,
//! `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, and `X-Amz-Security-Token` for
//! temporary credentials) join the request's own parameters and are signed with them; only
//! `host` is a signed header, since the eventual user of the URL may add any others; the
//! payload hash is the literal `UNSIGNED-PAYLOAD`, since the body is unknown when the URL is
//! made. `X-Amz-Signature` is appended last, outside what it signs.

use time::OffsetDateTime;

use crate::canonical::{canonical_query, canonical_request, CanonicalHeaders};
use crate::date::AmzDate;
use crate::sign::ALGORITHM;
use crate::{Credentials, Signer, UNSIGNED_PAYLOAD};

/// Query parameters presigning sets itself; the caller's values for these names are dropped.
const PRESIGN_OWNED: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

impl Signer {
    /// The query string (without `?`) of a presigned URL for `method` on `path` (raw, as for
    /// [`Signer::sign`]) at `host` (as it will be sent, with a non-default port), valid for
    /// `expires_in_secs` from `now`. The URL is then `scheme://host` + [`crate::encode_path`]
    /// of `path` + `?` + the result.
    ///
    /// The result is the canonical query of `query` plus the authentication parameters, with
    /// `X-Amz-Signature` last. S3 rejects an expiry over 604800 seconds (7 days); this function
    /// signs what it is given.
    #[allow(clippy::too_many_arguments)]
    pub fn presign(
        &self,
        creds: &Credentials,
        method: &str,
        host: &str,
        path: &str,
        query: &[(&str, &str)],
        expires_in_secs: u64,
        now: OffsetDateTime,
    ) -> String {
        let date = AmzDate::new(now);
        let credential = format!("{}/{}", creds.access_key_id, self.scope(&date));
        let expires = expires_in_secs.to_string();
        let mut params: Vec<(&str, &str)> = query
            .iter()
            .copied()
            .filter(|(name, _)| !PRESIGN_OWNED.contains(name))
            .collect();
        params.extend([
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", date.date_time.as_str()),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", "host"),
        ]);
        if let Some(token) = &creds.session_token {
            params.push(("X-Amz-Security-Token", token.as_str()));
        }
        let query = canonical_query(&params);
        let headers = CanonicalHeaders::new([("host", host)]);
        let canonical = canonical_request(method, path, &query, &headers, UNSIGNED_PAYLOAD);
        let signature = self.signature(creds, &date, &canonical);
        format!("{query}&X-Amz-Signature={signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// The presigned GET example of the S3 API reference (query-string authentication):
    /// `GET /test.txt` on `examplebucket.s3.amazonaws.com`, 86400 s, at 2013-05-24.
    #[test]
    fn aws_documentation_example() {
        let creds = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let q = Signer::new("us-east-1", "s3").presign(
            &creds,
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            &[],
            86400,
            datetime!(2013-05-24 00:00:00 UTC),
        );
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn signature_last_token_signed_and_caller_auth_params_dropped() {
        let creds = Credentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            session_token: Some("tok/en+=".into()),
        };
        let s = Signer::new("eu-west-1", "s3");
        let now = datetime!(2024-01-01 00:00:00 UTC);
        let q = s.presign(&creds, "GET", "h", "/b/k", &[("versionId", "v 1")], 60, now);
        let q2 = s.presign(
            &creds,
            "GET",
            "h",
            "/b/k",
            &[("versionId", "v 1"), ("X-Amz-Expires", "999")],
            60,
            now,
        );
        assert_eq!(q, q2);
        let parts: Vec<&str> = q.split('&').collect();
        assert!(parts[parts.len() - 1].starts_with("X-Amz-Signature="));
        assert!(parts.contains(&"X-Amz-Security-Token=tok%2Fen%2B%3D"));
        assert!(parts.contains(&"versionId=v%201"));
        assert!(parts.contains(&"X-Amz-Expires=60"));
    }
}
