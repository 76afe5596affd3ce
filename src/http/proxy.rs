//! Proxies as curl honours them: a proxy for https targets and one for plain-http
//! targets (each from its variable, else `ALL_PROXY`), and a `NO_PROXY` list of hosts
//! reached directly. `settings` picks the variables from the environment snapshot; this
//! module parses them and applies them to a client explicitly, so that reqwest never reads
//! the process environment on its own.
//!
//! A proxy URL's credentials are a secret like the token: `ProxyUrl` never shows its
//! password.
//!
//! Why not reqwest's `Proxy`/`NoProxy` or hyper-util's `Matcher`, which reqwest uses:
//! they read the process environment, or take strings and drop what they cannot parse
//! without a word, and they differ from curl where users notice. What this module has
//! that they lack:
//! * `ProxyUrl`: curl's defaults (no scheme means `http://`; port 1080 for every kind but
//!   `https://`, where reqwest uses 80), a message that says what is wrong without the
//!   password, and a display that never shows it (`--show-config`, errors);
//! * `NoProxy`: `*` also for IP hosts (hyper-util matches it against names only),
//!   entries separated by spaces as well as commas, `[::1]` with brackets, and a
//!   trailing dot (`example.com.`) on either side, as curl accepts them.
//!
//! The address ranges of `NO_PROXY` (`10.0.0.0/8`) are `ipnet`'s, already in reqwest's
//! tree.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use url::{Host, Url};

/// The proxy schemes a client can speak.
const SCHEMES: [&str; 6] = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"];

/// A proxy's URL, possibly with a user name and password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl(Url);

impl ProxyUrl {
    /// Reads a proxy as curl does: `host:port` without a scheme means `http://`; without
    /// a port, `https://` proxies listen on 443 and every other kind on 1080. The error
    /// says what is wrong without quoting the value (it may hold a password).
    pub(crate) fn parse(raw: &str) -> Result<ProxyUrl, String> {
        let raw = raw.trim();
        // A scheme only where the value starts with one: a `://` further on (in a
        // password, a fragment) does not make `user:password@host` a URL of scheme `user`.
        let (with_scheme, rest) = match raw.split_once("://") {
            Some((scheme, rest)) if is_scheme(scheme) => (raw.to_string(), rest),
            _ => (format!("http://{raw}"), raw),
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
        let scheme = url.scheme().to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "the proxy scheme '{}' is not supported; use one of {}",
                scheme.escape_debug(),
                SCHEMES.join(", ")
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("it names no proxy host".into());
        }
        if !has_port(rest) {
            let port = if scheme == "https" { 443 } else { 1080 };
            url.set_port(Some(port))
                .map_err(|()| "it cannot take a port".to_string())?;
        }
        // Only the scheme, credentials, host and port mean anything for a proxy.
        url.set_path("");
        url.set_query(None);
        url.set_fragment(None);
        Ok(ProxyUrl(url))
    }

    /// `http://user:***@host:port`: where the proxy is and who logs in, without the
    /// password. The port is always shown, since the default differs from curl's.
    pub(crate) fn redacted(&self) -> String {
        let u = &self.0;
        let user = match (u.username(), u.password()) {
            ("", None) => String::new(),
            (name, None) => format!("{name}@"),
            (name, Some(_)) => format!("{name}:***@"),
        };
        let host = u.host_str().unwrap_or("");
        match u.port_or_known_default() {
            Some(port) => format!("{}://{user}{host}:{port}", u.scheme()),
            None => format!("{}://{user}{host}", u.scheme()),
        }
    }

    /// The URL with its credentials, for the client that sends them.
    fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A proxy setting as it may be shown, valid or not: with any password hidden, and for a
/// value that is not a URL, everything before an `@` hidden (but a scheme).
pub(crate) fn shown_proxy(raw: &str) -> String {
    if let Ok(p) = ProxyUrl::parse(raw) {
        return p.redacted();
    }
    match raw.rfind('@') {
        Some(at) => {
            // Only a scheme is kept: what comes before a later `://` may be a password.
            let scheme_end = raw
                .find("://")
                .filter(|&i| i < at && is_scheme(&raw[..i]))
                .map_or(0, |i| i + 3);
            format!("{}***@{}", &raw[..scheme_end], &raw[at + 1..])
                .escape_debug()
                .to_string()
        }
        None => raw.escape_debug().to_string(),
    }
}

/// A URL scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Whether the authority part of a URL (after `scheme://`) gives a port explicitly.
/// `Url` forgets a port equal to the scheme's default, so the text is looked at instead.
fn has_port(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let after_host = match host_port.rfind(']') {
        Some(i) => &host_port[i + 1..],
        None => host_port,
    };
    after_host.contains(':')
}

/// `NO_PROXY` as curl reads it: `*` alone means every host; otherwise names and
/// addresses separated by commas or spaces. A name matches itself and its subdomains
/// (`example.com` and `.example.com` both match `api.example.com`), case-insensitively;
/// an IP address matches itself, and `10.0.0.0/8` style ranges match their addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    all: bool,
    names: Vec<String>,
    nets: Vec<IpNet>,
}

