//! A small Chief API for the interop suite: `POST /v1/assets` as `docs/api.md` gives it,
//! handing out genuine SigV4 presigned PUT URLs (signed by `rusty-s3`, checked by
//! `s3s-fs`).
//!
//! It remembers every MD5 it has handed a URL for: asking again for the same content is a
//! dedup hit (200, `already_exists: true`, no URL).
//!
//! The S3 server must hold [`BUCKET`] and know [`ACCESS_KEY`] / [`SECRET_KEY`] (s3s-fs:
//! `--access-key`, `--secret-key`, and a folder named after the bucket in its root). The
//! interop suite starts it that way; so can a benchmark, with `fake_chief --s3 ADDR`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::{json, Value};

use crate::util::{base64, is_lower_hex, rfc3339, unhex};
use crate::{PROJECT, TOKEN};

/// The bucket the upload URLs point into: the S3 server must hold it.
pub const BUCKET: &str = "chief-interop";
pub const REGION: &str = "us-east-1";
/// The S3 credentials the URLs are signed with: the S3 server must know them.
pub const ACCESS_KEY: &str = "chiefinteropaccess";
pub const SECRET_KEY: &str = "chief-interop-secret-0123456789abcdef";

/// Lifetime of the upload URLs.
const URL_TTL: Duration = Duration::from_secs(15 * 60);
const BODY_LIMIT: usize = 64 * 1024;

/// One `POST /v1/assets` and the answer it got.
#[derive(Debug, Clone)]
pub struct Post {
    pub filename: String,
    pub mime_type: String,
    pub md5: String,
    pub status: u16,
    pub asset_id: Option<String>,
    /// The object key the upload URL points at (201 only).
    pub key: Option<String>,
    /// `X-Amz-SignedHeaders` of the upload URL (201 only).
    pub signed_headers: Option<String>,
}

/// Called with each valid request body before the API answers it.
pub type OnPost = Arc<dyn Fn(&Value) + Send + Sync>;

#[derive(Default)]
struct State {
    /// md5 -> asset id of every asset created.
    known: HashMap<String, String>,
    posts: Vec<Post>,
    next_id: u64,
    on_post: Option<OnPost>,
    /// Signs with this secret instead of s3s-fs's.
    wrong_secret: Option<String>,
}

pub struct Api {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Api {
    /// Serves on an ephemeral loopback port; the URLs it signs point at `storage`. Must be
    /// called inside a tokio runtime.
    pub fn start(storage: SocketAddr) -> Api {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let bucket = Arc::new(
            Bucket::new(
                url::Url::parse(&format!("http://{storage}")).unwrap(),
                UrlStyle::Path,
                BUCKET,
                REGION,
            )
            .unwrap(),
        );
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (st, bucket) = (st.clone(), bucket.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (st, bucket) = (st.clone(), bucket.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(&st, &bucket, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Api { url, state }
    }

    /// Every valid `POST /v1/assets` since the last call (and resets the list).
    pub fn take_posts(&self) -> Vec<Post> {
        std::mem::take(&mut self.state.lock().unwrap().posts)
    }

    pub fn on_post(&self, f: OnPost) {
        self.state.lock().unwrap().on_post = Some(f);
    }

    /// From now on, signs upload URLs with a secret s3s-fs does not know.
    pub fn sign_with_wrong_secret(&self) {
        self.state.lock().unwrap().wrong_secret = Some("not-the-secret-of-s3s-fs".into());
    }
}

type Resp = Response<Full<Bytes>>;

fn answer(status: u16, body: &Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn refuse(status: u16, code: &str, message: &str) -> Resp {
    answer(status, &json!({ "code": code, "message": message }))
}

async fn handle(state: &Mutex<State>, bucket: &Bucket, req: Request<Incoming>) -> Resp {
    if req.uri().path() != "/v1/assets" {
        return refuse(404, "not_found", "no such endpoint");
    }
    if req.method() != hyper::Method::POST {
        return refuse(405, "method_not_allowed", "POST only");
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header("x-api-key").as_deref() != Some(TOKEN) {
        return refuse(401, "unauthorized", "invalid API key");
    }
    match header("x-project-id") {
        Some(p) if p == PROJECT => {}
        Some(p) if p.starts_with("project_") && p.len() == 28 => {
            return refuse(403, "forbidden", "no access to this project")
        }
        _ => {
            return refuse(
                400,
                "publicapi.tenancy.project.missing",
                "X-Project-Id is missing or malformed",
            )
        }
    }
    if !header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return refuse(400, "bad_request", "expected application/json");
    }
    let Ok(body) = Limited::new(req.into_body(), BODY_LIMIT).collect().await else {
        return refuse(400, "bad_request", "unreadable body");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return refuse(400, "bad_request", "body is not JSON");
    };
    let field = |name: &str| body[name].as_str().map(str::to_string);
    let (Some(filename), Some(mime_type), Some(md5)) =
        (field("filename"), field("mime_type"), field("md5"))
    else {
        return refuse(
            400,
            "bad_request",
            "filename, mime_type and md5 are required",
        );
    };
    if filename.is_empty() || filename.contains('/') || !mime_type.contains('/') {
        return refuse(400, "bad_request", "bad filename or mime_type");
    }
    if !is_lower_hex(&md5, 32) {
        return refuse(400, "bad_request", "md5 must be 32 lower-case hex digits");
    }
    let hook = state.lock().unwrap().on_post.clone();
    if let Some(hook) = hook {
        tokio::task::block_in_place(|| hook(&body));
    }

    let mut st = state.lock().unwrap();
    let mut post = Post {
        filename: filename.clone(),
        mime_type: mime_type.clone(),
        md5: md5.clone(),
        status: 200,
        asset_id: None,
        key: None,
        signed_headers: None,
    };
    if let Some(asset_id) = st.known.get(&md5).cloned() {
        post.asset_id = Some(asset_id.clone());
        st.posts.push(post);
        return answer(
            200,
            &json!({ "asset_id": asset_id, "already_exists": true, "status": "uploaded" }),
        );
    }
    st.next_id += 1;
    let asset_id = format!("asset_{:020}", st.next_id);
    // The original name in the key: spaces and non-ASCII go through the client's URL
    // handling and the SigV4 canonical path on both sides.
    let key = format!("{asset_id}/{filename}");
    let content_md5 = base64(&unhex(&md5).expect("checked hex"));
    let secret = st.wrong_secret.clone();
    let credentials = Credentials::new(ACCESS_KEY, secret.as_deref().unwrap_or(SECRET_KEY));
    let mut action = bucket.put_object(Some(&credentials), &key);
    action
        .headers_mut()
        .insert("content-md5", content_md5.clone());
    action
        .headers_mut()
        .insert("content-type", mime_type.clone());
    let upload_url = action.sign(URL_TTL);
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + URL_TTL.as_secs();
    st.known.insert(md5, asset_id.clone());
    post.status = 201;
    post.asset_id = Some(asset_id.clone());
    post.key = Some(key);
    post.signed_headers = upload_url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned());
    st.posts.push(post);
    answer(
        201,
        &json!({
            "asset_id": asset_id,
            "already_exists": false,
            "status": "uploaded",
            "upload_url": upload_url.as_str(),
            "upload_method": "PUT",
            "upload_headers": { "Content-Type": mime_type, "Content-MD5": content_md5 },
            "expires_at": rfc3339(expires),
        }),
    )
}
