//! Finding and starting ONNX Runtime.
//!
//! Magpie links ONNX Runtime dynamically (`ort`'s `load-dynamic`), so that one binary works with
//! the CPU build, the CUDA/TensorRT build, or whatever the user already has. That makes *finding*
//! the library part of the product: this module walks a fixed search order, checks the candidate
//! before handing it to `ort` (so a wrong file or an old version becomes a typed error with a fix,
//! never a panic inside `ort`), and starts the process-wide environment exactly once.
//!
//! Search order (first hit wins; an explicitly named path that is unusable is an error rather than
//! a silent fall-through, because the user asked for it):
//! 1. the caller's explicit path (`--ort-lib` / `MAGPIE_ORT_LIB`),
//! 2. `ORT_DYLIB_PATH` (the variable `ort` itself understands),
//! 3. the config file's `ort_lib`,
//! 4. a project-local `.magpie/ort/` in the current directory or an ancestor, or in an ancestor of
//!    the running executable (so `target/debug/magpie` and test binaries find the checkout's copy),
//! 5. the `onnxruntime` Python package of `python3`, when installed.

use std::ffi::CStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

/// Where the caller wants ONNX Runtime looked up, besides the built-in rules.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// `--ort-lib` / `MAGPIE_ORT_LIB`: a library file or a folder holding one.
    pub explicit: Option<PathBuf>,
    /// The config file's `ort_lib`.
    pub config: Option<PathBuf>,
}

/// Which rule of the search order found the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeSource {
    /// `--ort-lib` or `MAGPIE_ORT_LIB`.
    Explicit,
    /// The `ORT_DYLIB_PATH` environment variable.
    OrtDylibPath,
    /// `ort_lib` in the config file.
    Config,
    /// A `.magpie/ort/` folder beside the working directory or the executable.
    ProjectLocal,
    /// The `onnxruntime` package of the system's `python3`.
    PythonPackage,
}

impl fmt::Display for RuntimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeSource::Explicit => "--ort-lib / MAGPIE_ORT_LIB",
            RuntimeSource::OrtDylibPath => "ORT_DYLIB_PATH",
            RuntimeSource::Config => "config file (ort_lib)",
            RuntimeSource::ProjectLocal => "project-local .magpie/ort/",
            RuntimeSource::PythonPackage => "python3's onnxruntime package",
        })
    }
}

/// The ONNX Runtime this process uses.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The shared library that was loaded.
    pub library_path: PathBuf,
    /// Its version, as the library reports it (e.g. `1.31.1`).
    pub version: String,
    /// The rule that found it.
    pub source: RuntimeSource,
    /// Execution providers compiled into this build (`CPUExecutionProvider`, `CUDAExecutionProvider`, …).
    pub available_providers: Vec<String>,
}

struct Runtime {
    info: RuntimeInfo,
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises first-time initialisation: two threads racing to load different libraries would
/// otherwise both get past the `OnceLock` check.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Finds, checks and starts ONNX Runtime, once per process. Later calls return the same
/// [`RuntimeInfo`] (a different explicit path asked for later is logged and ignored: a process
/// cannot switch libraries). A failed attempt leaves nothing behind, so it may be retried.
pub fn init(options: &RuntimeOptions) -> Result<&'static RuntimeInfo> {
    if let Some(runtime) = RUNTIME.get() {
        warn_if_different(options, &runtime.info);
        return Ok(&runtime.info);
    }
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = RUNTIME.get() {
        return Ok(&runtime.info);
    }
    let (library_path, source) = locate(options)?;
    let version = check_library(&library_path, source)?;
    let start_error = |reason: String| Error::RuntimeStart {
        path: library_path.clone(),
        reason,
    };
    let builder = ort::init_from(&library_path).map_err(|e| start_error(e.to_string()))?;
    let environment = builder
        .with_name("magpie")
        .with_telemetry(false)
        .build()
        .map_err(|e| start_error(e.to_string()))?;
    let available_providers = available_providers().map_err(start_error)?;
    let info = RuntimeInfo {
        library_path,
        version,
        source,
        available_providers,
    };
    tracing::debug!(
        path = %info.library_path.display(),
        version = %info.version,
        found_by = %info.source,
        "ONNX Runtime loaded"
    );
    let runtime = RUNTIME.get_or_init(|| Runtime { info, environment });
    Ok(&runtime.info)
}

/// The runtime started by [`init`], if any.
pub fn current() -> Option<&'static RuntimeInfo> {
    RUNTIME.get().map(|r| &r.info)
}

/// The process-wide `ort` environment; callers must have gone through [`init`].
pub(crate) fn environment() -> Option<&'static ort::environment::Environment> {
    RUNTIME.get().map(|r| &r.environment)
}

fn warn_if_different(options: &RuntimeOptions, info: &RuntimeInfo) {
    if let Some(explicit) = &options.explicit {
        if let Ok(wanted) = resolve_library(explicit) {
            if std::fs::canonicalize(&wanted).ok() != std::fs::canonicalize(&info.library_path).ok()
            {
                tracing::warn!(
                    wanted = %wanted.display(),
                    loaded = %info.library_path.display(),
                    "ONNX Runtime is already loaded in this process; keeping the loaded library"
                );
            }
        }
    }
}

