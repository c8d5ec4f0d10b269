//! Finding and starting ONNX Runtime.
//!
//! Magpie links ONNX Runtime dynamically (`ort`'s `load-dynamic`), so that one binary works with
//! the CPU build, the CUDA/TensorRT build, or whatever the user already has. That makes *finding*
//! the library part of the product: this module walks a fixed search order, checks each candidate
//! before handing it to `ort` (so a wrong file or an old version becomes a typed error with a fix,
//! never a panic inside `ort`), and starts the process-wide environment exactly once.
//!
//! Search order. The first three are places the user *named*: the first of them that is set must
//! work, and an unusable one is an error rather than a silent fall-through, because the user asked
//! for it. The rest are looked at in turn; a candidate that is missing, not loadable or too old is
//! passed over, and when none is usable the error lists every place tried and why each was turned
//! down.
//! 1. the caller's explicit path (`--ort-lib` / `MAGPIE_ORT_LIB`),
//! 2. `ORT_DYLIB_PATH` (the variable `ort` itself understands),
//! 3. the config file's `ort_lib` (a leading `~/` is the home folder),
//! 4. a project-local `.magpie/ort/` in the current directory or an ancestor, or in an ancestor of
//!    the running executable (so `target/debug/magpie` and test binaries find the checkout's copy),
//! 5. the folder of the executable, and `lib/` beside it (`cargo install` puts `magpie` in
//!    `~/.cargo/bin`; a library copied next to it is found),
//! 6. the active virtualenv (`VIRTUAL_ENV`), when `onnxruntime` is pip-installed in it,
//! 7. each folder of `LD_LIBRARY_PATH` (`DYLD_LIBRARY_PATH` on macOS),
//! 8. the system library folders (those of `/etc/ld.so.conf`, then the usual `/usr/local/lib`,
//!    `/usr/lib/<arch>-linux-gnu`, `/usr/lib64`, `/usr/lib`, …),
//! 9. the `onnxruntime` Python package of `python3`, when installed.
//!
//! Any path may name the library file itself, a folder holding it, an `onnxruntime` Python
//! package folder, or the root of a virtualenv with `onnxruntime` installed. A folder holding
//! several versions gives the highest one, compared numerically (1.31 is newer than 1.9).

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
    /// The folder of the running executable (or `lib/` beside it).
    ExecutableDir,
    /// The active virtualenv (`VIRTUAL_ENV`).
    VirtualEnv,
    /// A folder of `LD_LIBRARY_PATH` (`DYLD_LIBRARY_PATH` on macOS).
    LibraryPath,
    /// A system library folder.
    SystemDir,
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
            RuntimeSource::ExecutableDir => "the executable's folder",
            RuntimeSource::VirtualEnv => "the active virtualenv (VIRTUAL_ENV)",
            RuntimeSource::LibraryPath => LIBRARY_PATH_VAR,
            RuntimeSource::SystemDir => "system library folder",
            RuntimeSource::PythonPackage => "python3's onnxruntime package",
        })
    }
}

/// The variable the dynamic loader searches first.
#[cfg(target_os = "macos")]
const LIBRARY_PATH_VAR: &str = "DYLD_LIBRARY_PATH";
#[cfg(not(target_os = "macos"))]
const LIBRARY_PATH_VAR: &str = "LD_LIBRARY_PATH";

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
    let Located {
        library_path,
        version,
        source,
    } = locate(options)?;
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

/// A library that passed the checks: loadable, ONNX Runtime, new enough.
#[derive(Debug, Clone)]
pub struct Located {
    pub library_path: PathBuf,
    /// The version the library reports.
    pub version: String,
    pub source: RuntimeSource,
}

