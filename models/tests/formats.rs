//! Every photo a phone or camera makes: HEIC/HEIF, AVIF, JPEG XL and camera RAW decode like their
//! reference decoders, embed like the Python reference, and damaged copies of each give a named
//! error or a partial decode — never a panic or a hang.
//!
//! The files come from `scripts/testformats/make_test_images.py` (run by `scripts/test`), which
//! also stores each good file's decode by a *different* decoder: pillow-heif (libheif 1.23) for
//! HEIC, Pillow's libavif for AVIF, libjxl's djxl for JPEG XL, LibRaw (rawpy) for the DNG preview
//! and demosaic, PIL for JPEG.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use magpie_models::decode::{decode_image_file, DecodeOptions, DecodedImage, ImageFormat};
use magpie_models::{ClipModel, ModelSpec};

/// Per-format pixel tolerance against the reference decode of the same file: (mean abs, max abs)
/// over all RGB values, 0–255. Measured on the generated corpus (scripts/test, 2 cores, Debian 12),
/// with headroom:
/// - HEIC: the same HEVC bitstream through libde265 on both sides; libheif 1.15 (here) and 1.23
///   (pillow-heif) convert YCbCr→RGB with ±1 rounding differences: 8-bit mean 0.035 max 1; 10-bit
///   mean 0.63 max 3 (both round 10→8 bits, at different stages).
/// - AVIF: identical AV1 output (libaom/dav1d), but libheif upsamples 4:2:0 chroma by nearest
///   neighbour and libavif bilinearly, so hard colour edges differ (max 89 on the red square's
///   border) while the picture agrees (mean 0.82).
/// - JPEG XL: jxl-oxide vs libjxl 0.7: lossless exact, lossy mean 0.006 max 1.
/// - RAW preview and JPEG: libjpeg-turbo on both sides, exact.
/// - Demosaic: rawler and LibRaw are different developers (demosaic algorithm, highlight and
///   tone handling): mean 8.6, max 152 on the stripes; only the picture must be the same, and the
///   embedding test below compares embeddings on Magpie's own pixels.
fn tolerance(format: &str, path: &str) -> (f64, u8) {
    match format {
        "heic" => (1.0, 4),
        "avif" => (1.2, 110),
        "jxl" => (0.05, 2),
        "jpeg" => (0.0, 0),
        "raw" if path == "preview" => (0.0, 0),
        "raw" => (12.0, 200),
        other => panic!("no tolerance for {other}"),
    }
}

struct Entry {
    file: PathBuf,
    format: String,
    how: String,
    width: u32,
    height: u32,
    reference: PathBuf,
    facts: serde_json::Value,
}

fn corpus() -> (PathBuf, Vec<Entry>) {
    let dir = magpie_testkit::test_formats();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).expect("manifest"))
            .expect("manifest is JSON");
    let entries = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|e| Entry {
            file: dir.join(e["file"].as_str().unwrap()),
            format: e["format"].as_str().unwrap().to_string(),
            how: e["path"].as_str().unwrap_or("").to_string(),
            width: e["width"].as_u64().unwrap() as u32,
            height: e["height"].as_u64().unwrap() as u32,
            reference: dir.join(e["reference"].as_str().unwrap()),
            facts: e.clone(),
        })
        .collect::<Vec<_>>();
    assert!(entries.len() >= 15, "the corpus has every kind of file");
    (dir, entries)
}

fn expected_format(format: &str) -> ImageFormat {
    match format {
        "heic" => ImageFormat::Heif,
        "avif" => ImageFormat::Avif,
        "jxl" => ImageFormat::JpegXl,
        "raw" => ImageFormat::Raw,
        "jpeg" => ImageFormat::Jpeg,
        other => panic!("unknown format {other}"),
    }
}

fn diff(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let mut sum = 0u64;
    let mut max = 0u8;
    for (x, y) in a.iter().zip(b) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.len() as f64, max)
}

