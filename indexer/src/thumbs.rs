//! Thumbnails from the already-decoded, already-upright pixels (the same decode that feeds the
//! model), so a photo is decoded once per run.
//!
//! Two sizes:
//! - grid: **shortest** side 256 px. Grids show photos in square cells (`object-fit: cover`) or in
//!   justified rows of fixed height; either way the short side is what must fill the cell, and a
//!   longest-side rule would leave portrait and panorama cells blurry. The long side is capped at
//!   1024 px so a 20000×10 panorama does not become a "thumbnail" of megapixels.
//! - preview: **longest** side 1280 px, for the full-screen view.
//!
//! Neither is ever upscaled: enlarging adds bytes, not detail.
//!
//! Encoded as JPEG, quality 85, 4:2:0. The `image` crate only encodes *lossless* WebP, which for
//! photographs is several times larger than a JPEG and slower to make; libjpeg-turbo (already in
//! the build for decoding) encodes a 1280 px preview in a few milliseconds and every browser shows
//! the result.

use fast_image_resize as fir;
use image::RgbImage;
use serde::Serialize;

/// Target sizes and quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSpec {
    /// Shortest side of the grid thumbnail.
    pub grid_short_side: u32,
    /// Cap on the grid thumbnail's longest side (extreme aspect ratios).
    pub grid_max_long_side: u32,
    /// Longest side of the preview.
    pub preview_long_side: u32,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
}

impl Default for ThumbnailSpec {
    fn default() -> Self {
        Self {
            grid_short_side: 256,
            grid_max_long_side: 1024,
            preview_long_side: 1280,
            jpeg_quality: 85,
        }
    }
}

/// One encoded thumbnail.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    #[serde(skip)]
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Thumbnail({}×{}, {} JPEG bytes)",
            self.width,
            self.height,
            self.jpeg.len()
        )
    }
}

/// The grid thumbnail and the preview of one photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thumbnails {
    pub grid: Thumbnail,
    pub preview: Thumbnail,
}

/// Why a thumbnail could not be made (the caller names the file).
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("image has no pixels")]
    Empty,
    #[error("resize to {width}×{height} failed: {reason}")]
    Resize {
        width: u32,
        height: u32,
        reason: String,
    },
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// Output size for a scale factor, never larger than the input and never zero.
fn scaled(width: u32, height: u32, scale: f64) -> (u32, u32) {
    let scale = scale.min(1.0);
    let side = |length: u32| ((f64::from(length) * scale).round() as u32).clamp(1, length);
    (side(width), side(height))
}

/// Grid thumbnail dimensions for a `width`×`height` image.
pub fn grid_size(width: u32, height: u32, spec: &ThumbnailSpec) -> (u32, u32) {
    let short = f64::from(width.min(height));
    let long = f64::from(width.max(height));
    let scale =
        (f64::from(spec.grid_short_side) / short).min(f64::from(spec.grid_max_long_side) / long);
    scaled(width, height, scale)
}

/// Preview dimensions for a `width`×`height` image.
pub fn preview_size(width: u32, height: u32, spec: &ThumbnailSpec) -> (u32, u32) {
    scaled(
        width,
        height,
        f64::from(spec.preview_long_side) / f64::from(width.max(height)),
    )
}

/// Makes both thumbnails. The preview is resized from the source and the grid thumbnail from the
/// preview when that is big enough — a much smaller input, and quality is unaffected because the
/// preview is a proper (antialiased) downscale.
pub fn make_thumbnails(
    image: &RgbImage,
    spec: &ThumbnailSpec,
) -> Result<Thumbnails, ThumbnailError> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(ThumbnailError::Empty);
    }
    let (preview_width, preview_height) = preview_size(width, height, spec);
    let preview_pixels = resize(image, preview_width, preview_height)?;
    let (grid_width, grid_height) = grid_size(width, height, spec);
    let grid_pixels = if grid_width <= preview_width && grid_height <= preview_height {
        resize(&preview_pixels, grid_width, grid_height)?
    } else {
        resize(image, grid_width, grid_height)?
    };
    Ok(Thumbnails {
        grid: encode(&grid_pixels, spec.jpeg_quality)?,
        preview: encode(&preview_pixels, spec.jpeg_quality)?,
    })
}