/// Applies the search order and returns the library file and the rule that found it.
pub fn locate(options: &RuntimeOptions) -> Result<(PathBuf, RuntimeSource)> {
    let mut searched = Vec::new();
    let env_path = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let named = [
        (options.explicit.clone(), RuntimeSource::Explicit),
        (env_path("ORT_DYLIB_PATH"), RuntimeSource::OrtDylibPath),
        (options.config.clone(), RuntimeSource::Config),
    ];
    for (path, source) in named {
        if let Some(path) = path {
            // A path the user named must work: falling through to another library would hide
            // their mistake and load something they did not ask for.
            let library = resolve_library(&path).map_err(|reason| Error::RuntimeLibrary {
                path: path.clone(),
                source_rule: source.to_string(),
                reason,
            })?;
            return Ok((library, source));
        }
    }
    for folder in project_local_candidates() {
        searched.push(folder.display().to_string());
        if folder.exists() {
            if let Ok(library) = resolve_library(&folder) {
                return Ok((library, RuntimeSource::ProjectLocal));
            }
        }
    }
    searched.push("python3 -c 'import onnxruntime'".to_string());
    if let Some(folder) = python_package_folder() {
        if let Ok(library) = resolve_library(&folder) {
            return Ok((library, RuntimeSource::PythonPackage));
        }
        searched.push(folder.display().to_string());
    }
    Err(Error::RuntimeNotFound {
        searched: searched.join(", "),
    })
}

/// `.magpie/ort` in the working directory and its ancestors, then beside the executable's
/// ancestors; without duplicates, in that order.
fn project_local_candidates() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            roots.extend(dir.ancestors().map(Path::to_path_buf));
        }
    }
    let mut candidates = Vec::new();
    for root in roots {
        let candidate = root.join(".magpie").join("ort");
        if !candidates.contains(&candidate) {
            candidates.push(candidate);
        }
    }
    candidates
}

fn python_package_folder() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let folder = PathBuf::from(text.trim());
    folder.is_dir().then_some(folder)
}

/// Turns a file-or-folder into the library file; the error is a human reason.
pub fn resolve_library(path: &Path) -> std::result::Result<PathBuf, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot access it ({e})"))?;
    if metadata.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot list the folder ({e})"))?;
    let mut libraries: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_runtime_library_name)
        })
        .collect();
    // Prefer the fully versioned name (`libonnxruntime.so.1.31.1`) over an unversioned link, and a
    // higher version over a lower one; sorting the names does both for the names ORT ships.
    libraries.sort();
    libraries
        .pop()
        .ok_or_else(|| "the folder holds no libonnxruntime.so* / onnxruntime.dll".to_string())
}

fn is_runtime_library_name(name: &str) -> bool {
    name.starts_with("libonnxruntime.so")
        || (name.starts_with("libonnxruntime")
            && name.ends_with(".dylib")
            && !name.contains("providers"))
        || name == "onnxruntime.dll"
}

/// Opens the library ourselves first: `ort` would panic on some of these failures later, and its
/// errors do not say how to fix them. Returns the library's version string.
fn check_library(path: &Path, source: RuntimeSource) -> Result<String> {
    let library_error = |reason: String| Error::RuntimeLibrary {
        path: path.to_path_buf(),
        source_rule: source.to_string(),
        reason,
    };
    // SAFETY: loading ONNX Runtime runs its static initialisers, which is what we want; a library
    // that is not ONNX Runtime is caught by the missing symbol below before anything is called.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        library_error(format!(
            "not a loadable shared library ({})",
            error_chain(&e)
        ))
    })?;
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_api_base = unsafe { library.get::<GetApiBase>(b"OrtGetApiBase") }
        .map_err(|_| library_error("not ONNX Runtime (no OrtGetApiBase symbol)".to_string()))?;
    // SAFETY: the function takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(library_error("OrtGetApiBase returned nothing".to_string()));
    }
    // SAFETY: `base` is non-null and points at the library's static OrtApiBase; the version
    // string is a static NUL-terminated C string.
    let version = unsafe {
        let ptr = ((*base).GetVersionString)();
        if ptr.is_null() {
            return Err(library_error("the library reports no version".to_string()));
        }
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    let minor = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if minor < ort::MINOR_VERSION {
        return Err(Error::RuntimeTooOld {
            path: path.to_path_buf(),
            found: version,
            needed_minor: ort::MINOR_VERSION,
        });
    }
    // Keep the handle open: `ort` opens the same file again and the loader reference-counts it,
    // so dropping ours here is harmless, but leaking it avoids an unload/reload between the two.
    std::mem::forget(library);
    Ok(version)
}

/// Providers compiled into the loaded library, as ONNX Runtime names them.
fn available_providers() -> std::result::Result<Vec<String>, String> {
    let api = ort::api();
    let mut names: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut count: std::ffi::c_int = 0;
    // SAFETY: standard C API call with valid out-pointers; the status is checked and released.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut names, &mut count);
        if !status.0.is_null() {
            let message = CStr::from_ptr((api.GetErrorMessage)(status.0))
                .to_string_lossy()
                .into_owned();
            (api.ReleaseStatus)(status.0);
            return Err(format!("cannot list execution providers: {message}"));
        }
        let mut providers = Vec::new();
        if !names.is_null() {
            for i in 0..usize::try_from(count).unwrap_or(0) {
                let name = *names.add(i);
                if !name.is_null() {
                    providers.push(CStr::from_ptr(name).to_string_lossy().into_owned());
                }
            }
            let status = (api.ReleaseAvailableProviders)(names, count);
            if !status.0.is_null() {
                (api.ReleaseStatus)(status.0);
            }
        }
        Ok(providers)
    }
}

/// An error and its causes on one line (`libloading` keeps the loader's message in the source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
