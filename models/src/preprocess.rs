//! CLIP preprocessing of decoded images.
//!
//! Decoding is the other half, kept separate so the indexer can decode each photo once and reuse
//! the pixels for thumbnails: [`decode_image`] (in [`crate::decode`]) turns file bytes of any
//! supported format into an upright RGB image, at reduced DCT scale when the caller only needs a
//! smaller one.
//! - [`Preprocessor`] reproduces Hugging Face's `CLIPImageProcessor` (PIL backend): shortest side
//!   to `size` with HF's rounding, PIL-compatible bicubic (fast_image_resize's Catmull-Rom
//!   convolution is the same filter with the same antialiasing support), centre crop with HF's
//!   offsets, rescale, normalise, CHW. Fidelity to the reference matters: embeddings of the same
//!   photo must not depend on whether Magpie or the Python stack computed them.

use std::path::Path;

use fast_image_resize as fir;
use image::RgbImage;

// Decoding lives in `crate::decode` (one module per format family); these names stay here for the
// callers that import them from `preprocess`.
pub use crate::decode::{
    decode_image, decode_image_bytes, decode_image_file, DecodeOptions, DecodedImage, ImageSource,
    DEFAULT_MAX_PIXELS,
};
use crate::error::{Error, Result};
use crate::model_dir::{ImageConfig, Interpolation, ResizeMode};

/// `CLIPImageProcessor` for one model.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    config: ImageConfig,
}

impl Preprocessor {
    pub fn new(config: &ImageConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }

    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The shortest side to ask of a decode for this model ([`DecodeOptions::min_short_side`]):
    /// twice the model's input. DCT-scaled JPEG decoding low-passes differently from PIL's
    /// bicubic; when the bicubic still has to reduce by ≥ 2× afterwards, that difference mostly
    /// washes out (mean error 0.3–1.5 levels instead of up to 6 when the DCT alone does nearly
    /// all the reduction; figures in tests/preprocess.rs).
    pub fn min_short_side(&self) -> u32 {
        2 * self.config.resize_shortest_edge.max(self.config.size)
    }

    /// Resize + centre crop, as uint8 RGB (`size`×`size`) — the stage the parity tests compare.
    pub fn resize_and_crop(&self, image: &RgbImage) -> Result<RgbImage> {
        self.resize_and_crop_as(image, image.width(), image.height())
    }

    /// [`Self::resize_and_crop`] for a decode that may be DCT-reduced: the output size is
    /// computed from the full-resolution dimensions, as the reference computes it. (A 1772×1181
    /// photo decoded at 1/2 is 886×591, whose own rounding gives 335×224 instead of 336×224: a
    /// different scale and a half-pixel shift of the crop, worth a mean error of 5 levels.)
    pub fn resize_and_crop_decoded(&self, decoded: &DecodedImage) -> Result<RgbImage> {
        self.resize_and_crop_as(
            &decoded.rgb,
            decoded.original_width,
            decoded.original_height,
        )
    }

    fn resize_and_crop_as(
        &self,
        image: &RgbImage,
        full_width: u32,
        full_height: u32,
    ) -> Result<RgbImage> {
        if image.width() == 0 || image.height() == 0 || full_width == 0 || full_height == 0 {
            return Err(Error::ImageDecode {
                input: "image".to_string(),
                reason: "image has no pixels".to_string(),
            });
        }
        let size = self.config.size;
        let (target_width, target_height) = match self.config.resize {
            ResizeMode::Squash => (size, size),
            ResizeMode::Shortest => {
                shortest_edge_size(full_width, full_height, self.config.resize_shortest_edge)
            }
        };
        let resized = resize_rgb(
            image,
            target_width,
            target_height,
            self.config.interpolation,
        )?;
        Ok(center_crop(&resized, size, size))
    }

    /// The model input for a decoded image (see [`Self::resize_and_crop_decoded`]).
    pub fn preprocess_decoded(&self, decoded: &DecodedImage) -> Result<Vec<f32>> {
        Ok(self.normalize(&self.resize_and_crop_decoded(decoded)?))
    }

