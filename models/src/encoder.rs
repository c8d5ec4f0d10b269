//! The CLIP towers on ONNX Runtime.
//!
//! [`ImageEncoder`] and [`TextEncoder`] open separately because their users differ: the searcher
//! mostly needs text, the indexer images, and a ViT-L image tower is a gigabyte nobody should load
//! for nothing. Each holds its session in a `Mutex` (ONNX Runtime's `run` wants `&mut`), so the
//! encoders are `Sync` and can be shared in an `Arc`; ONNX Runtime parallelises inside one run,
//! so serialising runs costs little. Opening a tower checks the names the model directory declared
//! against the real ONNX inputs/outputs, and finds the embedding dimension (from the output shape,
//! or by one probe run when the shape is symbolic). Outputs are L2-normalised.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;

use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, Tensor, TensorElementType};

use crate::device::{build_session, ProviderReport, SessionConfig};
use crate::error::{Error, Result};
use crate::model_dir::{IdsType, ImageTowerSpec, Layout, ModelSpec, TextTowerSpec};
use crate::preprocess::Preprocessor;
use crate::tokenize::ClipTokenizer;

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

fn require_input<'a>(session: &'a Session, file: &Path, name: &str) -> Result<&'a Outlet> {
    find_outlet(session.inputs(), name).ok_or_else(|| {
        Error::model_dir(
            file,
            format!(
                "the model has no input `{name}` (its inputs: {})",
                outlet_names(session.inputs())
            ),
        )
    })
}

fn require_output(session: &Session, file: &Path, name: &str) -> Result<()> {
    if find_outlet(session.outputs(), name).is_some() {
        Ok(())
    } else {
        Err(Error::model_dir(
            file,
            format!(
                "the model has no output `{name}` (its outputs: {})",
                outlet_names(session.outputs())
            ),
        ))
    }
}

/// Every input must be one we feed: a model wanting more would fail at the first run instead.
fn reject_unknown_inputs(session: &Session, file: &Path, known: &[&str]) -> Result<()> {
    let unknown: Vec<&str> = session
        .inputs()
        .iter()
        .map(Outlet::name)
        .filter(|name| !known.contains(name))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::model_dir(
            file,
            format!(
                "the model needs inputs Magpie does not provide: {}",
                unknown.join(", ")
            ),
        ))
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

/// Pulls `[batch, dim]` rows out of an output (accepting `[batch, 1, dim]`-style extra axes),
/// normalised.
fn rows_from_output(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
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
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference_error(format!("output `{name}` is not a float32 tensor: {e}")))?;
    let dim = shape
        .last()
        .and_then(|d| usize::try_from(*d).ok())
        .unwrap_or(0);
    if dim == 0 || data.len() != batch * dim {
        return Err(inference_error(format!(
            "output `{name}` has shape {shape}, expected [{batch}, dim]"
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
    preprocessor: Preprocessor,
    provider: ProviderReport,
    dim: usize,
    batch_limit: Option<usize>,
}

impl ImageEncoder {
    /// Opens the image tower of a model directory.
    pub fn open(model: &ModelSpec, config: &SessionConfig) -> Result<Self> {
        let spec = model.image.clone();
        let (session, provider) = build_session(&spec.file, config)?;
        let input = require_input(&session, &spec.file, &spec.input)?;
        if input.dtype().tensor_type() != Some(TensorElementType::Float32) {
            return Err(Error::model_dir(
                &spec.file,
                format!("input `{}` is not float32", spec.input),
            ));
        }
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
                &spec.file,
                format!("input `{}` has shape {dims:?}, the configuration implies [batch, 3, {size}, {size}]", spec.input),
            ));
        }
        reject_unknown_inputs(&session, &spec.file, &[spec.input.as_str()])?;
        require_output(&session, &spec.file, &spec.output)?;
        let static_dim = static_dim(&session, &spec.output);
        let mut encoder = Self {
            session: Mutex::new(session),
            preprocessor: Preprocessor::new(&spec.preprocess),
            spec,
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
        tracing::debug!(file = %encoder.spec.file.display(), dim = encoder.dim, provider = %encoder.provider, "image tower ready");
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
        let data: Vec<f32> = images
            .iter()
            .flat_map(|image| image.iter().copied())
            .collect();
        let tensor = Tensor::from_array((vec![images.len() as i64, 3, size, size], data))
            .map_err(|e| inference_error(e.to_string()))?;
        let inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![(Cow::from(self.spec.input.as_str()), tensor.into())];
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| inference_error(e.to_string()))?;
        rows_from_output(&outputs, &self.spec.output, images.len(), &self.spec.file)
    }
}

