//! OCR end to end through the `magpie` binary, with the real PP-OCRv4 models (imported from the
//! `rapidocr_onnxruntime` wheel in `.venv`): `magpie ocr`, `magpie index --ocr` (incremental,
//! remembered by the library, resumable after a kill), text search and its filters, and
//! `library stats`. The text images are drawn by PIL (Debian's DejaVu fonts) with known words,
//! next to real photos from `../shared`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use magpie_catalog::Reader;

/// Draws the text images: each (file name, lines, background) → a PNG.
fn draw_text_images(dir: &Path, images: &[(&str, &[&str], [u8; 3])]) {
    std::fs::create_dir_all(dir).unwrap();
    let spec: Vec<serde_json::Value> = images
        .iter()
        .map(|(name, lines, bg)| serde_json::json!({"path": dir.join(name), "lines": lines, "bg": bg}))
        .collect();
    let script = r#"
import json, sys, random
from PIL import Image, ImageDraw, ImageFont
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 56)
for item in json.loads(sys.argv[1]):
    lines = item["lines"]
    image = Image.new("RGB", (1000, 120 + 100 * max(1, len(lines))), tuple(item["bg"]))
    draw = ImageDraw.Draw(image)
    rng = random.Random(7)
    for _ in range(400):  # a little texture, as a photo has
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        draw.point((x, y), fill=tuple(max(0, c - 30) for c in item["bg"]))
    for i, line in enumerate(lines):
        draw.text((60, 60 + 100 * i), line, fill=(20, 20, 20), font=font)
    image.save(item["path"])
"#;
    let status = Command::new(magpie_testkit::python())
        .arg("-c")
        .arg(script)
        .arg(serde_json::Value::Array(spec).to_string())
        .status()
        .expect("python runs");
    assert!(status.success(), "drawing the text images failed");
}

/// A model store holding PP-OCRv4, installed the way a user does it (`models import-ocr`).
fn install_ocr_model(home: &Path) {
    let out = ok(magpie(home)
        .args(["models", "import-ocr", "--from-rapidocr", "--python"])
        .arg(magpie_testkit::python()));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("pp-ocrv4"), "{said}");
    assert!(said.contains("checksums verified"), "{said}");
}

fn search(home: &Path, library: &Path, args: &[&str]) -> serde_json::Value {
    json(&ok(magpie(home)
        .arg("search")
        .arg("--library")
        .arg(library)
        .arg("--json")
        .args(args)))
}

