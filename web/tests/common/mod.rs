//! A real library for the web tests: coloured PNGs indexed with the hand-built colour model
//! (`scripts/testmodels/make_test_models.py`) on ONNX Runtime, opened with `LibrarySearch`.
//!
//! The colour model and ONNX Runtime are what `scripts/test` provides, so a missing one fails
//! the test with the fix (never a silent pass).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use magpie_catalog::{ModelIdentity, Writer, WriterOptions};
use magpie_indexer::library::{index, IndexOptions};
use magpie_indexer::Progress;
use magpie_models::{Device, ImageEncoder, ModelSpec, SessionConfig};
use magpie_searcher::{LibrarySearch, SearcherConfig};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("web/ has a parent")
        .to_path_buf()
}

pub fn cpu() -> SessionConfig {
    SessionConfig {
        device: Device::Cpu,
        intra_op_threads: Some(1),
        tensorrt_cache_dir: None,
    }
}

/// The colour model's directory with ONNX Runtime started; fails the test with the fix when
/// either is missing.
pub fn colour_model() -> ModelSpec {
    let dir = magpie_testkit::test_model("colour");
    let options = magpie_models::RuntimeOptions {
        explicit: Some(magpie_testkit::ort_lib()),
        config: None,
    };
    if let Err(e) = magpie_models::runtime::init(&options) {
        panic!("ONNX Runtime does not start: {e} (scripts/test sets it up)");
    }
    ModelSpec::load(&dir).expect("the colour model loads")
}

/// The colours of the test photos: folder name, RGB, how many.
pub const PHOTOS: [(&str, [u8; 3], usize); 4] = [
    ("red", [220, 30, 35], 6),
    ("blue", [30, 60, 220], 4),
    ("green", [40, 190, 50], 4),
    ("yellow", [235, 215, 40], 2),
];

/// A hostile file name that must come back as plain JSON text.
pub const HOSTILE_NAME: &str = "<b>bold & <img src=x onerror=\"alert(1)\">.png";

pub fn solid_png(path: &Path, width: u32, height: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(width, height, |x, y| {
        // A faint texture so no two files have the same content hash.
        let jitter = ((x * 7 + y * 13) % 5) as u8;
        image::Rgb([
            rgb[0].saturating_sub(jitter),
            rgb[1].saturating_sub(jitter),
            rgb[2].saturating_sub(jitter),
        ])
    })
    .save_with_format(path, image::ImageFormat::Png)
    .unwrap();
}

/// Writes the test photos under `photos/` (e.g. `photos/red/red-0.png`), sizes varying.
pub fn write_photos(photos: &Path) {
    for (colour, rgb, count) in PHOTOS {
        for i in 0..count {
            let (w, h) = if i % 2 == 0 {
                (48 + i as u32, 32)
            } else {
                (32, 48 + i as u32)
            };
            solid_png(
                &photos.join(colour).join(format!("{colour}-{i}.png")),
                w,
                h,
                rgb,
            );
        }
    }
    solid_png(
        &photos.join("red").join(HOSTILE_NAME),
        40,
        40,
        [200, 20, 30],
    );
}

/// Indexes `photos` into the library `dir` with `spec`.
pub fn index_photos(dir: &Path, photos: &Path, spec: &ModelSpec) {
    let encoder = Arc::new(ImageEncoder::open(spec, &cpu()).unwrap());
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(spec).unwrap(),
        dim: encoder.dim(),
    };
    let mut writer = Writer::open(dir, &identity, &WriterOptions::default()).unwrap();
    let summary = index(
        &[photos.to_path_buf()],
        &mut writer,
        encoder,
        &IndexOptions::default(),
        &Arc::new(Progress::new()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    println!("indexed: {summary:?}");
}

pub struct Fixture {
    pub root: PathBuf,
    pub photos: PathBuf,
    /// The library's directory, and the model it was indexed with (to index into it again).
    pub library_dir: PathBuf,
    pub spec: ModelSpec,
    pub library: Arc<LibrarySearch>,
}

/// Where test libraries go: Cargo's target tmp dir for tests (so nothing is left in /tmp), the
/// system temp dir for examples.
pub fn scratch_dir(name: &str) -> PathBuf {
    option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(name)
}

/// One library for all tests of a binary (indexing and model loading cost seconds).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| new_fixture("magpie-web-api"))
}

/// A fresh library of the test photos under `scratch_dir(name)`, indexed with the colour model.
pub fn new_fixture(name: &str) -> Fixture {
    let spec = colour_model();
    let root = scratch_dir(name);
    let _ = std::fs::remove_dir_all(&root);
    let photos = root.join("photos");
    let library_dir = root.join("library");
    write_photos(&photos);
    index_photos(&library_dir, &photos, &spec);
    let search =
        LibrarySearch::open(&library_dir, &spec, &cpu(), SearcherConfig::default()).unwrap();
    Fixture {
        root,
        photos,
        library_dir,
        spec,
        library: Arc::new(search),
    }
}
