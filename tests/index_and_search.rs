//! End to end through the `magpie` binary with the hand-built colour model: indexing is
//! incremental (re-runs, touches, renames, deletions), search finds colours, filters are exact,
//! hybrid ranking finds a file by name, and bad requests fail clearly.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use serde_json::Value;

struct Fixture {
    _tmp: tempfile::TempDir,
    home: std::path::PathBuf,
    photos: std::path::PathBuf,
    library: std::path::PathBuf,
    model: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let photos = tmp.path().join("photos");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    colour_library(&photos);
    Fixture {
        home,
        photos,
        library,
        model: test_model("colour"),
        _tmp: tmp,
    }
}

impl Fixture {
    fn index(&self) -> Value {
        json(&ok(magpie(&self.home)
            .arg("index")
            .arg("--library")
            .arg(&self.library)
            .arg("--model")
            .arg(&self.model)
            .arg("--json")
            .arg(&self.photos)))
    }

    fn search(&self, args: &[&str]) -> Value {
        json(&ok(magpie(&self.home)
            .arg("search")
            .arg("--library")
            .arg(&self.library)
            .arg("--json")
            .args(args)))
    }

    fn paths(&self, args: &[&str]) -> Vec<String> {
        self.search(args)["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["path"].as_str().unwrap().to_string())
            .collect()
    }
}

fn name(path: &str) -> &str {
    Path::new(path).file_name().unwrap().to_str().unwrap()
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

#[test]
fn indexing_is_incremental() {
    let f = fixture();
    let first = f.index();
    assert_eq!(count(&first, "added"), 22, "{first}");
    assert_eq!(count(&first, "failed"), 0, "{first}");

    let again = f.index();
    assert_eq!(count(&again, "added"), 0, "{again}");
    assert_eq!(count(&again, "updated"), 0, "{again}");
    assert_eq!(count(&again, "unchanged"), 22, "{again}");

    // Changed content → exactly one re-embedded, and it is now found as blue.
    let changed = f.photos.join("2024/green_0.png");
    save(&colour_image(BLUE, 64, 64, 9), &changed);
    let touched = f.index();
    assert_eq!(count(&touched, "updated"), 1, "{touched}");
    assert_eq!(count(&touched, "added"), 0, "{touched}");
    let blue = f.paths(&["--mode", "vector", "--limit", "7", "blue"]);
    assert!(blue.iter().any(|p| name(p) == "green_0.png"), "{blue:?}");

    // Renamed → nothing re-embedded, found at the new path only.
    std::fs::rename(
        f.photos.join("2023/red_3.png"),
        f.photos.join("2023/renamed_red.png"),
    )
    .unwrap();
    let moved = f.index();
    assert_eq!(count(&moved, "moved"), 1, "{moved}");
    assert_eq!(
        count(&moved, "added") + count(&moved, "updated"),
        0,
        "{moved}"
    );
    let red = f.paths(&["--mode", "vector", "red"]);
    assert!(red.iter().any(|p| name(p) == "renamed_red.png"), "{red:?}");
    assert!(!red.iter().any(|p| name(p) == "red_3.png"), "{red:?}");

    // Deleted → gone from every store.
    std::fs::remove_file(f.photos.join("2023/red_0.png")).unwrap();
    let deleted = f.index();
    assert_eq!(count(&deleted, "deleted"), 1, "{deleted}");
    let red = f.paths(&["--mode", "vector", "red"]);
    assert!(!red.iter().any(|p| name(p) == "red_0.png"), "{red:?}");

    ok(magpie(&f.home)
        .args(["library", "verify", "--library"])
        .arg(&f.library));
    let stats = json(&ok(magpie(&f.home)
        .args(["library", "stats", "--json", "--library"])
        .arg(&f.library)));
    assert_eq!(stats["images"], 21, "{stats}");
    assert_eq!(stats["vectors"], 21, "{stats}");
    // A library this small searches at the default breadth and has nothing to measure.
    assert_eq!(stats["expansion_search"], 4096, "{stats}");
    assert!(stats["search_tuning"].is_null(), "{stats}");
    let tuned = ok(magpie(&f.home)
        .args(["library", "tune", "--library"])
        .arg(&f.library));
    let tuned = String::from_utf8_lossy(&tuned.stdout);
    assert!(
        tuned.contains("fewer than 10000") && tuned.contains("breadth 4096 (default"),
        "{tuned}"
    );
    let refused = magpie(&f.home)
        .args(["library", "tune", "--target", "1.5", "--library"])
        .arg(&f.library)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--target 1.5"));
}

#[test]
fn search_by_colour_filters_names_and_images() {
    let f = fixture();
    f.index();

    // "red" → only red photos before anything else (6 bright + 3 dark red exist).
    let red = f.paths(&["--mode", "vector", "--limit", "10", "red"]);
    assert!(red.len() >= 6, "{red:?}");
    for p in red.iter().take(9) {
        assert!(
            name(p).contains("red"),
            "non-red {p} in the top results: {red:?}"
        );
    }
    // Nothing blue or green survives the adaptive cutoff for "red".
    assert!(
        !red.iter()
            .any(|p| name(p).starts_with("blue") || name(p).starts_with("green")),
        "{red:?}"
    );

    // "red -dark": the bright reds, no dark red among the first six.
    let bright = f.paths(&["--mode", "vector", "--", "red", "-dark"]);
    assert!(bright.len() >= 6, "{bright:?}");
    for p in bright.iter().take(6) {
        assert!(name(p).starts_with("red_"), "{p} in {bright:?}");
    }

    // Filters give exactly the matching set (an empty-ish query through filters only: browse).
    let jpgs: HashSet<String> = f
        .paths(&[
            "--mode",
            "vector",
            "--min-score",
            "-1",
            "--filter",
            "type=jpg",
            "--limit",
            "100",
            "blue",
        ])
        .into_iter()
        .collect();
    let expected: HashSet<String> = walk(&f.photos)
        .into_iter()
        .filter(|p| p.ends_with(".jpg"))
        .collect();
    assert_eq!(jpgs, expected);
    let folder = f.photos.join("2023").canonicalize().unwrap();
    let in_2023 = f.paths(&[
        "--mode",
        "vector",
        "--min-score",
        "-1",
        "--limit",
        "100",
        "--filter",
        &format!("folder={}", folder.display()),
        "green",
    ]);
    assert_eq!(in_2023.len(), 9, "{in_2023:?}");
    assert!(in_2023.iter().all(|p| Path::new(p).starts_with(&folder)));
    let portrait = f.paths(&[
        "--min-score",
        "-1",
        "--limit",
        "100",
        "--filter",
        "orientation=portrait",
        "blue",
    ]);
    assert_eq!(portrait.len(), 6, "{portrait:?}");

    // Hybrid: a file name finds its file first.
    let named = f.paths(&["IMG_2041"]);
    assert_eq!(
        named.first().map(|p| name(p)),
        Some("IMG_2041.png"),
        "{named:?}"
    );

    // An image as the query: a blue file (not in the library) finds the blue photos.
    let query = f.home.join("query.png");
    save(&colour_image(BLUE, 50, 50, 3), &query);
    let like_file = f.paths(&[
        "--mode",
        "vector",
        "--limit",
        "6",
        "--image",
        query.to_str().unwrap(),
    ]);
    assert_eq!(like_file.len(), 6, "{like_file:?}");
    assert!(
        like_file.iter().all(|p| name(p).starts_with("blue_")),
        "{like_file:?}"
    );

    // --like ID: photos like a library image, the image itself left out.
    let first_green = f.search(&["--mode", "vector", "--limit", "1", "green"]);
    let id = first_green["hits"][0]["id"].as_u64().unwrap();
    let similar = f.search(&[
        "--mode",
        "vector",
        "--limit",
        "5",
        "--like",
        &id.to_string(),
    ]);
    let hits = similar["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["id"].as_u64() != Some(id)));
    assert!(hits
        .iter()
        .all(|h| name(h["path"].as_str().unwrap()).starts_with("green_")));

    // Table output names the columns.
    let table = ok(magpie(&f.home)
        .arg("search")
        .arg("--library")
        .arg(&f.library)
        .arg("red"));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("rank") && text.contains("red_"), "{text}");
}

#[test]
fn bad_searches_fail_clearly() {
    let f = fixture();
    f.index();
    let search = || {
        let mut cmd = magpie(&f.home);
        cmd.arg("search").arg("--library").arg(&f.library);
        cmd
    };
    let err = fails(&mut search());
    assert!(err.contains("empty query"), "{err}");
    let err = fails(search().args(["--filter", "colour=red", "red"]));
    assert!(err.contains("unknown filter"), "{err}");
    let err = fails(search().args(["--image", "/nonexistent/query.jpg"]));
    assert!(err.contains("/nonexistent/query.jpg"), "{err}");
    // A library built with the colour model refuses another model's queries.
    let err = fails(
        search()
            .arg("--model")
            .arg(test_model("tiny-hf"))
            .arg("red"),
    );
    assert!(
        err.contains("colour") && err.contains("was built with"),
        "{err}"
    );
    // …and refuses to be written with it.
    let err = fails(
        magpie(&f.home)
            .arg("index")
            .arg("--library")
            .arg(&f.library)
            .arg("--model")
            .arg(test_model("tiny-hf"))
            .arg(&f.photos),
    );
    assert!(err.contains("was built with model"), "{err}");
    // Searching a library that does not exist names it.
    let err = fails(
        magpie(&f.home)
            .args(["search", "--library", "/nonexistent/library", "--model"])
            .arg(&f.model)
            .arg("red"),
    );
    assert!(err.contains("/nonexistent/library"), "{err}");
}

#[test]
fn tags_and_duplicates() {
    let f = fixture();
    f.index();
    ok(magpie(&f.home)
        .arg("tag")
        .arg("--library")
        .arg(&f.library)
        .args(["--labels", "red,blue,green,grey"]));
    let tagged_blue = f.paths(&[
        "--min-score",
        "-1",
        "--limit",
        "100",
        "--filter",
        "tag=blue",
        "blue",
    ]);
    assert_eq!(tagged_blue.len(), 6, "{tagged_blue:?}");
    assert!(tagged_blue.iter().all(|p| name(p).starts_with("blue_")));
    // Tags are keywords too.
    let keyword = f.paths(&["--mode", "keyword", "green"]);
    assert_eq!(keyword.len(), 6, "{keyword:?}");

    // Same-colour photos are near-duplicates to the colour model; the grey one has no copy.
    let groups = json(&ok(magpie(&f.home)
        .arg("dupes")
        .arg("--library")
        .arg(&f.library)
        .args(["--threshold", "0.99", "--json"])));
    let groups = groups.as_array().unwrap();
    assert!(!groups.is_empty());
    for group in groups {
        let names: Vec<&str> = group
            .as_array()
            .unwrap()
            .iter()
            .map(|m| name(m["path"].as_str().unwrap()))
            .collect();
        let stem = |n: &str| n.rsplit_once('_').map(|(s, _)| s.to_string());
        assert!(names.len() >= 2);
        assert!(names.iter().all(|n| stem(n) == stem(names[0])), "{names:?}");
        assert!(!names.contains(&"IMG_2041.png"));
    }
}

#[test]
fn reembed_switches_the_model_and_keeps_tags() {
    let f = fixture();
    f.index();
    ok(magpie(&f.home)
        .arg("tag")
        .arg("--library")
        .arg(&f.library)
        .args(["--labels", "red,blue,green,grey"]));
    let tiny = test_model("tiny-hf");
    let out = ok(magpie(&f.home)
        .args(["library", "reembed", "--library"])
        .arg(&f.library)
        .arg("--model")
        .arg(&tiny));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("22 added"), "{stderr}");
    // The library now belongs to the new model: the old one is refused, the new one searches.
    let err = fails(
        magpie(&f.home)
            .arg("search")
            .arg("--library")
            .arg(&f.library)
            .arg("--model")
            .arg(&f.model)
            .arg("red"),
    );
    assert!(err.contains("was built with"), "{err}");
    let blue = f.paths(&[
        "--min-score",
        "-1",
        "--limit",
        "100",
        "--filter",
        "tag=blue",
        "photo",
    ]);
    assert_eq!(blue.len(), 6, "tags lost in the re-embed: {blue:?}");
    let stats = json(&ok(magpie(&f.home)
        .args(["library", "stats", "--json", "--library"])
        .arg(&f.library)));
    assert_eq!(stats["images"], 22, "{stats}");
    assert_eq!(stats["model"]["name"], "tiny-hf", "{stats}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.canonicalize().unwrap().display().to_string());
        }
    }
    out
}

