//! Image decoding and CLIP preprocessing.
//!
//! Two halves, kept separate so the indexer can decode each photo once and reuse the pixels for
//! thumbnails:
//! - [`decode_image`] turns file bytes (any supported format, recognised by content) into an
//!   upright RGB image: EXIF orientation applied, grey/CMYK/alpha/16-bit/palette converted as PIL's
//!   `convert("RGB")` does, a header-based pixel limit checked *before* any pixel is decoded
//!   (decompression bombs), and large JPEGs decoded at reduced DCT scale when the caller only needs
//!   a smaller image — decoding an 18 MP photo at 1/8 is several times faster than at full size.
//! - [`Preprocessor`] reproduces Hugging Face's `CLIPImageProcessor` (PIL backend): shortest side
//!   to `size` with HF's rounding, PIL-compatible bicubic (fast_image_resize's Catmull-Rom
//!   convolution is the same filter with the same antialiasing support), centre crop with HF's
//!   offsets, rescale, normalise, CHW. Fidelity to the reference matters: embeddings of the same
//!   photo must not depend on whether Magpie or the Python stack computed them.

use std::io::Cursor;
use std::path::Path;

use fast_image_resize as fir;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::model_dir::{ImageConfig, Interpolation, ResizeMode};

/// PIL's decompression-bomb limit (`2 × MAX_IMAGE_PIXELS`): images PIL refuses, Magpie refuses.
pub const DEFAULT_MAX_PIXELS: u64 = 178_956_970;

/// What the caller needs from a decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The smallest shortest side (after orientation) the caller can use; lets JPEGs be decoded at
    /// 1/2, 1/4 or 1/8 scale. `0` = full size.
    pub min_short_side: u32,
    /// The smallest longest side the caller can use (e.g. a 1280 px preview), so a DCT-scaled
    /// decode serves both the model input and the thumbnails. `0` = no constraint.
    pub min_long_side: u32,
    /// Refuse images whose header declares more pixels than this.
    pub max_pixels: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            min_short_side: 0,
            min_long_side: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// A decoded, upright RGB image and what was learnt while decoding it.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// Pixels, EXIF orientation applied; possibly DCT-downscaled (see `scale_denominator`).
    pub rgb: RgbImage,
    /// Full-resolution width as displayed (after orientation).
    pub original_width: u32,
    /// Full-resolution height as displayed (after orientation).
    pub original_height: u32,
    pub format: ImageFormat,
    /// The EXIF orientation tag (1 = upright, 1–8).
    pub orientation: u16,
    /// The raw EXIF blob, for metadata extraction.
    pub exif: Option<Vec<u8>>,
    /// 1 for a full decode; 2, 4 or 8 for a DCT-scaled JPEG decode.
    pub scale_denominator: u32,
}

/// Decodes an image file.
pub fn decode_image_file(path: &Path, options: &DecodeOptions) -> Result<DecodedImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image_bytes(&bytes, &path.display().to_string(), options)
}

/// Either a path or bytes already in memory.
#[derive(Debug, Clone, Copy)]
pub enum ImageSource<'a> {
    Path(&'a Path),
    /// Bytes plus a label for error messages (usually the original path).
    Bytes(&'a [u8], &'a str),
}

/// Decodes an image from a path or from bytes.
pub fn decode_image(source: ImageSource<'_>, options: &DecodeOptions) -> Result<DecodedImage> {
    match source {
        ImageSource::Path(path) => decode_image_file(path, options),
        ImageSource::Bytes(bytes, label) => decode_image_bytes(bytes, label, options),
    }
}

