//! The rustls client configuration (ring provider; no aws-lc).
//!
//! Trusted roots: the system's (rustls-native-certs, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`), plus every certificate of the PEM bundle named by
//! [`S3Config::ca_bundle`](crate::S3Config::ca_bundle). With `insecure_skip_verify`
//! (s3fs `no_check_certificate`) any server certificate is accepted; handshake signatures are
//! still checked, so the peer at least holds the key of the certificate it shows.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{S3Config, S3Error};

pub(crate) fn client_config(config: &S3Config) -> Result<ClientConfig, S3Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| S3Error::Transport(format!("TLS setup: {e}")))?;

    if config.insecure_skip_verify {
        tracing::warn!("TLS certificate verification is disabled (no_check_certificate)");
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth());
    }

    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("loading system CA certificates: {e}");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates");

    if let Some(path) = &config.ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            S3Error::Transport(format!("reading CA bundle {}: {e}", path.display()))
        })?;
        let certs = certificates_from_pem(&pem)
            .map_err(|e| S3Error::Transport(format!("CA bundle {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(S3Error::Transport(format!(
                "CA bundle {} holds no certificate",
                path.display()
            )));
        }
        let (added, ignored) = roots.add_parsable_certificates(certs);
        tracing::debug!(added, ignored, bundle = %path.display(), "extra CA certificates");
        if added == 0 {
            return Err(S3Error::Transport(format!(
                "CA bundle {}: no usable certificate",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        tracing::warn!("no trusted CA certificate found: https endpoints will fail");
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Every `CERTIFICATE` block of a PEM file (other blocks, e.g. keys, are skipped).
pub(crate) fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM: {e}"))
}

/// `no_check_certificate`: trusts any certificate for any name.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoint;

    #[test]
    fn pem_parsing_skips_non_certificates_and_rejects_garbage() {
        assert!(certificates_from_pem(b"").unwrap().is_empty());
        assert!(certificates_from_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .unwrap()
        .is_empty());
        assert!(certificates_from_pem(
            b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }

    #[test]
    fn missing_or_empty_bundle_is_an_error() {
        let mut c = S3Config::new(Endpoint::parse("https://127.0.0.1:1").unwrap(), "b");
        c.ca_bundle = Some("/nonexistent/bundle.pem".into());
        assert!(matches!(client_config(&c), Err(S3Error::Transport(_))));
        let empty = std::env::temp_dir().join(format!("s3client-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        c.ca_bundle = Some(empty.clone());
        let r = client_config(&c);
        std::fs::remove_file(&empty).ok();
        assert!(matches!(r, Err(S3Error::Transport(m)) if m.contains("no certificate")));
    }

    #[test]
    fn builds_default_and_insecure_configs() {
        let mut c = S3Config::new(Endpoint::parse("https://127.0.0.1:1").unwrap(), "b");
        client_config(&c).unwrap();
        c.insecure_skip_verify = true;
        client_config(&c).unwrap();
    }
}
