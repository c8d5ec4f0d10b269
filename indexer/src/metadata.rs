//! Photo metadata from EXIF (best effort) and file times.
//!
//! EXIF in the wild is often broken — truncated blocks, wrong types, impossible dates. Nothing here
//! ever fails a file: a field that cannot be read is simply absent, and the photo is indexed anyway.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use exif::{Exif, In, Reader, Tag, Value};
use serde::Serialize;

use crate::crawl::FoundFile;

/// When the photo was taken, as the camera recorded it (local wall-clock time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TakenAt {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes (`OffsetTimeOriginal`), when the camera recorded one.
    pub offset_minutes: Option<i16>,
}

impl TakenAt {
    /// ISO 8601 / RFC 3339 text; without an offset it is a local time (no `Z`: the zone is unknown).
    pub fn to_iso8601(&self) -> String {
        let local = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        match self.offset_minutes {
            Some(offset) => {
                let sign = if offset < 0 { '-' } else { '+' };
                let offset = offset.unsigned_abs();
                format!("{local}{sign}{:02}:{:02}", offset / 60, offset % 60)
            }
            None => local,
        }
    }
}

/// GPS position in signed decimal degrees (south and west negative).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GpsPosition {
    pub latitude: f64,
    pub longitude: f64,
}

/// What Magpie keeps from a photo's EXIF block.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExifSummary {
    pub taken_at: Option<TakenAt>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub lens: Option<String>,
    pub gps: Option<GpsPosition>,
    /// EXIF orientation, 1–8 (1 = upright).
    pub orientation: Option<u16>,
}

/// Everything the catalog stores about a photo besides pixels and embedding.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhotoMetadata {
    pub exif: ExifSummary,
    pub file_modified_ns: i64,
    pub file_created_ns: Option<i64>,
}

impl PhotoMetadata {
    pub fn new(exif: ExifSummary, file: &FoundFile) -> Self {
        Self {
            exif,
            file_modified_ns: file.mtime_ns,
            file_created_ns: file.created_ns,
        }
    }
}

/// Reads a raw EXIF blob (TIFF structure, as decoders hand it out). Broken blobs give what could
/// be read, possibly nothing.
pub fn exif_from_blob(blob: &[u8]) -> ExifSummary {
    // Decoders differ on whether the JPEG APP1 `Exif\0\0` prefix is included; accept both.
    let blob = blob.strip_prefix(b"Exif\0\0").unwrap_or(blob);
    match reader().read_raw(blob.to_vec()) {
        Ok(exif) => summarize(&exif),
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            tracing::debug!(?errors, "EXIF block partly unreadable");
            summarize(&exif)
        }
        Err(error) => {
            tracing::debug!(%error, "EXIF block unreadable");
            ExifSummary::default()
        }
    }
}

/// Reads EXIF straight from an image file (JPEG, TIFF, PNG, WebP, HEIF containers).
pub fn exif_from_file(path: &Path) -> ExifSummary {
    let Ok(file) = File::open(path) else {
        return ExifSummary::default();
    };
    match reader().read_from_container(&mut BufReader::new(file)) {
        Ok(exif) => summarize(&exif),
        Err(exif::Error::PartialResult(partial)) => summarize(&partial.into_inner().0),
        Err(error) => {
            tracing::debug!(path = %path.display(), %error, "no readable EXIF");
            ExifSummary::default()
        }
    }
}

fn reader() -> Reader {
    let mut reader = Reader::new();
    // Keep the fields that parsed even when others did not.
    reader.continue_on_error(true);
    reader
}

fn summarize(exif: &Exif) -> ExifSummary {
    ExifSummary {
        taken_at: taken_at(exif),
        make: text(exif, Tag::Make),
        model: text(exif, Tag::Model),
        lens: text(exif, Tag::LensModel),
        gps: gps(exif),
        // The one reading of the orientation (the decoder's, tolerant like PIL's): the indexer
        // records the orientation the pixels were turned by, never a second opinion.
        orientation: magpie_models::decode::exif_orientation(exif.buf()),
    }
}

fn ascii(exif: &Exif, tag: Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(strings) => strings.first().map(Vec::as_slice),
        _ => None,
    }
}

/// A text field, trimmed of the padding (NULs, spaces) cameras leave; empty means absent.
fn text(exif: &Exif, tag: Tag) -> Option<String> {
    let raw = ascii(exif, tag)?;
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty()).then(|| text.to_string())
}