/// What the search order looks at besides the caller's options, taken from the process
/// ([`LookupEnv::from_process`]); a test builds its own.
#[derive(Debug, Clone, Default)]
pub struct LookupEnv {
    /// `ORT_DYLIB_PATH`.
    pub ort_dylib_path: Option<PathBuf>,
    /// The working directory (its ancestors are searched for `.magpie/ort`).
    pub current_dir: Option<PathBuf>,
    /// The running executable.
    pub executable: Option<PathBuf>,
    /// `VIRTUAL_ENV`.
    pub virtual_env: Option<PathBuf>,
    /// The folders of `LD_LIBRARY_PATH` (`DYLD_LIBRARY_PATH` on macOS), in order.
    pub library_path: Vec<PathBuf>,
    /// The system library folders, in order.
    pub system_dirs: Vec<PathBuf>,
    /// The home folder, for a config path starting with `~/`.
    pub home: Option<PathBuf>,
    /// The Python to ask for its `onnxruntime` package (`None`: ask none).
    pub python: Option<PathBuf>,
}

impl LookupEnv {
    /// The places of this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self {
            ort_dylib_path: var("ORT_DYLIB_PATH").map(PathBuf::from),
            current_dir: std::env::current_dir().ok(),
            executable: std::env::current_exe().ok(),
            virtual_env: var("VIRTUAL_ENV").map(PathBuf::from),
            library_path: var(LIBRARY_PATH_VAR)
                .map(|v| std::env::split_paths(&v).collect())
                .unwrap_or_default(),
            system_dirs: system_library_dirs(),
            home: var("HOME").map(PathBuf::from),
            python: Some(PathBuf::from("python3")),
        }
    }
}

/// Applies the search order to this process and returns the first usable library.
pub fn locate(options: &RuntimeOptions) -> Result<Located> {
    locate_in(options, &LookupEnv::from_process())
}

/// Applies the search order with the places of `env`.
pub fn locate_in(options: &RuntimeOptions, env: &LookupEnv) -> Result<Located> {
    let config = options.config.as_deref().map(|p| expand_home(p, env));
    let named = [
        (options.explicit.clone(), RuntimeSource::Explicit),
        (env.ort_dylib_path.clone(), RuntimeSource::OrtDylibPath),
        (config, RuntimeSource::Config),
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
            let version = check_library(&library, source)?;
            return Ok(Located {
                library_path: library,
                version,
                source,
            });
        }
    }
    let mut tried = Vec::new();
    for (place, source) in search_places(env) {
        match try_place(&place, source) {
            Ok(found) => return Ok(found),
            Err(reason) => tried.push(format!("{} ({source}): {reason}", place.display())),
        }
    }
    if let Some(python) = &env.python {
        match python_package_folder(python) {
            Ok(folder) => match try_place(&folder, RuntimeSource::PythonPackage) {
                Ok(found) => return Ok(found),
                Err(reason) => tried.push(format!(
                    "{} ({}): {reason}",
                    folder.display(),
                    RuntimeSource::PythonPackage
                )),
            },
            Err(reason) => tried.push(format!(
                "{} -c 'import onnxruntime' ({}): {reason}",
                python.display(),
                RuntimeSource::PythonPackage
            )),
        }
    }
    Err(Error::RuntimeNotFound { tried })
}

/// One place of the search order: the library it holds, checked, or why it was passed over.
fn try_place(place: &Path, source: RuntimeSource) -> std::result::Result<Located, String> {
    if !place.exists() {
        return Err("does not exist".to_string());
    }
    let library = resolve_library(place)?;
    match check_library(&library, source) {
        Ok(version) => Ok(Located {
            library_path: library,
            version,
            source,
        }),
        Err(Error::RuntimeTooOld { found, .. }) => Err(format!(
            "{} is ONNX Runtime {found}, older than the 1.{} Magpie needs",
            library.display(),
            ort::MINOR_VERSION
        )),
        Err(Error::RuntimeLibrary { reason, .. }) => {
            Err(format!("{}: {reason}", library.display()))
        }
        Err(other) => Err(other.to_string()),
    }
}

