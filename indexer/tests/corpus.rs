//! Crawl, sniff, metadata — and the whole pipeline with a simple decoder — over the shared real
//! photos and the bad-input corpus. Skips (with a message) when `../shared` is absent.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::{shared_data, ImageCrateDecoder, MeanColourEmbedder, VecSink};
use magpie_indexer::sniff::SNIFF_LEN;
use magpie_indexer::{
    apply_plan, crawl, exif_from_file, judge, plan_changes, Blake3Hasher, CrawlOptions,
    FailureReason, ImageFormat, PipelineConfig, Progress, Verdict,
};

fn head(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    File::open(path)
        .unwrap()
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn verdicts(root: &Path) -> HashMap<String, Verdict> {
    let found = crawl(&[root.to_path_buf()], &CrawlOptions::default()).unwrap();
    assert!(found.failures.is_empty(), "{:?}", found.failures);
    found
        .files
        .iter()
        .map(|file| {
            (
                file.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                judge(&file.path, &head(&file.path)),
            )
        })
        .collect()
}

#[test]
fn bad_inputs_are_recognised_by_content() {
    let Some(data) = shared_data() else { return };
    let verdicts = verdicts(&data.join("bad-inputs"));
    let verdict = |name: &str| {
        verdicts
            .get(name)
            .unwrap_or_else(|| panic!("{name} not crawled"))
    };
    assert_eq!(
        verdict("png_with_jpg_extension.jpg"),
        &Verdict::Image(ImageFormat::Png)
    );
    assert_eq!(verdict("animated.gif"), &Verdict::Image(ImageFormat::Gif));
    assert_eq!(
        verdict("progressive.jpg"),
        &Verdict::Image(ImageFormat::Jpeg)
    );
    for name in ["not_an_image.jpg", "random_bytes.jpg", "zero_bytes.jpg"] {
        assert_eq!(
            verdict(name),
            &Verdict::Failure(FailureReason::NotAnImage),
            "{name}"
        );
    }
    // Phone HEICs are photos now (libheif); a build without it says how to enable it.
    for name in [
        "iphone_13_pro_max.HEIC",
        "IMG_5195.HEIC",
        "HMD_Nokia_8.3_5G.heif",
    ] {
        if ImageFormat::Heif.decoder_available().is_ok() {
            assert_eq!(verdict(name), &Verdict::Image(ImageFormat::Heif), "{name}");
        } else {
            assert!(
                matches!(
                    verdict(name),
                    Verdict::Failure(FailureReason::Unsupported(_))
                ),
                "{name}: {:?}",
                verdict(name)
            );
        }
    }
    // Formats Magpie does not index (icons, Targa) are not photos: skipped, not failures.
    assert_eq!(verdict("overfull-image.tga"), &Verdict::NotImage);
    assert_eq!(verdict("README.md"), &Verdict::NotImage);
    eprintln!("sniffed {} bad inputs", verdicts.len());
}

/// `file → (make, model)` from the photos' MANIFEST.tsv.
fn manifest_cameras(photos: &Path) -> HashMap<String, (String, String)> {
    let text = std::fs::read_to_string(photos.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = |name: &str| header.iter().position(|field| *field == name).unwrap();
    let (file, make, model) = (column("file"), column("make"), column("model"));
    lines
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .filter(|fields| fields.len() > model)
        // EXIF text ends at the first NUL; the manifest kept whatever bytes followed it.
        .map(|fields| {
            let text = |field: &str| field.split('\0').next().unwrap_or("").trim().to_string();
            (
                fields[file].to_string(),
                (text(fields[make]), text(fields[model])),
            )
        })
        .collect()
}

#[test]
fn exif_of_real_photos_matches_the_manifest() {
    let Some(data) = shared_data() else { return };
    let photos = data.join("photos");
    for (name, verdict) in verdicts(&photos) {
        let expected = if name.ends_with(".jpg") {
            Verdict::Image(ImageFormat::Jpeg)
        } else {
            Verdict::NotImage
        };
        assert_eq!(verdict, expected, "{name}");
    }
    let cameras = manifest_cameras(&photos);
    let mut checked = 0;
    for (file, (make, model)) in &cameras {
        let summary = exif_from_file(&photos.join(file));
        if !make.is_empty() {
            assert_eq!(summary.make.as_deref(), Some(make.as_str()), "{file}");
            checked += 1;
        }
        if !model.is_empty() {
            assert_eq!(summary.model.as_deref(), Some(model.as_str()), "{file}");
        }
        if let Some(gps) = summary.gps {
            assert!(
                gps.latitude.abs() <= 90.0 && gps.longitude.abs() <= 180.0,
                "{file}: {gps:?}"
            );
        }
    }
    assert!(checked > 10, "only {checked} photos with a camera make");

    // Orientation test set: `landscape_N.jpg` / `portrait_N.jpg` carry orientation N.
    let oriented = data.join("exif-orientation");
    for n in 1..=8u16 {
        for kind in ["landscape", "portrait"] {
            let summary = exif_from_file(&oriented.join(format!("{kind}_{n}.jpg")));
            assert_eq!(summary.orientation.unwrap_or(1), n, "{kind}_{n}.jpg");
        }
    }
}

#[test]
fn exif_of_every_bad_input_never_panics() {
    let Some(data) = shared_data() else { return };
    let found = crawl(&[data.join("bad-inputs")], &CrawlOptions::default()).unwrap();
    let with_time = found
        .files
        .iter()
        .filter(|file| exif_from_file(&file.path).taken_at.is_some())
        .count();
    eprintln!(
        "{} of {} bad inputs have a readable capture time",
        with_time,
        found.files.len()
    );
    assert!(with_time > 0);
}

#[test]
fn whole_pipeline_over_bad_inputs_finishes_and_accounts_for_every_file() {
    let Some(data) = shared_data() else { return };
    let roots: Vec<PathBuf> = vec![data.join("bad-inputs"), data.join("exif-orientation")];
    let found = crawl(&roots, &CrawlOptions::default()).unwrap();
    let total = found.files.len() as u64;
    let plan = plan_changes(Vec::new(), &found, &Blake3Hasher);
    let config = PipelineConfig {
        decode_workers: 2,
        file_time_limit: Duration::from_secs(120),
        ..PipelineConfig::default()
    };
    let mut sink = VecSink::default();
    let summary = apply_plan(
        plan,
        found.failures,
        Arc::new(ImageCrateDecoder::default()),
        Arc::new(MeanColourEmbedder::default()),
        &mut sink,
        &config,
        &Arc::new(Progress::new()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    eprintln!("{}", serde_json::to_string(&summary).unwrap());
    for failure in sink.failed() {
        eprintln!("  {failure}");
    }
    assert_eq!(
        summary.added + summary.failed + summary.skipped,
        total,
        "{summary:?}"
    );
    let reason_of = |name: &str| {
        sink.failed()
            .iter()
            .find(|failure| failure.path.ends_with(name))
            .map(|failure| failure.reason.clone())
    };
    assert!(
        matches!(
            reason_of("huge_dims_65500x65500_sof_patched.jpg"),
            Some(FailureReason::TooManyPixels { .. })
        ),
        "{:?}",
        reason_of("huge_dims_65500x65500_sof_patched.jpg")
    );
    assert_eq!(
        reason_of("random_bytes.jpg"),
        Some(FailureReason::NotAnImage)
    );
    // Orientation applied before thumbnails: every portrait_N comes out taller than wide.
    for photo in sink.indexed() {
        let name = photo.file.path.file_name().unwrap().to_string_lossy();
        if name.starts_with("portrait_") {
            assert!(
                photo.thumbnails.preview.height > photo.thumbnails.preview.width,
                "{name}"
            );
        }
    }
}
