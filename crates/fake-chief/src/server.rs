//! The two services: the API (`POST /v1/assets`) and the signed-URL storage, behind a
//! front door that emulates the network (outage, pushback, chaos, latency) and applies
//! the test's fault rules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::knobs::{Counters, InFlightLimit, Outage, OutageMode, Phase};
use super::util::{self, base64, hex, is_id, is_lower_hex, now_millis};
use super::{lock, md5_hex, Action, Recorded, Shared, StoredAsset, Target, Upload};

type Resp = Response<Full<Bytes>>;

/// Largest API body the fake reads.
const API_BODY_LIMIT: usize = 1 << 20;
/// Refused uploads are drained (up to this much, for this long) before answering, so the
/// client reliably reads the answer instead of a reset.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Returned by a handler to make hyper drop the connection without answering.
#[derive(Debug)]
pub(super) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake chief dropped the connection")
    }
}

impl std::error::Error for Dropped {}

/// Serve HTTP/1.1 on one accepted connection (plain or TLS) until it closes.
pub(super) async fn serve<IO>(io: IO, target: Target, shared: Arc<Shared>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move {
            match target {
                Target::Api => api(shared, req).await,
                Target::Storage => storage(shared, req).await,
            }
        }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        // Idle keep-alive connections stay open: no spurious closes in tests.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The record of one request; written back to the shared list when the request ends
/// (answered, dropped, or abandoned by the client). It also counts the request in flight
/// at its listener for as long as it lives.
struct Rec {
    shared: Arc<Shared>,
    target: Target,
    slot: Option<(u64, usize)>,
    body_len: u64,
    status: u16,
    json: Option<Value>,
    /// Holds a slot of the in-flight limit.
    admitted: bool,
}

impl Rec {
    fn new(shared: &Arc<Shared>, target: Target, req: &Request<Incoming>) -> Rec {
        shared.counters(target).enter();
        let mut rec = Rec {
            shared: shared.clone(),
            target,
            slot: None,
            body_len: 0,
            status: 0,
            json: None,
            admitted: false,
        };
        if shared.recording.load(Ordering::Relaxed) {
            let recorded = Recorded {
                target,
                method: req.method().as_str().to_string(),
                path: req.uri().path().to_string(),
                query: req.uri().query().map(str::to_string),
                headers: req
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                json: None,
                body_len: 0,
                status: 0,
                at: std::time::Instant::now(),
            };
            let mut records = lock(&shared.records);
            records.list.push(recorded);
            rec.slot = Some((records.generation, records.list.len() - 1));
        }
        rec
    }

    fn sync(&self) {
        let Some((generation, i)) = self.slot else {
            return;
        };
        let mut records = lock(&self.shared.records);
        if records.generation != generation {
            return;
        }
        if let Some(r) = records.list.get_mut(i) {
            r.body_len = self.body_len;
            r.status = self.status;
            if r.json.is_none() {
                r.json = self.json.clone();
            }
        }
    }

    fn answer(&mut self, resp: Resp) -> Resp {
        self.status = resp.status().as_u16();
        self.sync();
        resp
    }

    fn counters(&self) -> &Counters {
        self.shared.counters(self.target)
    }

    /// `n` body bytes arrived now.
    fn received(&mut self, n: u64) {
        self.received_at(n, Instant::now());
    }

    /// `n` body bytes arrived, delivered by a paced link at `at`.
    fn received_at(&mut self, n: u64, at: Instant) {
        self.body_len += n;
        self.counters().received(n, at);
    }

    /// Take a slot of the in-flight limit; false if all `max` are taken.
    fn admit(&mut self, max: usize) -> bool {
        self.admitted = self.counters().admit(max);
        self.admitted
    }
}

impl Drop for Rec {
    fn drop(&mut self) {
        self.sync();
        if self.admitted {
            self.counters().release();
        }
        self.counters().leave(self.status);
    }
}

fn response(status: u16, content_type: Option<&str>, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert("content-type", ct.parse().expect("content type"));
    }
    resp
}

fn with_header(mut resp: Resp, name: &'static str, value: &str) -> Resp {
    if let Ok(v) = value.parse() {
        resp.headers_mut().insert(name, v);
    }
    resp
}

fn json_response(status: u16, value: &Value) -> Resp {
    response(status, Some("application/json"), value.to_string())
}

fn api_error(status: u16, code: &str, message: &str) -> Resp {
    json_response(status, &json!({ "code": code, "message": message }))
}

