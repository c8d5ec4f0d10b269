//! `magpie-models`: CLIP on ONNX Runtime.
//!
//! Everything between "a model directory and some photos or words" and "unit vectors in one
//! space": finding and starting ONNX Runtime ([`runtime`]), choosing execution providers
//! ([`device`]), reading the supported model layouts ([`model_dir`]), decoding and preprocessing
//! images of every supported format ([`decode`]) and preprocessing them exactly as the reference `CLIPImageProcessor` does ([`preprocess`]), tokenizing
//! ([`tokenize`]), running the towers ([`encoder`]), identifying a model for the catalog
//! ([`identity`]), and the local model store with `pull` from a Hugging Face-compatible hub
//! ([`store`]).

pub mod decode;
pub mod device;
pub mod encoder;
pub mod error;
pub mod identity;
pub mod model_dir;
pub mod preprocess;
pub mod runtime;
pub mod store;
pub mod tokenize;

pub use device::{Device, Provider, ProviderReport, SessionConfig};
pub use encoder::{l2_normalize, ClipModel, ImageEncoder, ModelIdentity, TextEncoder};
pub use error::{Error, Result};
pub use model_dir::{ImageConfig, Layout, ModelSpec};
pub use decode::{
    decode_image, decode_image_bytes, decode_image_file, DecodeOptions, DecodedImage, ImageFormat,
    ImageSource,
};
pub use preprocess::Preprocessor;
pub use runtime::{RuntimeInfo, RuntimeOptions, RuntimeSource};
pub use tokenize::ClipTokenizer;