impl NoProxy {
    pub(crate) fn parse(raw: &str) -> NoProxy {
        let raw = raw.trim();
        if raw == "*" {
            return NoProxy {
                all: true,
                ..NoProxy::default()
            };
        }
        let mut list = NoProxy::default();
        for entry in raw.split([',', ' ', '\t']).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, b.parse::<u8>().ok()),
                None => (entry, None),
            };
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = addr.parse::<IpAddr>() {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if let Ok(net) = IpNet::new(ip, bits.unwrap_or(max).min(max)) {
                    list.nets.push(net.trunc());
                }
            } else {
                let name = entry.trim_start_matches('.').trim_end_matches('.');
                if !name.is_empty() {
                    list.names.push(name.to_ascii_lowercase());
                }
            }
        }
        list
    }

    /// Whether a request to `url` goes direct.
    pub(crate) fn matches(&self, url: &Url) -> bool {
        if self.all {
            return true;
        }
        match url.host() {
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                self.names.iter().any(|n| {
                    d == *n || (d.ends_with(n.as_str()) && d[..d.len() - n.len()].ends_with('.'))
                })
            }
            Some(Host::Ipv4(ip)) => self.nets.iter().any(|net| net.contains(&IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => self.nets.iter().any(|net| net.contains(&IpAddr::V6(ip))),
            None => false,
        }
    }
}

/// The proxies of every client of the run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    /// For `https://` targets.
    pub(crate) https: Option<ProxyUrl>,
    /// For plain `http://` targets (loopback only, by the transport rule).
    pub(crate) http: Option<ProxyUrl>,
    pub(crate) no_proxy: NoProxy,
}