#[test]
fn every_format_decodes_like_its_reference_decoder() {
    let (_, entries) = corpus();
    let mut report = Vec::new();
    for entry in &entries {
        let name = entry.file.display().to_string();
        let decoded = decode_image_file(&entry.file, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded.format, expected_format(&entry.format), "{name}");
        assert_eq!(
            (decoded.rgb.width(), decoded.rgb.height()),
            (entry.width, entry.height),
            "{name}: displayed size (orientation applied exactly once)"
        );
        assert_eq!(
            (decoded.original_width, decoded.original_height),
            (entry.width, entry.height),
            "{name}"
        );
        assert_eq!(decoded.partial, None, "{name}: a good file decodes whole");
        let reference = image::open(&entry.reference)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.reference.display()))
            .to_rgb8();
        assert_eq!(
            reference.dimensions(),
            decoded.rgb.dimensions(),
            "{name}: reference size"
        );
        let (mean, max) = diff(decoded.rgb.as_raw(), reference.as_raw());
        let (mean_bound, max_bound) = tolerance(&entry.format, &entry.how);
        report.push(format!("{name}: mean {mean:.3} max {max}"));
        assert!(
            mean <= mean_bound && max <= max_bound,
            "{name}: differs from the reference decoder by mean {mean:.3} (≤ {mean_bound}), max {max} (≤ {max_bound})"
        );
        if entry.format == "raw" {
            let source = if entry.how == "preview" {
                "embedded preview"
            } else {
                "demosaic"
            };
            assert_eq!(decoded.source, Some(source), "{name}");
        }
    }
    println!(
        "pixel parity with the reference decoders:\n  {}",
        report.join("\n  ")
    );
}

/// The EXIF block each format hands out is a TIFF structure an EXIF reader accepts, with the
/// camera, lens and date the generator wrote; the orientation recorded is the one applied.
#[test]
fn exif_and_orientation_come_from_the_file_once() {
    let (dir, entries) = corpus();
    for entry in entries.iter().filter(|e| e.facts.get("make").is_some()) {
        let name = entry.file.display().to_string();
        let decoded = decode_image_file(&entry.file, &DecodeOptions::default()).unwrap();
        let blob = decoded
            .exif
            .clone()
            .unwrap_or_else(|| panic!("{name}: no EXIF"));
        let exif = exif::Reader::new()
            .continue_on_error(true)
            .read_raw(blob)
            .or_else(|e| e.distill_partial_result(|_| {}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = |tag| {
            exif.get_field(tag, exif::In::PRIMARY)
                .map(|f| f.display_value().to_string().trim_matches('"').to_string())
        };
        assert_eq!(
            text(exif::Tag::Make).as_deref(),
            entry.facts["make"].as_str(),
            "{name}"
        );
        assert_eq!(
            text(exif::Tag::Model).as_deref(),
            entry.facts["model"].as_str(),
            "{name}"
        );
        if let Some(lens) = entry.facts["lens"].as_str() {
            assert_eq!(text(exif::Tag::LensModel).as_deref(), Some(lens), "{name}");
        }
        let expected = entry.facts["orientation"].as_u64().unwrap_or(1) as u16;
        assert_eq!(decoded.orientation, expected, "{name}");
    }
    // HEIF: EXIF says 6 *and* the container rotates; rotated once, recorded as applied by the
    // container (1).
    let heic =
        decode_image_file(&dir.join("heic/orient6.heic"), &DecodeOptions::default()).unwrap();
    assert_eq!(heic.rgb.dimensions(), (480, 640));
    assert_eq!(heic.orientation, 1);
    assert_eq!(
        heic.exif
            .as_deref()
            .and_then(magpie_models::decode::exif_orientation),
        Some(6),
        "the EXIF still says 6, and it was not applied a second time"
    );
}

/// Each decode on its own thread with a deadline: a hang fails the test instead of stalling it.
fn decode_bounded(path: &Path) -> Result<magpie_models::Result<DecodedImage>, String> {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| {
            decode_image_file(
                &owned,
                &DecodeOptions {
                    min_short_side: 448,
                    ..DecodeOptions::default()
                },
            )
        });
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(_)) => Err("panicked".to_string()),
        Err(_) => Err("did not finish within 60 s".to_string()),
    }
}

