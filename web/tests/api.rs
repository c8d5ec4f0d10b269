//! The HTTP API over a real library (colour model, ONNX Runtime, catalog on disk): every route of
//! `web/openapi.json`, its bad requests, the token, and the security headers.

mod common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::web;
use magpie_web::{app, AppState, ServerConfig};
use serde_json::Value;

use common::{fixture, index_photos, new_fixture, solid_png, HOSTILE_NAME};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: web::Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// An error in the contract's shape, with this status and code.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self
            .header(header::CONTENT_TYPE)
            .starts_with("application/json"));
        let json = self.json();
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

async fn send<S, B>(app: &S, request: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = test::read_body(response).await;
    Reply {
        status,
        headers,
        body,
    }
}

fn state(config: ServerConfig) -> web::Data<AppState> {
    web::Data::new(AppState::shared(fixture().library.clone(), config))
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "magpie-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload(uri: &str, parts: &[(&str, Option<&str>, &[u8])]) -> TestRequest {
    let (content_type, body) = multipart(parts);
    TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, content_type))
        .set_payload(body)
}

fn png_bytes(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.png");
    solid_png(&path, width, height, rgb);
    std::fs::read(path).unwrap()
}

fn folders(page: &Value) -> Vec<String> {
    page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["folder"].as_str().unwrap().to_string())
        .collect()
}

const HIT_FIELDS: [&str; 12] = [
    "camera",
    "folder",
    "height",
    "id",
    "matched",
    "name",
    "path",
    "preview_url",
    "score",
    "taken_at",
    "thumbnail_url",
    "width",
];

#[actix_web::test]
async fn red_finds_the_red_images() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let reply = send(&app, get("/api/search?q=red&mode=vector")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(reply
        .header(header::CONTENT_TYPE)
        .starts_with("application/json"));
    let page = reply.json();
    let found = folders(&page);
    assert!(!found.is_empty(), "{page}");
    assert!(
        found.iter().all(|f| f == "red"),
        "vector search for red: {found:?}"
    );
    // Every red photo (6 + the hostile name) and nothing else.
    assert_eq!(page["total"], 7, "{page}");
    let hit = &page["hits"][0];
    let mut keys: Vec<&str> = hit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, HIT_FIELDS);
    assert_eq!(hit["matched"], serde_json::json!(["meaning"]), "{hit}");
    assert_eq!(
        hit["thumbnail_url"],
        format!("/api/images/{}/thumbnail", hit["id"])
    );
    assert!(page["cutoff_score"].is_number());
    assert_eq!(
        (page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(50), Some(0))
    );

    // Hybrid (the default) ranks the red ones first too, and pages are stable.
    let hybrid = send(&app, get("/api/search?q=red&limit=3")).await.json();
    assert!(folders(&hybrid).iter().all(|f| f == "red"), "{hybrid}");
    let next = send(&app, get("/api/search?q=red&limit=3&offset=3"))
        .await
        .json();
    let first_ids: Vec<&Value> = hybrid["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["id"])
        .collect();
    assert!(next["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| !first_ids.contains(&&h["id"])));

    // Weighted terms: "blue" pushed away from a "red" query keeps red on top.
    let weighted = send(&app, get("/api/search?q=red+-blue&mode=vector&limit=3"))
        .await
        .json();
    assert!(folders(&weighted).iter().all(|f| f == "red"), "{weighted}");
    let blue = send(&app, get("/api/search?q=blue&mode=vector"))
        .await
        .json();
    assert!(folders(&blue).iter().all(|f| f == "blue"), "{blue}");

    // raw: no cutoff, everything ranked, cutoff_score null.
    let raw = send(
        &app,
        get("/api/search?q=red&mode=vector&raw=true&limit=100"),
    )
    .await
    .json();
    assert_eq!(raw["total"], 17, "{raw}");
    assert!(raw["cutoff_score"].is_null());
}

#[actix_web::test]
async fn hostile_names_come_back_as_json_text() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let page = send(&app, get("/api/search?q=red&mode=vector&limit=50"))
        .await
        .json();
    let hostile = page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == HOSTILE_NAME)
        .expect("the hostile file is found");
    let info = send(&app, get(&format!("/api/images/{}", hostile["id"]))).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["name"], HOSTILE_NAME);
    assert!(info
        .header(header::CONTENT_TYPE)
        .starts_with("application/json"));
}

