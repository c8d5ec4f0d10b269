//! JPEG through libjpeg-turbo (the decoder Pillow bundles, so full-size pixels match the
//! reference exactly), at full or DCT-reduced scale, decoding damaged files as far as they go.
//!
//! libjpeg distinguishes *warnings* from errors. "Corrupt JPEG data: N extraneous bytes before
//! marker", "Premature end of JPEG file" and the like are warnings: libjpeg resynchronises (or pads
//! the missing rows) and returns the whole picture, which is what PIL shows. The TurboJPEG API
//! reports those as a failed call with error code `TJERR_WARNING`; the `turbojpeg` crate turns
//! that into a plain error, so this module calls the TurboJPEG functions itself and keeps the
//! pixels of a warning, recording it as a partial decode. A fatal error in the DCT-scaled fast path
//! is retried at full scale; a fatal error there falls back to the `image` crate's decoder, which
//! conceals damage differently (and decodes CMYK, which this path leaves to it).

use std::ffi::CStr;

use image::RgbImage;
use turbojpeg::raw;

use super::{
    check_pixels, dct_scale_denominator, decode_error, generic, orientation, DecodeOptions,
    DecodedImage, ImageFormat,
};
use crate::error::Result;

/// Progressive JPEGs can hold thousands of scans, each a full pass over the image (a known
/// denial-of-service); real encoders write fewer than 100.
const SCAN_LIMIT: i32 = 500;

/// Decodes a JPEG.
pub fn decode(bytes: &[u8], label: &str, options: &DecodeOptions) -> Result<DecodedImage> {
    let exif = exif_segment(bytes);
    let orientation = exif
        .as_deref()
        .and_then(orientation::exif_orientation)
        .unwrap_or(1);
    decode_oriented(bytes, label, options, exif, orientation)
}

/// Decodes a JPEG whose EXIF and orientation the caller decided (a RAW's embedded preview is
/// turned by the RAW's orientation, not by its own).
pub(crate) fn decode_oriented(
    bytes: &[u8],
    label: &str,
    options: &DecodeOptions,
    exif: Option<Vec<u8>>,
    orientation: u16,
) -> Result<DecodedImage> {
    let mut session = Session::new().map_err(|e| decode_error(label, e))?;
    let header = match session.header(bytes) {
        Ok(header) => header,
        // libjpeg-turbo cannot even read the header: the general decoder may still manage.
        Err(reason) => {
            tracing::debug!(input = label, %reason, "libjpeg-turbo cannot read the header");
            return generic::decode_with_exif(
                bytes,
                label,
                options,
                ImageFormat::Jpeg,
                exif,
                orientation,
            );
        }
    };
    check_pixels(label, header.width, header.height, options)?;
    if header.cmyk || header.lossless {
        return generic::decode_with_exif(
            bytes,
            label,
            options,
            ImageFormat::Jpeg,
            exif,
            orientation,
        );
    }
    let (original_width, original_height) = if orientation::swaps_axes(orientation) {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    let wanted = dct_scale_denominator(
        (
            original_width.min(original_height),
            original_width.max(original_height),
        ),
        (options.min_short_side, options.min_long_side),
    );
    let mut attempts = vec![wanted];
    if wanted != 1 {
        attempts.push(1);
    }
    let mut last_error = String::new();
    for denominator in attempts {
        match session.decompress(bytes, &header, denominator) {
            Ok((rgb, warning)) => {
                let partial = warning.map(|warning| describe_damage(&warning, &rgb));
                if let Some(partial) = &partial {
                    tracing::debug!(input = label, %partial, "JPEG decoded in part");
                }
                return Ok(DecodedImage {
                    rgb: orientation::apply(rgb, orientation),
                    original_width,
                    original_height,
                    format: ImageFormat::Jpeg,
                    orientation,
                    exif,
                    scale_denominator: denominator,
                    partial,
                    source: None,
                });
            }
            Err(reason) => {
                tracing::debug!(input = label, denominator, %reason, "libjpeg-turbo stopped");
                last_error = reason;
            }
        }
    }
    // Fatal in libjpeg-turbo at full scale: the general decoder conceals differently.
    let mut decoded =
        generic::decode_with_exif(bytes, label, options, ImageFormat::Jpeg, exif, orientation)
            .map_err(|_| decode_error(label, last_error.clone()))?;
    decoded.partial = Some(format!(
        "libjpeg-turbo stopped ({last_error}); decoded by the fallback decoder"
    ));
    Ok(decoded)
}

/// What the partial decode lost, as far as it can be told: libjpeg pads rows it never received
/// with one flat colour, so a run of identical rows at the bottom is the missing part.
fn describe_damage(warning: &str, rgb: &RgbImage) -> String {
    let (width, height) = rgb.dimensions();
    let row = |y: u32| &rgb.as_raw()[(y * width * 3) as usize..((y + 1) * width * 3) as usize];
    let flat = |y: u32| {
        let pixels = row(y);
        pixels.chunks_exact(3).all(|p| p == &pixels[..3])
    };
    let mut missing = 0;
    while missing < height && flat(height - 1 - missing) {
        missing += 1;
    }
    // A flat last row or two is common in real pictures (sky, borders); only a run says "lost".
    if missing >= height.div_ceil(50).max(2) {
        let percent = (f64::from(missing) * 100.0 / f64::from(height)).round();
        format!("{warning}; the bottom {missing} of {height} rows (about {percent}%) are missing")
    } else {
        warning.to_string()
    }
}

/// The EXIF block of the first APP1 `Exif\0\0` segment (without the prefix).
pub fn exif_segment(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if length < 2 {
            return None;
        }
        let segment = bytes.get(at + 4..(at + 2 + length).min(bytes.len()))?;
        if marker == 0xE1 {
            if let Some(tiff) = segment.strip_prefix(b"Exif\0\0") {
                return Some(tiff.to_vec());
            }
        }
        at += 2 + length;
    }
    None
}

