//! Recognising images by their first bytes, not by their names.
//!
//! Content wins: a PNG called `.jpg` is indexed as a PNG. The extension only decides what a
//! non-image *means*: `notes.txt` is simply not a photo (skipped, not reported), while `photo.jpg`
//! full of random bytes is a broken photo the user should hear about.

use std::path::Path;

use serde::Serialize;

use crate::error::FailureReason;

/// How many leading bytes [`sniff`] may look at (HEIF brand lists can run long).
pub const SNIFF_LEN: usize = 64;

/// An image format recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
    Tiff,
    Bmp,
    Heif,
    Avif,
}

impl ImageFormat {
    /// Whether this build can decode the format.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Heif | Self::Avif)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::WebP => "WebP",
            Self::Gif => "GIF",
            Self::Tiff => "TIFF",
            Self::Bmp => "BMP",
            Self::Heif => "HEIF",
            Self::Avif => "AVIF",
        }
    }
}

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
    "heif", "hif", "avif",
];

/// Whether the file name claims to be an image.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().is_some_and(|extension| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| extension.eq_ignore_ascii_case(known))
    })
}

/// Recognises the format from the leading bytes (at most [`SNIFF_LEN`] are looked at).
pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
    let head = &head[..head.len().min(SNIFF_LEN)];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else if is_tiff(head) {
        Some(ImageFormat::Tiff)
    } else if is_bmp(head) {
        Some(ImageFormat::Bmp)
    } else {
        sniff_iso_bmff(head)
    }
}

/// Classic TIFF (`*` = 42) and BigTIFF (`+` = 43), both byte orders.
fn is_tiff(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+")
    )
}

/// `BM` alone is two letters that plain text can start with, so the DIB header size must also be
/// one of the sizes real BMP versions use.
fn is_bmp(head: &[u8]) -> bool {
    if head.len() < 18 || !head.starts_with(b"BM") {
        return false;
    }
    let dib_header_size = u32::from_le_bytes([head[14], head[15], head[16], head[17]]);
    matches!(dib_header_size, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// HEIF and AVIF are ISO base media files; the `ftyp` box's brands say which. Videos (`isom`,
/// `qt  `, …) share the container and must not be mistaken for photos.
fn sniff_iso_bmff(head: &[u8]) -> Option<ImageFormat> {
    if head.len() < 16 || &head[4..8] != b"ftyp" {
        return None;
    }
    let box_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = box_size.clamp(16, head.len());
    let major = &head[8..12];
    // Bytes 12..16 are the minor version, then compatible brands of four bytes each.
    let brands = std::iter::once(major).chain(head[16..end].chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some(ImageFormat::Avif),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                heif = true
            }
            _ => {}
        }
    }
    heif.then_some(ImageFormat::Heif)
}

/// Decides what to do with a file from its leading bytes and its name.
pub fn judge(path: &Path, head: &[u8]) -> Verdict {
    match sniff(head) {
        Some(format) if format.is_supported() => Verdict::Image(format),
        Some(format) => Verdict::Failure(FailureReason::Unsupported(format!(
            "no {} decoder in this build",
            if format == ImageFormat::Avif {
                "AVIF"
            } else {
                "HEIF"
            }
        ))),
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

    fn bmp_header(dib: u32) -> Vec<u8> {
        let mut bytes = b"BM".to_vec();
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(&dib.to_le_bytes());
        bytes
    }

    #[test]
    fn recognises_formats_by_magic() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some(ImageFormat::Png));
        assert_eq!(sniff(b"GIF89a...."), Some(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(ImageFormat::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(ImageFormat::Tiff));
        assert_eq!(sniff(&bmp_header(40)), Some(ImageFormat::Bmp));
        assert_eq!(sniff(b"BMW service notes, 2019 ..."), None);
        assert_eq!(
            sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some(ImageFormat::Heif)
        );
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"avif", b"miaf"])),
            Some(ImageFormat::Avif)
        );
        assert_eq!(sniff(&ftyp(b"isom", &[b"iso2", b"mp41"])), None);
        assert_eq!(sniff(b""), None);
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
        let Verdict::Failure(reason) = judge(Path::new("IMG_1.HEIC"), &heic) else {
            panic!("HEIC must fail")
        };
        assert_eq!(
            reason.to_string(),
            "unsupported: no HEIF decoder in this build"
        );
    }
}
