//! What a file is: an image (recognised by content, by `magpie_models::decode::sniff`, the one
//! definition of a format), a non-image, or a broken photo.
//!
//! Content wins: a PNG called `.jpg` is indexed as a PNG. The extension only decides what a
//! non-image *means*: `notes.txt` is simply not a photo (skipped, not reported), while `photo.jpg`
//! full of random bytes is a broken photo the user should hear about.

use std::path::Path;

use crate::error::FailureReason;

pub use magpie_models::decode::sniff::{sniff, ImageFormat, SNIFF_LEN};

/// What to do with a file, judged from its content and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A format this build decodes.
    Image(ImageFormat),
    /// Not an image and not named like one: not a photo, nothing to report.
    NotImage,
    /// Named like an image but cannot be indexed (unrecognised content, or an undecodable format).
    Failure(FailureReason),
}

/// Extensions that claim a file is an image (lower case).
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "bmp", "dib", "heic",
    "heif", "hif", "heics", "heifs", "avif", "avifs", "jxl",
];

/// Whether the file name claims to be an image (camera RAW names included).
pub fn has_image_extension(path: &Path) -> bool {
    magpie_catalog::companion::is_raw_name(path)
        || path.extension().is_some_and(|extension| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

/// Decides what to do with a file from its leading bytes and its name.
///
/// `bytes` is the file's content (the leading [`SNIFF_LEN`] bytes are enough for all but TIFF,
/// where camera RAW is told from a TIFF picture by the first directory).
pub fn judge(path: &Path, bytes: &[u8]) -> Verdict {
    match sniff(bytes) {
        Some(format) => match format.decoder_available() {
            Ok(()) => Verdict::Image(format),
            Err(how) => Verdict::Failure(FailureReason::Unsupported(format!(
                "{} ({how})",
                format.name()
            ))),
        },
        None if has_image_extension(path) => Verdict::Failure(FailureReason::NotAnImage),
        None => Verdict::NotImage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut bytes = (size as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(b"\0\0\0\x08meta");
        bytes
    }

    #[test]
    fn content_wins_and_extension_decides_what_a_non_image_means() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR";
        assert_eq!(
            judge(Path::new("photo.jpg"), png),
            Verdict::Image(ImageFormat::Png)
        );
        assert_eq!(
            judge(Path::new("no_extension"), png),
            Verdict::Image(ImageFormat::Png)
        );
        let random = [0x13u8, 0x77, 0x42, 0x00, 0x9A, 0xC3, 0x01, 0x55];
        assert_eq!(judge(Path::new("notes.txt"), &random), Verdict::NotImage);
        assert_eq!(
            judge(Path::new("photo.JPG"), &random),
            Verdict::Failure(FailureReason::NotAnImage)
        );
        assert_eq!(
            FailureReason::NotAnImage.to_string(),
            "not an image (content does not match any supported format)"
        );
        let heic = ftyp(b"heic", &[b"mif1"]);
        let verdict = judge(Path::new("IMG_1.HEIC"), &heic);
        if ImageFormat::Heif.decoder_available().is_ok() {
            assert_eq!(verdict, Verdict::Image(ImageFormat::Heif));
        } else {
            let Verdict::Failure(reason) = verdict else {
                panic!("HEIC without libheif must fail")
            };
            assert!(
                reason.to_string().starts_with("unsupported: HEIF ("),
                "{reason}"
            );
        }
        assert_eq!(
            judge(Path::new("IMG_2.CR3"), &ftyp(b"crx ", &[b"crx "])),
            Verdict::Image(ImageFormat::Raw)
        );
    }
}