/// Lanczos3 resize (the usual choice for photographic downscaling); a same-size "resize" is a copy.
fn resize(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage, ThumbnailError> {
    if image.dimensions() == (width, height) {
        return Ok(image.clone());
    }
    let resize_error = |reason: String| ThumbnailError::Resize {
        width,
        height,
        reason,
    };
    let mut destination = fir::images::Image::new(width, height, fir::PixelType::U8x3);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    fir::Resizer::new()
        .resize(image, &mut destination, &options)
        .map_err(|e| resize_error(e.to_string()))?;
    RgbImage::from_raw(width, height, destination.into_vec())
        .ok_or_else(|| resize_error("resizer returned a buffer of the wrong size".to_string()))
}

fn encode(image: &RgbImage, quality: u8) -> Result<Thumbnail, ThumbnailError> {
    let (width, height) = image.dimensions();
    let view = turbojpeg::Image {
        pixels: image.as_raw().as_slice(),
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(view, i32::from(quality), turbojpeg::Subsamp::Sub2x2)
        .map_err(|e| ThumbnailError::Encode(e.to_string()))?;
    Ok(Thumbnail {
        width,
        height,
        jpeg: jpeg.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_fills_the_short_side_and_preview_bounds_the_long_side() {
        let spec = ThumbnailSpec::default();
        assert_eq!(grid_size(4000, 3000, &spec), (341, 256));
        assert_eq!(grid_size(3000, 4000, &spec), (256, 341));
        assert_eq!(preview_size(4000, 3000, &spec), (1280, 960));
        assert_eq!(preview_size(3000, 4000, &spec), (960, 1280));
        // Extreme panorama: long side capped, short side never zero.
        assert_eq!(grid_size(20000, 10, &spec), (1024, 1));
        // Never upscaled.
        assert_eq!(grid_size(100, 50, &spec), (100, 50));
        assert_eq!(preview_size(100, 50, &spec), (100, 50));
    }

    #[test]
    fn thumbnails_are_decodable_jpegs_of_the_planned_size_and_colour() {
        let image = RgbImage::from_fn(1600, 1200, |x, _| {
            if x < 800 {
                image::Rgb([200, 30, 30])
            } else {
                image::Rgb([30, 30, 200])
            }
        });
        let thumbs = make_thumbnails(&image, &ThumbnailSpec::default()).unwrap();
        for (thumb, size) in [(&thumbs.grid, (341, 256)), (&thumbs.preview, (1280, 960))] {
            assert_eq!((thumb.width, thumb.height), size);
            let decoded =
                image::load_from_memory_with_format(&thumb.jpeg, image::ImageFormat::Jpeg)
                    .unwrap()
                    .to_rgb8();
            assert_eq!(decoded.dimensions(), size);
            // Left stays red, right stays blue: orientation and channel order are preserved.
            let left = decoded.get_pixel(size.0 / 8, size.1 / 2);
            let right = decoded.get_pixel(size.0 * 7 / 8, size.1 / 2);
            assert!(left[0] > 150 && left[2] < 80, "{left:?}");
            assert!(right[2] > 150 && right[0] < 80, "{right:?}");
        }
    }

    #[test]
    fn tiny_image_is_kept_at_its_size() {
        let image = RgbImage::from_pixel(1, 1, image::Rgb([10, 200, 10]));
        let thumbs = make_thumbnails(&image, &ThumbnailSpec::default()).unwrap();
        assert_eq!((thumbs.grid.width, thumbs.grid.height), (1, 1));
        assert_eq!((thumbs.preview.width, thumbs.preview.height), (1, 1));
    }
}
