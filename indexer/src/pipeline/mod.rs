//! The indexing pipeline: apply a [`Plan`] to the catalog.
//!
//! ```text
//! feeder ─jobs─▶ decode workers ×N ─outcomes─▶ batcher ─batches─▶ embed (1) ─results─▶ commit (caller's thread)
//!   (plan)        read, hash, sniff,  (+watchdog)   B images or       one model         every K results
//!                 decode, EXIF, model               a timeout         session           or T seconds
//!                 input, thumbnails                                                      │
//!                                       failures and non-images go straight to commit ──┘
//! ```
//!
//! Every channel is bounded, so memory is a function of N, B and K — never of the library size.
//! Metadata-only changes (touches, moves, removals) need no decoding and are committed first, in
//! one commit.
//!
//! Stopping: Ctrl-C sets the caller's cancel flag; the feeder stops, queued jobs are reported as
//! not attempted, photos already decoded are embedded and committed, and the function returns
//! normally with `interrupted` set. A fatal error (the catalog refusing a commit, the model failing
//! on everything) sets an internal stop flag with the same effect, then the error is returned.
//! A stage whose downstream has gone away stops too, so no thread can block forever on a send.

mod workers;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use crate::backend::{Commit, ImageEmbedder, IndexedPhoto, PhotoDecoder, Sink};
use crate::changes::{Job, JobKind, Plan};
use crate::crawl::FoundFile;
use crate::error::{panic_message, FailureReason, FileFailure, IndexError};
use crate::prepare::{PrepareSettings, Prepared, PreparedPhoto};
use crate::progress::{Progress, Summary};
use workers::{DecodePool, Outcome, PoolLimits, WorkerShared};

mod clock;
pub use clock::{Clock, ManualClock, SystemClock};

/// Tuning of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Decode threads (default: one per core).
    pub decode_workers: usize,
    /// Images per model call.
    pub batch_size: usize,
    /// A partial batch is embedded once its oldest image has waited this long (keeps the GPU busy
    /// and the progress moving when decoding is the bottleneck).
    pub batch_timeout: Duration,
    /// Commit after this many results…
    pub commit_every: usize,
    /// …or this long after the previous commit, whichever comes first.
    pub commit_interval: Duration,
    /// After a commit that took `t`, the next waits until `t × commit_pause_factor` has passed
    /// (unless four `commit_every`s of results are waiting), so committing takes at most
    /// 1 / (1 + factor) of the run however big the library gets (0: no pacing).
    ///
    /// Why: a commit rewrites the whole HNSW file (and fsyncs it), so its cost grows with the
    /// library: at 1 M images that file is 0.7–1.2 GB. On a GPU that embeds 256 photos in half a
    /// second, fixed commits of 256 would spend most of a large library's indexing time rewriting
    /// it. Small libraries commit in milliseconds and are paced as before. A crash loses at most
    /// the results not yet committed; the next run finds those files new and indexes them again.
    pub commit_pause_factor: u32,
    /// A file whose decode takes longer is abandoned and reported.
    pub file_time_limit: Duration,
    /// What `file_time_limit` is measured with (the system clock; tests move one by hand).
    pub clock: Arc<dyn Clock>,
    /// At most this many abandoned decode threads may be alive (see `workers`).
    pub max_abandoned_workers: usize,
    pub prepare: PrepareSettings,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            decode_workers: cores,
            batch_size: 32,
            batch_timeout: Duration::from_millis(250),
            commit_every: 256,
            commit_interval: Duration::from_secs(10),
            commit_pause_factor: 4,
            file_time_limit: Duration::from_secs(60),
            clock: Arc::new(SystemClock::default()),
            max_abandoned_workers: cores,
            prepare: PrepareSettings::default(),
        }
    }
}

/// How often a blocked feeder looks at the cancel flag.
const FEED_POLL: Duration = Duration::from_millis(50);

/// A result on its way to the catalog.
enum Finished {
    Indexed(Box<IndexedPhoto>),
    Skipped(FoundFile),
    Failed(FileFailure),
}

