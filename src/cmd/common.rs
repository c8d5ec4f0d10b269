//! What the library commands share: which library, which model, and opening them together.
//!
//! A library remembers the model directory it was indexed with (`model-source.json`), so that
//! `magpie search` and `magpie serve` work without repeating `--model`; an explicit `--model`,
//! `MAGPIE_MODEL` or the config's `model` still wins, and a model whose weights differ from the
//! library's is refused by the searcher with both identities named.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use magpie_models::ModelSpec;
use magpie_searcher::{LibrarySearch, SearcherConfig};
use serde::{Deserialize, Serialize};

use super::models::{resolve_model, session_config, start_runtime};
use super::Context;

/// `--library`, `--model`, `--device`: which library, and which model and device to open it with
/// (shared by every command that embeds for a library).
#[derive(Debug, Clone, Default, Args)]
pub struct LibraryTarget {
    /// Library directory (default: MAGPIE_LIBRARY, the config's `library`, else
    /// $XDG_DATA_HOME/magpie/library).
    #[arg(long, env = "MAGPIE_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Model directory or store name (default: MAGPIE_MODEL, the config's `model`, else the
    /// model the library was built with).
    #[arg(long, env = "MAGPIE_MODEL")]
    pub model: Option<String>,
    /// Device: auto, cpu, cuda[:N], tensorrt[:N].
    #[arg(long)]
    pub device: Option<String>,
    /// Query language for models that take one (NLLB): `es`, `de`, `zh-Hans`, or a FLORES-200
    /// code such as `spa_Latn` (default: the config's `language`, else the model's, eng_Latn).
    #[arg(long = "lang", value_name = "LANG")]
    pub lang: Option<String>,
}

impl LibraryTarget {
    /// Opens the library and its model for searching.
    pub fn open_search(&self, ctx: &Context) -> anyhow::Result<LibrarySearch> {
        open_search(
            ctx,
            self.library.as_deref(),
            self.model.as_deref(),
            self.device.as_deref(),
            self.language(ctx),
        )
    }

    /// `--lang`, else the config's `language`.
    pub fn language<'a>(&'a self, ctx: &'a Context) -> Option<&'a str> {
        self.lang.as_deref().or(ctx.config.language.as_deref())
    }
}

/// The library directory to use.
pub fn library_dir(ctx: &Context, explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    magpie_catalog::LibraryLayout::resolve(explicit, ctx.config.library.as_deref())
        .context("no library directory: pass --library DIR or set MAGPIE_LIBRARY")
}

/// The model a library was indexed with, as recorded by `magpie index`: where it is, and which
/// family and variant it is (so the library says what it was built with even when the model
/// directory has moved).
#[derive(Debug, Serialize, Deserialize)]
struct ModelSource {
    dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

fn model_source_file(library: &Path) -> PathBuf {
    library.join("model-source.json")
}

/// Remembers where the library's model lives (best effort: search can always be given --model).
pub fn record_model_source(library: &Path, spec: &ModelSpec) {
    let dir = spec.dir.canonicalize().unwrap_or_else(|_| spec.dir.clone());
    let source = ModelSource {
        dir,
        family: Some(spec.family.to_string()),
        variant: Some(spec.variant.to_string()),
    };
    let bytes = serde_json::to_vec_pretty(&source).unwrap_or_default();
    if let Err(e) = std::fs::write(model_source_file(library), bytes) {
        tracing::warn!("cannot record the model of {}: {e}", library.display());
    }
}

/// The family a library was indexed with (`None` for libraries that predate the record).
pub fn recorded_family(library: &Path) -> Option<String> {
    recorded_source(library).and_then(|s| s.family)
}

fn recorded_source(library: &Path) -> Option<ModelSource> {
    std::fs::read(model_source_file(library))
        .ok()
        .and_then(|b| serde_json::from_slice::<ModelSource>(&b).ok())
}

/// For `magpie index`: like [`model_for_library`], but a new library that names no model gets
/// the catalogue's default (pulled with a progress bar when it is not installed).
pub fn model_for_index(
    ctx: &Context,
    model: Option<&str>,
    library: &Path,
) -> anyhow::Result<ModelSpec> {
    if let Some(spec) = resolve_model(ctx, model)? {
        return Ok(spec);
    }
    // An existing library without a record gets the usual error rather than a guessed model.
    let new_library = recorded_source(library).is_none()
        && !magpie_catalog::LibraryLayout::new(library)
            .db_dir()
            .exists();
    if new_library {
        return super::models::default_model(ctx);
    }
    model_for_library(ctx, None, library)
}

/// `--model`, else `MAGPIE_MODEL` (clap fills it in), else the config's `model`, else the model
/// the library was indexed with.
pub fn model_for_library(
    ctx: &Context,
    model: Option<&str>,
    library: &Path,
) -> anyhow::Result<ModelSpec> {
    if let Some(spec) = resolve_model(ctx, model)? {
        return Ok(spec);
    }
    let recorded = recorded_source(library);
    let Some(source) = recorded else {
        anyhow::bail!(
            "no model: pass --model DIR (or a name from `magpie models list`); the library {} does not say which model built it",
            library.display()
        );
    };
    ModelSpec::load(&source.dir).with_context(|| {
        format!(
            "the library {} was indexed with the model at {}, which cannot be loaded now; pass --model",
            library.display(),
            source.dir.display()
        )
    })
}

/// The searcher's settings, with the config's prompt templates if it has any, and the query
/// language (`--lang` / the config's `language`).
pub fn searcher_config(ctx: &Context, language: Option<&str>) -> anyhow::Result<SearcherConfig> {
    let mut config = SearcherConfig {
        default_language: language.map(str::to_string),
        ..SearcherConfig::default()
    };
    if let Some(templates) = &ctx.config.prompt_templates {
        config.query_prompts = magpie_searcher::PromptEnsemble::new(templates.clone())
            .context("config key prompt_templates")?;
    }
    Ok(config)
}

/// Opens a library and its model for searching.
pub fn open_search(
    ctx: &Context,
    library: Option<&Path>,
    model: Option<&str>,
    device: Option<&str>,
    language: Option<&str>,
) -> anyhow::Result<LibrarySearch> {
    let library = library_dir(ctx, library)?;
    start_runtime(ctx)?;
    let spec = model_for_library(ctx, model, &library)?;
    let session = session_config(ctx, device, &spec)?;
    let config = searcher_config(ctx, language)?;
    Ok(LibrarySearch::open(&library, &spec, &session, config)?)
}

/// A file path in JSON output: `path` as text, and `path_bytes`, the raw bytes, only for a name
/// that is not valid UTF-8 (text alone would lose it); `null` otherwise. The one rendering of a
/// path for every `--json` output (`search`, `library errors`); flatten it into a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathJson {
    pub path: String,
    pub path_bytes: Option<Vec<u8>>,
}

