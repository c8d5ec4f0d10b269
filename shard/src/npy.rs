//! The `.npy` files of `img_emb/`: NumPy's format, version 1.0, written and read by hand (the
//! format is a magic string, a Python-literal header and raw little-endian values; a dependency
//! would be larger than this module).
//!
//! Layout: `\x93NUMPY`, version `1 0`, a little-endian `u16` header length, then the header
//! `{'descr': '<f2', 'fortran_order': False, 'shape': (rows, dims), }` padded with spaces and a
//! final `\n` so that the values start at a multiple of 64 bytes (as NumPy writes it), then the
//! values in C order. The reader also accepts versions 2.0 and 3.0 (a `u32` header length), in
//! case a file was rewritten by NumPy.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use half::f16;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;

/// How embeddings are stored: half precision as clip-retrieval writes them (and as the local
/// library stores them), or single precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    F16,
    F32,
}

impl Dtype {
    /// NumPy's type string: little-endian float of 2 or 4 bytes.
    pub fn descr(self) -> &'static str {
        match self {
            Self::F16 => "<f2",
            Self::F32 => "<f4",
        }
    }

    pub fn item_size(self) -> usize {
        match self {
            Self::F16 => 2,
            Self::F32 => 4,
        }
    }

    fn from_descr(descr: &str) -> Option<Self> {
        match descr {
            "<f2" => Some(Self::F16),
            "<f4" => Some(Self::F32),
            _ => None,
        }
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "f16" | "float16" => Ok(Self::F16),
            "f32" | "float32" => Ok(Self::F32),
            other => Err(format!("unknown dtype {other:?} (f16 or f32)")),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F16 => "f16",
            Self::F32 => "f32",
        })
    }
}

/// What the header of a 2-D float array says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyHeader {
    pub dtype: Dtype,
    pub rows: usize,
    pub dims: usize,
    /// Bytes before the first value (magic, version, length and header).
    pub data_offset: usize,
}

impl NpyHeader {
    /// Size of the whole file this header describes.
    pub fn file_len(&self) -> u64 {
        (self.data_offset + self.rows * self.dims * self.dtype.item_size()) as u64
    }
}

fn header_text(dtype: Dtype, rows: usize, dims: usize) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({rows}, {dims}), }}",
        dtype.descr()
    );
    // magic (6) + version (2) + length (2) + header, padded with spaces, ending in '\n'.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let padding = (ALIGN - unpadded % ALIGN) % ALIGN;
    let mut header = dict.into_bytes();
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

