//! The parquet files of `metadata/`: one row per embedding, in the order of the `.npy` rows, with
//! clip-retrieval's `image_path` column and the fields of a library record.
//!
//! Written with parquet's low-level column writer (no arrow: it would triple the build for two
//! dozen columns), uncompressed (the bulk of a shard is its embeddings and thumbnails; the
//! metadata compresses little and a codec would be one more native dependency), one row group
//! per [`ROW_GROUP_ROWS`] rows. Read back with parquet's row reader, by column name, so a file
//! rewritten by another tool with the columns in another order still reads.
//!
//! | column | type | |
//! |---|---|---|
//! | `image_path` | utf8 | the path as text (lossy for a non-UTF-8 name) |
//! | `image_path_bytes` | binary, nullable | the raw path, only when `image_path` would lose it |
//! | `id` | int64 | [`crate::image_id`] of the path |
//! | `size`, `mtime_ns` | int64 | |
//! | `content_hash` | utf8 | blake3 hex of the bytes that were decoded |
//! | `width`, `height` | int32 | as displayed (after EXIF orientation) |
//! | `format` | utf8 | jpeg, png, heif… |
//! | `date` | int64, nullable | EXIF taken-at, Unix seconds |
//! | `make`, `model`, `lens` | utf8, nullable | |
//! | `gps_lat`, `gps_lon` | double, nullable | |
//! | `orientation` | int32, nullable | EXIF orientation 1–8 |
//! | `camera` | utf8, nullable | "make model" as a person reads it |
//! | `error` | utf8, nullable | what a damaged file lost (indexed anyway) |

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use magpie_catalog::{bytes_to_path, path_to_bytes, ExifFields, ImageRecord};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;

use crate::error::ShardError;

/// Rows per row group: readers (pyarrow, Milvus' bulk import) stream a group at a time.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// One photo of a shard: its record (as the local library would hold it), its embedding (as
/// `f32`, L2-normalised) and what was lost if the file was damaged but decoded in part.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRow {
    pub record: ImageRecord,
    pub embedding: Vec<f32>,
    pub error: Option<String>,
}

/// The column names, in file order (what `pyarrow` shows as the schema's names).
pub const COLUMNS: [&str; 18] = [
    "image_path",
    "image_path_bytes",
    "id",
    "size",
    "mtime_ns",
    "content_hash",
    "width",
    "height",
    "format",
    "date",
    "make",
    "model",
    "lens",
    "gps_lat",
    "gps_lon",
    "orientation",
    "camera",
    "error",
];

/// The schema, in the same order as [`COLUMNS`].
const SCHEMA: &str = "message magpie_shard {
    required binary image_path (UTF8);
    optional binary image_path_bytes;
    required int64 id;
    required int64 size;
    required int64 mtime_ns;
    required binary content_hash (UTF8);
    required int32 width;
    required int32 height;
    required binary format (UTF8);
    optional int64 date;
    optional binary make (UTF8);
    optional binary model (UTF8);
    optional binary lens (UTF8);
    optional double gps_lat;
    optional double gps_lon;
    optional int32 orientation;
    optional binary camera (UTF8);
    optional binary error (UTF8);
}";

/// One column's values for a row group; `None` is a null.
enum Values {
    Bytes(Vec<Option<Vec<u8>>>),
    Int64(Vec<Option<i64>>),
    Int32(Vec<Option<i32>>),
    Double(Vec<Option<f64>>),
}

/// The camera as a person reads it ("Canon EOS 450D"), or null without make and model.
fn camera(record: &ImageRecord) -> Option<String> {
    Some(record.camera()).filter(|c| !c.is_empty())
}

fn text(value: &str) -> Option<Vec<u8>> {
    Some(value.as_bytes().to_vec())
}

fn to_i64(value: u64, what: &str, path: &Path) -> Result<i64, ShardError> {
    i64::try_from(value)
        .map_err(|_| ShardError::invalid(path, format!("{what} {value} exceeds int64")))
}

fn to_i32(value: u32, what: &str, path: &Path) -> Result<i32, ShardError> {
    i32::try_from(value)
        .map_err(|_| ShardError::invalid(path, format!("{what} {value} exceeds int32")))
}

