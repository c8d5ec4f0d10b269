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
    parse_date, Change, ExifFields, Filters, ImageRecord, ImageText, ModelIdentity, Reader,
    TextLine, Writer, WriterOptions,
};

const DIM: usize = 8;

struct Photo {
    path: &'static str,
    make: &'static str,
    model: &'static str,
    taken: Option<&'static str>,
    /// File modification date (every file has one).
    mtime: &'static str,
    size: (u32, u32),
    tags: &'static [&'static str],
    /// Lines OCR read; `None`: not read yet.
    text: Option<&'static [&'static str]>,
}

const PHOTOS: &[Photo] = &[
    Photo {
        path: "/photos/2023/lisbon/IMG_1.JPG",
        make: "Canon",
        model: "Canon EOS-R5",
        taken: Some("2023-06-15"),
        mtime: "2024-01-01",
        size: (4000, 3000),
        tags: &["Beach"],
        text: Some(&["TOTAL 42.50 EUR", "Merci!"]),
    },
    Photo {
        path: "/photos/2023/lisbon-old/IMG_2.jpeg",
        make: "NIKON CORPORATION",
        model: "NIKON D750",
        taken: None,
        mtime: "2019-03-02",
        size: (3000, 4000),
        tags: &["ÉTÉ", "beach"],
        text: Some(&[]),
    },
    Photo {
        path: "/photos/2023/IMG_3.png",
        make: "",
        model: "",
        taken: None,
        mtime: "2023-12-31",
        size: (500, 500),
        tags: &[],
        text: None,
    },
    Photo {
        path: "/IMG_4.Jpg",
        make: "Apple",
        model: "iPhone 12 Pro",
        taken: Some("2021-02-28"),
        mtime: "2021-03-01",
        size: (4032, 3024),
        tags: &["été"],
        text: Some(&["COMETZEPHYRSPARROW"]),
    },
    Photo {
        path: "/photos/2022/trip/scan.TIFF",
        make: "Canon",
        model: "CanoScan 9000F",
        taken: Some("1999-12-31"),
        mtime: "2022-05-05",
        size: (2000, 2001),
        tags: &["Family", "scan"],
        text: Some(&["Family archive 1999", "startling"]),
    },
];

fn records() -> Vec<ImageRecord> {
    PHOTOS
        .iter()
        .enumerate()
        .map(|(i, p)| ImageRecord {
            id: i as u64 + 1,
            path: PathBuf::from(p.path),
            size: 1000,
            mtime_ns: parse_date(p.mtime, false).unwrap() * 1_000_000_000,
            content_hash: format!("{:064x}", i + 1),
            width: p.size.0,
            height: p.size.1,
            format: "jpeg".into(),
            exif: ExifFields {
                taken_at: p.taken.map(|d| parse_date(d, false).unwrap() + 43_200),
                make: (!p.make.is_empty()).then(|| p.make.to_string()),
                model: (!p.model.is_empty()).then(|| p.model.to_string()),
                ..ExifFields::default()
            },
            tags: p.tags.iter().map(|t| t.to_string()).collect(),
            indexed_at: 0,
            text: p.text.map(|lines| ImageText {
                lines: lines
                    .iter()
                    .map(|l| TextLine {
                        text: l.to_string(),
                        confidence: 0.9,
                        corners: [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]],
                    })
                    .collect(),
                ..ImageText::default()
            }),
        })
        .collect()
}

/// Each filter (as `key=value` pairs) and the ids (1-based, in `PHOTOS` order) it must select.
const CASES: &[(&[&str], &[u64])] = &[
    (&["folder=/photos/2023"], &[1, 2, 3]),
    (&["folder=/photos/2023/lisbon"], &[1]),
    (&["folder=/photos/2023/lis"], &[]),
    (&["folder=/photos/2023/IMG_3.png"], &[]),
    (&["folder=/"], &[1, 2, 3, 4, 5]),
    (&["camera=canon"], &[1, 5]),
    (&["camera=EOS R5"], &[1]),
    (&["camera=eos-r5"], &[1]),
    (&["camera=can"], &[]),
    (&["camera=iphone pro"], &[4]),
    (&["camera=nikon d750"], &[2]),
    (&["type=jpg"], &[1, 4]),
    (&["type=.JPEG"], &[2]),
    (&["type=tiff", "type=png"], &[3, 5]),
    (&["tag=beach"], &[1, 2]),
    (&["tag=été"], &[2, 4]),
    (&["tag=ÉTÉ", "tag=BEACH"], &[2]),
    (&["after=2023-01-01"], &[1, 3]),
    (&["before=2019-03-02"], &[2, 5]),
    (&["after=2019-03-02", "before=2021-12-31"], &[2, 4]),
    (&["min-pixels=4000x3000"], &[1, 2, 4]),
    (&["orientation=portrait"], &[2, 5]),
    (&["orientation=square"], &[3]),
    (&["orientation=landscape", "camera=canon"], &[1]),
    (&["has-text=yes"], &[1, 4, 5]),
    (&["has-text=no"], &[2, 3]),
    (&["text=42.50"], &[1]),
    (&["text=total merci"], &[1]),
    (&["text=TOTAL", "has-text=no"], &[]),
    (&["text=zephyr"], &[4]),
    (&["text=cometzephyrsparrow"], &[4]),
    (&["text=art"], &[]),
    (&["text=archive", "type=tiff"], &[5]),
];

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
