//! Which URLs a request may go to at all.

/// The scheme rule shared by the API URL and signed upload URLs: `https` anywhere; plain
/// `http` only to a loopback address, where nothing crosses a network.
pub(crate) fn check_transport(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("plain http is only allowed to loopback addresses (127.0.0.0/8, ::1, localhost); use https".into()),
        other => Err(format!("unsupported scheme '{other}'; use https")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let check = |u: &str| check_transport(&reqwest::Url::parse(u).unwrap());
        for ok in [
            "https://api.example.com",
            "http://127.1.2.3:9",
            "http://[::1]:9",
            "http://LOCALHOST:9",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "ftp://x",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
