//! The towers on ONNX Runtime.
//!
//! [`ImageEncoder`] and [`TextEncoder`] open separately because their users differ: the searcher
//! mostly needs text, the indexer images, and a ViT-L image tower is a gigabyte nobody should load
//! for nothing. Each holds its session in a `Mutex` (ONNX Runtime's `run` wants `&mut`), so the
//! encoders are `Sync` and can be shared in an `Arc`; ONNX Runtime parallelises inside one run,
//! so serialising runs costs little.
//!
//! Opening a tower reads what it takes and gives from the session itself — which input is the
//! image or the token ids, whether there is an attention mask, the element types (float32 or
//! float16 pixels and outputs, int32 or int64 ids), fixed batch and sequence axes, which output is
//! the embedding — so the same code drives Hugging Face, Immich and hand-made exports of every
//! family. A model directory's names only decide when a manifest states them. The embedding
//! dimension comes from the output shape, or from one probe run when it is symbolic. Outputs are
//! L2-normalised.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;

use half::f16;
use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, Tensor, TensorElementType};

use crate::device::{build_session, ProviderReport, SessionConfig};
use crate::error::{Error, Result};
use crate::family::PaddingRule;
use crate::model_dir::{IdsType, ImageTowerSpec, Layout, ModelSpec, TextTowerSpec};
use crate::preprocess::Preprocessor;
use crate::tokenize::{TextTokenizer, TokenRow};

/// Output names that hold the embedding, preferred first, per tower (Hugging Face projection
/// models, Immich, sentence-transformers, SigLIP's pooled output).
const IMAGE_OUTPUTS: &[&str] = &[
    "image_embeds",
    "embedding",
    "embeddings",
    "image_features",
    "pooler_output",
];
const TEXT_OUTPUTS: &[&str] = &[
    "text_embeds",
    "embedding",
    "embeddings",
    "text_features",
    "sentence_embedding",
    "pooler_output",
];
const IMAGE_INPUTS: &[&str] = &["pixel_values", "image", "images", "input"];
const IDS_INPUTS: &[&str] = &["input_ids", "text", "ids", "tokens", "input"];

/// Scales a vector to unit length (left as is when it is all zeros, which has no direction).
pub fn l2_normalize(vector: &mut [f32]) {
    let norm = vector
        .iter()
        .map(|v| f64::from(*v) * f64::from(*v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for value in vector.iter_mut() {
            *value = (f64::from(*value) / norm) as f32;
        }
    }
}

/// The floating-point type of an image input or an embedding output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatType {
    Float32,
    Float16,
}

impl std::fmt::Display for FloatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FloatType::Float32 => "float32",
            FloatType::Float16 => "float16",
        })
    }
}

impl std::fmt::Display for IdsType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdsType::Int32 => "int32",
            IdsType::Int64 => "int64",
        })
    }
}

fn find_outlet<'a>(outlets: &'a [Outlet], name: &str) -> Option<&'a Outlet> {
    outlets.iter().find(|outlet| outlet.name() == name)
}