/// The text tower.
#[derive(Debug)]
pub struct TextEncoder {
    session: Mutex<Session>,
    spec: TextTowerSpec,
    tokenizer: ClipTokenizer,
    ids_type: IdsType,
    attention_mask: Option<String>,
    provider: ProviderReport,
    dim: usize,
    batch_limit: Option<usize>,
    /// Whether rows are cut after their last end-of-text before the run (see [`Self::trims_padding`]).
    trim_padding: bool,
}

impl TextEncoder {
    /// Opens the text tower of a model directory.
    pub fn open(model: &ModelSpec, config: &SessionConfig) -> Result<Self> {
        let spec = model.text.clone();
        let tokenizer = ClipTokenizer::for_text_tower(&spec)?;
        let (session, provider) = build_session(&spec.file, config)?;
        let ids_input = require_input(&session, &spec.file, &spec.input_ids)?;
        let actual_type = match ids_input.dtype().tensor_type() {
            Some(TensorElementType::Int64) => IdsType::Int64,
            Some(TensorElementType::Int32) => IdsType::Int32,
            other => {
                return Err(Error::model_dir(
                    &spec.file,
                    format!(
                        "input `{}` has element type {other:?}, expected int32 or int64",
                        spec.input_ids
                    ),
                ))
            }
        };
        // A manifest states the type; a mismatch means the manifest is wrong, and saying so beats
        // guessing. Detected layouts only assume the usual type, so the model's own wins.
        if model.layout == Layout::Manifest && actual_type != spec.ids_type {
            return Err(Error::model_dir(
                &spec.file,
                format!(
                    "input `{}` is {actual_type:?} but {} declares {:?}",
                    spec.input_ids,
                    crate::model_dir::MANIFEST_FILE,
                    spec.ids_type
                ),
            ));
        }
        let ids_dims = outlet_dims(ids_input);
        let fixed_length = ids_dims
            .get(1)
            .and_then(|d| usize::try_from(*d).ok())
            .filter(|d| *d > 0);
        if let Some(length) = fixed_length {
            if length != spec.context_length {
                return Err(Error::model_dir(
                    &spec.file,
                    format!(
                        "input `{}` takes {length} tokens, the configuration says context length {}",
                        spec.input_ids, spec.context_length
                    ),
                ));
            }
        }
        let batch_limit = fixed_batch(ids_input);
        let attention_mask = match &spec.attention_mask {
            Some(name) if find_outlet(session.inputs(), name).is_some() => Some(name.clone()),
            Some(_) if spec.attention_mask_optional => None,
            Some(name) => {
                require_input(&session, &spec.file, name)?;
                None
            }
            None => None,
        };
        let mut known = vec![spec.input_ids.as_str()];
        if let Some(mask) = &attention_mask {
            known.push(mask.as_str());
        }
        reject_unknown_inputs(&session, &spec.file, &known)?;
        require_output(&session, &spec.file, &spec.output)?;
        let static_dim = static_dim(&session, &spec.output);
        let mut encoder = Self {
            session: Mutex::new(session),
            spec,
            tokenizer,
            ids_type: actual_type,
            attention_mask,
            provider,
            dim: static_dim.unwrap_or(0),
            batch_limit,
            trim_padding: false,
        };
        if static_dim.is_none() {
            let probe = encoder.tokenizer.encode("")?;
            encoder.dim = encoder
                .run_batch(&[probe], false)?
                .first()
                .map_or(0, Vec::len);
        }
        if fixed_length.is_none() {
            encoder.trim_padding = encoder.trimming_changes_nothing()?;
        }
        tracing::debug!(file = %encoder.spec.file.display(), dim = encoder.dim, provider = %encoder.provider,
            trims_padding = encoder.trim_padding, "text tower ready");
        Ok(encoder)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn provider_report(&self) -> &ProviderReport {
        &self.provider
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    pub fn spec(&self) -> &TextTowerSpec {
        &self.spec
    }

    /// Whether short texts run with their padding cut off.
    ///
    /// CLIP's text transformer is causal and pools at end-of-text, so the tokens after it cannot
    /// change the embedding, yet at 77 positions they are most of the work: "a photo of a cat" is
    /// 7 real tokens. When the model takes a variable number of tokens (Hugging Face / Xenova
    /// exports do) and a probe text embeds the same both ways, each batch runs only up to its
    /// longest text. A model whose padding does matter (not causal, or pooling over all
    /// positions) fails the probe and keeps the full context length.
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
        let probe = self.tokenizer.encode("a photo of a small cat on a sofa")?;
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

    /// Tokenizes and embeds texts.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenizer.encode_batch(texts)?;
        self.embed_token_ids(&ids)
    }

    /// Embeds already tokenized rows (each exactly `context_length` ids).
    pub fn embed_token_ids(&self, rows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        for row in rows {
            if row.len() != self.spec.context_length {
                return Err(Error::Inference {
                    path: self.spec.file.clone(),
                    reason: format!(
                        "a token row has {} ids, the model takes {}",
                        row.len(),
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

    /// Runs rows of exactly `context_length` ids; with `trim`, only up to the longest row's
    /// end-of-text.
    fn run_batch(&self, rows: &[Vec<u32>], trim: bool) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let inference_error = |reason: String| Error::Inference {
            path: self.spec.file.clone(),
            reason,
        };
        // Real tokens are everything up to and including the first end-of-text; the rest is
        // padding (which may use the same id as end-of-text, so position decides, not value).
        let real_length = |row: &[u32]| {
            row.iter()
                .position(|id| *id == self.spec.eot_id)
                .map_or(row.len(), |p| p + 1)
        };
        let length = if trim {
            rows.iter().map(|row| real_length(row)).max().unwrap_or(1)
        } else {
            self.spec.context_length
        };
        let shape = vec![rows.len() as i64, length as i64];
        let ids: Vec<i64> = rows
            .iter()
            .flat_map(|row| row[..length].iter().map(|id| i64::from(*id)))
            .collect();
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(2);
        let ids_value: SessionInputValue<'_> = match self.ids_type {
            IdsType::Int64 => Tensor::from_array((shape.clone(), ids))
                .map_err(|e| inference_error(e.to_string()))?
                .into(),
            IdsType::Int32 => {
                let narrow = ids
                    .iter()
                    .map(|id| {
                        i32::try_from(*id).map_err(|_| {
                            inference_error(format!("token id {id} does not fit int32"))
                        })
                    })
                    .collect::<Result<Vec<i32>>>()?;
                Tensor::from_array((shape.clone(), narrow))
                    .map_err(|e| inference_error(e.to_string()))?
                    .into()
            }
        };
        inputs.push((Cow::from(self.spec.input_ids.as_str()), ids_value));
        if let Some(mask_name) = &self.attention_mask {
            let mask: Vec<i64> = rows
                .iter()
                .flat_map(|row| {
                    let real = real_length(row);
                    (0..length).map(move |i| i64::from(i < real))
                })
                .collect();
            let mask_value: SessionInputValue<'_> = match self.ids_type {
                IdsType::Int64 => Tensor::from_array((shape.clone(), mask))
                    .map_err(|e| inference_error(e.to_string()))?
                    .into(),
                IdsType::Int32 => {
                    let narrow: Vec<i32> = mask.iter().map(|m| *m as i32).collect();
                    Tensor::from_array((shape.clone(), narrow))
                        .map_err(|e| inference_error(e.to_string()))?
                        .into()
                }
            };
            inputs.push((Cow::from(mask_name.as_str()), mask_value));
        }
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| inference_error(e.to_string()))?;
        rows_from_output(&outputs, &self.spec.output, rows.len(), &self.spec.file)
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
