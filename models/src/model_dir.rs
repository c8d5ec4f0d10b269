//! Model directories: the three on-disk layouts Magpie understands, normalised into one
//! [`ModelSpec`].
//!
//! CLIP models reach users in different shapes: Hugging Face / Xenova exports (`onnx/*.onnx` +
//! `preprocessor_config.json` + `tokenizer.json`), Immich's (`visual/` + `textual/`), and Magpie's
//! own `magpie-model.toml` manifest for anything else. The encoders should not care which: this
//! module reads whichever is present (an explicit manifest wins) into a single description of both
//! towers. Loading checks what can be checked without ONNX Runtime (files exist, configs parse,
//! values are sane); the encoders then check the ONNX inputs/outputs and dimensions against the
//! real sessions.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::family::{Family, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

/// File name of Magpie's explicit model manifest.
pub const MANIFEST_FILE: &str = "magpie-model.toml";

/// The values CLIP was trained with; used when a config does not say. Written with the digits
/// OpenAI published (more than f32 holds) so they match the configs character for character.
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// See [`OPENAI_CLIP_MEAN`].
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Which layout a model directory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Hugging Face / Xenova (`onnx/vision_model.onnx`, `onnx/text_model.onnx`).
    HuggingFace,
    /// Immich (`visual/model.onnx`, `textual/model.onnx`).
    Immich,
    /// Magpie's `magpie-model.toml`.
    Manifest,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::HuggingFace => "hugging-face",
            Layout::Immich => "immich",
            Layout::Manifest => "magpie-manifest",
        })
    }
}

/// How the image is brought to the model's square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Shortest side to the target size, then centre crop (CLIP's own preprocessing).
    Shortest,
    /// Both sides to the target size, ignoring the aspect ratio.
    Squash,
}

/// Resampling filter (PIL's definitions, which CLIP's reference preprocessing uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    Bicubic,
    Bilinear,
}

/// Integer type of the text tower's token ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdsType {
    Int64,
    Int32,
}

/// Image preprocessing, in `CLIPImageProcessor` terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    /// Side of the square model input (the crop size).
    pub size: u32,
    /// Target of the shortest side before cropping (`size.shortest_edge`; usually = `size`).
    pub resize_shortest_edge: u32,
    pub resize: ResizeMode,
    pub interpolation: Interpolation,
    /// Multiplier applied to 0–255 values before normalising (1/255).
    pub rescale_factor: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ImageConfig {
    /// Reads a Hugging Face `preprocessor_config.json` (`CLIPImageProcessor`); `vision_size` is
    /// the model's `vision_config.image_size`, used when the file gives no crop size.
    pub fn from_hf_preprocessor_config(path: &Path, vision_size: Option<u64>) -> Result<Self> {
        let preprocessor_path = path;
        let preprocessor = read_json(preprocessor_path)?;

        let size_value = |key: &str| -> Option<u64> {
            match preprocessor.get(key) {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::Object(o)) => o
                    .get("shortest_edge")
                    .or_else(|| o.get("height"))
                    .and_then(Value::as_u64),
                _ => None,
            }
        };
        let do_center_crop = preprocessor
            .get("do_center_crop")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let resize = match preprocessor.get("size") {
            Some(Value::Object(o))
                if o.contains_key("height") && !o.contains_key("shortest_edge") =>
            {
                if o.get("height") != o.get("width") && o.contains_key("width") {
                    return Err(Error::model_dir(
                        preprocessor_path,
                        "a non-square `size` is not supported",
                    ));
                }
                ResizeMode::Squash
            }
            _ if !do_center_crop => ResizeMode::Squash,
            _ => ResizeMode::Shortest,
        };
        // A squashing processor (SiglipImageProcessor) has no crop: its `size` is the input.
        let crop = match (size_value("crop_size"), resize) {
            (Some(crop), _) => crop,
            (None, ResizeMode::Squash) => size_value("size").or(vision_size).unwrap_or(224),
            (None, ResizeMode::Shortest) => vision_size.unwrap_or(224),
        };
        let shortest = size_value("size").unwrap_or(crop);
        let interpolation = match preprocessor.get("resample").and_then(Value::as_u64) {
            None | Some(3) => Interpolation::Bicubic,
            Some(2) => Interpolation::Bilinear,
            Some(other) => {
                return Err(Error::model_dir(
                    preprocessor_path,
                    format!("resample = {other} is not supported (2 = bilinear, 3 = bicubic)"),
                ))
            }
        };
        let rescale_factor = if preprocessor
            .get("do_rescale")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            preprocessor
                .get("rescale_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0 / 255.0) as f32
        } else {
            1.0
        };
        let do_normalize = preprocessor
            .get("do_normalize")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let (mean, std) = if do_normalize {
            (
                json_triplet(
                    preprocessor.get("image_mean"),
                    preprocessor_path,
                    "image_mean",
                )?
                .unwrap_or(OPENAI_CLIP_MEAN),
                json_triplet(
                    preprocessor.get("image_std"),
                    preprocessor_path,
                    "image_std",
                )?
                .unwrap_or(OPENAI_CLIP_STD),
            )
        } else {
            ([0.0; 3], [1.0; 3])
        };
        let image_size = u32::try_from(crop)
            .map_err(|_| Error::model_dir(preprocessor_path, "crop size too large"))?;
        let resize_shortest_edge = u32::try_from(shortest)
            .map_err(|_| Error::model_dir(preprocessor_path, "size too large"))?;
        Ok(ImageConfig {
            size: image_size,
            resize_shortest_edge,
            resize,
            interpolation,
            rescale_factor,
            mean,
            std,
        })
    }
}

