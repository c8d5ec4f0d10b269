//! The model store and `pull` from a Hugging Face-compatible hub.
//!
//! Models live in one folder per model under the store root (explicit, else `MAGPIE_MODELS`, else
//! the config file's `model_store`, else `$XDG_DATA_HOME/magpie/models`), named after the repo
//! (`owner--name`). `pull` lists the repo through the hub's tree API, picks only the files the
//! layout and variant need (`--variant fp32|fp16|int8`: `vision_model.onnx`, `_fp16.onnx`,
//! `_quantized.onnx`; not the other variants, combined models, ARM NN or RKNN builds that can add
//! gigabytes), then the external-data files the downloaded graphs name, downloads each into
//! `<file>.part` with HTTP Range resume (a dropped connection on a 600 MB tower should not start
//! over), verifies it against the hub's checksum (sha256 for LFS files, git's blob sha1 for small
//! ones), and only then renames it into place. The result is validated with
//! [`ModelSpec::load_variant`], so a pull that succeeds gives a model that opens, and the variant
//! and family are recorded beside it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use crate::error::{Error, Result};
use crate::model_dir::{ModelSpec, Variant, MANIFEST_FILE};

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// File in each pulled model recording where it came from.
pub const SOURCE_FILE: &str = ".magpie-source.json";

