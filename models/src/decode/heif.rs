//! HEIC/HEIF and AVIF through libheif (feature `heif`; Debian's libheif brings the HEVC decoder
//! libde265 and the AV1 decoders dav1d and aom).
//!
//! - The *primary* image is decoded: of a collection, the one the file names primary; of a Live
//!   or motion photo, the still. Depth maps, alpha and other auxiliary images are not pictures.
//!   Grids (phones tile large photos into 512×512 HEVC tiles) are assembled by libheif.
//! - Orientation comes from the container: libheif applies `irot`/`imir` (and `clap` cropping)
//!   while decoding. The EXIF block of a HEIF usually repeats the orientation (iPhones write both);
//!   the HEIF specification says readers must ignore it, so it is *not* applied again
//!   (`DecodedImage::orientation` = 1) — pillow-heif resets it to 1 for the same reason.
//! - More than 8 bits (10-bit HDR phones) are decoded at 16 bits and rounded to 8.
//! - Transparency is composited onto white, as for every other format.
//! - Image sequences without a still (`.heics`/`.avifs` holding only a track) need libheif ≥ 1.20
//!   to be read; with Debian 12's 1.15 they are reported unsupported, with that reason.

use super::{DecodeOptions, DecodedImage, ImageFormat};
use crate::error::Result;

#[cfg(feature = "heif")]
pub fn decode(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    format: ImageFormat,
) -> Result<DecodedImage> {
    super::guarded(label, "libheif", || {
        with_libheif::decode(bytes, label, options, format)
    })
}

#[cfg(not(feature = "heif"))]
pub fn decode(
    _bytes: &[u8],
    label: &str,
    _options: &DecodeOptions,
    format: ImageFormat,
) -> Result<DecodedImage> {
    Err(crate::Error::ImageUnsupported {
        input: label.to_string(),
        format: format.name(),
        how: format
            .decoder_available()
            .err()
            .unwrap_or("build with the `heif` feature"),
    })
}

#[cfg(feature = "heif")]
mod with_libheif {
    use image::{ImageBuffer, Rgba, RgbaImage};
    use libheif_rs::{
        ColorSpace, HeifContext, HeifError, HeifErrorCode, HeifErrorSubCode, ItemId, LibHeif,
        RgbChroma,
    };

    use super::super::{
        check_pixels, composite_on_white, decode_error, DecodeOptions, DecodedImage, ImageFormat,
    };
    use crate::error::{Error, Result};

    fn failure(label: &str, format: ImageFormat, error: HeifError) -> Error {
        let unsupported = |how: &'static str| Error::ImageUnsupported {
            input: label.to_string(),
            format: format.name(),
            how,
        };
        match (error.code, error.sub_code) {
            (_, HeifErrorSubCode::UnsupportedCodec) | (HeifErrorCode::UnsupportedFeature, _) => {
                if format == ImageFormat::Avif {
                    unsupported("libheif has no AV1 decoder here; install Debian's libheif1 with libdav1d6 or libaom3 (libheif-plugin-dav1d on newer releases)")
                } else {
                    unsupported("libheif has no HEVC decoder here; install Debian's libheif1 with libde265-0 (libheif-plugin-libde265 on newer releases)")
                }
            }
            (_, HeifErrorSubCode::NoMetaBox) => unsupported(
                "an image sequence without a still image; libheif 1.20 or newer reads sequence tracks, this system has an older one",
            ),
            _ => decode_error(label, format!("libheif: {}", error.message)),
        }
    }

    pub(super) fn decode(
        bytes: &[u8],
        label: &str,
        options: &DecodeOptions,
        format: ImageFormat,
    ) -> Result<DecodedImage> {
        let heif_error = |error| failure(label, format, error);
        let context = HeifContext::read_from_bytes(bytes).map_err(heif_error)?;
        let handle = context.primary_image_handle().map_err(heif_error)?;
        // Displayed size: libheif reports it with the container's rotation already applied.
        let (width, height) = (handle.width(), handle.height());
        check_pixels(label, width, height, options)?;
        let exif = exif_block(&handle);
        let alpha = handle.has_alpha_channel();
        let bits = handle.luma_bits_per_pixel();
        let deep = bits > 8;
        let chroma = match (deep, alpha) {
            (false, false) => RgbChroma::Rgb,
            (false, true) => RgbChroma::Rgba,
            (true, false) => RgbChroma::HdrRgbLe,
            (true, true) => RgbChroma::HdrRgbaLe,
        };
        // libheif-rs 0.20 frees DecodingOptions before libheif reads them (fixed in 1.0.1), so no
        // options are passed: transforms are applied by default, and deep images come back at
        // 16 bits for `to_8bit` below.
        let image = LibHeif::new()
            .decode(&handle, ColorSpace::Rgb(chroma), None)
            .map_err(heif_error)?;
        let planes = image.planes();
        let plane = planes
            .interleaved
            .ok_or_else(|| decode_error(label, "libheif returned no interleaved plane"))?;
        let channels = if alpha { 4 } else { 3 };
        let (w, h) = (plane.width, plane.height);
        let mut rgba: RgbaImage = ImageBuffer::new(w, h);
        for y in 0..h {
            let row_start = y as usize * plane.stride;
            let row = plane
                .data
                .get(row_start..)
                .ok_or_else(|| decode_error(label, "libheif plane shorter than its size"))?;
            for x in 0..w {
                let mut pixel = [0u8, 0, 0, 255];
                for (c, value) in pixel.iter_mut().enumerate().take(channels) {
                    *value = if deep {
                        let at = (x as usize * channels + c) * 2;
                        let sample = u16::from_le_bytes([
                            *row.get(at).unwrap_or(&0),
                            *row.get(at + 1).unwrap_or(&0),
                        ]);
                        to_8bit(sample, bits)
                    } else {
                        *row.get(x as usize * channels + c).unwrap_or(&0)
                    };
                }
                rgba.put_pixel(x, y, Rgba(pixel));
            }
        }
        let rgb = if alpha {
            composite_on_white(&rgba)
        } else {
            image::DynamicImage::ImageRgba8(rgba).into_rgb8()
        };
        Ok(DecodedImage {
            original_width: rgb.width(),
            original_height: rgb.height(),
            rgb,
            format,
            orientation: 1,
            exif,
            scale_denominator: 1,
            partial: None,
            source: None,
        })
    }

    /// `bits`-deep sample → 8 bits, rounded (libheif's own HDR→SDR conversion rounds too).
    fn to_8bit(sample: u16, bits: u8) -> u8 {
        let max = (1u32 << bits.min(16)) - 1;
        ((u32::from(sample).min(max) * 255 + max / 2) / max) as u8
    }

    /// The EXIF item of the image: libheif hands it out with a 4-byte big-endian offset to the
    /// TIFF header in front.
    fn exif_block(handle: &libheif_rs::ImageHandle) -> Option<Vec<u8>> {
        let mut ids: [ItemId; 4] = [0; 4];
        let count = handle.metadata_block_ids(&mut ids, b"Exif");
        let block = handle.metadata(*ids.get(..count)?.first()?).ok()?;
        let offset = u32::from_be_bytes(block.get(..4)?.try_into().ok()?) as usize;
        let tiff = block.get(4usize.checked_add(offset)?..)?;
        Some(tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff).to_vec())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn deep_samples_round_to_eight_bits() {
            assert_eq!(super::to_8bit(1023, 10), 255);
            assert_eq!(super::to_8bit(0, 10), 0);
            assert_eq!(super::to_8bit(512, 10), 128);
            assert_eq!(super::to_8bit(4000, 10), 255);
        }
    }
}
