//! The awkward records and the filter cases that every decider of `Filters` is held to: the
//! keyword index and `Filters::matches` (`catalog/tests/filters_agree.rs`) and the Milvus
//! expressions (`milvus/tests/filters_agree.rs`). Included by path, so there is one list.
#![allow(dead_code)] // each including test uses a part

use std::path::PathBuf;

use magpie_catalog::{parse_date, ExifFields, ImageRecord, ImageText, TextLine};

pub struct Photo {
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

pub const PHOTOS: &[Photo] = &[
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

pub fn records() -> Vec<ImageRecord> {
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
pub const CASES: &[(&[&str], &[u64])] = &[
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