/// Decodes image bytes; `label` names the input in errors.
pub fn decode_image_bytes(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
) -> Result<DecodedImage> {
    let decode_error = |reason: String| Error::ImageDecode {
        input: label.to_string(),
        reason,
    };
    if bytes.is_empty() {
        return Err(decode_error("empty file".to_string()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(e.to_string()))?;
    let format = reader
        .format()
        .ok_or_else(|| decode_error("unrecognised image format".to_string()))?;
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(e.to_string()))?;

    let (stored_width, stored_height) = decoder.dimensions();
    let pixels = u64::from(stored_width) * u64::from(stored_height);
    if pixels > options.max_pixels {
        return Err(Error::ImageTooLarge {
            input: label.to_string(),
            width: stored_width,
            height: stored_height,
            pixels,
            max_pixels: options.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(decode_error("image has no pixels".to_string()));
    }
    // EXIF problems must not cost the user the photo: a broken EXIF block means "upright".
    let exif = decoder.exif_metadata().ok().flatten();
    let orientation_tag = exif.as_deref().and_then(exif_orientation).unwrap_or(1);
    let orientation = image::metadata::Orientation::from_exif(orientation_tag as u8)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let swaps_axes = matches!(orientation_tag, 5..=8);
    let (original_width, original_height) = if swaps_axes {
        (stored_height, stored_width)
    } else {
        (stored_width, stored_height)
    };

    // JPEGs go through libjpeg-turbo, at full or DCT-reduced scale: it is the decoder Pillow
    // bundles, so full-size pixels match the reference exactly (zune-jpeg's IDCT differs by a
    // few levels), and it can skip most of the work when a smaller image will do.
    let scale_denominator = dct_scale_denominator(
        (
            original_width.min(original_height),
            original_width.max(original_height),
        ),
        (options.min_short_side, options.min_long_side),
    );
    let fast = if format == ImageFormat::Jpeg {
        match decode_jpeg_scaled(bytes, scale_denominator) {
            Ok(rgb) => Some(rgb),
            Err(reason) => {
                // CMYK, corrupt or exotic JPEGs that libjpeg-turbo refuses still get the general
                // decoder, which conceals damage instead of failing.
                tracing::debug!(input = label, %reason, "libjpeg-turbo decode failed; using the general decoder");
                None
            }
        }
    } else {
        None
    };
    let (image, scale_denominator) = match fast {
        Some(rgb) => (DynamicImage::ImageRgb8(rgb), scale_denominator),
        None => {
            let image =
                DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e.to_string()))?;
            (image, 1)
        }
    };
    let mut rgb = to_rgb8(image);
    if orientation != image::metadata::Orientation::NoTransforms {
        let mut dynamic = DynamicImage::ImageRgb8(rgb);
        dynamic.apply_orientation(orientation);
        rgb = dynamic.into_rgb8();
    }
    Ok(DecodedImage {
        rgb,
        original_width,
        original_height,
        format,
        orientation: orientation_tag,
        exif,
        scale_denominator,
    })
}

/// The reference's RGB conversion (`CLIPImageProcessor`'s `convert_rgb`): transparent pixels are
/// composited onto white (a logo on a transparent background must not turn into a black square),
/// grey is replicated, 16-bit is reduced to 8-bit.
fn to_rgb8(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return match image {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        };
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        // PIL's alpha_composite onto opaque white, with its rounding: (c·a + 255·(255−a)) / 255.
        let blend =
            |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

/// Reads the orientation tag (1–8) from a raw EXIF blob.
fn exif_orientation(raw: &[u8]) -> Option<u16> {
    let exif = exif::Reader::new().read_raw(raw.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    u16::try_from(value).ok().filter(|v| (1..=8).contains(v))
}

/// The largest DCT reduction (1/2, 1/4, 1/8) that keeps the shortest side ≥ `min_short` and the
/// longest side ≥ `min_long`, taken only when the image is at least twice that (otherwise the
/// full decode is cheap anyway). No `min_short` means full size.
fn dct_scale_denominator((short, long): (u32, u32), (min_short, min_long): (u32, u32)) -> u32 {
    if min_short == 0 {
        return 1;
    }
    let mut best = 1;
    for denominator in [2u32, 4, 8] {
        // libjpeg-turbo rounds scaled sizes up.
        if short.div_ceil(denominator) >= min_short && long.div_ceil(denominator) >= min_long {
            best = denominator;
        }
    }
    best
}

fn decode_jpeg_scaled(bytes: &[u8], denominator: u32) -> std::result::Result<RgbImage, String> {
    let factor = match denominator {
        1 => turbojpeg::ScalingFactor::ONE,
        2 => turbojpeg::ScalingFactor::ONE_HALF,
        4 => turbojpeg::ScalingFactor::ONE_QUARTER,
        8 => turbojpeg::ScalingFactor::ONE_EIGHTH,
        _ => return Err(format!("unsupported scale 1/{denominator}")),
    };
    let mut decompressor = turbojpeg::Decompressor::new().map_err(|e| e.to_string())?;
    let header = decompressor.read_header(bytes).map_err(|e| e.to_string())?;
    if matches!(
        header.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    ) {
        return Err("CMYK JPEG".to_string());
    }
    decompressor
        .set_scaling_factor(factor)
        .map_err(|e| e.to_string())?;
    let scaled = header.scaled(factor);
    let pitch = scaled.width * 3;
    let mut image = turbojpeg::Image {
        pixels: vec![0u8; pitch * scaled.height],
        width: scaled.width,
        pitch,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    decompressor
        .decompress(bytes, image.as_deref_mut())
        .map_err(|e| e.to_string())?;
    let width = u32::try_from(scaled.width).map_err(|e| e.to_string())?;
    let height = u32::try_from(scaled.height).map_err(|e| e.to_string())?;
    RgbImage::from_raw(width, height, image.pixels)
        .ok_or_else(|| "decoded buffer has the wrong size".to_string())
}

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
