//! How to reach the store: endpoint, bucket, addressing, region, credentials, timeouts.

use std::path::PathBuf;
use std::time::Duration;

use sigv4::Credentials;

/// `https://host[:port][/servicepath]` split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    /// `None`: the scheme's default port.
    pub port: Option<u16>,
    /// A path prefix on the host (s3fs's `servicepath`), without trailing `/`; usually "".
    pub base_path: String,
}

impl Endpoint {
    /// Parse `http[s]://host[:port][/path]`. Trailing `/` characters are ignored, as s3fs does.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim_end_matches('/');
        let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = url.strip_prefix("http://") {
            ("http", r)
        } else {
            return Err(format!(
                "url {url:?} has invalid format, missing http / https protocol"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("url {url:?} has no host"));
        }
        // IPv6 literals are bracketed: [::1]:9000
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| format!("url {url:?}: unclosed '['"))?;
            let host = &authority[..end + 2];
            let after = &stripped[end + 1..];
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("url {url:?}: bad port {p:?}"))?,
            ),
            None => None,
        };
        Ok(Endpoint {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The `Host` header value: the host, plus the port when it is not the scheme's default.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p)
                if !((self.scheme == "http" && p == 80)
                    || (self.scheme == "https" && p == 443)) =>
            {
                format!("{}:{}", self.host, p)
            }
            _ => self.host.clone(),
        }
    }
}

/// Path-style (`host/bucket/key`) or virtual-hosted (`bucket.host/key`) addressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    Path,
    VirtualHosted,
}

/// ListObjects V1 (marker; s3fs's default and what OCI documents) or V2 (continuation token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListVersion {
    V1,
    V2,
}

#[derive(Debug, Clone)]
pub struct S3Config {
    pub endpoint: Endpoint,
    pub bucket: String,
    pub addressing: Addressing,
    /// The SigV4 signing region (s3fs `-o region=` / `-o endpoint=`).
    pub region: String,
    /// `None`: anonymous requests (public buckets), sent unsigned.
    pub credentials: Option<Credentials>,
    pub list_version: ListVersion,
    /// Time to establish a TCP (+TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait for response headers or for the next body bytes.
    pub read_timeout: Duration,
    /// Retries after the first attempt, for retryable failures.
    pub retries: u32,
    /// Skip TLS certificate verification (s3fs `no_check_certificate`).
    pub insecure_skip_verify: bool,
    /// Extra PEM CA bundle, e.g. from `CURL_CA_BUNDLE` / `AWS_CA_BUNDLE` / `SSL_CERT_FILE`.
    pub ca_bundle: Option<PathBuf>,
    pub user_agent: String,
}

impl S3Config {
    /// Defaults as s3fs has them, for the given endpoint and bucket.
    pub fn new(endpoint: Endpoint, bucket: impl Into<String>) -> Self {
        S3Config {
            endpoint,
            bucket: bucket.into(),
            addressing: Addressing::VirtualHosted,
            region: "us-east-1".into(),
            credentials: None,
            list_version: ListVersion::V1,
            connect_timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(120),
            retries: 5,
            insecure_skip_verify: false,
            ca_bundle: None,
            user_agent: format!("mountd/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(
            (
                e.scheme.as_str(),
                e.host.as_str(),
                e.port,
                e.base_path.as_str()
            ),
            ("http", "127.0.0.1", Some(9000), "")
        );
        assert_eq!(e.authority(), "127.0.0.1:9000");
        let e = Endpoint::parse("https://ns.compat.objectstorage.us-ashburn-1.oraclecloud.com")
            .unwrap();
        assert_eq!(e.port, None);
        assert_eq!(
            e.authority(),
            "ns.compat.objectstorage.us-ashburn-1.oraclecloud.com"
        );
        let e = Endpoint::parse("https://h:443/svc//").unwrap();
        assert_eq!(e.authority(), "h");
        assert_eq!(e.base_path, "/svc");
        let e = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("[::1]", Some(9000)));
        assert!(Endpoint::parse("127.0.0.1:9000")
            .unwrap_err()
            .contains("missing http / https"));
        assert!(Endpoint::parse("http://h:x").is_err());
    }
}
