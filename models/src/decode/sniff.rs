//! Recognising images by their bytes, not by their names: the one definition of an image format.
//!
//! Most formats are told by their first bytes. TIFF needs one more look: most camera RAW files
//! (DNG, CR2, NEF, ARW, PEF, SRW, …) *are* TIFF files, whose first image is a small thumbnail or a
//! preview, so a TIFF whose first directory says "DNG", "reduced-resolution image" or "raw data
//! lives in sub-IFDs" is camera RAW, not a TIFF picture.

use serde::Serialize;

/// How many leading bytes [`sniff`] needs for every format but TIFF (HEIF brand lists can run
/// long); TIFF-based RAW detection reads the first directory wherever the bytes given reach.
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
    JpegXl,
    /// Camera RAW (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF, PEF, SRW, …).
    Raw,
}

impl ImageFormat {
    /// Display name; its lower case is what the catalog stores.
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
            Self::JpegXl => "JXL",
            Self::Raw => "RAW",
        }
    }

    /// Whether this build can decode the format; if not, how to enable it.
    pub fn decoder_available(self) -> Result<(), &'static str> {
        match self {
            Self::Heif | Self::Avif if !cfg!(feature = "heif") => Err(
                "this build has no libheif; install Debian's libheif-dev (scripts/setup does) and \
                 build with the default features of magpie-models (feature `heif`)",
            ),
            _ => Ok(()),
        }
    }
}

/// Recognises the format from the file's bytes (all of them, or at least the first
/// [`SNIFF_LEN`]).
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else if is_jxl(head) {
        Some(ImageFormat::JpegXl)
    } else if is_tiff(head) {
        Some(if tiff_is_raw(bytes) {
            ImageFormat::Raw
        } else {
            ImageFormat::Tiff
        })
    } else if is_other_raw(head) {
        Some(ImageFormat::Raw)
    } else if is_bmp(head) {
        Some(ImageFormat::Bmp)
    } else {
        sniff_iso_bmff(head)
    }
}

/// A bare JPEG XL codestream (`FF 0A`) or the ISO BMFF container with its `JXL ` signature box.
fn is_jxl(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0x0A]) || head.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n")
}

/// Classic TIFF (`*` = 42) and BigTIFF (`+` = 43), both byte orders.
fn is_tiff(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+")
    )
}

/// RAW formats with their own signatures: Olympus ORF (`IIRO`, `IIRS`, `MMOR`), Panasonic RW2
/// (`IIU\0`), Fujifilm RAF, Sigma X3F, Minolta MRW.
fn is_other_raw(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(b"IIRO" | b"IIRS" | b"MMOR" | b"IIU\0" | b"FOVb" | b"\0MRM")
    ) || head.starts_with(b"FUJIFILMCCD-RAW")
}

/// Whether a TIFF is a camera RAW: Canon's `CR` marker after the header, or a first directory with
/// a DNGVersion tag, a Make tag next to SubIFDs, or NewSubfileType = reduced resolution (the
/// preview RAW writers put first).
fn tiff_is_raw(bytes: &[u8]) -> bool {
    if bytes.len() >= 10 && &bytes[8..10] == b"CR" {
        return true;
    }
    let little = bytes.starts_with(b"II");
    let u16_at = |at: usize| -> Option<u16> {
        let b = bytes.get(at..at + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(if little {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    // BigTIFF is not used by cameras.
    if u16_at(2) != Some(42) {
        return false;
    }
    let Some(ifd) = u32_at(4).map(|o| o as usize) else {
        return false;
    };
    let Some(count) = u16_at(ifd) else {
        return false;
    };
    let (mut make, mut sub_ifds, mut reduced) = (false, false, false);
    for index in 0..usize::from(count.min(512)) {
        let entry = ifd + 2 + 12 * index;
        let Some(tag) = u16_at(entry) else {
            break;
        };
        match tag {
            0xC612 => return true, // DNGVersion
            0x010F => make = true,
            0x014A => sub_ifds = true,
            0x00FE => {
                // NewSubfileType, a LONG whose bit 0 means "reduced-resolution version".
                reduced = u32_at(entry + 8).is_some_and(|v| v & 1 == 1);
            }
            _ => {}
        }
    }
    make && (sub_ifds || reduced)
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

/// HEIF, AVIF and Canon's CR3 are ISO base media files; the `ftyp` box's brands say which.
/// Videos (`isom`, `qt  `, …) share the container and must not be mistaken for photos.
fn sniff_iso_bmff(head: &[u8]) -> Option<ImageFormat> {
    if head.len() < 16 || &head[4..8] != b"ftyp" {
        return None;
    }
    let box_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = box_size.clamp(16, head.len());
    let major = &head[8..12];
    if major == b"crx " {
        return Some(ImageFormat::Raw);
    }
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

    /// A little-endian TIFF whose IFD0 holds `tags` (values zero, NewSubfileType = `subfile`).
    fn tiff(tags: &[u16], subfile: u32) -> Vec<u8> {
        let mut bytes = b"II*\0\x08\0\0\0".to_vec();
        bytes.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        for tag in tags {
            bytes.extend_from_slice(&tag.to_le_bytes());
            bytes.extend_from_slice(&4u16.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
            let value = if *tag == 0xFE { subfile } else { 0 };
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&[0; 4]);
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
    fn recognises_jpeg_xl_and_camera_raw() {
        assert_eq!(sniff(&[0xFF, 0x0A, 0xFA, 0x7F]), Some(ImageFormat::JpegXl));
        assert_eq!(
            sniff(b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl "),
            Some(ImageFormat::JpegXl)
        );
        assert_eq!(sniff(&ftyp(b"crx ", &[b"crx "])), Some(ImageFormat::Raw));
        assert_eq!(sniff(b"FUJIFILMCCD-RAW 0201"), Some(ImageFormat::Raw));
        assert_eq!(sniff(b"IIU\0\x18\0\0\0"), Some(ImageFormat::Raw));
        assert_eq!(sniff(b"IIRO\x08\0\0\0"), Some(ImageFormat::Raw));
        // CR2: TIFF with "CR" after the header.
        assert_eq!(
            sniff(b"II*\0\x10\0\0\0CR\x02\0\0\0\0\0"),
            Some(ImageFormat::Raw)
        );
        // DNG: DNGVersion in IFD0.
        assert_eq!(sniff(&tiff(&[0x100, 0xC612], 0)), Some(ImageFormat::Raw));
        // NEF/ARW-like: Make + SubIFDs, or Make + a reduced-resolution first image.
        assert_eq!(sniff(&tiff(&[0x10F, 0x14A], 0)), Some(ImageFormat::Raw));
        assert_eq!(sniff(&tiff(&[0xFE, 0x10F], 1)), Some(ImageFormat::Raw));
        // A scanner's TIFF with a Make tag is still a TIFF picture.
        assert_eq!(sniff(&tiff(&[0xFE, 0x10F], 0)), Some(ImageFormat::Tiff));
        // A directory pointing past the end is a (broken) TIFF, not a panic.
        assert_eq!(sniff(b"II*\0\xff\xff\xff\x7f"), Some(ImageFormat::Tiff));
    }
}
