//! Image decoding: file bytes (any supported format, recognised by content) → an upright RGB image.
//!
//! One entry point, [`decode_image_bytes`] (and its path/[`ImageSource`] forms), used by the
//! indexer, the searcher, the web server and OCR alike. It sniffs the format ([`sniff`]), checks
//! the pixel limit from the header *before* any pixel is decoded (decompression bombs), and hands
//! the bytes to one module per format family:
//! - [`jpeg`]: libjpeg-turbo, at full or DCT-reduced scale; its warnings (corrupt data it decodes
//!   through, premature end) are not errors but a *partial* decode ([`DecodedImage::partial`]);
//! - [`heif`]: HEIC/HEIF and AVIF through libheif (feature `heif`), the container's transforms
//!   (irot/imir) applied by libheif and the EXIF orientation then ignored;
//! - [`jxl`]: JPEG XL through jxl-oxide, rendered to sRGB, codestream orientation applied;
//! - [`raw`]: camera RAW: the largest embedded JPEG preview, else a demosaic (rawler);
//! - [`generic`]: PNG, GIF, WebP, TIFF, BMP through the `image` crate.
//!
//! EXIF orientation is read once, in [`orientation`], as tolerantly as PIL reads it, and that one
//! reading ([`DecodedImage::orientation`]) is what the pixels were turned by and what the catalog
//! records. Every format ends in the same RGB conversion ([`to_rgb8`], = PIL's `convert("RGB")`
//! with transparency composited onto white, as `CLIPImageProcessor` does).

pub mod generic;
pub mod heif;
pub mod jpeg;
pub mod jxl;
pub mod orientation;
pub mod raw;
pub mod sniff;

use std::path::Path;

use image::{DynamicImage, RgbImage};

use crate::error::{Error, Result};
pub use orientation::{exif_orientation, Orientation};
pub use sniff::{sniff, ImageFormat, SNIFF_LEN};

/// PIL's decompression-bomb limit (`2 × MAX_IMAGE_PIXELS`): images PIL refuses, Magpie refuses.
pub const DEFAULT_MAX_PIXELS: u64 = 178_956_970;

/// What the caller needs from a decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The smallest shortest side (after orientation) the caller can use; lets JPEGs (and RAW
    /// previews) be decoded at 1/2, 1/4 or 1/8 scale. `0` = full size.
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
    /// Pixels, orientation applied; possibly DCT-downscaled (see `scale_denominator`).
    pub rgb: RgbImage,
    /// Full-resolution width as displayed (after orientation).
    pub original_width: u32,
    /// Full-resolution height as displayed (after orientation).
    pub original_height: u32,
    pub format: ImageFormat,
    /// The EXIF orientation (1–8) the pixels were turned by: 1 when there was none, and 1 for
    /// HEIF/AVIF and JPEG XL, whose containers carry their own transforms (applied by their
    /// decoders; an EXIF orientation there is ignored, as the HEIF specification says).
    pub orientation: u16,
    /// The raw EXIF block (TIFF structure, no `Exif\0\0` prefix), for metadata extraction.
    pub exif: Option<Vec<u8>>,
    /// 1 for a full decode; 2, 4 or 8 for a DCT-scaled JPEG decode.
    pub scale_denominator: u32,
    /// Set when the file is damaged but decoded as far as it goes: what the decoder said and, where
    /// it can be told, what was lost. The image is still usable (and indexed).
    pub partial: Option<String>,
    /// For camera RAW: how the pixels were obtained (`"embedded preview"`, `"demosaic"`).
    pub source: Option<&'static str>,
}

/// Either a path or bytes already in memory.
#[derive(Debug, Clone, Copy)]
pub enum ImageSource<'a> {
    Path(&'a Path),
    /// Bytes plus a label for error messages (usually the original path).
    Bytes(&'a [u8], &'a str),
}

/// Decodes an image file.
pub fn decode_image_file(path: &Path, options: &DecodeOptions) -> Result<DecodedImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image_bytes(&bytes, &path.display().to_string(), options)
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
    if bytes.is_empty() {
        return Err(decode_error(label, "empty file"));
    }
    let format = sniff(bytes).ok_or_else(|| decode_error(label, "unrecognised image format"))?;
    if let Err(how) = format.decoder_available() {
        return Err(Error::ImageUnsupported {
            input: label.to_string(),
            format: format.name(),
            how,
        });
    }
    let decoded = match format {
        ImageFormat::Jpeg => jpeg::decode(bytes, label, options),
        ImageFormat::Heif | ImageFormat::Avif => heif::decode(bytes, label, options, format),
        ImageFormat::JpegXl => jxl::decode(bytes, label, options),
        ImageFormat::Raw => raw::decode(bytes, label, options),
        _ => generic::decode(bytes, label, options, format),
    }?;
    if decoded.rgb.width() == 0 || decoded.rgb.height() == 0 {
        return Err(decode_error(label, "image has no pixels"));
    }
    Ok(decoded)
}

pub(crate) fn decode_error(label: &str, reason: impl Into<String>) -> Error {
    Error::ImageDecode {
        input: label.to_string(),
        reason: reason.into(),
    }
}

/// The bomb guard, from header dimensions only (stored, before orientation).
pub(crate) fn check_pixels(
    label: &str,
    width: u32,
    height: u32,
    options: &DecodeOptions,
) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > options.max_pixels {
        return Err(Error::ImageTooLarge {
            input: label.to_string(),
            width,
            height,
            pixels,
            max_pixels: options.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(decode_error(label, "image has no pixels"));
    }
    Ok(())
}

/// The reference's RGB conversion (`CLIPImageProcessor`'s `convert_rgb`): transparent pixels are
/// composited onto white (a logo on a transparent background must not turn into a black square),
/// grey is replicated, 16-bit is reduced to 8-bit.
pub fn to_rgb8(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return match image {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        };
    }
    let rgba = image.to_rgba8();
    composite_on_white(&rgba)
}

/// PIL's alpha_composite onto opaque white, with its rounding: (c·a + 255·(255−a)) / 255.
pub(crate) fn composite_on_white(rgba: &image::RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend =
            |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

/// The largest DCT reduction (1/2, 1/4, 1/8) that keeps the shortest side ≥ `min_short` and the
/// longest side ≥ `min_long`, taken only when the image is at least twice that (otherwise the
/// full decode is cheap anyway). No `min_short` means full size.
pub(crate) fn dct_scale_denominator(
    (short, long): (u32, u32),
    (min_short, min_long): (u32, u32),
) -> u32 {
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

/// Runs a third-party decoder that may panic on hostile input and turns a panic into an error
/// naming the file (the indexer's workers also catch panics, but the searcher and web do not).
pub(crate) fn guarded<T>(label: &str, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_quietly(f) {
        Ok(result) => result,
        Err(message) => Err(decode_error(label, format!("{what} crashed: {message}"))),
    }
}

thread_local! {
    /// Depth of [`catch_quietly`] calls on this thread: a panic inside one is caught and reported
    /// by the caller, so the panic hook must not also print it.
    static QUIET_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, catching a panic and returning its message, **without** the standard panic hook's
/// output (the thread/location line and, with `RUST_BACKTRACE`, a full backtrace) for that panic:
/// the caller reports it once, as one line naming the file. Panics elsewhere print as usual.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_DEPTH.with(|depth| depth.get()) == 0 {
                previous(info);
            }
        }));
    });
    QUIET_DEPTH.with(|depth| depth.set(depth.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_DEPTH.with(|depth| depth.set(depth.get() - 1));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-text payload".to_string())
    })
}
