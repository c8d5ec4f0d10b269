//! `magpie embed-shard` on the real binary: the shards of a photo folder partition it, their
//! files read back with Python's numpy and pyarrow as clip-retrieval's tools read them, the
//! vectors are the ones a local library holds, an up-to-date shard is skipped, a changed shard is
//! replaced without touching the others, and a bad file is reported and recorded.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

/// Reads every shard of `dir` with numpy and pyarrow; prints one JSON object per shard: rows,
/// dims, dtype, the norms' extremes, the ids and paths, and whether the columns are the
/// expected ones.
const READ_BACK: &str = r#"
import json, pathlib, sys
import numpy as np, pyarrow.parquet as pq
out = pathlib.Path(sys.argv[1])
for npy in sorted((out / "img_emb").glob("img_emb_*.npy")):
    k = npy.stem.split("_")[-1]
    emb = np.load(npy)
    table = pq.read_table(out / "metadata" / f"metadata_{k}.parquet")
    norms = np.linalg.norm(emb.astype(np.float32), axis=1) if len(emb) else np.ones(1)
    print(json.dumps({
        "shard": int(k),
        "rows": int(emb.shape[0]),
        "dims": int(emb.shape[1]),
        "dtype": str(emb.dtype),
        "table_rows": table.num_rows,
        "columns": table.column_names,
        "min_norm": float(norms.min()),
        "max_norm": float(norms.max()),
        "ids": [int(i) for i in table.column("id").to_pylist()],
        "paths": table.column("image_path").to_pylist(),
        "widths": table.column("width").to_pylist(),
    }))
"#;

fn read_back(dir: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(magpie_testkit::python())
        .arg("-c")
        .arg(READ_BACK)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn embed_shard(home: &Path, shard: &str, out: &Path, photos: &Path) -> std::process::Output {
    ok(magpie(home)
        .args(["embed-shard", "--shard", shard, "--out"])
        .arg(out)
        .arg("--model")
        .arg(test_model("colour"))
        .arg(photos))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn shards_partition_the_photos_and_read_back_as_clip_retrieval_expects() {
    let home = tempfile::tempdir().unwrap();
    let photos = home.path().join("photos");
    let files = colour_library(&photos);
    std::fs::write(
        photos.join("misc/broken.jpg"),
        b"\xff\xd8\xff\xe0 not really",
    )
    .unwrap();
    let out = home.path().join("shards");

    let mut stderr = String::new();
    for k in 0..3 {
        let run = embed_shard(home.path(), &format!("{k}/3"), &out, &photos);
        let stdout = text(&run.stdout);
        // The last line is the final progress line the Ray driver reads.
        let last = stdout.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("magpie-shard-progress {") && last.contains(&format!("\"shard\":{k}")),
            "{stdout}"
        );
        stderr.push_str(&text(&run.stderr));
    }
    let broken = photos.join("misc/broken.jpg");
    assert!(
        stderr.contains(&format!("cannot index {}", broken.display())),
        "the bad file is named: {stderr}"
    );

    let shards = read_back(&out);
    assert_eq!(shards.len(), 3);
    let mut seen = BTreeSet::new();
    let mut rows = 0;
    for shard in &shards {
        assert_eq!(shard["rows"], shard["table_rows"], "{shard}");
        assert_eq!(shard["dtype"], "float16", "{shard}");
        assert_eq!(shard["dims"], 16, "{shard}");
        let columns: Vec<&str> = shard["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for wanted in [
            "image_path",
            "id",
            "size",
            "mtime_ns",
            "content_hash",
            "width",
            "height",
            "date",
            "camera",
            "error",
        ] {
            assert!(columns.contains(&wanted), "{wanted} missing: {columns:?}");
        }
        if shard["rows"].as_u64().unwrap() > 0 {
            // f16 rounding leaves the norms a hair off 1.
            assert!(shard["min_norm"].as_f64().unwrap() > 0.99, "{shard}");
            assert!(shard["max_norm"].as_f64().unwrap() < 1.01, "{shard}");
        }
        for path in shard["paths"].as_array().unwrap() {
            assert!(
                seen.insert(path.as_str().unwrap().to_string()),
                "{path} twice"
            );
        }
        rows += shard["rows"].as_u64().unwrap();
        assert!(shard["widths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w.as_u64().unwrap() > 0));
    }
    let expected: BTreeSet<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    assert_eq!(seen, expected, "every photo in exactly one shard");
    assert_eq!(rows as usize, files.len());
    let manifests: Vec<serde_json::Value> = (0..3)
        .map(|k| {
            let bytes = std::fs::read(out.join(format!("shards/shard_{k}.json"))).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect();
    let failures: Vec<&serde_json::Value> = manifests
        .iter()
        .flat_map(|m| m["failures"].as_array().unwrap())
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["path"], broken.to_string_lossy().as_ref());

    // The thumbnails of every row are there.
    let thumbs = walk_files(&out.join("thumbs"));
    assert_eq!(thumbs.len(), 2 * files.len(), "{thumbs:?}");

    // Up to date: skipped, nothing rewritten.
    let before: Vec<_> = (0..3).map(|k| manifest_mtime(&out, k)).collect();
    for k in 0..3 {
        let again = embed_shard(home.path(), &format!("{k}/3"), &out, &photos);
        assert!(
            text(&again.stderr).contains("up to date"),
            "{}",
            text(&again.stderr)
        );
    }
    let after: Vec<_> = (0..3).map(|k| manifest_mtime(&out, k)).collect();
    assert_eq!(before, after);

    // One photo changes: only its shard is embedded again when every shard runs again.
    let changed = &files[0];
    save(&colour_image(GREEN, 70, 50, 9), changed);
    let changed_shard = shards
        .iter()
        .find(|s| {
            s["paths"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str() == Some(&changed.to_string_lossy()))
        })
        .unwrap()["shard"]
        .as_u64()
        .unwrap() as usize;
    for k in 0..3 {
        let run = embed_shard(home.path(), &format!("{k}/3"), &out, &photos);
        let skipped = text(&run.stderr).contains("up to date");
        assert_eq!(
            skipped,
            k != changed_shard,
            "shard {k}: {}",
            text(&run.stderr)
        );
    }
    let replaced: Vec<_> = (0..3).map(|k| manifest_mtime(&out, k)).collect();
    for k in 0..3 {
        assert_eq!(replaced[k] != after[k], k == changed_shard, "shard {k}");
    }
    let shards = read_back(&out);
    let rows: u64 = shards.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows as usize, files.len());
}

/// A wrong `--shard` and an unwritable `--out` are refused before any work, naming the value.
#[test]
fn bad_shard_arguments_are_named() {
    let home = tempfile::tempdir().unwrap();
    let photos = home.path().join("photos");
    colour_library(&photos);
    for bad in ["3/3", "1", "a/b", "0/0"] {
        let err = fails(
            magpie(home.path())
                .args(["embed-shard", "--shard", bad, "--out"])
                .arg(home.path().join("out"))
                .arg("--model")
                .arg(test_model("colour"))
                .arg(&photos),
        );
        assert!(err.contains(bad), "{bad}: {err}");
    }
    let file = home.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = fails(
        magpie(home.path())
            .args(["embed-shard", "--shard", "0/2", "--out"])
            .arg(file.join("sub"))
            .arg("--model")
            .arg(test_model("colour"))
            .arg(&photos),
    );
    assert!(err.contains("a-file"), "{err}");
}

fn manifest_mtime(out: &Path, k: usize) -> std::time::SystemTime {
    std::fs::metadata(out.join(format!("shards/shard_{k}.json")))
        .unwrap()
        .modified()
        .unwrap()
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