/// Writes `rows` (each `dims` long) as a `rows × dims` array of `dtype`. Values are stored as
/// given; the caller passes L2-normalised embeddings.
pub fn write_npy<'a>(
    out: &mut impl Write,
    rows: impl ExactSizeIterator<Item = &'a [f32]>,
    dims: usize,
    dtype: Dtype,
) -> io::Result<()> {
    let count = rows.len();
    let header = header_text(dtype, count, dims);
    let length = u16::try_from(header.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "npy header too long"))?;
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(&header)?;
    let mut buffer = Vec::with_capacity(dims * dtype.item_size());
    for row in rows {
        if row.len() != dims {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("an embedding has {} values, not {dims}", row.len()),
            ));
        }
        buffer.clear();
        match dtype {
            Dtype::F16 => {
                for value in row {
                    buffer.extend_from_slice(&f16::from_f32(*value).to_le_bytes());
                }
            }
            Dtype::F32 => {
                for value in row {
                    buffer.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
        out.write_all(&buffer)?;
    }
    Ok(())
}

/// Reads and checks the header (a 2-D, C-order, `<f2` or `<f4` array).
pub fn read_header(input: &mut impl Read) -> Result<NpyHeader, String> {
    let mut start = [0u8; 8];
    input
        .read_exact(&mut start)
        .map_err(|e| format!("not an .npy file (too short: {e})"))?;
    if &start[..6] != MAGIC {
        return Err("not an .npy file (no \\x93NUMPY magic)".into());
    }
    let (major, minor) = (start[6], start[7]);
    let (length, length_bytes) = match major {
        1 => {
            let mut bytes = [0u8; 2];
            input
                .read_exact(&mut bytes)
                .map_err(|e| format!("truncated header: {e}"))?;
            (usize::from(u16::from_le_bytes(bytes)), 2)
        }
        2 | 3 => {
            let mut bytes = [0u8; 4];
            input
                .read_exact(&mut bytes)
                .map_err(|e| format!("truncated header: {e}"))?;
            (u32::from_le_bytes(bytes) as usize, 4)
        }
        _ => return Err(format!("unsupported .npy version {major}.{minor}")),
    };
    let mut header = vec![0u8; length];
    input
        .read_exact(&mut header)
        .map_err(|e| format!("truncated header: {e}"))?;
    let header = String::from_utf8(header).map_err(|_| "header is not text".to_string())?;
    let descr = dict_value(&header, "descr")
        .and_then(|v| v.strip_prefix('\'').and_then(|v| v.split('\'').next()))
        .ok_or_else(|| format!("no 'descr' in the header {header:?}"))?;
    let dtype = Dtype::from_descr(descr)
        .ok_or_else(|| format!("element type {descr:?} is not <f2 or <f4"))?;
    let fortran = dict_value(&header, "fortran_order")
        .ok_or_else(|| format!("no 'fortran_order' in the header {header:?}"))?;
    if !fortran.starts_with("False") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape = dict_value(&header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| format!("no 'shape' in the header {header:?}"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| format!("bad shape ({shape})")))
        .collect::<Result<_, _>>()?;
    let [rows, dims] = dims[..] else {
        return Err(format!("shape ({shape}) is not 2-D"));
    };
    Ok(NpyHeader {
        dtype,
        rows,
        dims,
        data_offset: 6 + 2 + length_bytes + length,
    })
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("'{key}'");
    let at = header.find(&quoted)? + quoted.len();
    Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
}

/// Reads a whole array: the header and `rows × dims` values as `f32`. Fails when the file holds
/// fewer or more values than its header says (a truncated or appended file).
pub fn read_npy(input: &mut impl Read) -> Result<(NpyHeader, Vec<f32>), String> {
    let header = read_header(input)?;
    let expected = header
        .rows
        .checked_mul(header.dims)
        .and_then(|n| n.checked_mul(header.dtype.item_size()))
        .ok_or("shape too large")?;
    let mut data = Vec::with_capacity(expected);
    input
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read the values: {e}"))?;
    if data.len() != expected {
        return Err(format!(
            "holds {} bytes of values, but its header says {} × {} {} = {expected}",
            data.len(),
            header.rows,
            header.dims,
            header.dtype
        ));
    }
    let values = match header.dtype {
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    Ok((header, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<f32>> {
        vec![
            vec![0.6, 0.8, 0.0],
            vec![-1.0, 0.0, 0.0],
            vec![0.1, -0.2, 0.974_679_4],
        ]
    }

    fn written(dtype: Dtype, rows: &[Vec<f32>], dims: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_npy(&mut out, rows.iter().map(Vec::as_slice), dims, dtype).unwrap();
        out
    }

    #[test]
    fn f32_round_trips_exactly() {
        let bytes = written(Dtype::F32, &rows(), 3);
        let (header, values) = read_npy(&mut bytes.as_slice()).unwrap();
        assert_eq!((header.dtype, header.rows, header.dims), (Dtype::F32, 3, 3));
        assert_eq!(header.data_offset % 64, 0);
        assert_eq!(header.file_len(), bytes.len() as u64);
        assert_eq!(values, rows().concat());
    }

    #[test]
    fn f16_round_trips_to_half_precision() {
        let bytes = written(Dtype::F16, &rows(), 3);
        let (header, values) = read_npy(&mut bytes.as_slice()).unwrap();
        assert_eq!(header.dtype, Dtype::F16);
        // Two bytes a value after the 64-byte-aligned header.
        assert_eq!(header.data_offset % 64, 0);
        assert_eq!(bytes.len() as u64, header.data_offset as u64 + 3 * 3 * 2);
        let expected: Vec<f32> = rows()
            .concat()
            .iter()
            .map(|v| f16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(values, expected);
        for (a, b) in values.iter().zip(rows().concat()) {
            assert!((a - b).abs() < 1e-3);
        }
    }

    #[test]
    fn the_header_is_numpys() {
        let bytes = written(Dtype::F16, &rows(), 3);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let length = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + length]).unwrap();
        assert!(
            header.starts_with("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 3), }"),
            "{header:?}"
        );
        assert!(header.ends_with('\n'));
    }

    #[test]
    fn an_empty_shard_is_a_zero_row_array() {
        let bytes = written(Dtype::F32, &[], 512);
        let (header, values) = read_npy(&mut bytes.as_slice()).unwrap();
        assert_eq!((header.rows, header.dims), (0, 512));
        assert!(values.is_empty());
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let bytes = written(Dtype::F32, &rows(), 3);
        let err = read_npy(&mut &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.contains("header says 3 × 3"), "{err}");
        let err = read_npy(&mut &bytes[..20]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let err = read_npy(&mut b"PK\x03\x04 not numpy".as_slice()).unwrap_err();
        assert!(err.contains("magic"), "{err}");
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(read_npy(&mut longer.as_slice()).is_err());
    }

    #[test]
    fn rows_of_the_wrong_length_are_refused() {
        let mut out = Vec::new();
        let rows = [vec![1.0, 0.0], vec![1.0]];
        let err = write_npy(&mut out, rows.iter().map(Vec::as_slice), 2, Dtype::F16).unwrap_err();
        assert!(err.to_string().contains("not 2"), "{err}");
    }

    #[test]
    fn dtypes_parse() {
        assert_eq!("f16".parse::<Dtype>().unwrap(), Dtype::F16);
        assert_eq!("F32".parse::<Dtype>().unwrap(), Dtype::F32);
        assert!("bf16".parse::<Dtype>().is_err());
        assert_eq!(Dtype::default(), Dtype::F16);
    }
}
