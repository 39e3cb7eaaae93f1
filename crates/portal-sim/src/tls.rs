//! HTTPS with a certificate made at start-up, so that a client's TLS path (trusting a custom root,
//! refusing an unknown one) is exercised on loopback without any fixed key in the repository.
//!
//! The certificate is self-signed for `127.0.0.1` and `localhost`; a client trusts it by adding the
//! PEM written to `SimConfig::tls_cert_out` (or `SelfSigned::cert_pem`) as a root. Crypto is rustls
//! with the `ring` provider only.

use std::path::Path;

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the self-signed certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing the certificate PEM to {path} failed: {source}")]
    WriteCert { path: String, source: std::io::Error },
    #[error("building the rustls server configuration failed: {0}")]
    Config(std::io::Error),
}

/// A freshly generated certificate and its private key, both PEM.
pub struct SelfSigned {
    pub cert_pem: String,
    key_pem: String,
}

// The private key stays out of Debug output.
impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned").field("cert_pem", &self.cert_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// Makes `ring` the process's rustls provider. A provider installed earlier (by the sim started in
/// the same test process, or by the embedding program) is kept: that is not an error.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Generates a certificate valid for `127.0.0.1` and `localhost`.
pub fn self_signed() -> Result<SelfSigned, TlsError> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    Ok(SelfSigned { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() })
}

impl SelfSigned {
    /// Writes the certificate (never the key) where a client or a test can pick it up.
    pub fn write_cert(&self, path: &Path) -> Result<(), TlsError> {
        std::fs::write(path, &self.cert_pem)
            .map_err(|source| TlsError::WriteCert { path: path.display().to_string(), source })
    }

    /// The axum-server configuration serving this certificate.
    pub async fn rustls_config(&self) -> Result<axum_server::tls_rustls::RustlsConfig, TlsError> {
        install_crypto_provider();
        axum_server::tls_rustls::RustlsConfig::from_pem(
            self.cert_pem.clone().into_bytes(),
            self.key_pem.clone().into_bytes(),
        )
        .await
        .map_err(TlsError::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_pem_and_debug_hides_the_key() {
        let cert = self_signed().expect("rcgen with ring generates a certificate");
        assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"), "the certificate must be PEM");
        let shown = format!("{cert:?}");
        assert!(!shown.contains("PRIVATE KEY"), "Debug must not print the private key: {shown}");
    }
}
