//! The network settings: whom to trust (`--ca-cert`, and `SSL_CERT_FILE`/`SSL_CERT_DIR` in
//! place of the system's roots, as OpenSSL and curl read them) and which proxies to go
//! through (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, as curl reads them).
//! Gathered from the flag, the environment snapshot and the config file, then read and
//! checked into an `http::Network` for an upload (a dry run needs none).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::env::Env;
use super::layers::Layers;
use super::source::{Key, Source, Sourced};
use crate::bounded::{self, ReadError, CA_BUNDLE};
use crate::exit::UsageError;
use crate::http::{pem_roots, shown_proxy, Network, NoProxy, Proxies, ProxyUrl, Trust};

pub(crate) const ENV_CA_CERT: &str = "CHIEF_CA_CERT";
/// An extra trusted CA (PEM). From the config file, a relative path is taken from the
/// file's folder.
pub(crate) const CA_CERT: Key<String> = Key::new("--ca-cert", Some(ENV_CA_CERT), "ca_cert");

/// The roots that replace the system's, as OpenSSL reads them.
const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// Where each proxy is looked for, first found wins (curl's order: the scheme's own
/// variable in lower case, then upper case, then `all_proxy`, `ALL_PROXY`).
const HTTPS_PROXY_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
const HTTP_PROXY_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// The network settings as found, each with its source: what `--show-config` shows.
#[derive(Clone, Debug, Default)]
pub(crate) struct NetworkSources {
    pub(crate) ca_cert: Option<Sourced<PathBuf>>,
    pub(crate) cert_file: Option<Sourced<PathBuf>>,
    pub(crate) cert_dir: Option<Sourced<OsString>>,
    pub(crate) https_proxy: Option<Sourced<String>>,
    pub(crate) http_proxy: Option<Sourced<String>>,
    pub(crate) no_proxy: Option<Sourced<String>>,
}

pub(super) fn gather(
    flag: Option<&Path>,
    env: &Env,
    layers: &Layers,
) -> Result<NetworkSources, UsageError> {
    let ca_cert = match flag {
        Some(p) => Some(Sourced {
            value: p.to_path_buf(),
            source: Source::Flag(CA_CERT.flag),
        }),
        None => layers.pick(&CA_CERT, None)?.map(|s| {
            let value = match &s.source {
                Source::File { path, .. } => path
                    .parent()
                    .map(|dir| dir.join(&s.value))
                    .unwrap_or_else(|| PathBuf::from(&s.value)),
                _ => PathBuf::from(&s.value),
            };
            Sourced {
                value,
                source: s.source,
            }
        }),
    };
    let from_env = |var: &'static str| {
        env.get_os(var).map(|v| Sourced {
            value: v.clone(),
            source: Source::Env(var),
        })
    };
    let first = |vars: &[&'static str]| {
        vars.iter().find_map(|var| {
            env.get(var).map(|value| Sourced {
                value,
                source: Source::Env(var),
            })
        })
    };
    // A CGI program gets the request's `Proxy:` header as HTTP_PROXY ("httpoxy"), which is
    // why curl reads only the lower-case http_proxy; outside CGI the upper case is
    // honoured too, as for the other variables.
    let cgi = env.get("REQUEST_METHOD").is_some();
    let http_vars: Vec<&'static str> = HTTP_PROXY_VARS
        .into_iter()
        .filter(|v| !(cgi && *v == "HTTP_PROXY"))
        .collect();
    Ok(NetworkSources {
        ca_cert,
        cert_file: from_env(SSL_CERT_FILE).map(|s| Sourced {
            value: PathBuf::from(s.value),
            source: s.source,
        }),
        cert_dir: from_env(SSL_CERT_DIR),
        https_proxy: first(&HTTPS_PROXY_VARS),
        http_proxy: first(&http_vars),
        no_proxy: first(&NO_PROXY_VARS),
    })
}