impl Proxies {
    /// The proxy a request to `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&ProxyUrl> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        (!self.no_proxy.matches(url)).then_some(proxy)
    }

    /// The client uses exactly these proxies: reqwest's own reading of the process
    /// environment is turned off, since `settings` decides.
    pub(crate) fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let builder = builder.no_proxy();
        if self.https.is_none() && self.http.is_none() {
            return builder;
        }
        let proxies = self.clone();
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.for_url(url).map(|p| p.expose().clone())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn proxy_urls_as_curl_reads_them() {
        let shown = |raw: &str| ProxyUrl::parse(raw).unwrap().redacted();
        assert_eq!(shown("proxy.corp:3128"), "http://proxy.corp:3128");
        assert_eq!(shown("http://proxy.corp"), "http://proxy.corp:1080");
        assert_eq!(shown("http://proxy.corp:80"), "http://proxy.corp:80");
        assert_eq!(shown("https://proxy.corp"), "https://proxy.corp:443");
        assert_eq!(
            shown("https://proxy.corp:8443/x?y"),
            "https://proxy.corp:8443"
        );
        assert_eq!(shown("socks5h://[::1]"), "socks5h://[::1]:1080");
        assert_eq!(shown("socks5://10.0.0.1:9050"), "socks5://10.0.0.1:9050");
        assert_eq!(
            shown("http://alice:s3cr%40t@proxy.corp:3128"),
            "http://alice:***@proxy.corp:3128"
        );
        assert_eq!(
            shown("http://alice@proxy.corp:3128"),
            "http://alice@proxy.corp:3128"
        );
        for bad in ["ftp://proxy.corp", "http://", "http://:pw@/", "http://a b"] {
            let why = ProxyUrl::parse(bad).unwrap_err();
            assert!(!why.is_empty(), "{bad}");
        }
    }

    #[test]
    fn a_proxy_password_is_never_shown() {
        let p = ProxyUrl::parse("http://alice:Sup3rS3cret@proxy.corp:3128").unwrap();
        for text in [p.to_string(), format!("{p:?}"), p.redacted()] {
            assert!(!text.contains("Sup3rS3cret"), "{text}");
        }
        let proxies = Proxies {
            https: Some(p),
            ..Proxies::default()
        };
        assert!(!format!("{proxies:?}").contains("Sup3rS3cret"));
        let why = ProxyUrl::parse("ftp://alice:Sup3rS3cret@proxy.corp").unwrap_err();
        assert!(!why.contains("Sup3rS3cret"), "{why}");
        assert_eq!(
            shown_proxy("ftp://alice:Sup3rS3cret@proxy.corp"),
            "ftp://***@proxy.corp"
        );
        assert_eq!(shown_proxy("alice:Sup3r@S3cret@pro xy"), "***@pro xy");
        assert_eq!(
            shown_proxy("http://alice:Sup3rS3cret@proxy.corp:1"),
            "http://alice:***@proxy.corp:1"
        );
    }

    #[test]
    fn no_proxy_as_curl_reads_it() {
        let list = NoProxy::parse(" .corp.example, localhost  10.0.0.0/8,::1,192.168.1.7 ");
        for direct in [
            "https://corp.example/",
            "https://api.corp.example/",
            "https://API.Corp.Example./",
            "http://localhost:8080/",
            "http://10.1.2.3/",
            "http://[::1]:9/",
            "http://192.168.1.7/",
        ] {
            assert!(list.matches(&url(direct)), "{direct}");
        }
        for proxied in [
            "https://notcorp.example/",
            "https://corp.example.com/",
            "http://11.0.0.1/",
            "http://192.168.1.8/",
            "http://[::2]/",
            "https://example.com/",
        ] {
            assert!(!list.matches(&url(proxied)), "{proxied}");
        }
        assert!(NoProxy::parse("*").matches(&url("https://anything.example/")));
        // What hyper-util's matcher does not: `*` for an IP host, an entry in brackets,
        // one with a trailing dot, a range written past its bits.
        assert!(NoProxy::parse("*").matches(&url("http://127.0.0.1:5/")));
        assert!(NoProxy::parse("[::1]").matches(&url("http://[::1]:9/")));
        assert!(NoProxy::parse("corp.example.").matches(&url("https://a.corp.example/")));
        assert!(NoProxy::parse("10.1.2.3/40").matches(&url("http://10.1.2.3/")));
        assert!(!NoProxy::parse("").matches(&url("https://anything.example/")));
        assert!(NoProxy::parse("127.0.0.1").matches(&url("http://127.0.0.1:5/")));
    }

    /// A proxy that refuses every request with 407, on its own thread, and its address.
    fn refusing_proxy() -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
                );
            }
        });
        addr
    }

    #[test]
    fn errors_through_a_proxy_never_show_its_password() {
        use crate::http::error::describe_reqwest_error;
        use crate::http::{client_builder, Network};
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A proxy that refuses the credentials; one that is not there; a SOCKS5 proxy
        // that is not there.
        for proxy in [
            format!("http://alice:Sup3rS3cret@{}", refusing_proxy()),
            format!("http://alice:Sup3rS3cret@{closed}"),
            format!("socks5h://alice:Sup3rS3cret@{closed}"),
        ] {
            let proxy = ProxyUrl::parse(&proxy).unwrap();
            let network = Network {
                proxies: Proxies {
                    https: Some(proxy.clone()),
                    http: Some(proxy),
                    no_proxy: NoProxy::default(),
                },
                ..Network::default()
            };
            let client = client_builder(std::time::Duration::from_secs(5), 1, &network)
                .build()
                .unwrap();
            for target in ["https://127.0.0.1:9/v1/assets", "http://127.0.0.1:9/v1"] {
                match rt.block_on(client.get(target).send()) {
                    // A forwarded plain-http request gets the proxy's 407 as its answer.
                    Ok(resp) => assert_eq!(resp.status(), 407, "{target}"),
                    Err(err) => {
                        let shown = describe_reqwest_error(&err);
                        assert!(
                            !shown.contains("Sup3rS3cret") && !shown.contains("://"),
                            "{shown}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_scheme_has_its_proxy_and_no_proxy_wins() {
        let proxies = Proxies {
            https: Some(ProxyUrl::parse("http://secure.proxy:1").unwrap()),
            http: Some(ProxyUrl::parse("http://plain.proxy:2").unwrap()),
            no_proxy: NoProxy::parse("direct.example"),
        };
        let via = |u: &str| proxies.for_url(&url(u)).map(ProxyUrl::redacted);
        assert_eq!(
            via("https://api.example/").as_deref(),
            Some("http://secure.proxy:1")
        );
        assert_eq!(
            via("http://127.0.0.1:9/").as_deref(),
            Some("http://plain.proxy:2")
        );
        assert_eq!(via("https://s3.direct.example/"), None);
    }

    /// Found by the fuzz target `proxy`: in a setting that is no URL, what came before a
    /// `://` after the credentials was kept as if it were a scheme, password and all.
    #[test]
    fn a_password_before_a_late_scheme_separator_is_hidden() {
        let raw = "prbob:***:Pa55w0rdFuzzSecret@[::1]:1081://y.x@example.com:328";
        assert!(ProxyUrl::parse(raw).is_err());
        let shown = shown_proxy(raw);
        assert_eq!(shown, "***@example.com:328");
        // A scheme before the credentials is kept.
        assert!(ProxyUrl::parse("http://user:secret@h:99999").is_err());
        assert_eq!(
            shown_proxy("http://user:secret@h:99999"),
            "http://***@h:99999"
        );
    }

    /// Found by the fuzz target `proxy` once the above was fixed: a `://` late in the
    /// value made `https:PASSWORD@host` read as a URL of scheme `https` whose user name
    /// is the password (curl reads it as user `https`, password `PASSWORD`), and the
    /// user name is shown.
    #[test]
    fn a_late_scheme_separator_does_not_make_a_password_a_user_name() {
        let raw = "https:Pa55w0rdFuzzSecret@*dfx#t\u{13}tp://prosftproxy:1:**5";
        assert!(
            !shown_proxy(raw).contains("Pa55w0rd"),
            "{}",
            shown_proxy(raw)
        );
        let p = ProxyUrl::parse("https:Pa55w0rdFuzzSecret@proxy.example.com:3128/x://y").unwrap();
        assert_eq!(p.redacted(), "http://https:***@proxy.example.com:3128");
    }
}
