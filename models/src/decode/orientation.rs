//! The EXIF orientation: read once, as tolerantly as PIL, and applied to the pixels.
//!
//! Why tolerant: EXIF in the wild is often damaged (a field pointing past the end of the block, a
//! wrong type). PIL skips such a field ("Possibly corrupt EXIF data … Skipping tag") and still reads
//! the Orientation after it, so `ImageOps.exif_transpose` turns the photo. A strict reader gives up
//! on the whole block and leaves the photo sideways. Magpie reads the block once, here, skipping
//! broken fields like PIL, and that one reading turns the pixels and the thumbnails and is what the
//! catalog records (`DecodedImage::orientation`); nothing else reads the tag.

use image::{DynamicImage, RgbImage};

/// An EXIF orientation, 1–8 (1 = upright).
pub type Orientation = u16;

/// The orientation (1–8) in a raw EXIF block (TIFF structure; an `Exif\0\0` prefix is accepted),
/// or `None` when the block has no usable one. Values outside 1–8 are ignored, as PIL ignores
/// them.
pub fn exif_orientation(raw: &[u8]) -> Option<Orientation> {
    let raw = raw.strip_prefix(b"Exif\0\0").unwrap_or(raw);
    let mut reader = exif::Reader::new();
    // Keep the fields that parsed even when others did not (PIL's behaviour).
    reader.continue_on_error(true);
    let exif = match reader.read_raw(raw.to_vec()) {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            tracing::debug!(
                ?errors,
                "EXIF block partly unreadable; orientation read past it"
            );
            exif
        }
        Err(_) => return None,
    };
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    u16::try_from(value).ok().filter(|v| (1..=8).contains(v))
}

/// Whether an orientation swaps width and height (the transposing ones, 5–8).
pub fn swaps_axes(orientation: Orientation) -> bool {
    matches!(orientation, 5..=8)
}

/// Turns stored pixels upright for `orientation` (1 and unknown values leave them as they are).
pub fn apply(rgb: RgbImage, orientation: Orientation) -> RgbImage {
    let Some(transform) = u8::try_from(orientation)
        .ok()
        .and_then(image::metadata::Orientation::from_exif)
    else {
        return rgb;
    };
    if transform == image::metadata::Orientation::NoTransforms {
        return rgb;
    }
    let mut dynamic = DynamicImage::ImageRgb8(rgb);
    dynamic.apply_orientation(transform);
    dynamic.into_rgb8()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF block with IFD0 entries `(tag, type, count, value-or-offset)`.
    fn tiff(entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&[0; 4]);
        out
    }

    #[test]
    fn orientation_is_read_past_a_broken_field_as_pil_does() {
        // Make (ASCII, 40 bytes) points far past the end of the block; Orientation = 6 follows.
        let blob = tiff(&[(0x010F, 2, 40, 0x7FFF_0000), (0x0112, 3, 1, 6)]);
        assert_eq!(exif_orientation(&blob), Some(6));
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend_from_slice(&blob);
        assert_eq!(exif_orientation(&prefixed), Some(6));
        // A strict reader would have given up on the whole block.
        assert!(exif::Reader::new().read_raw(blob).is_err());
    }

    #[test]
    fn out_of_range_and_garbage_mean_no_orientation() {
        assert_eq!(exif_orientation(&tiff(&[(0x0112, 3, 1, 9)])), None);
        assert_eq!(exif_orientation(&tiff(&[(0x0112, 3, 1, 0)])), None);
        assert_eq!(exif_orientation(b""), None);
        assert_eq!(exif_orientation(b"II*\0\xff\xff\xff\xff"), None);
        // A LONG orientation is read like a SHORT one (PIL does too).
        assert_eq!(exif_orientation(&tiff(&[(0x0112, 4, 1, 3)])), Some(3));
    }

    #[test]
    fn apply_turns_and_mirrors() {
        let image = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let turned = apply(image.clone(), 6);
        assert_eq!(turned.dimensions(), (2, 3));
        // 90° clockwise: the old bottom-left pixel is now top-left.
        assert_eq!(turned.get_pixel(0, 0).0, [0, 1, 0]);
        assert_eq!(apply(image.clone(), 1), image);
        assert_eq!(apply(image.clone(), 42), image);
        assert_eq!(apply(image, 2).get_pixel(0, 0).0, [2, 0, 0]);
    }
}