#[actix_web::test]
async fn post_search_and_its_bad_bodies() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let json = |body: &str| {
        TestRequest::post()
            .uri("/api/search")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body.to_string())
    };
    let reply = send(
        &app,
        json(r#"{"query":"green","mode":"vector","limit":3,"filters":{"tags":[],"extensions":["png"],"orientation":"landscape"}}"#),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let page = reply.json();
    assert!(!folders(&page).is_empty());
    assert!(folders(&page).iter().all(|f| f == "green"));
    for hit in page["hits"].as_array().unwrap() {
        assert!(
            hit["width"].as_u64() > hit["height"].as_u64(),
            "landscape only: {hit}"
        );
    }

    send(&app, json(r#"{"query":"red""#))
        .await
        .assert_error(400, "bad_request");
    send(&app, json(r#"{"qeury":"red"}"#))
        .await
        .assert_error(400, "bad_request");
    send(&app, json(r#"{"query":"red","filters":{"colour":"red"}}"#))
        .await
        .assert_error(400, "bad_request");
    send(&app, json(r#"{"query":"red","limit":0}"#))
        .await
        .assert_error(400, "bad_request");
    send(&app, json(r#"{"query":"red","limit":-5}"#))
        .await
        .assert_error(400, "bad_request");
    send(
        &app,
        json(r#"{"query":"red","filters":{"taken_after":"yesterday"}}"#),
    )
    .await
    .assert_error(400, "invalid_filter");
    send(&app, json(r#"{"like":[123456789]}"#))
        .await
        .assert_error(404, "not_found");
    send(&app, json(r#"[1,2,3]"#))
        .await
        .assert_error(400, "bad_request");
    let long = format!(r#"{{"query":"{}"}}"#, "a".repeat(100_000));
    send(&app, json(&long))
        .await
        .assert_error(400, "query_too_long");
    let huge = format!(r#"{{"query":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    send(&app, json(&huge))
        .await
        .assert_error(413, "payload_too_large");
    let plain = TestRequest::post()
        .uri("/api/search")
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .set_payload("query=red");
    send(&app, plain)
        .await
        .assert_error(415, "unsupported_media_type");
}

#[actix_web::test]
async fn bad_query_strings_are_400s() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    // 60 kB: close to the longest URI the HTTP layer represents (64 kB; longer request lines
    // are refused by actix-http itself with a bare 400 before any route runs).
    let long = format!("/api/search?q={}", "a".repeat(60_000));
    send(&app, get(&long))
        .await
        .assert_error(400, "query_too_long");
    send(&app, get(&format!("/api/search?q={}", "a".repeat(2001))))
        .await
        .assert_error(400, "query_too_long");
    for uri in [
        "/api/search?q=x&limit=0",
        "/api/search?q=x&limit=501",
        "/api/search?q=x&limit=abc",
        "/api/search?q=x&offset=-1",
        "/api/search?q=x&mode=psychic",
        "/api/search?q=x&sort=size",
        "/api/search?q=x&min_score=7",
        "/api/search?q=%ff%fe",
        "/api/search?q=a&q=b",
        "/api/search?q=x&colour=red",
        "/api/search?like=abc",
        "/api/search?q=%22unterminated",
        "/api/search?q=-red",
        "/api/search?like=1&mode=keyword",
        "/api/duplicates?threshold=0",
        "/api/duplicates?threshold=abc",
        "/api/images/1/similar?q=red",
    ] {
        let reply = send(&app, get(uri)).await;
        assert_eq!(
            reply.status,
            400,
            "{uri}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.json()["error"]["code"].is_string(), "{uri}");
    }
    for uri in [
        "/api/search?q=x&after=2023-13-45",
        "/api/search?q=x&after=1700000000",
        "/api/search?q=x&orientation=diagonal",
    ] {
        send(&app, get(uri))
            .await
            .assert_error(400, "invalid_filter");
    }
}

#[actix_web::test]
async fn browsing_with_filters_lists_matching_images() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let page = send(&app, get("/api/search?folder=blue")).await.json();
    assert_eq!(page["total"], 4, "{page}");
    assert!(folders(&page).iter().all(|f| f == "blue"));
    assert!(page["cutoff_score"].is_null());
    assert!(page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["score"] == 0.0));
    // An absolute folder works too, and folders are compared on whole components.
    let fixture = fixture();
    let absolute = fixture.photos.join("yellow");
    let uri = format!("/api/search?folder={}", absolute.display());
    assert_eq!(send(&app, get(&uri)).await.json()["total"], 2);
    assert_eq!(
        send(&app, get("/api/search?folder=blu")).await.json()["total"],
        0
    );
    assert_eq!(
        send(&app, get("/api/search?ext=jpg")).await.json()["total"],
        0
    );
    let everything = send(&app, get("/api/search?ext=png&limit=500"))
        .await
        .json();
    assert_eq!(everything["total"], 17);
}

#[actix_web::test]
async fn search_by_uploaded_image() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let red = png_bytes(64, 64, [215, 38, 61]);
    let reply = send(
        &app,
        upload(
            "/api/search/image?mode=vector&limit=5",
            &[("image", Some("x.png"), &red)],
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let page = reply.json();
    assert!(!folders(&page).is_empty());
    assert!(folders(&page).iter().all(|f| f == "red"), "{page}");

    // Mixed with text: a blue image plus the word "blue" finds blue.
    let blue = png_bytes(40, 40, [30, 60, 220]);
    let mixed = send(
        &app,
        upload(
            "/api/search/image?mode=vector&limit=3",
            &[
                ("image", Some("b.png"), &blue),
                ("q", None, b"blue"),
                ("weight", None, b"0.3"),
            ],
        ),
    )
    .await;
    assert_eq!(
        mixed.status,
        200,
        "{}",
        String::from_utf8_lossy(&mixed.body)
    );
    assert!(folders(&mixed.json()).iter().all(|f| f == "blue"));

    send(
        &app,
        upload(
            "/api/search/image",
            &[("image", Some("notes.txt"), b"just some text, not an image")],
        ),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    let mut truncated = red.clone();
    truncated.truncate(30);
    send(
        &app,
        upload(
            "/api/search/image",
            &[("image", Some("broken.png"), &truncated)],
        ),
    )
    .await
    .assert_error(422, "invalid_image");
    send(&app, upload("/api/search/image", &[("q", None, b"red")]))
        .await
        .assert_error(400, "bad_request");
    send(
        &app,
        upload(
            "/api/search/image",
            &[("image", Some("x.png"), &red), ("weight", None, b"2")],
        ),
    )
    .await
    .assert_error(400, "bad_request");
    send(
        &app,
        upload(
            "/api/search/image",
            &[
                ("image", Some("x.png"), &red),
                ("path", None, b"/etc/passwd"),
            ],
        ),
    )
    .await
    .assert_error(400, "bad_request");
    send(
        &app,
        upload(
            "/api/search/image?like=1",
            &[("image", Some("x.png"), &red)],
        ),
    )
    .await
    .assert_error(400, "bad_request");
    let long_q = "a".repeat(3000);
    send(
        &app,
        upload(
            "/api/search/image",
            &[
                ("image", Some("x.png"), &red),
                ("q", None, long_q.as_bytes()),
            ],
        ),
    )
    .await
    .assert_error(400, "query_too_long");
    let not_multipart = TestRequest::post()
        .uri("/api/search/image")
        .insert_header((header::CONTENT_TYPE, "image/png"))
        .set_payload(red.clone());
    send(&app, not_multipart)
        .await
        .assert_error(415, "unsupported_media_type");
    let garbled = TestRequest::post()
        .uri("/api/search/image")
        .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=xyz"))
        .set_payload("this is not a multipart body");
    assert_eq!(send(&app, garbled).await.status, 400);
}

#[actix_web::test]
async fn upload_limits() {
    let small = ServerConfig {
        max_upload_bytes: 4096,
        max_upload_pixels: 1000,
        ..ServerConfig::default()
    };
    let state = state(small);
    let app = test::init_service(app(state)).await;
    // Over the pixel limit (header says 40 × 40 = 1600 > 1000), though small in bytes.
    let big_pixels = png_bytes(40, 40, [200, 0, 0]);
    assert!(big_pixels.len() < 4096);
    send(
        &app,
        upload(
            "/api/search/image",
            &[("image", Some("x.png"), &big_pixels)],
        ),
    )
    .await
    .assert_error(422, "image_too_large");
    // Over the byte limit: noise does not compress.
    let noisy: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    send(
        &app,
        upload("/api/search/image", &[("image", Some("x.png"), &noisy)]),
    )
    .await
    .assert_error(413, "payload_too_large");
    // A declared Content-Length far over the limit is refused before reading.
    let (content_type, body) = multipart(&[("image", Some("x.png"), &noisy)]);
    let declared = TestRequest::post()
        .uri("/api/search/image")
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_LENGTH, "999999999"))
        .set_payload(body);
    send(&app, declared)
        .await
        .assert_error(413, "payload_too_large");
}

#[actix_web::test]
async fn image_routes_and_traversal_attempts() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let page = send(&app, get("/api/search?folder=green&limit=1"))
        .await
        .json();
    let id = page["hits"][0]["id"].as_u64().unwrap();

    let info = send(&app, get(&format!("/api/images/{id}"))).await;
    assert_eq!(info.status, 200);
    let info = info.json();
    for key in [
        "size",
        "format",
        "mtime",
        "camera_make",
        "gps",
        "orientation",
        "tags",
        "original_url",
    ] {
        assert!(info.get(key).is_some(), "{key} in {info}");
    }
    assert_eq!(info["format"], "png");
    assert_eq!(info["folder"], "green");

    let thumb = send(&app, get(&format!("/api/images/{id}/thumbnail"))).await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header(header::CONTENT_TYPE), "image/jpeg");
    assert_eq!(thumb.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(thumb.body.starts_with(&[0xff, 0xd8]), "JPEG bytes");
    let etag = thumb.header(header::ETAG).to_string();
    assert!(!etag.is_empty());
    let again =
        get(&format!("/api/images/{id}/thumbnail")).insert_header((header::IF_NONE_MATCH, etag));
    assert_eq!(send(&app, again).await.status, 304);
    let preview = send(&app, get(&format!("/api/images/{id}/preview"))).await;
    assert_eq!(
        (
            preview.status.as_u16(),
            preview.header(header::CONTENT_TYPE)
        ),
        (200, "image/jpeg")
    );

    let original = send(&app, get(&format!("/api/images/{id}/original"))).await;
    assert_eq!(original.status, 200);
    assert_eq!(original.header(header::CONTENT_TYPE), "image/png");
    assert!(original
        .header(header::CONTENT_DISPOSITION)
        .starts_with("inline; filename*=UTF-8''"));
    let on_disk = std::fs::read(info["path"].as_str().unwrap()).unwrap();
    assert_eq!(original.body.as_ref(), on_disk.as_slice());
    let ranged =
        get(&format!("/api/images/{id}/original")).insert_header((header::RANGE, "bytes=1-3"));
    let part = send(&app, ranged).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body.as_ref(), &on_disk[1..4]);
    assert_eq!(
        part.header(header::CONTENT_RANGE),
        format!("bytes 1-3/{}", on_disk.len())
    );
    let beyond =
        get(&format!("/api/images/{id}/original")).insert_header((header::RANGE, "bytes=999999-"));
    send(&app, beyond)
        .await
        .assert_error(416, "range_not_satisfiable");

    let similar = send(&app, get(&format!("/api/images/{id}/similar?limit=4"))).await;
    assert_eq!(similar.status, 200);
    let similar = similar.json();
    assert!(!similar["hits"].as_array().unwrap().is_empty());
    assert!(
        similar["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["id"] != id),
        "not similar to itself"
    );
    assert_eq!(similar["hits"][0]["folder"], "green", "{similar}");

    for uri in [
        "/api/images/999999999",
        "/api/images/999999999/thumbnail",
        "/api/images/999999999/original",
        "/api/images/999999999/similar",
    ] {
        send(&app, get(uri)).await.assert_error(404, "not_found");
    }
    // Ids are integers; anything path-like is refused or unrouted, never opened.
    for uri in [
        "/api/images/..%2F..%2F..%2Fetc%2Fpasswd/original",
        "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/images/%2Fetc%2Fpasswd/original",
        "/api/images/-1",
        "/api/images/1e3/thumbnail",
        "/api/images/../../etc/passwd",
        "/api/images/1/original/../../../../etc/passwd",
        "/api/images//etc/passwd",
        "/api/images/1/original%00.png",
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let reply = send(&app, get(uri)).await;
        assert!(reply.status.is_client_error(), "{uri}: {}", reply.status);
        assert!(
            reply
                .header(header::CONTENT_TYPE)
                .starts_with("application/json"),
            "{uri}"
        );
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("root:"),
            "{uri}"
        );
    }
}

/// After a commit, requests are not held up by the pass over every record that the facets need:
/// counts come from the new generation at once, the facets follow from a background pass.
#[actix_web::test]
async fn facets_follow_commits_in_the_background() {
    // A library of its own: this test writes to it.
    let f = new_fixture("magpie-web-facets");
    let app = test::init_service(app(web::Data::new(AppState::shared(
        f.library.clone(),
        ServerConfig::default(),
    ))))
    .await;
    let folders = |facets: &Value| -> Vec<String> {
        facets["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = send(&app, get("/api/facets")).await.json();
    assert_eq!(folders(&before), ["blue", "green", "red", "yellow"]);

    solid_png(&f.photos.join("purple/p.png"), 32, 32, [120, 20, 160]);
    index_photos(&f.library_dir, &f.photos, &f.spec);
    let status = send(&app, get("/api/status")).await.json();
    assert_eq!(status["images"], 18, "{status}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let facets = send(&app, get("/api/facets")).await.json();
        if folders(&facets).contains(&"purple".to_owned()) {
            assert_eq!(folders(&facets).len(), 5, "{facets}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the facets never caught up: {facets}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The new folder is searchable by its relative name.
    let page = send(&app, get("/api/search?folder=purple")).await.json();
    assert_eq!(page["hits"].as_array().map(Vec::len), Some(1), "{page}");
    let _ = std::fs::remove_dir_all(&f.root);
}

#[actix_web::test]
async fn library_routes() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let facets = send(&app, get("/api/facets")).await.json();
    let paths: Vec<&str> = facets["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["blue", "green", "red", "yellow"]);
    assert_eq!(facets["folders"][2]["count"], 7);
    assert!(facets["cameras"].as_array().unwrap().is_empty());
    assert!(facets["date_range"]["first"].is_null());

    let status = send(&app, get("/api/status")).await.json();
    assert_eq!(status["images"], 17);
    assert_eq!(status["failures"], 0);
    assert_eq!(status["model"]["name"], "colour");
    assert_eq!(status["model"]["dim"], 16);
    assert!(status["generation"].as_u64().is_some());
    assert_eq!(status["indexing"]["active"], false);

    // Solid colours are near-duplicates of each other in a colour model.
    let dupes = send(&app, get("/api/duplicates?threshold=0.99")).await;
    assert_eq!(dupes.status, 200);
    let groups = dupes.json()["groups"].as_array().unwrap().clone();
    assert!(!groups.is_empty());
    for group in &groups {
        assert_eq!(
            group["size"].as_u64().unwrap() as usize,
            group["ids"].as_array().unwrap().len()
        );
    }

    let health = send(&app, get("/healthz")).await;
    assert_eq!(
        (health.status.as_u16(), health.body.as_ref()),
        (200, &b"ok"[..])
    );
    let doc = send(&app, get("/api/openapi.json")).await;
    assert_eq!(doc.json()["openapi"], "3.1.0");

    send(&app, get("/api/search?q=red")).await;
    let metrics = send(&app, get("/metrics")).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header(header::CONTENT_TYPE)
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("magpie_library_images 17"), "{text}");
    assert!(
        text.contains(
            r#"magpie_http_requests_total{route="/api/search",method="GET",status="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains(
        "magpie_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"+Inf\"}"
    ));
}

#[actix_web::test]
async fn ui_files_unknown_routes_and_methods() {
    let state = state(ServerConfig::default());
    let app = test::init_service(app(state)).await;
    let index = send(&app, get("/")).await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header(header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(
        index.header(header::CONTENT_SECURITY_POLICY),
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'"
    );
    assert!(String::from_utf8_lossy(&index.body).contains("<script src=\"/app.js\""));
    for (uri, content_type) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let reply = send(&app, get(uri)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.header(header::CONTENT_TYPE)),
            (200, content_type),
            "{uri}"
        );
    }
    send(&app, get("/nope"))
        .await
        .assert_error(404, "not_found");
    send(&app, get("/api/nope"))
        .await
        .assert_error(404, "not_found");
    send(&app, TestRequest::delete().uri("/api/search"))
        .await
        .assert_error(405, "method_not_allowed");
    send(&app, TestRequest::post().uri("/api/status"))
        .await
        .assert_error(405, "method_not_allowed");
    send(
        &app,
        TestRequest::default()
            .method(Method::PUT)
            .uri("/api/images/1"),
    )
    .await
    .assert_error(405, "method_not_allowed");
}

#[actix_web::test]
async fn token_is_required_everywhere_but_public_files() {
    let token = "s3cret-token_1.~";
    let config = ServerConfig {
        token: Some(token.into()),
        ..ServerConfig::default()
    };
    let state = state(config);
    let app = test::init_service(app(state)).await;
    for uri in [
        "/api/search?q=red",
        "/api/status",
        "/api/facets",
        "/api/images/1",
        "/api/images/1/thumbnail",
        "/api/duplicates",
        "/metrics",
        "/%61pi/status",
        "/api/nope",
    ] {
        let reply = send(&app, get(uri)).await;
        reply.assert_error(401, "unauthorized");
        assert_eq!(
            reply.header(header::WWW_AUTHENTICATE),
            "Bearer realm=\"magpie\"",
            "{uri}"
        );
        let wrong = get(uri).insert_header((header::AUTHORIZATION, "Bearer s3cret-tokem_1.~"));
        send(&app, wrong).await.assert_error(401, "unauthorized");
        let prefix = get(uri).insert_header((header::AUTHORIZATION, "Bearer s3cret"));
        send(&app, prefix).await.assert_error(401, "unauthorized");
    }
    let posted = TestRequest::post()
        .uri("/api/search")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(r#"{"query":"red"}"#);
    send(&app, posted).await.assert_error(401, "unauthorized");

    let bearer =
        get("/api/search?q=red").insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
    assert_eq!(send(&app, bearer).await.status, 200);
    let lower =
        get("/api/status").insert_header((header::AUTHORIZATION, format!("bearer {token}")));
    assert_eq!(send(&app, lower).await.status, 200);
    // The UI's cookie, percent-encoded with encodeURIComponent (a no-op for these characters).
    let cookie =
        get("/metrics").insert_header((header::COOKIE, format!("other=1; magpie_token={token}")));
    assert_eq!(send(&app, cookie).await.status, 200);
    let encoded =
        get("/api/facets").insert_header((header::COOKIE, "magpie_token=s3cret%2Dtoken_1.~"));
    assert_eq!(send(&app, encoded).await.status, 200);
    let bad_cookie = get("/api/facets").insert_header((header::COOKIE, "magpie_token=nope"));
    send(&app, bad_cookie)
        .await
        .assert_error(401, "unauthorized");

    for uri in [
        "/",
        "/index.html",
        "/app.js",
        "/style.css",
        "/favicon.svg",
        "/healthz",
        "/api/openapi.json",
    ] {
        assert_eq!(send(&app, get(uri)).await.status, 200, "{uri} is public");
    }
}

#[test]
fn exposed_binds_need_a_token() {
    let exposed = ServerConfig {
        bind: "0.0.0.0:0".into(),
        ..ServerConfig::default()
    };
    assert!(matches!(
        exposed.validate(),
        Err(magpie_web::ConfigError::TokenRequired { .. })
    ));
    let fixture = fixture();
    let state = AppState::shared(fixture.library.clone(), exposed);
    let error = magpie_web::run(state, |_| panic!("must not listen")).unwrap_err();
    assert!(error.to_string().contains("without a token"), "{error}");
}
