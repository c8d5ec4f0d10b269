//! OCR models in Magpie's model store.
//!
//! An OCR model is a folder in the store (beside the CLIP models) holding the three PP-OCR ONNX
//! networks — text detection, 0/180° orientation, recognition — and a `magpie-ocr.toml` manifest
//! naming them. Three ways in, all ending in the same folder:
//! - `magpie models pull SWHL/RapidOCR`: the public model repository where RapidOCR's author
//!   publishes its ONNX conversions; exactly the three files are downloaded (resumed, checked
//!   against the hub's sha256), then checked again against the sha256 of the files that the
//!   `rapidocr_onnxruntime==1.4.4` wheel ships, which this module pins;
//! - an import from a folder holding the three `.onnx` files;
//! - an import from an installed `rapidocr_onnxruntime` Python package (its `models/` folder).
//!
//! Files whose checksums are the pinned ones make the model `pp-ocrv4` (verified); other PP-OCR
//! exports can be imported too, under their own name, and are marked unverified.

use std::path::{Path, PathBuf};
use std::process::Command;

use magpie_models::store::{ModelStore, PullProgress};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the manifest in an OCR model folder.
pub const MANIFEST_FILE: &str = "magpie-ocr.toml";

/// What a network does in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Detector,
    Classifier,
    Recognizer,
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::Detector => "text detection",
            Role::Classifier => "orientation classifier",
            Role::Recognizer => "text recognition",
        }
    }

    /// The part of a PP-OCR file name that says the role (`ch_PP-OCRv4_det_infer.onnx`).
    fn name_tag(self) -> &'static str {
        match self {
            Role::Detector => "det",
            Role::Classifier => "cls",
            Role::Recognizer => "rec",
        }
    }
}

/// One file of a known model.
#[derive(Debug, Clone, Copy)]
pub struct KnownFile {
    pub role: Role,
    pub file_name: &'static str,
    /// Path of the file in the hub repository.
    pub repo_path: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

/// A model Magpie knows by checksum, and where it can be pulled from.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// Folder name in the store.
    pub name: &'static str,
    pub description: &'static str,
    /// Public hub repository hosting these exact files.
    pub repo: &'static str,
    pub revision: &'static str,
    pub files: [KnownFile; 3],
}

/// PP-OCRv4 as `rapidocr_onnxruntime==1.4.4` ships it (sha256 of the wheel's `models/` files,
/// measured). The hub repository's copies are the same files: for the detection and recognition
/// networks, third-party code that downloads them from there records the same sha256 and sizes;
/// `pull` checks all three on arrival, so a repository whose files changed is refused.
pub const PP_OCRV4: KnownModel = KnownModel {
    name: "pp-ocrv4",
    description: "PP-OCRv4 mobile (Chinese + Latin script), RapidOCR's ONNX export",
    repo: "SWHL/RapidOCR",
    revision: "main",
    files: [
        KnownFile {
            role: Role::Detector,
            file_name: "ch_PP-OCRv4_det_infer.onnx",
            repo_path: "PP-OCRv4/ch_PP-OCRv4_det_infer.onnx",
            sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
            size: 4_745_517,
        },
        KnownFile {
            role: Role::Classifier,
            file_name: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            repo_path: "PP-OCRv1/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            size: 585_532,
        },
        KnownFile {
            role: Role::Recognizer,
            file_name: "ch_PP-OCRv4_rec_infer.onnx",
            repo_path: "PP-OCRv4/ch_PP-OCRv4_rec_infer.onnx",
            sha256: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
            size: 10_857_958,
        },
    ],
};

/// The models `pull` knows, by repository.
pub const KNOWN_MODELS: &[KnownModel] = &[PP_OCRV4];

