//! The read-only commands (`library stats`, `library errors`, `search`) through the `magpie`
//! binary: they never take the writer lock (they work while a writer holds it) and never change
//! the library on disk (an older format is refused with the fix, not upgraded behind the user's
//! back). `search --json` gives paths as text.

mod common;

use std::path::Path;

use common::*;
use magpie_catalog::{ImageRecord, ModelIdentity, Writer};

/// `library stats`, `library errors` and `search` against `library`.
fn read_only_commands(home: &Path, library: &Path, model: &Path) -> Vec<std::process::Command> {
    let mut stats = magpie(home);
    stats
        .args(["library", "stats", "--json", "--library"])
        .arg(library);
    let mut errors = magpie(home);
    errors
        .args(["library", "errors", "--json", "--library"])
        .arg(library);
    let mut search = magpie(home);
    search
        .args(["search", "--json", "--library"])
        .arg(library)
        .arg("--model")
        .arg(model)
        .arg("red");
    vec![stats, errors, search]
}

#[test]
fn read_only_commands_work_while_a_writer_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, photos, library) = (
        tmp.path().join("home"),
        tmp.path().join("photos"),
        tmp.path().join("library"),
    );
    std::fs::create_dir_all(&home).unwrap();
    colour_library(&photos);
    let model = test_model("colour");
    ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg(&photos));

    // This process holds the writer lock, as a running `magpie index` would.
    let writer = Writer::open_existing(&library).unwrap();
    let err = fails(
        magpie(&home)
            .arg("library")
            .arg("verify")
            .arg("--library")
            .arg(&library),
    );
    assert!(err.contains("being written by another process"), "{err}");
    let outputs: Vec<serde_json::Value> = read_only_commands(&home, &library, &model)
        .iter_mut()
        .map(|command| json(&ok(command)))
        .collect();
    assert_eq!(outputs[0]["images"], 22, "stats: {}", outputs[0]);
    assert_eq!(outputs[1], serde_json::json!([]), "errors: {}", outputs[1]);
    let hits = outputs[2]["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "search: {}", outputs[2]);

    // `search --json` gives each path as text, in the hit and in its record; raw bytes only for
    // names that are not UTF-8 (none here).
    for hit in hits {
        let path = hit["path"].as_str().unwrap_or_else(|| panic!("{hit}"));
        assert!(
            path.starts_with(photos.canonicalize().unwrap().to_str().unwrap()),
            "{hit}"
        );
        assert_eq!(hit["record"]["path"].as_str(), Some(path), "{hit}");
        assert!(
            hit["path_bytes"].is_null() && hit["record"]["path_bytes"].is_null(),
            "{hit}"
        );
    }
    drop(writer);
}

/// A library in format version 1, as the first Magpie wrote it: records and f32 embeddings in
/// sled under the v1 keys, `model.json`, `FORMAT` = 1.
fn version_1_library(dir: &Path) {
    use magpie_migrations::v1;
    let model = ModelIdentity {
        name: "old-model".into(),
        checksum: "old-model-checksum".into(),
        dim: 4,
    };
    std::fs::create_dir_all(dir).unwrap();
    let db = sled::open(dir.join(magpie_migrations::DB_DIR)).unwrap();
    for id in 1u64..=3 {
        let record = ImageRecord {
            id,
            path: format!("/photos/{id}.jpg").into(),
            size: 100 + id,
            mtime_ns: 1_600_000_000_000_000_000,
            content_hash: format!("{id:064x}"),
            width: 64,
            height: 48,
            format: "jpeg".into(),
            exif: Default::default(),
            tags: vec![],
            indexed_at: 0,
            text: None,
        };
        db.insert(
            [v1::RECORD, &id.to_be_bytes()].concat(),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let mut embedding = [0f32; 4];
        embedding[id as usize % 4] = 1.0;
        let bytes: Vec<u8> = embedding.iter().flat_map(|f| f.to_le_bytes()).collect();
        db.insert([v1::EMBEDDING, &id.to_be_bytes()].concat(), bytes)
            .unwrap();
    }
    let model_json = serde_json::to_vec(&model).unwrap();
    db.insert(v1::MODEL, model_json.clone()).unwrap();
    db.flush().unwrap();
    drop(db);
    std::fs::write(dir.join("model.json"), model_json).unwrap();
    magpie_migrations::write_version(dir, 1).unwrap();
}

/// Every file below `dir` with its bytes, to show that nothing changed.
fn contents(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn read_only_commands_never_upgrade_an_older_library() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    version_1_library(&library);
    let before = contents(&library);
    assert!(before.iter().any(|(p, _)| p.ends_with("FORMAT")));

    for mut command in read_only_commands(&home, &library, &test_model("colour")) {
        let err = fails(&mut command);
        assert!(
            err.contains("format version 1") && err.contains("magpie library verify"),
            "{command:?}: {err}"
        );
        assert_eq!(
            magpie_migrations::read_version(&library).unwrap(),
            Some(1),
            "{command:?} upgraded the library"
        );
        assert!(
            contents(&library) == before,
            "{command:?} changed the library on disk"
        );
    }

    // The fix the message names works: the writer upgrades, and the readers then read.
    ok(magpie(&home)
        .args(["library", "verify", "--library"])
        .arg(&library));
    assert_eq!(
        magpie_migrations::read_version(&library).unwrap(),
        Some(magpie_migrations::CURRENT_VERSION)
    );
    let stats = json(&ok(magpie(&home)
        .args(["library", "stats", "--json", "--library"])
        .arg(&library)));
    assert_eq!(stats["images"], 3, "{stats}");
    assert_eq!(
        stats["format_version"],
        magpie_migrations::CURRENT_VERSION,
        "{stats}"
    );
}
