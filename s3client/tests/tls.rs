//! https: certificate checks (extra CA bundle, `insecure_skip_verify`) and pooled
//! keep-alive connections, against a rustls server on 127.0.0.1 with a throwaway CA made by
//! the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use s3client::{Addressing, Endpoint, ListRequest, ObjectClient, S3Client, S3Config, S3Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_pki(tag: &str) -> Option<Pki> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl command to make test certificates");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("s3client-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=s3client test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(&dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    Some(Pki { dir })
}

const LIST: &str =
    "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";

/// An https server answering every request with an empty listing, keeping connections
/// alive; counts the TLS connections it accepted.
async fn serve(pki: &Pki) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(pki.dir.join("leaf.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.dir.join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{LIST}",
                            LIST.len()
                        );
                        if tls.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, connections)
}

fn config(addr: std::net::SocketAddr) -> S3Config {
    let mut c = S3Config::new(Endpoint::parse(&format!("https://{addr}")).unwrap(), "bkt");
    c.addressing = Addressing::Path;
    c.retries = 0;
    c.connect_timeout = Duration::from_secs(2);
    c.read_timeout = Duration::from_secs(5);
    c
}

#[tokio::test]
async fn extra_ca_bundle_is_trusted_and_connections_are_reused() {
    let Some(pki) = make_pki("bundle") else {
        return;
    };
    let (addr, connections) = serve(&pki).await;
    let mut cfg = config(addr);
    cfg.ca_bundle = Some(pki.dir.join("ca.pem"));
    let c = S3Client::new(cfg).unwrap();
    c.check_bucket().await.unwrap();
    for _ in 0..5 {
        let page = c.list_objects(ListRequest::default()).await.unwrap();
        assert!(page.objects.is_empty());
    }
    // Six requests, one TLS handshake.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // Clones share the pool.
    let c2 = c.clone();
    c2.check_bucket().await.unwrap();
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let Some(pki) = make_pki("unknown") else {
        return;
    };
    let (addr, connections) = serve(&pki).await;
    let c = S3Client::new(config(addr)).unwrap();
    let err = c.check_bucket().await.unwrap_err();
    match &err {
        S3Error::Transport(m) => assert!(
            m.to_lowercase().contains("certificate") || m.contains("UnknownIssuer"),
            "{m}"
        ),
        e => panic!("{e:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let Some(pki) = make_pki("insecure") else {
        return;
    };
    let (addr, _) = serve(&pki).await;
    let mut cfg = config(addr);
    cfg.insecure_skip_verify = true;
    S3Client::new(cfg).unwrap().check_bucket().await.unwrap();
}

#[tokio::test]
async fn a_bundle_without_certificates_is_refused_at_construction() {
    let Some(pki) = make_pki("nocert") else {
        return;
    };
    let mut cfg = config("127.0.0.1:1".parse().unwrap());
    cfg.ca_bundle = Some(pki.dir.join("leaf.key"));
    let err = S3Client::new(cfg).unwrap_err();
    assert!(matches!(err, S3Error::Transport(_)), "{err:?}");
}
