//! The independent view of a bucket: thin wrappers over `integration/tools/s3tool.py`
//! (boto3), so that a bug in our own S3 client cannot hide itself in the tests.
//!
//! The python interpreter is `MOUNTD_TEST_PYTHON` (set by `scripts/servers.sh` when it uses
//! a venv), else `python3`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::servers::Server;
use crate::util::{run_with_timeout, scrub_env};

/// Time allowed for one s3tool.py call. Seeding a 48 MiB object and 1,500 small ones into
/// moto takes about half a minute on 2 cores.
pub const ORACLE_TIMEOUT: Duration = Duration::from_secs(300);

/// One object as boto3 sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub key: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the body.
    pub sha256: String,
    pub content_type: Option<String>,
}

/// One key as boto3's HEAD sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    pub key: String,
    pub exists: bool,
    /// The following are empty/zero when the key does not exist.
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    /// `x-amz-meta-*` headers, names without the prefix (lower case, as boto3 gives them).
    pub metadata: BTreeMap<String, String>,
}

impl HeadInfo {
    /// A metadata header (`"mode"`, `"uid"`, ...).
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.metadata.get(name).map(String::as_str)
    }

    /// A metadata header parsed as a decimal number (s3fs's `mode`, `uid`, `gid`).
    pub fn meta_u32(&self, name: &str) -> Option<u32> {
        self.meta(name).and_then(|v| v.trim().parse().ok())
    }

    /// A time header (`mtime`, ...) in whole seconds: s3fs writes `"<sec>"` or
    /// `"<sec>.<nsec>"`.
    pub fn meta_seconds(&self, name: &str) -> Option<i64> {
        let v = self.meta(name)?.trim();
        let secs = v.split_once('.').map_or(v, |(s, _)| s);
        secs.parse().ok()
    }
}

/// s3tool.py bound to one server and its key.
#[derive(Clone, Debug)]
pub struct Oracle {
    server: Server,
}

/// Path of s3tool.py in this checkout.
pub fn s3tool_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/s3tool.py")
}

/// The python that runs s3tool.py.
pub fn python() -> String {
    std::env::var("MOUNTD_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

impl Oracle {
    pub fn new(server: &Server) -> Oracle {
        Oracle {
            server: server.clone(),
        }
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Runs `s3tool.py --endpoint URL ARGS...`; returns stdout, panics with stderr on failure.
    pub fn run<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(python());
        cmd.arg(s3tool_path())
            .arg("--endpoint")
            .arg(&self.server.url)
            .args(args);
        scrub_env(&mut cmd)
            .env("AWS_ACCESS_KEY_ID", &self.server.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.server.secret);
        let out = run_with_timeout(&mut cmd, ORACLE_TIMEOUT)
            .unwrap_or_else(|e| panic!("s3tool.py on {}: {e}", self.server.name));
        assert!(
            out.status.success(),
            "s3tool.py {:?} on {} failed ({}):\n{}",
            cmd.get_args().skip(3).collect::<Vec<_>>(),
            self.server.name,
            out.status,
            out.stderr
        );
        out.stdout
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.run(["create-bucket", bucket]);
    }

    /// Deletes every object, then the bucket.
    pub fn delete_bucket(&self, bucket: &str) {
        self.run(["delete-bucket", bucket]);
    }

    /// Stores `body` under `key`.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        self.put_with(bucket, key, body, None, &[]);
    }

    /// Stores `body` under `key` with a content type and `x-amz-meta-*` headers.
    pub fn put_with(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        content_type: Option<&str>,
        meta: &[(&str, &str)],
    ) {
        let file = crate::mount::Workdir::new("put");
        let body_path = file.path().join("body");
        std::fs::write(&body_path, body).expect("write a temporary body file");
        let mut args: Vec<std::ffi::OsString> = vec![
            "put".into(),
            bucket.into(),
            key.into(),
            "--file".into(),
            body_path.into(),
        ];
        if let Some(ct) = content_type {
            args.extend(["--content-type".into(), ct.into()]);
        }
        for (k, v) in meta {
            args.extend(["--meta".into(), format!("{k}={v}").into()]);
        }
        self.run(args);
    }

    /// Seeds a Triton-style model repository under `prefix` (see s3tool.py): config.pbtxt
    /// and labels, a `large_mb` MiB model.onnx, version directories, a `dir/` marker, an
    /// empty-directory marker, `many` files in one directory, keys with space, `+`, `%` and
    /// non-ASCII characters, and a zero-byte object.
    pub fn seed_model_repo(&self, bucket: &str, prefix: &str, large_mb: u32, many: u32) {
        self.run([
            "seed-model-repo".to_string(),
            bucket.to_string(),
            "--prefix".into(),
            prefix.into(),
            "--large-mb".into(),
            large_mb.to_string(),
            "--many".into(),
            many.to_string(),
        ]);
    }

    /// Every object under `prefix`, sorted by key, with size and SHA-256 of its body.
    pub fn manifest(&self, bucket: &str, prefix: &str) -> Vec<ManifestEntry> {
        let out = self.run(["manifest", bucket, "--prefix", prefix]);
        parse_manifest(&out)
    }
}

impl Oracle {
    /// HEAD of each key, in the order given.
    pub fn head(&self, bucket: &str, keys: &[&str]) -> Vec<HeadInfo> {
        assert!(!keys.is_empty(), "head needs at least one key");
        let mut args = vec!["head", bucket];
        args.extend_from_slice(keys);
        let rows = parse_heads(&self.run(args));
        assert_eq!(
            rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            keys,
            "s3tool.py head answered other keys"
        );
        rows
    }

    /// HEAD of one key.
    pub fn head_one(&self, bucket: &str, key: &str) -> HeadInfo {
        self.head(bucket, &[key]).remove(0)
    }
}

/// Parses s3tool.py's head output (one JSON object per line).
pub fn parse_heads(text: &str) -> Vec<HeadInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad head line {line:?}: {e}"));
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let metadata = v
                .get("metadata")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (k.to_lowercase(), v.as_str().unwrap_or_default().to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            HeadInfo {
                key: s("key").unwrap_or_else(|| panic!("no key in {line:?}")),
                exists: v
                    .get("exists")
                    .and_then(|x| x.as_bool())
                    .unwrap_or_else(|| panic!("no exists in {line:?}")),
                size: v.get("size").and_then(|x| x.as_u64()).unwrap_or(0),
                content_type: s("content_type"),
                etag: s("etag"),
                metadata,
            }
        })
        .collect()
}