/// The known model a repository id (or a model name) stands for.
pub fn known_model(repo_or_name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| {
        m.repo.eq_ignore_ascii_case(repo_or_name) || m.name.eq_ignore_ascii_case(repo_or_name)
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    name: String,
    detector: String,
    classifier: String,
    recognizer: String,
    /// Where the files came from (`SWHL/RapidOCR@main`, `rapidocr_onnxruntime 1.4.4`, a folder).
    #[serde(default)]
    source: Option<String>,
    /// Whether the three files are the pinned PP-OCRv4 files.
    #[serde(default)]
    verified: bool,
}

/// An installed OCR model.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrModel {
    pub name: String,
    pub dir: PathBuf,
    pub detector: PathBuf,
    pub classifier: PathBuf,
    pub recognizer: PathBuf,
    pub source: Option<String>,
    /// The files are the pinned PP-OCRv4 files.
    pub verified: bool,
}

impl OcrModel {
    /// Reads an OCR model folder (its manifest, and checks that the files are there).
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::model(dir, format!("not an OCR model folder (no {MANIFEST_FILE})"))
            } else {
                Error::io(&manifest_path, e)
            }
        })?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| Error::model(&manifest_path, e.to_string()))?;
        let file = |relative: &str, role: Role| -> Result<PathBuf> {
            let path = dir.join(relative);
            if !path.is_file() {
                return Err(Error::model(
                    &manifest_path,
                    format!("the {} network `{relative}` is missing", role.describe()),
                ));
            }
            Ok(path)
        };
        Ok(Self {
            detector: file(&manifest.detector, Role::Detector)?,
            classifier: file(&manifest.classifier, Role::Classifier)?,
            recognizer: file(&manifest.recognizer, Role::Recognizer)?,
            name: manifest.name,
            dir: dir.to_path_buf(),
            source: manifest.source,
            verified: manifest.verified,
        })
    }
}

/// Whether a folder holds an OCR model.
pub fn is_ocr_model_dir(dir: &Path) -> bool {
    dir.join(MANIFEST_FILE).is_file()
}

/// Installed OCR models in the store; unreadable ones are skipped with a warning.
pub fn list(store: &ModelStore) -> Vec<OcrModel> {
    let Ok(entries) = std::fs::read_dir(store.root()) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && is_ocr_model_dir(p))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|dir| match OcrModel::load(&dir) {
            Ok(model) => Some(model),
            Err(err) => {
                tracing::warn!("skipping {}: {err}", dir.display());
                None
            }
        })
        .collect()
}

