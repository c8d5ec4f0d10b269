//! Helpers for the end-to-end tests of the `magpie` binary: the generated test models, ONNX
//! Runtime, `../shared`, generated photo folders, and running the binary.
//!
//! Missing generated models or ONNX Runtime are failures with the fix (`scripts/test` creates
//! both); only `../shared` may be absent, and tests that need it skip with a printed message.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.magpie/testdata/models/<name>`; fails the test with the fix when it is missing.
pub fn test_model(name: &str) -> PathBuf {
    magpie_testkit::test_model(name)
}

/// The ONNX Runtime library folder made by `scripts/setup`; fails the test when missing.
pub fn ort_lib() -> PathBuf {
    magpie_testkit::ort_lib()
}

/// `../shared`, or `None` after a visible skip naming `what` needs it.
pub fn shared(what: &str) -> Option<PathBuf> {
    magpie_testkit::shared_for(what)
}

/// The `magpie` binary with a clean environment: no user config, the test ORT, quiet logs.
pub fn magpie(home: &Path) -> Command {
    clean_environment(Command::new(env!("CARGO_BIN_EXE_magpie")), home)
}

/// [`magpie`], run as `nobody` when the suite runs as root, so file permissions apply (hand the
/// test's folders over first: `magpie_testkit::give_to_unprivileged_user`).
pub fn magpie_unprivileged(home: &Path) -> Command {
    clean_environment(
        magpie_testkit::unprivileged(env!("CARGO_BIN_EXE_magpie")),
        home,
    )
}

fn clean_environment(mut cmd: Command, home: &Path) -> Command {
    cmd.env_remove("MAGPIE_LIBRARY")
        .env_remove("MAGPIE_MODEL")
        .env_remove("MAGPIE_CONFIG")
        .env("MAGPIE_ORT_LIB", ort_lib())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("MAGPIE_MODELS", home.join("models"))
        .env("MAGPIE_LOG", "warn");
    cmd
}

/// Runs and returns the output, failing the test with stderr when it did not succeed.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("magpie runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs, expects failure, returns stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().expect("magpie runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout),
    );
    stderr
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A photo of one colour with a little texture (so JPEG has something to encode), `w`×`h`.
pub fn colour_image(rgb: [u8; 3], w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = ((x * 7 + y * 13 + seed * 31) % 9) as i16 - 4;
        Rgb(rgb.map(|c| (i16::from(c) + n).clamp(0, 255) as u8))
    })
}

pub fn save(image: &RgbImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

pub const RED: [u8; 3] = [220, 30, 30];
pub const DARK_RED: [u8; 3] = [90, 8, 8];
pub const BLUE: [u8; 3] = [30, 50, 220];
pub const GREEN: [u8; 3] = [30, 190, 40];
pub const GREY: [u8; 3] = [128, 128, 128];

/// A small photo library: bright red, dark red, blue and green photos in two folders and two
/// formats, plus a grey `IMG_2041.png` that only its name can find.
pub fn colour_library(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut add = |rel: &str, rgb: [u8; 3], w: u32, h: u32, seed: u32| {
        let path = root.join(rel);
        save(&colour_image(rgb, w, h, seed), &path);
        files.push(path);
    };
    for i in 0..6 {
        add(&format!("2023/red_{i}.png"), RED, 64 + i * 8, 48, i);
        add(&format!("2024/blue_{i}.jpg"), BLUE, 48, 64 + i * 8, i);
        add(&format!("2024/green_{i}.png"), GREEN, 64, 64, i);
    }
    for i in 0..3 {
        add(&format!("2023/dark_red_{i}.jpg"), DARK_RED, 80, 60, i);
    }
    add("misc/IMG_2041.png", GREY, 40, 40, 0);
    files
}

/// The first `count` undamaged JPEGs of `../shared/data/photos` (sorted by name), copied into
/// `dir`; returns their new paths.
pub fn copy_real_photos(shared: &Path, dir: &Path, count: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let mut photos: Vec<PathBuf> = std::fs::read_dir(shared.join("data/photos"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .filter(|p| !p.to_string_lossy().contains("corrupted"))
        .collect();
    photos.sort();
    photos
        .into_iter()
        .take(count)
        .map(|p| {
            let to = dir.join(p.file_name().unwrap());
            std::fs::copy(&p, &to).unwrap();
            to
        })
        .collect()
}