fn outlet_names(outlets: &[Outlet]) -> String {
    outlets
        .iter()
        .map(|o| o.name().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn outlet_dims(outlet: &Outlet) -> Vec<i64> {
    outlet
        .dtype()
        .tensor_shape()
        .map(|shape| shape.iter().copied().collect())
        .unwrap_or_default()
}

fn float_type(outlet: &Outlet) -> Option<FloatType> {
    match outlet.dtype().tensor_type() {
        Some(TensorElementType::Float32) => Some(FloatType::Float32),
        Some(TensorElementType::Float16) => Some(FloatType::Float16),
        _ => None,
    }
}

fn ids_type(outlet: &Outlet) -> Option<IdsType> {
    match outlet.dtype().tensor_type() {
        Some(TensorElementType::Int64) => Some(IdsType::Int64),
        Some(TensorElementType::Int32) => Some(IdsType::Int32),
        _ => None,
    }
}

fn describe_outlet(outlet: &Outlet) -> String {
    let ty = outlet
        .dtype()
        .tensor_type()
        .map_or_else(|| "non-tensor".to_string(), |t| format!("{t:?}"));
    let dims: Vec<String> = outlet_dims(outlet)
        .iter()
        .map(|d| {
            if *d < 0 {
                "?".to_string()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("{} {ty} [{}]", outlet.name(), dims.join(", "))
}

/// The output holding the embedding: the name a manifest gives, else the first known name the
/// graph has, else its only two-dimensional float output.
fn choose_output(
    session: &Session,
    file: &Path,
    named: Option<&str>,
    known: &[&str],
) -> Result<String> {
    let outputs = session.outputs();
    if let Some(name) = named {
        return find_outlet(outputs, name)
            .map(|o| o.name().to_string())
            .ok_or_else(|| {
                Error::model_dir(
                    file,
                    format!(
                        "the model has no output `{name}` (its outputs: {})",
                        outlet_names(outputs)
                    ),
                )
            });
    }
    if let Some(name) = known.iter().find(|n| find_outlet(outputs, n).is_some()) {
        return Ok((*name).to_string());
    }
    let flat: Vec<&Outlet> = outputs
        .iter()
        .filter(|o| float_type(o).is_some() && outlet_dims(o).len() == 2)
        .collect();
    match flat.as_slice() {
        [one] => Ok(one.name().to_string()),
        _ => Err(Error::model_dir(
            file,
            format!(
                "cannot tell which output is the embedding (its outputs: {}; expected one of {})",
                outlet_names(outputs),
                known.join(", ")
            ),
        )),
    }
}

/// The static embedding size from the output shape's last axis, when it is a fixed number.
fn static_dim(session: &Session, output: &str) -> Option<usize> {
    let dims = find_outlet(session.outputs(), output).map(outlet_dims)?;
    dims.last()
        .and_then(|d| usize::try_from(*d).ok())
        .filter(|d| *d > 0)
}

/// The fixed batch size of an input (`Some(1)` for exports without a dynamic batch axis).
fn fixed_batch(outlet: &Outlet) -> Option<usize> {
    outlet_dims(outlet)
        .first()
        .and_then(|d| usize::try_from(*d).ok())
        .filter(|d| *d > 0)
}

/// Reads the file's own declaration first, so a truncated download reads as one (ONNX Runtime
/// would say "protobuf parsing failed"), then opens the session; a type error at load gets the
/// likely cause added.
fn open_session(file: &Path, config: &SessionConfig) -> Result<(Session, ProviderReport)> {
    crate::onnx_file::read_summary(file)?;
    build_session(file, config).map_err(|err| match err {
        Error::OnnxLoad { path, reason } if reason.contains("Type Error") || reason.contains("bound to different types") => {
            Error::OnnxLoad {
                path,
                reason: format!(
                    "{reason} — the graph's declared element types disagree with its weights (an fp16 tower declared as float32?); use the export as published or another variant"
                ),
            }
        }
        other => other,
    })
}

/// Pulls `[batch, dim]` rows out of a float32 or float16 output (accepting `[batch, 1, dim]`-style
/// extra axes), normalised.
fn rows_from_output(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    kind: FloatType,
    batch: usize,
    file: &Path,
) -> Result<Vec<Vec<f32>>> {
    let inference_error = |reason: String| Error::Inference {
        path: file.to_path_buf(),
        reason,
    };
    let value = outputs
        .get(name)
        .ok_or_else(|| inference_error(format!("output `{name}` missing")))?;
    let (shape, data): (Vec<i64>, Cow<'_, [f32]>) = match kind {
        FloatType::Float32 => {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
                inference_error(format!("output `{name}` is not a float32 tensor: {e}"))
            })?;
            (shape.iter().copied().collect(), Cow::Borrowed(data))
        }
        FloatType::Float16 => {
            let (shape, data) = value.try_extract_tensor::<f16>().map_err(|e| {
                inference_error(format!("output `{name}` is not a float16 tensor: {e}"))
            })?;
            (
                shape.iter().copied().collect(),
                Cow::Owned(data.iter().map(|v| v.to_f32()).collect()),
            )
        }
    };
    let dim = shape
        .last()
        .and_then(|d| usize::try_from(*d).ok())
        .unwrap_or(0);
    if dim == 0 || data.len() != batch * dim {
        return Err(inference_error(format!(
            "output `{name}` has shape {shape:?}, expected [{batch}, dim]"
        )));
    }
    Ok(data
        .chunks_exact(dim)
        .map(|row| {
            let mut row = row.to_vec();
            l2_normalize(&mut row);
            row
        })
        .collect())
}

/// The image tower.
#[derive(Debug)]
pub struct ImageEncoder {
    session: Mutex<Session>,
    spec: ImageTowerSpec,
    input: String,
    input_type: FloatType,
    output: String,
    output_type: FloatType,
    preprocessor: Preprocessor,
    provider: ProviderReport,
    dim: usize,
    batch_limit: Option<usize>,
}

impl ImageEncoder {
    /// Opens the image tower of a model directory.
    pub fn open(model: &ModelSpec, config: &SessionConfig) -> Result<Self> {
        let spec = model.image.clone();
        let file = spec.file.clone();
        let (session, provider) = open_session(&file, config)?;
        let inputs = session.inputs();
        let input = match &spec.input {
            Some(name) => find_outlet(inputs, name).ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!(
                        "the model has no input `{name}` (its inputs: {})",
                        outlet_names(inputs)
                    ),
                )
            })?,
            None => {
                let images: Vec<&Outlet> = inputs
                    .iter()
                    .filter(|o| float_type(o).is_some() && outlet_dims(o).len() == 4)
                    .collect();
                match images.as_slice() {
                    [one] => *one,
                    _ => IMAGE_INPUTS
                        .iter()
                        .find_map(|n| find_outlet(inputs, n))
                        .ok_or_else(|| {
                            Error::model_dir(
                                &file,
                                format!(
                                    "no image input: expected one float32 or float16 input of shape [batch, 3, size, size] (its inputs: {})",
                                    inputs.iter().map(describe_outlet).collect::<Vec<_>>().join("; ")
                                ),
                            )
                        })?,
                }
            }
        };
        let input_type = float_type(input).ok_or_else(|| {
            Error::model_dir(
                &file,
                format!(
                    "input `{}` is not float32 or float16 ({})",
                    input.name(),
                    describe_outlet(input)
                ),
            )
        })?;
        let batch_limit = fixed_batch(input);
        let dims = outlet_dims(input);
        let size = i64::from(spec.preprocess.size);
        if dims.len() != 4
            || dims[1..]
                .iter()
                .zip([3, size, size])
                .any(|(got, want)| *got > 0 && *got != want)
        {
            return Err(Error::model_dir(
                &file,
                format!("input `{}` has shape {dims:?}, the configuration implies [batch, 3, {size}, {size}]", input.name()),
            ));
        }
        let input_name = input.name().to_string();
        if let Some(other) = inputs.iter().find(|o| o.name() != input_name) {
            return Err(Error::model_dir(
                &file,
                format!(
                    "the model needs inputs Magpie does not provide: {}",
                    describe_outlet(other)
                ),
            ));
        }
        let output = choose_output(&session, &file, spec.output.as_deref(), IMAGE_OUTPUTS)?;
        let output_type = find_outlet(session.outputs(), &output)
            .and_then(float_type)
            .ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!("output `{output}` is not float32 or float16"),
                )
            })?;
        let static_dim = static_dim(&session, &output);
        let mut encoder = Self {
            session: Mutex::new(session),
            preprocessor: Preprocessor::new(&spec.preprocess),
            spec,
            input: input_name,
            input_type,
            output,
            output_type,
            provider,
            dim: static_dim.unwrap_or(0),
            batch_limit,
        };
        if static_dim.is_none() {
            let pixels = vec![0f32; encoder.input_len()];
            encoder.dim = encoder
                .run_batch(&[pixels.as_slice()])?
                .first()
                .map_or(0, Vec::len);
        }
        tracing::debug!(file = %encoder.spec.file.display(), dim = encoder.dim, input = %encoder.input,
            input_type = %encoder.input_type, output = %encoder.output, provider = %encoder.provider, "image tower ready");
        Ok(encoder)
    }

    /// Length of one image tensor (`3 × size × size`).
    pub fn input_len(&self) -> usize {
        let size = self.spec.preprocess.size as usize;
        3 * size * size
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn provider_report(&self) -> &ProviderReport {
        &self.provider
    }

    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    pub fn spec(&self) -> &ImageTowerSpec {
        &self.spec
    }

    /// The pixel input's name and element type, as the graph declares them.
    pub fn input(&self) -> (&str, FloatType) {
        (&self.input, self.input_type)
    }

    /// The embedding output's name and element type.
    pub fn output(&self) -> (&str, FloatType) {
        (&self.output, self.output_type)
    }

    /// The batch size the graph fixes (1 for Immich's exports), if it fixes one.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.batch_limit
    }

    /// Embeds pre-processed images (each `3×size×size`, as [`Preprocessor::preprocess`] makes).
    pub fn embed_images(&self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let expected = self.input_len();
        for (index, image) in images.iter().enumerate() {
            if image.len() != expected {
                return Err(Error::ImageTensorSize {
                    model: self.spec.file.clone(),
                    index,
                    got: image.len(),
                    expected,
                    size: self.spec.preprocess.size,
                });
            }
        }
        let chunk = self.batch_limit.unwrap_or(images.len().max(1));
        let mut embeddings = Vec::with_capacity(images.len());
        for batch in images.chunks(chunk) {
            embeddings.extend(self.run_batch(batch)?);
        }
        Ok(embeddings)
    }

    /// Decodes, preprocesses and embeds one image file.
    pub fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>> {
        let pixels = self.preprocessor.preprocess_file(path)?;
        let mut rows = self.embed_images(&[pixels.as_slice()])?;
        rows.pop().ok_or_else(|| Error::Inference {
            path: self.spec.file.clone(),
            reason: "no output row".to_string(),
        })
    }

    fn run_batch(&self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let inference_error = |reason: String| Error::Inference {
            path: self.spec.file.clone(),
            reason,
        };
        let size = i64::from(self.spec.preprocess.size);
        let shape = vec![images.len() as i64, 3, size, size];
        let pixels = images.iter().flat_map(|image| image.iter().copied());
        let value: SessionInputValue<'_> = match self.input_type {
            FloatType::Float32 => Tensor::from_array((shape, pixels.collect::<Vec<f32>>()))
                .map_err(|e| inference_error(e.to_string()))?
                .into(),
            FloatType::Float16 => {
                Tensor::from_array((shape, pixels.map(f16::from_f32).collect::<Vec<f16>>()))
                    .map_err(|e| inference_error(e.to_string()))?
                    .into()
            }
        };
        let inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![(Cow::from(self.input.as_str()), value)];
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| inference_error(e.to_string()))?;
        rows_from_output(
            &outputs,
            &self.output,
            self.output_type,
            images.len(),
            &self.spec.file,
        )
    }
}

