//! `magpie-models`: CLIP-family models on ONNX Runtime.
//!
//! Everything between "a model directory and some photos or words" and "unit vectors in one
//! space": finding and starting ONNX Runtime ([`runtime`]), choosing execution providers
//! ([`device`]), reading the supported model layouts ([`model_dir`]) of every family Magpie runs
//! — CLIP, SigLIP, SigLIP2, multilingual OpenCLIP, NLLB-CLIP, M-CLIP ([`family`]) — with their
//! tokenizer kinds ([`tokenizer_kind`]), what an ONNX file declares ([`onnx_file`]), decoding
//! images of every supported format ([`decode`]), preprocessing them exactly as the reference
//! image processors do ([`preprocess`]), tokenizing ([`tokenize`]), running the towers
//! ([`encoder`]), identifying a model for the catalog ([`identity`]), and the local model store
//! with `pull` from a Hugging Face-compatible hub and the catalogue of known-good exports
//! ([`store`], [`catalogue`]).

pub mod catalogue;
pub mod decode;
pub mod device;
pub mod encoder;
pub mod error;
pub mod family;
pub mod identity;
pub mod model_dir;
pub mod onnx_file;
pub mod preprocess;
pub mod runtime;
pub mod store;
pub mod tokenize;
pub mod tokenizer_kind;

pub use decode::{
    decode_image, decode_image_bytes, decode_image_file, DecodeOptions, DecodedImage, ImageFormat,
    ImageSource,
};
pub use device::{Device, Provider, ProviderReport, SessionConfig};
pub use encoder::{l2_normalize, ClipModel, FloatType, ImageEncoder, ModelIdentity, TextEncoder};
pub use error::{Error, Result};
pub use family::{Family, PaddingRule, Similarity};
pub use model_dir::{ImageConfig, Layout, ModelSpec, Variant};
pub use preprocess::Preprocessor;
pub use runtime::{RuntimeInfo, RuntimeOptions, RuntimeSource};
pub use tokenize::{ClipTokenizer, TextClean, TextTokenizer, TokenRow};
pub use tokenizer_kind::TokenizerKind;