/// Which export of the same weights a directory's towers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// float32 weights, inputs and outputs (`vision_model.onnx`, Immich's `model.onnx`).
    Fp32,
    /// float16 weights, inputs and outputs (`vision_model_fp16.onnx`).
    Fp16,
    /// int8 weights from dynamic quantisation, float32 inputs and outputs
    /// (`vision_model_quantized.onnx`, `_int8`, `_uint8`).
    Int8,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Fp32, Variant::Fp16, Variant::Int8];

    /// The suffixes Hugging Face exports give a tower's file name for this variant, preferred
    /// first (`vision_model{suffix}.onnx`).
    pub fn hf_suffixes(self) -> &'static [&'static str] {
        match self {
            Variant::Fp32 => &[""],
            Variant::Fp16 => &["_fp16"],
            Variant::Int8 => &["_quantized", "_int8", "_uint8"],
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Fp32 => "fp32",
            Variant::Fp16 => "fp16",
            Variant::Int8 => "int8",
        })
    }
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Variant::Fp32),
            "fp16" | "float16" => Ok(Variant::Fp16),
            "int8" | "quantized" | "q8" => Ok(Variant::Int8),
            other => Err(format!(
                "unknown variant `{other}`: expected fp32, fp16 or int8"
            )),
        }
    }
}

/// The image tower.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTowerSpec {
    pub file: PathBuf,
    /// The pixel input; `None`: the graph's one image-shaped float input.
    pub input: Option<String>,
    /// The embedding output; `None`: chosen from the graph's outputs by name.
    pub output: Option<String>,
    pub preprocess: ImageConfig,
}

/// The text tower.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTowerSpec {
    pub file: PathBuf,
    pub tokenizer: PathBuf,
    pub tokenizer_kind: TokenizerKind,
    /// The token-id input; `None`: found in the graph (`input_ids`, `text`, …).
    pub input_ids: Option<String>,
    /// The id type a manifest declares (checked against the graph); detected layouts use the
    /// graph's.
    pub ids_type: Option<IdsType>,
    /// An attention-mask input a manifest requires; detected layouts use the graph's
    /// `attention_mask` when it has one.
    pub attention_mask: Option<String>,
    /// The embedding output; `None`: chosen from the graph's outputs by name.
    pub output: Option<String>,
    pub context_length: usize,
    pub pad_id: u32,
    pub eot_id: u32,
    pub clean: TextClean,
    pub padding: PaddingRule,
    /// The language a query gets when it names none (NLLB); `None`: the model takes no language.
    pub language: Option<String>,
}

/// Everything Magpie needs to know about a CLIP-family model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub dir: PathBuf,
    pub name: String,
    pub layout: Layout,
    pub family: Family,
    pub variant: Variant,
    pub image: ImageTowerSpec,
    pub text: TextTowerSpec,
    /// The embedding dimension the configuration declares, if it does (checked against the
    /// ONNX outputs when the towers are opened).
    pub declared_dim: Option<usize>,
    /// How a cosine becomes a zero-shot tag probability.
    pub similarity: Similarity,
}

