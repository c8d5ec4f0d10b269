//! Camera RAW: the largest embedded JPEG preview when there is one, else a real demosaic.
//!
//! Cameras embed a JPEG rendering of the shot (usually full size) in the RAW file; it is what the
//! camera showed, it is what Immich indexes, and it decodes in milliseconds (DCT-scaled, like any
//! JPEG). Where there is none big enough for the caller, the raw sensor data is demosaiced and
//! developed to sRGB by `rawler` (dnglab's maintained RAW library: DNG, CR2, CR3, NEF, ARW, ORF,
//! RW2, RAF, PEF, SRW and more).
//!
//! Finding the preview does not depend on each maker's layout: every `FF D8 FF` in the file is a
//! candidate, libjpeg-turbo reads its header, and the largest ordinary (baseline or progressive,
//! not lossless — CR2 raw data *is* lossless JPEG) picture wins. Orientation and EXIF come from the
//! RAW itself: TIFF-based RAWs (DNG, CR2, NEF, ARW, PEF, SRW, and ORF/RW2 with their own magic) are
//! their own EXIF block; for the others (CR3, RAF) the preview's EXIF is used when it has one.

use super::{
    check_pixels, decode_error, guarded, jpeg, orientation, DecodeOptions, DecodedImage,
    ImageFormat,
};
use crate::error::Result;

/// Candidates tried at most: a hostile file full of `FF D8 FF` must not cost minutes.
const MAX_CANDIDATES: usize = 64;

/// Decodes a RAW.
pub fn decode(bytes: &[u8], label: &str, options: &DecodeOptions) -> Result<DecodedImage> {
    let exif = tiff_exif(bytes);
    let orientation = exif.as_deref().and_then(orientation::exif_orientation);
    let preview = largest_preview(bytes);
    let big_enough = |(w, h): (u32, u32)| w.min(h) >= options.min_short_side;
    let mut preview_error = None;
    if let Some((offset, size)) = preview.filter(|(_, size)| big_enough(*size)) {
        match decode_preview(bytes, offset, label, options, exif.clone(), orientation) {
            Ok(decoded) => return Ok(decoded),
            Err(error) => {
                tracing::debug!(input = label, %error, ?size, "embedded preview unusable; demosaicing");
                preview_error = Some(error);
            }
        }
    }
    match demosaic(bytes, label, options, exif.clone(), orientation) {
        Ok(decoded) => Ok(decoded),
        Err(demosaic_error) => {
            // A preview smaller than asked for is still better than nothing.
            if let Some((offset, _)) = preview.filter(|_| preview_error.is_none()) {
                if let Ok(decoded) =
                    decode_preview(bytes, offset, label, options, exif, orientation)
                {
                    return Ok(decoded);
                }
            }
            Err(demosaic_error)
        }
    }
}

fn decode_preview(
    bytes: &[u8],
    offset: usize,
    label: &str,
    options: &DecodeOptions,
    exif: Option<Vec<u8>>,
    orientation: Option<u16>,
) -> Result<DecodedImage> {
    let jpeg_bytes = &bytes[offset..];
    // Without a TIFF structure of its own (CR3, RAF), the preview's EXIF speaks for the RAW.
    let (exif, orientation) = match (exif, orientation) {
        (Some(exif), orientation) => (Some(exif), orientation.unwrap_or(1)),
        (None, _) => {
            let own = jpeg::exif_segment(jpeg_bytes);
            let orientation = own
                .as_deref()
                .and_then(orientation::exif_orientation)
                .unwrap_or(1);
            (own, orientation)
        }
    };
    let mut decoded = jpeg::decode_oriented(jpeg_bytes, label, options, exif, orientation)?;
    decoded.format = ImageFormat::Raw;
    decoded.source = Some("embedded preview");
    Ok(decoded)
}

/// The offset and size of the largest ordinary JPEG embedded in the file.
fn largest_preview(bytes: &[u8]) -> Option<(usize, (u32, u32))> {
    let mut best: Option<(usize, (u32, u32))> = None;
    let mut tried = 0;
    let mut at = 0;
    while let Some(found) = find_soi(&bytes[at..]) {
        let offset = at + found;
        at = offset + 3;
        if tried == MAX_CANDIDATES {
            break;
        }
        tried += 1;
        if let Some((w, h)) = jpeg::picture_size(&bytes[offset..]) {
            let area = u64::from(w) * u64::from(h);
            if best.is_none_or(|(_, (bw, bh))| area > u64::from(bw) * u64::from(bh)) {
                best = Some((offset, (w, h)));
            }
        }
    }
    best
}

fn find_soi(bytes: &[u8]) -> Option<usize> {
    bytes.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF])
}

/// The RAW's own EXIF block: the file itself for TIFF-based RAWs (ORF's and RW2's non-standard
/// magic numbers are replaced by TIFF's so an EXIF reader accepts them).
fn tiff_exif(bytes: &[u8]) -> Option<Vec<u8>> {
    match bytes.get(..4)? {
        b"II*\0" | b"MM\0*" => Some(bytes.to_vec()),
        b"IIRO" | b"IIRS" | b"IIU\0" => {
            let mut copy = bytes.to_vec();
            copy[2..4].copy_from_slice(&[0x2A, 0x00]);
            Some(copy)
        }
        b"MMOR" => {
            let mut copy = bytes.to_vec();
            copy[2..4].copy_from_slice(&[0x00, 0x2A]);
            Some(copy)
        }
        _ => None,
    }
}

/// Demosaic + develop to sRGB with rawler.
fn demosaic(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    exif: Option<Vec<u8>>,
    orientation: Option<u16>,
) -> Result<DecodedImage> {
    use rawler::decoders::RawDecodeParams;
    use rawler::imgop::develop::RawDevelop;
    use rawler::rawsource::RawSource;

    guarded(label, "rawler", || {
        let raw_error = |e: rawler::RawlerError| decode_error(label, format!("camera RAW: {e}"));
        let source = RawSource::new_from_slice(bytes);
        let decoder = rawler::get_decoder(&source).map_err(raw_error)?;
        let params = RawDecodeParams::default();
        // Sizes first (no pixel decoded): the bomb guard.
        let header = decoder
            .raw_image(&source, &params, true)
            .map_err(raw_error)?;
        check_pixels(
            label,
            u32::try_from(header.width).unwrap_or(u32::MAX),
            u32::try_from(header.height).unwrap_or(u32::MAX),
            options,
        )?;
        let orientation = orientation
            .or_else(|| {
                decoder
                    .raw_metadata(&source, &params)
                    .ok()
                    .and_then(|m| m.exif.orientation)
                    .filter(|o| (1..=8).contains(o))
            })
            .unwrap_or(1);
        let raw = decoder
            .raw_image(&source, &params, false)
            .map_err(raw_error)?;
        let developed = RawDevelop::default()
            .develop_intermediate(&raw)
            .map_err(raw_error)?;
        let image = developed
            .to_dynamic_image()
            .ok_or_else(|| decode_error(label, "camera RAW: developed image has the wrong size"))?;
        let rgb = orientation::apply(super::to_rgb8(image), orientation);
        Ok(DecodedImage {
            original_width: rgb.width(),
            original_height: rgb.height(),
            rgb,
            format: ImageFormat::Raw,
            orientation,
            exif,
            scale_denominator: 1,
            partial: None,
            source: Some("demosaic"),
        })
    })
}
