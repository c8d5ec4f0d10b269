//! Execution devices and providers.
//!
//! A [`Device`] is what the user asks for; a [`ProviderReport`] is what actually happened when a
//! session was built. The two differ on purpose: `auto` tries TensorRT, then CUDA, then CPU and
//! keeps the first that registers, while an explicit `cuda`/`tensorrt` that cannot register is an
//! error — a user who asked for the GPU must not silently get a CPU that is 30× slower.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ort::ep::ExecutionProvider as _;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;

use crate::error::{Error, Result};

/// The device a model should run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// TensorRT if it registers, else CUDA, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA on the given GPU.
    Cuda(u32),
    /// TensorRT on the given GPU (ONNX Runtime runs unsupported nodes on CUDA/CPU).
    TensorRt(u32),
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let (kind, index) = match lower.split_once(':') {
            Some((kind, index)) => {
                let index = index
                    .parse::<u32>()
                    .map_err(|_| Error::InvalidDevice(text.to_string()))?;
                (kind, Some(index))
            }
            None => (lower.as_str(), None),
        };
        match (kind, index) {
            ("auto", None) => Ok(Device::Auto),
            ("cpu", None) => Ok(Device::Cpu),
            ("cuda" | "gpu", index) => Ok(Device::Cuda(index.unwrap_or(0))),
            ("tensorrt" | "trt", index) => Ok(Device::TensorRt(index.unwrap_or(0))),
            _ => Err(Error::InvalidDevice(text.to_string())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(index) => write!(f, "cuda:{index}"),
            Device::TensorRt(index) => write!(f, "tensorrt:{index}"),
        }
    }
}

/// One execution provider Magpie knows how to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    TensorRt(u32),
    Cuda(u32),
    Cpu,
}

impl Provider {
    /// The name ONNX Runtime uses for it.
    pub fn ort_name(&self) -> &'static str {
        match self {
            Provider::TensorRt(_) => "TensorrtExecutionProvider",
            Provider::Cuda(_) => "CUDAExecutionProvider",
            Provider::Cpu => "CPUExecutionProvider",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::TensorRt(index) => write!(f, "TensorRT (GPU {index})"),
            Provider::Cuda(index) => write!(f, "CUDA (GPU {index})"),
            Provider::Cpu => f.write_str("CPU"),
        }
    }
}

/// A provider that could not be registered, and ONNX Runtime's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    pub provider: Provider,
    pub reason: String,
}

/// What happened when one session was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    /// The device the caller asked for.
    pub requested_device: Device,
    /// Providers tried, in order of preference.
    pub requested: Vec<Provider>,
    /// Providers that registered.
    pub registered: Vec<Provider>,
    /// Providers that did not, with the reason.
    pub failed: Vec<ProviderFailure>,
    /// The provider the session runs on: the first registered one, else CPU (ONNX Runtime always
    /// has its CPU provider as the final fallback).
    pub active: Provider,
}

impl fmt::Display for ProviderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (asked for {})", self.active, self.requested_device)?;
        for failure in &self.failed {
            write!(f, "; {} unavailable: {}", failure.provider, failure.reason)?;
        }
        Ok(())
    }
}

/// How sessions are built.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// The device to run on.
    pub device: Device,
    /// Threads for one operator; `None` = all cores (ONNX Runtime's own default).
    pub intra_op_threads: Option<usize>,
    /// Where TensorRT keeps built engines (`<store>/.trt-cache/<model-name>/`): engine builds take
    /// minutes, so they must survive the process.
    pub tensorrt_cache_dir: Option<PathBuf>,
}

impl Device {
    /// The providers to try, most preferred first.
    pub fn providers(&self) -> Vec<Provider> {
        match *self {
            Device::Auto => vec![Provider::TensorRt(0), Provider::Cuda(0), Provider::Cpu],
            Device::Cpu => vec![Provider::Cpu],
            Device::Cuda(index) => vec![Provider::Cuda(index), Provider::Cpu],
            Device::TensorRt(index) => vec![
                Provider::TensorRt(index),
                Provider::Cuda(index),
                Provider::Cpu,
            ],
        }
    }
}

