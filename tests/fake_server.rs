//! Tests of the fake Chief server itself: it refuses what the real service refuses and
//! accepts a correct flow.

mod fake;

use std::time::{Duration, Instant};

use fake::{
    md5_hex, Action, FakeChief, Rule, Target, OTHER_PROJECT, PROJECT, TOKEN, UNKNOWN_TOKEN,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    assert_eq!(fake::util::base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(fake::util::base64(b"fooba"), "Zm9vYmE=");
    assert_eq!(fake::util::base64(b"foob"), "Zm9vYg==");
    assert_eq!(fake::util::rfc3339(1_795_774_500), "2026-11-27T10:15:00Z");
    assert_eq!(fake::util::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
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
        Some(fake::util::base64(&fake::util::unhex(&md5).unwrap()).as_str())
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
    chief.set_storage_link(Some(fake::Link {
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
    assert_eq!(chief.assets(fake::PROJECT)[0].md5, md5_hex(&content));
}
