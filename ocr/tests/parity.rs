//! Parity with RapidOCR: Magpie's engine with RapidOCR's settings (`OcrOptions::rapidocr`) and
//! `rapidocr_onnxruntime` 1.4.4 (same PP-OCRv4 models, its defaults) read the generated test set — synthetic text images (fonts, sizes, colours,
//! backgrounds, pages turned 0/90/180/270) and real Chromium screenshots of the Rust
//! documentation — and at least 95 % of RapidOCR's lines must come back from Magpie with the same
//! text (whitespace normalised) and a box overlapping with IoU ≥ 0.9, in each kind of image.
//! The figures are printed.

mod common;

use common::{agreement, ci_set, rapidocr_engine, Agreement};

#[test]
fn magpie_reads_what_rapidocr_reads() {
    let (dir, truth, reference) = ci_set();
    let engine = rapidocr_engine();
    let mut by_kind: std::collections::BTreeMap<String, Agreement> = Default::default();
    let mut mismatches = Vec::new();
    for image in &truth.images {
        let reference_image = reference
            .iter()
            .find(|r| r.file == image.file)
            .unwrap_or_else(|| panic!("reference.json has no {}", image.file));
        assert!(
            reference_image.error.is_none(),
            "RapidOCR failed on {}: {:?}",
            image.file,
            reference_image.error
        );
        let result = engine
            .read_file(&dir.join(&image.file), false)
            .unwrap_or_else(|e| panic!("{}: {e}", image.file));
        let ours: Vec<(String, Vec<[f64; 2]>)> = result
            .lines
            .iter()
            .map(|l| {
                (
                    l.text.clone(),
                    l.corners
                        .iter()
                        .map(|c| [f64::from(c[0]), f64::from(c[1])])
                        .collect(),
                )
            })
            .collect();
        let theirs: Vec<(String, Vec<[f64; 2]>)> = reference_image
            .lines
            .iter()
            .map(|l| (l.text.clone(), l.corners.clone()))
            .collect();
        let mut notes = Vec::new();
        let found = agreement(&ours, &theirs, &mut notes);
        mismatches.extend(notes.into_iter().map(|n| format!("{}: {n}", image.file)));
        *by_kind.entry(image.kind.clone()).or_default() += found;
    }
    for note in &mismatches {
        println!("  {note}");
    }
    let mut failures = Vec::new();
    for (kind, found) in &by_kind {
        let share = found.both_match as f64 / found.lines.max(1) as f64;
        println!(
            "parity {kind}: {} RapidOCR lines, boxes IoU≥0.9 {} ({:.1} %), same text and box {} ({:.1} %), extra lines of Magpie {}",
            found.lines,
            found.boxes_match,
            100.0 * found.boxes_match as f64 / found.lines.max(1) as f64,
            found.both_match,
            100.0 * share,
            found.extra
        );
        assert!(found.lines > 0, "no RapidOCR lines for {kind}");
        if share < 0.95 {
            failures.push(format!("{kind}: {:.1} % < 95 %", 100.0 * share));
        }
    }
    assert!(failures.is_empty(), "parity below target: {failures:?}");
}