/// Parses s3tool.py's manifest output (one JSON object per line).
pub fn parse_manifest(text: &str) -> Vec<ManifestEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad manifest line {line:?}: {e}"));
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            ManifestEntry {
                key: s("key").unwrap_or_else(|| panic!("no key in {line:?}")),
                size: v
                    .get("size")
                    .and_then(|x| x.as_u64())
                    .unwrap_or_else(|| panic!("no size in {line:?}")),
                sha256: s("sha256").unwrap_or_else(|| panic!("no sha256 in {line:?}")),
                content_type: s("content_type"),
            }
        })
        .collect()
}

/// A bucket created for one test and deleted (with its objects) when dropped.
pub struct TestBucket {
    pub name: String,
    pub oracle: Oracle,
}

impl TestBucket {
    /// Creates `mountd-<test>-<pid>-<n>` on `server`.
    pub fn create(server: &Server, test: &str) -> TestBucket {
        let oracle = Oracle::new(server);
        let name = crate::servers::unique_bucket_name(test);
        oracle.create_bucket(&name);
        TestBucket { name, oracle }
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        // Best effort: a failure here must not hide the test's own panic.
        let oracle = self.oracle.clone();
        let name = self.name.clone();
        let r = std::panic::catch_unwind(move || oracle.delete_bucket(&name));
        if r.is_err() {
            eprintln!("warning: could not delete test bucket {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_manifest_lines() {
        let text = concat!(
            r#"{"key": "a/b c.txt", "size": 3, "sha256": "ab", "content_type": "text/plain"}"#,
            "\n",
            r#"{"key": "caf\u00e9/", "size": 0, "sha256": "e3", "content_type": null}"#,
            "\n"
        );
        let m = parse_manifest(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].key, "a/b c.txt");
        assert_eq!(m[0].content_type.as_deref(), Some("text/plain"));
        assert_eq!(m[1].key, "café/");
        assert_eq!(m[1].content_type, None);
    }

    #[test]
    fn parses_head_lines() {
        let text = concat!(
            r#"{"key": "f", "exists": true, "size": 6, "content_type": "application/octet-stream", "etag": "\"ab\"", "metadata": {"mode": "33188", "uid": "0", "mtime": "1577836800.123456789"}}"#,
            "\n",
            r#"{"key": "gone", "exists": false}"#,
            "\n"
        );
        let h = parse_heads(text);
        assert_eq!(h.len(), 2);
        assert!(h[0].exists);
        assert_eq!(h[0].size, 6);
        assert_eq!(h[0].meta_u32("mode"), Some(0o100644));
        assert_eq!(h[0].meta_seconds("mtime"), Some(1_577_836_800));
        assert_eq!(h[0].etag.as_deref(), Some("\"ab\""));
        assert!(!h[1].exists);
        assert!(h[1].metadata.is_empty());
    }
}
