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

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

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
        let crop = size_value("crop_size").or(vision_size).unwrap_or(224);
        let do_center_crop = preprocessor
            .get("do_center_crop")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let shortest = size_value("size").unwrap_or(crop);
        let resize = match preprocessor.get("size") {
            Some(Value::Object(o))
                if o.contains_key("height") && !o.contains_key("shortest_edge") =>
            {
                ResizeMode::Squash
            }
            _ if !do_center_crop => ResizeMode::Squash,
            _ => ResizeMode::Shortest,
        };
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

/// The image tower.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTowerSpec {
    pub file: PathBuf,
    pub input: String,
    pub output: String,
    pub preprocess: ImageConfig,
}

/// The text tower.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTowerSpec {
    pub file: PathBuf,
    pub tokenizer: PathBuf,
    pub input_ids: String,
    pub ids_type: IdsType,
    /// The attention-mask input, when the model has one.
    pub attention_mask: Option<String>,
    /// Whether a missing mask input is acceptable: layouts that were *detected* name the usual
    /// mask and drop it when the ONNX file has none; a manifest that names one means it.
    pub attention_mask_optional: bool,
    pub output: String,
    pub context_length: usize,
    pub pad_id: u32,
    pub eot_id: u32,
}

/// Everything Magpie needs to know about a CLIP model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub dir: PathBuf,
    pub name: String,
    pub layout: Layout,
    pub image: ImageTowerSpec,
    pub text: TextTowerSpec,
    /// The embedding dimension the configuration declares, if it does (checked against the
    /// ONNX outputs when the towers are opened).
    pub declared_dim: Option<usize>,
}

