//! Shared pieces of Magpie's benchmark binaries (see `BENCHMARKS.md` at the repository root).
//!
//! - [`Args`]: a tiny `--key value` argument reader (the binaries have few options);
//! - [`Stats`]: latency percentiles;
//! - [`memory`]: resident memory from `/proc/self/status`;
//! - [`SplitMix64`] and [`unit_vector`]: deterministic random unit vectors, regenerable per id, so
//!   the exact-search ground truth never has to be kept on disk;
//! - [`dir_size`]: bytes on disk under a folder.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// `--key value` and `--flag` arguments.
pub struct Args {
    values: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()` after the program name (and after `skip` positional words).
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    pub fn parse(words: impl IntoIterator<Item = String>) -> Self {
        let mut values = HashMap::new();
        let mut positional = Vec::new();
        let mut words = words.into_iter().peekable();
        while let Some(word) = words.next() {
            if let Some(key) = word.strip_prefix("--") {
                let value = match words.peek() {
                    Some(next) if !next.starts_with("--") => words.next().unwrap_or_default(),
                    _ => "true".to_string(),
                };
                values.insert(key.to_string(), value);
            } else {
                positional.push(word);
            }
        }
        Self { values, positional }
    }

    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A required value; exits with a message when missing.
    pub fn require(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| {
            eprintln!("missing --{key}");
            std::process::exit(2)
        })
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.get(key) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                eprintln!("--{key}: not a number: {text}");
                std::process::exit(2)
            }),
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v != "false")
    }
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    /// Nearest-rank percentiles (p99 of 100 samples is the 99th smallest).
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if ms.is_empty() {
                return f64::NAN;
            }
            let index = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[index.clamp(1, ms.len()) - 1]
        };
        Self {
            count: ms.len(),
            mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Resident memory of this process, from `/proc/self/status` (kB values turned into bytes).
pub mod memory {
    use serde::Serialize;

    #[derive(Debug, Clone, Default, Serialize)]
    pub struct Resident {
        /// Current resident set.
        pub vm_rss: u64,
        /// Peak resident set.
        pub vm_hwm: u64,
        /// Anonymous part of the resident set (heap).
        pub rss_anon: u64,
        /// File-backed part (memory-mapped indexes, the ONNX Runtime library).
        pub rss_file: u64,
    }

    pub fn resident() -> Resident {
        let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map_or(0, |kb| kb * 1024)
        };
        Resident {
            vm_rss: field("VmRSS:"),
            vm_hwm: field("VmHWM:"),
            rss_anon: field("RssAnon:"),
            rss_file: field("RssFile:"),
        }
    }
}

/// SplitMix64: tiny, fast, and good enough for benchmark data.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let radius = (-2.0 * self.next_f64().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.next_f64();
        (radius * angle.cos(), radius * angle.sin())
    }
}

/// A random unit vector, uniform on the sphere, the same for the same `(seed, id)`.
pub fn unit_vector(seed: u64, id: u64, dim: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut vector = Vec::with_capacity(dim + 1);
    while vector.len() < dim {
        let (a, b) = rng.normal_pair();
        vector.push(a as f32);
        vector.push(b as f32);
    }
    vector.truncate(dim);
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|v| *v /= norm);
    vector
}

/// Total size in bytes of the files under `dir` (apparent sizes, not blocks).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Number of cores this process may use.
/// The JPEG and PNG files of `dir` (not recursive), sorted, each read into memory with its path
/// as label: the photo set the benchmarks run on, so the disk stays out of their timing.
pub fn read_photos(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect()
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Starts ONNX Runtime with Magpie's usual search order (finds the checkout's `.magpie/ort`).
pub fn start_runtime() -> &'static magpie_models::RuntimeInfo {
    magpie_models::runtime::init(&magpie_models::RuntimeOptions::default()).unwrap_or_else(|e| {
        eprintln!("cannot start ONNX Runtime: {e}");
        std::process::exit(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_are_unit_and_repeatable() {
        let a = unit_vector(7, 42, 512);
        let b = unit_vector(7, 42, 512);
        let c = unit_vector(7, 43, 512);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let stats = Stats::of(&samples);
        assert_eq!(stats.p50_ms, 50.0);
        assert_eq!(stats.p99_ms, 99.0);
        assert_eq!(stats.max_ms, 100.0);
    }

    #[test]
    fn arguments() {
        let args = Args::parse(
            ["--model", "m", "photos", "--n", "3", "--json"]
                .iter()
                .map(|s| s.to_string()),
        );
        assert_eq!(args.get("model"), Some("m"));
        assert!(args.flag("json"));
        assert_eq!(args.number("n", 0usize), 3);
        assert_eq!(args.positional(), ["photos".to_string()]);
    }
}
