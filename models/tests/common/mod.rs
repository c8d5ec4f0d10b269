//! Shared helpers for the `magpie-models` integration tests: where the generated test models,
//! the Python reference and `../shared` live, starting ONNX Runtime, and calling the reference
//! scripts.
//!
//! Missing generated test data or venv is a failure (run `scripts/test`, which creates both);
//! only `../shared` may be absent, and tests that need it skip with a printed message.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("models/ has a parent")
        .to_path_buf()
}

/// `.magpie/testdata/models/<name>`; fails the test with the fix when it is missing.
pub fn test_model(name: &str) -> PathBuf {
    magpie_testkit::test_model(name)
}

/// The reference Python of `.venv`; fails the test with the fix when it is missing.
pub fn python() -> PathBuf {
    magpie_testkit::python()
}

/// `../shared`, or `None` after a visible skip naming `what` needs it.
pub fn shared(what: &str) -> Option<PathBuf> {
    magpie_testkit::shared_for(what)
}

/// Starts ONNX Runtime (explicit `MAGPIE_ORT_LIB` when set, else the search order).
pub fn init_runtime() -> &'static magpie_models::RuntimeInfo {
    let options = magpie_models::RuntimeOptions {
        explicit: Some(magpie_testkit::ort_lib()),
        config: None,
    };
    match magpie_models::runtime::init(&options) {
        Ok(info) => info,
        Err(err) => panic!("ONNX Runtime: {err} (scripts/test sets it up)"),
    }
}

pub fn cpu() -> magpie_models::SessionConfig {
    magpie_models::SessionConfig {
        device: magpie_models::Device::Cpu,
        intra_op_threads: None,
        tensorrt_cache_dir: None,
    }
}

/// Runs `scripts/reference/<script>` with the given stdin and parses its JSON stdout.
pub fn reference(script: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    let path = workspace_root()
        .join("scripts")
        .join("reference")
        .join(script);
    let mut child = Command::new(python())
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_string();
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let output = child.wait_with_output().expect("reference script runs");
    writer
        .join()
        .expect("writer thread")
        .expect("stdin written");
    assert!(
        output.status.success(),
        "{} {:?} failed: {}",
        path.display(),
        args,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("reference prints JSON")
}

/// Standard base64 (the reference scripts' encoding), without a dependency for 20 lines.
pub fn base64_decode(text: &str) -> Vec<u8> {
    fn value(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("invalid base64 byte {c}"),
        }
    }
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let produced = chunk.len() * 3 / 4;
        for i in 0..produced {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let acc = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn json_rows(value: &serde_json::Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .expect("array of rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

/// A JPEG-free deterministic test pattern so tests that do not need ../shared still have images.
pub fn write_pattern_png(path: &Path, width: u32, height: u32, seed: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let v = x
            .wrapping_mul(31)
            .wrapping_add(y.wrapping_mul(17))
            .wrapping_add(seed.wrapping_mul(101));
        image::Rgb([
            (v % 251) as u8,
            ((x * 255) / width.max(1)) as u8,
            ((y * 255) / height.max(1)) as u8,
        ])
    });
    image.save(path).expect("write test PNG");
}

/// Deterministic pseudo-random model inputs in `[-amplitude, amplitude)` (an LCG, so the Rust and
/// Python sides of a parity test see the same tensor without sharing a random generator).
pub fn pseudo_random_pixels(len: usize, seed: u64, amplitude: f32) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * (2.0 * amplitude) - amplitude
        })
        .collect()
}

/// Little-endian f32 bytes, base64: how tensors travel to the Python reference.
pub fn f32_base64(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64_encode(&bytes)
}