/// Reads the CA files and checks the proxies.
pub(super) fn resolve(s: &NetworkSources) -> Result<Network, UsageError> {
    let mut trust = Trust {
        built_in: s.cert_file.is_none() && s.cert_dir.is_none(),
        extra: Vec::new(),
    };
    if let Some(f) = &s.cert_file {
        trust.extra.extend(ca_file(f)?);
    }
    if let Some(d) = &s.cert_dir {
        let found = dir_roots(&d.value);
        if found.is_empty() && s.cert_file.is_none() {
            return Err(UsageError::new(format!(
                "{SSL_CERT_DIR} ({}) holds no usable CA certificate, and it replaces the system's roots",
                d.value.to_string_lossy()
            ))
            .hint(format!(
                "point {SSL_CERT_DIR} at folders of PEM certificates, or unset it to trust the system's roots"
            )));
        }
        trust.extra.extend(found);
    }
    if let Some(f) = &s.ca_cert {
        trust.extra.extend(ca_file(f)?);
    }
    let proxy = |p: &Option<Sourced<String>>| -> Result<Option<ProxyUrl>, UsageError> {
        let Some(p) = p else { return Ok(None) };
        ProxyUrl::parse(&p.value).map(Some).map_err(|why| {
            UsageError::new(format!(
                "the proxy '{}' from {} is not usable: {why}",
                shown_proxy(&p.value),
                p.source
            ))
            .hint("write it as http://[USER:PASSWORD@]HOST:PORT (or socks5h://…), or unset it")
        })
    };
    Ok(Network {
        trust,
        proxies: Proxies {
            https: proxy(&s.https_proxy)?,
            http: proxy(&s.http_proxy)?,
            no_proxy: s
                .no_proxy
                .as_ref()
                .map(|n| NoProxy::parse(&n.value))
                .unwrap_or_default(),
        },
    })
}

/// The certificates of a CA file; an error names the file, its source, and what is wrong.
fn ca_file(f: &Sourced<PathBuf>) -> Result<Vec<reqwest::Certificate>, UsageError> {
    read_roots(&f.value).map_err(|why| {
        UsageError::new(format!(
            "the CA file {} ({}) {why}",
            f.value.display(),
            f.source
        ))
        .hint(match f.source {
            Source::Env(SSL_CERT_FILE) => format!(
                "{SSL_CERT_FILE} replaces the system's roots: point it at a bundle of PEM certificates, or unset it"
            ),
            _ => "give a file of PEM certificates (-----BEGIN CERTIFICATE-----), such as your company's root CA".into(),
        })
    })
}

/// The certificates of a PEM file (at most `bounded::CA_BUNDLE` bytes); the error completes
/// "the CA file X …".
pub(super) fn read_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let bytes = bounded::read(path, CA_BUNDLE).map_err(|e| match e {
        ReadError::Io(e) => format!("cannot be read: {e}"),
        ReadError::TooLarge(limit) => limit.exceeded(),
    })?;
    pem_roots(&bytes).map_err(|why| format!("is not usable: {why}"))
}