fn s3_xml(code: &str, message: &str, shared: &Shared) -> String {
    let request_id = shared.entropy.token("req", b"0123456789ABCDEF", 16);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    )
}

fn s3_error(status: u16, code: &str, message: &str, shared: &Shared) -> Resp {
    response(
        status,
        Some("application/xml"),
        s3_xml(code, message, shared),
    )
}

/// An error body in the origin's own shape.
fn error_body(shared: &Shared, target: Target, api_code: &str, s3_code: &str, msg: &str) -> String {
    match target {
        Target::Api => json!({ "code": api_code, "message": msg }).to_string(),
        Target::Storage => s3_xml(s3_code, msg, shared),
    }
}

fn injected(
    shared: &Shared,
    target: Target,
    status: u16,
    retry_after: Option<String>,
    body: Option<String>,
) -> Resp {
    let resp = match (body, target) {
        (Some(body), _) => {
            let t = body.trim_start();
            let ct = if t.starts_with('{') || t.starts_with('[') {
                "application/json"
            } else if t.starts_with('<') {
                "application/xml"
            } else {
                "text/plain; charset=utf-8"
            };
            response(status, Some(ct), body)
        }
        (None, Target::Api) => api_error(status, "fake.injected", "injected fault"),
        (None, Target::Storage) => s3_error(status, "InjectedFault", "injected fault", shared),
    };
    match retry_after {
        Some(ra) => with_header(resp, "retry-after", &ra),
        None => resp,
    }
}

/// A custom error body that echoes what the client sent, as careless servers do.
fn echo_secrets(body: &str, parts: &hyper::http::request::Parts) -> String {
    let query = parts.uri.query().unwrap_or("");
    let signature = query
        .split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .unwrap_or("");
    body.replace(
        "{api_key}",
        header(&parts.headers, "x-api-key").unwrap_or(""),
    )
    .replace("{query}", query)
    .replace("{signature}", signature)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Read the whole (small) body; `Ok(None)` if larger than `limit`.
async fn read_limited(
    body: &mut Incoming,
    rec: &mut Rec,
    limit: usize,
) -> Result<Option<Vec<u8>>, hyper::Error> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            rec.received(data.len() as u64);
            if buf.len() + data.len() > limit {
                return Ok(None);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Some(buf))
}

/// Read and discard up to `limit` bytes (frame granularity).
async fn discard(body: &mut Incoming, rec: &mut Rec, limit: u64) -> Result<(), hyper::Error> {
    while rec.body_len < limit {
        match body.frame().await {
            None => break,
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    rec.received(data.len() as u64);
                }
            }
        }
    }
    Ok(())
}

/// Drain a refused request's body (bounded) so the answer reaches the client.
async fn drain(body: &mut Incoming, rec: &mut Rec) {
    let _ = tokio::time::timeout(DRAIN_TIME, discard(body, rec, DRAIN_LIMIT)).await;
}

/// What the front door knows of a request: its head, and which file it is about.
struct Arrival<'a> {
    target: Target,
    filename: Option<&'a str>,
    parts: &'a hyper::http::request::Parts,
}

/// The network in front of both services, decided on arrival in this order: an outage,
/// the in-flight limit, chaos, the test's rules; then the origin's latency (not before a
/// dropped connection); then the fault, if any (see `fault`).
async fn front_door(
    shared: &Arc<Shared>,
    arrival: Arrival<'_>,
    body: &mut Incoming,
    rec: &mut Rec,
) -> Result<Option<Resp>, Dropped> {
    let target = arrival.target;
    let knobs = shared.knobs();
    let origin = knobs.origin(target);
    let counters = shared.counters(target);
    let mut action = outage(shared, target, knobs.outage.as_ref()).await;
    if let (None, Some(limit)) = (&action, origin.max_in_flight) {
        if !rec.admit(limit.max) {
            counters.bump(&counters.throttled);
            action = Some(pushback(shared, target, limit));
        }
    }
    if let (None, Some(chaos)) = (&action, origin.chaos) {
        let n = shared.chaos_draws.fetch_add(1, Ordering::Relaxed);
        if let Some(hit) = chaos.draw(n) {
            counters.bump(&counters.chaos);
            action = Some(hit.map_or(Action::Reset, Action::status));
        }
    }
    if action.is_none() {
        action = shared.take_rule(target, arrival.filename, Action::is_pre);
    }
    let drops = matches!(action, Some(Action::Reset | Action::ResetMidBody { .. }));
    if !origin.latency.is_zero() && !drops {
        rec.sync();
        tokio::time::sleep(origin.latency).await;
    }
    match action {
        Some(action) => fault(shared, target, action, arrival.parts, body, rec).await,
        None => Ok(None),
    }
}