fn taken_at(exif: &Exif) -> Option<TakenAt> {
    // DateTimeOriginal is when the shutter fired; DateTime is often when software last saved.
    let (raw, offset_tag) = match ascii(exif, Tag::DateTimeOriginal) {
        Some(raw) => (raw, Tag::OffsetTimeOriginal),
        None => (ascii(exif, Tag::DateTime)?, Tag::OffsetTime),
    };
    let mut parsed = exif::DateTime::from_ascii(raw).ok()?;
    if let Some(offset) = ascii(exif, offset_tag) {
        // A malformed offset leaves the time local rather than discarding it.
        let _ = parsed.parse_offset(offset);
    }
    let valid = (1..=12).contains(&parsed.month)
        && (1..=31).contains(&parsed.day)
        && parsed.hour < 24
        && parsed.minute < 60
        && parsed.second <= 60
        && parsed.year > 0;
    valid.then_some(TakenAt {
        year: parsed.year,
        month: parsed.month,
        day: parsed.day,
        hour: parsed.hour,
        minute: parsed.minute,
        second: parsed.second,
        offset_minutes: parsed.offset,
    })
}

fn gps(exif: &Exif) -> Option<GpsPosition> {
    let latitude = degrees(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S')?;
    let longitude = degrees(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W')?;
    let plausible = latitude.abs() <= 90.0 && longitude.abs() <= 180.0;
    // Many cameras write 0/0 placeholders when they had no fix.
    let placeholder = latitude == 0.0 && longitude == 0.0;
    (plausible && !placeholder).then_some(GpsPosition {
        latitude,
        longitude,
    })
}

/// Degrees/minutes/seconds rationals to signed decimal degrees.
fn degrees(exif: &Exif, value_tag: Tag, reference_tag: Tag, negative_reference: u8) -> Option<f64> {
    let Value::Rational(parts) = &exif.get_field(value_tag, In::PRIMARY)?.value else {
        return None;
    };
    let mut total = 0.0;
    for (part, scale) in parts.iter().zip([1.0, 60.0, 3600.0]) {
        if part.denom == 0 {
            return None;
        }
        total += part.to_f64() / scale;
    }
    if !total.is_finite() || parts.is_empty() {
        return None;
    }
    let negative = ascii(exif, reference_tag)
        .and_then(|reference| reference.first())
        .is_some_and(|first| first.eq_ignore_ascii_case(&negative_reference));
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a little-endian TIFF/EXIF blob by hand, so the tests know the exact expected values.
    struct TiffBuilder {
        ifd0: Vec<(u16, u16, u32, Vec<u8>)>,
        gps: Vec<(u16, u16, u32, Vec<u8>)>,
    }

    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;

    fn ascii_value(text: &str) -> (u16, u32, Vec<u8>) {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        (ASCII, bytes.len() as u32, bytes)
    }

    fn rationals(values: &[(u32, u32)]) -> (u16, u32, Vec<u8>) {
        let bytes = values
            .iter()
            .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
            .collect();
        (RATIONAL, values.len() as u32, bytes)
    }

    impl TiffBuilder {
        fn new() -> Self {
            Self {
                ifd0: Vec::new(),
                gps: Vec::new(),
            }
        }

        fn field(mut self, tag: u16, (kind, count, bytes): (u16, u32, Vec<u8>)) -> Self {
            self.ifd0.push((tag, kind, count, bytes));
            self
        }

        fn gps_field(mut self, tag: u16, (kind, count, bytes): (u16, u32, Vec<u8>)) -> Self {
            self.gps.push((tag, kind, count, bytes));
            self
        }

        /// Lays out IFD0 (plus a GPS IFD when any GPS field was given) after the 8-byte header.
        fn build(mut self) -> Vec<u8> {
            let ifd_len = |entries: usize| 2 + 12 * entries + 4;
            let has_gps = !self.gps.is_empty();
            if has_gps {
                self.ifd0.push((0x8825, LONG, 1, vec![0; 4]));
            }
            self.ifd0.sort_by_key(|entry| entry.0);
            self.gps.sort_by_key(|entry| entry.0);
            let ifd0_offset = 8usize;
            let gps_offset = ifd0_offset + ifd_len(self.ifd0.len());
            let mut data_offset = gps_offset + if has_gps { ifd_len(self.gps.len()) } else { 0 };
            if has_gps {
                let pointer = self
                    .ifd0
                    .iter_mut()
                    .find(|entry| entry.0 == 0x8825)
                    .unwrap();
                pointer.3 = (gps_offset as u32).to_le_bytes().to_vec();
            }
            let mut out = b"II*\0".to_vec();
            out.extend_from_slice(&(ifd0_offset as u32).to_le_bytes());
            let mut data = Vec::new();
            for ifd in [&self.ifd0, &self.gps] {
                if ifd.is_empty() {
                    continue;
                }
                out.extend_from_slice(&(ifd.len() as u16).to_le_bytes());
                for (tag, kind, count, bytes) in ifd {
                    out.extend_from_slice(&tag.to_le_bytes());
                    out.extend_from_slice(&kind.to_le_bytes());
                    out.extend_from_slice(&count.to_le_bytes());
                    if bytes.len() <= 4 {
                        let mut inline = bytes.clone();
                        inline.resize(4, 0);
                        out.extend_from_slice(&inline);
                    } else {
                        out.extend_from_slice(&((data_offset + data.len()) as u32).to_le_bytes());
                        data.extend_from_slice(bytes);
                    }
                }
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            assert_eq!(out.len(), data_offset);
            data_offset += data.len();
            out.extend_from_slice(&data);
            assert_eq!(out.len(), data_offset);
            out
        }
    }

    #[test]
    fn reads_camera_time_orientation_and_gps() {
        let blob = TiffBuilder::new()
            .field(0x010F, ascii_value("Canon  "))
            .field(0x0110, ascii_value("EOS 450D"))
            .field(0x0112, (SHORT, 1, 6u16.to_le_bytes().to_vec()))
            .field(0x0132, ascii_value("2020:01:01 00:00:00"))
            .gps_field(0x0001, ascii_value("S"))
            .gps_field(0x0002, rationals(&[(33, 1), (52, 1), (1080, 100)]))
            .gps_field(0x0003, ascii_value("E"))
            .gps_field(0x0004, rationals(&[(151, 1), (12, 1), (36, 1)]))
            .build();
        let summary = exif_from_blob(&blob);
        assert_eq!(summary.make.as_deref(), Some("Canon"));
        assert_eq!(summary.model.as_deref(), Some("EOS 450D"));
        assert_eq!(summary.orientation, Some(6));
        // DateTimeOriginal absent: falls back to DateTime.
        assert_eq!(
            summary.taken_at.unwrap().to_iso8601(),
            "2020-01-01T00:00:00"
        );
        let gps = summary.gps.unwrap();
        assert!(
            (gps.latitude - -(33.0 + 52.0 / 60.0 + 10.8 / 3600.0)).abs() < 1e-9,
            "{gps:?}"
        );
        assert!(
            (gps.longitude - (151.0 + 12.0 / 60.0 + 36.0 / 3600.0)).abs() < 1e-9,
            "{gps:?}"
        );
        // The JPEG APP1 prefix is accepted too.
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend_from_slice(&blob);
        assert_eq!(exif_from_blob(&prefixed), summary);
    }

    #[test]
    fn offset_is_kept_and_impossible_values_dropped() {
        let taken = TakenAt {
            year: 2023,
            month: 7,
            day: 14,
            hour: 9,
            minute: 5,
            second: 0,
            offset_minutes: Some(-330),
        };
        assert_eq!(taken.to_iso8601(), "2023-07-14T09:05:00-05:30");
        let blob = TiffBuilder::new()
            .field(0x0112, (SHORT, 1, 42u16.to_le_bytes().to_vec()))
            .field(0x0132, ascii_value("0000:00:00 00:00:00"))
            .gps_field(0x0002, rationals(&[(1, 0), (0, 1), (0, 1)]))
            .gps_field(0x0004, rationals(&[(1, 1), (0, 1), (0, 1)]))
            .build();
        let summary = exif_from_blob(&blob);
        assert_eq!(summary.orientation, None);
        assert_eq!(summary.taken_at, None);
        assert_eq!(summary.gps, None);
    }

    #[test]
    fn garbage_gives_nothing_and_never_panics() {
        assert_eq!(exif_from_blob(b""), ExifSummary::default());
        assert_eq!(
            exif_from_blob(b"II*\0\xff\xff\xff\xff"),
            ExifSummary::default()
        );
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for length in 0..200 {
            let noise: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut blob = b"MM\0*\0\0\0\x08".to_vec();
            blob.extend_from_slice(&noise);
            let _ = exif_from_blob(&blob);
        }
    }
}