fn hit_names(result: &serde_json::Value) -> Vec<String> {
    result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            PathBuf::from(h["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

const TEXT_IMAGES: &[(&str, &[&str], [u8; 3])] = &[
    ("sign.png", &["ZEPHYR QUARTZ MARKET"], [235, 230, 210]),
    (
        "receipt.png",
        &["MARMALADE", "TOTAL 42.50"],
        [250, 250, 250],
    ),
    // PP-OCR reads a heading without spaces the way it is printed: run together.
    ("heading.png", &["COMETSPARROWHARBOR"], [210, 225, 240]),
];

#[test]
fn ocr_indexes_searches_and_reports_text_in_images() {
    let Some(shared) = shared("OCR end to end next to real photos") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let photos = tmp.path().join("photos");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    draw_text_images(&photos.join("text"), TEXT_IMAGES);
    // A blank image: the detector finds nothing, quickly.
    save(
        &image::RgbImage::from_pixel(800, 600, image::Rgb([128, 128, 128])),
        &photos.join("text").join("blank.png"),
    );
    copy_real_photos(&shared, &photos.join("real"), 6);
    install_ocr_model(&home);

    // `magpie ocr` reads a file and prints its lines with boxes.
    let out = ok(magpie(&home)
        .args(["ocr", "--json"])
        .arg(photos.join("text/receipt.png")));
    let read = json(&out);
    let lines: Vec<&str> = read[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["MARMALADE", "TOTAL 42.50"], "{read}");
    assert!(read[0]["lines"][0]["confidence"].as_f64().unwrap() > 0.9);
    assert_eq!(read[0]["lines"][0]["corners"].as_array().unwrap().len(), 4);

    // Index with OCR on: the summary carries the OCR stage's.
    let model = test_model("colour");
    let index = |extra: &[&str]| {
        json(&ok(magpie(&home)
            .arg("index")
            .arg("--library")
            .arg(&library)
            .arg("--model")
            .arg(&model)
            .arg("--json")
            .args(extra)
            .arg(&photos)))
    };
    let first = index(&["--ocr"]);
    let images = first["added"].as_u64().unwrap();
    // The four text images and the six real photos.
    assert_eq!(images, 4 + 6, "{first}");
    assert_eq!(first["text"]["to_read"].as_u64(), Some(images), "{first}");
    assert_eq!(first["text"]["read"].as_u64(), Some(images), "{first}");
    assert!(first["text"]["with_text"].as_u64().unwrap() >= 3, "{first}");

    let reader = Reader::open(&library).unwrap();
    let records = reader.snapshot().all_records();
    let text_of = |name: &str| {
        records
            .iter()
            .find(|r| r.file_name() == name)
            .and_then(|r| r.text.clone())
            .unwrap_or_else(|| panic!("{name} has no text record"))
    };
    assert_eq!(text_of("sign.png").joined(), "ZEPHYR QUARTZ MARKET");
    assert!(text_of("blank.png").lines.is_empty());
    assert!(text_of("heading.png").joined().contains("SPARROW"));

    // A word printed in exactly one image finds it first, and says it matched by text.
    for (query, expected) in [
        ("quartz", "sign.png"),
        ("marmalade", "receipt.png"),
        ("42.50", "receipt.png"),
        // …also inside a run-together heading.
        ("sparrow", "heading.png"),
    ] {
        let result = search(&home, &library, &[query]);
        assert_eq!(hit_names(&result)[0], expected, "{query}: {result}");
        let first = &result["hits"][0];
        assert!(
            first["matched"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("text")),
            "{query}: {first}"
        );
        assert!(!first["text_lines"].as_array().unwrap().is_empty());
    }
    // A quoted phrase matches its words in order only.
    assert_eq!(
        hit_names(&search(
            &home,
            &library,
            &["--mode", "keyword", "\"quartz market\""]
        ))[0],
        "sign.png"
    );
    // A text-only search (keyword mode, or the has-text filter) returns no photo without text.
    let keyword = search(&home, &library, &["--mode", "keyword", "zephyr"]);
    assert_eq!(hit_names(&keyword), ["sign.png"], "{keyword}");
    let with_text = search(
        &home,
        &library,
        // No relevance cutoff: every image the filter allows comes back.
        &[
            "--filter",
            "has-text",
            "--limit",
            "100",
            "--min-score",
            "-1",
            "colourful photo",
        ],
    );
    for hit in with_text["hits"].as_array().unwrap() {
        let text = &hit["record"]["text"]["lines"];
        assert!(
            text.as_array().is_some_and(|l| !l.is_empty()),
            "has-text returned an image without text: {hit}"
        );
    }
    assert!(hit_names(&with_text).contains(&"receipt.png".to_string()));
    let filtered = search(&home, &library, &["--filter", "text=total", "image"]);
    assert_eq!(hit_names(&filtered), ["receipt.png"], "{filtered}");

    // Stats say how much was read.
    let stats = json(&ok(magpie(&home)
        .args(["library", "stats", "--json", "--library"])
        .arg(&library)));
    assert_eq!(stats["text_read"].as_u64(), Some(images));
    let text_stats = String::from_utf8_lossy(
        &ok(magpie(&home)
            .args(["library", "stats", "--library"])
            .arg(&library))
        .stdout,
    )
    .into_owned();
    assert!(
        text_stats.contains(&format!("{images} of {images} images read")),
        "{text_stats}"
    );

    // The library remembers --ocr: a new image is read by a plain `magpie index`, and only it.
    draw_text_images(
        &photos.join("text"),
        &[("late.png", &["VELVET LANTERN"], [240, 240, 240])],
    );
    let second = index(&[]);
    assert_eq!(second["added"].as_u64(), Some(1), "{second}");
    assert_eq!(second["text"]["read"].as_u64(), Some(1), "{second}");
    assert_eq!(
        hit_names(&search(&home, &library, &["lantern"]))[0],
        "late.png"
    );
    // --no-ocr turns it off (what was read stays searchable).
    let third = index(&["--no-ocr"]);
    assert!(third.get("text").is_none(), "{third}");
    assert_eq!(
        hit_names(&search(&home, &library, &["lantern"]))[0],
        "late.png"
    );
}

#[test]
fn a_missing_ocr_model_is_refused_before_indexing_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let photos = tmp.path().join("photos");
    colour_library(&photos);
    let library = tmp.path().join("library");
    let err = fails(
        magpie(&home)
            .arg("index")
            .arg("--ocr")
            .arg("--library")
            .arg(&library)
            .arg("--model")
            .arg(test_model("colour"))
            .arg(&photos),
    );
    assert!(err.contains("no OCR model"), "{err}");
    assert!(err.contains("models import-ocr"), "{err}");
    // Nothing was indexed, and the setting was not saved.
    assert!(!library.join("settings.json").exists());
}

/// A kill during the OCR stage loses nothing committed, and the next run reads exactly what is
/// left: every image ends with its one text, the same as an uninterrupted run reads.
#[test]
fn a_kill_during_the_ocr_stage_resumes_without_losing_or_duplicating() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let photos = tmp.path().join("photos");
    let words = [
        "ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA",
        "JULIET", "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO", "SIERRA",
        "TANGO", "UNIFORM", "VICTOR", "WHISKEY", "XRAY",
    ];
    let names: Vec<String> = words
        .iter()
        .map(|w| format!("{w}.png").to_lowercase())
        .collect();
    let lines: Vec<[&str; 1]> = words.iter().map(|w| [*w]).collect();
    let images: Vec<(&str, &[&str], [u8; 3])> = names
        .iter()
        .zip(&lines)
        .map(|(n, l)| (n.as_str(), &l[..], [245, 245, 245]))
        .collect();
    draw_text_images(&photos, &images);
    install_ocr_model(&home);
    let library = tmp.path().join("library");
    let model = test_model("colour");
    // Embed first (no OCR), so the kill lands in the OCR stage.
    ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg(&photos));

    let read_so_far = || -> u64 {
        let out = magpie(&home)
            .args(["library", "stats", "--json", "--library"])
            .arg(&library)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|s| s["text_read"].as_u64())
            .unwrap_or(0)
    };
    // Its log goes to a file (a pipe nobody reads would fill up and stall it).
    let log = tmp.path().join("ocr-run.log");
    let mut child = magpie_testkit::ChildGuard::spawn(
        magpie(&home)
            .env("MAGPIE_LOG", "info")
            .arg("index")
            .arg("--ocr")
            .arg("--library")
            .arg(&library)
            .arg("--model")
            .arg(&model)
            .arg(&photos)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let started = Instant::now();
    let mut killed_at = None;
    while started.elapsed() < Duration::from_secs(300) {
        if let Some(status) = child.child().try_wait().unwrap() {
            panic!("the OCR run ended ({status}) before it could be killed mid-stage");
        }
        let read = read_so_far();
        if read > 0 {
            child.child().kill().unwrap();
            child.child().wait().unwrap();
            killed_at = Some(read);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed_at = killed_at.unwrap_or_else(|| {
        panic!(
            "the OCR stage committed nothing within 300 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let total = words.len() as u64;
    let after_kill = read_so_far();
    assert!(
        after_kill >= killed_at && after_kill < total,
        "killed after {after_kill} of {total} committed: not mid-stage"
    );

    let resumed = json(&ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&photos)));
    assert_eq!(
        resumed["text"]["to_read"].as_u64(),
        Some(total - after_kill),
        "the next run reads exactly what was left: {resumed}"
    );
    let reader = Reader::open(&library).unwrap();
    let records = reader.snapshot().all_records();
    assert_eq!(records.len() as u64, total);
    for (record, word) in names.iter().zip(words) {
        let r = records.iter().find(|r| r.file_name() == *record).unwrap();
        let text = r.text.as_ref().expect("every image read").joined();
        assert_eq!(text, word, "{record}: one reading, not lost, not doubled");
    }
}