/// Applies `plan`: metadata-only changes first, then decodes, embeds and commits every job.
/// `extra_failures` (e.g. the crawl's) are recorded with the first commit.
#[allow(clippy::too_many_arguments)]
pub fn apply_plan<D: PhotoDecoder, E: ImageEmbedder, S: Sink>(
    plan: Plan,
    extra_failures: Vec<FileFailure>,
    decoder: Arc<D>,
    embedder: Arc<E>,
    sink: &mut S,
    config: &PipelineConfig,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<Summary, IndexError> {
    let started = Instant::now();
    let mut summary = Summary {
        touched: plan.touches.len() as u64,
        moved: plan.moves.len() as u64,
        deleted: plan.removals.len() as u64,
        failed: (plan.failures.len() + extra_failures.len()) as u64,
        unchanged: plan.unchanged as u64,
        ..Summary::default()
    };
    let mut failed = plan.failures;
    failed.extend(extra_failures);
    let quick = Commit {
        touched: plan.touches,
        moved: plan.moves,
        removed: plan.removals,
        failed,
        ..Commit::default()
    };
    if !quick.is_empty() {
        let count = quick.len();
        sink.commit(quick).map_err(|source| IndexError::Commit {
            source: Box::new(source),
        })?;
        tracing::info!(changes = count, "committed metadata-only changes");
    }

    let jobs_total = plan.jobs.len() as u64;
    let counts = run_pipeline(plan.jobs, decoder, embedder, sink, config, progress, cancel)?;
    summary.added = counts.added;
    summary.updated = counts.updated;
    summary.failed += counts.failed;
    summary.skipped = counts.skipped;
    summary.not_attempted =
        jobs_total - counts.added - counts.updated - counts.failed - counts.skipped;
    summary.interrupted = cancel.load(Ordering::Relaxed);
    summary.set_rate(started.elapsed());
    tracing::info!(?summary, "indexing finished");
    Ok(summary)
}

/// What the commit stage managed to store.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    added: u64,
    updated: u64,
    failed: u64,
    skipped: u64,
}

/// Runs the threaded part over `jobs`.
fn run_pipeline<D: PhotoDecoder, E: ImageEmbedder, S: Sink>(
    jobs: Vec<Job>,
    decoder: Arc<D>,
    embedder: Arc<E>,
    sink: &mut S,
    config: &PipelineConfig,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<Counts, IndexError> {
    if jobs.is_empty() {
        return Ok(Counts::default());
    }
    progress.add_total(jobs.len() as u64);
    let workers = config.decode_workers.max(1);
    let batch_size = config.batch_size.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let (job_tx, job_rx) = bounded::<Job>(2 * workers);
    let (outcome_tx, outcome_rx) = bounded::<Outcome>(2 * batch_size);
    // One batch queued while one is embedded: decoding and inference overlap.
    let (batch_tx, batch_rx) = bounded::<Vec<PreparedPhoto>>(1);
    let (finished_tx, finished_rx) = bounded::<Finished>(2 * batch_size);
    let (shutdown_tx, shutdown_rx) = bounded::<()>(0);

    let pool = DecodePool::start(
        WorkerShared {
            jobs: job_rx,
            outcomes: outcome_tx.clone(),
            decoder,
            embedder: Arc::clone(&embedder),
            settings: Arc::new(config.prepare.clone()),
            stop: Arc::clone(&stop),
            cancel: Arc::clone(cancel),
            progress: Arc::clone(progress),
            abandoned_alive: Arc::new(AtomicUsize::new(0)),
            clock: Arc::clone(&config.clock),
        },
        PoolLimits {
            workers,
            file_time_limit: config.file_time_limit,
            max_abandoned: config.max_abandoned_workers.max(1),
        },
    );
    let pool = pool?;

    std::thread::scope(|scope| {
        let watchdog = spawn_stage(scope, "magpie-watchdog", &stop, move || {
            pool.watch(&shutdown_rx)
        })?;
        let feeder = {
            let (stage_stop, cancel) = (Arc::clone(&stop), Arc::clone(cancel));
            spawn_stage(scope, "magpie-feeder", &stop, move || {
                feed(jobs, job_tx, outcome_tx, &stage_stop, &cancel)
            })?
        };
        let batcher = {
            let (stage_stop, progress, finished_tx) =
                (Arc::clone(&stop), Arc::clone(progress), finished_tx.clone());
            let timeout = config.batch_timeout;
            spawn_stage(scope, "magpie-batcher", &stop, move || {
                batch(
                    outcome_rx,
                    batch_tx,
                    finished_tx,
                    shutdown_tx,
                    &stage_stop,
                    &progress,
                    batch_size,
                    timeout,
                )
            })?
        };
        let embed_stage = {
            let (stage_stop, progress) = (Arc::clone(&stop), Arc::clone(progress));
            spawn_stage(scope, "magpie-embed", &stop, move || {
                embed(
                    batch_rx,
                    finished_tx,
                    embedder.as_ref(),
                    &stage_stop,
                    &progress,
                )
            })?
        };
        let committed = commit(finished_rx, sink, config, &stop, progress);

        let embedded = join_stage("embed", embed_stage);
        for (stage, handle) in [
            ("feeder", feeder),
            ("batcher", batcher),
            ("watchdog", watchdog),
        ] {
            join_stage(stage, handle)?;
        }
        embedded??;
        committed
    })
}

fn spawn_stage<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    stop: &AtomicBool,
    body: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, IndexError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, body)
        .map_err(|source| {
            stop.store(true, Ordering::Relaxed);
            IndexError::Thread {
                name: name.to_string(),
                source,
            }
        })
}

