//! `magpie-ocr`: the words in photos, screenshots and scans.
//!
//! PP-OCR on ONNX Runtime, the pipeline RapidOCR 1.4.4 runs, reimplemented so that Magpie reads
//! the same text from the same models without Python: DB text detection ([`detect`]), box
//! geometry as OpenCV/pyclipper compute it ([`geometry`]), crops and resizes bit-exact with
//! OpenCV ([`imageops`]), the 0/180° orientation classifier and CTC recognition with the model's
//! own character list ([`recognize`]), and the engine that runs them in order ([`engine`]). The
//! engine runs with RapidOCR's settings exactly (`OcrOptions::rapidocr`, which the parity test
//! holds to RapidOCR's own readings) or, by default, with three measured departures that read
//! far more of the words in screenshots: long lines are orientation-classified in windows,
//! dropped spaces are put back from the space class's probability, and lines are recognised
//! one at a time at their own width. The OCR models live in Magpie's model store ([`model`]).
//!
//! ONNX Runtime is started by `magpie_models::runtime::init`; sessions are built by
//! `magpie_models::device::build_session`, so OCR runs on the same execution providers as CLIP.

pub mod detect;
pub mod engine;
pub mod error;
pub mod geometry;
pub mod imageops;
pub mod model;
pub mod recognize;

pub use engine::{OcrEngine, OcrOptions, OcrResult, TextLine, Timings};
pub use error::{Error, Result};
pub use model::{OcrModel, KNOWN_MODELS, PP_OCRV4};