/// The 429 of the in-flight limit, in the origin's error shape.
fn pushback(shared: &Shared, target: Target, limit: InFlightLimit) -> Action {
    let msg = "too many requests in flight; retry later";
    Action::Status {
        status: 429,
        retry_after: limit.retry_after.map(|s| s.to_string()),
        body: Some(error_body(
            shared,
            target,
            "publicapi.rate_limited",
            "SlowDown",
            msg,
        )),
    }
}

/// What an outage covering `target` does to a request now, if anything.
async fn outage(shared: &Arc<Shared>, target: Target, outage: Option<&Outage>) -> Option<Action> {
    let outage = outage.filter(|o| o.origins.covers(target))?;
    let (phase, generation) = {
        let mut state = lock(&shared.outage);
        let phase = state.window.on_request(outage, Instant::now());
        (phase, state.generation)
    };
    if matches!(phase, Phase::Before | Phase::Over) {
        return None;
    }
    let counters = shared.counters(target);
    counters.bump(&counters.outage_requests);
    Some(match &outage.mode {
        OutageMode::Status {
            status,
            retry_after,
        } => {
            let msg = "service unavailable";
            let body = error_body(
                shared,
                target,
                "publicapi.unavailable",
                "ServiceUnavailable",
                msg,
            );
            Action::Status {
                status: *status,
                retry_after: retry_after.clone(),
                body: Some(body),
            }
        }
        OutageMode::Reset => Action::Reset,
        OutageMode::Refuse => {
            if phase == Phase::Begins {
                refuse(shared, outage, generation).await;
            }
            Action::Reset
        }
    })
}

/// Close the covered listeners, cut their connections, and (for a window with an end)
/// listen again when it ends. Runs in a task of its own, since cutting the connections
/// cuts the caller's too; the caller waits only until the listeners are closed, so its
/// client cannot reconnect once it sees its connection drop.
async fn refuse(shared: &Arc<Shared>, outage: &Outage, generation: u64) {
    let targets: Vec<Target> = [Target::Api, Target::Storage]
        .into_iter()
        .filter(|&t| outage.origins.covers(t))
        .collect();
    let duration = outage.duration;
    let shared = shared.clone();
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        for &t in &targets {
            shared.control(t).close().await;
        }
        let _ = closed_tx.send(());
        for &t in &targets {
            shared.control(t).cut();
        }
        let Some(duration) = duration else {
            return;
        };
        tokio::time::sleep(duration).await;
        {
            let mut state = lock(&shared.outage);
            if state.generation != generation {
                return;
            }
            state.window.end();
        }
        let _ = tokio::task::spawn_blocking(move || shared.reopen_all()).await;
    });
    let _ = closed.await;
}

/// Carry out a fault decided when the request arrived, the same way on both listeners:
/// `Ok(Some(answer))` answers instead, `Ok(None)` lets the request go on normally, and
/// `Err(Dropped)` drops the connection. A body not read yet is drained before a status
/// answer so the client reads the answer rather than a reset; the API has read its small
/// body already, so there `ResetMidBody` is a plain reset.
async fn fault(
    shared: &Shared,
    target: Target,
    action: Action,
    parts: &hyper::http::request::Parts,
    body: &mut Incoming,
    rec: &mut Rec,
) -> Result<Option<Resp>, Dropped> {
    match action {
        Action::Status {
            status,
            retry_after,
            body: text,
        } => {
            drain(body, rec).await;
            let text = text.map(|t| echo_secrets(&t, parts));
            Ok(Some(injected(shared, target, status, retry_after, text)))
        }
        Action::Reset => Err(Dropped),
        Action::ResetMidBody { after } => {
            let _ = discard(body, rec, after).await;
            Err(Dropped)
        }
        Action::Delay(d) => {
            tokio::time::sleep(d).await;
            Ok(None)
        }
        Action::Stall => {
            rec.sync();
            std::future::pending().await
        }
        Action::Gate(gate) => {
            rec.sync();
            gate.pass().await;
            Ok(None)
        }
        Action::UploadMethod(_) | Action::ExpiresIn(_) | Action::WrongEtag => {
            unreachable!("only actions decided on arrival are taken here")
        }
    }
}

