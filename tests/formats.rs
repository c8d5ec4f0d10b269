//! End to end through the `magpie` binary on a folder mixing every photo format: HEIC, AVIF,
//! JPEG XL, DNG (with and without preview), a RAW + JPEG pair, and damaged copies of each, next to
//! ordinary PNG/JPEG photos. Everything good is indexed (with upright thumbnails), the pair once,
//! damaged files are reported by name or indexed as "partly decoded", nothing panics, and search
//! works over all of it. Files: `scripts/testformats/make_test_images.py` (run by `scripts/test`).

mod common;

use std::path::Path;

use common::*;
use magpie_catalog::{Reader, ThumbKind};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".reference.png") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn a_folder_of_every_format_indexes_searches_and_reports_damage() {
    let corpus = magpie_testkit::test_formats();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let photos = tmp.path().join("photos");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    colour_library(&photos.join("ordinary"));
    for folder in ["heic", "avif", "jxl", "raw", "bad"] {
        copy_dir(&corpus.join(folder), &photos.join(folder));
    }
    let model = test_model("colour");
    let output = magpie(&home)
        .env("RUST_BACKTRACE", "1")
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&photos)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // A decoder crash is one warning line naming the file, never the panic hook's report.
    assert!(!stderr.contains("panicked at"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    let summary = json(&output);
    println!("{summary}");

    let reader = Reader::open(&library).unwrap();
    let records = reader.snapshot().all_records();
    let names: Vec<String> = records.iter().map(|r| r.file_name()).collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    for good in [
        "plain.heic",
        "orient6.heic",
        "mirror.heic",
        "exif.heic",
        "alpha.heic",
        "10bit.heic",
        "collection.heic",
        "plain.avif",
        "orient6.avif",
        "alpha.avif",
        "lossy.jxl",
        "lossless.jxl",
        "alpha.jxl",
        "16bit.jxl",
        "from_jpeg.jxl",
        "preview.dng",
        "nopreview.dng",
        "IMG_0001.JPG",
    ] {
        assert!(has(good), "{good} indexed: {names:?}");
    }
    // The RAW + JPEG pair is one photo: the JPEG.
    assert!(!has("IMG_0001.DNG"), "{names:?}");
    // Every indexed photo has its thumbnails; formats are recorded by name.
    for record in &records {
        for kind in [ThumbKind::Grid, ThumbKind::Preview] {
            let path = reader.thumbnail_path(record, kind).expect("thumbnail");
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                bytes.starts_with(&[0xFF, 0xD8]),
                "{}: JPEG rendition",
                record.file_name()
            );
        }
    }
    let format_of = |name: &str| {
        records
            .iter()
            .find(|r| r.file_name() == name)
            .map(|r| (r.format.clone(), r.width, r.height, r.exif.orientation))
            .unwrap()
    };
    assert_eq!(format_of("orient6.heic"), ("heif".into(), 480, 640, None));
    assert_eq!(format_of("plain.avif").0, "avif");
    assert_eq!(format_of("lossy.jxl").0, "jxl");
    // The DNG's orientation (6) is read once and recorded as the one applied.
    assert_eq!(format_of("preview.dng"), ("raw".into(), 480, 640, Some(6)));
    let dng = records
        .iter()
        .find(|r| r.file_name() == "preview.dng")
        .unwrap();
    assert_eq!(dng.exif.make.as_deref(), Some("Magpie Optics"));
    assert_eq!(dng.exif.lens.as_deref(), Some("Magpie 50mm F2"));
    assert!(dng.exif.taken_at.is_some());

    // Damage: named failures, and partial decodes listed *and* indexed.
    let errors = json(&ok(magpie(&home)
        .args(["library", "errors", "--json", "--library"])
        .arg(&library)));
    let rows = errors.as_array().unwrap();
    let reason_of = |name: &str| {
        rows.iter()
            .find(|row| row["path"].as_str().unwrap().ends_with(name))
            .map(|row| row["reason"].as_str().unwrap().to_string())
    };
    let partial = reason_of("jpeg_truncated.jpg").expect("the truncated JPEG is listed");
    assert!(
        partial.starts_with("partly decoded (indexed anyway)"),
        "{partial}"
    );
    assert!(has("jpeg_truncated.jpg"), "and indexed");
    let bad_files = std::fs::read_dir(photos.join("bad")).unwrap().count();
    let mut accounted = 0;
    for entry in std::fs::read_dir(photos.join("bad")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let listed = reason_of(&name);
        assert!(has(&name) || listed.is_some(), "{name}: indexed or listed");
        accounted += 1;
    }
    assert_eq!(accounted, bad_files);

    // Search covers the new formats: the colour model finds the red square of the scenes among
    // the red photos; every hit resolves to a record.
    let hits = json(&ok(magpie(&home)
        .args(["search", "--json", "--limit", "100", "--library"])
        .arg(&library)
        .arg("red")));
    let hits = hits["hits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| hits.as_array().cloned().unwrap());
    assert!(!hits.is_empty());
    // A second run changes nothing: the pair stays one photo, damaged files are not retried.
    let again = json(&ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&photos)));
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["deleted"], 0, "{again}");
}
