//! The S3 servers the tests may use, as configured by `scripts/servers.sh` (or CI).
//!
//! | server | variables | checks signatures |
//! |---|---|---|
//! | moto   | `MOUNTD_TEST_MOTO_URL` (any key is accepted) | no |
//! | Garage | `MOUNTD_TEST_GARAGE_URL`, `_KEY_ID`, `_SECRET` | yes |
//! | MinIO  | `MOUNTD_TEST_MINIO_URL`, `_KEY_ID`, `_SECRET` | yes |
//!
//! A test asks for one with [`require_server`]. When the server is not configured the test
//! is skipped (it prints why and returns), unless `MOUNTD_REQUIRE_SERVERS` says the server
//! must be there, in which case it panics: `1` means the servers `scripts/test.sh` starts
//! (moto and Garage); a comma-separated list of names (`moto,garage,minio`) names them.
//!
//! Tests talk only to 127.0.0.1: a URL pointing anywhere else is refused.

use std::sync::atomic::{AtomicU32, Ordering};

/// The servers the tests know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Moto,
    Garage,
    Minio,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Moto, Kind::Garage, Kind::Minio];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Moto => "moto",
            Kind::Garage => "garage",
            Kind::Minio => "minio",
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Kind::Moto => "MOUNTD_TEST_MOTO",
            Kind::Garage => "MOUNTD_TEST_GARAGE",
            Kind::Minio => "MOUNTD_TEST_MINIO",
        }
    }

    /// Whether the server verifies SigV4 signatures (moto does not).
    pub fn checks_signatures(self) -> bool {
        !matches!(self, Kind::Moto)
    }
}

/// One reachable S3 server and a key that may create buckets on it.
#[derive(Clone, Debug)]
pub struct Server {
    pub kind: Kind,
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

impl Server {
    /// The configured server of this kind, if its variables are set.
    pub fn from_env(kind: Kind) -> Option<Server> {
        let var = |suffix: &str| {
            std::env::var(format!("{}_{suffix}", kind.env_prefix()))
                .ok()
                .filter(|v| !v.is_empty())
        };
        let url = var("URL")?;
        let (key_id, secret) = match kind {
            // moto accepts any credentials.
            Kind::Moto => (
                var("KEY_ID").unwrap_or_else(|| "test".into()),
                var("SECRET").unwrap_or_else(|| "test".into()),
            ),
            _ => (var("KEY_ID")?, var("SECRET")?),
        };
        let url = url.trim_end_matches('/').to_string();
        check_loopback(&url);
        Some(Server {
            kind,
            name: kind.name(),
            url,
            key_id,
            secret,
        })
    }

    /// `host:port` of the URL, for TCP proxies.
    pub fn host_port(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// A passwd file line (`AK:SK`) for this server's key.
    pub fn passwd_line(&self) -> String {
        format!("{}:{}\n", self.key_id, self.secret)
    }
}

/// Panics unless `url` is plain HTTP to 127.0.0.1 (or localhost) with a port.
pub fn check_loopback(url: &str) {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| {
        panic!(
            "test server URL {url:?} must be http://127.0.0.1:PORT (tests talk only to 127.0.0.1)"
        )
    });
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let ok = match host.rsplit_once(':') {
        Some((h, port)) => {
            (h == "127.0.0.1" || h == "localhost")
                && !port.is_empty()
                && port.parse::<u16>().is_ok()
        }
        None => false,
    };
    assert!(
        ok,
        "test server URL {url:?} must be http://127.0.0.1:PORT (tests talk only to 127.0.0.1)"
    );
}

/// Whether `MOUNTD_REQUIRE_SERVERS` says this server must be configured.
pub fn is_required(kind: Kind) -> bool {
    required_by(
        std::env::var("MOUNTD_REQUIRE_SERVERS").ok().as_deref(),
        kind,
    )
}

fn required_by(setting: Option<&str>, kind: Kind) -> bool {
    match setting.map(str::trim) {
        None | Some("") | Some("0") => false,
        Some("1") => matches!(kind, Kind::Moto | Kind::Garage),
        Some(list) => list
            .split([',', ' '])
            .any(|n| n.trim().eq_ignore_ascii_case(kind.name())),
    }
}

/// The server of this kind, or `None` after printing why the test is skipped.
///
/// Panics instead of skipping when [`is_required`] says the server must be there.
pub fn require_server(kind: Kind) -> Option<Server> {
    match Server::from_env(kind) {
        Some(s) => Some(s),
        None if is_required(kind) => panic!(
            "{} is required (MOUNTD_REQUIRE_SERVERS={:?}) but {}_URL (and key) are not set; \
             run `eval \"$(scripts/servers.sh start)\"` or scripts/test.sh",
            kind.name(),
            std::env::var("MOUNTD_REQUIRE_SERVERS").unwrap_or_default(),
            kind.env_prefix()
        ),
        None => {
            eprintln!(
                "SKIPPED: {} is not configured ({}_URL unset); see scripts/servers.sh",
                kind.name(),
                kind.env_prefix()
            );
            None
        }
    }
}

/// Every configured server.
pub fn configured_servers() -> Vec<Server> {
    Kind::ALL.into_iter().filter_map(Server::from_env).collect()
}

static BUCKET_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A bucket name unique to this test process: `mountd-<test>-<pid>-<n>`, a valid S3 name.
pub fn unique_bucket_name(test: &str) -> String {
    let n = BUCKET_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tail = format!("-{}-{n}", std::process::id());
    let mut slug = String::new();
    for c in test.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(63 - "mountd-".len() - tail.len());
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("mountd{tail}")
    } else {
        format!("mountd-{slug}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_s3_name(b: &str) -> bool {
        (3..=63).contains(&b.len())
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !b.starts_with('-')
            && !b.ends_with('-')
    }

    #[test]
    fn bucket_names_are_valid_and_unique() {
        let long = "A_very::Long test NAME that goes on and on and on and on and on and on";
        let names: Vec<String> = ["model_repo_moto", long, "__", "x"]
            .iter()
            .map(|t| unique_bucket_name(t))
            .collect();
        for n in &names {
            assert!(valid_s3_name(n), "{n}");
        }
        assert!(names[0].starts_with("mountd-model-repo-moto-"));
        let again = unique_bucket_name("model_repo_moto");
        assert_ne!(again, names[0]);
    }

    #[test]
    fn require_setting() {
        assert!(!required_by(None, Kind::Moto));
        assert!(!required_by(Some("0"), Kind::Garage));
        assert!(required_by(Some("1"), Kind::Moto));
        assert!(required_by(Some("1"), Kind::Garage));
        assert!(!required_by(Some("1"), Kind::Minio));
        assert!(required_by(Some("moto,garage,minio"), Kind::Minio));
        assert!(!required_by(Some("garage"), Kind::Moto));
    }

    #[test]
    fn only_loopback_urls() {
        check_loopback("http://127.0.0.1:9000");
        check_loopback("http://localhost:9000/");
        for bad in [
            "http://169.254.169.254:80",
            "https://127.0.0.1:9000",
            "http://127.0.0.1",
            "http://s3.amazonaws.com:80",
            "http://127.0.0.1.evil.com:80",
        ] {
            assert!(
                std::panic::catch_unwind(|| check_loopback(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
