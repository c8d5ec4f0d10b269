//! The OCR stage against a fake reader: it reads exactly the unread images, commits their text,
//! keeps an unreadable one's reason (and does not retry it), skips files changed since indexing,
//! and stops cleanly when cancelled with what it committed kept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use magpie_catalog::{
    Change, ExifFields, ImageRecord, ModelIdentity, TextLine, Writer, WriterOptions,
};
use magpie_indexer::text_stage::{read_library_text, TextProgress, TextReader, TextStageOptions};

/// Reads the file's bytes as the text; a file starting with "BAD" cannot be read. Counts calls,
/// and sets `cancel` after `cancel_after` reads when given.
struct FakeReader {
    calls: AtomicUsize,
    cancel_after: Option<(usize, Arc<AtomicBool>)>,
}

impl TextReader for FakeReader {
    fn model_name(&self) -> String {
        "fake".into()
    }

    fn read(&self, path: &Path, bytes: &[u8]) -> Result<(Vec<TextLine>, usize), String> {
        let calls = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, cancel)) = &self.cancel_after {
            if calls >= *after {
                cancel.store(true, Ordering::SeqCst);
            }
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        if text.starts_with("BAD") {
            return Err(format!("{}: not an image", path.display()));
        }
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| TextLine {
                text: l.to_string(),
                confidence: 0.9,
                corners: [[0.0; 2]; 4],
            })
            .collect();
        Ok((lines, 0))
    }
}

fn library(dir: &Path, files: &[(&str, &str)]) -> (Writer, Vec<PathBuf>) {
    let model = ModelIdentity {
        name: "m".into(),
        checksum: "c".into(),
        dim: 4,
    };
    let mut writer = Writer::open(&dir.join("library"), &model, &WriterOptions::default()).unwrap();
    let mut paths = Vec::new();
    let changes = files
        .iter()
        .map(|(name, content)| {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            paths.push(path.clone());
            Change::Upsert {
                record: ImageRecord {
                    id: writer.allocate_id(),
                    path,
                    size: content.len() as u64,
                    mtime_ns: 0,
                    content_hash: blake3::hash(content.as_bytes()).to_hex().to_string(),
                    width: 10,
                    height: 10,
                    format: "png".into(),
                    exif: ExifFields::default(),
                    tags: Vec::new(),
                    indexed_at: 0,
                    text: None,
                },
                embedding: vec![1.0, 0.0, 0.0, 0.0],
            }
        })
        .collect();
    writer.commit(changes).unwrap();
    (writer, paths)
}

fn text_of(writer: &Writer, path: &Path) -> Option<magpie_catalog::ImageText> {
    let id = writer.id_for_path(path).unwrap().unwrap();
    writer.record(id).unwrap().unwrap().text
}

#[test]
fn reads_the_unread_images_once_and_keeps_failures_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut writer, paths) = library(
        tmp.path(),
        &[
            ("a.png", "TOTAL 42.50\nMERCI"),
            ("b.png", ""),
            ("c.png", "BAD bytes"),
            ("d.png", "EXIT"),
        ],
    );
    let reader = FakeReader {
        calls: AtomicUsize::new(0),
        cancel_after: None,
    };
    let progress = Arc::new(TextProgress::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let options = TextStageOptions {
        commit_every: 2,
        ..TextStageOptions::default()
    };
    let summary = read_library_text(&mut writer, &reader, &options, &progress, &cancel).unwrap();
    assert_eq!(summary.to_read, 4);
    assert_eq!(summary.read, 3);
    assert_eq!(summary.with_text, 2);
    assert_eq!(summary.lines, 3);
    assert_eq!(summary.failed, 1);
    assert!(!summary.interrupted);
    assert_eq!(progress.done.load(Ordering::SeqCst), 4);

    let a = text_of(&writer, &paths[0]).unwrap();
    assert_eq!(a.joined(), "TOTAL 42.50\nMERCI");
    assert_eq!(a.model, "fake");
    assert!(text_of(&writer, &paths[1]).unwrap().is_empty());
    let bad = text_of(&writer, &paths[2]).unwrap();
    assert!(bad.lines.is_empty());
    assert!(bad.error.as_deref().unwrap().contains("c.png"), "{bad:?}");
    assert_eq!(writer.text_counts().unwrap(), (4, 2));

    // Nothing is read twice, the failure included.
    let again = read_library_text(&mut writer, &reader, &options, &progress, &cancel).unwrap();
    assert_eq!(again.to_read, 0);
    assert_eq!(reader.calls.load(Ordering::SeqCst), 4);
}

#[test]
fn a_file_changed_since_indexing_is_left_for_the_next_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut writer, paths) = library(tmp.path(), &[("a.png", "ONE"), ("b.png", "TWO")]);
    std::fs::write(&paths[1], "TWO, edited").unwrap();
    let reader = FakeReader {
        calls: AtomicUsize::new(0),
        cancel_after: None,
    };
    let summary = read_library_text(
        &mut writer,
        &reader,
        &TextStageOptions::default(),
        &Arc::new(TextProgress::default()),
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!((summary.read, summary.changed), (1, 1));
    assert!(text_of(&writer, &paths[1]).is_none(), "still unread");
}

#[test]
fn a_cancelled_stage_keeps_what_it_committed_and_the_next_run_reads_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..10)
        .map(|i| (format!("{i}.png"), format!("WORD{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (mut writer, paths) = library(tmp.path(), &refs);
    let cancel = Arc::new(AtomicBool::new(false));
    let reader = FakeReader {
        calls: AtomicUsize::new(0),
        cancel_after: Some((4, cancel.clone())),
    };
    let options = TextStageOptions {
        commit_every: 3,
        ..TextStageOptions::default()
    };
    let progress = Arc::new(TextProgress::default());
    let first = read_library_text(&mut writer, &reader, &options, &progress, &cancel).unwrap();
    assert!(first.interrupted);
    assert_eq!(first.read, 4, "the read in flight is committed too");
    drop(writer);

    // Reopened (as after a restart): the four are there, the rest is read, nothing twice.
    let model = ModelIdentity {
        name: "m".into(),
        checksum: "c".into(),
        dim: 4,
    };
    let mut writer = Writer::open(
        &tmp.path().join("library"),
        &model,
        &WriterOptions::default(),
    )
    .unwrap();
    let reader = FakeReader {
        calls: AtomicUsize::new(0),
        cancel_after: None,
    };
    let second = read_library_text(
        &mut writer,
        &reader,
        &options,
        &progress,
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_eq!(second.to_read, 6);
    for (path, (_, word)) in paths.iter().zip(&files) {
        assert_eq!(text_of(&writer, path).unwrap().joined(), *word);
    }
}
