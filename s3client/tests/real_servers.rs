//! `S3Client` against real S3 servers: moto (no signature checks) and Garage (checks SigV4).
//!
//! Each scenario runs against both servers; a server that is not configured is skipped
//! loudly (see `common`). The bucket contents come from boto3 (`s3tool.py`), never from the
//! client under test.

mod common;

use std::time::Duration;

use common::*;
use s3client::{ByteRange, Credentials, GetRequest, ListVersion, ObjectClient, S3Client, S3Error};
use time::OffsetDateTime;

macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn moto() {
                if let Some(f) = fixture(Kind::Moto) {
                    super::$name(f).await
                }
            }
            #[tokio::test]
            async fn garage() {
                if let Some(f) = fixture(Kind::Garage) {
                    super::$name(f).await
                }
            }
        }
    )*};
}

on_both_servers!(
    head_reports_size_type_and_metadata,
    ranged_gets_return_exactly_the_range,
    zero_byte_objects,
    odd_keys_round_trip,
    listing_more_than_1000_keys_v1_equals_v2,
    listing_with_delimiter_matches_the_oracle,
    listing_in_small_pages,
    missing_keys_and_buckets,
    if_match,
    check_bucket_passes,
);

async fn head_reports_size_type_and_metadata(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    let info = c.head_object(META_KEY).await.unwrap();
    assert_eq!(info.key, META_KEY);
    assert_eq!(info.size, "hello metadata".len() as u64);
    assert_eq!(
        info.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(info.metadata.get("mode").map(String::as_str), Some("33188"));
    assert_eq!(info.metadata.get("uid").map(String::as_str), Some("1000"));
    // Sent as x-amz-meta-MTime: the name comes back lower-cased.
    assert_eq!(
        info.metadata.get("mtime").map(String::as_str),
        Some("1700000000.5"),
        "{:?}",
        info.metadata
    );
    assert_eq!(info.metadata.len(), 3, "{:?}", info.metadata);
    assert!(
        info.etag.starts_with('"') && info.etag.len() > 2,
        "{}",
        info.etag
    );
    let age = OffsetDateTime::now_utc() - info.last_modified;
    assert!(
        age < time::Duration::hours(1) && age > -time::Duration::minutes(5),
        "last modified {}",
        info.last_modified
    );

    // The ETag and size agree with the listing's.
    let page = c
        .list_objects(s3client::ListRequest {
            prefix: META_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].etag, info.etag);
    assert_eq!(page.objects[0].size, info.size);
    assert_eq!(
        page.objects[0].last_modified.unix_timestamp(),
        info.last_modified.unix_timestamp()
    );

    // A GET's headers carry the same information.
    let resp = c
        .get_object(GetRequest {
            key: META_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.info.metadata, info.metadata);
    assert_eq!(resp.info.content_type, info.content_type);
    assert_eq!(read_all(resp).await.unwrap(), b"hello metadata");
}

async fn ranged_gets_return_exactly_the_range(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    let data = pattern();
    let n = PATTERN_LEN as u64;
    let ranges = [
        (0, 1),
        (1, 2),
        (n / 2, n / 2 + 1),
        (n - 1, n),
        (1000, 200_000),
        (0, n),
        (65_535, 65_537),
    ];
    for (start, end) in ranges {
        let resp = c
            .get_object(GetRequest {
                key: PATTERN_KEY.into(),
                range: Some(ByteRange::new(start, end)),
                if_match: None,
            })
            .await
            .unwrap();
        assert_eq!(resp.info.size, n, "total size for {start}..{end}");
        let body = read_all(resp).await.unwrap();
        assert!(
            body == data[start as usize..end as usize],
            "range {start}..{end}: got {} bytes",
            body.len()
        );
    }
    // Whole object, no range.
    let resp = c
        .get_object(GetRequest {
            key: PATTERN_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.info.size, n);
    assert!(read_all(resp).await.unwrap() == data);

    // A range running past the end is cut at the end (S3 semantics).
    let resp = c
        .get_object(GetRequest {
            key: PATTERN_KEY.into(),
            range: Some(ByteRange::new(n - 10, n + 100)),
            if_match: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.info.size, n);
    assert!(read_all(resp).await.unwrap() == data[PATTERN_LEN - 10..]);

    // A range starting at or past the end is refused.
    let err = c
        .get_object(GetRequest {
            key: PATTERN_KEY.into(),
            range: Some(ByteRange::new(n, n + 1)),
            if_match: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, S3Error::InvalidRange(ref d) if d.status == 416),
        "{err:?}"
    );
}

async fn zero_byte_objects(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    for key in [EMPTY_KEY, "repo/static/empty.bin", "repo/bert-base/3/"] {
        let info = c.head_object(key).await.unwrap();
        assert_eq!(info.size, 0, "{key}");
        let resp = c
            .get_object(GetRequest {
                key: key.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.info.size, 0, "{key}");
        assert_eq!(resp.info.etag, info.etag);
        assert!(read_all(resp).await.unwrap().is_empty(), "{key}");
        // An empty range sends no ranged GET (S3 would refuse it) and reads nothing.
        let resp = c
            .get_object(GetRequest {
                key: key.into(),
                range: Some(ByteRange::new(0, 0)),
                if_match: None,
            })
            .await
            .unwrap();
        assert_eq!(resp.info.size, 0);
        assert!(read_all(resp).await.unwrap().is_empty());
    }
    let dir = c.head_object("repo/bert-base/3/").await.unwrap();
    assert_eq!(dir.content_type.as_deref(), Some("application/x-directory"));
}

async fn odd_keys_round_trip(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    for key in ODD_KEYS.iter().copied().chain([
        "repo/static/odd names/a b.txt",
        "repo/static/odd names/a+b.txt",
        "repo/static/odd names/100%.txt",
        "repo/static/odd names/caf\u{e9}-\u{6a21}\u{578b}.txt",
    ]) {
        let row = f.row(key);
        let info = c
            .head_object(key)
            .await
            .unwrap_or_else(|e| panic!("HEAD {key:?}: {e}"));
        assert_eq!(info.size, row.size, "{key:?}");
        let resp = c
            .get_object(GetRequest {
                key: key.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("GET {key:?}: {e}"));
        let body = read_all(resp).await.unwrap();
        assert_eq!(sha256_hex(&body), row.sha256, "{key:?}");
        if key.starts_with("odd/") {
            assert_eq!(body, key.as_bytes());
        }
    }
    // And they list under their exact names, with V1 and V2.
    for version in [ListVersion::V1, ListVersion::V2] {
        let c = f.client(version);
        let (keys, prefixes, _) = list_all(&c, "odd/", None, None).await.unwrap();
        let (want, _) = expected_listing(&f.keys(), "odd/", None);
        assert_eq!(keys, want, "{version:?}");
        assert!(prefixes.is_empty());
        let mut sorted = ODD_KEYS.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}

async fn listing_more_than_1000_keys_v1_equals_v2(f: &Fixture) {
    let prefix = "repo/static/many/";
    let (want, _) = expected_listing(&f.keys(), prefix, None);
    assert_eq!(want.len(), MANY);
    let mut results = Vec::new();
    for version in [ListVersion::V1, ListVersion::V2] {
        let c = f.client(version);
        for delimiter in [None, Some("/")] {
            let (keys, prefixes, pages) = list_all(&c, prefix, delimiter, None).await.unwrap();
            assert!(pages >= 2, "{version:?} {delimiter:?}: {pages} page(s)");
            assert_eq!(keys, want, "{version:?} {delimiter:?}");
            assert!(prefixes.is_empty());
            results.push(keys);
        }
        // The whole bucket, no delimiter: every key of the manifest, in order.
        let (keys, _, pages) = list_all(&c, "", None, None).await.unwrap();
        assert!(pages >= 2);
        assert_eq!(keys, f.keys(), "{version:?}");
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));

    // Sizes and ETags of a page agree with the manifest.
    let c = f.client(ListVersion::V1);
    let page = c
        .list_objects(s3client::ListRequest {
            prefix: prefix.into(),
            max_keys: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 3);
    assert!(page.next.is_some());
    for o in &page.objects {
        assert_eq!(o.size, f.row(&o.key).size);
        assert!(o.etag.starts_with('"'));
    }
}

async fn listing_with_delimiter_matches_the_oracle(f: &Fixture) {
    let keys = f.keys();
    for version in [ListVersion::V1, ListVersion::V2] {
        let c = f.client(version);
        for prefix in [
            "",
            "repo/",
            "repo/static/",
            "repo/bert-base/",
            "repo/static/odd names/",
            "odd/",
            "odd//",
            "odd/a",
            "no/such/prefix/",
        ] {
            for delimiter in [Some("/"), None] {
                let (got_keys, got_prefixes, _) =
                    list_all(&c, prefix, delimiter, None).await.unwrap();
                let (want_keys, want_prefixes) = expected_listing(&keys, prefix, delimiter);
                assert_eq!(got_keys, want_keys, "{version:?} {prefix:?} {delimiter:?}");
                assert_eq!(
                    got_prefixes, want_prefixes,
                    "{version:?} {prefix:?} {delimiter:?}"
                );
            }
        }
        // The root: the top-level "directories" only.
        let (root_keys, root_prefixes, _) = list_all(&c, "", Some("/"), None).await.unwrap();
        assert!(root_keys.is_empty());
        assert_eq!(root_prefixes, vec!["data/", "meta/", "odd/", "repo/"]);
    }
}

async fn listing_in_small_pages(f: &Fixture) {
    // Small pages exercise the continuation logic many times, with and without a delimiter
    // (V1 servers send NextMarker only with one; without, the next marker is the last key).
    let keys = f.keys();
    for version in [ListVersion::V1, ListVersion::V2] {
        let c = f.client(version);
        for (prefix, delimiter, max_keys) in [
            ("odd/", None, 2),
            ("odd/", Some("/"), 2),
            ("", Some("/"), 1),
            ("repo/", Some("/"), 1),
            ("repo/static/", Some("/"), 2),
            ("repo/static/many/", None, 333),
        ] {
            let (got_keys, mut got_prefixes, pages) =
                list_all(&c, prefix, delimiter, Some(max_keys))
                    .await
                    .unwrap();
            let (want_keys, want_prefixes) = expected_listing(&keys, prefix, delimiter);
            if f.server.kind == Kind::Moto && version == ListVersion::V1 {
                // moto's V1 pages the keys but repeats every common prefix on every page
                // (and sends a hash as NextMarker); S3 and Garage page them.
                got_prefixes.sort();
                got_prefixes.dedup();
            }
            assert_eq!(
                got_keys, want_keys,
                "{version:?} {prefix:?} {delimiter:?} {max_keys}"
            );
            assert_eq!(
                got_prefixes, want_prefixes,
                "{version:?} {prefix:?} {delimiter:?}"
            );
            let moto_v1 = f.server.kind == Kind::Moto && version == ListVersion::V1;
            // moto's V1 max-keys counts keys only.
            let entries = want_keys.len() + if moto_v1 { 0 } else { want_prefixes.len() };
            assert!(
                pages >= entries.div_ceil(max_keys as usize),
                "{version:?} {prefix:?}: {pages} pages for {entries} entries"
            );
        }
    }
}

async fn missing_keys_and_buckets(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    let err = c.head_object("no/such/key").await.unwrap_err();
    assert!(
        matches!(err, S3Error::NotFound(ref d) if d.status == 404),
        "{err:?}"
    );
    let err = c
        .get_object(GetRequest {
            key: "no/such/key".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match &err {
        S3Error::NotFound(d) => assert_eq!((d.status, d.code.as_str()), (404, "NoSuchKey")),
        e => panic!("{e:?}"),
    }

    let missing = unique_bucket("missing");
    for version in [ListVersion::V1, ListVersion::V2] {
        let c = client(&f.server, &missing, version);
        let err = c.check_bucket().await.unwrap_err();
        match &err {
            S3Error::NoSuchBucket(d) => {
                assert_eq!((d.status, d.code.as_str()), (404, "NoSuchBucket"))
            }
            e => panic!("{version:?}: {e:?}"),
        }
        let err = c
            .list_objects(s3client::ListRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, S3Error::NoSuchBucket(_)), "{err:?}");
    }
    let c = client(&f.server, &missing, ListVersion::V1);
    let err = c
        .get_object(GetRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, S3Error::NoSuchBucket(_)), "{err:?}");
    // HEAD answers have no body: a 404 is all there is to say.
    let err = c.head_object("k").await.unwrap_err();
    assert!(
        matches!(err, S3Error::NotFound(ref d) if d.status == 404),
        "{err:?}"
    );
}

async fn if_match(f: &Fixture) {
    let c = f.client(ListVersion::V1);
    let info = c.head_object(PATTERN_KEY).await.unwrap();
    let resp = c
        .get_object(GetRequest {
            key: PATTERN_KEY.into(),
            range: Some(ByteRange::new(0, 10)),
            if_match: Some(info.etag.clone()),
        })
        .await
        .unwrap();
    assert_eq!(read_all(resp).await.unwrap(), pattern()[..10]);
    let err = c
        .get_object(GetRequest {
            key: PATTERN_KEY.into(),
            range: Some(ByteRange::new(0, 10)),
            if_match: Some("\"0123456789abcdef0123456789abcdef\"".into()),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, S3Error::PreconditionFailed(ref d) if d.status == 412),
        "{err:?}"
    );
}

async fn check_bucket_passes(f: &Fixture) {
    for version in [ListVersion::V1, ListVersion::V2] {
        f.client(version).check_bucket().await.unwrap();
    }
}

// ---- Garage only: it checks signatures. ----

fn garage_client_with(f: &Fixture, edit: impl FnOnce(&mut s3client::S3Config)) -> S3Client {
    let mut c = config(&f.server, &f.bucket);
    edit(&mut c);
    S3Client::new(c).unwrap()
}

#[tokio::test]
async fn garage_wrong_secret_is_access_denied() {
    let Some(f) = fixture(Kind::Garage) else {
        return;
    };
    let c = garage_client_with(f, |c| {
        c.credentials = Some(Credentials {
            access_key_id: f.server.key_id.clone(),
            secret_access_key: format!("{}x", f.server.secret),
            session_token: None,
        })
    });
    // Garage answers 403 AccessDenied "Forbidden: Invalid signature", not
    // SignatureDoesNotMatch as AWS does.
    let err = c.check_bucket().await.unwrap_err();
    match &err {
        S3Error::AccessDenied(d) => {
            assert_eq!((d.status, d.code.as_str()), (403, "AccessDenied"));
            assert!(d.message.contains("signature"), "{d}");
        }
        e => panic!("{e:?}"),
    }
    let err = c
        .get_object(GetRequest {
            key: META_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, S3Error::AccessDenied(_)), "{err:?}");
    let err = c.head_object(META_KEY).await.unwrap_err();
    assert!(
        matches!(err, S3Error::AccessDenied(ref d) if d.status == 403),
        "{err:?}"
    );
}

#[tokio::test]
async fn garage_unknown_key_is_access_denied() {
    let Some(f) = fixture(Kind::Garage) else {
        return;
    };
    let c = garage_client_with(f, |c| {
        c.credentials = Some(Credentials {
            access_key_id: "GK0000000000000000000000".into(),
            secret_access_key: f.server.secret.clone(),
            session_token: None,
        })
    });
    let err = c.check_bucket().await.unwrap_err();
    assert!(
        matches!(err, S3Error::AccessDenied(ref d) if d.status == 403),
        "{err:?}"
    );
}

#[tokio::test]
async fn garage_wrong_region_is_rejected() {
    let Some(f) = fixture(Kind::Garage) else {
        return;
    };
    let c = garage_client_with(f, |c| c.region = "us-ashburn-1".into());
    // Garage checks the credential scope first: 400 AuthorizationHeaderMalformed.
    let err = c.check_bucket().await.unwrap_err();
    match &err {
        S3Error::Service(d) => {
            assert_eq!(
                (d.status, d.code.as_str()),
                (400, "AuthorizationHeaderMalformed")
            );
        }
        e => panic!("{e:?}"),
    }
    // Not retried, and the same for reads.
    let err = c
        .get_object(GetRequest {
            key: META_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, S3Error::Service(ref d) if d.status == 400),
        "{err:?}"
    );
}

#[tokio::test]
async fn garage_session_token_is_signed_and_sent() {
    // Garage has no STS; a token it does not know must not break a long-term key's request
    // (it is signed like any x-amz-* header).
    let Some(f) = fixture(Kind::Garage) else {
        return;
    };
    let c = garage_client_with(f, |c| {
        c.credentials = Some(Credentials {
            access_key_id: f.server.key_id.clone(),
            secret_access_key: f.server.secret.clone(),
            session_token: Some("a-session-token".into()),
        })
    });
    match c.check_bucket().await {
        Ok(()) => {}
        // Acceptable answers: the token is refused as such, never a signature error.
        Err(S3Error::AccessDenied(d)) => assert!(!d.message.contains("signature"), "{d}"),
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn garage_anonymous_request_is_refused() {
    let Some(f) = fixture(Kind::Garage) else {
        return;
    };
    let c = garage_client_with(f, |c| c.credentials = None);
    let err = c.check_bucket().await.unwrap_err();
    assert!(
        matches!(err, S3Error::AccessDenied(ref d) if d.status == 403),
        "{err:?}"
    );
}

// ---- Logging: one INFO line per request, secrets never logged. ----

#[test]
fn one_log_line_per_request_without_secrets() {
    let Some(server) = server(Kind::Moto) else {
        return;
    };
    // Own bucket: this test runs outside the shared runtime-per-test fixture on purpose.
    let bucket = unique_bucket("log");
    s3tool(&server, &["create-bucket", &bucket]);
    s3tool(&server, &["put", &bucket, "k", "--data", "0123456789"]);

    let secret = "SECRET-never-logged-9f8e7d";
    let token = "TOKEN-never-logged-1a2b3c";
    let mut cfg = config(&server, &bucket);
    cfg.credentials = Some(Credentials {
        access_key_id: "AKIDLOGTEST".into(),
        secret_access_key: secret.into(),
        session_token: Some(token.into()),
    });
    let c = S3Client::new(cfg).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = capture_logs(|| {
        rt.block_on(async {
            c.head_object("k").await.unwrap(); // 1
            let r = c
                .get_object(GetRequest {
                    key: "k".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(read_all(r).await.unwrap(), b"0123456789"); // 2
            let r = c
                .get_object(GetRequest {
                    key: "k".into(),
                    range: Some(ByteRange::new(2, 4)),
                    if_match: None,
                })
                .await
                .unwrap();
            drop(r); // 3: dropped unread
            c.head_object("missing").await.unwrap_err(); // 4
            c.list_objects(s3client::ListRequest::default())
                .await
                .unwrap(); // 5
                           // Let the dropped body's connection task finish.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        drop(c);
    });
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("s3client::request"))
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines.iter().all(|l| l.contains(" INFO ")), "{text}");
    assert!(lines[0].contains("op=\"HeadObject\"") || lines[0].contains("op=HeadObject"));
    assert!(
        lines[0].contains("status=200") && lines[0].contains("attempt=1"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("bytes=10"), "{}", lines[1]);
    assert!(lines[2].contains("status=206"), "{}", lines[2]);
    assert!(lines[2].contains("range=2-3"), "{}", lines[2]);
    assert!(!lines[1].contains("range="), "{}", lines[1]);
    assert!(lines[3].contains("status=404"), "{}", lines[3]);
    assert!(lines[4].contains("prefix="), "{}", lines[4]);
    assert!(lines.iter().all(|l| l.contains("elapsed_ms=")));
    for forbidden in [
        secret,
        token,
        "Signature=",
        "uthorization",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(
            !text.contains(forbidden),
            "{forbidden:?} in the log:\n{text}"
        );
    }
    s3tool(&server, &["delete-bucket", &bucket]);
}
