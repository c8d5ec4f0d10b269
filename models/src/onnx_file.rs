//! What an ONNX file declares, read without ONNX Runtime: its graph inputs and outputs (names,
//! element types, fixed or symbolic axes) and the external-data files its weights live in.
//!
//! Why not just ask ONNX Runtime: three questions come before a session exists or without one.
//! `models pull` must fetch exactly the weight files a tower names (Immich's large exports keep
//! every tensor in its own file beside `model.onnx`; Hugging Face's keep them in
//! `model.onnx_data`), the model checksum must cover them, and reading a model directory needs the
//! text tower's inputs to tell M-CLIP (`input_ids` + `attention_mask`) from the CLIP export whose
//! `config.json` Immich ships beside it. A session for a 1 GB tower costs seconds and gigabytes;
//! this reader walks the protobuf and *seeks over* weights, so it reads kilobytes.
//!
//! It understands just enough of `onnx.proto` (ModelProto.graph → GraphProto.input/output/
//! initializer → ValueInfoProto/TensorProto) and treats a length that runs past the end of the
//! file as what it almost always is: a truncated download.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Element type of a graph input or output (ONNX `TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    Float32,
    Float16,
    BFloat16,
    Float64,
    Int64,
    Int32,
    Int8,
    Uint8,
    Bool,
    /// Any other ONNX data type code.
    Other(i64),
}

impl ElementType {
    fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Float32,
            2 => Self::Uint8,
            3 => Self::Int8,
            6 => Self::Int32,
            7 => Self::Int64,
            9 => Self::Bool,
            10 => Self::Float16,
            11 => Self::Float64,
            16 => Self::BFloat16,
            other => Self::Other(other),
        }
    }
}

impl std::fmt::Display for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Float32 => f.write_str("float32"),
            Self::Float16 => f.write_str("float16"),
            Self::BFloat16 => f.write_str("bfloat16"),
            Self::Float64 => f.write_str("float64"),
            Self::Int64 => f.write_str("int64"),
            Self::Int32 => f.write_str("int32"),
            Self::Int8 => f.write_str("int8"),
            Self::Uint8 => f.write_str("uint8"),
            Self::Bool => f.write_str("bool"),
            Self::Other(code) => write!(f, "ONNX type {code}"),
        }
    }
}

/// One axis of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Symbolic(String),
}

/// A graph input or output as declared in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredValue {
    pub name: String,
    pub element_type: Option<ElementType>,
    pub dims: Vec<Dim>,
}

/// The parts of an ONNX file Magpie needs before (or without) a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnnxSummary {
    pub inputs: Vec<DeclaredValue>,
    pub outputs: Vec<DeclaredValue>,
    /// Files holding external tensor data, relative to the model file's folder, each once, in
    /// the order the graph first names them.
    pub external_files: Vec<String>,
}

impl OnnxSummary {
    pub fn input(&self, name: &str) -> Option<&DeclaredValue> {
        self.inputs.iter().find(|v| v.name == name)
    }
}

/// Reads the summary of the ONNX file at `path`.
pub fn read_summary(path: &Path) -> Result<OnnxSummary> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = Reader {
        inner: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
        len,
        path: path.to_path_buf(),
    };
    let mut summary = OnnxSummary::default();
    let mut saw_graph = false;
    while reader.pos < len {
        let (field, wire) = reader.key()?;
        if field == 7 && wire == 2 {
            let end = reader.length_end()?;
            read_graph(&mut reader, end, &mut summary)?;
            saw_graph = true;
        } else {
            reader.skip(wire)?;
        }
    }
    if !saw_graph {
        return Err(reader.invalid("no graph in the file (not an ONNX model?)"));
    }
    Ok(summary)
}

/// The external-data files of a tower that exist beside it, as paths.
pub fn external_data_paths(model: &Path) -> Result<Vec<PathBuf>> {
    let folder = model.parent().unwrap_or_else(|| Path::new("."));
    Ok(read_summary(model)?
        .external_files
        .into_iter()
        .map(|name| folder.join(name))
        .collect())
}

fn read_graph(reader: &mut Reader, end: u64, summary: &mut OnnxSummary) -> Result<()> {
    while reader.pos < end {
        let (field, wire) = reader.key()?;
        match (field, wire) {
            (5, 2) => {
                let tensor_end = reader.length_end()?;
                if let Some(location) = read_tensor_location(reader, tensor_end)? {
                    if !summary.external_files.contains(&location) {
                        summary.external_files.push(location);
                    }
                }
            }
            (11, 2) | (12, 2) => {
                let value_end = reader.length_end()?;
                let value = read_value_info(reader, value_end)?;
                if field == 11 {
                    summary.inputs.push(value);
                } else {
                    summary.outputs.push(value);
                }
            }
            _ => reader.skip(wire)?,
        }
    }
    reader.expect_at(end)
}

