//! A hand-built "CLIP" with known meaning: images embed their colour, texts embed colour words,
//! and a generated library of coloured images with metadata.
//!
//! Embedding of a colour (hue h, saturation s, value v): `[s·cos h, s·sin h, (1−v)/2, 0.3]` —
//! hue on a circle, darkness on its own axis, and a constant so grey and white still have a
//! direction. Texts sum their colour words (`red`, `orange`, …, `dark`, `bright`, `grey`) plus a
//! small constant, so text without colour words ("IMG_2041") still embeds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use magpie_searcher::{BackendError, ImageEmbedder, TextEmbedder};

use super::memory_index::{record, Image, MemoryIndex};
use super::vectors::Rng;

pub const MODEL_KEY: &str = "colour-v1";

const HUES: [(&str, f32); 7] = [
    ("red", 0.0),
    ("orange", 35.0),
    ("yellow", 60.0),
    ("green", 120.0),
    ("cyan", 180.0),
    ("blue", 240.0),
    ("magenta", 300.0),
];

pub fn hsv_embedding(hue_degrees: f32, saturation: f32, value: f32) -> Vec<f32> {
    let h = hue_degrees.to_radians();
    vec![
        saturation * h.cos(),
        saturation * h.sin(),
        0.5 * (1.0 - value),
        0.3,
    ]
}

#[derive(Default)]
pub struct ColourModel {
    pub text_calls: AtomicUsize,
    pub key: Option<String>,
}

impl ColourModel {
    pub fn calls(&self) -> usize {
        self.text_calls.load(Ordering::SeqCst)
    }
}

impl TextEmbedder for ColourModel {
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        self.text_calls.fetch_add(1, Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|text| {
                let mut v = vec![0.0, 0.0, 0.0, 0.1];
                for word in text
                    .split(|c: char| !c.is_alphanumeric())
                    .map(str::to_lowercase)
                {
                    if let Some((_, hue)) = HUES.iter().find(|(name, _)| *name == word) {
                        let h = hue.to_radians();
                        v[0] += h.cos();
                        v[1] += h.sin();
                    }
                    match word.as_str() {
                        "dark" => v[2] += 1.0,
                        "bright" => v[2] -= 1.0,
                        "grey" => v[3] += 1.0,
                        _ => {}
                    }
                }
                v
            })
            .collect())
    }

    fn model_key(&self) -> String {
        self.key.clone().unwrap_or_else(|| MODEL_KEY.to_string())
    }
}

/// Query images are text files holding "hue saturation value".
impl ImageEmbedder for ColourModel {
    fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>, BackendError> {
        let text = std::fs::read_to_string(path)?;
        let numbers: Vec<f32> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        match numbers[..] {
            [h, s, v] => Ok(hsv_embedding(h, s, v)),
            _ => Err("not an image".into()),
        }
    }
}

/// What a generated image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    Bright(&'static str),
    Dark(&'static str),
    Grey,
}

/// What the fixture put into one image's metadata, kept apart from its record so that tests can
/// state what a filter must select without asking the filter code itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// Folder below `/lib`, e.g. `2021/lisbon`.
    pub folder: &'static str,
    /// File extension as written (upper or lower case).
    pub extension: &'static str,
    /// "make model" as the camera wrote it ("" for none).
    pub camera: &'static str,
    pub width: u32,
    pub height: u32,
    /// EXIF taken-at (Unix seconds), when the photo has one; otherwise the file's date counts.
    pub taken_at: Option<i64>,
    pub beach: bool,
}

impl Truth {
    /// The date a person means: taken-at, else the file's modification date.
    pub fn date(&self) -> i64 {
        self.taken_at.unwrap_or(super::memory_index::FILE_DATE)
    }
}

pub struct ColourLibrary {
    pub index: MemoryIndex,
    pub swatches: Vec<(u64, Swatch)>,
    pub truths: Vec<(u64, Truth)>,
}

impl ColourLibrary {
    pub fn swatch(&self, id: u64) -> Swatch {
        self.swatches.iter().find(|(i, _)| *i == id).unwrap().1
    }