fn join_stage<T>(
    stage: &'static str,
    handle: std::thread::ScopedJoinHandle<'_, T>,
) -> Result<T, IndexError> {
    handle.join().map_err(|payload| IndexError::StagePanicked {
        stage,
        message: panic_message(payload.as_ref()),
    })
}

/// Feeds jobs until done or stopping; then closes the queue and tells the batcher how many it sent.
fn feed(
    jobs: Vec<Job>,
    job_tx: Sender<Job>,
    outcome_tx: Sender<Outcome>,
    stop: &AtomicBool,
    cancel: &AtomicBool,
) {
    let stopping = || stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed);
    let mut fed = 0usize;
    'feed: for mut job in jobs {
        loop {
            if stopping() {
                tracing::info!(fed, "stopping: no more files are started");
                break 'feed;
            }
            match job_tx.send_timeout(job, FEED_POLL) {
                Ok(()) => {
                    fed += 1;
                    break;
                }
                Err(SendTimeoutError::Timeout(unsent)) => job = unsent,
                Err(SendTimeoutError::Disconnected(_)) => break 'feed,
            }
        }
    }
    // Closing the queue first lets idle workers exit as soon as it drains.
    drop(job_tx);
    let _ = outcome_tx.send(Outcome::FeedDone(fed));
}