/// The `location` of a tensor stored externally, if it is.
fn read_tensor_location(reader: &mut Reader, end: u64) -> Result<Option<String>> {
    let mut location = None;
    let mut external = false;
    while reader.pos < end {
        let (field, wire) = reader.key()?;
        match (field, wire) {
            (13, 2) => {
                let entry_end = reader.length_end()?;
                let (mut key, mut value) = (String::new(), String::new());
                while reader.pos < entry_end {
                    let (f, w) = reader.key()?;
                    match (f, w) {
                        (1, 2) => key = reader.string()?,
                        (2, 2) => value = reader.string()?,
                        _ => reader.skip(w)?,
                    }
                }
                reader.expect_at(entry_end)?;
                if key == "location" {
                    location = Some(value);
                }
            }
            (14, 0) => external = reader.varint()? == 1,
            _ => reader.skip(wire)?,
        }
    }
    reader.expect_at(end)?;
    Ok(if external { location } else { None })
}

fn read_value_info(reader: &mut Reader, end: u64) -> Result<DeclaredValue> {
    let mut value = DeclaredValue {
        name: String::new(),
        element_type: None,
        dims: Vec::new(),
    };
    while reader.pos < end {
        let (field, wire) = reader.key()?;
        match (field, wire) {
            (1, 2) => value.name = reader.string()?,
            (2, 2) => {
                let type_end = reader.length_end()?;
                while reader.pos < type_end {
                    let (f, w) = reader.key()?;
                    if f == 1 && w == 2 {
                        let tensor_end = reader.length_end()?;
                        read_tensor_type(reader, tensor_end, &mut value)?;
                    } else {
                        reader.skip(w)?;
                    }
                }
                reader.expect_at(type_end)?;
            }
            _ => reader.skip(wire)?,
        }
    }
    reader.expect_at(end)?;
    Ok(value)
}

fn read_tensor_type(reader: &mut Reader, end: u64, value: &mut DeclaredValue) -> Result<()> {
    while reader.pos < end {
        let (field, wire) = reader.key()?;
        match (field, wire) {
            (1, 0) => value.element_type = Some(ElementType::from_code(reader.varint()? as i64)),
            (2, 2) => {
                let shape_end = reader.length_end()?;
                while reader.pos < shape_end {
                    let (f, w) = reader.key()?;
                    if f == 1 && w == 2 {
                        let dim_end = reader.length_end()?;
                        let mut dim = Dim::Symbolic(String::new());
                        while reader.pos < dim_end {
                            let (df, dw) = reader.key()?;
                            match (df, dw) {
                                (1, 0) => dim = Dim::Fixed(reader.varint()? as i64),
                                (2, 2) => dim = Dim::Symbolic(reader.string()?),
                                _ => reader.skip(dw)?,
                            }
                        }
                        reader.expect_at(dim_end)?;
                        value.dims.push(dim);
                    } else {
                        reader.skip(w)?;
                    }
                }
                reader.expect_at(shape_end)?;
            }
            _ => reader.skip(wire)?,
        }
    }
    reader.expect_at(end)
}

/// A protobuf reader over a file that seeks over what it does not need.
struct Reader {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
    path: PathBuf,
}

impl Reader {
    fn invalid(&self, reason: &str) -> Error {
        Error::model_dir(&self.path, format!("not a readable ONNX file: {reason}"))
    }

    fn truncated(&self, needed: u64) -> Error {
        Error::model_dir(
            &self.path,
            format!(
                "the ONNX file is truncated: it is {} bytes, but its contents run to byte {needed} \
                 (an interrupted download? pull the model again)",
                self.len
            ),
        )
    }