/// Every certificate in the files of `SSL_CERT_DIR`'s folders (separated as `PATH` is).
/// As OpenSSL does, a folder that cannot be read and a file that is not a certificate
/// (a README, a CRL) are passed over.
pub(super) fn dir_roots(dirs: &OsString) -> Vec<reqwest::Certificate> {
    let mut roots = Vec::new();
    for dir in std::env::split_paths(dirs) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // `metadata` follows the symbolic links that `openssl rehash` makes.
            let path = entry.path();
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                if let Ok(certs) = read_roots(&path) {
                    roots.extend(certs);
                }
            }
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::file::ConfigFile;
    use crate::settings::CONFIG_KEYS;

    fn sources(pairs: &[(&str, &str)]) -> NetworkSources {
        let env = Env::from_pairs(pairs.iter().copied());
        let layers = Layers {
            env: &env,
            file: None,
            profile: None,
        };
        gather(None, &env, &layers).unwrap()
    }

    fn var(s: &Option<Sourced<String>>) -> Option<(String, String)> {
        s.as_ref().map(|s| (s.value.clone(), s.source.to_string()))
    }

    #[test]
    fn proxy_variables_in_curls_order() {
        let s = sources(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:1"),
            ("ALL_PROXY", "http://all:1"),
            ("no_proxy", "lower.example"),
            ("NO_PROXY", "upper.example"),
        ]);
        assert_eq!(
            var(&s.https_proxy),
            Some(("http://lower:1".into(), "environment https_proxy".into()))
        );
        assert_eq!(
            var(&s.http_proxy),
            Some(("http://all:1".into(), "environment ALL_PROXY".into()))
        );
        assert_eq!(var(&s.no_proxy).unwrap().0, "lower.example");

        let s = sources(&[("HTTP_PROXY", "http://upper:2"), ("all_proxy", "x:3")]);
        assert_eq!(var(&s.http_proxy).unwrap().0, "http://upper:2");
        assert_eq!(var(&s.https_proxy).unwrap().0, "x:3");
        // In a CGI program HTTP_PROXY comes from the request's Proxy header: ignored.
        let s = sources(&[("HTTP_PROXY", "http://evil:2"), ("REQUEST_METHOD", "GET")]);
        assert!(s.http_proxy.is_none());
        // Empty is unset.
        let s = sources(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:1")]);
        assert_eq!(var(&s.https_proxy).unwrap().0, "http://upper:1");
        assert!(sources(&[]).https_proxy.is_none());
    }

    #[test]
    fn ssl_cert_file_and_dir_replace_the_built_in_roots() {
        assert!(resolve(&sources(&[])).unwrap().trust.built_in);
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let ca = ca.to_str().unwrap();
        let dir_str = dir.path().to_str().unwrap();

        let net = resolve(&sources(&[("SSL_CERT_FILE", ca)])).unwrap();
        assert!(!net.trust.built_in);
        assert_eq!(net.trust.extra.len(), 1);
        let net = resolve(&sources(&[("SSL_CERT_DIR", dir_str)])).unwrap();
        assert!(!net.trust.built_in);
        assert_eq!(net.trust.extra.len(), 1);
        // CHIEF_CA_CERT adds to the built-in roots.
        let net = resolve(&sources(&[("CHIEF_CA_CERT", ca)])).unwrap();
        assert!(net.trust.built_in);
        assert_eq!(net.trust.extra.len(), 1);
    }

    #[test]
    fn a_relative_ca_cert_in_the_config_file_is_taken_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "ca_cert = \"certs/ca.pem\"\n").unwrap();
        let file = ConfigFile::load(&path, true, &CONFIG_KEYS, &mut vec![])
            .unwrap()
            .unwrap();
        let env = Env::default();
        let layers = Layers {
            env: &env,
            file: Some(&file),
            profile: None,
        };
        let s = gather(None, &env, &layers).unwrap();
        assert_eq!(
            s.ca_cert.unwrap().value,
            dir.path().join("certs").join("ca.pem")
        );
        // The flag wins, and is taken as given (from the working directory).
        let s = gather(Some(Path::new("mine.pem")), &env, &layers).unwrap();
        let ca = s.ca_cert.unwrap();
        assert_eq!(ca.value, PathBuf::from("mine.pem"));
        assert_eq!(ca.source, Source::Flag("--ca-cert"));
    }

    #[test]
    fn a_bad_proxy_is_a_usage_error_without_its_password() {
        let err = resolve(&sources(&[("ALL_PROXY", "ftp://u:Hunter22@proxy")])).unwrap_err();
        assert!(
            err.message.contains("ALL_PROXY") && !err.message.contains("Hunter22"),
            "{err}"
        );
    }
}