impl PathJson {
    pub fn of(path: &Path) -> Self {
        let bytes = magpie_catalog::path_to_bytes(path);
        let exact = path.to_str().is_some() && magpie_catalog::bytes_to_path(&bytes) == path;
        Self {
            path: path.to_string_lossy().into_owned(),
            path_bytes: (!exact).then_some(bytes),
        }
    }
}

/// An image record for JSON output: every stored field, with its path rendered by [`PathJson`]
/// (the stored form is an array of bytes, which scripts cannot use as a file name).
pub fn record_json(record: &magpie_catalog::ImageRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let (Some(fields), Ok(serde_json::Value::Object(path))) = (
        value.as_object_mut(),
        serde_json::to_value(PathJson::of(&record.path)),
    ) {
        fields.extend(path);
    }
    value
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `2024-05-01 14:03` (UTC) for a table column.
pub fn format_date(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = magpie_catalog::dates::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// The image-count bar ([`magpie_indexer::progress::IMAGE_BAR_TEMPLATE`]) with `prefix` saying
/// what is being done.
pub fn image_bar(prefix: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(magpie_indexer::progress::IMAGE_BAR_TEMPLATE)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// A thread that shows progress while a run works, until [`Reporter::finish`]: `report` runs on
/// it with the stop flag and must return soon after the flag is set. (A thread that cannot be
/// started means no progress display, not a failed run.)
pub struct Reporter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    pub fn start(
        name: &str,
        report: impl FnOnce(&std::sync::atomic::AtomicBool) + Send + 'static,
    ) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || report(&flag))
            .ok();
        Self { stop, thread }
    }

    /// Sets the stop flag and waits for the thread to end.
    pub fn finish(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Human-readable bytes.
pub fn format_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(format_date(0), "1970-01-01 00:00");
        assert_eq!(format_date(1_625_401_805), "2021-07-04 12:30");
        assert_eq!(format_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_date(-86_400), "1969-12-31 00:00");
    }

    #[test]
    fn paths_are_text_with_bytes_only_when_text_would_lose_them() {
        let plain = PathJson::of(Path::new("/photos/été/IMG_1.jpg"));
        assert_eq!(plain.path, "/photos/été/IMG_1.jpg");
        assert_eq!(plain.path_bytes, None);
        let json = serde_json::to_value(&plain).unwrap();
        assert_eq!(json["path"], "/photos/été/IMG_1.jpg");
        assert!(json["path_bytes"].is_null());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            let raw = b"/photos/caf\xe9.jpg";
            let odd = PathJson::of(Path::new(std::ffi::OsStr::from_bytes(raw)));
            assert_eq!(odd.path, "/photos/caf\u{fffd}.jpg");
            assert_eq!(odd.path_bytes.as_deref(), Some(&raw[..]));
        }
    }

    #[test]
    fn records_carry_their_path_as_text() {
        let record = magpie_catalog::ImageRecord {
            id: 7,
            path: PathBuf::from("/photos/a b.jpg"),
            size: 1,
            mtime_ns: 2,
            content_hash: "00".into(),
            width: 3,
            height: 4,
            format: "jpeg".into(),
            exif: Default::default(),
            tags: vec!["x".into()],
            indexed_at: 5,
            text: None,
        };
        let json = record_json(&record);
        assert_eq!(json["path"], "/photos/a b.jpg", "{json}");
        assert!(json["path_bytes"].is_null(), "{json}");
        assert_eq!(
            (json["id"].clone(), json["width"].clone()),
            (7.into(), 3.into())
        );
        assert_eq!(json["tags"][0], "x");
    }

    #[test]
    fn bytes_are_readable() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