/// Builds a session for one ONNX file on the configured device, and says what it runs on. Public
/// so that other model kinds (OCR, in `magpie-ocr`) run on the same providers the same way.
pub fn build_session(
    model_file: &Path,
    config: &SessionConfig,
) -> Result<(Session, ProviderReport)> {
    let environment = crate::runtime::environment().ok_or_else(|| Error::OnnxLoad {
        path: model_file.to_path_buf(),
        reason: "ONNX Runtime is not initialised (call magpie_models::runtime::init first)"
            .to_string(),
    })?;
    let onnx_error = |reason: String| Error::OnnxLoad {
        path: model_file.to_path_buf(),
        reason,
    };
    let mut builder = Session::builder(environment)
        .map_err(|e| onnx_error(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| onnx_error(e.to_string()))?;
    if let Some(threads) = config.intra_op_threads {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| onnx_error(e.to_string()))?;
    }
    let available = crate::runtime::current()
        .map(|info| info.available_providers.clone())
        .unwrap_or_default();
    let requested = config.device.providers();
    let mut registered = Vec::new();
    let mut failed = Vec::new();
    for provider in &requested {
        if *provider == Provider::Cpu {
            registered.push(Provider::Cpu);
            continue;
        }
        match register(&mut builder, *provider, &available, config) {
            Ok(()) => registered.push(*provider),
            Err(reason) => {
                tracing::debug!(model = %model_file.display(), %provider, %reason, "execution provider not registered");
                failed.push(ProviderFailure {
                    provider: *provider,
                    reason,
                });
            }
        }
    }
    let active = registered.first().copied().unwrap_or(Provider::Cpu);
    // An explicit GPU request is only met by its own provider: TensorRT falling back to plain
    // CUDA, or CUDA to CPU, would quietly change speed and numerics.
    let explicit_gpu = matches!(config.device, Device::Cuda(_) | Device::TensorRt(_));
    if explicit_gpu && registered.first() != requested.first() {
        let reason = failed
            .iter()
            .map(|f| format!("{}: {}", f.provider, f.reason))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::ExecutionProvider {
            model: model_file.to_path_buf(),
            provider: config.device.to_string(),
            reason,
        });
    }
    let session = builder
        .commit_from_file(model_file)
        .map_err(|e| onnx_error(e.to_string()))?;
    let report = ProviderReport {
        requested_device: config.device,
        requested,
        registered,
        failed,
        active,
    };
    Ok((session, report))
}

fn register(
    builder: &mut SessionBuilder,
    provider: Provider,
    available: &[String],
    config: &SessionConfig,
) -> std::result::Result<(), String> {
    if !available.iter().any(|name| name == provider.ort_name()) {
        return Err(format!(
            "this ONNX Runtime build does not include {} (install the GPU build: MAGPIE_ORT_PACKAGE=onnxruntime-gpu scripts/setup)",
            provider.ort_name()
        ));
    }
    let device_id =
        |index: u32| i32::try_from(index).map_err(|_| format!("GPU index {index} is too large"));
    let result = match provider {
        Provider::Cuda(index) => ort::ep::CUDA::default()
            .with_device_id(device_id(index)?)
            .register(builder),
        Provider::TensorRt(index) => {
            let mut trt = ort::ep::TensorRT::default().with_device_id(device_id(index)?);
            if let Some(dir) = &config.tensorrt_cache_dir {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create engine cache {}: {e}", dir.display()))?;
                let dir = dir.display().to_string();
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(&dir)
                    .with_timing_cache(true)
                    .with_timing_cache_path(&dir);
            }
            trt.register(builder)
        }
        Provider::Cpu => Ok(()),
    };
    result.map_err(|e| e.to_string())
}
