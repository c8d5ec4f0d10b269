//! Live counters the binary polls (for an indicatif bar or periodic log lines) and the end-of-run
//! summary printed by `--json`.
//!
//! Counters are plain atomics updated by the pipeline stages; reading them never blocks indexing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// The one progress bar of a count of images (`magpie index`, reading text, loading into Milvus,
/// a Ray cluster's shards), as an `indicatif` template: what is being done goes in `{prefix}`
/// (e.g. "reading text "), rates and failures in `{msg}`.
pub const IMAGE_BAR_TEMPLATE: &str =
    "{spinner} {prefix}[{bar:30}] {pos}/{len} images  {msg}  eta {eta}";

/// Shared by the pipeline (writer) and the progress display (reader).
#[derive(Debug, Default)]
pub struct Progress {
    /// Files the pipeline was given to decode.
    total: AtomicU64,
    decoded: AtomicU64,
    embedded: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    not_attempted: AtomicU64,
    committed: AtomicU64,
}

/// A consistent-enough copy of the counters (each read independently).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgressSnapshot {
    pub total: u64,
    pub decoded: u64,
    pub embedded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub not_attempted: u64,
    /// Files whose result (photo, failure or skip) is in the catalog.
    pub committed: u64,
}

impl ProgressSnapshot {
    /// Files finished one way or another: the position of a progress bar of length `total`.
    pub fn finished(&self) -> u64 {
        self.embedded + self.failed + self.skipped + self.not_attempted
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            total: self.total.load(Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
            embedded: self.embedded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            not_attempted: self.not_attempted.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_total(&self, count: u64) {
        self.total.fetch_add(count, Ordering::Relaxed);
    }
    pub(crate) fn add_decoded(&self) {
        self.decoded.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_embedded(&self, count: u64) {
        self.embedded.fetch_add(count, Ordering::Relaxed);
    }
    pub(crate) fn add_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_not_attempted(&self) {
        self.not_attempted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_committed(&self, count: u64) {
        self.committed.fetch_add(count, Ordering::Relaxed);
    }
}

/// What a run did, for humans and for `--json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// New photos embedded.
    pub added: u64,
    /// Changed photos re-embedded.
    pub updated: u64,
    /// Changed size/mtime, same content: metadata updated, embedding kept.
    pub touched: u64,
    pub moved: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Files that are not images.
    pub skipped: u64,
    pub unchanged: u64,
    /// Files left for the next run because the run was interrupted.
    pub not_attempted: u64,
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    /// Photos embedded per second of pipeline time.
    pub images_per_second: f64,
}

impl Summary {
    pub(crate) fn set_rate(&mut self, elapsed: Duration) {
        self.elapsed_seconds = elapsed.as_secs_f64();
        let embedded = (self.added + self.updated) as f64;
        self.images_per_second = if self.elapsed_seconds > 0.0 {
            embedded / self.elapsed_seconds
        } else {
            0.0
        };
    }
}