async fn api(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let mut rec = Rec::new(&shared, Target::Api, &req);
    let (parts, mut body) = req.into_parts();
    let bytes = match read_limited(&mut body, &mut rec, API_BODY_LIMIT).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Ok(rec.answer(api_error(
                413,
                "publicapi.validation.failed",
                "request body too large",
            )))
        }
        Err(_) => return Err(Dropped),
    };
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    rec.json = parsed.clone();
    let filename = parsed
        .as_ref()
        .and_then(|j| j.get("filename"))
        .and_then(Value::as_str)
        .map(str::to_string);

    let arrival = Arrival {
        target: Target::Api,
        filename: filename.as_deref(),
        parts: &parts,
    };
    if let Some(resp) = front_door(&shared, arrival, &mut body, &mut rec).await? {
        return Ok(rec.answer(resp));
    }

    let redirect = lock(&shared.inner).redirect.clone();
    if let Some(base) = redirect {
        let location = match parts.uri.query() {
            Some(q) => format!("{base}{}?{q}", parts.uri.path()),
            None => format!("{base}{}", parts.uri.path()),
        };
        return Ok(rec.answer(with_header(response(307, None, ""), "location", &location)));
    }

    let resp = create_asset(&shared, &parts, parsed, filename.as_deref());
    Ok(rec.answer(resp))
}

fn valid_mime(m: &str) -> bool {
    // RFC 6838 restricted-name "/" restricted-name, no parameters.
    fn name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 127
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    }
    m.split_once('/').is_some_and(|(t, s)| name(t) && name(s))
}

fn create_asset(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Option<Value>,
    filename: Option<&str>,
) -> Resp {
    if parts.uri.path() != "/v1/assets" {
        return api_error(
            404,
            "publicapi.not_found",
            &format!("no route for {}", parts.uri.path()),
        );
    }
    if parts.method != hyper::Method::POST {
        return with_header(
            api_error(
                405,
                "publicapi.method_not_allowed",
                &format!("method {} not allowed on /v1/assets", parts.method),
            ),
            "allow",
            "POST",
        );
    }
    let project = match header(&parts.headers, "x-project-id") {
        Some(p) if is_id(p, "project_", 20) => p,
        Some(_) => {
            return api_error(
                400,
                "publicapi.tenancy.project.missing",
                "X-Project-Id is malformed: expected project_ followed by 20 [a-z0-9]",
            )
        }
        None => {
            return api_error(
                400,
                "publicapi.tenancy.project.missing",
                "X-Project-Id header is required",
            )
        }
    };
    let allowed = {
        let inner = lock(&shared.inner);
        header(&parts.headers, "x-api-key")
            .and_then(|key| inner.tokens.get(key))
            .map(|projects| projects.iter().any(|p| p == project))
    };
    match allowed {
        None => {
            return api_error(
                401,
                "publicapi.auth.unauthorized",
                "missing or invalid API key",
            )
        }
        Some(false) => {
            return api_error(
                403,
                "publicapi.auth.forbidden",
                "this token has no access to the project",
            )
        }
        Some(true) => {}
    }
    let json_ct = header(&parts.headers, "content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !json_ct {
        return api_error(
            415,
            "publicapi.unsupported_media_type",
            "Content-Type must be application/json",
        );
    }
    let invalid = |msg: &str| api_error(400, "publicapi.validation.failed", msg);
    let Some(body) = body else {
        return invalid("body: not valid JSON");
    };
    let Some(obj) = body.as_object() else {
        return invalid("body: must be a JSON object");
    };
    let filename = match obj.get("filename") {
        None | Some(Value::Null) => return invalid("filename: required"),
        Some(Value::String(s)) if s.is_empty() => return invalid("filename: must not be empty"),
        Some(Value::String(_)) => filename.expect("filename is a string"),
        Some(_) => return invalid("filename: must be a string"),
    };
    let mime_type = match obj.get("mime_type") {
        None | Some(Value::Null) => return invalid("mime_type: required"),
        Some(Value::String(s)) if valid_mime(s) => s.as_str(),
        Some(_) => return invalid("mime_type: must be an RFC 6838 type/subtype string"),
    };
    let md5 = match obj.get("md5") {
        None => None,
        Some(Value::String(s)) if is_lower_hex(s, 32) => Some(s.as_str()),
        Some(_) => return invalid("md5: must be 32 lower-case hex characters"),
    };

    if let Some(md5) = md5 {
        let inner = lock(&shared.inner);
        if let Some(asset) = inner
            .projects
            .get(project)
            .and_then(|p| p.by_md5.get(md5).map(|&i| &p.assets[i]))
        {
            return json_response(
                200,
                &json!({
                    "asset_id": asset.asset_id,
                    "already_exists": true,
                    "status": asset.status,
                    "ingest_hint": null,
                }),
            );
        }
    }

    let method = match shared.take_rule(Target::Api, Some(filename), |a| {
        matches!(a, Action::UploadMethod(_))
    }) {
        Some(Action::UploadMethod(m)) => m,
        _ => "PUT".to_string(),
    };
    let ttl = match shared.take_rule(Target::Api, Some(filename), |a| {
        matches!(a, Action::ExpiresIn(_))
    }) {
        Some(Action::ExpiresIn(d)) => d,
        _ => lock(&shared.inner).url_ttl,
    };
    let expires = ((now_millis() + ttl.as_millis()) / 1000) as u64;
    let asset_id = shared.new_asset_id();
    let path = format!("/upload/{asset_id}");
    let mut headers = vec![("Content-Type".to_string(), mime_type.to_string())];
    if let Some(md5) = md5 {
        let raw = util::unhex(md5).expect("validated hex");
        headers.push(("Content-MD5".to_string(), base64(&raw)));
    }
    headers.push((
        "X-Chief-Upload-Token".to_string(),
        shared.entropy.token("upload-token", util::MIXED_ALNUM, 24),
    ));
    let signed: Vec<(String, Option<String>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), Some(v.clone())))
        .collect();
    let signature = util::sign(&shared.secret, &method, &path, expires, &signed);
    let upload_url = format!(
        "{}{path}?expires={expires}&signature={signature}",
        shared.storage_url
    );
    let upload_headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    lock(&shared.inner).uploads.insert(
        asset_id.clone(),
        Upload {
            project: project.to_string(),
            filename: filename.to_string(),
            mime_type: mime_type.to_string(),
            md5: md5.map(str::to_string),
            method: method.clone(),
            headers,
        },
    );
    json_response(
        201,
        &json!({
            "asset_id": asset_id,
            "already_exists": false,
            "status": "uploaded",
            "upload_url": upload_url,
            "upload_method": method,
            "upload_headers": upload_headers,
            "expires_at": util::rfc3339(expires),
            "ingest_hint": null,
        }),
    )
}