    /// The ids whose [`Truth`] satisfies `predicate`.
    pub fn ids_where(&self, predicate: impl Fn(&Truth) -> bool) -> std::collections::HashSet<u64> {
        self.truths
            .iter()
            .filter(|(_, truth)| predicate(truth))
            .map(|(id, _)| *id)
            .collect()
    }
}

pub const NAMED_FILE_ID: u64 = 9999;

/// ~300 images: per hue 20 bright and 8 dark, 40 greys, plus `IMG_2041.JPG` (green), with
/// varied folders, dates, cameras, types, sizes and tags.
pub fn colour_library() -> ColourLibrary {
    let mut rng = Rng::new(42);
    let mut images = Vec::new();
    let mut swatches = Vec::new();
    let mut truths = Vec::new();
    let folders = ["2021/lisbon", "2022/home", "2023/trip"];
    let extensions = ["jpg", "PNG", "heic"];
    // (make, model) as cameras write them: Canon repeats its make in the model.
    let cameras = [("Canon", "Canon EOS R5"), ("Apple", "iPhone 12"), ("", "")];
    let sizes = [(4000, 3000), (3000, 4000), (2000, 2000), (640, 480)];
    let mut push = |id: u64, swatch: Swatch, embedding: Vec<f32>, rng: &mut Rng| {
        let n = id as usize;
        let (width, height) = sizes[n % sizes.len()];
        let (make, model) = cameras[(n / 2) % 3];
        let truth = Truth {
            folder: folders[n % 3],
            extension: extensions[(n / 3) % 3],
            camera: ["Canon EOS R5", "Apple iPhone 12", ""][(n / 2) % 3],
            width,
            height,
            taken_at: (!n.is_multiple_of(7))
                .then(|| 1_600_000_000 + (rng.next_u64() % 100_000_000) as i64),
            beach: n.is_multiple_of(5),
        };
        let mut image_record = record(
            id,
            &format!("/lib/{}/IMG_{id:04}.{}", truth.folder, truth.extension),
            width,
            height,
        );
        image_record.exif.taken_at = truth.taken_at;
        image_record.exif.make = (!make.is_empty()).then(|| make.to_string());
        image_record.exif.model = (!model.is_empty()).then(|| model.to_string());
        if truth.beach {
            image_record.tags = vec!["Beach".into()];
        }
        images.push(Image {
            id,
            embedding,
            record: image_record,
        });
        swatches.push((id, swatch));
        truths.push((id, truth));
    };
    let mut id = 0u64;
    for (name, hue) in HUES {
        for _ in 0..20 {
            let e = hsv_embedding(
                hue + 16.0 * (rng.unit() - 0.5),
                0.85 + 0.15 * rng.unit(),
                0.85 + 0.15 * rng.unit(),
            );
            push(id, Swatch::Bright(name), e, &mut rng);
            id += 1;
        }
        for _ in 0..8 {
            let e = hsv_embedding(
                hue + 16.0 * (rng.unit() - 0.5),
                0.8 + 0.2 * rng.unit(),
                0.15 + 0.2 * rng.unit(),
            );
            push(id, Swatch::Dark(name), e, &mut rng);
            id += 1;
        }
    }
    for _ in 0..40 {
        let e = hsv_embedding(360.0 * rng.unit(), 0.05 * rng.unit(), rng.unit());
        push(id, Swatch::Grey, e, &mut rng);
        id += 1;
    }
    push(
        NAMED_FILE_ID,
        Swatch::Bright("green"),
        hsv_embedding(120.0, 1.0, 1.0),
        &mut rng,
    );
    let mut library = ColourLibrary {
        index: MemoryIndex::new(MODEL_KEY, images),
        swatches,
        truths,
    };
    let named = library
        .index
        .images
        .iter_mut()
        .find(|i| i.id == NAMED_FILE_ID)
        .unwrap();
    named.record.path = PathBuf::from("/lib/misc/IMG_2041.JPG");
    let named_truth = &mut library
        .truths
        .iter_mut()
        .find(|(id, _)| *id == NAMED_FILE_ID)
        .unwrap()
        .1;
    named_truth.folder = "misc";
    named_truth.extension = "JPG";
    library
}
