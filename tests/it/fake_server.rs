//! Tests of the fake Chief server itself: it refuses what the real service refuses and
//! accepts a correct flow.

use std::time::{Duration, Instant};

use fake_chief::{
    md5_hex, Action, Cert, Chaos, FakeChief, Gate, InFlightLimit, Origins, Outage, OutageMode,
    OutageWindow, Phase, Rule, Target, OTHER_PROJECT, PROJECT, TOKEN, UNKNOWN_TOKEN,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A generous bound for requests to reach a gate: on a loaded machine, and under wine, whose
/// processes all wait on one wineserver (10 s was not always enough there beside the
/// other tests).
const REACH: Duration = Duration::from_secs(60);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn body_for(filename: &str, content: &[u8]) -> Value {
    json!({ "filename": filename, "mime_type": "text/plain", "md5": md5_hex(content) })
}

/// POST /v1/assets with the given credentials; returns (status, json body, headers).
async fn post_with(
    chief: &FakeChief,
    key: Option<&str>,
    project: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = client()
        .post(format!("{}/v1/assets", chief.api_url()))
        .header("content-type", content_type)
        .header("user-agent", "chief-upload/test")
        .body(body);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    if let Some(project) = project {
        req = req.header("x-project-id", project);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, headers)
}

async fn post(chief: &FakeChief, body: &Value) -> (u16, Value) {
    let (status, json, _) = post_with(
        chief,
        Some(TOKEN),
        Some(PROJECT),
        "application/json",
        body.to_string(),
    )
    .await;
    (status, json)
}

/// Create an upload for `content` and return the 201 answer.
async fn create(chief: &FakeChief, filename: &str, content: &[u8]) -> Value {
    let (status, json) = post(chief, &body_for(filename, content)).await;
    assert_eq!(status, 201, "{json}");
    json
}

fn upload_headers(answer: &Value) -> Vec<(String, String)> {
    answer["upload_headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// PUT `content` to the answer's URL with the given headers.
async fn put(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    content: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let mut req = client().request(method.parse().unwrap(), url).body(content);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.send().await
}

async fn put_answer(answer: &Value, content: &[u8]) -> (u16, String, Option<String>) {
    let resp = put(
        answer["upload_url"].as_str().unwrap(),
        answer["upload_method"].as_str().unwrap(),
        &upload_headers(answer),
        content.to_vec(),
    )
    .await
    .unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.text().await.unwrap(), etag)
}

/// Send raw HTTP/1.1 bytes (with `Connection: close`) and return (status, whole answer).
async fn raw(base_url: &str, request: &str) -> (u16, String) {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn split_url(url: &str) -> (&str, &str) {
    url.split_once('?').unwrap()
}

fn xml_code(text: &str) -> &str {
    let start = text.find("<Code>").expect("xml error") + "<Code>".len();
    let end = text[start..].find("</Code>").unwrap();
    &text[start..start + end]
}

fn is_id(s: &str, prefix: &str, n: usize) -> bool {
    s.strip_prefix(prefix).is_some_and(|r| {
        r.len() == n
            && r.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

#[test]
fn constants_have_the_documented_shapes() {
    for token in [TOKEN, UNKNOWN_TOKEN] {
        let rest = token.strip_prefix("pat_").unwrap();
        assert_eq!(rest.len(), 32);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    assert!(is_id(PROJECT, "project_", 20));
    assert!(is_id(OTHER_PROJECT, "project_", 20));
    assert_ne!(PROJECT, OTHER_PROJECT);
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(fake_chief::util::base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(fake_chief::util::base64(b"fooba"), "Zm9vYmE=");
    assert_eq!(fake_chief::util::base64(b"foob"), "Zm9vYg==");
    assert_eq!(
        fake_chief::util::rfc3339(1_795_774_500),
        "2026-11-27T10:15:00Z"
    );
    assert_eq!(
        fake_chief::util::rfc3339(951_782_400),
        "2000-02-29T00:00:00Z"
    );
}

#[tokio::test]
async fn happy_flow_then_dedup_hit() {
    let chief = FakeChief::start();
    assert_ne!(chief.api_url(), chief.storage_url());
    let content = b"hello chief\n".to_vec();
    let md5 = md5_hex(&content);

    let answer = create(&chief, "hello.txt", &content).await;
    let asset_id = answer["asset_id"].as_str().unwrap();
    assert!(is_id(asset_id, "asset_", 20), "{asset_id}");
    assert_eq!(answer["already_exists"], false);
    assert_eq!(answer["status"], "uploaded");
    assert_eq!(answer["upload_method"], "PUT");
    assert!(
        answer.get("ingest_hint").is_some(),
        "an unknown extra field"
    );
    let url = answer["upload_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/upload/{asset_id}?", chief.storage_url())));
    let expires_at = answer["expires_at"].as_str().unwrap();
    assert_eq!(expires_at.len(), 20, "{expires_at}");
    assert!(expires_at.ends_with('Z') && expires_at.as_bytes()[10] == b'T');
    let headers = upload_headers(&answer);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("Content-Type").as_deref(), Some("text/plain"));
    assert_eq!(
        get("Content-MD5").as_deref(),
        Some(fake_chief::util::base64(&fake_chief::util::unhex(&md5).unwrap()).as_str())
    );
    assert_eq!(get("X-Chief-Upload-Token").unwrap().len(), 24);

    let (status, _, etag) = put_answer(&answer, &content).await;
    assert_eq!(status, 200);
    assert_eq!(etag.unwrap(), format!("\"{md5}\""));

    let assets = chief.assets(PROJECT);
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0].asset_id, asset_id);
    assert_eq!(assets[0].md5, md5);
    assert_eq!(assets[0].size, content.len() as u64);
    assert_eq!(assets[0].filename, "hello.txt");
    assert_eq!(assets[0].mime_type, "text/plain");
    assert_eq!(assets[0].status, "uploaded");
    assert!(chief.assets(OTHER_PROJECT).is_empty());

    let (status, again) = post(&chief, &body_for("other-name.txt", &content)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["asset_id"], asset_id);
    assert_eq!(again["already_exists"], true);
    assert_eq!(again["status"], "uploaded");
    assert!(again.get("upload_url").is_none());
    assert!(again.get("upload_headers").is_none());

    let all = chief.requests();
    let summary: Vec<(Target, &str, u16)> = all
        .iter()
        .map(|r| (r.target, r.method.as_str(), r.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Target::Api, "POST", 201),
            (Target::Storage, "PUT", 200),
            (Target::Api, "POST", 200)
        ]
    );
    let post_rec = &chief.api_requests()[0];
    assert_eq!(post_rec.path, "/v1/assets");
    assert_eq!(post_rec.header("X-API-KEY"), Some(TOKEN));
    assert_eq!(post_rec.json.as_ref().unwrap()["filename"], "hello.txt");
    let put_rec = &chief.storage_requests()[0];
    assert_eq!(put_rec.body_len, content.len() as u64);
    assert_eq!(put_rec.path, format!("/upload/{asset_id}"));
    assert!(put_rec.query.as_deref().unwrap().contains("signature="));
    assert!(put_rec.header("x-api-key").is_none());
    assert_eq!(
        put_rec.header("x-chief-upload-token"),
        get("X-Chief-Upload-Token").as_deref()
    );
}

#[tokio::test]
async fn without_md5_always_201_and_storage_computes_it() {
    let chief = FakeChief::start();
    let content = b"no digest given".to_vec();
    let body = json!({ "filename": "a.bin", "mime_type": "application/octet-stream" });
    let (status, answer) = post(&chief, &body).await;
    assert_eq!(status, 201);
    assert!(upload_headers(&answer)
        .iter()
        .all(|(k, _)| k != "Content-MD5"));
    let (status, _, etag) = put_answer(&answer, &content).await;
    assert_eq!(status, 200);
    assert_eq!(etag.unwrap(), format!("\"{}\"", md5_hex(&content)));
    // Stored now, but without md5 in the request there is no dedup.
    let (status, _) = post(&chief, &body).await;
    assert_eq!(status, 201);
    // With it, there is.
    let (status, hit) = post(&chief, &body_for("a.bin", &content)).await;
    assert_eq!(status, 200);
    assert_eq!(hit["asset_id"], answer["asset_id"]);
}

#[tokio::test]
async fn seeded_assets_and_status_changes() {
    let chief = FakeChief::start();
    let content = b"seeded".to_vec();
    let id = chief.seed_asset(PROJECT, &md5_hex(&content), "ready");
    let (status, hit) = post(&chief, &body_for("s.txt", &content)).await;
    assert_eq!((status, hit["asset_id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(hit["status"], "ready");
    chief.set_status(&id, "failed");
    let (_, hit) = post(&chief, &body_for("s.txt", &content)).await;
    assert_eq!(hit["status"], "failed");
    // Dedup is per project.
    chief.add_token(TOKEN, &[OTHER_PROJECT]);
    let (status, _, _) = post_with(
        &chief,
        Some(TOKEN),
        Some(OTHER_PROJECT),
        "application/json",
        body_for("s.txt", &content).to_string(),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn project_id_is_checked_first() {
    let chief = FakeChief::start();
    let body = body_for("a.txt", b"x").to_string();
    for project in [
        None,
        Some("project_SHOUTING00000000000"),
        Some("project_short"),
        Some("proj_abcdefghij0123456789"),
        Some(""),
    ] {
        // Even with a bad token and a bad content type, the project id is checked first.
        for key in [Some(TOKEN), Some(UNKNOWN_TOKEN), None] {
            let (status, json, _) =
                post_with(&chief, key, project, "text/plain", body.clone()).await;
            assert_eq!(status, 400, "{project:?} {json}");
            assert_eq!(json["code"], "publicapi.tenancy.project.missing");
            assert!(json["message"].is_string());
        }
    }
    assert!(chief.requests().iter().all(|r| r.status == 400));
}

#[tokio::test]
async fn tokens_are_checked() {
    let chief = FakeChief::start();
    let body = body_for("a.txt", b"x").to_string();
    let ct = "application/json";
    for key in [None, Some(UNKNOWN_TOKEN), Some("garbage"), Some("")] {
        let (status, json, _) = post_with(&chief, key, Some(PROJECT), ct, body.clone()).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(json["code"], "publicapi.auth.unauthorized");
    }
    let (status, json, _) = post_with(&chief, Some(TOKEN), Some(OTHER_PROJECT), ct, body).await;
    assert_eq!(status, 403);
    assert_eq!(json["code"], "publicapi.auth.forbidden");
    assert!(chief.assets(PROJECT).is_empty());
}

#[tokio::test]
async fn bodies_are_validated() {
    let chief = FakeChief::start();
    let send = |ct: &'static str, body: String| {
        let chief = &chief;
        async move { post_with(chief, Some(TOKEN), Some(PROJECT), ct, body).await }
    };
    let good = body_for("a.txt", b"x").to_string();
    let (status, json, _) = send("text/plain", good.clone()).await;
    assert_eq!(status, 415, "{json}");
    let (status, _, _) = send("application/json; charset=utf-8", good).await;
    assert_eq!(status, 201);

    let md5 = md5_hex(b"x");
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "body"),
        ("[1,2]".into(), "body"),
        (json!({ "mime_type": "text/plain" }).to_string(), "filename"),
        (
            json!({ "filename": "", "mime_type": "text/plain" }).to_string(),
            "filename",
        ),
        (
            json!({ "filename": 7, "mime_type": "text/plain" }).to_string(),
            "filename",
        ),
        (json!({ "filename": "a" }).to_string(), "mime_type"),
        (
            json!({ "filename": "a", "mime_type": "text" }).to_string(),
            "mime_type",
        ),
        (
            json!({ "filename": "a", "mime_type": "text/" }).to_string(),
            "mime_type",
        ),
        (
            json!({ "filename": "a", "mime_type": 3 }).to_string(),
            "mime_type",
        ),
        (
            json!({ "filename": "a", "mime_type": "text/plain", "md5": md5.to_uppercase() })
                .to_string(),
            "md5",
        ),
        (
            json!({ "filename": "a", "mime_type": "text/plain", "md5": &md5[..31] }).to_string(),
            "md5",
        ),
        (
            json!({ "filename": "a", "mime_type": "text/plain", "md5": null }).to_string(),
            "md5",
        ),
    ];
    for (body, field) in cases {
        let (status, json, _) = send("application/json", body.clone()).await;
        assert_eq!(status, 400, "{body}: {json}");
        assert_eq!(json["code"], "publicapi.validation.failed", "{body}");
        assert!(
            json["message"].as_str().unwrap().contains(field),
            "{body}: {json}"
        );
    }
    // Unknown request fields are tolerated.
    let extra = json!({ "filename": "a", "mime_type": "image/svg+xml", "md5": md5, "x": 1 });
    let (status, _, _) = send("application/json", extra.to_string()).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn other_paths_and_methods() {
    let chief = FakeChief::start();
    let resp = client()
        .get(format!("{}/v1/assets", chief.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert!(json["code"].is_string());
    let resp = client()
        .post(format!("{}/v1/assets/asset_x", chief.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn storage_refuses_missing_or_altered_signed_headers() {
    let chief = FakeChief::start();
    let content = b"signed content".to_vec();
    let answer = create(&chief, "s.txt", &content).await;
    let url = answer["upload_url"].as_str().unwrap();
    let headers = upload_headers(&answer);

    for missing in ["Content-Type", "Content-MD5", "X-Chief-Upload-Token"] {
        let fewer: Vec<_> = headers
            .iter()
            .filter(|(k, _)| k != missing)
            .cloned()
            .collect();
        let resp = put(url, "PUT", &fewer, content.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "without {missing}");
        assert_eq!(
            xml_code(&resp.text().await.unwrap()),
            "SignatureDoesNotMatch"
        );
    }
    for altered in ["Content-Type", "X-Chief-Upload-Token"] {
        let changed: Vec<_> = headers
            .iter()
            .map(|(k, v)| {
                let v = if k == altered {
                    format!("{v}x")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let resp = put(url, "PUT", &changed, content.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "altered {altered}");
        assert_eq!(
            xml_code(&resp.text().await.unwrap()),
            "SignatureDoesNotMatch"
        );
    }
    // Tampered query: a later expiry, a changed signature, an extra parameter, none.
    let (base, query) = split_url(url);
    let expires: u64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let tampered = [
        format!(
            "{base}?{}",
            query.replace(&expires.to_string(), &(expires + 60).to_string())
        ),
        format!("{base}?{}", query.replacen("signature=", "signature=0", 1)),
        format!("{url}&x=1"),
        base.to_string(),
    ];
    for bad in &tampered {
        let resp = put(bad, "PUT", &headers, content.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{bad}");
        assert_eq!(
            xml_code(&resp.text().await.unwrap()),
            "SignatureDoesNotMatch"
        );
    }
    // The URL of another asset does not sign these headers.
    let other = create(&chief, "t.txt", b"other").await;
    let resp = put(
        other["upload_url"].as_str().unwrap(),
        "PUT",
        &headers,
        content.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    assert!(chief.assets(PROJECT).is_empty());
    // The genuine request still works, and the URL can be reused until expiry.
    assert_eq!(put_answer(&answer, &content).await.0, 200);
    assert_eq!(put_answer(&answer, &content).await.0, 200);
    assert_eq!(chief.assets(PROJECT).len(), 1);
}

#[tokio::test]
async fn storage_refuses_expired_urls() {
    let chief = FakeChief::start();
    let content = b"late".to_vec();
    chief.inject(Rule::api(1, Action::ExpiresIn(Duration::ZERO)));
    let answer = create(&chief, "late.txt", &content).await;
    let (status, text, _) = put_answer(&answer, &content).await;
    assert_eq!(status, 403);
    assert_eq!(xml_code(&text), "AccessDenied");
    assert!(text.contains("<Message>Request has expired</Message>"));

    // set_url_ttl moves expires_at.
    chief.set_url_ttl(Duration::from_secs(3600));
    let fresh = create(&chief, "late.txt", &content).await;
    let expires_at = fresh["expires_at"].as_str().unwrap().to_string();
    chief.set_url_ttl(Duration::from_secs(60));
    let sooner = create(&chief, "late.txt", &content).await;
    assert!(sooner["expires_at"].as_str().unwrap() < expires_at.as_str());
    assert_eq!(put_answer(&fresh, &content).await.0, 200);
}

#[tokio::test]
async fn storage_wants_a_content_length() {
    let chief = FakeChief::start();
    let content = b"0123456789".to_vec();
    let answer = create(&chief, "len.txt", &content).await;
    let url = answer["upload_url"].as_str().unwrap();

    // Chunked (a stream of unknown length) -> 501.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(content[..5].to_vec()), Ok(content[5..].to_vec())];
    let mut req = client()
        .put(url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )));
    for (k, v) in upload_headers(&answer) {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 501);
    assert_eq!(xml_code(&resp.text().await.unwrap()), "NotImplemented");
    let rec = chief.storage_requests().pop().unwrap();
    assert_eq!(rec.header("transfer-encoding"), Some("chunked"));
    assert_eq!(rec.status, 501);

    // No Content-Length at all -> 411 (raw request: HTTP clients add one).
    let (_, query_path) = url.split_once("127.0.0.1:").unwrap();
    let target = &query_path[query_path.find('/').unwrap()..];
    let mut request = format!("PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in upload_headers(&answer) {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let (status, text) = raw(&chief.storage_url(), &request).await;
    assert_eq!(status, 411, "{text}");
    assert_eq!(xml_code(&text), "MissingContentLength");
    assert!(chief.assets(PROJECT).is_empty());
}

#[tokio::test]
async fn storage_checks_the_content() {
    let chief = FakeChief::start();
    let content = b"the real bytes".to_vec();
    let answer = create(&chief, "c.txt", &content).await;
    let mut wrong = content.clone();
    wrong[0] ^= 1;
    let (status, text, etag) = put_answer(&answer, &wrong).await;
    assert_eq!(status, 400);
    assert_eq!(xml_code(&text), "BadDigest");
    assert!(etag.is_none());
    let (status, text, _) = put_answer(&answer, b"short").await;
    assert_eq!((status, xml_code(&text)), (400, "BadDigest"));
    assert!(chief.assets(PROJECT).is_empty());
    let rec = chief.storage_requests().pop().unwrap();
    assert_eq!((rec.status, rec.body_len), (400, 5));
}

#[tokio::test]
async fn storage_refuses_credentials_unknown_uploads_and_other_methods() {
    let chief = FakeChief::start();
    let content = b"creds".to_vec();
    let answer = create(&chief, "k.txt", &content).await;
    let url = answer["upload_url"].as_str().unwrap();
    let headers = upload_headers(&answer);
    for (name, value) in [
        ("X-API-Key", TOKEN),
        ("Authorization", "Bearer abc"),
        ("Cookie", "session=1"),
    ] {
        let mut with = headers.clone();
        with.push((name.to_string(), value.to_string()));
        let resp = put(url, "PUT", &with, content.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{name}");
        assert_eq!(
            xml_code(&resp.text().await.unwrap()),
            "CredentialSentToStorage"
        );
    }
    let resp = put(url, "POST", &headers, content.clone()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let unknown = url.replace(
        answer["asset_id"].as_str().unwrap(),
        "asset_00000000000000000000",
    );
    let resp = put(&unknown, "PUT", &headers, content.clone())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(chief.assets(PROJECT).is_empty());
    let statuses: Vec<u16> = chief.storage_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![400, 400, 400, 405, 404]);
}

#[tokio::test]
async fn injected_status_with_retry_after_counts_down() {
    let chief = FakeChief::start();
    chief.inject(Rule::api(2, Action::retry_after(503, "1")));
    let body = body_for("r.txt", b"retry");
    for _ in 0..2 {
        let (status, json, headers) = post_with(
            &chief,
            Some(TOKEN),
            Some(PROJECT),
            "application/json",
            body.to_string(),
        )
        .await;
        assert_eq!(status, 503);
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(json["code"], "fake.injected");
    }
    assert!(chief.rules().is_empty());
    let (status, _) = post(&chief, &body).await;
    assert_eq!(status, 201);
    let statuses: Vec<u16> = chief.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 201]);

    // Storage faults, with a custom body, only for one file.
    chief.inject(Rule::storage(1, Action::status_body(500, "oops")).for_file("b.txt"));
    let a = create(&chief, "a.txt", b"aaa").await;
    assert_eq!(put_answer(&a, b"aaa").await.0, 200);
    let b = create(&chief, "b.txt", b"bbb").await;
    let (status, text, _) = put_answer(&b, b"bbb").await;
    assert_eq!((status, text.as_str()), (500, "oops"));
    assert_eq!(put_answer(&b, b"bbb").await.0, 200);

    // Default storage fault body is S3-shaped XML.
    chief.inject(Rule::storage(1, Action::status(503)));
    let (status, text, _) = put_answer(&b, b"bbb").await;
    assert_eq!((status, xml_code(&text)), (503, "InjectedFault"));
}

#[tokio::test]
async fn reset_mid_body_drops_the_connection() {
    let chief = FakeChief::start();
    let content = vec![7u8; 4 << 20];
    chief.inject(Rule::storage(1, Action::ResetMidBody { after: 64 << 10 }));
    let answer = create(&chief, "big.bin", &content).await;
    let err = put(
        answer["upload_url"].as_str().unwrap(),
        "PUT",
        &upload_headers(&answer),
        content.clone(),
    )
    .await
    .expect_err("the connection is dropped");
    assert!(!err.is_status(), "{err}");
    assert!(chief.assets(PROJECT).is_empty());
    let rec = chief.storage_requests().pop().unwrap();
    assert_eq!(rec.status, 0);
    assert!(
        rec.body_len >= 64 << 10 && rec.body_len < content.len() as u64,
        "{}",
        rec.body_len
    );
    // Used up: the retry goes through.
    assert_eq!(put_answer(&answer, &content).await.0, 200);
    assert_eq!(chief.assets(PROJECT)[0].size, content.len() as u64);
}

#[tokio::test]
async fn reset_stall_and_delay() {
    let chief = FakeChief::start();
    let body = body_for("x.txt", b"x");
    chief.inject(Rule::api(1, Action::Reset));
    let err = client()
        .post(format!("{}/v1/assets", chief.api_url()))
        .header("x-api-key", TOKEN)
        .header("x-project-id", PROJECT)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect_err("reset");
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(chief.api_requests()[0].status, 0);

    chief.inject(Rule::api(1, Action::Stall));
    let err = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/v1/assets", chief.api_url()))
        .body(body.to_string())
        .send()
        .await
        .expect_err("stall");
    assert!(err.is_timeout(), "{err}");

    chief.inject(Rule::api(1, Action::Delay(Duration::from_millis(300))));
    let start = Instant::now();
    assert_eq!(post(&chief, &body).await.0, 201);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn upload_method_and_wrong_etag() {
    let chief = FakeChief::start();
    let content = b"method".to_vec();
    chief.inject(Rule::api(1, Action::UploadMethod("RESUMABLE".into())));
    let answer = create(&chief, "m.txt", &content).await;
    assert_eq!(answer["upload_method"], "RESUMABLE");
    // The storage expects what was issued.
    let resp = put(
        answer["upload_url"].as_str().unwrap(),
        "PUT",
        &upload_headers(&answer),
        content.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    // Only 201 answers consume the rule; the next one is back to PUT.
    let answer = create(&chief, "m.txt", &content).await;
    assert_eq!(answer["upload_method"], "PUT");

    chief.inject(Rule::storage(1, Action::WrongEtag));
    let (status, _, etag) = put_answer(&answer, &content).await;
    assert_eq!(status, 200);
    let etag = etag.unwrap();
    assert_ne!(etag, format!("\"{}\"", md5_hex(&content)));
    assert_eq!(etag.len(), 34);
    assert_eq!(chief.assets(PROJECT).len(), 1, "stored all the same");
}

#[tokio::test]
async fn redirects_and_shutdown() {
    let chief = FakeChief::start();
    chief.redirect_api_to("http://127.0.0.1:9/elsewhere");
    let (status, _, headers) = post_with(
        &chief,
        Some(TOKEN),
        Some(PROJECT),
        "application/json",
        body_for("x", b"x").to_string(),
    )
    .await;
    assert_eq!(status, 307);
    assert_eq!(
        headers["location"],
        "http://127.0.0.1:9/elsewhere/v1/assets"
    );
    chief.stop_redirect();
    assert_eq!(post(&chief, &body_for("x", b"x")).await.0, 201);

    let api = chief.api_url();
    drop(chief);
    let err = client()
        .post(format!("{api}/v1/assets"))
        .send()
        .await
        .expect_err("closed");
    assert!(err.is_connect(), "{err}");
}

#[test]
fn start_on_fixed_ports_and_sync_use() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let chief = FakeChief::start_on(port, 0).unwrap();
    assert_eq!(chief.api_url(), format!("http://127.0.0.1:{port}"));
    assert!(FakeChief::start_on(port, 0).is_err(), "port in use");
    chief.clear_requests();
    assert!(chief.requests().is_empty());
}

/// The benchmark link: bodies arrive no faster than the rate, and without verification
/// the storage stores the signed MD5 (a remote server's CPU is not ours).
#[tokio::test]
async fn emulated_link_paces_and_can_skip_verification() {
    let chief = FakeChief::start();
    chief.set_storage_link(Some(fake_chief::Link {
        bytes_per_sec: 4_000_000,
        verify: false,
    }));
    let content = vec![5u8; 1_000_000];
    let answer = create(&chief, "paced.bin", &content).await;
    let started = std::time::Instant::now();
    let (status, _, etag) = put_answer(&answer, &content).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(240),
        "1 MB at 4 MB/s takes at least a quarter second: {:?}",
        started.elapsed()
    );
    assert_eq!(etag, Some(format!("\"{}\"", md5_hex(&content))));
    assert_eq!(chief.assets(fake_chief::PROJECT)[0].md5, md5_hex(&content));
}

// ---- The emulated network -------------------------------------------------------------

/// A client trusting the fake's private CA, reaching it directly.
fn tls_client(chief: &FakeChief) -> reqwest::Client {
    tls_builder(chief).no_proxy().build().unwrap()
}

fn tls_builder(chief: &FakeChief) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(chief.ca_pem().unwrap().as_bytes()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
}

/// A client that goes through `proxy` (and trusts the fake's CA when it has one).
fn proxied_client(chief: &FakeChief, proxy: &str) -> reqwest::Client {
    let builder = match chief.ca_pem() {
        Some(_) => tls_builder(chief),
        None => reqwest::Client::builder(),
    };
    builder
        .proxy(reqwest::Proxy::all(proxy).unwrap())
        .build()
        .unwrap()
}

/// POST /v1/assets at `api_url` with valid credentials: (status, JSON, headers).
async fn post_via(
    client: &reqwest::Client,
    api_url: &str,
    body: &Value,
) -> reqwest::Result<(u16, Value, reqwest::header::HeaderMap)> {
    let resp = client
        .post(format!("{api_url}/v1/assets"))
        .header("x-api-key", TOKEN)
        .header("x-project-id", PROJECT)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, json, headers))
}

/// PUT `content` as a 201 answer says; the status.
async fn put_via(client: &reqwest::Client, answer: &Value, content: &[u8]) -> reqwest::Result<u16> {
    let mut req = client
        .put(answer["upload_url"].as_str().unwrap())
        .body(content.to_vec());
    for (k, v) in upload_headers(answer) {
        req = req.header(k, v);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    resp.bytes().await?;
    Ok(status)
}

/// Create and upload one file through `client`; panics unless both succeed.
async fn upload_via(client: &reqwest::Client, chief: &FakeChief, name: &str, content: &[u8]) {
    let (status, answer, _) = post_via(client, &chief.api_url(), &body_for(name, content))
        .await
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    assert_eq!(put_via(client, &answer, content).await.unwrap(), 200);
}

/// The whole error chain, for matching a cause.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e:?}"));
        source = e.source();
    }
    text
}

#[tokio::test]
async fn https_on_both_origins_with_a_private_ca_counts_handshakes() {
    let chief = FakeChief::builder().tls(Cert::Trusted).start().unwrap();
    assert!(chief.api_url().starts_with("https://127.0.0.1:"));
    assert!(chief.storage_url().starts_with("https://127.0.0.1:"));
    assert!(chief
        .ca_pem()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let client = tls_client(&chief);
    for i in 0..10 {
        let content = format!("over tls {i}");
        let (status, answer, _) = post_via(
            &client,
            &chief.api_url(),
            &body_for("t.txt", content.as_bytes()),
        )
        .await
        .unwrap();
        assert_eq!(status, 201);
        assert!(answer["upload_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/upload/", chief.storage_url())));
        assert_eq!(
            put_via(&client, &answer, content.as_bytes()).await.unwrap(),
            200
        );
    }
    assert_eq!(chief.assets(PROJECT).len(), 10);
    for target in [Target::Api, Target::Storage] {
        let stats = chief.stats(target);
        assert_eq!(stats.requests, 10, "{target:?}");
        // Kept-alive connections: a handshake per connection, far fewer than requests.
        assert_eq!(stats.tls_handshakes, stats.connections, "{target:?}");
        assert!(
            (1..=3).contains(&stats.tls_handshakes),
            "{target:?}: {stats:?}"
        );
        assert_eq!(stats.tls_failures, 0);
    }

    // The certificate names localhost too.
    let by_name = chief.api_url().replace("127.0.0.1", "localhost");
    let (status, _, _) = post_via(&client, &by_name, &body_for("n.txt", b"by name"))
        .await
        .unwrap();
    assert_eq!(status, 201);

    // A client without the CA refuses the certificate; no request arrives.
    let before = chief.stats(Target::Api);
    let err = post_via(&client_without_ca(), &chief.api_url(), &body_for("x", b"x"))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
    chief.wait_for(Duration::from_secs(10), |f| {
        f.stats(Target::Api).tls_failures == before.tls_failures + 1
    });
    let after = chief.stats(Target::Api);
    assert_eq!(after.requests, before.requests);
    assert_eq!(after.tls_failures, before.tls_failures + 1);
}

fn client_without_ca() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn bad_certificates_fail_the_handshake_even_with_the_ca_trusted() {
    for (cert, cause) in [
        (Cert::Untrusted, "UnknownIssuer"),
        (Cert::Expired, "Expired"),
        (Cert::WrongName, "NotValidForName"),
    ] {
        let chief = FakeChief::builder().tls(cert).start().unwrap();
        let err = post_via(&tls_client(&chief), &chief.api_url(), &body_for("x", b"x"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{cert:?}: {err}");
        assert!(chain(&err).contains(cause), "{cert:?}: {}", chain(&err));
        chief.wait_for(Duration::from_secs(10), |f| {
            f.stats(Target::Api).tls_failures == 1
        });
        let stats = chief.stats(Target::Api);
        assert_eq!(
            (stats.requests, stats.tls_handshakes, stats.tls_failures),
            (0, 0, 1),
            "{cert:?}"
        );
    }
}

#[tokio::test]
async fn tls_can_be_on_one_origin_only() {
    let chief = FakeChief::builder()
        .storage_tls(Some(Cert::Trusted))
        .start()
        .unwrap();
    assert!(chief.api_url().starts_with("http://"));
    assert!(chief.storage_url().starts_with("https://"));
    upload_via(&tls_client(&chief), &chief, "mixed.txt", b"mixed").await;
    assert_eq!(chief.stats(Target::Api).tls_handshakes, 0);
    assert_eq!(chief.stats(Target::Storage).tls_handshakes, 1);
}

#[tokio::test]
async fn connect_proxy_tunnels_both_origins_and_demands_credentials() {
    let chief = FakeChief::builder()
        .tls(Cert::Trusted)
        .proxy_auth("alice", "s3cret")
        .start()
        .unwrap();
    let url = chief.proxy_url().unwrap();
    let addr = chief.proxy_addr().unwrap();
    assert_eq!(url, format!("http://alice:s3cret@{addr}"));
    let client = proxied_client(&chief, &url);
    for i in 0..3 {
        upload_via(
            &client,
            &chief,
            "p.txt",
            format!("tunnelled {i}").as_bytes(),
        )
        .await;
    }
    let tunnels = chief.proxy_tunnels();
    assert_eq!(tunnels.len(), 2, "{tunnels:?}");
    for target in [Target::Api, Target::Storage] {
        // Every connection to the origin came through a tunnel.
        let stats = chief.stats(target);
        assert_eq!(tunnels[&chief.authority(target)] as u64, stats.connections);
        assert_eq!(stats.tls_handshakes, stats.connections);
    }
    assert!(chief.proxy_forwards().is_empty());
    assert!(chief
        .requests()
        .iter()
        .all(|r| !r.has_header("proxy-authorization")));

    // A wrong password or none: 407, and nothing reaches the origins.
    let requests = chief.requests().len();
    for bad in [
        chief.proxy_url_with("alice", "wrong").unwrap(),
        format!("http://{addr}"),
    ] {
        let err = post_via(
            &proxied_client(&chief, &bad),
            &chief.api_url(),
            &body_for("x", b"x"),
        )
        .await
        .unwrap_err();
        assert!(!err.is_status(), "{err}");
        let last = chief.proxy_events().pop().unwrap();
        assert_eq!(
            (last.method.as_str(), last.status, last.authority),
            ("CONNECT", 407, chief.authority(Target::Api))
        );
    }
    assert_eq!(chief.requests().len(), requests);
}

#[tokio::test]
async fn proxy_forwards_plain_http_in_absolute_form() {
    let chief = FakeChief::builder()
        .proxy_auth("bob", "pw")
        .start()
        .unwrap();
    let client = proxied_client(&chief, &chief.proxy_url().unwrap());
    for i in 0..2 {
        upload_via(
            &client,
            &chief,
            "f.txt",
            format!("forwarded {i}").as_bytes(),
        )
        .await;
    }
    let forwards = chief.proxy_forwards();
    assert_eq!(forwards[&chief.authority(Target::Api)], 2, "{forwards:?}");
    assert_eq!(
        forwards[&chief.authority(Target::Storage)],
        2,
        "{forwards:?}"
    );
    assert!(chief.proxy_tunnels().is_empty());
    // The proxy's credentials stop at the proxy (the storage would refuse them).
    assert_eq!(chief.requests().len(), 4);
    assert!(chief
        .requests()
        .iter()
        .all(|r| !r.has_header("proxy-authorization")));

    let bad = proxied_client(&chief, &chief.proxy_url_with("bob", "nope").unwrap());
    let (status, _, headers) = post_via(&bad, &chief.api_url(), &body_for("x", b"x"))
        .await
        .unwrap();
    assert_eq!(status, 407);
    assert!(headers["proxy-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(chief.requests().len(), 4);
}

#[test]
fn outage_window_phases() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let outage = Outage::unavailable(Origins::Api, 2, Some(s(10)));
    let mut w = OutageWindow::default();
    let phases: Vec<Phase> = [0, 1, 2, 5, 11, 12, 13]
        .into_iter()
        .map(|t| w.on_request(&outage, t0 + s(t)))
        .collect();
    use Phase::*;
    // Starts with the third request (at 2 s), so ends at 12 s.
    assert_eq!(phases, [Before, Before, Begins, During, During, Over, Over]);

    let endless = Outage::unavailable(Origins::Both, 0, None);
    let mut w = OutageWindow::default();
    assert_eq!(w.on_request(&endless, t0), Begins);
    assert_eq!(w.on_request(&endless, t0 + s(1_000_000)), During);
    assert!(w.is_active());
    w.end();
    assert_eq!(w.on_request(&endless, t0 + s(1_000_001)), Over);
    assert!(Origins::Both.covers(Target::Storage) && !Origins::Api.covers(Target::Storage));
}

#[tokio::test]
async fn outage_answers_503_after_n_requests_until_it_ends() {
    let chief = FakeChief::builder()
        .with_knobs(|k| {
            k.outage = Some(Outage {
                origins: Origins::Api,
                after: 2,
                duration: None,
                mode: OutageMode::Status {
                    status: 503,
                    retry_after: Some("2".into()),
                },
            })
        })
        .start()
        .unwrap();
    let client = client();
    let mut statuses = Vec::new();
    let mut first = None;
    for i in 0..6 {
        let (status, json, headers) = post_via(
            &client,
            &chief.api_url(),
            &body_for(&format!("o{i}"), format!("{i}").as_bytes()),
        )
        .await
        .unwrap();
        if status == 503 {
            assert_eq!(headers["retry-after"], "2");
            assert_eq!(json["code"], "publicapi.unavailable");
        } else if first.is_none() {
            first = Some(json);
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [201, 201, 503, 503, 503, 503]);
    assert!(chief.outage_active());
    assert_eq!(chief.stats(Target::Api).outage_requests, 4);
    // The storage is another origin: up.
    assert_eq!(put_via(&client, &first.unwrap(), b"0").await.unwrap(), 200);
    assert_eq!(chief.stats(Target::Storage).outage_requests, 0);

    chief.end_outage();
    assert!(!chief.outage_active());
    let (status, _, _) = post_via(&client, &chief.api_url(), &body_for("after", b"after"))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let stats = chief.stats(Target::Api);
    assert_eq!((stats.outage_requests, stats.status(503)), (4, 4));
}

/// A window with a duration ends by itself: requests sent back to back see 503s, then
/// success, and never a 503 again.
#[tokio::test]
async fn outage_window_ends_by_itself() {
    let chief = FakeChief::builder()
        .with_knobs(|k| {
            k.outage = Some(Outage::unavailable(
                Origins::Both,
                0,
                Some(Duration::from_millis(200)),
            ))
        })
        .start()
        .unwrap();
    let client = client();
    let body = body_for("w.txt", b"window");
    let mut unavailable = 0u64;
    loop {
        let (status, _, _) = post_via(&client, &chief.api_url(), &body).await.unwrap();
        match status {
            503 => unavailable += 1,
            201 => break,
            other => panic!("unexpected {other}"),
        }
        assert!(unavailable < 1_000_000, "the outage never ended");
    }
    assert!(unavailable >= 1);
    assert!(!chief.outage_active());
    for _ in 0..3 {
        assert_eq!(
            post_via(&client, &chief.api_url(), &body).await.unwrap().0,
            201
        );
    }
    assert_eq!(chief.stats(Target::Api).outage_requests, unavailable);
}

#[tokio::test]
async fn outage_can_reset_or_refuse_connections() {
    // Reset: the head is read, the connection dropped without an answer.
    let chief = FakeChief::builder()
        .with_knobs(|k| {
            k.outage =
                Some(Outage::unavailable(Origins::Storage, 0, None).with_mode(OutageMode::Reset))
        })
        .start()
        .unwrap();
    let client = client();
    let answer = create(&chief, "r.txt", b"reset").await;
    let err = put_via(&client, &answer, b"reset").await.unwrap_err();
    assert!(!err.is_status() && !err.is_connect(), "{err}");
    assert_eq!(chief.stats(Target::Storage).outage_requests, 1);
    chief.end_outage();
    assert_eq!(put_via(&client, &answer, b"reset").await.unwrap(), 200);

    // Refuse: after one request, both origins stop listening until the end.
    let chief = FakeChief::builder()
        .with_knobs(|k| {
            k.outage =
                Some(Outage::unavailable(Origins::Both, 1, None).with_mode(OutageMode::Refuse))
        })
        .start()
        .unwrap();
    let answer = create(&chief, "f.txt", b"refuse").await;
    let err = post_via(&client, &chief.api_url(), &body_for("g.txt", b"g"))
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    for _ in 0..3 {
        let err = post_via(&client, &chief.api_url(), &body_for("g.txt", b"g"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{}", chain(&err));
        let err = put_via(&client, &answer, b"refuse").await.unwrap_err();
        assert!(err.is_connect(), "{}", chain(&err));
    }
    let (api, storage) = (chief.stats(Target::Api), chief.stats(Target::Storage));
    assert_eq!((api.requests, api.outage_requests), (2, 1));
    assert_eq!((storage.requests, storage.connections), (0, 0));
    chief.end_outage();
    assert_eq!(put_via(&client, &answer, b"refuse").await.unwrap(), 200);
    let (status, _, _) = post_via(&client, &chief.api_url(), &body_for("g.txt", b"g"))
        .await
        .unwrap();
    assert_eq!(status, 201);
}

/// Latency is per origin and comes before the answer: a client that waits less than it
/// gets no answer, the other origin answers at once.
#[tokio::test]
async fn latency_delays_each_origin_separately() {
    let long = Duration::from_secs(60);
    let chief = FakeChief::builder()
        .with_knobs(|k| k.storage.latency = long)
        .start()
        .unwrap();
    let patient = client();
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let (status, answer, _) = post_via(&patient, &chief.api_url(), &body_for("l.txt", b"late"))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let err = put_via(&impatient, &answer, b"late").await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // It arrived, and is still waiting for its answer.
    chief.wait_for(Duration::from_secs(10), |f| {
        f.stats(Target::Storage).requests == 1
    });
    assert_eq!(chief.stats(Target::Storage).in_flight, 1);
    assert!(chief.stats(Target::Storage).statuses.is_empty());

    chief.update_knobs(|k| {
        k.storage.latency = Duration::ZERO;
        k.api.latency = long;
    });
    assert_eq!(put_via(&patient, &answer, b"late").await.unwrap(), 200);
    let err = post_via(&impatient, &chief.api_url(), &body_for("m.txt", b"m"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn api_in_flight_limit_answers_429_with_retry_after() {
    let chief = FakeChief::builder()
        .with_knobs(|k| k.api.max_in_flight = Some(InFlightLimit::new(2, Some(1))))
        .start()
        .unwrap();
    let gate = Gate::new();
    chief.inject(Rule::api(2, Action::Gate(gate.clone())));
    let api = chief.api_url();
    let held: Vec<_> = (0..2)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                post_via(
                    &client(),
                    &api,
                    &body_for(&format!("h{i}"), format!("h{i}").as_bytes()),
                )
                .await
                .unwrap()
                .0
            })
        })
        .collect();
    let waiter = gate.clone();
    tokio::task::spawn_blocking(move || waiter.wait_arrived(2, REACH))
        .await
        .unwrap();

    let (status, json, headers) = post_via(&client(), &api, &body_for("third", b"third"))
        .await
        .unwrap();
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("publicapi.rate_limited"))
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(chief.stats(Target::Api).throttled, 1);

    gate.release();
    for h in held {
        assert_eq!(h.await.unwrap(), 201);
    }
    let (status, _, _) = post_via(&client(), &api, &body_for("third", b"third"))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let stats = chief.stats(Target::Api);
    assert_eq!(stats.throttled, 1);
    assert_eq!((stats.status(201), stats.status(429)), (3, 1));
    assert_eq!(stats.peak_in_flight, 3, "the refused one was in flight too");
}

#[tokio::test]
async fn peak_in_flight_is_counted_per_listener() {
    let chief = FakeChief::start();
    let gate = Gate::new();
    chief.inject(Rule::api(5, Action::Gate(gate.clone())));
    let api = chief.api_url();
    let held: Vec<_> = (0..5)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                post_via(
                    &client(),
                    &api,
                    &body_for(&format!("p{i}"), format!("p{i}").as_bytes()),
                )
                .await
                .unwrap()
                .0
            })
        })
        .collect();
    let waiter = gate.clone();
    tokio::task::spawn_blocking(move || waiter.wait_arrived(5, REACH))
        .await
        .unwrap();
    let stats = chief.stats(Target::Api);
    assert_eq!((stats.in_flight, stats.peak_in_flight), (5, 5));
    assert_eq!(chief.stats(Target::Storage).peak_in_flight, 0);
    gate.release();
    for h in held {
        assert_eq!(h.await.unwrap(), 201);
    }
    let stats = chief.stats(Target::Api);
    assert_eq!((stats.in_flight, stats.peak_in_flight), (0, 5));
    let series = chief.series(Target::Api);
    assert_eq!(series.iter().map(|s| s.requests).sum::<u64>(), 5);
    assert_eq!(series.iter().map(|s| s.peak_in_flight).max(), Some(5));
    chief.reset_peak_in_flight(Target::Api);
    assert_eq!(chief.stats(Target::Api).peak_in_flight, 0);
}

/// Four uploads at once through one shared link: together they never get more than the
/// rate in any second (plus one chunk), where per-body pacing would give each the rate.
#[tokio::test]
async fn shared_link_caps_all_uploads_together() {
    if let Some(why) = crate::common::slow_under_wine() {
        return crate::common::skip(why);
    }
    const RATE: u64 = 2_000_000;
    const SIZE: usize = 1 << 20;
    let chief = FakeChief::builder()
        .with_knobs(|k| k.shared_link = Some(RATE))
        .start()
        .unwrap();
    let mut uploads = Vec::new();
    for i in 0..4u8 {
        let content = vec![i; SIZE];
        let answer = create(&chief, &format!("s{i}.bin"), &content).await;
        uploads.push(tokio::spawn(async move {
            put_via(&client(), &answer, &content).await.unwrap()
        }));
    }
    for u in uploads {
        assert_eq!(u.await.unwrap(), 200);
    }
    let stats = chief.stats(Target::Storage);
    assert_eq!(stats.peak_in_flight, 4, "the uploads overlapped");
    assert_eq!(stats.body_bytes, 4 * SIZE as u64);
    let series = chief.series(Target::Storage);
    assert_eq!(series.iter().map(|s| s.bytes).sum::<u64>(), 4 * SIZE as u64);
    // hyper hands the body over in chunks of at most about 400 KiB.
    let most = series.iter().map(|s| s.bytes).max().unwrap();
    assert!(
        most <= RATE + (512 << 10),
        "{most} bytes in one second: {series:?}"
    );
}

#[tokio::test]
async fn chaos_fails_a_fraction_of_requests() {
    let chief = FakeChief::builder()
        .with_knobs(|k| k.api.chaos = Some(Chaos::new(0.15)))
        .start()
        .unwrap();
    let client = client();
    let (mut ok, mut errors, mut resets) = (0u64, 0u64, 0u64);
    for i in 0..200 {
        let body = body_for(&format!("c{i}"), format!("chaos {i}").as_bytes());
        match post_via(&client, &chief.api_url(), &body).await {
            Ok((201, _, _)) => ok += 1,
            Ok((status, _, headers)) => {
                assert!([500, 502, 503, 504].contains(&status), "{status}");
                assert!(!headers.contains_key("retry-after"));
                errors += 1;
            }
            Err(e) => {
                assert!(!e.is_connect(), "{e}");
                resets += 1;
            }
        }
    }
    let stats = chief.stats(Target::Api);
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.chaos, errors + resets);
    assert_eq!(ok, 200 - stats.chaos);
    assert!((10..=50).contains(&stats.chaos), "{stats:?}");
    assert!(errors > 0 && resets > 0, "{errors} 5xx, {resets} resets");
    assert_eq!(chief.stats(Target::Storage).chaos, 0);
}