impl ModelSpec {
    /// Reads a model directory in any supported layout; of several variants in one directory,
    /// the one `models pull` recorded, else fp32, else fp16, else int8.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_variant(dir, None)
    }

    /// Reads a model directory, using the towers of `variant` when given.
    pub fn load_variant(dir: &Path, variant: Option<Variant>) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::model_dir(dir, "not a directory"));
        }
        let spec = if dir.join(MANIFEST_FILE).is_file() {
            if variant.is_some_and(|v| v != Variant::Fp32) {
                return Err(Error::model_dir(
                    dir.join(MANIFEST_FILE),
                    "a manifest names its tower files itself; --variant does not apply",
                ));
            }
            load_manifest(dir)?
        } else if let Some(spec) = load_huggingface(dir, variant)? {
            spec
        } else if dir.join("visual").is_dir() || dir.join("textual").is_dir() {
            load_immich(dir, variant)?
        } else {
            return Err(Error::model_dir(
                dir,
                "not a CLIP model directory: expected magpie-model.toml, onnx/vision_model.onnx + \
                 onnx/text_model.onnx (Hugging Face), or visual/ + textual/ (Immich)",
            ));
        };
        for file in [&spec.image.file, &spec.text.file, &spec.text.tokenizer] {
            require_file(file)?;
        }
        tracing::debug!(dir = %dir.display(), layout = %spec.layout, family = %spec.family, variant = %spec.variant, "model directory read");
        Ok(spec)
    }

    /// The ONNX files of both towers, plus the external-data files their graphs name (or, when a
    /// graph cannot be read, the `_data` / `.data` files beside it).
    pub fn weight_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for tower in [&self.image.file, &self.text.file] {
            files.push(tower.clone());
            match crate::onnx_file::external_data_paths(tower) {
                Ok(external) => files.extend(external.into_iter().filter(|p| p.is_file())),
                Err(_) => {
                    for suffix in ["_data", ".data"] {
                        let mut name = tower.as_os_str().to_owned();
                        name.push(suffix);
                        let external = PathBuf::from(name);
                        if external.is_file() {
                            files.push(external);
                        }
                    }
                }
            }
        }
        files
    }
}

fn require_file(path: &Path) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(Error::model_dir(path, "file missing"))
    }
}

fn dir_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::model_dir(path, format!("not valid JSON: {e}")))
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