/// The places looked at after the named ones and before Python, in order, without duplicates.
fn search_places(env: &LookupEnv) -> Vec<(PathBuf, RuntimeSource)> {
    let mut places: Vec<(PathBuf, RuntimeSource)> = Vec::new();
    let mut add = |path: PathBuf, source: RuntimeSource| {
        if !places.iter().any(|(p, _)| *p == path) {
            places.push((path, source));
        }
    };
    // `.magpie/ort` in the working directory and its ancestors, then beside the executable's.
    let exe_dir = env.executable.as_deref().and_then(Path::parent);
    for root in env
        .current_dir
        .iter()
        .flat_map(|d| d.ancestors())
        .chain(exe_dir.into_iter().flat_map(Path::ancestors))
    {
        add(
            root.join(".magpie").join("ort"),
            RuntimeSource::ProjectLocal,
        );
    }
    if let Some(dir) = exe_dir {
        add(dir.to_path_buf(), RuntimeSource::ExecutableDir);
        if let Some(prefix) = dir.parent() {
            add(prefix.join("lib"), RuntimeSource::ExecutableDir);
        }
    }
    if let Some(venv) = &env.virtual_env {
        add(venv.clone(), RuntimeSource::VirtualEnv);
    }
    for dir in &env.library_path {
        add(dir.clone(), RuntimeSource::LibraryPath);
    }
    for dir in &env.system_dirs {
        add(dir.clone(), RuntimeSource::SystemDir);
    }
    places
}

/// `~/x` → `$HOME/x` (a config file is not read by a shell).
fn expand_home(path: &Path, env: &LookupEnv) -> PathBuf {
    match (path.strip_prefix("~"), &env.home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// The folders the dynamic loader searches on its own: those listed by `/etc/ld.so.conf` (and
/// the files it includes), then the usual ones.
fn system_library_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    read_ld_so_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
    let arch = std::env::consts::ARCH;
    for dir in [
        "/usr/local/lib".to_string(),
        "/usr/local/lib64".to_string(),
        format!("/usr/lib/{arch}-linux-gnu"),
        format!("/lib/{arch}-linux-gnu"),
        "/usr/lib64".to_string(),
        "/lib64".to_string(),
        "/usr/lib".to_string(),
        "/lib".to_string(),
        "/opt/homebrew/lib".to_string(),
    ] {
        let dir = PathBuf::from(dir);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Folders named by an `ld.so.conf`-style file; `include` lines (with a `*` pattern in the file
/// name) are followed, a few levels deep at most.
fn read_ld_so_conf(file: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            if depth < 4 {
                for included in expand_conf_pattern(pattern.trim()) {
                    read_ld_so_conf(&included, dirs, depth + 1);
                }
            }
        } else if line.starts_with('/') {
            let dir = PathBuf::from(line);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
}

/// `/etc/ld.so.conf.d/*.conf` → the matching files, sorted (as `ldconfig` reads them).
fn expand_conf_pattern(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![path.to_path_buf()];
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The `onnxruntime/capi` folder of `python`'s `onnxruntime` package, or why there is none.
fn python_package_folder(python: &Path) -> std::result::Result<PathBuf, String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))",
        ])
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run it ({e})"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(if last.is_empty() {
            format!("it failed ({})", output.status)
        } else {
            last.to_string()
        });
    }
    let text = String::from_utf8(output.stdout).map_err(|_| "odd output".to_string())?;
    Ok(PathBuf::from(text.trim()))
}

