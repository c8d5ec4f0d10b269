//! The decode pool and its watchdog.
//!
//! Rust cannot kill a thread, so a decode that runs past the per-file limit is *abandoned*: the
//! watchdog reports the file as timed out, marks the worker's slot so its eventual result is
//! discarded, and starts a replacement so the run keeps its throughput. The abandoned thread
//! finishes its one file in the background and exits — it never takes another job.
//!
//! Threads cannot pile up: at most `max_abandoned` abandoned threads may be alive at once (each
//! may hold a large decode buffer). Past that, no replacement is started until one of them
//! finishes; if every worker is abandoned and none can be replaced, the watchdog itself drains the
//! queue, reporting each file as not attempted, so the run always ends. Abandoned threads are
//! detached, not joined, so a truly endless decode cannot hang the run either.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::backend::{ImageEmbedder, PhotoDecoder};
use crate::changes::Job;
use crate::error::{FailureReason, FileFailure, FileStat, IndexError};
use crate::prepare::{prepare, PrepareSettings, Prepared};
use crate::progress::Progress;

use super::Clock;

/// What reaches the batcher: one per job, plus the feeder's final count.
#[derive(Debug)]
pub(crate) enum Outcome {
    Prepared(Prepared),
    /// The run was stopping when this job came up; it is left for the next run.
    NotAttempted(PathBuf),
    /// The feeder is done and sent this many jobs.
    FeedDone(usize),
}

/// The file a worker is busy with.
struct Running {
    path: PathBuf,
    stat: FileStat,
    /// [`Clock::now`] when the decode began.
    started: Duration,
}

#[derive(Default)]
struct SlotState {
    running: Option<Running>,
    abandoned: bool,
}

/// Shared between one worker and the watchdog. Whoever takes `running` first owns the file's
/// outcome: the worker by finishing, the watchdog by declaring a timeout. The mutex makes that
/// race have exactly one winner, so each job yields exactly one outcome.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // A poisoned slot only means a panic elsewhere while holding it; the state is plain data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Everything a worker thread needs, cloneable for replacements.
pub(crate) struct WorkerShared<D, E> {
    pub jobs: Receiver<Job>,
    pub outcomes: Sender<Outcome>,
    pub decoder: Arc<D>,
    pub embedder: Arc<E>,
    pub settings: Arc<PrepareSettings>,
    /// Set by the pipeline on a fatal error or when the caller's cancel flag is seen.
    pub stop: Arc<AtomicBool>,
    /// The caller's cancel flag (Ctrl-C), checked directly so queued jobs stop at once.
    pub cancel: Arc<AtomicBool>,
    pub progress: Arc<Progress>,
    /// Abandoned threads still running.
    pub abandoned_alive: Arc<AtomicUsize>,
    /// What the per-file limit is measured with.
    pub clock: Arc<dyn Clock>,
}

impl<D, E> WorkerShared<D, E> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.cancel.load(Ordering::Relaxed)
    }
}

impl<D, E> Clone for WorkerShared<D, E> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
            outcomes: self.outcomes.clone(),
            decoder: Arc::clone(&self.decoder),
            embedder: Arc::clone(&self.embedder),
            settings: Arc::clone(&self.settings),
            stop: Arc::clone(&self.stop),
            cancel: Arc::clone(&self.cancel),
            progress: Arc::clone(&self.progress),
            abandoned_alive: Arc::clone(&self.abandoned_alive),
            clock: Arc::clone(&self.clock),
        }
    }
}

fn worker_loop<D: PhotoDecoder, E: ImageEmbedder>(shared: WorkerShared<D, E>, slot: Arc<Slot>) {
    while let Ok(job) = shared.jobs.recv() {
        if shared.stopping() {
            if shared
                .outcomes
                .send(Outcome::NotAttempted(job.file.path))
                .is_err()
            {
                return;
            }
            continue;
        }
        slot.lock().running = Some(Running {
            path: job.file.path.clone(),
            stat: job.file.stat(),
            started: shared.clock.now(),
        });
        let path = job.file.path.clone();
        let stat = job.file.stat();
        // Decoders are fed hostile bytes; a panic in one must cost one file, not the run.
        // The panic is reported once, by the warning below: `catch_quietly` keeps the panic hook
        // from also printing its location line and (with RUST_BACKTRACE) a whole backtrace.
        let prepared = magpie_models::decode::catch_quietly(|| {
            prepare(
                job,
                shared.decoder.as_ref(),
                shared.embedder.as_ref(),
                &shared.settings,
            )
        })
        .unwrap_or_else(|message| {
            tracing::warn!(path = %path.display(), %message, "decoder panicked");
            Prepared::Failed(
                FileFailure::new(path, FailureReason::Panicked(message)).with_stat(stat),
            )
        });
        let abandoned = {
            let mut state = slot.lock();
            state.running = None;
            state.abandoned
        };
        if abandoned {
            // The watchdog already reported this file and replaced this thread.
            shared.abandoned_alive.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if shared.outcomes.send(Outcome::Prepared(prepared)).is_err() {
            return;
        }
    }
}

/// Limits of the pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    pub workers: usize,
    pub file_time_limit: Duration,
    pub max_abandoned: usize,
}