/// An integer input of the text tower: its name and element type.
#[derive(Debug, Clone)]
struct IntInput {
    name: String,
    ty: IdsType,
}

/// The text tower.
#[derive(Debug)]
pub struct TextEncoder {
    session: Mutex<Session>,
    spec: TextTowerSpec,
    tokenizer: TextTokenizer,
    ids: IntInput,
    attention_mask: Option<IntInput>,
    /// BERT-style `token_type_ids` (all zeros for one sentence).
    token_types: Option<IntInput>,
    output: String,
    output_type: FloatType,
    provider: ProviderReport,
    dim: usize,
    batch_limit: Option<usize>,
    fixed_length: Option<usize>,
    /// Whether rows are cut after their last real token before the run (see [`Self::trims_padding`]).
    trim_padding: bool,
    /// The language texts get when a call names none (NLLB).
    language: Option<String>,
}

impl TextEncoder {
    /// Opens the text tower of a model directory.
    pub fn open(model: &ModelSpec, config: &SessionConfig) -> Result<Self> {
        let spec = model.text.clone();
        let file = spec.file.clone();
        let tokenizer = TextTokenizer::for_text_tower(&spec)?;
        let (session, provider) = open_session(&file, config)?;
        let inputs = session.inputs();
        let int_input = |outlet: &Outlet| -> Result<IntInput> {
            let ty = ids_type(outlet).ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!(
                        "input `{}` has element type {:?}, expected int32 or int64",
                        outlet.name(),
                        outlet.dtype().tensor_type()
                    ),
                )
            })?;
            Ok(IntInput {
                name: outlet.name().to_string(),
                ty,
            })
        };
        let ids_outlet = match &spec.input_ids {
            Some(name) => find_outlet(inputs, name).ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!(
                        "the model has no input `{name}` (its inputs: {})",
                        outlet_names(inputs)
                    ),
                )
            })?,
            None => IDS_INPUTS
                .iter()
                .find_map(|n| find_outlet(inputs, n))
                .or_else(|| {
                    let ints: Vec<&Outlet> = inputs
                        .iter()
                        .filter(|o| {
                            ids_type(o).is_some()
                                && !o.name().contains("mask")
                                && !o.name().contains("type")
                        })
                        .collect();
                    (ints.len() == 1).then(|| ints[0])
                })
                .ok_or_else(|| {
                    Error::model_dir(
                        &file,
                        format!(
                            "no token-id input (its inputs: {})",
                            inputs
                                .iter()
                                .map(describe_outlet)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    )
                })?,
        };
        let ids = int_input(ids_outlet)?;
        // A manifest states the type; a mismatch means the manifest is wrong, and saying so beats
        // guessing. Detected layouts take the graph's.
        if let Some(declared) = spec.ids_type {
            if model.layout == Layout::Manifest && declared != ids.ty {
                return Err(Error::model_dir(
                    &file,
                    format!(
                        "input `{}` is {} but {} declares {declared}",
                        ids.name,
                        ids.ty,
                        crate::model_dir::MANIFEST_FILE,
                    ),
                ));
            }
        }
        let attention_mask = match &spec.attention_mask {
            Some(name) => Some(int_input(find_outlet(inputs, name).ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!(
                        "the model has no input `{name}` (its inputs: {})",
                        outlet_names(inputs)
                    ),
                )
            })?)?),
            None => inputs
                .iter()
                .find(|o| o.name() == "attention_mask")
                .map(int_input)
                .transpose()?,
        };
        let token_types = inputs
            .iter()
            .find(|o| o.name() == "token_type_ids")
            .map(int_input)
            .transpose()?;
        let known: Vec<&str> = [Some(&ids), attention_mask.as_ref(), token_types.as_ref()]
            .into_iter()
            .flatten()
            .map(|i| i.name.as_str())
            .collect();
        if let Some(other) = inputs.iter().find(|o| !known.contains(&o.name())) {
            return Err(Error::model_dir(
                &file,
                format!(
                    "the model needs inputs Magpie does not provide: {}",
                    describe_outlet(other)
                ),
            ));
        }
        let ids_dims = outlet_dims(ids_outlet);
        let fixed_length = ids_dims
            .get(1)
            .and_then(|d| usize::try_from(*d).ok())
            .filter(|d| *d > 0);
        if let Some(length) = fixed_length {
            if length != spec.context_length {
                return Err(Error::model_dir(
                    &file,
                    format!(
                        "input `{}` takes {length} tokens, the configuration says context length {}",
                        ids.name, spec.context_length
                    ),
                ));
            }
        }
        let batch_limit = fixed_batch(ids_outlet);
        let output = choose_output(&session, &file, spec.output.as_deref(), TEXT_OUTPUTS)?;
        let output_type = find_outlet(session.outputs(), &output)
            .and_then(float_type)
            .ok_or_else(|| {
                Error::model_dir(
                    &file,
                    format!("output `{output}` is not float32 or float16"),
                )
            })?;
        let static_dim = static_dim(&session, &output);
        let language = spec.language.clone();
        let mut encoder = Self {
            session: Mutex::new(session),
            spec,
            tokenizer,
            ids,
            attention_mask,
            token_types,
            output,
            output_type,
            provider,
            dim: static_dim.unwrap_or(0),
            batch_limit,
            fixed_length,
            trim_padding: false,
            language,
        };
        if static_dim.is_none() {
            let probe = encoder.tokenizer.encode_in("", None)?;
            encoder.dim = encoder
                .run_batch(&[probe], false)?
                .first()
                .map_or(0, Vec::len);
        }
        if fixed_length.is_none() && encoder.spec.padding == PaddingRule::TrimWhenUnchanged {
            encoder.trim_padding = encoder.trimming_changes_nothing()?;
        }
        tracing::debug!(file = %encoder.spec.file.display(), dim = encoder.dim, provider = %encoder.provider,
            ids = %encoder.ids.name, mask = encoder.attention_mask.is_some(), output = %encoder.output,
            trims_padding = encoder.trim_padding, "text tower ready");
        Ok(encoder)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn provider_report(&self) -> &ProviderReport {
        &self.provider
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn spec(&self) -> &TextTowerSpec {
        &self.spec
    }

    /// The token-id input's name and type, and the attention mask's when the graph takes one.
    pub fn inputs(&self) -> ((&str, IdsType), Option<(&str, IdsType)>) {
        (
            (&self.ids.name, self.ids.ty),
            self.attention_mask
                .as_ref()
                .map(|m| (m.name.as_str(), m.ty)),
        )
    }

    /// The embedding output's name and element type.
    pub fn output(&self) -> (&str, FloatType) {
        (&self.output, self.output_type)
    }

    /// The sequence length the graph fixes, if it fixes one.
    pub fn fixed_length(&self) -> Option<usize> {
        self.fixed_length
    }

    /// The batch size the graph fixes, if it fixes one.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.batch_limit
    }

    /// Whether this model's queries carry a language code (NLLB).
    pub fn takes_language(&self) -> bool {
        self.tokenizer.language_token().is_some()
    }

    /// The language texts get when a call names none.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// The FLORES-200 code for a language tag or code, if this tokenizer has it.
    pub fn resolve_language(&self, language: &str) -> Option<String> {
        crate::family::nllb::flores_code(language)
            .filter(|code| self.tokenizer.knows_language(code))
    }

    /// Sets the language texts get by default (`--lang`, the config's `language`). An unknown
    /// language is an error naming it; a model that takes no language ignores the call.
    pub fn set_language(&mut self, language: &str) -> Result<()> {
        if !self.takes_language() {
            return Ok(());
        }
        let code = self.resolve_language(language).ok_or_else(|| Error::Tokenizer {
            path: self.spec.tokenizer.clone(),
            reason: format!(
                "language `{language}` has no FLORES-200 code in this tokenizer (use a code such as eng_Latn, spa_Latn, zho_Hans, or a tag such as es, de, pt-BR)"
            ),
        })?;
        self.language = Some(code);
        Ok(())
    }

    /// Whether short texts run with their padding cut off.
    ///
    /// CLIP's text transformer is causal and pools at end-of-text, so the tokens after it cannot
    /// change the embedding, yet at 77 positions they are most of the work: "a photo of a cat" is
    /// 7 real tokens. When the family allows it, the model takes a variable number of tokens
    /// (Hugging Face / Xenova exports do) and a probe text embeds the same both ways, each batch
    /// runs only up to its longest text. SigLIP reads its padding (last-position pooling) and is
    /// never trimmed.
    pub fn trims_padding(&self) -> bool {
        self.trim_padding
    }

    /// Runs every batch at the full context length from now on (for comparisons and benchmarks).
    pub fn disable_padding_trim(&mut self) {
        self.trim_padding = false;
    }

    /// Embeds a probe text with and without its padding; the same vector (to f32 rounding, 1e-5)
    /// means trimming is safe for this model.
    fn trimming_changes_nothing(&self) -> Result<bool> {
        let probe = self
            .tokenizer
            .encode_in("a photo of a small cat on a sofa", None)?;
        let full = self.run_batch(std::slice::from_ref(&probe), false)?;
        // A model that rejects the shorter input simply cannot be trimmed.
        let trimmed = match self.run_batch(std::slice::from_ref(&probe), true) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(file = %self.spec.file.display(), "padding cannot be trimmed: {e}");
                return Ok(false);
            }
        };
        let same = match (full.first(), trimmed.first()) {
            (Some(a), Some(b)) if a.len() == b.len() => {
                a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5)
            }
            _ => false,
        };
        Ok(same)
    }

    /// Tokenizes and embeds texts (in the default language, for models that take one).
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_texts_in(texts, None)
    }

    /// Tokenizes and embeds texts in `language` (a FLORES-200 code or a language tag; `None`: the
    /// default). Models that take no language ignore it.
    pub fn embed_texts_in(&self, texts: &[&str], language: Option<&str>) -> Result<Vec<Vec<f32>>> {
        let code =
            match (self.takes_language(), language) {
                (false, _) => None,
                (true, Some(language)) => Some(self.resolve_language(language).ok_or_else(
                    || Error::Tokenizer {
                        path: self.spec.tokenizer.clone(),
                        reason: format!(
                            "language `{language}` has no FLORES-200 code in this tokenizer"
                        ),
                    },
                )?),
                (true, None) => self.language.clone(),
            };
        let rows = texts
            .iter()
            .map(|text| self.tokenizer.encode_in(text, code.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        self.embed_rows(&rows)
    }

    /// Embeds already tokenized rows (each exactly `context_length` ids; real tokens end at the
    /// first end-of-text).
    pub fn embed_token_ids(&self, rows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let rows: Vec<TokenRow> = rows
            .iter()
            .map(|ids| TokenRow {
                len: ids
                    .iter()
                    .position(|id| *id == self.spec.eot_id)
                    .map_or(ids.len(), |p| p + 1),
                ids: ids.clone(),
            })
            .collect();
        self.embed_rows(&rows)
    }

    /// Embeds tokenized rows.
    pub fn embed_rows(&self, rows: &[TokenRow]) -> Result<Vec<Vec<f32>>> {
        for row in rows {
            if row.ids.len() != self.spec.context_length {
                return Err(Error::Inference {
                    path: self.spec.file.clone(),
                    reason: format!(
                        "a token row has {} ids, the model takes {}",
                        row.ids.len(),
                        self.spec.context_length
                    ),
                });
            }
        }
        let chunk = self.batch_limit.unwrap_or(rows.len().max(1));
        let mut embeddings = Vec::with_capacity(rows.len());
        for batch in rows.chunks(chunk) {
            embeddings.extend(self.run_batch(batch, self.trim_padding)?);
        }
        Ok(embeddings)
    }

    fn int_tensor(
        &self,
        ty: IdsType,
        shape: Vec<i64>,
        values: Vec<i64>,
    ) -> Result<SessionInputValue<'static>> {
        let inference_error = |reason: String| Error::Inference {
            path: self.spec.file.clone(),
            reason,
        };
        Ok(match ty {
            IdsType::Int64 => Tensor::from_array((shape, values))
                .map_err(|e| inference_error(e.to_string()))?
                .into(),
            IdsType::Int32 => {
                let narrow = values
                    .iter()
                    .map(|v| {
                        i32::try_from(*v).map_err(|_| {
                            inference_error(format!("token id {v} does not fit int32"))
                        })
                    })
                    .collect::<Result<Vec<i32>>>()?;
                Tensor::from_array((shape, narrow))
                    .map_err(|e| inference_error(e.to_string()))?
                    .into()
            }
        })
    }

    /// Runs rows of exactly `context_length` ids; with `trim`, only up to the longest row's real
    /// length.
    fn run_batch(&self, rows: &[TokenRow], trim: bool) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let length = if trim {
            rows.iter().map(|row| row.len).max().unwrap_or(1).max(1)
        } else {
            self.spec.context_length
        };
        let shape = vec![rows.len() as i64, length as i64];
        let ids: Vec<i64> = rows
            .iter()
            .flat_map(|row| row.ids[..length].iter().map(|id| i64::from(*id)))
            .collect();
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(3);
        inputs.push((
            Cow::from(self.ids.name.as_str()),
            self.int_tensor(self.ids.ty, shape.clone(), ids)?,
        ));
        if let Some(mask) = &self.attention_mask {
            // 1 for every real token, special tokens included, 0 for padding: the mask Hugging
            // Face's tokenizers return.
            let values: Vec<i64> = rows
                .iter()
                .flat_map(|row| (0..length).map(move |i| i64::from(i < row.len)))
                .collect();
            inputs.push((
                Cow::from(mask.name.as_str()),
                self.int_tensor(mask.ty, shape.clone(), values)?,
            ));
        }
        if let Some(types) = &self.token_types {
            let zeros = vec![0i64; rows.len() * length];
            inputs.push((
                Cow::from(types.name.as_str()),
                self.int_tensor(types.ty, shape.clone(), zeros)?,
            ));
        }
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(inputs).map_err(|e| Error::Inference {
            path: self.spec.file.clone(),
            reason: e.to_string(),
        })?;
        rows_from_output(
            &outputs,
            &self.output,
            self.output_type,
            rows.len(),
            &self.spec.file,
        )
    }
}