/// Turns a file, a folder, an `onnxruntime` package folder or a virtualenv into the library
/// file; the error is a human reason naming what was looked at.
pub fn resolve_library(path: &Path) -> std::result::Result<PathBuf, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot access it ({e})"))?;
    if metadata.is_file() {
        return Ok(path.to_path_buf());
    }
    if let Some(library) = library_in_folder(path)? {
        return Ok(library);
    }
    // The `onnxruntime` package folder: the library is in its `capi/`.
    let capi = path.join("capi");
    if capi.is_dir() {
        return library_in_folder(&capi)?
            .ok_or_else(|| format!("{} holds no libonnxruntime.so*", capi.display()));
    }
    // A virtualenv (or any Python prefix): `lib/pythonX.Y/site-packages/onnxruntime/capi`.
    let packages = site_packages(path);
    if !packages.is_empty() || path.join("pyvenv.cfg").is_file() {
        let mut looked = Vec::new();
        for site in packages {
            let capi = site.join("onnxruntime").join("capi");
            if let Some(library) = library_in_folder(&capi).ok().flatten() {
                return Ok(library);
            }
            looked.push(capi.display().to_string());
        }
        return Err(if looked.is_empty() {
            "a virtualenv without a site-packages folder".to_string()
        } else {
            format!(
                "a Python environment without onnxruntime (looked in {}); `pip install onnxruntime` in it",
                looked.join(", ")
            )
        });
    }
    Err("the folder holds no libonnxruntime.so* / onnxruntime.dll".to_string())
}

/// The highest-versioned runtime library directly in `folder`, if any.
fn library_in_folder(folder: &Path) -> std::result::Result<Option<PathBuf>, String> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot list {} ({e})", folder.display())),
    };
    Ok(entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_runtime_library_name)
        })
        // Prefer the fully versioned name (`libonnxruntime.so.1.31.1`) over an unversioned
        // link, and a higher version over a lower one, by number: 1.31 is newer than 1.9.
        .max_by(|a, b| library_order_key(a).cmp(&library_order_key(b))))
}

/// Sort key of a library file name: its version numbers, then the name (for a stable order).
fn library_order_key(path: &Path) -> (Vec<u64>, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (version_numbers(&name), name)
}

/// The numbers of a dotted version or file name: `libonnxruntime.so.1.31.1` → [1, 31, 1].
fn version_numbers(text: &str) -> Vec<u64> {
    text.split(['.', '-', '+'])
        .filter_map(|part| part.parse::<u64>().ok())
        .collect()
}

/// Whether a library reporting `version` has the C API Magpie is built against (1.MINOR or
/// newer, compared as numbers).
fn is_new_enough(version: &str) -> bool {
    let found = version_numbers(version);
    let major = found.first().copied().unwrap_or(0);
    let minor = found.get(1).copied().unwrap_or(0);
    (major, minor) >= (1, u64::from(ort::MINOR_VERSION))
}

