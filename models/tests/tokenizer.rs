//! Tokenizer parity: Magpie's CLIP tokenization against Python `tokenizers` (scripts/reference/
//! tokenize.py), on the real CLIP tokenizer (../shared) and the generated models' tokenizer.

mod common;

use magpie_models::ClipTokenizer;

fn queries() -> Vec<String> {
    let path = common::workspace_root().join("scripts/reference/queries.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut queries: Vec<String> = text.lines().map(str::to_string).collect();
    // Edge cases the file cannot hold or that must always be present.
    queries.extend([
        String::new(),
        "   ".to_string(),
        "\t tabs \t and\nnewlines ".to_string(),
        "word ".repeat(2000),
        "x".repeat(10_000),
        "🐱🐶🏳️‍🌈👨‍👩‍👧".to_string(),
        "東京の夜景 고양이 сибирская кошка القط".to_string(),
    ]);
    queries
}

fn compare_with_reference(
    tokenizer_file: &std::path::Path,
    queries: &[String],
    pad_id: u32,
    eot_id: u32,
) {
    let tokenizer =
        ClipTokenizer::from_file(tokenizer_file, 77, pad_id, eot_id).expect("tokenizer loads");
    let stdin: String = queries
        .iter()
        .map(|q| serde_json::to_string(q).expect("json") + "\n")
        .collect();
    let pad = pad_id.to_string();
    let tokenizer_arg = tokenizer_file.display().to_string();
    let reference = common::reference(
        "tokenize.py",
        &[
            "--tokenizer",
            &tokenizer_arg,
            "--context-length",
            "77",
            "--pad-id",
            &pad,
        ],
        &stdin,
    );
    let rows = reference.as_array().expect("list of rows");
    assert_eq!(rows.len(), queries.len(), "one row per query");
    let mut mismatches = Vec::new();
    for (query, row) in queries.iter().zip(rows) {
        let expected: Vec<u32> = row
            .as_array()
            .expect("row")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        let got = tokenizer.encode(query).expect("tokenizes");
        assert_eq!(got.len(), 77);
        if got != expected {
            mismatches.push(format!(
                "{query:?}\n  magpie: {got:?}\n  python: {expected:?}"
            ));
        }
    }
    println!(
        "{}: {} queries compared, {} mismatches",
        tokenizer_file.display(),
        queries.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "token ids differ from Python tokenizers:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn real_clip_tokenizer_gives_known_ids() {
    let Some(shared) = common::shared("real CLIP tokenizer ids") else {
        return;
    };
    let file = shared.join("models/clip-tokenizer/tokenizer.json");
    let tokenizer = ClipTokenizer::from_file(&file, 77, 49407, 49407).expect("loads");
    let ids = tokenizer.encode("a photo of a cat").expect("encodes");
    let mut expected = vec![49406, 320, 1125, 539, 320, 2368, 49407];
    expected.resize(77, 49407);
    assert_eq!(ids, expected);
    // Whitespace clean-up and lower-casing give the same ids.
    assert_eq!(
        tokenizer
            .encode("  A   Photo of a CAT \n")
            .expect("encodes"),
        expected
    );
}

#[test]
fn real_clip_tokenizer_matches_python_on_queries_and_captions() {
    let Some(shared) = common::shared("tokenizer parity on the real CLIP tokenizer") else {
        return;
    };
    let mut all = queries();
    let captions = shared.join("data/coco-mini/captions.tsv");
    if let Ok(text) = std::fs::read_to_string(&captions) {
        all.extend(
            text.lines()
                .skip(1)
                .filter_map(|line| line.split_once('\t').map(|(_, c)| c.to_string())),
        );
    } else {
        println!(
            "note: {} absent; comparing queries.txt only",
            captions.display()
        );
    }
    compare_with_reference(
        &shared.join("models/clip-tokenizer/tokenizer.json"),
        &all,
        49407,
        49407,
    );
}

#[test]
fn generated_tokenizer_matches_python() {
    let dir = common::test_model("tiny-hf");
    let spec = magpie_models::ModelSpec::load(&dir).expect("tiny-hf loads");
    compare_with_reference(
        &spec.text.tokenizer,
        &queries(),
        spec.text.pad_id,
        spec.text.eot_id,
    );
}

#[test]
fn truncation_keeps_end_of_text_last_and_odd_input_does_not_panic() {
    let spec = magpie_models::ModelSpec::load(&common::test_model("tiny-hf")).expect("loads");
    let tokenizer = ClipTokenizer::for_text_tower(&spec.text).expect("loads");
    let long = tokenizer
        .encode(&"dog ".repeat(500))
        .expect("long text tokenizes");
    assert_eq!(long.len(), 77);
    assert_eq!(
        long[76], spec.text.eot_id,
        "end-of-text must survive truncation"
    );
    assert_ne!(long[75], spec.text.pad_id, "a truncated row has no padding");
    for text in [
        "",
        "x".repeat(10_000).as_str(),
        "🙂🙂🙂",
        "ΑΒΓ кот 猫",
        "\u{0}\u{7}",
    ] {
        let ids = tokenizer.encode(text).expect("odd input still tokenizes");
        assert_eq!(ids.len(), 77);
        assert!(ids.contains(&spec.text.eot_id));
    }
    assert!(
        ClipTokenizer::from_file(&spec.text.tokenizer, 1, 0, 0).is_err(),
        "context length 1 is rejected"
    );
}