    /// Normalised CHW floats for the model, from an already resized+cropped image.
    pub fn normalize(&self, cropped: &RgbImage) -> Vec<f32> {
        let (width, height) = cropped.dimensions();
        let plane = (width * height) as usize;
        let mut out = vec![0f32; 3 * plane];
        let scale = self.config.rescale_factor;
        // Divide rather than multiply by 1/std: this is what numpy does in the reference.
        for (index, pixel) in cropped.pixels().enumerate() {
            for channel in 0..3 {
                let value = f32::from(pixel[channel]) * scale;
                out[channel * plane + index] =
                    (value - self.config.mean[channel]) / self.config.std[channel];
            }
        }
        out
    }

    /// The model input for one image: resize, crop, rescale, normalise → `3×size×size` floats.
    pub fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>> {
        Ok(self.normalize(&self.resize_and_crop(image)?))
    }

    /// Decodes a file at the smallest useful scale and preprocesses it.
    pub fn preprocess_file(&self, path: &Path) -> Result<Vec<f32>> {
        let options = DecodeOptions {
            min_long_side: 0,
            min_short_side: self.min_short_side(),
            ..DecodeOptions::default()
        };
        let decoded = decode_image_file(path, &options)?;
        self.preprocess_decoded(&decoded)
    }
}

/// HF's `get_resize_output_image_size(default_to_square=False)`: the short side becomes `target`,
/// the long side `int(target * long / short)` (truncated, in floating point, like Python).
pub fn shortest_edge_size(width: u32, height: u32, target: u32) -> (u32, u32) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = (f64::from(target) * f64::from(long) / f64::from(short)) as u32;
    let new_long = new_long.max(1);
    if width <= height {
        (target, new_long)
    } else {
        (new_long, target)
    }
}

/// PIL-identical resampling. fast_image_resize's Catmull-Rom has PIL's coefficients, but for u8
/// images it runs the vertical pass first, while PIL runs horizontal then vertical, clamping to
/// u8 in between; at strong edges the bicubic overshoot is clamped at a different stage and
/// pixels differ by up to ~15 levels. Running the two passes separately, in PIL's order, makes
/// the result match PIL.
fn resize_rgb(
    image: &RgbImage,
    width: u32,
    height: u32,
    interpolation: Interpolation,
) -> Result<RgbImage> {
    let horizontal = if image.width() != width {
        resize_pass(image, width, image.height(), interpolation)?
    } else {
        image.clone()
    };
    if horizontal.height() != height {
        resize_pass(&horizontal, width, height, interpolation)
    } else {
        Ok(horizontal)
    }
}

/// One fast_image_resize convolution; callers change only one axis at a time.
fn resize_pass(
    image: &RgbImage,
    width: u32,
    height: u32,
    interpolation: Interpolation,
) -> Result<RgbImage> {
    let filter = match interpolation {
        Interpolation::Bicubic => fir::FilterType::CatmullRom,
        Interpolation::Bilinear => fir::FilterType::Bilinear,
    };
    let mut destination = fir::images::Image::new(width, height, fir::PixelType::U8x3);
    let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(filter));
    fir::Resizer::new()
        .resize(image, &mut destination, &options)
        .map_err(|e| Error::ImageDecode {
            input: "image".to_string(),
            reason: format!("resize to {width}×{height} failed: {e}"),
        })?;
    RgbImage::from_raw(width, height, destination.into_vec()).ok_or_else(|| Error::ImageDecode {
        input: "image".to_string(),
        reason: "resized buffer has the wrong size".to_string(),
    })
}

/// HF's `center_crop`: offsets `(orig - crop) // 2` (floor), zero padding centred with
/// `ceil((new - orig) / 2)` when the image is smaller than the crop.
fn center_crop(image: &RgbImage, crop_width: u32, crop_height: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let (width_i, height_i) = (i64::from(width), i64::from(height));
    let (crop_w, crop_h) = (i64::from(crop_width), i64::from(crop_height));
    // When the image is smaller than the crop, HF pads by ceil((crop - orig) / 2) and then crops
    // at the padded offset; the two cancel to the same floor offset used here, with the pixels
    // outside the image left black.
    let top = (height_i - crop_h).div_euclid(2);
    let left = (width_i - crop_w).div_euclid(2);
    RgbImage::from_fn(crop_width, crop_height, |x, y| {
        let source_x = left + i64::from(x);
        let source_y = top + i64::from(y);
        if (0..width_i).contains(&source_x) && (0..height_i).contains(&source_y) {
            *image.get_pixel(source_x as u32, source_y as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}
