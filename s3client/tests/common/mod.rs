//! Shared helpers of the tests against real S3 servers (moto, Garage).
//!
//! Servers come from the environment (`MOUNTD_TEST_MOTO_URL`, `MOUNTD_TEST_GARAGE_URL`,
//! `MOUNTD_TEST_GARAGE_KEY_ID`, `MOUNTD_TEST_GARAGE_SECRET`). Missing ones skip the test
//! loudly, unless `MOUNTD_REQUIRE_SERVERS` asks for them (`1`: moto and Garage; or a comma
//! list of names), in which case the test fails. Only 127.0.0.1 is ever contacted.
//!
//! Buckets are seeded with the independent boto3 tool `integration/tools/s3tool.py`, and
//! its `manifest` (keys, sizes, SHA-256, content types) is the oracle the client is compared
//! with.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use s3client::{
    Addressing, Credentials, Endpoint, GetResponse, ListPage, ListRequest, ListVersion,
    ObjectClient, S3Client, S3Config, S3Error,
};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Moto,
    Garage,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Moto => "moto",
            Kind::Garage => "garage",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    pub kind: Kind,
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

fn required(name: &str) -> bool {
    match std::env::var("MOUNTD_REQUIRE_SERVERS") {
        Ok(v) => {
            let v = v.trim();
            (v == "1" && (name == "moto" || name == "garage"))
                || v.split(',').any(|s| s.trim().eq_ignore_ascii_case(name))
        }
        Err(_) => false,
    }
}

/// The configured server of this kind, or `None` (after a loud message) when the test must
/// be skipped.
pub fn server(kind: Kind) -> Option<Server> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (url_var, found) = match kind {
        Kind::Moto => (
            "MOUNTD_TEST_MOTO_URL",
            var("MOUNTD_TEST_MOTO_URL").map(|url| (url, "test".into(), "test".into())),
        ),
        Kind::Garage => (
            "MOUNTD_TEST_GARAGE_URL/_KEY_ID/_SECRET",
            match (
                var("MOUNTD_TEST_GARAGE_URL"),
                var("MOUNTD_TEST_GARAGE_KEY_ID"),
                var("MOUNTD_TEST_GARAGE_SECRET"),
            ) {
                (Some(u), Some(k), Some(s)) => Some((u, k, s)),
                _ => None,
            },
        ),
    };
    let Some((url, key_id, secret)) = found else {
        let msg = format!("skipped: {url_var} not set (run the README's test command)");
        if required(kind.name()) {
            panic!(
                "MOUNTD_REQUIRE_SERVERS is set but the {} server is missing: {msg}",
                kind.name()
            );
        }
        // Once per server and test binary, straight to stderr: libtest captures eprintln!.
        static TOLD: [std::sync::Once; 2] = [std::sync::Once::new(), std::sync::Once::new()];
        TOLD[kind as usize].call_once(|| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "\n*** {} tests {msg} ***\n", kind.name());
        });
        return None;
    };
    let url = url.trim_end_matches('/').to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "tests talk only to 127.0.0.1, refusing {url}"
    );
    Some(Server {
        kind,
        url,
        key_id,
        secret,
    })
}

/// A fresh valid bucket name (lower case, 3-63 characters).
pub fn unique_bucket(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    let name = format!(
        "s3c-{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 63, "{name}");
    name
}

fn s3tool_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../integration/tools/s3tool.py")
}

/// Run s3tool.py against a server; its stdout, or a panic with its stderr.
pub fn s3tool(server: &Server, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(s3tool_path())
        .args(["--endpoint", &server.url])
        .args([
            "--access-key",
            &server.key_id,
            "--secret-key",
            &server.secret,
        ])
        .args(args)
        .output()
        .expect("running python3 s3tool.py");
    assert!(
        out.status.success(),
        "s3tool {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("s3tool output is UTF-8")
}

pub fn config(server: &Server, bucket: &str) -> S3Config {
    let mut c = S3Config::new(Endpoint::parse(&server.url).unwrap(), bucket);
    c.addressing = Addressing::Path;
    c.credentials = Some(Credentials {
        access_key_id: server.key_id.clone(),
        secret_access_key: server.secret.clone(),
        session_token: None,
    });
    c.connect_timeout = Duration::from_secs(5);
    c.read_timeout = Duration::from_secs(30);
    c.retries = 2;
    c
}

pub fn client(server: &Server, bucket: &str, version: ListVersion) -> S3Client {
    let mut c = config(server, bucket);
    c.list_version = version;
    S3Client::new(c).unwrap()
}

/// One row of `s3tool manifest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: Option<String>,
}

/// The keys with odd characters seeded into every fixture bucket (content: the key itself).
pub const ODD_KEYS: &[&str] = &[
    "odd/a b.txt",
    "odd/a+b.txt",
    "odd/100%.txt",
    "odd/50%25",
    "odd/tilde~x",
    "odd/eq=1&x=2",
    "odd/caf\u{e9}-\u{6a21}\u{578b}.txt",
    "odd//double//slash",
    "odd/trailing space ",
    "odd/ leading",
    "odd/q?x#y",
    "odd/a-/x",
    "odd/a/x",
    "odd/semi;colon,comma:(paren)[br]{c}@!$'*",
];

pub const PATTERN_KEY: &str = "data/pattern.bin";
pub const PATTERN_LEN: usize = 300_000;
pub const META_KEY: &str = "meta/obj.txt";
pub const EMPTY_KEY: &str = "data/empty";
/// Objects in `repo/static/many/` (the listing of more than 1000 keys).
pub const MANY: usize = 1500;

pub fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN)
        .map(|i| ((i * 31 + i / 251) % 256) as u8)
        .collect()
}

