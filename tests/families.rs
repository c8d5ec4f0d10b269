//! Every model family end to end through the `magpie` binary, in both layouts: index real photos
//! from `../shared`, search by text, by example image and by library image, and store zero-shot
//! tags. The Immich exports have a fixed batch of 1; the SigLIP2 export is also run from its fp16
//! towers alone (as a directory holding only the fp16 variant) and as int8.
//!
//! The weights are random (`scripts/testmodels/families.py`), so the tests check what holds for
//! any weights: every photo is indexed with the family's tower, the index answers text queries,
//! a photo searched by example finds itself first, and tags use the family's own scoring.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const FAMILIES: &[&str] = &[
    "siglip-hf",
    "siglip-immich",
    "siglip2-hf",
    "siglip2-immich",
    "xlmr-hf",
    "xlmr-immich",
    "nllb-hf",
    "nllb-immich",
    "mclip-hf",
    "mclip-immich",
];

/// Eight real photos from `../shared`, copied into `dir`.
fn real_photos(shared: &Path, dir: &Path) -> Vec<PathBuf> {
    copy_real_photos(shared, dir, 8)
}

/// Index, text search, image search (a file and a library id), tags, for one model directory.
fn run_family(home: &Path, model: &Path, photos_dir: &Path, photos: &[PathBuf], library: &Path) {
    let label = model.display().to_string();
    let summary = json(&ok(magpie(home)
        .arg("index")
        .arg("--library")
        .arg(library)
        .arg("--model")
        .arg(model)
        .arg("--json")
        .arg(photos_dir)));
    assert_eq!(
        summary["added"].as_u64(),
        Some(photos.len() as u64),
        "{label}: {summary}"
    );
    assert_eq!(summary["failed"].as_u64(), Some(0), "{label}: {summary}");

    let search = |args: &[&str]| {
        json(&ok(magpie(home)
            .arg("search")
            .arg("--library")
            .arg(library)
            .arg("--json")
            .args(args)))
    };
    // Random weights rank arbitrarily, but every indexed photo is a candidate of a text query.
    let text = search(&["--min-score", "-1", "--limit", "100", "a dog on a beach"]);
    assert_eq!(
        text["hits"].as_array().unwrap().len(),
        photos.len(),
        "{label}: {text}"
    );
    // A photo searched by example finds itself first (cosine 1 with its own embedding).
    let probe = &photos[3];
    let by_image = search(&["--mode", "vector", "--image", probe.to_str().unwrap()]);
    assert_eq!(
        by_image["hits"][0]["path"].as_str(),
        Some(probe.to_str().unwrap()),
        "{label}: {by_image}"
    );
    let id = by_image["hits"][0]["id"].as_u64().unwrap().to_string();
    // "Like this library image" means the other photos, by its stored embedding.
    let like = search(&["--mode", "vector", "--min-score", "-1", "--like", &id]);
    let like_ids: Vec<String> = like["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].to_string())
        .collect();
    assert_eq!(like_ids.len(), photos.len() - 1, "{label}: {like}");
    assert!(!like_ids.contains(&id), "{label}: {like}");

    // Zero-shot tags with the family's scoring (softmax over the labels, or SigLIP's sigmoid):
    // what `tag` assigns is stored, and the tag filter finds exactly those images.
    let tagged = json(&ok(magpie(home)
        .arg("tag")
        .arg("--library")
        .arg(library)
        .args([
            "--labels",
            "dog,beach,city",
            "--threshold",
            "0.000001",
            "--json",
        ])));
    let mut assigned = 0;
    for tag in ["dog", "beach", "city"] {
        let expected: Vec<u64> = tagged
            .as_array()
            .unwrap()
            .iter()
            .filter(|image| {
                image["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["label"] == tag)
            })
            .map(|image| image["id"].as_u64().unwrap())
            .collect();
        assigned += expected.len();
        let filter = format!("tag={tag}");
        let found = search(&[
            "--filter",
            &filter,
            "--min-score",
            "-1",
            "--limit",
            "100",
            "photo",
        ]);
        let mut ids: Vec<u64> = found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(
            ids, expected,
            "{label}: tag filter vs assigned tags for {tag}"
        );
    }
    assert!(assigned > 0, "{label}: no tag assigned at all: {tagged}");
}

#[test]
fn every_family_indexes_searches_and_tags_real_photos_in_both_layouts() {
    let Some(shared) = shared("every model family on real photos") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let photos_dir = tmp.path().join("photos");
    let photos = real_photos(&shared, &photos_dir);
    for family in FAMILIES {
        let library = tmp.path().join(format!("library-{family}"));
        run_family(&home, &test_model(family), &photos_dir, &photos, &library);
        // The library records the family, and `library stats` says it.
        let stats = String::from_utf8_lossy(
            &ok(magpie(&home)
                .args(["library", "stats", "--library"])
                .arg(&library))
            .stdout,
        )
        .into_owned();
        assert!(stats.contains("model family"), "{family}: {stats}");
    }
}

#[test]
fn fp16_and_int8_exports_index_and_search() {
    let Some(shared) = shared("fp16 and int8 exports on real photos") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let photos_dir = tmp.path().join("photos");
    let photos = real_photos(&shared, &photos_dir);
    let source = test_model("siglip2-hf");
    for (variant, keep) in [
        ("fp16", ["vision_model_fp16.onnx", "text_model_fp16.onnx"]),
        (
            "int8",
            ["vision_model_quantized.onnx", "text_model_quantized.onnx"],
        ),
    ] {
        // A directory holding only that variant's towers, as `models pull --variant` leaves it.
        let model = tmp.path().join(format!("siglip2-{variant}"));
        std::fs::create_dir_all(model.join("onnx")).unwrap();
        for entry in std::fs::read_dir(&source).unwrap().flatten() {
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
            }
        }
        for file in keep {
            std::fs::copy(
                source.join("onnx").join(file),
                model.join("onnx").join(file),
            )
            .unwrap();
        }
        let library = tmp.path().join(format!("library-{variant}"));
        run_family(&home, &model, &photos_dir, &photos, &library);
        let doctor = String::from_utf8_lossy(
            &ok(magpie(&home).arg("doctor").arg("--model").arg(&model)).stdout,
        )
        .into_owned();
        let wanted = if variant == "fp16" {
            "float16"
        } else {
            "float32"
        };
        assert!(doctor.contains(wanted), "{variant}: {doctor}");
    }
}
