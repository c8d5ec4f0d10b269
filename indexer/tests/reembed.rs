//! `magpie library reembed` as a library call: the photos of an i8 library embedded again with
//! another model (the real colour and tiny-hf test models on ONNX Runtime), swapped in whole,
//! still i8, tags kept, the writer lock held until the caller lets go; an interrupted re-embed
//! leaves the old library as it was.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use magpie_catalog::{
    CatalogError, Change, ModelIdentity, Quantization, Reader, Writer, WriterOptions,
};
use magpie_indexer::library::{index, IndexOptions};
use magpie_indexer::reembed::{reembed, staging_dir, ReembedError};
use magpie_indexer::{PipelineConfig, Progress};
use magpie_models::{Device, ImageEncoder, ModelSpec, SessionConfig};

fn cpu() -> SessionConfig {
    SessionConfig {
        device: Device::Cpu,
        intra_op_threads: Some(1),
        tensorrt_cache_dir: None,
    }
}

/// The image tower of a generated test model, and its identity.
fn tower(name: &str) -> (Arc<ImageEncoder>, ModelIdentity) {
    magpie_models::runtime::init(&magpie_models::RuntimeOptions {
        explicit: Some(magpie_testkit::ort_lib()),
        config: None,
    })
    .expect("ONNX Runtime starts");
    let spec = ModelSpec::load(&magpie_testkit::test_model(name)).unwrap();
    let encoder = ImageEncoder::open(&spec, &cpu()).unwrap();
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(&spec).unwrap(),
        dim: encoder.dim(),
    };
    (Arc::new(encoder), identity)
}

fn photo(path: &Path, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_fn(40, 30, |x, y| {
        let n = ((x * 7 + y * 13) % 5) as u8;
        image::Rgb(rgb.map(|c| c.saturating_sub(n)))
    })
    .save(path)
    .unwrap();
}

/// Four photos indexed with the colour model into a new i8 library; `red.png` tagged "warm".
fn i8_library(root: &Path) -> (PathBuf, PathBuf) {
    let photos = root.join("photos");
    for (name, rgb) in [
        ("red.png", [220, 30, 30]),
        ("blue.png", [30, 50, 220]),
        ("green.png", [30, 190, 40]),
        ("grey.png", [128, 128, 128]),
    ] {
        photo(&photos.join(name), rgb);
    }
    let library = root.join("library");
    let (encoder, identity) = tower("colour");
    let mut writer = Writer::open(
        &library,
        &identity,
        &WriterOptions {
            quantization: Quantization::I8,
        },
    )
    .unwrap();
    let summary = index(
        std::slice::from_ref(&photos),
        &mut writer,
        encoder,
        &IndexOptions::default(),
        &Arc::new(Progress::new()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!(summary.added, 4, "{summary:?}");
    let id = writer
        .id_for_path(&photos.join("red.png").canonicalize().unwrap())
        .unwrap()
        .expect("red.png is indexed");
    let mut record = writer.record(id).unwrap().unwrap();
    record.tags = vec!["warm".into()];
    writer.commit(vec![Change::UpdateRecord(record)]).unwrap();
    (library, photos)
}

fn tags_by_name(reader: &Reader) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = reader
        .snapshot()
        .all_records()
        .into_iter()
        .map(|r| (r.file_name(), r.tags))
        .collect();
    out.sort();
    out
}

#[test]
fn an_i8_library_is_reembedded_as_i8_and_stays_locked_until_released() {
    let root = tempfile::tempdir().unwrap();
    let (library, photos) = i8_library(root.path());
    std::fs::remove_file(photos.join("grey.png")).unwrap();
    let (encoder, identity) = tower("tiny-hf");
    let done = reembed(
        &library,
        encoder,
        &identity,
        &PipelineConfig::default(),
        &Arc::new(Progress::new()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!(done.summary.added, 3, "{:?}", done.summary);
    assert_eq!(done.vanished, 1, "grey.png is gone");
    assert_eq!(done.writer.model().name, "tiny-hf");
    assert_eq!(
        done.writer.quantization(),
        Quantization::I8,
        "the re-embedded library lost its quantization"
    );
    assert!(
        matches!(
            Writer::open_existing(&library),
            Err(CatalogError::Locked { .. })
        ),
        "the re-embedded library must come back locked"
    );
    assert!(
        !staging_dir(&library).exists(),
        "staging folder left behind"
    );

    // Readers see the new library: new model, i8 vectors, the tag carried over by path.
    let reader = Reader::open(&library).unwrap();
    assert_eq!(reader.model(), &identity);
    let stats = reader.stats().unwrap();
    assert_eq!((stats.images, stats.vectors), (3, 3));
    assert_eq!(stats.quantization, Quantization::I8);
    assert_eq!(
        tags_by_name(&reader),
        [
            ("blue.png".to_string(), vec![]),
            ("green.png".to_string(), vec![]),
            ("red.png".to_string(), vec!["warm".to_string()]),
        ]
    );
    drop(done.writer);
    assert!(
        Writer::open_existing(&library)
            .unwrap()
            .verify()
            .unwrap()
            .ok
    );
}

#[test]
fn an_interrupted_reembed_leaves_the_library_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let (library, _photos) = i8_library(root.path());
    // A leftover of an earlier, killed attempt is cleared rather than reused.
    std::fs::create_dir_all(staging_dir(&library).join("db")).unwrap();
    let (encoder, identity) = tower("tiny-hf");
    let before = Reader::open(&library).unwrap().stats().unwrap();
    let err = reembed(
        &library,
        encoder,
        &identity,
        &PipelineConfig::default(),
        &Arc::new(Progress::new()),
        &Arc::new(AtomicBool::new(true)),
    )
    .err()
    .expect("a cancelled re-embed fails");
    assert!(matches!(err, ReembedError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("unchanged"), "{err}");
    assert!(
        !staging_dir(&library).exists(),
        "staging folder left behind"
    );
    let writer = Writer::open_existing(&library).expect("the lock was released");
    assert_eq!(writer.model().name, "colour");
    let after = writer.stats().unwrap();
    assert_eq!(
        (after.images, after.generation, after.quantization),
        (before.images, before.generation, before.quantization)
    );
}