/// The values of every column for `rows`, in [`COLUMNS`] order.
fn columns(rows: &[ShardRow], file: &Path) -> Result<Vec<Values>, ShardError> {
    let (mut path_text, mut path_bytes, mut id, mut size, mut mtime) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut hash, mut width, mut height, mut format, mut date) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut make, mut model, mut lens, mut lat, mut lon) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut orientation, mut cameras, mut error) = (vec![], vec![], vec![]);
    for row in rows {
        let r = &row.record;
        let lossy = r.path.to_string_lossy();
        let raw = path_to_bytes(&r.path);
        path_bytes.push((lossy.as_bytes() != raw.as_slice()).then(|| raw.clone()));
        path_text.push(text(&lossy));
        id.push(Some(to_i64(r.id, "id", file)?));
        size.push(Some(to_i64(r.size, "size", file)?));
        mtime.push(Some(r.mtime_ns));
        hash.push(text(&r.content_hash));
        width.push(Some(to_i32(r.width, "width", file)?));
        height.push(Some(to_i32(r.height, "height", file)?));
        format.push(text(&r.format));
        date.push(r.exif.taken_at);
        make.push(r.exif.make.as_deref().and_then(text));
        model.push(r.exif.model.as_deref().and_then(text));
        lens.push(r.exif.lens.as_deref().and_then(text));
        lat.push(r.exif.gps.map(|g| g.0));
        lon.push(r.exif.gps.map(|g| g.1));
        orientation.push(r.exif.orientation.map(i32::from));
        cameras.push(camera(r).as_deref().and_then(text));
        error.push(row.error.as_deref().and_then(text));
    }
    Ok(vec![
        Values::Bytes(path_text),
        Values::Bytes(path_bytes),
        Values::Int64(id),
        Values::Int64(size),
        Values::Int64(mtime),
        Values::Bytes(hash),
        Values::Int32(width),
        Values::Int32(height),
        Values::Bytes(format),
        Values::Int64(date),
        Values::Bytes(make),
        Values::Bytes(model),
        Values::Bytes(lens),
        Values::Double(lat),
        Values::Double(lon),
        Values::Int32(orientation),
        Values::Bytes(cameras),
        Values::Bytes(error),
    ])
}

/// Values and definition levels (1 = present, 0 = null) of one optional-or-required column.
fn split<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    let present = values.iter().flatten().cloned().collect();
    let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
    (present, levels)
}

fn write_values<T: DataType>(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[Option<T::T>],
    required: bool,
) -> parquet::errors::Result<()>
where
    T::T: Clone,
{
    let (present, levels) = split(values);
    let levels = (!required).then_some(levels.as_slice());
    column.typed::<T>().write_batch(&present, levels, None)?;
    Ok(())
}

