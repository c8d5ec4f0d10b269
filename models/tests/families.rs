//! Every CLIP family in both layouts against the Python reference: the generated test models of
//! SigLIP, SigLIP2, multilingual OpenCLIP (XLM-R), NLLB-CLIP and M-CLIP (plus CLIP) — in the
//! Hugging Face and the Immich layout — must read as their family, tokenize exactly as the
//! `transformers` tokenizer classes do (scripts/reference/tokenize_family.py, ≥ 300 queries per
//! family, non-Latin scripts and emoji included), preprocess images as the reference processors
//! do (scripts/reference/preprocess.py), and embed like Python ONNX Runtime
//! (scripts/reference/embed.py) to cosine ≥ 0.9999, for the fp32, fp16 and int8 exports.
//! Broken model directories must fail with the file and the problem named.

mod common;

use std::path::{Path, PathBuf};

use magpie_models::{
    ClipModel, Family, ImageEncoder, Layout, ModelSpec, TextEncoder, TextTokenizer, Variant,
};
use magpie_testkit as kit;

/// (test model, family, layout).
const FIXTURES: &[(&str, Family, Layout)] = &[
    ("tiny-hf", Family::Clip, Layout::HuggingFace),
    ("tiny-immich", Family::Clip, Layout::Immich),
    ("siglip-hf", Family::Siglip, Layout::HuggingFace),
    ("siglip-immich", Family::Siglip, Layout::Immich),
    ("siglip2-hf", Family::Siglip2, Layout::HuggingFace),
    ("siglip2-immich", Family::Siglip2, Layout::Immich),
    ("xlmr-hf", Family::XlmRoberta, Layout::HuggingFace),
    ("xlmr-immich", Family::XlmRoberta, Layout::Immich),
    ("nllb-hf", Family::Nllb, Layout::HuggingFace),
    ("nllb-immich", Family::Nllb, Layout::Immich),
    ("mclip-hf", Family::Mclip, Layout::HuggingFace),
    ("mclip-immich", Family::Mclip, Layout::Immich),
];

/// Pixel parity bound per value (0–255) on photos: the JPEG decoders differ by ±1 in IDCT
/// rounding and the resize filter is the same Catmull-Rom convolution (see tests/preprocess.rs).
const PIXEL_MAX_ABS: u8 = 2;
/// On the synthetic patterns (pixel-level noise, the worst case for a bicubic's negative lobes)
/// the bound is wider: squashing 97×211 to 96×96, Pillow 13 runs the vertical pass before the
/// horizontal one while Magpie always runs horizontal first, and the intermediate rounding to
/// 8 bits then moves some values by up to 4 levels. The mean stays far below a level; a wrong
/// geometry or filter moves it by several.
const PATTERN_MAX_ABS: u8 = 6;
const PATTERN_MEAN_ABS: f64 = 0.5;
const MIN_COSINE: f64 = 0.9999;

fn runtime() {
    let options = magpie_models::RuntimeOptions {
        explicit: Some(kit::ort_lib()),
        config: None,
    };
    magpie_models::runtime::init(&options).unwrap_or_else(|e| panic!("ONNX Runtime: {e}"));
}

fn cpu() -> magpie_models::SessionConfig {
    magpie_models::SessionConfig {
        device: magpie_models::Device::Cpu,
        intra_op_threads: Some(1),
        tensorrt_cache_dir: None,
    }
}