    fn byte(&mut self) -> Result<u8> {
        let mut one = [0u8; 1];
        match self.inner.read_exact(&mut one) {
            Ok(()) => {
                self.pos += 1;
                Ok(one[0])
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.truncated(self.pos + 1))
            }
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.invalid("a varint longer than 10 bytes"))
    }

    fn key(&mut self) -> Result<(u64, u8)> {
        let key = self.varint()?;
        Ok((key >> 3, (key & 7) as u8))
    }

    /// Reads a length prefix and returns where the field ends, checking it is inside the file.
    fn length_end(&mut self) -> Result<u64> {
        let length = self.varint()?;
        let end = self.pos.saturating_add(length);
        if end > self.len {
            return Err(self.truncated(end));
        }
        Ok(end)
    }

    fn string(&mut self) -> Result<String> {
        let end = self.length_end()?;
        let mut bytes = vec![0u8; (end - self.pos) as usize];
        self.inner
            .read_exact(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos = end;
        String::from_utf8(bytes).map_err(|_| self.invalid("a name that is not UTF-8"))
    }

    fn seek_to(&mut self, target: u64) -> Result<()> {
        if target > self.len {
            return Err(self.truncated(target));
        }
        let delta = (target - self.pos) as i64;
        self.inner
            .seek_relative(delta)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos = target;
        Ok(())
    }

    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.seek_to(self.pos + 8),
            2 => {
                let end = self.length_end()?;
                self.seek_to(end)
            }
            5 => self.seek_to(self.pos + 4),
            other => Err(self.invalid(&format!("unsupported protobuf wire type {other}"))),
        }
    }

    fn expect_at(&mut self, end: u64) -> Result<()> {
        if self.pos == end {
            Ok(())
        } else {
            Err(self.invalid("a field overruns its message"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn value_info(name: &str, elem: u64, dims: &[Result<u64, &str>]) -> Vec<u8> {
        let mut shape = Vec::new();
        for dim in dims {
            let mut d = Vec::new();
            match dim {
                Ok(v) => {
                    varint(1 << 3, &mut d);
                    varint(*v, &mut d);
                }
                Err(p) => field(2, p.as_bytes(), &mut d),
            }
            field(1, &d, &mut shape);
        }
        let mut tensor = Vec::new();
        varint(1 << 3, &mut tensor);
        varint(elem, &mut tensor);
        field(2, &shape, &mut tensor);
        let mut ty = Vec::new();
        field(1, &tensor, &mut ty);
        let mut vi = Vec::new();
        field(1, name.as_bytes(), &mut vi);
        field(2, &ty, &mut vi);
        vi
    }

    fn model_bytes() -> Vec<u8> {
        let mut graph = Vec::new();
        // An initializer with inline raw data, then one stored externally.
        let mut inline = Vec::new();
        field(8, b"w0", &mut inline);
        field(9, &[7u8; 300], &mut inline);
        field(5, &inline, &mut graph);
        let mut external = Vec::new();
        field(8, b"w1", &mut external);
        let mut entry = Vec::new();
        field(1, b"location", &mut entry);
        field(2, b"model.onnx_data", &mut entry);
        field(13, &entry, &mut external);
        varint(14 << 3, &mut external);
        varint(1, &mut external);
        field(5, &external, &mut graph);
        field(
            11,
            &value_info("pixel_values", 10, &[Err("batch"), Ok(3), Ok(224), Ok(224)]),
            &mut graph,
        );
        field(
            12,
            &value_info("pooler_output", 10, &[Err("batch"), Ok(768)]),
            &mut graph,
        );
        let mut model = Vec::new();
        varint(1 << 3, &mut model);
        varint(8, &mut model);
        field(7, &graph, &mut model);
        model
    }

    #[test]
    fn reads_inputs_outputs_and_external_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        std::fs::write(&path, model_bytes()).unwrap();
        let summary = read_summary(&path).unwrap();
        assert_eq!(summary.inputs.len(), 1);
        assert_eq!(summary.inputs[0].name, "pixel_values");
        assert_eq!(summary.inputs[0].element_type, Some(ElementType::Float16));
        assert_eq!(
            summary.inputs[0].dims,
            vec![
                Dim::Symbolic("batch".into()),
                Dim::Fixed(3),
                Dim::Fixed(224),
                Dim::Fixed(224)
            ]
        );
        assert_eq!(summary.outputs[0].name, "pooler_output");
        assert_eq!(summary.external_files, vec!["model.onnx_data".to_string()]);
    }

    #[test]
    fn a_truncated_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        let bytes = model_bytes();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_summary(&path).unwrap_err().to_string();
        assert!(
            err.contains("truncated") && err.contains("model.onnx"),
            "{err}"
        );
        std::fs::write(&path, b"").unwrap();
        let err = read_summary(&path).unwrap_err().to_string();
        assert!(err.contains("no graph"), "{err}");
    }
}
