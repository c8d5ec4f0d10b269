//! The Milvus backend end to end on the real binary, against the real Milvus server that
//! `scripts/test` starts (`scripts/services/milvus`): real photos from `../shared` embedded in
//! three shards (`magpie embed-shard`), loaded (`magpie milvus load`, twice: no duplicates), and
//! searched with `magpie search --backend milvus://…` — which must return the same top 10, in
//! the same order, as a local library of the same photos, for text, image, weighted, filtered,
//! date-sorted, paged and `--like` queries.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// 24 COCO photos and 12 camera photos (Canon, iPhone, … with EXIF).
fn photo_folder(shared: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut photos = copy_real_photos(shared, &dir.join("cameras"), 12);
    let coco = dir.join("coco");
    std::fs::create_dir_all(&coco).unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(shared.join("data/coco-mini/val2017"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names.into_iter().take(24) {
        let to = coco.join(p.file_name().unwrap());
        std::fs::copy(&p, &to).unwrap();
        photos.push(to);
    }
    photos
}

/// The local library of `photos` (what the Milvus backend is compared with).
fn local_library(home: &Path, photos: &Path, model: &Path) -> PathBuf {
    let library = home.join("library");
    ok(magpie(home)
        .args(["index", "--library"])
        .arg(&library)
        .arg("--model")
        .arg(model)
        .arg(photos));
    library
}

/// The paths of a `--json` search's hits, in order.
fn hit_paths(out: &std::process::Output) -> Vec<String> {
    json(out)["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect()
}

fn hit_ids(out: &std::process::Output) -> Vec<u64> {
    json(out)["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_milvus_backend_answers_as_the_local_library_does() {
    let Some(shared) = shared("the Milvus backend end-to-end test") else {
        return;
    };
    let milvus = magpie_testkit::milvus_address();
    let home = tempfile::tempdir().unwrap();
    let photos_dir = home.path().join("photos");
    let photos = photo_folder(&shared, &photos_dir);
    let model = test_model("colour");
    let library = local_library(home.path(), &photos_dir, &model);
    let shards = home.path().join("shards");
    let collection = format!("e2e_{}", std::process::id());
    // The three shards are embedded by Ray jobs on the two-node cluster, each running this
    // magpie binary's `embed-shard`.
    let submitted = ok(magpie(home.path())
        .args([
            "cluster",
            "submit",
            "--ray",
            &magpie_testkit::ray_address(),
            "--shards",
            "3",
        ])
        .args(["--run-id", &format!("e2e-{}", std::process::id()), "--"])
        .arg(&photos_dir)
        .arg("--out")
        .arg(&shards)
        .arg("--model")
        .arg(&model));
    let summary = String::from_utf8_lossy(&submitted.stderr);
    assert!(
        summary.contains("3/3 shards done") && summary.contains(" 0 failed"),
        "{summary}"
    );
    let load = || {
        let out = ok(magpie(home.path())
            .args([
                "milvus",
                "load",
                "--milvus",
                &milvus,
                "--collection",
                &collection,
            ])
            .arg(&shards));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = load();
    let holds = format!("holds {} images", photos.len());
    assert!(
        first.contains(&holds) && first.starts_with("created"),
        "{first}"
    );
    // Loaded again: every row replaced by id, none added.
    let again = load();
    assert!(
        again.contains(&holds) && again.starts_with("updated"),
        "{again}"
    );

    let backend = format!(
        "milvus://{}/{collection}",
        milvus.trim_start_matches("http://")
    );
    let local = |args: &[&str]| {
        ok(magpie(home.path())
            .args(["search", "--json", "--limit", "10", "--library"])
            .arg(&library)
            .arg("--model")
            .arg(&model)
            .args(args))
    };
    let remote = |args: &[&str]| {
        ok(magpie(home.path())
            .args([
                "search",
                "--json",
                "--limit",
                "10",
                "--backend",
                &backend,
                "--shards",
            ])
            .arg(&shards)
            .arg("--model")
            .arg(&model)
            .args(args))
    };
    let example = photos[14].to_string_lossy().into_owned();
    // Options before the words: the query takes everything after its first word.
    let queries: Vec<Vec<&str>> = vec![
        vec!["red"],
        vec!["green"],
        vec!["blue", "sky"],
        vec!["--image", &example],
        vec!["2:yellow", "-blue"],
        vec!["--image", &example, "orange"],
        vec!["--filter", "camera=canon", "white"],
        vec!["--filter", "orientation=portrait", "black"],
        vec!["--filter", "folder=coco", "green"],
        vec!["--filter", "min-pixels=1000x1000", "grey"],
        vec!["--sort", "date", "red"],
        vec!["--min-score", "0.0", "--offset", "5", "brown"],
        vec!["--mode", "keyword", "canon"],
        vec!["canon", "purple"],
    ];
    let folder_filter = format!("folder={}", photos_dir.join("coco").display());
    let mut compared = 0;
    for query in &queries {
        let query: Vec<&str> = query
            .iter()
            .map(|a| {
                if *a == "folder=coco" {
                    folder_filter.as_str()
                } else {
                    a
                }
            })
            .collect();
        let (l, r) = (hit_paths(&local(&query)), hit_paths(&remote(&query)));
        assert!(!l.is_empty(), "{query:?}: the local library found nothing");
        assert_eq!(r, l, "{query:?}: Milvus and the local library disagree");
        // …and the filters did filter.
        if query.contains(&"camera=canon") {
            assert!(
                r.iter().all(|p| p.to_lowercase().contains("canon")),
                "{r:?}"
            );
        }
        if query.contains(&folder_filter.as_str()) {
            assert!(r.iter().all(|p| p.contains("/coco/")), "{r:?}");
        }
        compared += 1;
    }
    assert_eq!(compared, queries.len());

    // --like takes each backend's own id of the same photo.
    let like_local = hit_ids(&local(&["--image", &example]))[0];
    let like_remote = hit_ids(&remote(&["--image", &example]))[0];
    let l = hit_paths(&local(&["--like", &like_local.to_string()]));
    let r = hit_paths(&remote(&["--like", &like_remote.to_string()]));
    assert_eq!(r, l, "--like");
    assert!(!r.contains(&example), "--like lists other photos");

    // What the shards cannot answer is refused by name.
    let refused = fails(
        magpie(home.path())
            .args(["search", "--backend", &backend, "--shards"])
            .arg(&shards)
            .arg("--model")
            .arg(&model)
            .args(["--filter", "text=total", "red"]),
    );
    assert!(
        refused.contains("text=") && refused.contains("Milvus"),
        "{refused}"
    );

    // A server that is not there is named.
    let down = fails(
        magpie(home.path())
            .args(["search", "--backend", "milvus://127.0.0.1:9/x", "--shards"])
            .arg(&shards)
            .arg("--model")
            .arg(&model)
            .arg("red"),
    );
    assert!(down.contains("127.0.0.1:9"), "{down}");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Milvus Lite server of this test's own (it is stopped and started again), answering once
/// `magpie milvus load` can talk to it.
fn start_milvus(data: &Path, port: u16) -> magpie_testkit::ChildGuard {
    let server = magpie_testkit::workspace_root().join(".venv/bin/milvus-lite");
    assert!(
        server.exists(),
        "{} is missing: run scripts/test (it runs scripts/setup)",
        server.display()
    );
    let guard = magpie_testkit::ChildGuard::spawn(
        std::process::Command::new(server)
            .args(["server", "--data-dir"])
            .arg(data)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "Milvus Lite did not listen on {port} within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    guard
}

/// `GET path` on `addr`: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Hit paths of an API search answer (the body may be chunked: take the JSON object inside).
fn api_paths(body: &str) -> Vec<String> {
    let start = body.find('{').expect("a JSON body");
    let end = body.rfind('}').expect("a JSON body");
    let value: serde_json::Value = serde_json::from_str(&body[start..=end]).unwrap();
    value["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn magpie_serve_on_milvus_answers_503_while_it_is_down_and_recovers() {
    let Some(shared) = shared("the Milvus serve test") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let photos_dir = home.path().join("photos");
    photo_folder(&shared, &photos_dir);
    let model = test_model("colour");
    let library = local_library(home.path(), &photos_dir, &model);
    let shards = home.path().join("shards");
    for k in 0..2 {
        ok(magpie(home.path())
            .args(["embed-shard", "--shard", &format!("{k}/2"), "--out"])
            .arg(&shards)
            .arg("--model")
            .arg(&model)
            .arg(&photos_dir));
    }
    let port = free_port();
    let data = home.path().join("milvus-data");
    let milvus = start_milvus(&data, port);
    let address = format!("http://127.0.0.1:{port}");
    ok(magpie(home.path())
        .args([
            "milvus",
            "load",
            "--milvus",
            &address,
            "--collection",
            "served",
        ])
        .arg(&shards));

    let mut serve = magpie(home.path());
    serve
        .args(["serve", "--bind", "127.0.0.1:0", "--backend"])
        .arg(format!("milvus://127.0.0.1:{port}/served"))
        .arg("--shards")
        .arg(&shards)
        .arg("--model")
        .arg(&model)
        .stdout(std::process::Stdio::piped());
    let mut server = magpie_testkit::ChildGuard::spawn(&mut serve);
    let stdout = server.child().stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Magpie is serving http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let addr = url.trim_end_matches('/').to_string();

    let expected = hit_paths(&ok(magpie(home.path())
        .args(["search", "--json", "--limit", "10", "--library"])
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg("red")));
    let (status, body) = http_get(&addr, "/api/search?q=red&limit=10");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api_paths(&body),
        expected,
        "the API on Milvus and the local library disagree"
    );
    let (status, body) = http_get(&addr, "/api/status");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"images\":36"), "{body}");

    // Milvus goes away: searches answer 503 naming it, the server stays up.
    drop(milvus);
    let (status, body) = http_get(&addr, "/api/search?q=red&limit=10");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&format!("127.0.0.1:{port}")), "{body}");
    // …and once it is back, the same answer as before.
    let _milvus = start_milvus(&data, port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (status, body) = http_get(&addr, "/api/search?q=red&limit=10");
        if status == 200 {
            assert_eq!(api_paths(&body), expected, "after Milvus came back");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "no answer 90 s after Milvus came back: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
