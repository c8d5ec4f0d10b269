//! PNG, GIF (first frame), WebP, TIFF and BMP through the `image` crate, and the fallback for JPEGs
//! libjpeg-turbo leaves to it (CMYK, lossless, fatally damaged).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};

use super::{
    check_pixels, decode_error, orientation, to_rgb8, DecodeOptions, DecodedImage, ImageFormat,
};
use crate::error::Result;

/// Decodes with the `image` crate, reading EXIF (and its orientation) from the file.
pub fn decode(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    format: ImageFormat,
) -> Result<DecodedImage> {
    decode_inner(bytes, label, options, format, None)
}

/// Decodes with the `image` crate, with EXIF the caller already read.
pub fn decode_with_exif(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    format: ImageFormat,
    exif: Option<Vec<u8>>,
    orientation: u16,
) -> Result<DecodedImage> {
    decode_inner(bytes, label, options, format, Some((exif, orientation)))
}

fn image_crate_format(format: ImageFormat) -> Option<image::ImageFormat> {
    Some(match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::WebP => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Tiff => image::ImageFormat::Tiff,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
        _ => return None,
    })
}

fn decode_inner(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    format: ImageFormat,
    known: Option<(Option<Vec<u8>>, u16)>,
) -> Result<DecodedImage> {
    let Some(image_format) = image_crate_format(format) else {
        return Err(decode_error(label, format!("no {} decoder", format.name())));
    };
    let reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(label, e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_pixels(label, width, height, options)?;
    let (exif, orientation) = match known {
        Some(known) => known,
        None => {
            // EXIF problems must not cost the user the photo: a broken block means "upright".
            let exif = decoder.exif_metadata().ok().flatten().map(|mut raw| {
                if raw.starts_with(b"Exif\0\0") {
                    raw.drain(..6);
                }
                raw
            });
            let orientation = exif
                .as_deref()
                .and_then(orientation::exif_orientation)
                .unwrap_or(1);
            (exif, orientation)
        }
    };
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| decode_error(label, e.to_string()))?;
    let (original_width, original_height) = if orientation::swaps_axes(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    Ok(DecodedImage {
        rgb: orientation::apply(to_rgb8(image), orientation),
        original_width,
        original_height,
        format,
        orientation,
        exif,
        scale_denominator: 1,
        partial: None,
        source: None,
    })
}