/// `site-packages` folders of a Python prefix (`lib/python3.X/site-packages`, `lib64/…`,
/// Windows' `Lib/site-packages`).
fn site_packages(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("site-packages"))
            .filter(|p| {
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python"))
                    && p.is_dir()
            })
            .collect();
        found.sort();
        out.extend(found);
    }
    let windows = prefix.join("Lib").join("site-packages");
    if windows.is_dir() {
        out.push(windows);
    }
    out
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
    if !is_new_enough(&version) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"not a shared library").unwrap();
    }

    fn file_name(path: &Path) -> &str {
        path.file_name().unwrap().to_str().unwrap()
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(!is_new_enough("1.9.0"), "1.9 is older than 1.31");
        assert!(!is_new_enough("1.30.2"));
        assert!(is_new_enough(&format!("1.{}.0", ort::MINOR_VERSION)));
        assert!(is_new_enough("1.100.0"));
        assert!(is_new_enough("2.0.0"), "a later major version is newer");
        assert!(!is_new_enough("0.99.0"));
        assert!(!is_new_enough("garbage"));
    }

    #[test]
    fn a_folder_gives_its_highest_version_by_number() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "libonnxruntime.so",
            "libonnxruntime.so.1",
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.so.1.4.0",
            "libonnxruntime_providers_shared.so",
        ] {
            touch(&dir.path().join(name));
        }
        let found = resolve_library(dir.path()).unwrap();
        assert_eq!(file_name(&found), "libonnxruntime.so.1.31.1");
    }

    #[test]
    fn a_virtualenv_or_package_folder_leads_to_its_library() {
        let venv = tempfile::tempdir().unwrap();
        std::fs::write(venv.path().join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let capi = venv
            .path()
            .join("lib/python3.11/site-packages/onnxruntime/capi");
        touch(&capi.join("libonnxruntime.so.1.31.1"));
        touch(&capi.join("libonnxruntime_providers_shared.so"));
        let want = capi.join("libonnxruntime.so.1.31.1");
        assert_eq!(resolve_library(venv.path()).unwrap(), want, "venv root");
        assert_eq!(
            resolve_library(&venv.path().join("lib/python3.11/site-packages/onnxruntime")).unwrap(),
            want,
            "package folder"
        );
        assert_eq!(resolve_library(&capi).unwrap(), want, "capi folder");

        let bare = tempfile::tempdir().unwrap();
        std::fs::write(bare.path().join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::create_dir_all(bare.path().join("lib/python3.12/site-packages")).unwrap();
        let reason = resolve_library(bare.path()).unwrap_err();
        assert!(
            reason.contains("without onnxruntime")
                && reason.contains("python3.12/site-packages/onnxruntime/capi"),
            "{reason}"
        );
    }

    #[test]
    fn system_folders_come_from_ld_so_conf_and_its_includes() {
        let dir = tempfile::tempdir().unwrap();
        let conf_d = dir.path().join("ld.so.conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("b-cuda.conf"), "/opt/cuda/lib64\n").unwrap();
        std::fs::write(
            conf_d.join("a-local.conf"),
            "# comment\n/opt/ort/lib # ORT\n",
        )
        .unwrap();
        std::fs::write(conf_d.join("ignored.txt"), "/nowhere\n").unwrap();
        let conf = dir.path().join("ld.so.conf");
        std::fs::write(
            &conf,
            format!("include {}/*.conf\n/usr/local/lib\n", conf_d.display()),
        )
        .unwrap();
        let mut dirs = Vec::new();
        read_ld_so_conf(&conf, &mut dirs, 0);
        assert_eq!(
            dirs,
            [
                PathBuf::from("/opt/ort/lib"),
                PathBuf::from("/opt/cuda/lib64"),
                PathBuf::from("/usr/local/lib"),
            ]
        );
        let system = system_library_dirs();
        assert!(system.contains(&PathBuf::from("/usr/lib")), "{system:?}");
        let env = LookupEnv {
            library_path: vec![PathBuf::from("/from/ld_library_path")],
            system_dirs: system.clone(),
            ..LookupEnv::default()
        };
        let places = search_places(&env);
        let position = |p: &str| {
            places
                .iter()
                .position(|(q, _)| q == Path::new(p))
                .unwrap_or_else(|| panic!("{p} is not searched: {places:?}"))
        };
        assert!(
            position("/from/ld_library_path") < position("/usr/lib"),
            "LD_LIBRARY_PATH is searched before the system folders: {places:?}"
        );
    }

    #[test]
    fn a_config_path_may_start_at_home() {
        let env = LookupEnv {
            home: Some(PathBuf::from("/home/ada")),
            ..LookupEnv::default()
        };
        assert_eq!(
            expand_home(Path::new("~/venv"), &env),
            Path::new("/home/ada/venv")
        );
        assert_eq!(expand_home(Path::new("/x/~"), &env), Path::new("/x/~"));
    }

    #[test]
    fn every_place_tried_is_reported_with_its_reason() {
        let root = tempfile::tempdir().unwrap();
        let exe_dir = root.path().join("cargo/bin");
        std::fs::create_dir_all(&exe_dir).unwrap();
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let fake = root.path().join("fake");
        touch(&fake.join("libonnxruntime.so.1.31.1"));
        let venv = root.path().join("venv");
        std::fs::write(
            {
                std::fs::create_dir_all(venv.join("lib/python3.11/site-packages")).unwrap();
                venv.join("pyvenv.cfg")
            },
            "",
        )
        .unwrap();
        let missing = root.path().join("missing");
        let env = LookupEnv {
            executable: Some(exe_dir.join("magpie")),
            virtual_env: Some(venv.clone()),
            library_path: vec![missing.clone(), empty.clone()],
            system_dirs: vec![fake.clone()],
            python: Some(root.path().join("no-python3")),
            ..LookupEnv::default()
        };
        let err = locate_in(&RuntimeOptions::default(), &env).unwrap_err();
        let Error::RuntimeNotFound { tried } = &err else {
            panic!("{err}");
        };
        let message = err.to_string();
        let line_for = |path: &Path, source: RuntimeSource| {
            let start = format!("{} ({source}): ", path.display());
            tried
                .iter()
                .find(|t| t.starts_with(&start))
                .unwrap_or_else(|| panic!("{} not tried:\n{message}", path.display()))
                .clone()
        };
        assert!(line_for(&exe_dir, RuntimeSource::ExecutableDir).contains("holds no"));
        assert!(line_for(&venv, RuntimeSource::VirtualEnv).contains("without onnxruntime"));
        assert!(line_for(&missing, RuntimeSource::LibraryPath).contains("does not exist"));
        assert!(line_for(&empty, RuntimeSource::LibraryPath).contains("holds no"));
        assert!(
            line_for(&fake, RuntimeSource::SystemDir).contains("not a loadable shared library"),
            "{message}"
        );
        assert!(
            line_for(
                &exe_dir.join(".magpie").join("ort"),
                RuntimeSource::ProjectLocal
            )
            .contains("does not exist"),
            "{message}"
        );
        assert!(
            tried.last().unwrap().contains("no-python3"),
            "python last: {message}"
        );
        assert!(
            message.contains("ort_lib") && message.contains("virtualenv"),
            "the fix: {message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_loader_path_finds_a_real_runtime() {
        let real = resolve_library(&magpie_testkit::ort_lib()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join(real.file_name().unwrap());
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let env = LookupEnv {
            library_path: vec![dir.path().join("missing"), dir.path().to_path_buf()],
            ..LookupEnv::default()
        };
        let found = locate_in(&RuntimeOptions::default(), &env).unwrap();
        assert_eq!(found.source, RuntimeSource::LibraryPath);
        assert_eq!(found.library_path, link);
        assert!(is_new_enough(&found.version), "{}", found.version);
    }

    /// `cargo install`ed binary, `pip install onnxruntime` in some virtualenv: the config's
    /// `ort_lib = "~/venv"` (written once) finds it, before any place searched by default.
    #[cfg(unix)]
    #[test]
    fn the_config_names_a_virtualenv_once() {
        let real = resolve_library(&magpie_testkit::ort_lib()).unwrap();
        let home = tempfile::tempdir().unwrap();
        let venv = home.path().join("venv");
        std::fs::write(
            {
                std::fs::create_dir_all(&venv).unwrap();
                venv.join("pyvenv.cfg")
            },
            "home = /usr/bin\n",
        )
        .unwrap();
        let capi = venv.join("lib/python3.11/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        let link = capi.join(real.file_name().unwrap());
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&real, other.path().join(real.file_name().unwrap())).unwrap();
        let env = LookupEnv {
            home: Some(home.path().to_path_buf()),
            executable: Some(home.path().join(".cargo/bin/magpie")),
            library_path: vec![other.path().to_path_buf()],
            ..LookupEnv::default()
        };
        let options = RuntimeOptions {
            explicit: None,
            config: Some(PathBuf::from("~/venv")),
        };
        let found = locate_in(&options, &env).unwrap();
        assert_eq!(found.source, RuntimeSource::Config);
        assert_eq!(found.library_path, link);
        // A config naming a place without a runtime is an error naming it, not a fall-through.
        let broken = RuntimeOptions {
            explicit: None,
            config: Some(PathBuf::from("~/no-venv")),
        };
        let err = locate_in(&broken, &env).unwrap_err().to_string();
        assert!(err.contains("no-venv") && err.contains("config"), "{err}");
    }
}