#[test]
fn damaged_files_give_a_named_error_or_a_partial_decode() {
    let (dir, _) = corpus();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("bad"))
        .expect("bad/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "a truncated and a bit-flipped copy of every file"
    );
    let (mut whole, mut partial, mut failed) = (0, 0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match decode_bounded(path).unwrap_or_else(|why| panic!("{name}: {why}")) {
            Ok(decoded) => {
                assert!(
                    decoded.rgb.width() > 0 && decoded.rgb.height() > 0,
                    "{name}"
                );
                match &decoded.partial {
                    Some(what) => {
                        partial += 1;
                        println!("  {name}: partly decoded: {what}");
                    }
                    None => whole += 1,
                }
            }
            Err(error) => {
                failed += 1;
                let message = error.to_string();
                println!("  {name}: {message}");
                assert!(
                    message.contains(&name),
                    "the error names the file: {message}"
                );
            }
        }
    }
    println!(
        "{} damaged files: {whole} decoded, {partial} partly decoded, {failed} named errors",
        files.len()
    );
    // The truncated JPEG is the case libjpeg decodes in part.
    let cut = decode_bounded(&dir.join("bad/jpeg_truncated.jpg"))
        .unwrap()
        .unwrap();
    assert!(
        cut.partial.as_deref().is_some_and(|p| p.contains("rows")),
        "{:?}",
        cut.partial
    );
    assert!(failed > 0 && partial > 0);
}

/// The corrupt JPEG of `../shared` decodes to the end, as libjpeg (PIL) decodes it: before, the
/// libjpeg-turbo warning sent it to a decoder that concealed the damage as grey.
#[test]
fn corrupted_jpeg_matches_pil() {
    let Some(photos) = magpie_testkit::shared_path_or_skip("data/photos") else {
        return;
    };
    let path = photos.join("exif-samples__jpg__corrupted.jpg");
    let decoded = decode_image_file(&path, &DecodeOptions::default()).expect("decodes");
    let what = decoded.partial.clone().expect("recorded as partly decoded");
    assert!(what.contains("Corrupt JPEG data"), "{what}");
    let config_path =
        magpie_testkit::shared_path_or_skip("models/clip-tokenizer/preprocessor_config.json")
            .expect("shared is present");
    let config =
        magpie_models::ImageConfig::from_hf_preprocessor_config(&config_path, None).unwrap();
    let preprocessor = magpie_models::Preprocessor::new(&config);
    let ours = preprocessor
        .resize_and_crop(&decoded.rgb)
        .unwrap()
        .into_raw();
    let reference = reference_crops(&config_path, std::slice::from_ref(&path));
    let (mean, max) = diff(&ours, &reference[0]);
    println!("corrupted JPEG vs PIL: mean {mean:.3} max {max}");
    assert!(max <= 2, "mean {mean:.3} max {max}");
}