/// A seeded bucket and what the oracle says it holds.
#[derive(Debug)]
pub struct Fixture {
    pub server: Server,
    pub bucket: String,
    /// Sorted by key.
    pub rows: Vec<Row>,
}

impl Fixture {
    pub fn keys(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.key.clone()).collect()
    }
    pub fn row(&self, key: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("{key:?} is not in the manifest"))
    }
    pub fn client(&self, version: ListVersion) -> S3Client {
        client(&self.server, &self.bucket, version)
    }
}

fn seed(server: Server) -> Fixture {
    let bucket = unique_bucket(server.kind.name());
    s3tool(&server, &["create-bucket", &bucket]);
    let dir = std::env::temp_dir().join(format!("s3client-test-{bucket}"));
    std::fs::create_dir_all(&dir).unwrap();
    let pattern_file = dir.join("pattern.bin");
    std::fs::write(&pattern_file, pattern()).unwrap();
    let pattern_file = pattern_file.to_str().unwrap().to_string();

    let mut puts: Vec<Vec<String>> = vec![
        vec![
            "put".into(),
            bucket.clone(),
            META_KEY.into(),
            "--data".into(),
            "hello metadata".into(),
            "--content-type".into(),
            "text/plain; charset=utf-8".into(),
            "--meta".into(),
            "mode=33188".into(),
            "--meta".into(),
            "uid=1000".into(),
            "--meta".into(),
            "MTime=1700000000.5".into(),
        ],
        vec![
            "put".into(),
            bucket.clone(),
            PATTERN_KEY.into(),
            "--file".into(),
            pattern_file.clone(),
        ],
        vec![
            "put".into(),
            bucket.clone(),
            EMPTY_KEY.into(),
            "--data".into(),
            String::new(),
        ],
    ];
    for key in ODD_KEYS {
        puts.push(vec![
            "put".into(),
            bucket.clone(),
            key.to_string(),
            "--data".into(),
            key.to_string(),
        ]);
    }
    std::thread::scope(|s| {
        let (server, bucket) = (&server, &bucket);
        s.spawn(move || {
            s3tool(
                server,
                &[
                    "seed-model-repo",
                    bucket,
                    "--prefix",
                    "repo/",
                    "--large-mb",
                    "1",
                    "--many",
                    &MANY.to_string(),
                ],
            )
        });
        // A few processes at a time: the machine has 2 cores.
        for chunk in puts.chunks(6) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|args| {
                    s.spawn(move || {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        s3tool(server, &args)
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
    });
    std::fs::remove_dir_all(&dir).ok();

    let rows = parse_manifest(&s3tool(&server, &["manifest", &bucket]));
    assert!(rows.len() > MANY, "manifest has {} rows", rows.len());
    Fixture {
        server,
        bucket,
        rows,
    }
}

pub fn parse_manifest(text: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Row {
                key: v["key"].as_str().unwrap().to_string(),
                size: v["size"].as_u64().unwrap(),
                sha256: v["sha256"].as_str().unwrap().to_string(),
                content_type: v["content_type"].as_str().map(str::to_string),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

/// The seeded bucket of a server (seeded once per test binary), or `None` to skip.
pub fn fixture(kind: Kind) -> Option<&'static Fixture> {
    static MOTO: OnceLock<Fixture> = OnceLock::new();
    static GARAGE: OnceLock<Fixture> = OnceLock::new();
    let server = server(kind)?;
    let cell = match kind {
        Kind::Moto => &MOTO,
        Kind::Garage => &GARAGE,
    };
    Some(cell.get_or_init(|| seed(server)))
}

/// What S3 must answer for a listing of `keys` (sorted) under `prefix` split at `delimiter`.
pub fn expected_listing(
    keys: &[String],
    prefix: &str,
    delimiter: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let mut objects = Vec::new();
    let mut prefixes = BTreeSet::new();
    for key in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &key[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| i + d.len())) {
            Some(end) => {
                prefixes.insert(format!("{prefix}{}", &rest[..end]));
            }
            None => objects.push(key.clone()),
        }
    }
    (objects, prefixes.into_iter().collect())
}

/// Every page of a listing: (keys, common prefixes, number of pages).
pub async fn list_all(
    client: &S3Client,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: Option<u32>,
) -> Result<(Vec<String>, Vec<String>, usize), S3Error> {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut continuation = None;
    let mut pages = 0;
    loop {
        let ListPage {
            objects,
            common_prefixes,
            next,
        } = client
            .list_objects(ListRequest {
                prefix: prefix.to_string(),
                delimiter: delimiter.map(str::to_string),
                continuation: continuation.take(),
                max_keys,
            })
            .await?;
        pages += 1;
        assert!(pages < 5000, "listing does not end");
        keys.extend(objects.into_iter().map(|o| o.key));
        prefixes.extend(common_prefixes);
        match next {
            Some(n) => continuation = Some(n),
            None => return Ok((keys, prefixes, pages)),
        }
    }
}

/// The whole body of a GET, or the first error of its stream.
pub async fn read_all(resp: GetResponse) -> Result<Vec<u8>, S3Error> {
    let mut body = resp.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a TRACE subscriber on this thread and returns what was logged.
///
/// tracing caches, per callsite and process-wide, whether anyone listens: a sibling test that
/// first reaches a callsite on a thread without a subscriber can cache "never" for it, and
/// this thread's events from it would be dropped (a known race of scoped subscribers). A
/// second live dispatcher (the anchor) makes each registration ask every live dispatcher,
/// this one included, and the rebuild repairs what was cached before this one existed.
pub fn capture_logs(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _anchor = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let text = captured.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}