/// The size of a JPEG from its header, if libjpeg-turbo can read it and it is an ordinary (not
/// lossless, not CMYK) colour or grey picture: what a RAW preview candidate must be.
pub(crate) fn picture_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut session = Session::new().ok()?;
    let header = session.header(bytes).ok()?;
    (!header.lossless && !header.cmyk).then_some((header.width, header.height))
}

/// What the header says.
struct Header {
    width: u32,
    height: u32,
    cmyk: bool,
    lossless: bool,
}

/// One TurboJPEG decompressor.
struct Session {
    handle: raw::tjhandle,
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.handle) };
    }
}

impl Session {
    fn new() -> std::result::Result<Self, String> {
        // SAFETY: plain constructor; a null return is checked.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err("cannot start libjpeg-turbo".to_string());
        }
        let session = Self { handle };
        // SAFETY: valid handle; parameters documented by TurboJPEG 3.
        unsafe {
            raw::tj3Set(session.handle, raw::TJPARAM_TJPARAM_STOPONWARNING as i32, 0);
            raw::tj3Set(
                session.handle,
                raw::TJPARAM_TJPARAM_SCANLIMIT as i32,
                SCAN_LIMIT,
            );
        }
        Ok(session)
    }

    fn message(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated string owned by the handle.
        unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.handle)) }
            .to_string_lossy()
            .into_owned()
    }

    fn is_warning(&self) -> bool {
        // SAFETY: valid handle.
        unsafe { raw::tj3GetErrorCode(self.handle) == raw::TJERR_TJERR_WARNING as i32 }
    }

    fn header(&mut self, bytes: &[u8]) -> std::result::Result<Header, String> {
        // SAFETY: the buffer outlives the call; TurboJPEG only reads `bytes.len()` bytes.
        let status = unsafe {
            raw::tj3DecompressHeader(self.handle, bytes.as_ptr(), bytes.len() as raw::size_t)
        };
        if status != 0 && !self.is_warning() {
            return Err(self.message());
        }
        // SAFETY: valid handle.
        let get = |param: raw::TJPARAM| unsafe { raw::tj3Get(self.handle, param as i32) };
        let width = get(raw::TJPARAM_TJPARAM_JPEGWIDTH);
        let height = get(raw::TJPARAM_TJPARAM_JPEGHEIGHT);
        let colorspace = get(raw::TJPARAM_TJPARAM_COLORSPACE);
        let lossless = get(raw::TJPARAM_TJPARAM_LOSSLESS) == 1;
        if width <= 0 || height <= 0 {
            return Err("no image size in the header".to_string());
        }
        Ok(Header {
            width: width as u32,
            height: height as u32,
            cmyk: colorspace == raw::TJCS_TJCS_CMYK as i32
                || colorspace == raw::TJCS_TJCS_YCCK as i32,
            lossless,
        })
    }

    /// Decodes at 1/`denominator`; `Ok` with the warning text when libjpeg only warned.
    fn decompress(
        &mut self,
        bytes: &[u8],
        header: &Header,
        denominator: u32,
    ) -> std::result::Result<(RgbImage, Option<String>), String> {
        let factor = raw::tjscalingfactor {
            num: 1,
            denom: denominator as i32,
        };
        // SAFETY: valid handle.
        if unsafe { raw::tj3SetScalingFactor(self.handle, factor) } != 0 {
            return Err(self.message());
        }
        // TJSCALED: ceil(dimension × num / denom).
        let width = header.width.div_ceil(denominator);
        let height = header.height.div_ceil(denominator);
        let pitch = width as usize * 3;
        let mut pixels = vec![0u8; pitch * height as usize];
        // SAFETY: `pixels` holds `pitch × height` bytes, exactly what TurboJPEG writes for the
        // scaled size at this pitch; the input buffer outlives the call.
        let status = unsafe {
            raw::tj3Decompress8(
                self.handle,
                bytes.as_ptr(),
                bytes.len() as raw::size_t,
                pixels.as_mut_ptr(),
                pitch as i32,
                raw::TJPF_TJPF_RGB,
            )
        };
        let warning = if status != 0 {
            if !self.is_warning() {
                return Err(self.message());
            }
            Some(self.message())
        } else {
            None
        };
        let rgb = RgbImage::from_raw(width, height, pixels)
            .ok_or_else(|| "decoded buffer has the wrong size".to_string())?;
        Ok((rgb, warning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        });
        let view = turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: width as usize,
            pitch: width as usize * 3,
            height: height as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(view, 90, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn a_truncated_jpeg_is_a_partial_decode_naming_what_was_lost() {
        let whole = jpeg(64, 256);
        let cut = &whole[..whole.len() / 2];
        let decoded = decode(cut, "cut.jpg", &DecodeOptions::default()).expect("decodes in part");
        assert_eq!(decoded.rgb.dimensions(), (64, 256));
        let partial = decoded.partial.expect("partial");
        assert!(partial.contains("Premature end"), "{partial}");
        assert!(partial.contains("rows"), "{partial}");
        let intact = decode(&whole, "whole.jpg", &DecodeOptions::default()).unwrap();
        assert_eq!(intact.partial, None);
    }

    #[test]
    fn exif_segment_is_found_before_the_scan() {
        let mut file = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x0E];
        file.extend_from_slice(b"Exif\0\0II*\0\x08\0");
        file.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        assert_eq!(exif_segment(&file).as_deref(), Some(&b"II*\0\x08\0"[..]));
        assert_eq!(exif_segment(&[0xFF, 0xD8, 0xFF]), None);
        assert_eq!(exif_segment(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]), None);
    }
}