fn json_u64(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

fn json_triplet(value: Option<&Value>, path: &Path, key: &str) -> Result<Option<[f32; 3]>> {
    let Some(value) = value else { return Ok(None) };
    let numbers: Option<Vec<f32>> = match value {
        Value::Array(items) => items.iter().map(|v| v.as_f64().map(|f| f as f32)).collect(),
        Value::Number(n) => n.as_f64().map(|f| vec![f as f32; 3]),
        _ => None,
    };
    match numbers.as_deref() {
        Some([a, b, c]) => Ok(Some([*a, *b, *c])),
        _ => Err(Error::model_dir(
            path,
            format!("`{key}` must be three numbers"),
        )),
    }
}

/// A tokenizer file, read once, and what it is.
struct LoadedTokenizer {
    path: PathBuf,
    tokenizer: tokenizers::Tokenizer,
    kind: TokenizerKind,
}

impl LoadedTokenizer {
    fn read(path: PathBuf) -> Result<Self> {
        require_file(&path).map_err(|_| Error::Tokenizer {
            path: path.clone(),
            reason: "file missing (the text tower cannot run without its tokenizer)".to_string(),
        })?;
        let tokenizer = crate::tokenize::load_tokenizer_file(&path)?;
        let kind = TokenizerKind::detect(&tokenizer).map_err(|what| Error::Tokenizer {
            path: path.clone(),
            reason: format!("{what}: not a tokenizer of any CLIP family Magpie knows"),
        })?;
        Ok(Self {
            path,
            tokenizer,
            kind,
        })
    }

    /// The pad and end-of-text ids, from the tokenizer itself: configs disagree (HF's
    /// `config.json` for openai/clip says pad=1, eos=2, while the tokenizer pads with 49407), and
    /// the tokenizer is what the model was trained with. The token *names* come from
    /// `tokenizer_config.json` / `special_tokens_map.json`, else the family's defaults.
    fn special_ids(&self, token_configs: &[PathBuf], family: Family) -> Result<(u32, u32)> {
        let mut pad_token: Option<String> = None;
        let mut eos_token: Option<String> = None;
        for config in token_configs {
            if let Some(json) = read_json_if_present(config)? {
                let token_text = |key: &str| match json.get(key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Object(o)) => {
                        o.get("content").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                pad_token = pad_token.or_else(|| token_text("pad_token"));
                eos_token = eos_token.or_else(|| token_text("eos_token"));
            }
        }
        let rules = family.rules();
        let eos_token = eos_token.unwrap_or_else(|| rules.default_eos.to_string());
        let id_of = |token: &str, role: &str| {
            self.tokenizer
                .token_to_id(token)
                .ok_or_else(|| Error::Tokenizer {
                    path: self.path.clone(),
                    reason: format!("{role} token `{token}` is not in the vocabulary"),
                })
        };
        let eot_id = id_of(&eos_token, "end-of-text")?;
        let pad_id = match pad_token {
            Some(token) => id_of(&token, "pad")?,
            None if rules.default_pad == rules.default_eos => eot_id,
            None => id_of(rules.default_pad, "pad")?,
        };
        Ok((pad_id, eot_id))
    }

    /// A config's vocabulary size must hold every id the tokenizer makes: a tokenizer of another
    /// model would otherwise index past the embedding table, or silently into the wrong rows.
    fn check_vocab(&self, declared: Option<u64>, config: &Path) -> Result<()> {
        let Some(declared) = declared else {
            return Ok(());
        };
        let size = self.tokenizer.get_vocab_size(true) as u64;
        if size > declared {
            return Err(Error::Tokenizer {
                path: self.path.clone(),
                reason: format!(
                    "the tokenizer has {size} tokens but {} declares a vocabulary of {declared}: it belongs to another model",
                    config.display()
                ),
            });
        }
        Ok(())
    }
}

/// The text tower's declared inputs (names only), read without ONNX Runtime.
fn declared_inputs(text_file: &Path) -> Result<Vec<String>> {
    Ok(crate::onnx_file::read_summary(text_file)?
        .inputs
        .into_iter()
        .map(|v| v.name)
        .collect())
}

/// The variant `models pull` recorded for a directory, if any.
fn recorded_variant(dir: &Path) -> Option<Variant> {
    let text = std::fs::read_to_string(dir.join(crate::store::SOURCE_FILE)).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    value.get("variant")?.as_str()?.parse().ok()
}

fn default_language(family: Family) -> Option<String> {
    family
        .rules()
        .needs_language
        .then(|| crate::family::nllb::DEFAULT_LANGUAGE.to_string())
}

fn load_huggingface(dir: &Path, variant: Option<Variant>) -> Result<Option<ModelSpec>> {
    // Xenova and onnx-community put the towers under onnx/; some exports keep them beside the
    // configs.
    let tower = |name: &str, variant: Variant| -> Option<PathBuf> {
        variant.hf_suffixes().iter().find_map(|suffix| {
            let file = format!("{name}{suffix}.onnx");
            [dir.join("onnx").join(&file), dir.join(&file)]
                .into_iter()
                .find(|p| p.is_file())
        })
    };
    let pair = |v: Variant| Some((tower("vision_model", v)?, tower("text_model", v)?, v));
    let found = match variant.or_else(|| recorded_variant(dir)) {
        Some(wanted) => match pair(wanted) {
            Some(found) => Some(found),
            None => {
                let present: Vec<String> = Variant::ALL
                    .into_iter()
                    .filter(|v| pair(*v).is_some())
                    .map(|v| v.to_string())
                    .collect();
                if present.is_empty() {
                    None
                } else {
                    return Err(Error::model_dir(
                        dir,
                        format!(
                            "no {wanted} towers here (onnx/vision_model{}.onnx + onnx/text_model{}.onnx); it has: {}",
                            wanted.hf_suffixes()[0],
                            wanted.hf_suffixes()[0],
                            present.join(", ")
                        ),
                    ));
                }
            }
        },
        None => Variant::ALL.into_iter().find_map(pair),
    };
    let Some((vision, text, variant)) = found else {
        return Ok(None);
    };
    let config_path = dir.join("config.json");
    let config = read_json_if_present(&config_path)?.unwrap_or(Value::Null);
    let preprocessor_path = dir.join("preprocessor_config.json");
    let vision_size = json_u64(config.pointer("/vision_config/image_size"));
    let preprocess = ImageConfig::from_hf_preprocessor_config(&preprocessor_path, vision_size)?;

    let tokenizer = LoadedTokenizer::read(dir.join("tokenizer.json"))?;
    let tokenizer_class = read_json_if_present(&dir.join("tokenizer_config.json"))?.and_then(|c| {
        c.get("tokenizer_class")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let family = crate::family::detect_huggingface(
        &config,
        tokenizer_class.as_deref(),
        tokenizer.kind,
        &config_path,
        &tokenizer.path,
    )?;
    let rules = family.rules();
    tokenizer.check_vocab(
        json_u64(config.pointer("/text_config/vocab_size")),
        &config_path,
    )?;
    let (pad_id, eot_id) = tokenizer.special_ids(
        &[
            dir.join("tokenizer_config.json"),
            dir.join("special_tokens_map.json"),
        ],
        family,
    )?;
    let positions = rules
        .context_is_position_count
        .then(|| json_u64(config.pointer("/text_config/max_position_embeddings")))
        .flatten();
    let context_length = json_u64(config.pointer("/text_config/context_length"))
        .or(positions)
        .or_else(|| json_u64(config.get("context_length")))
        .map_or(rules.default_context, |n| n as usize);
    let declared_dim = json_u64(config.get("projection_dim"))
        .or_else(|| json_u64(config.get("numDims")))
        .map(|d| d as usize);

    Ok(Some(ModelSpec {
        dir: dir.to_path_buf(),
        name: dir_name(dir),
        layout: Layout::HuggingFace,
        family,
        variant,
        image: ImageTowerSpec {
            file: vision,
            input: None,
            output: None,
            preprocess,
        },
        text: TextTowerSpec {
            file: text,
            tokenizer: tokenizer.path.clone(),
            tokenizer_kind: tokenizer.kind,
            input_ids: None,
            ids_type: None,
            attention_mask: None,
            output: None,
            context_length,
            pad_id,
            eot_id,
            clean: rules.hf_clean,
            padding: rules.padding,
            language: default_language(family),
        },
        declared_dim,
        similarity: rules.similarity,
    }))
}

/// Immich's `text_cfg.tokenizer_kwargs.clean` (open_clip's clean functions).
fn immich_clean(config: &Value, config_path: &Path) -> Result<TextClean> {
    match config
        .pointer("/text_cfg/tokenizer_kwargs/clean")
        .and_then(Value::as_str)
    {
        None | Some("whitespace") => Ok(TextClean::Whitespace),
        Some("canonicalize") => Ok(TextClean::Canonicalize),
        Some("lower") => Ok(TextClean::Lowercase),
        Some(other) => Err(Error::model_dir(
            config_path,
            format!("text_cfg.tokenizer_kwargs.clean = `{other}` is not supported (whitespace, lower, canonicalize)"),
        )),
    }
}

fn load_immich(dir: &Path, variant: Option<Variant>) -> Result<ModelSpec> {
    if let Some(v) = variant.filter(|v| *v != Variant::Fp32) {
        return Err(Error::model_dir(
            dir,
            format!(
                "Immich exports have fp32 ONNX towers only (their fp16 files are ARM NN), not {v}"
            ),
        ));
    }
    let visual = dir.join("visual");
    let textual = dir.join("textual");
    let image_file = visual.join("model.onnx");
    let text_file = textual.join("model.onnx");
    require_file(&image_file)?;
    require_file(&text_file)?;
    let config_path = dir.join("config.json");
    let config = read_json_if_present(&config_path)?.unwrap_or(Value::Null);
    let preprocess_path = visual.join("preprocess_cfg.json");
    let preprocess = read_json(&preprocess_path)?;

    let config_size = json_u64(config.pointer("/vision_cfg/image_size"));
    let size = match preprocess.get("size") {
        Some(Value::Array(items)) => items.first().and_then(Value::as_u64),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .or(config_size)
    .ok_or_else(|| Error::model_dir(&preprocess_path, "no image `size`"))?;
    if let Some(Value::Array(items)) = preprocess.get("size") {
        if items.len() == 2 && items[0] != items[1] {
            return Err(Error::model_dir(
                &preprocess_path,
                "non-square `size` is not supported",
            ));
        }
    }
    if let Some(mode) = preprocess.get("mode").and_then(Value::as_str) {
        if mode != "RGB" {
            return Err(Error::model_dir(
                &preprocess_path,
                format!("mode `{mode}` is not supported (only RGB)"),
            ));
        }
    }
    let resize = match preprocess.get("resize_mode").and_then(Value::as_str) {
        None | Some("shortest") => ResizeMode::Shortest,
        Some("squash") => ResizeMode::Squash,
        Some(other) => {
            return Err(Error::model_dir(
                &preprocess_path,
                format!("resize_mode `{other}` is not supported (shortest, squash)"),
            ))
        }
    };
    let interpolation = match preprocess.get("interpolation").and_then(Value::as_str) {
        None | Some("bicubic") => Interpolation::Bicubic,
        Some("bilinear") => Interpolation::Bilinear,
        Some(other) => {
            return Err(Error::model_dir(
                &preprocess_path,
                format!("interpolation `{other}` is not supported (bicubic, bilinear)"),
            ))
        }
    };
    let mean =
        json_triplet(preprocess.get("mean"), &preprocess_path, "mean")?.unwrap_or(OPENAI_CLIP_MEAN);
    let std =
        json_triplet(preprocess.get("std"), &preprocess_path, "std")?.unwrap_or(OPENAI_CLIP_STD);
    let size =
        u32::try_from(size).map_err(|_| Error::model_dir(&preprocess_path, "size too large"))?;

    let tokenizer = LoadedTokenizer::read(textual.join("tokenizer.json"))?;
    let text_inputs = declared_inputs(&text_file)?;
    let family = crate::family::detect_immich(
        &config,
        tokenizer.kind,
        &text_inputs,
        &config_path,
        &tokenizer.path,
        &text_file,
    )?;
    let rules = family.rules();
    if family != Family::Mclip {
        // M-CLIP's config.json describes its image model's (CLIP) text tower, not its own.
        tokenizer.check_vocab(
            json_u64(config.pointer("/text_cfg/vocab_size")),
            &config_path,
        )?;
    }
    let (pad_id, eot_id) = tokenizer.special_ids(
        &[
            textual.join("tokenizer_config.json"),
            textual.join("special_tokens_map.json"),
        ],
        family,
    )?;
    let context_length =
        json_u64(config.pointer("/text_cfg/context_length")).unwrap_or(77) as usize;
    let declared_dim = json_u64(config.get("embed_dim")).map(|d| d as usize);

    Ok(ModelSpec {
        dir: dir.to_path_buf(),
        name: dir_name(dir),
        layout: Layout::Immich,
        family,
        variant: Variant::Fp32,
        image: ImageTowerSpec {
            file: image_file,
            input: None,
            output: None,
            preprocess: ImageConfig {
                size,
                resize_shortest_edge: size,
                resize,
                interpolation,
                rescale_factor: 1.0 / 255.0,
                mean,
                std,
            },
        },
        text: TextTowerSpec {
            file: text_file,
            tokenizer: tokenizer.path.clone(),
            tokenizer_kind: tokenizer.kind,
            input_ids: None,
            ids_type: None,
            attention_mask: None,
            output: None,
            context_length,
            pad_id,
            eot_id,
            clean: immich_clean(&config, &config_path)?,
            padding: rules.padding,
            language: default_language(family),
        },
        declared_dim,
        similarity: rules.similarity,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: Option<String>,
    /// `clip`, `siglip`, `siglip2`, `xlm-roberta`, `nllb`, `m-clip` (default: from the tokenizer).
    family: Option<String>,
    embedding_dim: Option<usize>,
    /// Zero-shot scoring: the multiplier of the cosine (already exponentiated) and, for sigmoid
    /// families, the bias.
    logit_scale: Option<f32>,
    logit_bias: Option<f32>,
    image: ManifestImage,
    text: ManifestText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestImage {
    file: PathBuf,
    input: String,
    output: String,
    size: u32,
    resize: Option<ResizeMode>,
    interpolation: Option<Interpolation>,
    mean: Option<[f32; 3]>,
    std: Option<[f32; 3]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestText {
    file: PathBuf,
    tokenizer: PathBuf,
    input_ids: String,
    input_ids_type: Option<IdsType>,
    attention_mask: Option<String>,
    output: String,
    context_length: Option<usize>,
    pad_id: Option<u32>,
    eot_id: Option<u32>,
    /// `whitespace`, `canonicalize`, `siglip`, `lowercase` (default: the family's).
    clean: Option<String>,
    /// The default language code (NLLB).
    language: Option<String>,
}

fn load_manifest(dir: &Path) -> Result<ModelSpec> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| Error::model_dir(&path, e.to_string()))?;
    let tokenizer = LoadedTokenizer::read(dir.join(&manifest.text.tokenizer))?;
    let family = match &manifest.family {
        Some(name) => Family::from_name(name).ok_or_else(|| {
            Error::model_dir(
                &path,
                format!("family `{name}` is not one of clip, siglip, siglip2, xlm-roberta, nllb, m-clip"),
            )
        })?,
        None => Family::for_tokenizer(tokenizer.kind),
    };
    crate::family::check_tokenizer(family, tokenizer.kind, &tokenizer.path, &path)?;
    let rules = family.rules();
    let (pad_id, eot_id) = match (manifest.text.pad_id, manifest.text.eot_id) {
        (Some(pad), Some(eot)) => (pad, eot),
        (pad, eot) => {
            let (tok_pad, tok_eot) = tokenizer.special_ids(&[], family)?;
            (pad.unwrap_or(tok_pad), eot.unwrap_or(tok_eot))
        }
    };
    if manifest.image.size == 0 {
        return Err(Error::model_dir(&path, "image.size must be positive"));
    }
    let clean = match manifest.text.clean.as_deref() {
        None => rules.hf_clean,
        Some("whitespace") => TextClean::Whitespace,
        Some("canonicalize") => TextClean::Canonicalize,
        Some("siglip") => TextClean::SiglipCanonical,
        Some("lowercase") => TextClean::Lowercase,
        Some(other) => {
            return Err(Error::model_dir(
                &path,
                format!(
                "text.clean = `{other}` is not one of whitespace, canonicalize, siglip, lowercase"
            ),
            ))
        }
    };
    let similarity = match (rules.similarity, manifest.logit_scale, manifest.logit_bias) {
        (Similarity::Softmax { logit_scale }, scale, _) => Similarity::Softmax {
            logit_scale: scale.unwrap_or(logit_scale),
        },
        (
            Similarity::Sigmoid {
                logit_scale,
                logit_bias,
            },
            scale,
            bias,
        ) => Similarity::Sigmoid {
            logit_scale: scale.unwrap_or(logit_scale),
            logit_bias: bias.unwrap_or(logit_bias),
        },
    };
    Ok(ModelSpec {
        dir: dir.to_path_buf(),
        name: manifest.name.unwrap_or_else(|| dir_name(dir)),
        layout: Layout::Manifest,
        family,
        variant: Variant::Fp32,
        image: ImageTowerSpec {
            file: dir.join(&manifest.image.file),
            input: Some(manifest.image.input),
            output: Some(manifest.image.output),
            preprocess: ImageConfig {
                size: manifest.image.size,
                resize_shortest_edge: manifest.image.size,
                resize: manifest.image.resize.unwrap_or(ResizeMode::Shortest),
                interpolation: manifest
                    .image
                    .interpolation
                    .unwrap_or(Interpolation::Bicubic),
                rescale_factor: 1.0 / 255.0,
                mean: manifest.image.mean.unwrap_or(OPENAI_CLIP_MEAN),
                std: manifest.image.std.unwrap_or(OPENAI_CLIP_STD),
            },
        },
        text: TextTowerSpec {
            file: dir.join(&manifest.text.file),
            tokenizer: tokenizer.path.clone(),
            tokenizer_kind: tokenizer.kind,
            input_ids: Some(manifest.text.input_ids),
            ids_type: Some(manifest.text.input_ids_type.unwrap_or(IdsType::Int64)),
            attention_mask: manifest.text.attention_mask,
            output: Some(manifest.text.output),
            context_length: manifest
                .text
                .context_length
                .unwrap_or(rules.default_context),
            pad_id,
            eot_id,
            clean,
            padding: rules.padding,
            language: manifest.text.language.or_else(|| default_language(family)),
        },
        declared_dim: manifest.embedding_dim,
        similarity,
    })
}
