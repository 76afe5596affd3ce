//! An HTTP proxy on its own loopback port, as a company proxy: `CONNECT host:port`
//! tunnels (what clients use for https) and absolute-form requests forwarded
//! (`POST http://host:port/path`, what clients send for plain http). It can demand
//! Basic credentials (407 with `Proxy-Authenticate` when missing or wrong) and records
//! what it did.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::knobs::Signal;
use super::lock;
use super::util::base64;

type Body = BoxBody<Bytes, hyper::Error>;

/// One request the proxy handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEvent {
    /// `CONNECT` for a tunnel; otherwise the method of a forwarded request.
    pub method: String,
    /// `host:port` asked for.
    pub authority: String,
    /// 200 for a tunnel made, 407 refused credentials, 502 target unreachable, else
    /// the status the target answered a forwarded request with.
    pub status: u16,
}

pub(super) struct Proxy {
    pub addr: SocketAddr,
    credentials: Option<(String, String)>,
    events: Mutex<Vec<ProxyEvent>>,
    signal: Arc<Signal>,
}

impl Proxy {
    pub fn new(
        addr: SocketAddr,
        credentials: Option<(String, String)>,
        signal: Arc<Signal>,
    ) -> Proxy {
        Proxy {
            addr,
            credentials,
            events: Mutex::new(Vec::new()),
            signal,
        }
    }

    /// `http://user:pass@127.0.0.1:PORT` with the credentials it demands (given as is:
    /// choose ones that need no percent-encoding), or `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        match &self.credentials {
            Some((user, pass)) => self.url_with(user, pass),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn url_with(&self, user: &str, pass: &str) -> String {
        format!("http://{user}:{pass}@{}", self.addr)
    }

    pub fn events(&self) -> Vec<ProxyEvent> {
        lock(&self.events).clone()
    }

    /// Tunnels made (`connect`) or requests forwarded (not `connect`), per `host:port`;
    /// refusals (407) and unreachable targets (502) are not counted.
    pub fn count(&self, connect: bool) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for e in lock(&self.events).iter() {
            let tunnel = e.method == "CONNECT";
            if tunnel == connect && e.status != 407 && e.status != 502 {
                *out.entry(e.authority.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    fn record(&self, method: &Method, authority: &str, status: u16) {
        lock(&self.events).push(ProxyEvent {
            method: method.as_str().to_string(),
            authority: authority.to_string(),
            status,
        });
        self.signal.ring();
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some((user, pass)) = &self.credentials else {
            return true;
        };
        let expected = base64(format!("{user}:{pass}").as_bytes());
        req.headers()
            .get("proxy-authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("basic") && token.trim() == expected
            })
    }
}

fn plain(status: u16, text: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(text.to_string()))
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    resp
}

pub(super) async fn accept_loop(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(proxy.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(proxy: Arc<Proxy>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let authority = req.uri().authority().map(|a| {
        let port = a.port_u16().unwrap_or(80);
        format!("{}:{port}", a.host())
    });
    let Some(authority) = authority else {
        return Ok(plain(
            400,
            "a proxy wants CONNECT or an absolute-form URL\n",
        ));
    };
    if method != Method::CONNECT && req.uri().scheme_str() != Some("http") {
        return Ok(plain(400, "only http:// URLs are forwarded; use CONNECT\n"));
    }
    if !proxy.authorized(&req) {
        proxy.record(&method, &authority, 407);
        let mut resp = plain(407, "proxy authentication required\n");
        resp.headers_mut().insert(
            "proxy-authenticate",
            hyper::header::HeaderValue::from_static("Basic realm=\"fake-chief-proxy\""),
        );
        return Ok(resp);
    }
    let upstream = match TcpStream::connect(authority.as_str()).await {
        Ok(s) => s,
        Err(_) => {
            proxy.record(&method, &authority, 502);
            return Ok(plain(502, "cannot reach the target\n"));
        }
    };
    let _ = upstream.set_nodelay(true);
    if method == Method::CONNECT {
        proxy.record(&method, &authority, 200);
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
        return Ok(plain(200, ""));
    }
    Ok(forward(&proxy, req, &authority, upstream).await)
}

/// Send an absolute-form request on to its target in origin form, without the
/// proxy's own (hop-by-hop) headers.
async fn forward(
    proxy: &Proxy,
    req: Request<Incoming>,
    authority: &str,
    upstream: TcpStream,
) -> Response<Body> {
    let method = req.method().clone();
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = match path.parse() {
        Ok(uri) => uri,
        Err(_) => return plain(400, "bad request target\n"),
    };
    for name in ["proxy-authorization", "proxy-connection"] {
        parts.headers.remove(name);
    }
    let answer = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await?;
        tokio::spawn(conn);
        sender.send_request(Request::from_parts(parts, body)).await
    };
    match answer.await {
        Ok(resp) => {
            proxy.record(&method, authority, resp.status().as_u16());
            resp.map(BodyExt::boxed)
        }
        Err(_) => {
            proxy.record(&method, authority, 502);
            plain(502, "the target dropped the connection\n")
        }
    }
}
