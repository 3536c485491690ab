//! The write operations of `S3Client` (PutObject, DeleteObject, CopyObject) against real S3
//! servers: moto (no signature checks) and Garage (checks SigV4).
//!
//! What was written is checked with the independent boto3 oracle (`s3tool.py manifest`:
//! size, SHA-256, content type) and with HEAD (metadata). Each test has its own bucket,
//! deleted at the end. A server that is not configured is skipped loudly (see `common`).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use s3client::{CopyRequest, Credentials, ObjectClient, PutBody, PutRequest, S3Client, S3Error};

macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn moto() {
                if let Some(s) = server(Kind::Moto) {
                    super::$name(s).await
                }
            }
            #[tokio::test]
            async fn garage() {
                if let Some(s) = server(Kind::Garage) {
                    super::$name(s).await
                }
            }
        }
    )*};
}

on_both_servers!(
    puts_of_bytes_and_files_match_the_oracle,
    empty_puts_do_not_stall_the_connection,
    delete_removes_and_missing_keys_are_fine,
    copy_keeps_or_replaces_metadata,
);

/// A bucket of its own for one test, deleted (with its objects) when dropped.
struct Bucket {
    server: Server,
    name: String,
}

impl Bucket {
    fn new(server: &Server, tag: &str) -> Bucket {
        let name = unique_bucket(tag);
        s3tool(server, &["create-bucket", &name]);
        Bucket {
            server: server.clone(),
            name,
        }
    }
    fn client(&self) -> S3Client {
        S3Client::new(config(&self.server, &self.name)).unwrap()
    }
    fn manifest(&self) -> BTreeMap<String, Row> {
        parse_manifest(&s3tool(&self.server, &["manifest", &self.name]))
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect()
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Best effort even while a failed test unwinds.
        let _ = std::process::Command::new("python3")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../integration/tools/s3tool.py"))
            .args(["--endpoint", &self.server.url])
            .args(["--access-key", &self.server.key_id])
            .args(["--secret-key", &self.server.secret])
            .args(["delete-bucket", &self.name])
            .output();
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn temp_file(tag: &str, contents: &[u8]) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "s3client-real-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SIZES: [usize; 3] = [0, 1, (5 << 20) + 1];

async fn puts_of_bytes_and_files_match_the_oracle(server: Server) {
    let bucket = Bucket::new(&server, "put");
    let c = bucket.client();
    let mut expected = BTreeMap::new();
    let mut etags = BTreeMap::new();
    let mut files = Vec::new();
    for (i, size) in SIZES.into_iter().enumerate() {
        for from_file in [false, true] {
            let contents = data(size, i as u8 + 10 * from_file as u8);
            let key = format!(
                "{}/{size} odd+key é",
                if from_file { "file" } else { "bytes" }
            );
            let body = if from_file {
                // Longer than what is sent: only the first `size` bytes go.
                let mut on_disk = contents.clone();
                on_disk.extend_from_slice(b"not sent");
                let path = temp_file("put", &on_disk);
                files.push(path.clone());
                PutBody::File {
                    path,
                    len: size as u64,
                }
            } else {
                PutBody::Bytes(contents.clone().into())
            };
            let content_type = (size == 1).then(|| "text/plain; charset=utf-8".to_string());
            let r = c
                .put_object(PutRequest {
                    key: key.clone(),
                    body,
                    content_type: content_type.clone(),
                    metadata: meta(&[("mode", "33188"), ("uid", "1000"), ("mtime", "1700000000")]),
                })
                .await
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(r.etag.starts_with('"') && r.etag.len() > 2, "{}", r.etag);
            etags.insert(key.clone(), r.etag);
            expected.insert(
                key,
                (
                    size as u64,
                    sha256_hex(&contents),
                    content_type.unwrap_or_else(|| "application/octet-stream".into()),
                ),
            );
        }
    }
    let manifest = bucket.manifest();
    assert_eq!(
        manifest.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (key, (size, sha, content_type)) in &expected {
        let row = &manifest[key];
        assert_eq!(row.size, *size, "{key}");
        assert_eq!(&row.sha256, sha, "{key}");
        assert_eq!(
            row.content_type.as_deref(),
            Some(content_type.as_str()),
            "{key}"
        );
        let info = c.head_object(key).await.unwrap();
        assert_eq!(info.size, *size);
        assert_eq!(
            info.etag, etags[key],
            "{key}: the PUT's ETag is the object's"
        );
        assert_eq!(
            info.metadata,
            meta(&[("mode", "33188"), ("uid", "1000"), ("mtime", "1700000000")]),
            "{key}"
        );
    }
    for f in files {
        std::fs::remove_file(f).unwrap();
    }
}

async fn empty_puts_do_not_stall_the_connection(server: Server) {
    // Garage stalls the next request on a connection after a 0-byte PUT sent with
    // `Expect: 100-continue`. We never send Expect: the pooled connection must go on.
    let bucket = Bucket::new(&server, "empty");
    let c = bucket.client();
    let started = Instant::now();
    for i in 0..3 {
        let key = format!("dir{i}/");
        c.put_object(PutRequest {
            key: key.clone(),
            body: PutBody::Bytes(bytes::Bytes::new()),
            content_type: Some("application/x-directory".into()),
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
        c.put_object(PutRequest {
            key: format!("{key}f"),
            body: PutBody::Bytes(bytes::Bytes::from_static(b"x")),
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
        let info = c.head_object(&key).await.unwrap();
        assert_eq!(info.size, 0);
        assert_eq!(
            info.content_type.as_deref(),
            Some("application/x-directory")
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

async fn delete_removes_and_missing_keys_are_fine(server: Server) {
    let bucket = Bucket::new(&server, "del");
    let c = bucket.client();
    for key in ["a", "dir/b c+d é", "keep"] {
        c.put_object(PutRequest {
            key: key.into(),
            body: PutBody::Bytes(bytes::Bytes::from_static(b"data")),
            content_type: None,
            metadata: BTreeMap::new(),
        })
        .await
        .unwrap();
    }
    c.delete_object("a").await.unwrap();
    c.delete_object("dir/b c+d é").await.unwrap();
    // Deleting what is not there is no error, nor deleting twice.
    c.delete_object("a").await.unwrap();
    c.delete_object("never/was").await.unwrap();
    assert!(matches!(
        c.head_object("a").await,
        Err(S3Error::NotFound(_))
    ));
    assert_eq!(bucket.manifest().keys().collect::<Vec<_>>(), vec!["keep"]);
}

async fn copy_keeps_or_replaces_metadata(server: Server) {
    let bucket = Bucket::new(&server, "copy");
    let c = bucket.client();
    let source = "src/a b+c é模型.bin";
    let contents = data(300_001, 7);
    let put = c
        .put_object(PutRequest {
            key: source.into(),
            body: PutBody::Bytes(contents.clone().into()),
            content_type: Some("text/plain".into()),
            metadata: meta(&[("mode", "33188"), ("mtime", "1")]),
        })
        .await
        .unwrap();

    // A plain copy keeps metadata and content type.
    let copied = c
        .copy_object(CopyRequest {
            source_key: source.into(),
            dest_key: "dst/copy 1".into(),
            ..CopyRequest::default()
        })
        .await
        .unwrap();
    let info = c.head_object("dst/copy 1").await.unwrap();
    assert_eq!(info.etag, copied.etag);
    assert_eq!(info.metadata, meta(&[("mode", "33188"), ("mtime", "1")]));
    assert_eq!(info.content_type.as_deref(), Some("text/plain"));
    eprintln!(
        "{}: source ETag {}, copy ETag {}",
        server.kind.name(),
        put.etag,
        copied.etag
    );

    // In place, replacing metadata and content type, guarded by the ETag.
    let replaced = c
        .copy_object(CopyRequest {
            source_key: source.into(),
            dest_key: source.into(),
            metadata: Some(meta(&[("mode", "33261"), ("uid", "0")])),
            content_type: Some("application/x-test".into()),
            if_match: Some(put.etag.clone()),
        })
        .await
        .unwrap();
    let info = c.head_object(source).await.unwrap();
    assert_eq!(info.etag, replaced.etag);
    assert_eq!(info.metadata, meta(&[("mode", "33261"), ("uid", "0")]));
    assert_eq!(info.content_type.as_deref(), Some("application/x-test"));
    eprintln!(
        "{}: ETag after an in-place metadata replace {}",
        server.kind.name(),
        replaced.etag
    );

    // REPLACE without a content type: application/octet-stream, as for a PUT.
    c.copy_object(CopyRequest {
        source_key: source.into(),
        dest_key: "dst/copy 2".into(),
        metadata: Some(BTreeMap::new()),
        ..CopyRequest::default()
    })
    .await
    .unwrap();
    let info = c.head_object("dst/copy 2").await.unwrap();
    assert!(info.metadata.is_empty(), "{:?}", info.metadata);
    assert_eq!(
        info.content_type.as_deref(),
        Some("application/octet-stream")
    );

    // The content never changed: the oracle sees the same bytes under every name.
    let manifest = bucket.manifest();
    let sha = sha256_hex(&contents);
    for key in [source, "dst/copy 1", "dst/copy 2"] {
        assert_eq!(manifest[key].sha256, sha, "{key}");
        assert_eq!(manifest[key].size, contents.len() as u64, "{key}");
    }
    assert_eq!(manifest.len(), 3, "{:?}", manifest.keys());

    // A stale ETag: Garage refuses the copy; moto ignores x-amz-copy-source-if-match.
    let stale = c
        .copy_object(CopyRequest {
            source_key: source.into(),
            dest_key: "dst/stale".into(),
            if_match: Some("\"00000000000000000000000000000000\"".into()),
            ..CopyRequest::default()
        })
        .await;
    match server.kind {
        Kind::Garage => {
            let e = stale.unwrap_err();
            assert!(matches!(e, S3Error::PreconditionFailed(_)), "{e:?}");
            assert!(!bucket.manifest().contains_key("dst/stale"));
        }
        Kind::Moto => {
            stale.expect("moto ignores the precondition");
        }
    }
    // A missing source.
    let e = c
        .copy_object(CopyRequest {
            source_key: "src/missing".into(),
            dest_key: "dst/no".into(),
            ..CopyRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::NotFound(_)), "{e:?}");
    assert!(!bucket.manifest().contains_key("dst/no"));
}

#[tokio::test]
async fn garage_put_with_a_wrong_secret_is_access_denied_and_stores_nothing() {
    let Some(server) = server(Kind::Garage) else {
        return;
    };
    let bucket = Bucket::new(&server, "denied");
    let mut cfg = config(&server, &bucket.name);
    cfg.credentials = Some(Credentials {
        access_key_id: server.key_id.clone(),
        secret_access_key: format!("{}x", server.secret),
        session_token: None,
    });
    let c = S3Client::new(cfg).unwrap();
    let big = data((5 << 20) + 1, 3);
    let path = temp_file("denied", &big);
    let bodies = [
        PutBody::Bytes(bytes::Bytes::new()),
        PutBody::Bytes(bytes::Bytes::from_static(b"x")),
        // Just under the size that waits for 100 Continue.
        PutBody::Bytes(data((64 << 10) - 1, 4).into()),
        PutBody::Bytes(big.clone().into()),
        PutBody::File {
            path: path.clone(),
            len: big.len() as u64,
        },
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let e = c
            .put_object(PutRequest {
                key: format!("k{i}"),
                body,
                content_type: None,
                metadata: meta(&[("mode", "1")]),
            })
            .await
            .unwrap_err();
        match &e {
            S3Error::AccessDenied(d) => {
                assert_eq!((d.status, d.code.as_str()), (403, "AccessDenied"), "{d}")
            }
            e => panic!("body {i}: {e:?}"),
        }
    }
    let e = c.delete_object("k0").await.unwrap_err();
    assert!(matches!(e, S3Error::AccessDenied(_)), "{e:?}");
    let e = c
        .copy_object(CopyRequest {
            source_key: "k0".into(),
            dest_key: "k1".into(),
            ..CopyRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::AccessDenied(_)), "{e:?}");
    assert!(bucket.manifest().is_empty());
    std::fs::remove_file(path).unwrap();
}

// ---- Logging: one INFO line per request. ----

#[test]
fn one_log_line_per_write_request() {
    let Some(server) = server(Kind::Moto) else {
        return;
    };
    let bucket = Bucket::new(&server, "wlog");
    let c = bucket.client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = capture_logs(|| {
        rt.block_on(async {
            c.put_object(PutRequest {
                key: "k".into(),
                body: PutBody::Bytes(bytes::Bytes::from_static(b"0123456789")),
                content_type: None,
                metadata: BTreeMap::new(),
            })
            .await
            .unwrap();
            c.copy_object(CopyRequest {
                source_key: "k".into(),
                dest_key: "k2".into(),
                ..CopyRequest::default()
            })
            .await
            .unwrap();
            c.delete_object("k").await.unwrap();
        });
        drop(c);
    });
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("s3client::request"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, op, status) in [
        (lines[0], "PutObject", 200),
        (lines[1], "CopyObject", 200),
        (lines[2], "DeleteObject", 204),
    ] {
        assert!(line.contains(op), "{line}");
        assert!(line.contains(&format!("status={status}")), "{line}");
        assert!(!line.contains("uthorization"), "{line}");
    }
    assert!(lines[0].contains("sent=10"), "{}", lines[0]);
    assert!(lines[0].contains("method=\"PUT\"") || lines[0].contains("method=PUT"));
}