impl ModelSpec {
    /// Reads a model directory in any supported layout.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::model_dir(dir, "not a directory"));
        }
        let spec = if dir.join(MANIFEST_FILE).is_file() {
            load_manifest(dir)?
        } else if let Some(spec) = load_huggingface(dir)? {
            spec
        } else if dir.join("visual").is_dir() || dir.join("textual").is_dir() {
            load_immich(dir)?
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
        tracing::debug!(dir = %dir.display(), layout = %spec.layout, "model directory read");
        Ok(spec)
    }

    /// The ONNX files of both towers, plus their external-data files when present.
    pub fn weight_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for tower in [&self.image.file, &self.text.file] {
            files.push(tower.clone());
            for suffix in ["_data", ".data"] {
                let mut name = tower.as_os_str().to_owned();
                name.push(suffix);
                let external = PathBuf::from(name);
                if external.is_file() {
                    files.push(external);
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

/// Reads the pad and end-of-text token ids from the tokenizer itself: configs disagree (HF's
/// `config.json` for openai/clip says pad=1, eos=2, while the tokenizer pads with 49407), and the
/// tokenizer is what the model was trained with.
fn special_ids(tokenizer_file: &Path, token_configs: &[PathBuf]) -> Result<(u32, u32)> {
    let tokenizer = crate::tokenize::load_tokenizer_file(tokenizer_file)?;
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
    let eos_token = eos_token.unwrap_or_else(|| "<|endoftext|>".to_string());
    let eot_id = tokenizer
        .token_to_id(&eos_token)
        .ok_or_else(|| Error::Tokenizer {
            path: tokenizer_file.to_path_buf(),
            reason: format!("end-of-text token `{eos_token}` is not in the vocabulary"),
        })?;
    let pad_id = match pad_token {
        Some(token) => tokenizer
            .token_to_id(&token)
            .ok_or_else(|| Error::Tokenizer {
                path: tokenizer_file.to_path_buf(),
                reason: format!("pad token `{token}` is not in the vocabulary"),
            })?,
        None => eot_id,
    };
    Ok((pad_id, eot_id))
}

fn load_huggingface(dir: &Path) -> Result<Option<ModelSpec>> {
    // Xenova puts the towers under onnx/; some exports keep them beside the configs.
    let tower = |name: &str| -> Option<PathBuf> {
        [dir.join("onnx").join(name), dir.join(name)]
            .into_iter()
            .find(|p| p.is_file())
    };
    let (Some(vision), Some(text)) = (tower("vision_model.onnx"), tower("text_model.onnx")) else {
        return Ok(None);
    };
    let config_path = dir.join("config.json");
    let config = read_json_if_present(&config_path)?.unwrap_or(Value::Null);
    let preprocessor_path = dir.join("preprocessor_config.json");
    let vision_size = json_u64(config.pointer("/vision_config/image_size"));
    let preprocess = ImageConfig::from_hf_preprocessor_config(&preprocessor_path, vision_size)?;

    let tokenizer = dir.join("tokenizer.json");
    require_file(&tokenizer)?;
    let (pad_id, eot_id) = special_ids(
        &tokenizer,
        &[
            dir.join("tokenizer_config.json"),
            dir.join("special_tokens_map.json"),
        ],
    )?;
    let context_length =
        json_u64(config.pointer("/text_config/max_position_embeddings")).unwrap_or(77) as usize;
    let declared_dim = json_u64(config.get("projection_dim")).map(|d| d as usize);

    Ok(Some(ModelSpec {
        dir: dir.to_path_buf(),
        name: dir_name(dir),
        layout: Layout::HuggingFace,
        image: ImageTowerSpec {
            file: vision,
            input: "pixel_values".to_string(),
            output: "image_embeds".to_string(),
            preprocess,
        },
        text: TextTowerSpec {
            file: text,
            tokenizer,
            input_ids: "input_ids".to_string(),
            ids_type: IdsType::Int64,
            attention_mask: Some("attention_mask".to_string()),
            attention_mask_optional: true,
            output: "text_embeds".to_string(),
            context_length,
            pad_id,
            eot_id,
        },
        declared_dim,
    }))
}

fn load_immich(dir: &Path) -> Result<ModelSpec> {
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

    let tokenizer = textual.join("tokenizer.json");
    require_file(&tokenizer)?;
    let (pad_id, eot_id) = special_ids(
        &tokenizer,
        &[
            textual.join("tokenizer_config.json"),
            textual.join("special_tokens_map.json"),
        ],
    )?;
    let context_length =
        json_u64(config.pointer("/text_cfg/context_length")).unwrap_or(77) as usize;
    let declared_dim = json_u64(config.get("embed_dim")).map(|d| d as usize);

    Ok(ModelSpec {
        dir: dir.to_path_buf(),
        name: dir_name(dir),
        layout: Layout::Immich,
        image: ImageTowerSpec {
            file: image_file,
            input: "image".to_string(),
            output: "embedding".to_string(),
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
            tokenizer,
            input_ids: "text".to_string(),
            ids_type: IdsType::Int32,
            attention_mask: None,
            attention_mask_optional: true,
            output: "embedding".to_string(),
            context_length,
            pad_id,
            eot_id,
        },
        declared_dim,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: Option<String>,
    embedding_dim: Option<usize>,
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
}

fn load_manifest(dir: &Path) -> Result<ModelSpec> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| Error::model_dir(&path, e.to_string()))?;
    let tokenizer = dir.join(&manifest.text.tokenizer);
    require_file(&tokenizer)?;
    let (pad_id, eot_id) = match (manifest.text.pad_id, manifest.text.eot_id) {
        (Some(pad), Some(eot)) => (pad, eot),
        (pad, eot) => {
            let (tok_pad, tok_eot) = special_ids(&tokenizer, &[])?;
            (pad.unwrap_or(tok_pad), eot.unwrap_or(tok_eot))
        }
    };
    if manifest.image.size == 0 {
        return Err(Error::model_dir(&path, "image.size must be positive"));
    }
    Ok(ModelSpec {
        dir: dir.to_path_buf(),
        name: manifest.name.unwrap_or_else(|| dir_name(dir)),
        layout: Layout::Manifest,
        image: ImageTowerSpec {
            file: dir.join(&manifest.image.file),
            input: manifest.image.input,
            output: manifest.image.output,
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
            tokenizer,
            input_ids: manifest.text.input_ids,
            ids_type: manifest.text.input_ids_type.unwrap_or(IdsType::Int64),
            attention_mask: manifest.text.attention_mask,
            attention_mask_optional: false,
            output: manifest.text.output,
            context_length: manifest.text.context_length.unwrap_or(77),
            pad_id,
            eot_id,
        },
        declared_dim: manifest.embedding_dim,
    })
}