/// Receives pull progress (the binary drives a progress bar with it).
pub trait PullProgress {
    /// The files to fetch are known: `total_bytes` over `files` files.
    fn started(&self, _files: usize, _total_bytes: u64) {}
    /// One file begins; `resumed_from` bytes were already on disk (or already verified).
    fn file_started(&self, _path: &str, _size: u64, _resumed_from: u64) {}
    /// `bytes` more bytes arrived.
    fn advanced(&self, _bytes: u64) {}
    /// One file is downloaded and verified.
    fn file_finished(&self, _path: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl PullProgress for NoProgress {}

/// One installed model.
#[derive(Debug, Clone)]
pub struct InstalledModel {
    pub name: String,
    pub dir: PathBuf,
    pub layout: crate::model_dir::Layout,
    /// The embedding dimension the configuration declares (`None` when it only shows in the ONNX
    /// graph).
    pub declared_dim: Option<usize>,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// `owner/name@revision`, for pulled models.
    pub source: Option<String>,
    pub family: crate::family::Family,
    pub variant: Variant,
}

/// What `pull` records in [`SOURCE_FILE`]: where the model came from, and which variant and
/// family it is (so that a directory holding several variants opens the one pulled).
#[derive(Debug, Serialize, Deserialize)]
struct SourceRecord {
    repo: String,
    revision: String,
    endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<Variant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<String>,
}

/// The model store.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A store at an explicit root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Picks the root: explicit, else `MAGPIE_MODELS`, else the config value, else
    /// `$XDG_DATA_HOME/magpie/models`.
    pub fn locate(explicit: Option<&Path>, config: Option<&Path>) -> Result<Self> {
        if let Some(path) = explicit {
            return Ok(Self::new(path));
        }
        if let Some(path) = std::env::var_os("MAGPIE_MODELS").filter(|v| !v.is_empty()) {
            return Ok(Self::new(PathBuf::from(path)));
        }
        if let Some(path) = config {
            return Ok(Self::new(path));
        }
        let data = dirs::data_dir().ok_or_else(|| {
            Error::model_dir(
                "$XDG_DATA_HOME",
                "no data directory (set HOME or XDG_DATA_HOME, or MAGPIE_MODELS for the model store)",
            )
        })?;
        Ok(Self::new(data.join("magpie").join("models")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where TensorRT keeps the engines it builds for a model.
    pub fn tensorrt_cache_dir(&self, model_name: &str) -> PathBuf {
        self.root.join(".trt-cache").join(sanitize(model_name))
    }

    /// The folder a repo is pulled into.
    pub fn dir_for_repo(&self, repo_id: &str) -> PathBuf {
        self.root.join(
            repo_id
                .split('/')
                .map(sanitize)
                .collect::<Vec<_>>()
                .join("--"),
        )
    }

    /// A `--model` value: an existing directory, or the name of an installed model (its folder
    /// name, its repo id, or the part after `owner--` when that is unique).
    pub fn resolve(&self, name_or_dir: &str) -> Result<PathBuf> {
        let as_path = Path::new(name_or_dir);
        if as_path.is_dir() {
            return Ok(as_path.to_path_buf());
        }
        let direct = [self.root.join(name_or_dir), self.dir_for_repo(name_or_dir)];
        if let Some(dir) = direct.into_iter().find(|d| d.is_dir()) {
            return Ok(dir);
        }
        let suffix = format!("--{name_or_dir}");
        let matches: Vec<PathBuf> = self
            .model_dirs()
            .into_iter()
            .filter(|dir| {
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(Error::ModelNotFound {
                name: name_or_dir.to_string(),
                store: self.root.clone(),
            }),
        }
    }

    fn model_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        dirs.sort();
        dirs
    }

    /// Installed models; folders that are not valid models are skipped with a warning.
    pub fn list(&self) -> Vec<InstalledModel> {
        let mut models = Vec::new();
        for dir in self.model_dirs() {
            if OTHER_KIND_MANIFESTS.iter().any(|m| dir.join(m).is_file()) {
                continue;
            }
            match ModelSpec::load(&dir) {
                Ok(spec) => {
                    let source = std::fs::read_to_string(dir.join(SOURCE_FILE))
                        .ok()
                        .and_then(|text| serde_json::from_str::<SourceRecord>(&text).ok())
                        .map(|record| format!("{}@{}", record.repo, record.revision));
                    models.push(InstalledModel {
                        name: dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        size_bytes: dir_size(&dir),
                        layout: spec.layout,
                        declared_dim: spec.declared_dim,
                        family: spec.family,
                        variant: spec.variant,
                        dir,
                        source,
                    });
                }
                Err(err) => tracing::warn!("skipping {}: {err}", dir.display()),
            }
        }
        models
    }

    /// Downloads a model from the hub (`HF_ENDPOINT`, default huggingface.co) into the store:
    /// its fp32 towers when it has them, else the variant it has.
    pub fn pull(
        &self,
        repo_id: &str,
        revision: &str,
        progress: &dyn PullProgress,
    ) -> Result<ModelSpec> {
        self.pull_variant(repo_id, revision, None, progress)
    }

    /// Downloads exactly `files` (paths in the repo) into `target`, with the resume and checksums
    /// of [`pull`](Self::pull). For models of other kinds (OCR), whose crates know the files they
    /// need and check what arrived.
    pub fn pull_files(
        &self,
        repo_id: &str,
        revision: &str,
        files: &[&str],
        target: &Path,
        progress: &dyn PullProgress,
    ) -> Result<()> {
        Hub::new(&hub_endpoint()).pull_files(repo_id, revision, files, target, progress)
    }

    /// Downloads one variant (fp32, fp16, int8) of a model: exactly the files it needs.
    pub fn pull_variant(
        &self,
        repo_id: &str,
        revision: &str,
        variant: Option<Variant>,
        progress: &dyn PullProgress,
    ) -> Result<ModelSpec> {
        Hub::new(&hub_endpoint()).pull(
            repo_id,
            revision,
            variant,
            &self.dir_for_repo(repo_id),
            progress,
        )
    }

    /// Whether the model `repo_id` is installed (pulled into its folder and loadable).
    pub fn installed(&self, repo_id: &str) -> Option<PathBuf> {
        let dir = self.dir_for_repo(repo_id);
        ModelSpec::load(&dir).ok().map(|_| dir)
    }
}

/// `HF_ENDPOINT`, else the public hub.
pub fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// Manifests of other kinds of model that share the store (OCR: `magpie-ocr`); their folders are
/// not CLIP models, and their own crates list them.
pub const OTHER_KIND_MANIFESTS: &[&str] = &["magpie-ocr.toml"];

fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// One file of a hub repo, as the tree API lists it.
#[derive(Debug, Clone, Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    lfs: Option<LfsInfo>,
}

#[derive(Debug, Clone, Deserialize)]
struct LfsInfo {
    oid: String,
    #[serde(default)]
    size: Option<u64>,
}

impl TreeEntry {
    fn expected_size(&self) -> u64 {
        self.lfs.as_ref().and_then(|l| l.size).unwrap_or(self.size)
    }
}

/// A Hugging Face-compatible hub.
pub struct Hub {
    endpoint: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Hub {
    pub fn new(endpoint: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .user_agent(concat!("magpie/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            agent,
            token,
        }
    }

    fn get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = self.agent.get(url);
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn list_tree(&self, repo_id: &str, revision: &str) -> Result<Vec<TreeEntry>> {
        let url = format!(
            "{}/api/models/{repo_id}/tree/{revision}?recursive=true",
            self.endpoint
        );
        let hub_error = |reason: String| Error::Hub {
            url: url.clone(),
            reason,
        };
        let mut response = self
            .get(&url)
            .call()
            .map_err(|e| hub_error(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            let hint = match status {
                401 | 403 => " (private or gated repo: set HF_TOKEN)",
                404 => " (no such repo or revision)",
                _ => "",
            };
            return Err(hub_error(format!("HTTP {status}{hint}")));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| hub_error(e.to_string()))?;
        let entries: Vec<TreeEntry> = serde_json::from_str(&text)
            .map_err(|e| hub_error(format!("unexpected tree listing: {e}")))?;
        Ok(entries.into_iter().filter(|e| e.kind == "file").collect())
    }

    /// Lists, picks, downloads, verifies and validates a model into `target`.
    ///
    /// Two rounds: first the configs and the tower graphs; then the external-data files the
    /// graphs name (Hugging Face's `model.onnx_data`, the per-tensor files of Immich's large
    /// exports), which only the downloaded graphs can tell.
    pub fn pull(
        &self,
        repo_id: &str,
        revision: &str,
        variant: Option<Variant>,
        target: &Path,
        progress: &dyn PullProgress,
    ) -> Result<ModelSpec> {
        let entries = self.list_tree(repo_id, revision)?;
        std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
        let repo_error = |reason: String| Error::Hub {
            url: format!("{}/{repo_id}", self.endpoint),
            reason,
        };
        let find = |path: &str| entries.iter().find(|e| e.path == path);
        let (mut wanted, towers, variant): (Vec<&TreeEntry>, Vec<String>, Variant) =
            if let Some(manifest) = find(MANIFEST_FILE) {
                if variant.is_some_and(|v| v != Variant::Fp32) {
                    return Err(repo_error(format!(
                        "{MANIFEST_FILE} names its files itself; --variant does not apply"
                    )));
                }
                // The manifest names the other files, so it comes first.
                self.download(repo_id, revision, manifest, target, progress)?;
                let named = manifest_files(&target.join(MANIFEST_FILE))?;
                let mut wanted = Vec::new();
                for path in &named {
                    let entry = find(path).ok_or_else(|| {
                        repo_error(format!(
                            "{MANIFEST_FILE} names `{path}`, which the repo does not have"
                        ))
                    })?;
                    wanted.push(entry);
                }
                let towers = named.into_iter().filter(|p| p.ends_with(".onnx")).collect();
                (wanted, towers, Variant::Fp32)
            } else {
                let picked = pick_layout_files(&entries, variant).map_err(repo_error)?;
                let wanted = picked.files.iter().filter_map(|path| find(path)).collect();
                (wanted, picked.towers, picked.variant)
            };
        let total: u64 = wanted.iter().map(|e| e.expected_size()).sum();
        progress.started(wanted.len(), total);
        for entry in &wanted {
            self.download(repo_id, revision, entry, target, progress)?;
        }
        // Round two: the weights the graphs keep outside themselves.
        let mut external = Vec::new();
        for tower in &towers {
            let folder = Path::new(tower)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            for name in crate::onnx_file::read_summary(&target.join(tower))?.external_files {
                let path = folder.join(&name).to_string_lossy().replace('\\', "/");
                let entry = find(&path).ok_or_else(|| {
                    repo_error(format!(
                        "{tower} keeps its weights in `{path}`, which the repo does not have"
                    ))
                })?;
                if !external.iter().any(|e: &&TreeEntry| e.path == entry.path) {
                    external.push(entry);
                }
            }
        }
        if !external.is_empty() {
            let extra: u64 = external.iter().map(|e| e.expected_size()).sum();
            progress.started(wanted.len() + external.len(), total + extra);
            for entry in &external {
                self.download(repo_id, revision, entry, target, progress)?;
            }
            wanted.extend(external);
        }
        let spec = ModelSpec::load_variant(target, Some(variant))?;
        let record = SourceRecord {
            repo: repo_id.to_string(),
            revision: revision.to_string(),
            endpoint: self.endpoint.clone(),
            variant: Some(variant),
            family: Some(spec.family.name().to_string()),
        };
        if let Ok(text) = serde_json::to_string_pretty(&record) {
            std::fs::write(target.join(SOURCE_FILE), text)
                .map_err(|e| Error::io(target.join(SOURCE_FILE), e))?;
        }
        Ok(spec)
    }

    /// Downloads the named files of a repo into `target` (see [`ModelStore::pull_files`]).
    pub fn pull_files(
        &self,
        repo_id: &str,
        revision: &str,
        files: &[&str],
        target: &Path,
        progress: &dyn PullProgress,
    ) -> Result<()> {
        let entries = self.list_tree(repo_id, revision)?;
        let mut wanted = Vec::with_capacity(files.len());
        for path in files {
            let entry = entries
                .iter()
                .find(|e| e.path == *path)
                .ok_or_else(|| Error::Hub {
                    url: format!("{}/{repo_id}", self.endpoint),
                    reason: format!("the repo has no `{path}`"),
                })?;
            wanted.push(entry);
        }
        std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
        progress.started(wanted.len(), wanted.iter().map(|e| e.expected_size()).sum());
        for entry in wanted {
            self.download(repo_id, revision, entry, target, progress)?;
        }
        let record = SourceRecord {
            repo: repo_id.to_string(),
            revision: revision.to_string(),
            endpoint: self.endpoint.clone(),
            variant: None,
            family: None,
        };
        if let Ok(text) = serde_json::to_string_pretty(&record) {
            std::fs::write(target.join(SOURCE_FILE), text)
                .map_err(|e| Error::io(target.join(SOURCE_FILE), e))?;
        }
        Ok(())
    }

    fn download(
        &self,
        repo_id: &str,
        revision: &str,
        entry: &TreeEntry,
        target: &Path,
        progress: &dyn PullProgress,
    ) -> Result<()> {
        let relative = safe_relative_path(&entry.path).ok_or_else(|| Error::Hub {
            url: format!("{}/{repo_id}", self.endpoint),
            reason: format!("refusing unsafe path `{}`", entry.path),
        })?;
        let destination = target.join(&relative);
        let size = entry.expected_size();
        if destination.is_file() && verify(&destination, entry).is_ok() {
            progress.file_started(&entry.path, size, size);
            progress.file_finished(&entry.path);
            return Ok(());
        }
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut partial_name = destination.as_os_str().to_owned();
        partial_name.push(".part");
        let partial = PathBuf::from(partial_name);
        let mut have = std::fs::metadata(&partial).map_or(0, |m| m.len());
        if have > size {
            // Longer than the file can be: not a prefix of it.
            std::fs::remove_file(&partial).map_err(|e| Error::io(&partial, e))?;
            have = 0;
        }
        let url = format!(
            "{}/{repo_id}/resolve/{revision}/{}",
            self.endpoint, entry.path
        );
        let hub_error = |reason: String| Error::Hub {
            url: url.clone(),
            reason,
        };
        if have < size || size == 0 {
            let mut request = self.get(&url);
            if have > 0 {
                request = request.header("Range", format!("bytes={have}-"));
            }
            let mut response = request.call().map_err(|e| hub_error(e.to_string()))?;
            let status = response.status().as_u16();
            let append = match status {
                206 if have > 0 => true,
                200 => false,
                416 if have == size => true,
                _ => return Err(hub_error(format!("HTTP {status}"))),
            };
            if !append {
                have = 0;
            }
            progress.file_started(&entry.path, size, have);
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&partial)
                .map_err(|e| Error::io(&partial, e))?;
            if status != 416 {
                let mut reader = response.body_mut().as_reader();
                let mut buffer = vec![0u8; 1 << 16];
                loop {
                    let read = reader
                        .read(&mut buffer)
                        .map_err(|e| hub_error(format!("download interrupted: {e}")))?;
                    if read == 0 {
                        break;
                    }
                    file.write_all(&buffer[..read])
                        .map_err(|e| Error::io(&partial, e))?;
                    progress.advanced(read as u64);
                }
            }
            file.sync_all().map_err(|e| Error::io(&partial, e))?;
        } else {
            progress.file_started(&entry.path, size, have);
        }
        if let Err(err) = verify(&partial, entry) {
            // A wrong file is never resumed: its bytes are not a prefix of the right one.
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
        std::fs::rename(&partial, &destination).map_err(|e| Error::io(&destination, e))?;
        progress.file_finished(&entry.path);
        tracing::debug!(file = %destination.display(), "downloaded and verified");
        Ok(())
    }
}

/// Rejects absolute paths and `..`: a hostile listing must not write outside the model folder.
fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let safe = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (safe && !path.is_empty()).then(|| relative.to_path_buf())
}

/// What a pull fetches for one layout and variant.
struct PickedFiles {
    /// Every file, the towers first.
    files: Vec<String>,
    /// The tower graphs (whose external data is fetched after them).
    towers: Vec<String>,
    variant: Variant,
}

/// The files of the layout and variant the listing shows: the two tower graphs and the configs
/// Magpie reads (not the other variants, the combined `model.onnx`, ARM NN or RKNN builds, or
/// the slow tokenizer's `spiece.model`). Errors say what the repo has instead.
fn pick_layout_files(
    entries: &[TreeEntry],
    variant: Option<Variant>,
) -> std::result::Result<PickedFiles, String> {
    let has = |path: &str| entries.iter().any(|e| e.path == path);
    let configs = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| has(n))
            .map(|n| (*n).to_string())
            .collect()
    };
    for prefix in ["onnx/", ""] {
        let towers_of = |v: Variant| -> Option<Vec<String>> {
            ["vision_model", "text_model"]
                .iter()
                .map(|tower| {
                    v.hf_suffixes()
                        .iter()
                        .map(|suffix| format!("{prefix}{tower}{suffix}.onnx"))
                        .find(|path| has(path))
                })
                .collect()
        };
        let available: Vec<Variant> = Variant::ALL
            .into_iter()
            .filter(|v| towers_of(*v).is_some())
            .collect();
        if available.is_empty() {
            continue;
        }
        let chosen = match variant {
            Some(v) if available.contains(&v) => v,
            Some(v) => {
                return Err(format!(
                    "no {v} export here (onnx/vision_model{0}.onnx + onnx/text_model{0}.onnx); it has: {1}",
                    v.hf_suffixes()[0],
                    available.iter().map(Variant::to_string).collect::<Vec<_>>().join(", ")
                ))
            }
            None => available[0],
        };
        let towers = towers_of(chosen).unwrap_or_default();
        let mut files = towers.clone();
        files.extend(configs(&[
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "preprocessor_config.json",
            "config.json",
        ]));
        return Ok(PickedFiles {
            files,
            towers,
            variant: chosen,
        });
    }
    if has("visual/model.onnx") && has("textual/model.onnx") {
        if let Some(v) = variant.filter(|v| *v != Variant::Fp32) {
            return Err(format!(
                "Immich publishes fp32 ONNX towers only (its fp16 files are ARM NN builds), not {v}; pull without --variant"
            ));
        }
        let towers = vec![
            "visual/model.onnx".to_string(),
            "textual/model.onnx".to_string(),
        ];
        let mut files = towers.clone();
        files.extend(configs(&[
            "visual/preprocess_cfg.json",
            "textual/tokenizer.json",
            "textual/tokenizer_config.json",
            "textual/special_tokens_map.json",
            "config.json",
        ]));
        return Ok(PickedFiles {
            files,
            towers,
            variant: Variant::Fp32,
        });
    }
    Err("no CLIP-family ONNX model here: expected magpie-model.toml, onnx/vision_model.onnx + \
         onnx/text_model.onnx (Hugging Face/Xenova, also _fp16 / _quantized) or visual/model.onnx + \
         textual/model.onnx (Immich)"
        .to_string())
}

/// The files a downloaded manifest names.
fn manifest_files(manifest: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest).map_err(|e| Error::io(manifest, e))?;
    let value: toml::Value =
        toml::from_str(&text).map_err(|e| Error::model_dir(manifest, e.to_string()))?;
    let mut files = Vec::new();
    for key in ["image.file", "text.file", "text.tokenizer"] {
        let (table, field) = key.split_once('.').unwrap_or((key, ""));
        let file = value
            .get(table)
            .and_then(|t| t.get(field))
            .and_then(toml::Value::as_str)
            .ok_or_else(|| Error::model_dir(manifest, format!("`{key}` missing")))?;
        files.push(file.to_string());
    }
    Ok(files)
}

/// Checks a downloaded file against the listing: sha256 for LFS files, git blob sha1 otherwise,
/// and the size always.
fn verify(path: &Path, entry: &TreeEntry) -> Result<()> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let expected_size = entry.expected_size();
    if size != expected_size {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            algorithm: "size",
            expected: expected_size.to_string(),
            actual: size.to_string(),
        });
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    let (algorithm, expected, actual) = if let Some(lfs) = &entry.lfs {
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        hash_reader(&mut file, &mut buffer, path, |chunk| {
            sha2::Digest::update(&mut hasher, chunk)
        })?;
        (
            "sha256",
            lfs.oid.to_ascii_lowercase(),
            hex::encode(sha2::Digest::finalize(hasher)),
        )
    } else if !entry.oid.is_empty() {
        // Git's object id for a blob: sha1("blob <size>\0" + content).
        let mut hasher = sha1::Sha1::new();
        hasher.update(format!("blob {size}\0").as_bytes());
        hash_reader(&mut file, &mut buffer, path, |chunk| hasher.update(chunk))?;
        (
            "git-sha1",
            entry.oid.to_ascii_lowercase(),
            hex::encode(hasher.finalize()),
        )
    } else {
        return Ok(());
    };
    if expected == actual {
        Ok(())
    } else {
        Err(Error::Checksum {
            path: path.to_path_buf(),
            algorithm,
            expected,
            actual,
        })
    }
}

fn hash_reader(
    file: &mut File,
    buffer: &mut [u8],
    path: &Path,
    mut update: impl FnMut(&[u8]),
) -> Result<()> {
    loop {
        let read = file.read(buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        update(&buffer[..read]);
    }
}