/// The orientation is read past a broken EXIF field, as PIL reads it, and turns the pixels; the
/// one reading is what `DecodedImage::orientation` reports (and the catalog records).
#[test]
fn orientation_after_a_broken_exif_field_turns_the_photo_as_pil_does() {
    let temp = tempfile::tempdir().unwrap();
    let image = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, if x < 20 { 250 } else { 10 }])
    });
    let view = turbojpeg::Image {
        pixels: image.as_raw().as_slice(),
        width: 96,
        pitch: 96 * 3,
        height: 64,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(view, 95, turbojpeg::Subsamp::Sub2x2).unwrap();
    // IFD0: Make (ASCII, 40 bytes) pointing far outside the block, then Orientation = 6.
    let mut tiff = b"II*\0\x08\0\0\0\x02\0".to_vec();
    for (tag, kind, count, value) in [(0x010Fu16, 2u16, 40u32, 0x7FFF_0000u32), (0x0112, 3, 1, 6)] {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    }
    tiff.extend_from_slice(&[0; 4]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut file = jpeg[..2].to_vec();
    file.extend_from_slice(&[0xFF, 0xE1]);
    file.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    file.extend_from_slice(&app1);
    file.extend_from_slice(&jpeg[2..]);
    let path = temp.path().join("broken-exif.jpg");
    std::fs::write(&path, &file).unwrap();

    let decoded = decode_image_file(&path, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.orientation, 6);
    assert_eq!(
        decoded.rgb.dimensions(),
        (64, 96),
        "turned, as the record says"
    );
    // PIL agrees (exif_transpose reads past the broken field too).
    let config_path = magpie_testkit::test_model("tiny-hf").join("preprocessor_config.json");
    let reference = reference_entries(&config_path, &[path]);
    assert_eq!(
        (
            reference[0]["source_width"].as_u64(),
            reference[0]["source_height"].as_u64()
        ),
        (Some(64), Some(96))
    );
}

fn reference_entries(config: &Path, files: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut command = std::process::Command::new(magpie_testkit::python());
    command
        .arg(magpie_testkit::workspace_root().join("scripts/reference/preprocess.py"))
        .arg("--config")
        .arg(config)
        .args(files);
    let output = command.output().expect("reference runs");
    assert!(
        output.status.success(),
        "preprocess.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    value.as_array().expect("list").clone()
}

fn reference_crops(config: &Path, files: &[PathBuf]) -> Vec<Vec<u8>> {
    reference_entries(config, files)
        .iter()
        .map(|entry| {
            base64_decode(
                entry["pixels_b64"]
                    .as_str()
                    .unwrap_or_else(|| panic!("reference error {entry}")),
            )
        })
        .collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let acc = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | value(*c) << (18 - 6 * i));
        for i in 0..chunk.len() * 3 / 4 {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// Magpie's decode + preprocess + embedding of each file against the Python reference (PIL +
/// CLIPImageProcessor + ONNX Runtime) on the reference decoder's pixels of the same file; for the
/// demosaic, whose pixels legitimately differ between developers, on Magpie's own pixels (saved as
/// PNG), which isolates preprocessing and embedding.
#[test]
fn embeddings_match_the_python_reference() {
    let (_, entries) = corpus();
    let temp = tempfile::tempdir().unwrap();
    let runtime = magpie_models::RuntimeOptions {
        explicit: Some(magpie_testkit::ort_lib()),
        config: None,
    };
    magpie_models::runtime::init(&runtime).expect("ONNX Runtime starts");
    let dir = magpie_testkit::test_model("tiny-hf");
    let spec = ModelSpec::load(&dir).unwrap();
    let model = ClipModel::open(
        &spec,
        &magpie_models::SessionConfig {
            device: magpie_models::Device::Cpu,
            intra_op_threads: None,
            tensorrt_cache_dir: None,
        },
    )
    .unwrap();
    let mut pixels_for_python = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if entry.format == "raw" && entry.how == "demosaic" {
            let decoded = decode_image_file(&entry.file, &DecodeOptions::default()).unwrap();
            let png = temp.path().join(format!("magpie-{index}.png"));
            decoded.rgb.save(&png).unwrap();
            pixels_for_python.push(png);
        } else {
            pixels_for_python.push(entry.reference.clone());
        }
    }
    let config = &spec.image.preprocess;
    let crops = reference_crops(&dir.join("preprocessor_config.json"), &pixels_for_python);
    let tensors: Vec<String> = crops
        .iter()
        .map(|raw| {
            let plane = raw.len() / 3;
            let mut chw = vec![0f32; raw.len()];
            for (i, value) in raw.iter().enumerate() {
                let c = i % 3;
                chw[c * plane + i / 3] =
                    (f32::from(*value) * config.rescale_factor - config.mean[c]) / config.std[c];
            }
            let bytes: Vec<u8> = chw.iter().flat_map(|v| v.to_le_bytes()).collect();
            common::base64_encode(&bytes)
        })
        .collect();
    let request = serde_json::json!({ "pixels": tensors, "ids": [] }).to_string();
    let mut child = std::process::Command::new(magpie_testkit::python())
        .arg(magpie_testkit::workspace_root().join("scripts/reference/embed.py"))
        .arg("--model-dir")
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let theirs = response["image"].as_array().unwrap();
    let mut worst = (1.0f64, String::new());
    for (entry, reference) in entries.iter().zip(theirs) {
        let reference: Vec<f32> = reference
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let ours = model.image.embed_image_file(&entry.file).unwrap();
        let dot: f64 = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm(&ours) * norm(&reference));
        if cosine < worst.0 {
            worst = (cosine, entry.file.display().to_string());
        }
        assert!(cosine >= 0.999, "{}: cosine {cosine}", entry.file.display());
    }
    println!(
        "embeddings vs Python reference: worst cosine {:.6} ({})",
        worst.0, worst.1
    );
}
