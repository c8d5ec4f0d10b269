//! Replacing a library by one built beside it (`magpie library reembed`): the swap keeps the
//! vectors' quantization, is never without a writer lock, and leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use magpie_catalog::{
    CatalogError, Change, ImageRecord, ModelIdentity, Quantization, Reader, Writer, WriterOptions,
};

fn model(name: &str, dim: usize) -> ModelIdentity {
    ModelIdentity {
        name: name.into(),
        checksum: format!("{name}-checksum"),
        dim,
    }
}

fn record(id: u64, name: &str) -> ImageRecord {
    ImageRecord {
        id,
        path: PathBuf::from(format!("/photos/{name}")),
        size: 1000 + id,
        mtime_ns: 1_600_000_000_000_000_000 + id as i64,
        content_hash: format!("{id:064x}"),
        width: 640,
        height: 480,
        format: "jpeg".into(),
        exif: Default::default(),
        tags: vec![],
        indexed_at: 0,
        text: None,
    }
}

fn axis(dim: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i % dim] = 1.0;
    v
}

/// A library at `dir` with `count` images embedded by `model`.
fn library(dir: &Path, model: &ModelIdentity, quantization: Quantization, count: usize) -> Writer {
    let mut w = Writer::open(dir, model, &WriterOptions { quantization }).unwrap();
    let changes = (0..count)
        .map(|i| {
            let id = w.allocate_id();
            Change::Upsert {
                record: record(id, &format!("{i}.jpg")),
                embedding: axis(model.dim, i),
            }
        })
        .collect();
    w.commit(changes).unwrap();
    w
}

fn is_locked(dir: &Path) -> bool {
    match Writer::open_existing(dir) {
        Err(CatalogError::Locked { .. }) => true,
        Err(other) => panic!("{}: {other}", dir.display()),
        Ok(_) => false,
    }
}

#[test]
fn a_replaced_library_stays_locked_through_the_swap() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("library");
    let staging = root.path().join("library.reembed");
    let old = library(&path, &model("old", 8), Quantization::I8, 5);
    let new = library(&staging, &model("new", 12), Quantization::I8, 3);
    assert!(is_locked(&path) && is_locked(&staging));

    // Another writer trying to open the library all through the swap never gets in.
    let stop = Arc::new(AtomicBool::new(false));
    let got_in = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let intruder = {
        let (stop, got_in, attempts, path) =
            (stop.clone(), got_in.clone(), attempts.clone(), path.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                attempts.fetch_add(1, Ordering::SeqCst);
                if Writer::open_existing(&path).is_ok() {
                    got_in.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    while attempts.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    let swapped = old.replace_with(new).unwrap();
    assert!(
        is_locked(&path),
        "the returned writer holds the library's lock"
    );
    stop.store(true, Ordering::SeqCst);
    intruder.join().unwrap();
    assert_eq!(got_in.load(Ordering::SeqCst), 0, "a writer got in mid-swap");

    // The library is the replacement, i8 as it was built; nothing else is left beside it.
    assert_eq!(swapped.model().name, "new");
    assert_eq!(swapped.quantization(), Quantization::I8);
    let stats = swapped.stats().unwrap();
    assert_eq!((stats.images, stats.vectors), (3, 3));
    assert!(swapped.verify().unwrap().ok);
    let mut left: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["library"],
        "the old library and the staging folder are gone"
    );
    let reader = Reader::open(&path).unwrap();
    assert_eq!(reader.model().name, "new");
    assert_eq!(reader.stats().unwrap().quantization, Quantization::I8);

    // It goes on working as a library: commit through the returned writer, reopen after it.
    let mut swapped = swapped;
    let id = swapped.allocate_id();
    swapped
        .commit(vec![Change::Upsert {
            record: record(id, "after.jpg"),
            embedding: axis(12, 5),
        }])
        .unwrap();
    drop(swapped);
    let reopened = Writer::open_existing(&path).unwrap();
    assert_eq!(reopened.stats().unwrap().images, 4);
    assert!(reopened.verify().unwrap().ok);
}
