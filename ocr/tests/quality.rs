//! Quality against the ground truth: Magpie's default settings must read at least as many of the
//! test set's words as RapidOCR's settings (`OcrOptions::rapidocr`) on every kind of image, and
//! at least 95 % of the words of the Chromium screenshots (issue 12's target). The figures are
//! printed. Words are scored as `bench/ocr_compare.py` scores them, as multisets of
//! whitespace-separated words with leading and trailing punctuation stripped (here: every
//! character that is neither a letter nor a digit), case kept, of the lines the truth cares about.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{ci_set, engine, rapidocr_engine};
use magpie_ocr::OcrEngine;

fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

fn counts(words: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in words {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

/// (truth words, words read that are in the truth) per kind of image.
fn recall_by_kind(engine: &OcrEngine) -> BTreeMap<String, (usize, usize)> {
    let (dir, truth, _) = ci_set();
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for image in &truth.images {
        let result = engine
            .read_file(&dir.join(&image.file), false)
            .unwrap_or_else(|e| panic!("{}: {e}", image.file));
        let expected = counts(
            image
                .lines
                .iter()
                .filter(|l| l.care)
                .flat_map(|l| words_of(&l.text)),
        );
        let read = counts(result.lines.iter().flat_map(|l| words_of(&l.text)));
        let matched: usize = expected
            .iter()
            .map(|(word, &n)| n.min(read.get(word).copied().unwrap_or(0)))
            .sum();
        let entry = by_kind.entry(image.kind.clone()).or_default();
        entry.0 += expected.values().sum::<usize>();
        entry.1 += matched;
    }
    by_kind
}

#[test]
fn magpie_reads_more_of_the_truth_than_rapidocr_settings() {
    let ours = recall_by_kind(engine());
    let theirs = recall_by_kind(rapidocr_engine());
    let mut failures = Vec::new();
    for (kind, &(words, matched)) in &ours {
        let recall = matched as f64 / words.max(1) as f64;
        let (their_words, their_matched) = theirs[kind];
        let their_recall = their_matched as f64 / their_words.max(1) as f64;
        println!(
            "word recall {kind}: {words} words, Magpie's settings {recall:.3}, RapidOCR's settings {their_recall:.3}"
        );
        assert!(words > 0, "no ground-truth words for {kind}");
        if recall < their_recall {
            failures.push(format!(
                "{kind}: {recall:.3} below RapidOCR's settings ({their_recall:.3})"
            ));
        }
        if kind == "screenshot" && recall < 0.95 {
            failures.push(format!("screenshots: {recall:.3} < 0.95"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
