//! The keyword index and `Filters::matches` make the same decision for every filter.
//!
//! Filters are decided twice: as a tantivy query over a real library (the allowed ids of every
//! search) and over plain records (exact scans, in-memory and remote backends). This test builds
//! a library of deliberately awkward records — punctuation in camera names, upper-case and
//! non-ASCII extensions and tags, undated photos, files in the root, look-alike folder names —
//! and checks, for many filters, that the two give exactly the same set, and that the set is the
//! one a person would expect.

use std::collections::HashSet;
use std::path::PathBuf;

use magpie_catalog::{
    Change, Filters, ImageText, ModelIdentity, Reader, TextLine, Writer, WriterOptions,
};

#[path = "cases/filters.rs"]
mod cases;
use cases::{records, CASES};

const DIM: usize = 8;

#[test]
fn the_keyword_index_and_plain_records_decide_alike() {
    let dir = tempfile::tempdir().unwrap();
    let model = ModelIdentity {
        name: "test".into(),
        checksum: "abc".into(),
        dim: DIM,
    };
    let mut writer = Writer::open(dir.path(), &model, &WriterOptions::default()).unwrap();
    let records = records();
    let changes = records
        .iter()
        .map(|record| {
            assert_eq!(writer.allocate_id(), record.id);
            let mut embedding = vec![0.0; DIM];
            embedding[record.id as usize % DIM] = 1.0;
            Change::Upsert {
                record: record.clone(),
                embedding,
            }
        })
        .collect();
    writer.commit(changes).unwrap();
    let reader = Reader::open(dir.path()).unwrap();
    let snapshot = reader.snapshot();

    for (pairs, expected) in CASES {
        let mut filters = Filters::default();
        for pair in *pairs {
            filters.set_pair(pair).unwrap();
        }
        let expected: HashSet<u64> = expected.iter().copied().collect();
        let by_index = snapshot.filter_ids(&filters).unwrap();
        let by_records: HashSet<u64> = records
            .iter()
            .filter(|r| filters.matches(r))
            .map(|r| r.id)
            .collect();
        assert_eq!(by_index, expected, "keyword index, {pairs:?}");
        assert_eq!(by_records, expected, "Filters::matches, {pairs:?}");
    }
}

/// The image-text search ranks what a person means: a word standing on its own above the same
/// word inside a run-together line, an image holding every word flagged as complete, phrases in
/// order only, and filters applied.
#[test]
fn image_text_search_finds_words_parts_and_phrases() {
    use magpie_catalog::words::TextQuery;
    let dir = tempfile::tempdir().unwrap();
    let model = ModelIdentity {
        name: "test".into(),
        checksum: "abc".into(),
        dim: DIM,
    };
    let mut writer = Writer::open(dir.path(), &model, &WriterOptions::default()).unwrap();
    let mut records = records();
    // A sixth image where "zephyr" stands on its own.
    let mut extra = records[3].clone();
    extra.id = 6;
    extra.path = PathBuf::from("/photos/sign.jpg");
    extra.content_hash = format!("{:064x}", 6);
    extra.text = Some(ImageText {
        lines: vec![TextLine {
            text: "Zephyr Street".into(),
            confidence: 0.9,
            corners: [[0.0; 2]; 4],
        }],
        ..ImageText::default()
    });
    records.push(extra);
    let changes = records
        .iter()
        .map(|record| {
            writer.allocate_id();
            Change::Upsert {
                record: record.clone(),
                embedding: vec![1.0; DIM],
            }
        })
        .collect();
    writer.commit(changes).unwrap();
    let reader = Reader::open(dir.path()).unwrap();
    let snapshot = reader.snapshot();
    let search = |bare: &str, phrases: &[&str], filters: &Filters| {
        let query = TextQuery::new(bare, phrases.iter().map(|p| p.to_string()).collect());
        snapshot.image_text_search(&query, filters, 10).unwrap()
    };
    let none = Filters::default();

    let zephyr = search("zephyr", &[], &none);
    let ids: Vec<u64> = zephyr.iter().map(|h| h.0).collect();
    assert_eq!(ids, [6, 4], "standalone word first, run-together second");
    assert!(zephyr.iter().all(|h| h.2), "both hold every word");

    let total = search("total eur sunset", &[], &none);
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].0, 1);
    assert!(!total[0].2, "'sunset' is not in the image: not complete");

    assert_eq!(search("", &["42.50 EUR"], &none)[0].0, 1);
    assert!(
        search("", &["EUR 42.50"], &none).is_empty(),
        "words out of order"
    );
    assert!(
        search("art", &[], &none).is_empty(),
        "no accidental short substrings"
    );

    let mut tiff = Filters::default();
    tiff.set_pair("type=tiff").unwrap();
    assert!(search("zephyr", &[], &tiff).is_empty());
    assert_eq!(
        snapshot.text_counts(),
        (5, 4),
        "read: all but one; text in four"
    );
}