/// The OCR model to use: a folder or store name when given, else `pp-ocrv4`, else the only
/// installed one.
pub fn resolve(store: &ModelStore, name_or_dir: Option<&str>) -> Result<OcrModel> {
    if let Some(value) = name_or_dir {
        let as_path = Path::new(value);
        if as_path.is_dir() {
            return OcrModel::load(as_path);
        }
        let dir = store.root().join(value);
        if dir.is_dir() {
            return OcrModel::load(&dir);
        }
        if let Some(known) = known_model(value) {
            let dir = store.root().join(known.name);
            if dir.is_dir() {
                return OcrModel::load(&dir);
            }
        }
        return Err(Error::NoModel {
            store: store.root().to_path_buf(),
            repo: PP_OCRV4.repo,
        });
    }
    let default = store.root().join(PP_OCRV4.name);
    if default.is_dir() {
        return OcrModel::load(&default);
    }
    let mut models = list(store);
    if models.len() == 1 {
        return Ok(models.remove(0));
    }
    Err(Error::NoModel {
        store: store.root().to_path_buf(),
        repo: PP_OCRV4.repo,
    })
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The `.onnx` files of a folder that look like each role (by the `det`/`cls`/`rec` tag in
/// their names), preferring the ones with the pinned checksums.
fn find_role_files(folder: &Path) -> Result<[(PathBuf, bool); 3]> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in [folder.to_path_buf(), folder.join("models")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            candidates.extend(
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|x| x.eq_ignore_ascii_case("onnx"))
                    }),
            );
        }
    }
    candidates.sort();
    if candidates.is_empty() {
        return Err(Error::model(
            folder,
            "no .onnx files here (expected the PP-OCR detection, classifier and recognition networks)",
        ));
    }
    let mut found: Vec<(PathBuf, bool)> = Vec::with_capacity(3);
    for role in [Role::Detector, Role::Classifier, Role::Recognizer] {
        let pinned = PP_OCRV4.files.iter().find(|f| f.role == role);
        let tagged: Vec<&PathBuf> = candidates
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| has_tag(n, role.name_tag()))
            })
            .collect();
        let mut chosen: Option<(PathBuf, bool)> = None;
        for path in &tagged {
            let matches = match pinned {
                Some(pinned) => sha256_file(path)? == pinned.sha256,
                None => false,
            };
            if matches {
                chosen = Some(((*path).clone(), true));
                break;
            }
        }
        if chosen.is_none() {
            match tagged.as_slice() {
                [one] => chosen = Some(((*one).clone(), false)),
                [] => {
                    return Err(Error::model(
                        folder,
                        format!(
                            "no {} network (an .onnx file with `{}` in its name)",
                            role.describe(),
                            role.name_tag()
                        ),
                    ))
                }
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect();
                    return Err(Error::model(
                        folder,
                        format!(
                            "several {} networks ({}); keep one in the folder",
                            role.describe(),
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        found.push(chosen.expect("set above"));
    }
    Ok([found[0].clone(), found[1].clone(), found[2].clone()])
}

/// `det` as its own word in a file name: `ch_PP-OCRv4_det_infer.onnx`, `det.onnx`.
fn has_tag(name: &str, tag: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|part| part == tag)
}

/// Copies the three networks of `folder` into the store (as `pp-ocrv4` when they are the pinned
/// files, else as `name` or `ocr-<folder name>`), and returns the installed model.
pub fn import_folder(
    store: &ModelStore,
    folder: &Path,
    name: Option<&str>,
    source: &str,
) -> Result<OcrModel> {
    let [detector, classifier, recognizer] = find_role_files(folder)?;
    let verified = detector.1 && classifier.1 && recognizer.1;
    let name = match (verified, name) {
        (_, Some(name)) => sanitize(name),
        (true, None) => PP_OCRV4.name.to_string(),
        (false, None) => format!(
            "ocr-{}",
            sanitize(
                &folder
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "imported".to_string())
            )
        ),
    };
    if !verified {
        tracing::warn!(
            folder = %folder.display(),
            "these are not the PP-OCRv4 files Magpie knows by checksum; importing them as `{name}` unverified"
        );
    }
    let target = store.root().join(&name);
    let staging = store
        .root()
        .join(format!(".{name}.importing-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let result = (|| {
        let mut names = Vec::new();
        for (path, _) in [&detector, &classifier, &recognizer] {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::copy(path, staging.join(&file_name)).map_err(|e| Error::io(path, e))?;
            names.push(file_name);
        }
        let manifest = Manifest {
            name: name.clone(),
            detector: names[0].clone(),
            classifier: names[1].clone(),
            recognizer: names[2].clone(),
            source: Some(source.to_string()),
            verified,
        };
        write_manifest(&staging, &manifest)?;
        replace_dir(&staging, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    OcrModel::load(&target)
}

/// The `models/` folder of the `rapidocr_onnxruntime` package that `python` imports.
pub fn rapidocr_package_models(python: &Path) -> Result<(PathBuf, String)> {
    let output = Command::new(python)
        .args([
            "-c",
            "import os, importlib.metadata as m, rapidocr_onnxruntime as r; \
             print(os.path.join(os.path.dirname(r.__file__), 'models')); \
             print(m.version('rapidocr_onnxruntime'))",
        ])
        .output()
        .map_err(|e| Error::io(python, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim().to_string();
        return Err(Error::model(
            python,
            format!(
                "cannot import rapidocr_onnxruntime ({last}); install it with \
                 `pip install rapidocr_onnxruntime==1.4.4` or import a folder with --from"
            ),
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let folder = PathBuf::from(lines.next().unwrap_or("").trim());
    let version = lines.next().unwrap_or("").trim().to_string();
    Ok((folder, version))
}

/// Imports the networks of the `rapidocr_onnxruntime` package `python` (default `python3`) has.
pub fn import_rapidocr(store: &ModelStore, python: Option<&Path>) -> Result<OcrModel> {
    let python = python.unwrap_or(Path::new("python3"));
    let (folder, version) = rapidocr_package_models(python)?;
    import_folder(
        store,
        &folder,
        None,
        &format!("rapidocr_onnxruntime {version} ({})", folder.display()),
    )
}

/// Downloads a known model from its hub repository into the store and checks every file against
/// the pinned checksums.
pub fn pull(
    store: &ModelStore,
    model: &KnownModel,
    revision: &str,
    progress: &dyn PullProgress,
) -> Result<OcrModel> {
    let target = store.root().join(model.name);
    let files: Vec<&str> = model.files.iter().map(|f| f.repo_path).collect();
    store.pull_files(model.repo, revision, &files, &target, progress)?;
    for file in &model.files {
        let path = target.join(file.repo_path);
        let actual = sha256_file(&path)?;
        if actual != file.sha256 {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Checksum {
                path,
                expected: file.sha256.to_string(),
                actual,
                what: format!(
                    "the {} network of {} as rapidocr_onnxruntime 1.4.4 ships it; the file was removed",
                    file.role.describe(),
                    model.name
                ),
            });
        }
    }
    let by_role = |role: Role| {
        model
            .files
            .iter()
            .find(|f| f.role == role)
            .map(|f| f.repo_path.to_string())
            .unwrap_or_default()
    };
    let manifest = Manifest {
        name: model.name.to_string(),
        detector: by_role(Role::Detector),
        classifier: by_role(Role::Classifier),
        recognizer: by_role(Role::Recognizer),
        source: Some(format!("{}@{revision}", model.repo)),
        verified: true,
    };
    write_manifest(&target, &manifest)?;
    OcrModel::load(&target)
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let text = toml::to_string(manifest).map_err(|e| Error::model(&path, e.to_string()))?;
    let text = format!(
        "# An OCR model for Magpie (magpie-ocr): the three PP-OCR networks of this folder.\n{text}"
    );
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// Moves `staging` to `target`, replacing an older copy.
fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        let old = target.with_extension(format!("old-{}", std::process::id()));
        std::fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
        std::fs::rename(staging, target).map_err(|e| Error::io(target, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(staging, target).map_err(|e| Error::io(target, e))?;
    }
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_tags_are_whole_words() {
        assert!(has_tag("ch_PP-OCRv4_det_infer.onnx", "det"));
        assert!(has_tag("det.onnx", "det"));
        assert!(!has_tag("detector_rec.onnx", "det"));
        assert!(has_tag("ch_ppocr_mobile_v2.0_cls_infer.onnx", "cls"));
    }

    #[test]
    fn known_models_are_found_by_repo_or_name() {
        assert_eq!(
            known_model("swhl/rapidocr").map(|m| m.name),
            Some("pp-ocrv4")
        );
        assert_eq!(
            known_model("pp-ocrv4").map(|m| m.repo),
            Some("SWHL/RapidOCR")
        );
        assert!(known_model("openai/clip").is_none());
    }

    #[test]
    fn a_folder_without_networks_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path().join("store"));
        let err = import_folder(&store, dir.path(), None, "test").unwrap_err();
        assert!(err.to_string().contains("no .onnx files"), "{err}");
        std::fs::write(dir.path().join("a_det.onnx"), b"x").unwrap();
        let err = import_folder(&store, dir.path(), None, "test").unwrap_err();
        assert!(err.to_string().contains("orientation classifier"), "{err}");
    }
}