/// The shared query set plus edge cases a text file cannot hold.
fn queries() -> Vec<String> {
    let path = kit::workspace_root().join("scripts/reference/queries.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut queries: Vec<String> = text.lines().map(str::to_string).collect();
    queries.extend([
        String::new(),
        "   ".to_string(),
        "\t tabs \t and\nnewlines ".to_string(),
        "word ".repeat(300),
        "x".repeat(2_000),
        "🐱🐶🏳️‍🌈👨‍👩‍👧".to_string(),
        "東京の夜景 고양이 сибирская кошка القط".to_string(),
        "</s> <s> <pad> <unk> <eos> <bos> eng_Latn spa_Latn".to_string(),
        "<|startoftext|> <|endoftext|>".to_string(),
    ]);
    assert!(queries.len() >= 300, "{} queries", queries.len());
    queries
}

fn reference_tokens(
    dir: &Path,
    lang: Option<&str>,
    queries: &[String],
) -> (Vec<Vec<u32>>, Vec<usize>, String) {
    let stdin: String = queries
        .iter()
        .map(|q| serde_json::to_string(q).expect("json") + "\n")
        .collect();
    let dir_arg = dir.display().to_string();
    let mut args = vec!["--model-dir", dir_arg.as_str()];
    if let Some(lang) = lang {
        args.extend(["--lang", lang]);
    }
    let out = common::reference("tokenize_family.py", &args, &stdin);
    let rows = out["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_u64().expect("id") as u32)
                .collect()
        })
        .collect();
    let lengths = out["lengths"]
        .as_array()
        .expect("lengths")
        .iter()
        .map(|v| v.as_u64().expect("length") as usize)
        .collect();
    (
        rows,
        lengths,
        out["family"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn every_test_model_reads_as_its_family_and_layout() {
    runtime();
    for (name, family, layout) in FIXTURES {
        let spec =
            ModelSpec::load(&kit::test_model(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((spec.family, spec.layout), (*family, *layout), "{name}");
        let model = ClipModel::open(&spec, &cpu()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ((ids, ids_type), mask) = model.text.inputs();
        println!(
            "{name}: {} {}, tokenizer {}, context {}, image {} {} → {} {}, text {ids} {ids_type}{} → {}, dim {}, trims padding: {}",
            spec.family,
            spec.layout,
            spec.text.tokenizer_kind,
            spec.text.context_length,
            model.image.input().0,
            model.image.input().1,
            model.image.output().0,
            model.image.output().1,
            mask.map(|(m, t)| format!(" + {m} {t}")).unwrap_or_default(),
            model.text.output().0,
            model.dim(),
            model.text.trims_padding(),
        );
        if *layout == Layout::Immich {
            assert_eq!(
                model.image.fixed_batch(),
                if *name == "tiny-immich" {
                    None
                } else {
                    Some(1)
                },
                "{name}: Immich exports fix the batch at 1"
            );
        }
        if matches!(family, Family::Siglip | Family::Siglip2) {
            assert!(
                !model.text.trims_padding(),
                "{name}: SigLIP reads its padding; it must never be trimmed"
            );
        }
        assert_eq!(
            model.text.takes_language(),
            *family == Family::Nllb,
            "{name}"
        );
    }
}

#[test]
fn token_ids_match_the_transformers_tokenizers() {
    let queries = queries();
    let mut report = Vec::new();
    for (name, family, _) in FIXTURES {
        let dir = kit::test_model(name);
        let spec = ModelSpec::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tokenizer = TextTokenizer::for_text_tower(&spec.text).expect("tokenizer");
        let languages: &[Option<&str>] = if *family == Family::Nllb {
            &[None, Some("spa_Latn"), Some("zho_Hans"), Some("hin_Deva")]
        } else {
            &[None]
        };
        for lang in languages {
            let (rows, lengths, ref_family) = reference_tokens(&dir, *lang, &queries);
            assert_eq!(
                ref_family,
                family.name(),
                "{name}: the reference reads the same family"
            );
            let mut mismatches = Vec::new();
            let mut excluded = 0;
            for ((query, expected), expected_len) in queries.iter().zip(&rows).zip(&lengths) {
                // Hugging Face's SentencePiece SiglipTokenizer reads `</s>` / `<unk>` typed in a
                // query as control tokens (and tokenizes the text after them without a word
                // start); Magpie, like open_clip and Immich, canonicalises them as text.
                if *name == "siglip-hf" && (query.contains("</s>") || query.contains("<unk>")) {
                    excluded += 1;
                    continue;
                }
                let row = tokenizer.encode_in(query, *lang).expect("tokenizes");
                if &row.ids != expected || row.len != *expected_len {
                    mismatches.push(format!(
                        "{query:?}\n  magpie: {:?} ({} real)\n  python: {expected:?} ({expected_len} real)",
                        row.ids, row.len
                    ));
                }
            }
            report.push(format!(
                "{name}{}: {} queries, {} mismatches{}",
                lang.map(|l| format!(" --lang {l}")).unwrap_or_default(),
                queries.len() - excluded,
                mismatches.len(),
                if excluded > 0 {
                    format!(" ({excluded} with literal control tokens not compared)")
                } else {
                    String::new()
                }
            ));
            assert!(
                mismatches.is_empty(),
                "{name} {lang:?}: token ids differ from transformers in {} of {} queries:\n{}",
                mismatches.len(),
                queries.len(),
                mismatches
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    println!("{}", report.join("\n"));
}

fn preprocess_config(spec: &ModelSpec) -> PathBuf {
    match spec.layout {
        Layout::HuggingFace => spec.dir.join("preprocessor_config.json"),
        Layout::Immich => spec.dir.join("visual").join("preprocess_cfg.json"),
        Layout::Manifest => spec.dir.join(magpie_models::model_dir::MANIFEST_FILE),
    }
}

/// PNG test patterns of several aspect ratios (always), plus real photos (when ../shared is here).
fn parity_images(temp: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (i, (w, h)) in [(320u32, 240u32), (97, 211), (64, 64), (1000, 300)]
        .into_iter()
        .enumerate()
    {
        let path = temp.join(format!("pattern-{i}.png"));
        common::write_pattern_png(&path, w, h, i as u32);
        files.push(path);
    }
    if let Some(photos) = kit::shared_path_or_skip("data/photos") {
        let mut jpegs: Vec<PathBuf> = std::fs::read_dir(&photos)
            .expect("photos")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
            .filter(|p| !p.to_string_lossy().contains("corrupted"))
            .collect();
        jpegs.sort();
        files.extend(jpegs.into_iter().take(6));
    }
    files
}

#[test]
fn pixels_match_the_reference_image_processors() {
    let temp = tempfile::tempdir().expect("tempdir");
    let images = parity_images(temp.path());
    // One model per distinct preprocessing: SiglipImageProcessor 64, open_clip squash 64, CLIP
    // shortest-side crop 64, SiglipImageProcessor 96 (NLLB's SigLIP-384 stand-in), Immich shortest.
    for name in [
        "siglip-hf",
        "siglip-immich",
        "xlmr-hf",
        "nllb-hf",
        "mclip-immich",
    ] {
        let spec = ModelSpec::load(&kit::test_model(name)).expect("loads");
        let preprocessor = magpie_models::Preprocessor::new(&spec.image.preprocess);
        let config = preprocess_config(&spec).display().to_string();
        let mut args = vec!["--config".to_string(), config];
        args.extend(images.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reference = common::reference("preprocess.py", &args, "");
        let (mut worst, mut worst_pattern) = (0u8, 0u8);
        for (path, entry) in images.iter().zip(reference.as_array().expect("list")) {
            let expected = common::base64_decode(
                entry["pixels_b64"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: {entry}", path.display())),
            );
            let decoded =
                magpie_models::decode_image_file(path, &magpie_models::DecodeOptions::default())
                    .expect("decodes");
            let cropped = preprocessor.resize_and_crop(&decoded.rgb).expect("resizes");
            let ours = cropped.as_raw();
            assert_eq!(
                ours.len(),
                expected.len(),
                "{name} {}: size",
                path.display()
            );
            let max = ours
                .iter()
                .zip(&expected)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            let mean = ours
                .iter()
                .zip(&expected)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / ours.len() as f64;
            let pattern = path.extension().is_some_and(|e| e == "png");
            let bound = if pattern {
                PATTERN_MAX_ABS
            } else {
                PIXEL_MAX_ABS
            };
            assert!(
                max <= bound,
                "{name} {}: pixels differ by {max} (> {bound})",
                path.display()
            );
            assert!(
                mean <= PATTERN_MEAN_ABS,
                "{name} {}: mean pixel difference {mean:.3}",
                path.display()
            );
            if pattern {
                worst_pattern = worst_pattern.max(max);
            } else {
                worst = worst.max(max);
            }
            // The model input is (p/255 − mean)/std of exactly those pixels: SigLIP's 0.5/0.5.
            let tensor = preprocessor.normalize(&cropped);
            let c = &spec.image.preprocess;
            let plane = (c.size * c.size) as usize;
            for (i, value) in tensor.iter().enumerate().step_by(97) {
                let (channel, offset) = (i / plane, i % plane);
                let p = f32::from(ours[offset * 3 + channel]);
                let want = (p * c.rescale_factor - c.mean[channel]) / c.std[channel];
                assert!((value - want).abs() < 1e-5, "{name}: normalisation");
            }
        }
        println!(
            "{name}: {} images, worst pixel difference {worst}/255 on photos, {worst_pattern}/255 on synthetic patterns, vs the reference processor",
            images.len()
        );
    }
}

const TEXTS: &[&str] = &[
    "a photo of a cat",
    "un perro en la playa",
    "",
    "東京の夜景",
    "a very long caption that goes on and on about a dog on a beach at sunset with friends and family and a picnic",
];

fn check_embeddings(name: &str, variant: Variant) -> f64 {
    let dir = kit::test_model(name);
    let spec = ModelSpec::load_variant(&dir, Some(variant))
        .unwrap_or_else(|e| panic!("{name} {variant}: {e}"));
    assert_eq!(spec.variant, variant);
    let model = ClipModel::open(&spec, &cpu()).unwrap_or_else(|e| panic!("{name} {variant}: {e}"));
    let pixels: Vec<Vec<f32>> = (0..3)
        .map(|i| common::pseudo_random_pixels(model.image.input_len(), i, 1.0))
        .collect();
    let rows: Vec<_> = TEXTS
        .iter()
        .map(|t| {
            model
                .text
                .tokenizer()
                .encode_in(t, None)
                .expect("tokenizes")
        })
        .collect();
    let request = serde_json::json!({
        "pixels": pixels.iter().map(|p| common::f32_base64(p)).collect::<Vec<_>>(),
        "ids": rows.iter().map(|r| r.ids.clone()).collect::<Vec<_>>(),
        "lengths": rows.iter().map(|r| r.len).collect::<Vec<_>>(),
    });
    let dir_arg = dir.display().to_string();
    let variant_arg = variant.to_string();
    let response = common::reference(
        "embed.py",
        &["--model-dir", &dir_arg, "--variant", &variant_arg],
        &request.to_string(),
    );
    let slices: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
    let images = model.image.embed_images(&slices).expect("image embeddings");
    let texts = model.text.embed_texts(TEXTS).expect("text embeddings");
    let reference: Vec<Vec<f32>> = common::json_rows(&response["image"])
        .into_iter()
        .chain(common::json_rows(&response["text"]))
        .collect();
    let ours: Vec<&Vec<f32>> = images.iter().chain(&texts).collect();
    assert_eq!(
        ours.len(),
        reference.len(),
        "{name}: one reference row per input"
    );
    let worst = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| common::cosine(a, b))
        .fold(1.0f64, f64::min);
    assert!(
        worst >= MIN_COSINE,
        "{name} {variant}: cosine {worst} < {MIN_COSINE} against Python ONNX Runtime"
    );
    worst
}

#[test]
fn embeddings_match_python_onnxruntime_in_every_family_and_variant() {
    runtime();
    let mut lines = Vec::new();
    for (name, _, _) in FIXTURES {
        lines.push(format!(
            "{name} fp32: worst cosine {:.7}",
            check_embeddings(name, Variant::Fp32)
        ));
    }
    for variant in [Variant::Fp16, Variant::Int8] {
        lines.push(format!(
            "siglip2-hf {variant}: worst cosine {:.7}",
            check_embeddings("siglip2-hf", variant)
        ));
    }
    println!("{}", lines.join("\n"));
}

#[test]
fn fp16_and_int8_towers_stay_close_to_fp32() {
    runtime();
    let dir = kit::test_model("siglip2-hf");
    let open = |v| {
        ClipModel::open(
            &ModelSpec::load_variant(&dir, Some(v)).expect("loads"),
            &cpu(),
        )
        .expect("opens")
    };
    let fp32 = open(Variant::Fp32);
    let pixels: Vec<Vec<f32>> = (10..14)
        .map(|i| common::pseudo_random_pixels(fp32.image.input_len(), i, 1.0))
        .collect();
    let slices: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
    let base_images = fp32.image.embed_images(&slices).expect("fp32");
    let base_texts = fp32.text.embed_texts(TEXTS).expect("fp32");
    for (variant, floor) in [(Variant::Fp16, 0.999), (Variant::Int8, 0.95)] {
        let model = open(variant);
        assert_eq!(
            model.image.input().1,
            if variant == Variant::Fp16 {
                magpie_models::FloatType::Float16
            } else {
                magpie_models::FloatType::Float32
            }
        );
        let images = model.image.embed_images(&slices).expect("images");
        let texts = model.text.embed_texts(TEXTS).expect("texts");
        let worst = images
            .iter()
            .chain(&texts)
            .zip(base_images.iter().chain(&base_texts))
            .map(|(a, b)| common::cosine(a, b))
            .fold(1.0f64, f64::min);
        println!("siglip2-hf {variant} vs fp32: worst cosine {worst:.5}");
        assert!(
            worst >= floor,
            "{variant}: cosine to fp32 {worst} < {floor}"
        );
    }
}

#[test]
fn nllb_queries_carry_their_language() {
    runtime();
    for name in ["nllb-hf", "nllb-immich"] {
        let spec = ModelSpec::load(&kit::test_model(name)).expect("loads");
        assert_eq!(
            spec.text.language.as_deref(),
            Some("eng_Latn"),
            "{name}: the default language"
        );
        let mut encoder = TextEncoder::open(&spec, &cpu()).expect("opens");
        let tokenizer = encoder.tokenizer();
        let english = tokenizer
            .encode_in("a photo of a cat", None)
            .expect("tokenizes");
        let spanish = tokenizer
            .encode_in("a photo of a cat", Some("spa_Latn"))
            .expect("tokenizes");
        assert_eq!(
            english.ids[0],
            tokenizer.encode_in("x", Some("eng_Latn")).unwrap().ids[0],
            "{name}: eng_Latn first by default"
        );
        assert_ne!(
            english.ids[0], spanish.ids[0],
            "{name}: the language token changes"
        );
        assert_eq!(
            english.ids[1..],
            spanish.ids[1..],
            "{name}: only the language token changes"
        );
        assert_eq!(
            encoder.resolve_language("es-MX").as_deref(),
            Some("spa_Latn")
        );
        let default = encoder.embed_texts(&["a photo of a cat"]).expect("embeds");
        encoder.set_language("es").expect("es is known");
        assert_eq!(encoder.language(), Some("spa_Latn"));
        let in_spanish = encoder.embed_texts(&["a photo of a cat"]).expect("embeds");
        assert!(
            common::cosine(&default[0], &in_spanish[0]) < 0.9999,
            "{name}: the language changes the embedding"
        );
        let message = encoder
            .set_language("xx")
            .expect_err("unknown language")
            .to_string();
        assert!(
            message.contains("`xx`") && message.contains("tokenizer.json"),
            "{message}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("lists").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

fn error_of(result: Result<impl std::fmt::Debug, magpie_models::Error>) -> String {
    result.expect_err("must fail").to_string()
}

#[test]
fn bad_model_directories_name_the_file_and_the_problem() {
    runtime();
    let temp = tempfile::tempdir().expect("tempdir");

    // Missing tokenizer.
    let dir = temp.path().join("no-tokenizer");
    copy_dir(&kit::test_model("siglip2-immich"), &dir);
    std::fs::remove_file(dir.join("textual/tokenizer.json")).expect("removes");
    let message = error_of(ModelSpec::load(&dir));
    assert!(
        message.contains("textual/tokenizer.json") && message.contains("missing"),
        "{message}"
    );

    // A tokenizer of the wrong kind: CLIP's BPE in a SigLIP directory.
    let dir = temp.path().join("wrong-tokenizer");
    copy_dir(&kit::test_model("siglip-hf"), &dir);
    std::fs::copy(
        kit::test_model("tiny-hf").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .expect("copies");
    let message = error_of(ModelSpec::load(&dir));
    assert!(
        message.contains("tokenizer.json")
            && message.contains("CLIP byte-level BPE")
            && message.contains("SigLIP")
            && message.contains("config.json"),
        "{message}"
    );
    // … and a tokenizer of the right kind but another vocabulary (XLM-R's in an Immich SigLIP2).
    let dir = temp.path().join("foreign-vocabulary");
    copy_dir(&kit::test_model("siglip2-immich"), &dir);
    std::fs::copy(
        kit::test_model("siglip-immich").join("textual/tokenizer.json"),
        dir.join("textual/tokenizer.json"),
    )
    .expect("copies");
    let message = error_of(ModelSpec::load(&dir));
    assert!(
        message.contains("textual/tokenizer.json") && message.contains("SigLIP2"),
        "{message}"
    );

    // Towers of different dimensions: tiny CLIP's text tower (32-d) beside SigLIP's image tower (48-d).
    let dir = temp.path().join("mixed-towers");
    copy_dir(&kit::test_model("siglip-hf"), &dir);
    std::fs::copy(
        kit::test_model("tiny-hf").join("onnx/text_model.onnx"),
        dir.join("onnx/text_model.onnx"),
    )
    .expect("copies");
    let message = error_of(ClipModel::open_dir(&dir, &cpu()));
    assert!(
        message.contains("disagree")
            && message.contains("vision_model.onnx")
            && message.contains("text_model.onnx")
            && message.contains("48")
            && message.contains("32"),
        "{message}"
    );

    // An fp16 tower declared as float32.
    let spec =
        ModelSpec::load_variant(&kit::test_model("broken-fp16-as-fp32"), Some(Variant::Fp16))
            .expect("reads");
    let message = error_of(ImageEncoder::open(&spec, &cpu()));
    assert!(
        message.contains("vision_model_fp16.onnx") && message.contains("declared element types"),
        "{message}"
    );

    // A truncated ONNX file, image tower and text tower.
    let dir = temp.path().join("truncated");
    copy_dir(&kit::test_model("siglip-immich"), &dir);
    let visual = dir.join("visual/model.onnx");
    let bytes = std::fs::read(&visual).expect("reads");
    std::fs::write(&visual, &bytes[..bytes.len() * 2 / 3]).expect("truncates");
    let spec = ModelSpec::load(&dir).expect("the text side is intact");
    let message = error_of(ImageEncoder::open(&spec, &cpu()));
    assert!(
        message.contains("visual/model.onnx") && message.contains("truncated"),
        "{message}"
    );
    let textual = dir.join("textual/model.onnx");
    let bytes = std::fs::read(&textual).expect("reads");
    std::fs::write(&textual, &bytes[..bytes.len() / 2]).expect("truncates");
    let message = error_of(ModelSpec::load(&dir));
    assert!(
        message.contains("textual/model.onnx") && message.contains("truncated"),
        "{message}"
    );

    // Missing external weights.
    let dir = temp.path().join("no-external-data");
    copy_dir(&kit::test_model("nllb-immich"), &dir);
    std::fs::remove_file(dir.join("visual/model.onnx.data")).expect("removes");
    let spec = ModelSpec::load(&dir).expect("reads");
    let message = error_of(ImageEncoder::open(&spec, &cpu()));
    assert!(message.contains("visual/model.onnx"), "{message}");

    // A variant the directory does not have.
    let message = error_of(ModelSpec::load_variant(
        &kit::test_model("siglip-hf"),
        Some(Variant::Fp16),
    ));
    assert!(
        message.contains("no fp16 towers") && message.contains("fp32"),
        "{message}"
    );
    let message = error_of(ModelSpec::load_variant(
        &kit::test_model("siglip-immich"),
        Some(Variant::Int8),
    ));
    assert!(
        message.contains("Immich") && message.contains("fp32"),
        "{message}"
    );
}
