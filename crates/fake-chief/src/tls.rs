//! Certificates made at start: a fresh private CA (whose PEM a client is given to trust)
//! and, per listener, a server certificate that is good or bad in one chosen way.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The certificate a TLS listener presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    /// Signed by the fake's CA, valid now, for `127.0.0.1`, `::1` and `localhost`.
    Trusted,
    /// Good in every way but signed by another private CA that nobody is given.
    Untrusted,
    /// Signed by the fake's CA, but expired (valid only in the year 2000).
    Expired,
    /// Signed by the fake's CA, valid now, but only for `chief.invalid`.
    WrongName,
}

/// The fake's private CA and a second one no client trusts.
pub(super) struct Pki {
    ca_pem: String,
    ca: Issuer<'static, KeyPair>,
    stranger: Issuer<'static, KeyPair>,
}

fn tls_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("fake chief TLS setup: {e}"))
}

fn new_ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

impl Pki {
    pub fn new() -> std::io::Result<Pki> {
        let (ca_pem, ca) = new_ca("fake chief private CA").map_err(tls_error)?;
        let (_, stranger) = new_ca("fake chief stranger CA").map_err(tls_error)?;
        Ok(Pki {
            ca_pem,
            ca,
            stranger,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A rustls server configuration presenting a certificate of `kind` (HTTP/1.1 only).
    pub fn server_config(&self, kind: Cert) -> std::io::Result<Arc<rustls::ServerConfig>> {
        let names = match kind {
            Cert::WrongName => vec!["chief.invalid".to_string()],
            _ => vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ],
        };
        let mut params = CertificateParams::new(names).map_err(tls_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "fake chief");
        if kind == Cert::Expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2000, 12, 31);
        }
        let key = KeyPair::generate().map_err(tls_error)?;
        let issuer = match kind {
            Cert::Untrusted => &self.stranger,
            _ => &self.ca,
        };
        let cert = params.signed_by(&key, issuer).map_err(tls_error)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