/// Writes `rows` as a metadata file to `out` (`path` names it in errors).
pub fn write_metadata(out: File, path: &Path, rows: &[ShardRow]) -> Result<(), ShardError> {
    let err = |e| ShardError::parquet(path, e);
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(err)?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_created_by(format!("magpie-shard {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema.clone(), properties).map_err(err)?;
    let required: Vec<bool> = schema
        .get_fields()
        .iter()
        .map(|f| !f.is_optional())
        .collect();
    // An empty shard still gets one (empty) row group, so readers see the schema with no rows.
    let chunks: Vec<&[ShardRow]> = if rows.is_empty() {
        vec![rows]
    } else {
        rows.chunks(ROW_GROUP_ROWS).collect()
    };
    for chunk in chunks {
        let mut values = columns(chunk, path)?.into_iter();
        let mut group = writer.next_row_group().map_err(err)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(err)? {
            let required = required[index];
            match values.next() {
                Some(Values::Bytes(v)) => {
                    let v: Vec<Option<ByteArray>> =
                        v.into_iter().map(|b| b.map(ByteArray::from)).collect();
                    write_values::<ByteArrayType>(&mut column, &v, required)
                }
                Some(Values::Int64(v)) => write_values::<Int64Type>(&mut column, &v, required),
                Some(Values::Int32(v)) => write_values::<Int32Type>(&mut column, &v, required),
                Some(Values::Double(v)) => write_values::<DoubleType>(&mut column, &v, required),
                None => unreachable!("COLUMNS and SCHEMA list the same columns"),
            }
            .map_err(err)?;
            column.close().map_err(err)?;
            index += 1;
        }
        group.close().map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<SerializedFileReader<File>, ShardError> {
    let file = File::open(path).map_err(|e| ShardError::io(path, e))?;
    SerializedFileReader::new(file).map_err(|e| ShardError::parquet(path, e))
}

/// Rows in a metadata file, from its footer (reads no data).
pub fn row_count(path: &Path) -> Result<u64, ShardError> {
    let rows = open_reader(path)?.metadata().file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| ShardError::invalid(path, format!("row count {rows}")))
}

/// One row as the fields by name.
struct NamedFields<'a> {
    fields: HashMap<&'a str, &'a Field>,
    path: &'a Path,
    row: usize,
}

impl NamedFields<'_> {
    fn field(&self, name: &str) -> Result<Option<&Field>, ShardError> {
        match self.fields.get(name) {
            None => Err(ShardError::invalid(
                self.path,
                format!("no column {name:?}"),
            )),
            Some(Field::Null) => Ok(None),
            Some(field) => Ok(Some(field)),
        }
    }

    fn wrong(&self, name: &str, field: &Field) -> ShardError {
        ShardError::invalid(
            self.path,
            format!("row {}: column {name:?} holds {field:?}", self.row),
        )
    }

    fn required<T>(
        &self,
        name: &str,
        get: impl Fn(&Self, &str) -> Result<Option<T>, ShardError>,
    ) -> Result<T, ShardError> {
        get(self, name)?.ok_or_else(|| {
            ShardError::invalid(
                self.path,
                format!("row {}: column {name:?} is null", self.row),
            )
        })
    }

    fn text(&self, name: &str) -> Result<Option<String>, ShardError> {
        match self.field(name)? {
            None => Ok(None),
            Some(Field::Str(s)) => Ok(Some(s.clone())),
            Some(f) => Err(self.wrong(name, f)),
        }
    }

    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, ShardError> {
        match self.field(name)? {
            None => Ok(None),
            Some(Field::Bytes(b)) => Ok(Some(b.data().to_vec())),
            Some(Field::Str(s)) => Ok(Some(s.as_bytes().to_vec())),
            Some(f) => Err(self.wrong(name, f)),
        }
    }

    fn int64(&self, name: &str) -> Result<Option<i64>, ShardError> {
        match self.field(name)? {
            None => Ok(None),
            Some(Field::Long(v)) => Ok(Some(*v)),
            Some(Field::Int(v)) => Ok(Some(i64::from(*v))),
            Some(f) => Err(self.wrong(name, f)),
        }
    }

    fn int32(&self, name: &str) -> Result<Option<i32>, ShardError> {
        match self.field(name)? {
            None => Ok(None),
            Some(Field::Int(v)) => Ok(Some(*v)),
            Some(f) => Err(self.wrong(name, f)),
        }
    }

    fn double(&self, name: &str) -> Result<Option<f64>, ShardError> {
        match self.field(name)? {
            None => Ok(None),
            Some(Field::Double(v)) => Ok(Some(*v)),
            Some(f) => Err(self.wrong(name, f)),
        }
    }

    fn unsigned<T: TryFrom<i64>>(&self, name: &str, value: i64) -> Result<T, ShardError> {
        T::try_from(value).map_err(|_| {
            ShardError::invalid(
                self.path,
                format!("row {}: {name} {value} is out of range", self.row),
            )
        })
    }
}

/// Reads every row of a metadata file: the record (with `indexed_at` as given: the file does not
/// store it, the manifest does) and the damaged-file note.
pub fn read_metadata(
    path: &Path,
    indexed_at: i64,
) -> Result<Vec<(ImageRecord, Option<String>)>, ShardError> {
    let reader = open_reader(path)?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| ShardError::parquet(path, e))?;
    let mut out = Vec::new();
    for (index, row) in rows.enumerate() {
        let row = row.map_err(|e| ShardError::parquet(path, e))?;
        let named = NamedFields {
            fields: row
                .get_column_iter()
                .map(|(name, field)| (name.as_str(), field))
                .collect(),
            path,
            row: index,
        };
        let image_path = match named.bytes("image_path_bytes")? {
            Some(raw) => bytes_to_path(&raw),
            None => named.required("image_path", NamedFields::text)?.into(),
        };
        let taken_at = named.int64("date")?;
        let gps = match (named.double("gps_lat")?, named.double("gps_lon")?) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => None,
        };
        let orientation = match named.int32("orientation")? {
            Some(o) => Some(named.unsigned::<u16>("orientation", i64::from(o))?),
            None => None,
        };
        let id = named.required("id", NamedFields::int64)?;
        let size = named.required("size", NamedFields::int64)?;
        let width = named.required("width", NamedFields::int32)?;
        let height = named.required("height", NamedFields::int32)?;
        let record = ImageRecord {
            id: named.unsigned("id", id)?,
            path: image_path,
            size: named.unsigned("size", size)?,
            mtime_ns: named.required("mtime_ns", NamedFields::int64)?,
            content_hash: named.required("content_hash", NamedFields::text)?,
            width: named.unsigned("width", i64::from(width))?,
            height: named.unsigned("height", i64::from(height))?,
            format: named.required("format", NamedFields::text)?,
            exif: ExifFields {
                taken_at,
                make: named.text("make")?,
                model: named.text("model")?,
                lens: named.text("lens")?,
                gps,
                orientation,
            },
            tags: Vec::new(),
            indexed_at,
            text: None,
        };
        out.push((record, named.text("error")?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn record(path: PathBuf, id: u64) -> ImageRecord {
        ImageRecord {
            id,
            path,
            size: 123_456,
            mtime_ns: -5,
            content_hash: "ab".repeat(32),
            width: 4032,
            height: 3024,
            format: "jpeg".into(),
            exif: ExifFields::default(),
            tags: vec![],
            indexed_at: 1_700_000_000,
            text: None,
        }
    }

    fn rows() -> Vec<ShardRow> {
        let mut full = record(
            PathBuf::from("/photos/été/東京 タワー.jpg"),
            i64::MAX as u64,
        );
        full.exif = ExifFields {
            taken_at: Some(1_625_401_805),
            make: Some("Canon".into()),
            model: Some("EOS 450D".into()),
            lens: Some("EF-S 18-55mm".into()),
            gps: Some((-33.8568, 151.2153)),
            orientation: Some(6),
        };
        let bare = record(PathBuf::from("/photos/plain.png"), 0);
        let mut damaged = record(PathBuf::from("/photos/broken.jpg"), 7);
        damaged.exif.make = Some("NIKON".into());
        let error = Some("premature end of data: 62 % of the rows".to_string());
        let mut rows = vec![
            ShardRow {
                record: full,
                embedding: vec![],
                error: None,
            },
            ShardRow {
                record: bare,
                embedding: vec![],
                error: None,
            },
            ShardRow {
                record: damaged,
                embedding: vec![],
                error,
            },
        ];
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/photos/caf\xe9.jpg"));
            rows.push(ShardRow {
                record: record(odd, 9),
                embedding: vec![],
                error: None,
            });
        }
        rows
    }

    fn round_trip(rows: &[ShardRow]) -> Vec<(ImageRecord, Option<String>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata_0.parquet");
        write_metadata(File::create(&path).unwrap(), &path, rows).unwrap();
        assert_eq!(row_count(&path).unwrap(), rows.len() as u64);
        read_metadata(&path, 1_700_000_000).unwrap()
    }

    #[test]
    fn records_round_trip_with_nulls_and_non_ascii_paths() {
        let rows = rows();
        let back = round_trip(&rows);
        assert_eq!(back.len(), rows.len());
        for (row, (record, error)) in rows.iter().zip(&back) {
            assert_eq!(&row.record, record);
            assert_eq!(&row.error, error);
        }
    }

    #[test]
    fn the_camera_column_reads_as_a_person_says_it() {
        let rows = rows();
        assert_eq!(camera(&rows[0].record).as_deref(), Some("Canon EOS 450D"));
        assert_eq!(camera(&rows[1].record), None);
        assert_eq!(camera(&rows[2].record).as_deref(), Some("NIKON"));
    }

    #[test]
    fn an_empty_shard_is_a_valid_file_with_no_rows() {
        assert!(round_trip(&[]).is_empty());
    }

    #[test]
    fn many_rows_span_row_groups_in_order() {
        let rows: Vec<ShardRow> = (0..ROW_GROUP_ROWS as u64 + 10)
            .map(|i| ShardRow {
                record: record(PathBuf::from(format!("/p/{i}.jpg")), i),
                embedding: vec![],
                error: None,
            })
            .collect();
        let back = round_trip(&rows);
        assert_eq!(back.len(), rows.len());
        assert!(back.iter().enumerate().all(|(i, (r, _))| r.id == i as u64));
    }

    #[test]
    fn a_file_that_is_not_parquet_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata_1.parquet");
        std::fs::write(&path, b"not parquet at all").unwrap();
        let err = read_metadata(&path, 0).unwrap_err().to_string();
        assert!(err.contains("metadata_1.parquet"), "{err}");
        assert!(row_count(&path).is_err());
    }
}
