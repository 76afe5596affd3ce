//! Which certificate authorities a client trusts: the built-in roots (the system's store
//! and the bundled Mozilla set) unless `SSL_CERT_FILE`/`SSL_CERT_DIR` replace them, plus
//! any extra PEM roots (`--ca-cert`). `settings` reads the files; this module checks what
//! they hold and applies the result to a client.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The trusted roots of every client of the run.
#[derive(Clone, Debug)]
pub(crate) struct Trust {
    /// Whether the built-in roots are trusted (false when `SSL_CERT_FILE` or
    /// `SSL_CERT_DIR` take their place).
    pub(crate) built_in: bool,
    /// Roots trusted besides (or instead of) the built-in ones, checked to be usable.
    pub(crate) extra: Vec<reqwest::Certificate>,
}

impl Default for Trust {
    fn default() -> Trust {
        Trust {
            built_in: true,
            extra: Vec::new(),
        }
    }
}

impl Trust {
    pub(crate) fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let builder = builder.tls_built_in_root_certs(self.built_in);
        self.extra
            .iter()
            .fold(builder, |b, c| b.add_root_certificate(c.clone()))
    }
}

/// The certificates of a PEM file, each checked to be usable as a trust anchor, so that a
/// bad one is a usage error naming the file now rather than a client that fails to build
/// later. Other PEM sections (a private key beside the certificate) are ignored. The error
/// says what is wrong with the text (which holds no secret).
pub(crate) fn pem_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| format!("it is not valid PEM ({e})"))?;
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("certificate {} in it is not usable: {e}", i + 1))?;
        let cert = reqwest::Certificate::from_der(cert.as_ref())
            .map_err(|e| format!("certificate {} in it is not usable: {e}", i + 1))?;
        roots.push(cert);
    }
    if roots.is_empty() {
        return Err(
            "it holds no certificate (a PEM block starting -----BEGIN CERTIFICATE-----)".into(),
        );
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (made with rcgen for these tests).
    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_gives_every_certificate() {
        let bundle = format!("# two roots\n{}\n{}", ca_pem(), ca_pem());
        assert_eq!(pem_roots(bundle.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn a_key_beside_the_certificate_is_ignored() {
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let text = format!("{key}{}", ca_pem());
        assert_eq!(pem_roots(text.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn nothing_usable_is_an_error() {
        let no_cert = pem_roots(b"hello, I am not a certificate\n").unwrap_err();
        assert!(no_cert.contains("holds no certificate"), "{no_cert}");
        let key_only = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert!(pem_roots(key_only.as_bytes()).is_err());
        let garbage = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        let bad = pem_roots(garbage.as_bytes()).unwrap_err();
        assert!(bad.contains("certificate 1 in it is not usable"), "{bad}");
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(pem_roots(broken.as_bytes()).is_err());
    }
}