/// `magpie watch` picks up a new photo and a deletion without being asked again.
#[test]
fn watch_keeps_the_library_current() {
    let f = fixture();
    // The watcher's log goes to a file (a pipe nobody reads would fill and stall it) and is shown
    // when the test fails; the guard kills the watcher however the test ends.
    let log_path = f.home.join("watch.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _watcher = magpie_testkit::ChildGuard::spawn(
        magpie(&f.home)
            .arg("watch")
            .arg("--library")
            .arg(&f.library)
            .arg("--model")
            .arg(&f.model)
            .args(["--settle-ms", "200"])
            .arg(&f.photos)
            .stdout(std::process::Stdio::null())
            .stderr(log),
    );
    // Poll (bounded) until the library shows what we wait for; the watcher works in the
    // background, so there is no event to join on.
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        for _ in 0..300 {
            if check() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "watch: gave up waiting for {what}; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    };
    let images = || -> Option<u64> {
        let out = magpie(&f.home)
            .args(["library", "stats", "--json", "--library"])
            .arg(&f.library)
            .output()
            .ok()?;
        serde_json::from_slice::<Value>(&out.stdout).ok()?["images"].as_u64()
    };
    wait_for("the first index", &|| images() == Some(22));
    save(
        &colour_image(GREEN, 60, 60, 42),
        &f.photos.join("new/fresh_green.png"),
    );
    wait_for("the new photo", &|| images() == Some(23));
    let green = f.paths(&["--mode", "vector", "--limit", "10", "green"]);
    assert!(
        green.iter().any(|p| name(p) == "fresh_green.png"),
        "{green:?}"
    );
    std::fs::remove_file(f.photos.join("2024/blue_1.jpg")).unwrap();
    wait_for("the deletion", &|| images() == Some(22));
}

#[test]
fn doctor_describes_the_runtime_and_both_towers() {
    let home = tempfile::tempdir().unwrap();
    for (model, short_texts) in [
        ("tiny-hf", "run without their padding"),
        ("colour", "padded to the full context"),
    ] {
        let out = ok(magpie(home.path())
            .arg("doctor")
            .arg("--model")
            .arg(test_model(model)));
        let text = String::from_utf8_lossy(&out.stdout);
        for expected in [
            "image tower",
            "text tower",
            "runs on: CPU",
            short_texts,
            "embedding dimension",
        ] {
            assert!(
                text.contains(expected),
                "{model}: no {expected:?} in\n{text}"
            );
        }
    }
}