/// Groups decoded photos into batches; passes failures and non-images straight to commit.
/// Ends when every fed job has produced its one outcome.
#[allow(clippy::too_many_arguments)]
fn batch(
    outcomes: Receiver<Outcome>,
    batch_tx: Sender<Vec<PreparedPhoto>>,
    finished_tx: Sender<Finished>,
    shutdown_tx: Sender<()>,
    stop: &AtomicBool,
    progress: &Progress,
    batch_size: usize,
    timeout: Duration,
) {
    let mut expected = None;
    let mut seen = 0usize;
    let mut pending: Vec<PreparedPhoto> = Vec::with_capacity(batch_size);
    let mut deadline: Option<Instant> = None;
    let mut downstream_gone = false;
    while expected != Some(seen) && !downstream_gone {
        let received = match deadline {
            Some(deadline) => outcomes.recv_deadline(deadline),
            None => outcomes.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let finished = match received {
            Ok(Outcome::FeedDone(count)) => {
                expected = Some(count);
                continue;
            }
            Ok(Outcome::Prepared(Prepared::Photo(photo))) => {
                seen += 1;
                progress.add_decoded();
                deadline.get_or_insert_with(|| Instant::now() + timeout);
                pending.push(*photo);
                if pending.len() >= batch_size {
                    downstream_gone = !send_batch(&batch_tx, &mut pending);
                    deadline = None;
                }
                continue;
            }
            Ok(Outcome::Prepared(Prepared::NotImage(file))) => {
                seen += 1;
                progress.add_skipped();
                Finished::Skipped(file)
            }
            Ok(Outcome::Prepared(Prepared::Failed(failure))) => {
                seen += 1;
                progress.add_failed();
                tracing::warn!(%failure, "cannot index");
                Finished::Failed(failure)
            }
            Ok(Outcome::NotAttempted(path)) => {
                tracing::debug!(path = %path.display(), "left for the next run");
                seen += 1;
                progress.add_not_attempted();
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {
                downstream_gone = !send_batch(&batch_tx, &mut pending);
                deadline = None;
                continue;
            }
            // Every sender gone before the count was complete: only after a crash upstream.
            Err(RecvTimeoutError::Disconnected) => break,
        };
        downstream_gone = finished_tx.send(finished).is_err();
    }
    if !downstream_gone {
        send_batch(&batch_tx, &mut pending);
    }
    if downstream_gone || expected != Some(seen) {
        stop.store(true, Ordering::Relaxed);
    }
    drop(shutdown_tx);
}

/// Sends the pending batch (if any); false when the embed stage is gone.
fn send_batch(batch_tx: &Sender<Vec<PreparedPhoto>>, pending: &mut Vec<PreparedPhoto>) -> bool {
    if pending.is_empty() {
        return true;
    }
    let capacity = pending.capacity();
    batch_tx
        .send(std::mem::replace(pending, Vec::with_capacity(capacity)))
        .is_ok()
}

/// The single inference stage.
fn embed<E: ImageEmbedder>(
    batches: Receiver<Vec<PreparedPhoto>>,
    finished_tx: Sender<Finished>,
    embedder: &E,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<(), IndexError> {
    for batch in batches {
        let results = match embed_batch(embedder, batch) {
            Ok(results) => results,
            Err(error) => {
                tracing::error!(%error, "inference failed; stopping");
                stop.store(true, Ordering::Relaxed);
                // Returning drops the batch queue, so the batcher stops instead of blocking.
                return Err(error);
            }
        };
        for result in results {
            let finished = match result {
                Ok(photo) => {
                    progress.add_embedded(1);
                    Finished::Indexed(Box::new(photo))
                }
                Err(failure) => {
                    progress.add_failed();
                    Finished::Failed(failure)
                }
            };
            if finished_tx.send(finished).is_err() {
                stop.store(true, Ordering::Relaxed);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One model call, with panics and wrong output counts turned into errors.
fn call_embed<E: ImageEmbedder>(embedder: &E, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
    let vectors =
        catch_unwind(AssertUnwindSafe(|| embedder.embed(inputs))).unwrap_or_else(|payload| {
            Err(format!(
                "inference panicked: {}",
                panic_message(payload.as_ref())
            ))
        })?;
    if vectors.len() != inputs.len() {
        return Err(format!(
            "model returned {} embeddings for {} images",
            vectors.len(),
            inputs.len()
        ));
    }
    Ok(vectors)
}

/// Embeds a batch. If the batch fails, each image is retried alone so that one image the model
/// rejects costs only that image; if every image fails alone too, the model (not the data) is
/// broken and the run stops.
fn embed_batch<E: ImageEmbedder>(
    embedder: &E,
    batch: Vec<PreparedPhoto>,
) -> Result<Vec<Result<IndexedPhoto, FileFailure>>, IndexError> {
    let inputs: Vec<&[f32]> = batch
        .iter()
        .map(|photo| photo.model_input.as_slice())
        .collect();
    let batch_error = match call_embed(embedder, &inputs) {
        Ok(vectors) => {
            return Ok(batch
                .into_iter()
                .zip(vectors)
                .map(|(photo, vector)| Ok(indexed(photo, vector)))
                .collect())
        }
        Err(reason) => reason,
    };
    tracing::warn!(images = batch.len(), reason = %batch_error, "batch inference failed; retrying images one by one");
    let singles: Vec<Result<Vec<f32>, String>> = batch
        .iter()
        .map(|photo| {
            call_embed(embedder, &[photo.model_input.as_slice()]).map(|mut rows| rows.remove(0))
        })
        .collect();
    if singles.iter().all(Result::is_err) {
        return Err(IndexError::Embed {
            first: batch[0].job.file.path.clone(),
            reason: batch_error,
        });
    }
    Ok(batch
        .into_iter()
        .zip(singles)
        .map(|(photo, single)| match single {
            Ok(vector) => Ok(indexed(photo, vector)),
            Err(reason) => Err(FileFailure::new(
                photo.job.file.path.clone(),
                FailureReason::Embed(reason),
            )
            .with_stat(photo.job.file.stat())),
        })
        .collect())
}

fn indexed(photo: PreparedPhoto, embedding: Vec<f32>) -> IndexedPhoto {
    IndexedPhoto {
        file: photo.job.file,
        kind: photo.job.kind,
        content_hash: photo.content_hash,
        format: photo.format,
        width: photo.width,
        height: photo.height,
        metadata: photo.metadata,
        thumbnails: photo.thumbnails,
        embedding,
        partial: photo.partial,
    }
}

/// However slow commits are, at most this many `commit_every`s of results wait (they hold
/// thumbnails in memory).
const MAX_PENDING_COMMITS: usize = 4;

/// When the commit stage commits — the decision alone, on durations it is handed, so it can be
/// tested without a clock. A commit is due once `every` results wait and the pause the last
/// commit earned (its duration × `factor`) has passed; at once when `MAX_PENDING_COMMITS` ×
/// `every` wait, however slow commits are; and whenever `interval` has passed with anything
/// waiting.
#[derive(Debug, Clone)]
struct CommitPacer {
    every: usize,
    interval: Duration,
    factor: u32,
    pause: Duration,
}

impl CommitPacer {
    fn new(config: &PipelineConfig) -> Self {
        Self {
            every: config.commit_every.max(1),
            interval: config.commit_interval,
            factor: config.commit_pause_factor,
            pause: Duration::ZERO,
        }
    }

    /// How long after the last commit the stage may wait for results before checking again.
    fn wait_limit(&self, pending: usize) -> Duration {
        if pending >= self.every {
            self.pause
        } else {
            self.interval.max(self.pause)
        }
    }

    /// Whether to commit now, `since_last` after the previous commit.
    fn due(&self, pending: usize, since_last: Duration) -> bool {
        (pending >= self.every && since_last >= self.pause)
            || pending >= self.every * MAX_PENDING_COMMITS
            || since_last >= self.interval.max(self.pause)
    }

    /// A commit just took `took`.
    fn committed(&mut self, took: Duration) {
        self.pause = took * self.factor;
    }
}

/// The commit stage, on the caller's thread (the sink need not be `Send`).
fn commit<S: Sink>(
    finished: Receiver<Finished>,
    sink: &mut S,
    config: &PipelineConfig,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<Counts, IndexError> {
    let mut counts = Counts::default();
    let mut pending = Commit::default();
    let mut pending_counts = Counts::default();
    let mut last_commit = Instant::now();
    let mut pacer = CommitPacer::new(config);
    let mut flush = |pending: &mut Commit, pending_counts: &mut Counts, counts: &mut Counts| {
        let size = pending.len();
        if size == 0 {
            return Ok(());
        }
        sink.commit(std::mem::take(pending)).map_err(|source| {
            stop.store(true, Ordering::Relaxed);
            IndexError::Commit {
                source: Box::new(source),
            }
        })?;
        progress.add_committed(size as u64);
        counts.added += pending_counts.added;
        counts.updated += pending_counts.updated;
        counts.failed += pending_counts.failed;
        counts.skipped += pending_counts.skipped;
        *pending_counts = Counts::default();
        tracing::debug!(size, "committed");
        Ok(())
    };
    loop {
        let deadline = last_commit + pacer.wait_limit(pending.len());
        let received = finished.recv_deadline(deadline);
        match received {
            Ok(Finished::Indexed(photo)) => {
                match photo.kind {
                    JobKind::Add => pending_counts.added += 1,
                    JobKind::Reembed => pending_counts.updated += 1,
                }
                pending.indexed.push(*photo);
            }
            Ok(Finished::Skipped(file)) => {
                pending_counts.skipped += 1;
                pending.skipped.push(file);
            }
            Ok(Finished::Failed(failure)) => {
                pending_counts.failed += 1;
                pending.failed.push(failure);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if pacer.due(pending.len(), last_commit.elapsed()) {
            let started = Instant::now();
            // On error, returning drops the results queue; upstream stages see it and stop.
            flush(&mut pending, &mut pending_counts, &mut counts)?;
            pacer.committed(started.elapsed());
            last_commit = Instant::now();
        }
    }
    flush(&mut pending, &mut pending_counts, &mut counts)?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(every: usize, factor: u32) -> CommitPacer {
        CommitPacer::new(&PipelineConfig {
            commit_every: every,
            commit_interval: Duration::from_secs(1),
            commit_pause_factor: factor,
            ..PipelineConfig::default()
        })
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_slow_commit_earns_a_pause_and_quick_ones_do_not() {
        let mut p = pacer(1, 4);
        assert!(
            p.due(1, Duration::ZERO),
            "before any commit, one result is enough"
        );
        p.committed(40 * MS);
        assert_eq!(p.wait_limit(1), 160 * MS);
        assert!(!p.due(1, 100 * MS));
        assert!(!p.due(3, 159 * MS));
        assert!(p.due(1, 160 * MS));
        assert!(p.due(4, Duration::ZERO), "four commits' worth cannot wait");
        p.committed(Duration::ZERO);
        assert!(p.due(1, Duration::ZERO));
        // Nothing to wait for: the interval still ends the wait.
        assert_eq!(p.wait_limit(0), Duration::from_secs(1));
        assert!(p.due(0, Duration::from_secs(1)));
        // No pacing at factor 0.
        let mut unpaced = pacer(1, 0);
        unpaced.committed(40 * MS);
        assert!(unpaced.due(1, Duration::ZERO));
    }

    /// 96 results arriving 1 ms apart, each commit taking 40 ms: paced, results gather instead
    /// of the run spending its time committing; unpaced (factor 0) it is one commit per result.
    #[test]
    fn slow_commits_gather_results() {
        let simulate = |factor: u32| {
            let mut p = pacer(1, factor);
            let (mut now, mut last_commit, mut pending, mut commits) =
                (Duration::ZERO, Duration::ZERO, 0, 0);
            let mut arrivals = (1..=96u32).map(|i| i * MS).peekable();
            while arrivals.peek().is_some() || pending > 0 {
                match arrivals.peek() {
                    Some(&at) if at <= now => {
                        arrivals.next();
                        pending += 1;
                    }
                    Some(&at) => now = at.min(last_commit + p.wait_limit(pending)).max(now),
                    None => now = now.max(last_commit + p.wait_limit(pending)),
                }
                if pending > 0 && p.due(pending, now - last_commit) {
                    commits += 1;
                    pending = 0;
                    now += 40 * MS;
                    p.committed(40 * MS);
                    last_commit = now;
                }
            }
            commits
        };
        let (paced, unpaced) = (simulate(4), simulate(0));
        assert_eq!(unpaced, 96);
        assert!(paced <= 48, "{paced} commits for 96 results");
        assert!(paced >= 96 / 4, "at most four commits' worth wait: {paced}");
    }
}