/// Owns the decode threads; runs as the watchdog until `shutdown` is signalled (or dropped).
pub(crate) struct DecodePool<D, E> {
    shared: WorkerShared<D, E>,
    limits: PoolLimits,
    live: Vec<(Arc<Slot>, JoinHandle<()>)>,
    spawned: usize,
}

impl<D: PhotoDecoder, E: ImageEmbedder> DecodePool<D, E> {
    pub fn start(shared: WorkerShared<D, E>, limits: PoolLimits) -> Result<Self, IndexError> {
        let mut pool = Self {
            shared,
            limits,
            live: Vec::new(),
            spawned: 0,
        };
        for _ in 0..limits.workers.max(1) {
            pool.spawn_worker()?;
        }
        Ok(pool)
    }

    fn spawn_worker(&mut self) -> Result<(), IndexError> {
        let name = format!("magpie-decode-{}", self.spawned);
        self.spawned += 1;
        let slot = Arc::new(Slot::default());
        let shared = self.shared.clone();
        let worker_slot = Arc::clone(&slot);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || worker_loop(shared, worker_slot))
            .map_err(|source| IndexError::Thread { name, source })?;
        self.live.push((slot, handle));
        Ok(())
    }

    /// Watches the workers until `shutdown` fires, then joins the healthy ones.
    pub fn watch(mut self, shutdown: &Receiver<()>) {
        let limit = self.limits.file_time_limit;
        let tick = (limit / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        let mut owed_replacements = 0usize;
        // Nothing is ever sent on `shutdown`; the batcher drops it when the last outcome is in.
        while let Err(RecvTimeoutError::Timeout) = shutdown.recv_timeout(tick) {
            owed_replacements += self.abandon_overdue(limit);
            while owed_replacements > 0
                && self.shared.abandoned_alive.load(Ordering::SeqCst) < self.limits.max_abandoned
            {
                if let Err(error) = self.spawn_worker() {
                    tracing::warn!(%error, "cannot replace an abandoned decode worker");
                    break;
                }
                owed_replacements -= 1;
            }
            if self.live.is_empty() {
                self.drain_unattemptable();
            }
        }
        // Healthy workers exit once the feeder has dropped the job queue. One may still be inside
        // a decode when the run ends early (fatal error), so keep enforcing the limit while
        // waiting: shutdown never takes longer than one file's time limit.
        while !self.live.is_empty() {
            self.abandon_overdue(limit);
            let (finished, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.live)
                .into_iter()
                .partition(|(_, handle)| handle.is_finished());
            self.live = running;
            for (_, handle) in finished {
                if handle.join().is_err() {
                    tracing::warn!("a decode worker panicked outside of a decode");
                }
            }
            if !self.live.is_empty() {
                std::thread::sleep(tick);
            }
        }
    }

    /// Reports and detaches every worker past the limit; returns how many were abandoned.
    fn abandon_overdue(&mut self, limit: Duration) -> usize {
        let mut abandoned = 0;
        let mut index = 0;
        let now = self.shared.clock.now();
        while index < self.live.len() {
            let overdue = {
                let mut state = self.live[index].0.lock();
                match &state.running {
                    Some(running) if now.saturating_sub(running.started) > limit => {
                        state.abandoned = true;
                        state.running.take()
                    }
                    _ => None,
                }
            };
            let Some(running) = overdue else {
                index += 1;
                continue;
            };
            self.shared.abandoned_alive.fetch_add(1, Ordering::SeqCst);
            // Dropping the handle detaches the thread: it is never joined.
            drop(self.live.swap_remove(index));
            abandoned += 1;
            tracing::warn!(path = %running.path.display(), ?limit, "decode took too long; abandoned");
            let failure = FileFailure::new(running.path, FailureReason::Timeout { limit })
                .with_stat(running.stat);
            // If the batcher is gone the run is ending anyway.
            let _ = self
                .shared
                .outcomes
                .send(Outcome::Prepared(Prepared::Failed(failure)));
        }
        abandoned
    }

    /// With every worker stuck and no replacement allowed, nothing would ever take the queued
    /// jobs; report them so the run ends.
    fn drain_unattemptable(&self) {
        while let Ok(job) = self.shared.jobs.try_recv() {
            let outcome = if self.shared.stopping() {
                Outcome::NotAttempted(job.file.path)
            } else {
                let failure = FileFailure::new(job.file.path.clone(), FailureReason::WorkersStuck)
                    .with_stat(job.file.stat());
                Outcome::Prepared(Prepared::Failed(failure))
            };
            if self.shared.outcomes.send(outcome).is_err() {
                return;
            }
        }
    }
}