/// `expires` and `signature` from the query, nothing else.
fn parse_query(query: Option<&str>) -> Option<(u64, String)> {
    let mut expires = None;
    let mut signature = None;
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=')?;
        match k {
            "expires"
                if expires.is_none() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                expires = Some(v.parse().ok()?)
            }
            "signature" if signature.is_none() => signature = Some(v.to_string()),
            _ => return None,
        }
    }
    Some((expires?, signature?))
}

async fn storage(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let mut rec = Rec::new(&shared, Target::Storage, &req);
    let (parts, mut body) = req.into_parts();
    let upload = parts
        .uri
        .path()
        .strip_prefix("/upload/")
        .and_then(|id| lock(&shared.inner).uploads.get(id).cloned());
    let filename = upload.as_ref().map(|u| u.filename.as_str());

    let arrival = Arrival {
        target: Target::Storage,
        filename,
        parts: &parts,
    };
    if let Some(resp) = front_door(&shared, arrival, &mut body, &mut rec).await? {
        return Ok(rec.answer(resp));
    }

    match check_upload(&shared, &parts, upload.as_ref()) {
        Err(resp) => {
            drain(&mut body, &mut rec).await;
            Ok(rec.answer(*resp))
        }
        Ok(content_length) => {
            let upload = upload.expect("checked");
            let knobs = shared.knobs();
            let link = knobs.link;
            let verify = link.is_none_or(|l| l.verify);
            let started = Instant::now();
            let mut hasher = Md5::new();
            while let Some(frame) = body.frame().await {
                // The client went away mid-body: nothing to answer.
                let frame = frame.map_err(|_| Dropped)?;
                if let Ok(data) = frame.into_data() {
                    if verify {
                        hasher.update(&data);
                    }
                    let n = data.len() as u64;
                    if let Some(l) = link {
                        let due = Duration::from_secs_f64(
                            (rec.body_len + n) as f64 / l.bytes_per_sec.max(1) as f64,
                        );
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    let delivered = match knobs.shared_link {
                        Some(_) => lock(&shared.pacer)
                            .as_mut()
                            .map(|p| p.reserve(n, Instant::now())),
                        None => None,
                    };
                    match delivered {
                        Some(at) => {
                            tokio::time::sleep_until(at.into()).await;
                            rec.received_at(n, at);
                        }
                        None => rec.received(n),
                    }
                }
            }
            let md5 = if verify {
                hex(&hasher.finalize())
            } else {
                upload.md5.clone().unwrap_or_default()
            };
            if rec.body_len != content_length {
                let msg = "The number of bytes received does not match Content-Length.";
                return Ok(rec.answer(s3_error(400, "BadDigest", msg, &shared)));
            }
            if upload.md5.as_ref().is_some_and(|m| *m != md5) {
                let msg = "The Content-MD5 you specified did not match what we received.";
                return Ok(rec.answer(s3_error(400, "BadDigest", msg, &shared)));
            }
            let asset_id = parts.uri.path()["/upload/".len()..].to_string();
            shared.store(
                &upload.project,
                StoredAsset {
                    asset_id,
                    md5: md5.clone(),
                    size: rec.body_len,
                    filename: upload.filename.clone(),
                    mime_type: upload.mime_type.clone(),
                    status: "uploaded".to_string(),
                },
            );
            let wrong = shared
                .take_rule(Target::Storage, Some(&upload.filename), |a| {
                    matches!(a, Action::WrongEtag)
                })
                .is_some();
            let etag = if wrong { md5_hex(md5.as_bytes()) } else { md5 };
            let resp = with_header(response(200, None, ""), "etag", &format!("\"{etag}\""));
            Ok(rec.answer(resp))
        }
    }
}

/// Everything decided from the head of an upload request; `Ok(Content-Length)`.
fn check_upload(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    upload: Option<&Upload>,
) -> Result<u64, Box<Resp>> {
    for name in [
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "cookie",
    ] {
        if parts.headers.contains_key(name) {
            let msg = format!("A credential header ({name}) was sent to the storage.");
            return Err(Box::new(s3_error(
                400,
                "CredentialSentToStorage",
                &msg,
                shared,
            )));
        }
    }
    let Some(upload) = upload else {
        let msg = "The specified upload does not exist.";
        return Err(Box::new(s3_error(404, "NoSuchUpload", msg, shared)));
    };
    if parts.method.as_str() != upload.method {
        let msg = "The specified method is not allowed against this resource.";
        let resp = s3_error(405, "MethodNotAllowed", msg, shared);
        return Err(Box::new(with_header(resp, "allow", &upload.method)));
    }
    if parts.headers.contains_key("transfer-encoding") {
        let msg = "A header you provided implies functionality that is not implemented: Transfer-Encoding";
        return Err(Box::new(s3_error(501, "NotImplemented", msg, shared)));
    }
    let Some(content_length) =
        header(&parts.headers, "content-length").and_then(|v| v.parse().ok())
    else {
        let msg = "You must provide the Content-Length HTTP header.";
        return Err(Box::new(s3_error(411, "MissingContentLength", msg, shared)));
    };
    let mismatch = || {
        let msg = "The request signature we calculated does not match the signature you provided.";
        Box::new(s3_error(403, "SignatureDoesNotMatch", msg, shared))
    };
    let (expires, signature) = parse_query(parts.uri.query()).ok_or_else(mismatch)?;
    let sent: Vec<(String, Option<String>)> = upload
        .headers
        .iter()
        .map(|(name, _)| {
            let mut values = parts.headers.get_all(name.as_str()).iter();
            let value = match (values.next(), values.next()) {
                (Some(v), None) => v.to_str().ok().map(str::to_string),
                _ => None,
            };
            (name.clone(), value)
        })
        .collect();
    let expected = util::sign(
        &shared.secret,
        parts.method.as_str(),
        parts.uri.path(),
        expires,
        &sent,
    );
    if !util::same(&expected, &signature) {
        return Err(mismatch());
    }
    if now_millis() >= u128::from(expires) * 1000 {
        return Err(Box::new(s3_error(
            403,
            "AccessDenied",
            "Request has expired",
            shared,
        )));
    }
    Ok(content_length)
}