/// Identifies a model for the catalog: a library built with one model must not be searched with
/// another, whose vectors live in a different space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    pub name: String,
    /// Hex BLAKE3 digest over both towers' weight files.
    pub checksum: String,
    pub dim: usize,
}

/// Both towers.
#[derive(Debug)]
pub struct ClipModel {
    pub spec: ModelSpec,
    pub image: ImageEncoder,
    pub text: TextEncoder,
}

impl ClipModel {
    /// Opens both towers and checks they agree on the embedding dimension.
    pub fn open(spec: &ModelSpec, config: &SessionConfig) -> Result<Self> {
        let image = ImageEncoder::open(spec, config)?;
        let text = TextEncoder::open(spec, config)?;
        check_dims(spec, image.dim(), text.dim())?;
        Ok(Self {
            spec: spec.clone(),
            image,
            text,
        })
    }

    /// Reads the directory and opens both towers.
    pub fn open_dir(dir: &Path, config: &SessionConfig) -> Result<Self> {
        Self::open(&ModelSpec::load(dir)?, config)
    }

    pub fn dim(&self) -> usize {
        self.image.dim()
    }

    /// The catalog's identity for this model (hashes the weights; cached beside them).
    pub fn identity(&self) -> Result<ModelIdentity> {
        Ok(ModelIdentity {
            name: self.spec.name.clone(),
            checksum: crate::identity::weights_checksum(&self.spec)?,
            dim: self.dim(),
        })
    }
}

/// Both towers must land in one space; a declared dimension must match too.
pub(crate) fn check_dims(spec: &ModelSpec, image_dim: usize, text_dim: usize) -> Result<()> {
    if image_dim != text_dim {
        return Err(Error::model_dir(
            &spec.dir,
            format!(
                "the towers disagree on the embedding dimension: {} gives {image_dim}, {} gives {text_dim}",
                spec.image.file.display(),
                spec.text.file.display()
            ),
        ));
    }
    if let Some(declared) = spec.declared_dim {
        if declared != image_dim {
            return Err(Error::model_dir(
                &spec.dir,
                format!("the configuration declares embedding dimension {declared}, the towers give {image_dim}"),
            ));
        }
    }
    Ok(())
}
