//! The driver of `magpie cluster submit`: one Ray job per shard, followed until every shard is
//! done or has failed on every try.
//!
//! - Submit: shard K's job is `magpie-<run>-shard-K-try-A`, entrypoint
//!   `exec <magpie> embed-shard --shard K/N <args>`, metadata `{"magpie_run", "shard": "K/N",
//!   "out", "try"}`, `entrypoint_num_cpus` / `entrypoint_num_gpus` as asked, and the `MAGPIE_*`
//!   settings of the submitting side in the job's environment. Ray queues what does not fit.
//! - A run id that Ray already knows is picked up where it stands: succeeded shards are kept,
//!   running ones followed, failed or stopped ones submitted again (the next try number).
//! - Follow: every `poll` (about 0.5 s) one `GET /api/jobs/` for the states, and the log of each
//!   running shard at most once a second for its newest `magpie-shard-progress` line.
//! - A FAILED or STOPPED shard is submitted again, up to `retries` times; a usage error
//!   (exit 2: the arguments are wrong, and will be on every try) is not retried. A shard whose
//!   job succeeded counts as done once its manifest (`DIR/shards/shard_K.json`) is visible here —
//!   if it never appears, the workers do not write to the storage this host reads.
//! - Ctrl-C (`cancel`): the unfinished jobs are stopped.
//!
//! The display is an [`Observer`] ([`crate::display::Display`] is the bar or the log lines).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::{JobDetails, JobStatus, JobSubmission, JobsApi, RuntimeEnv};
use crate::entrypoint::{submission_id, ShardCommand};
use crate::error::{Error, Result};
use crate::progress::{log_tail, newest_progress, ShardProgress};

/// How often a running shard's log is read.
const LOGS_EVERY: Duration = Duration::from_secs(1);
/// How long Ray may fail to answer before the driver gives up following the run.
const LOST_AFTER: Duration = Duration::from_secs(30);
/// How long a succeeded shard's manifest may take to become visible here (network storage).
pub const MANIFEST_GRACE: Duration = Duration::from_secs(15);
/// Lines of a failed shard's log in the final message.
const TAIL_LINES: usize = 20;
/// `embed-shard`'s exit status for wrong arguments (clap's): not worth another try.
const USAGE_EXIT: i32 = 2;

/// One `magpie cluster submit`.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub run_id: String,
    pub shards: usize,
    pub command: ShardCommand,
    pub cpus_per_shard: Option<f64>,
    pub gpus_per_shard: Option<f64>,
    /// How many times a failed or stopped shard is submitted again.
    pub retries: u32,
    /// Environment variables for every job (the `MAGPIE_*` settings of the submitting side).
    pub env: BTreeMap<String, String>,
    pub poll: Duration,
    /// Whether a succeeded shard must have its manifest visible here to count as done.
    pub check_manifests: bool,
    /// How long after its job succeeded a manifest may still be on its way ([`MANIFEST_GRACE`]).
    pub manifest_grace: Duration,
}

/// Where one shard stands, for the display.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardView {
    pub shard: usize,
    /// The try in flight (1 = first).
    pub attempt: u32,
    pub status: JobStatus,
    /// The newest progress line of the current try.
    pub progress: Option<ShardProgress>,
    /// The shard's file count once any try reported it.
    pub total: Option<u64>,
    pub done: bool,
    pub failed: bool,
}

/// The whole run, for the display.
#[derive(Debug, Clone)]
pub struct RunView<'a> {
    pub run_id: &'a str,
    pub shards: &'a [ShardView],
    pub elapsed: Duration,
    /// Images already embedded when this driver started (shards of an earlier submit).
    pub images_before: u64,
    /// Resubmissions so far.
    pub retries: u32,
}

impl RunView<'_> {
    pub fn shards_done(&self) -> usize {
        self.shards.iter().filter(|s| s.done).count()
    }

    pub fn shards_failed(&self) -> usize {
        self.shards.iter().filter(|s| s.failed).count()
    }

    pub fn running(&self) -> usize {
        self.shards
            .iter()
            .filter(|s| !s.done && !s.failed && s.status == JobStatus::Running)
            .count()
    }

    /// Images finished over the cluster (the current try of every shard).
    pub fn images_done(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.progress.map_or(0, |p| p.done))
            .sum()
    }

    /// Images of the shards that reported their size so far.
    pub fn images_total(&self) -> u64 {
        self.shards.iter().filter_map(|s| s.total).sum()
    }

    /// Whether every shard reported its size (else [`Self::images_total`] will grow).
    pub fn totals_known(&self) -> bool {
        self.shards.iter().all(|s| s.total.is_some())
    }

    /// Images per second over the cluster since this driver started.
    pub fn images_per_second(&self) -> f64 {
        let new = self.images_done().saturating_sub(self.images_before);
        new as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// What sees the run go by.
pub trait Observer {
    /// After every poll.
    fn update(&mut self, view: &RunView<'_>);
    /// Something worth a line of its own (a shard done, failed, submitted again).
    fn note(&mut self, line: &str);
    /// The run is over (before the summary is printed).
    fn finish(&mut self);
}

/// A shard that failed on every try.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardFailure {
    /// `K/N`.
    pub shard: String,
    pub tries: u32,
    pub submission_id: String,
    pub reason: String,
    pub log_tail: Vec<String>,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub shards: usize,
    pub done: usize,
    /// Shards that needed more than one try.
    pub retried: usize,
    /// Shards an earlier submit of this run id had finished.
    pub already_done: usize,
    pub failures: Vec<ShardFailure>,
    /// Files embedded by the done shards, and of those the ones that could not be read.
    pub images: u64,
    pub unreadable: u64,
    pub wall_seconds: f64,
    /// Images embedded by this submit per second of wall time.
    pub images_per_second: f64,
}

impl RunSummary {
    /// `Err(ShardsFailed)` when any shard failed for good.
    pub fn check(self) -> Result<Self> {
        if self.failures.is_empty() {
            Ok(self)
        } else {
            Err(Error::ShardsFailed {
                run_id: self.run_id,
                failures: self.failures,
            })
        }
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {}: {}/{} shards done, {} retried, {} failed",
            self.run_id,
            self.done,
            self.shards,
            self.retried,
            self.failures.len()
        )?;
        if self.already_done > 0 {
            write!(f, " ({} done before this submit)", self.already_done)?;
        }
        write!(
            f,
            "; {} images ({} unreadable) in {:.1} s ({:.1} images/s)",
            self.images, self.unreadable, self.wall_seconds, self.images_per_second
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Active,
    Done,
    Failed(ShardFailure),
}

struct Shard {
    index: usize,
    attempt: u32,
    /// Tries submitted by this driver.
    tries_here: u32,
    id: String,
    status: JobStatus,
    progress: Option<ShardProgress>,
    total: Option<u64>,
    last_logs: Option<Instant>,
    succeeded_at: Option<Instant>,
    retried: bool,
    already_done: bool,
    outcome: Outcome,
}

impl Shard {
    fn view(&self) -> ShardView {
        ShardView {
            shard: self.index,
            attempt: self.attempt,
            status: self.status,
            progress: self.progress,
            total: self.total,
            done: self.outcome == Outcome::Done,
            failed: matches!(self.outcome, Outcome::Failed(_)),
        }
    }
}

/// Submits the run's shards and follows them to the end (see the module docs). `Ok` once every
/// shard is done or failed for good ([`RunSummary::check`] turns failures into the error);
/// `Err` when Ray cannot be reached, refuses a submission, or on `cancel`.
pub fn submit_run(
    api: &dyn JobsApi,
    plan: &RunPlan,
    observer: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<RunSummary> {
    if plan.shards == 0 {
        return Err(Error::Invalid("--shards must be at least 1".into()));
    }
    let started = Instant::now();
    // Also the check that Ray answers at all, before anything is submitted.
    let existing = api.list()?;
    let mut shards = adopt(api, plan, &existing)?;
    let images_before: u64 = shards
        .iter()
        .filter(|s| s.already_done)
        .map(|s| s.progress.map_or(0, |p| p.done))
        .sum();
    let mut retries = 0u32;
    let result = follow(
        api,
        plan,
        observer,
        cancel,
        &mut shards,
        started,
        images_before,
        &mut retries,
    );
    observer.finish();
    if let Err(e) = result {
        if !matches!(e, Error::LostContact { .. } | Error::Unreachable { .. }) {
            stop_active(api, &shards);
        }
        return Err(e);
    }
    let wall = started.elapsed().as_secs_f64();
    let done: Vec<&Shard> = shards
        .iter()
        .filter(|s| s.outcome == Outcome::Done)
        .collect();
    let images: u64 = done.iter().map(|s| s.progress.map_or(0, |p| p.done)).sum();
    let unreadable = done
        .iter()
        .map(|s| s.progress.map_or(0, |p| p.failed))
        .sum();
    Ok(RunSummary {
        run_id: plan.run_id.clone(),
        shards: plan.shards,
        done: done.len(),
        retried: shards.iter().filter(|s| s.retried).count(),
        already_done: shards.iter().filter(|s| s.already_done).count(),
        failures: shards
            .iter()
            .filter_map(|s| match &s.outcome {
                Outcome::Failed(f) => Some(f.clone()),
                _ => None,
            })
            .collect(),
        images,
        unreadable,
        wall_seconds: wall,
        images_per_second: images.saturating_sub(images_before) as f64 / wall.max(1e-3),
    })
}

/// Every shard's starting point: what Ray knows of this run id, else a first submission.
fn adopt(api: &dyn JobsApi, plan: &RunPlan, existing: &[JobDetails]) -> Result<Vec<Shard>> {
    let mut newest: HashMap<usize, (&JobDetails, u32)> = HashMap::new();
    for job in existing {
        if job.meta("magpie_run") != Some(plan.run_id.as_str()) {
            continue;
        }
        let Some((k, n)) = job.meta("shard").and_then(parse_shard) else {
            continue;
        };
        if n != plan.shards {
            return Err(Error::Invalid(format!(
                "run {} was submitted with {n} shards, not {}: give the same --shards, or another --run-id",
                plan.run_id, plan.shards
            )));
        }
        let attempt = job.meta("try").and_then(|t| t.parse().ok()).unwrap_or(1);
        if newest.get(&k).is_none_or(|(_, a)| attempt > *a) {
            newest.insert(k, (job, attempt));
        }
    }
    let mut shards = Vec::with_capacity(plan.shards);
    for index in 0..plan.shards {
        let mut shard = Shard {
            index,
            attempt: 0,
            tries_here: 0,
            id: String::new(),
            status: JobStatus::Pending,
            progress: None,
            total: None,
            last_logs: None,
            succeeded_at: None,
            retried: false,
            already_done: false,
            outcome: Outcome::Active,
        };
        match newest.get(&index) {
            Some((job, attempt))
                if !matches!(job.status, JobStatus::Failed | JobStatus::Stopped) =>
            {
                shard.attempt = *attempt;
                shard.tries_here = 1;
                shard.id = job.submission_id.clone().unwrap_or_default();
                shard.status = job.status;
                tracing::info!(shard = index, job = %shard.id, status = ?job.status, "picking up a job of this run");
                if job.status == JobStatus::Succeeded {
                    read_logs(api, &mut shard);
                    shard.already_done = true;
                }
            }
            Some((job, attempt)) => {
                tracing::info!(shard = index, job = ?job.submission_id, status = ?job.status, "an earlier try of this run ended; submitting again");
                shard.retried = true;
                submit(api, plan, &mut shard, attempt + 1)?;
            }
            None => submit(api, plan, &mut shard, 1)?,
        }
        shards.push(shard);
    }
    Ok(shards)
}

#[allow(clippy::too_many_arguments)]
fn follow(
    api: &dyn JobsApi,
    plan: &RunPlan,
    observer: &mut dyn Observer,
    cancel: &AtomicBool,
    shards: &mut [Shard],
    started: Instant,
    images_before: u64,
    retries: &mut u32,
) -> Result<()> {
    let mut last_answer = Instant::now();
    loop {
        if cancel.load(Ordering::SeqCst) {
            // submit_run stops the unfinished jobs.
            return Err(Error::Interrupted {
                run_id: plan.run_id.clone(),
            });
        }
        let jobs = match api.list() {
            Ok(jobs) => {
                last_answer = Instant::now();
                jobs
            }
            Err(e) if last_answer.elapsed() < LOST_AFTER => {
                tracing::warn!("asking Ray about the jobs: {e} (trying again)");
                sleep_unless_cancelled(plan.poll, cancel);
                continue;
            }
            Err(e) => {
                return Err(Error::LostContact {
                    run_id: plan.run_id.clone(),
                    source: Box::new(e),
                })
            }
        };
        let by_id: HashMap<&str, &JobDetails> = jobs
            .iter()
            .filter_map(|j| j.submission_id.as_deref().map(|id| (id, j)))
            .collect();
        for shard in shards.iter_mut() {
            match shard.outcome {
                Outcome::Active => {}
                // A done shard may still be waiting for its manifest.
                Outcome::Done | Outcome::Failed(_) => continue,
            }
            advance(
                api,
                plan,
                observer,
                shard,
                by_id.get(shard.id.as_str()).copied(),
                retries,
            )?;
        }
        let views: Vec<ShardView> = shards.iter().map(Shard::view).collect();
        observer.update(&RunView {
            run_id: &plan.run_id,
            shards: &views,
            elapsed: started.elapsed(),
            images_before,
            retries: *retries,
        });
        if shards.iter().all(|s| s.outcome != Outcome::Active) {
            return Ok(());
        }
        sleep_unless_cancelled(plan.poll, cancel);
    }
}

/// One shard's step in a poll: progress, the end of its job, a new try.
fn advance(
    api: &dyn JobsApi,
    plan: &RunPlan,
    observer: &mut dyn Observer,
    shard: &mut Shard,
    job: Option<&JobDetails>,
    retries: &mut u32,
) -> Result<()> {
    let k_n = format!("{}/{}", shard.index, plan.shards);
    let Some(job) = job else {
        // Deleted behind our back (`ray job delete`), or Ray lost its state (a new head).
        let reason = "the job is gone from Ray (deleted, or the head node restarted)".to_string();
        return ended(
            api,
            plan,
            observer,
            shard,
            reason,
            true,
            String::new(),
            retries,
        );
    };
    shard.status = job.status;
    let logs_due = shard.last_logs.is_none_or(|t| t.elapsed() >= LOGS_EVERY);
    if job.status == JobStatus::Running && logs_due {
        read_logs(api, shard);
    }
    match job.status {
        JobStatus::Succeeded => {
            if shard.succeeded_at.is_none() {
                shard.succeeded_at = Some(Instant::now());
                read_logs(api, shard);
            }
            let manifest = plan.command.manifest(shard.index);
            if !plan.check_manifests || manifest.exists() {
                shard.outcome = Outcome::Done;
                let images = shard
                    .progress
                    .map_or("?".to_string(), |p| p.done.to_string());
                observer.note(&format!(
                    "shard {k_n} done ({images} images, try {})",
                    shard.attempt
                ));
            } else if shard
                .succeeded_at
                .is_some_and(|t| t.elapsed() >= plan.manifest_grace)
            {
                let reason = format!(
                    "its job succeeded, but {} does not exist on this host: do the workers write to the same (shared) storage?",
                    manifest.display()
                );
                let logs = api.logs(&shard.id).unwrap_or_default();
                return ended(api, plan, observer, shard, reason, false, logs, retries);
            }
            Ok(())
        }
        JobStatus::Failed | JobStatus::Stopped => {
            let logs = api.logs(&shard.id).unwrap_or_default();
            if let Some(p) = newest_progress(&logs, Some(shard.index as u32)) {
                shard.progress = Some(p);
            }
            let usage = job.driver_exit_code == Some(USAGE_EXIT);
            let reason = end_reason(job);
            ended(api, plan, observer, shard, reason, !usage, logs, retries)
        }
        JobStatus::Pending | JobStatus::Running | JobStatus::Unknown => Ok(()),
    }
}

/// A try ended without a done shard: another try, or the shard has failed for good.
#[allow(clippy::too_many_arguments)]
fn ended(
    api: &dyn JobsApi,
    plan: &RunPlan,
    observer: &mut dyn Observer,
    shard: &mut Shard,
    reason: String,
    retryable: bool,
    logs: String,
    retries: &mut u32,
) -> Result<()> {
    let k_n = format!("{}/{}", shard.index, plan.shards);
    if retryable && shard.tries_here <= plan.retries {
        observer.note(&format!(
            "shard {k_n} try {} ended: {reason}; submitting it again (try {})",
            shard.attempt,
            shard.attempt + 1
        ));
        *retries += 1;
        shard.retried = true;
        let next = shard.attempt + 1;
        return submit(api, plan, shard, next);
    }
    let why = if retryable {
        reason
    } else {
        format!("{reason} (not retried: another try would end the same way)")
    };
    observer.note(&format!(
        "shard {k_n} failed on try {}: {why}",
        shard.attempt
    ));
    shard.outcome = Outcome::Failed(ShardFailure {
        shard: k_n,
        tries: shard.attempt,
        submission_id: shard.id.clone(),
        reason: why,
        log_tail: log_tail(&logs, TAIL_LINES),
    });
    Ok(())
}

/// Why a job ended, in a few words.
fn end_reason(job: &JobDetails) -> String {
    match (job.status, job.driver_exit_code) {
        (JobStatus::Stopped, _) => "stopped (`ray job stop`, or its node went away)".into(),
        (_, Some(USAGE_EXIT)) => format!("exit code {USAGE_EXIT} (a usage error)"),
        (_, Some(code @ (137 | -9))) => format!("exit code {code} (killed)"),
        (_, Some(code)) => format!("exit code {code}"),
        _ => job
            .message
            .as_deref()
            .and_then(|m| m.lines().next())
            .unwrap_or("failed")
            .to_string(),
    }
}

/// Submits try `attempt` of `shard`.
fn submit(api: &dyn JobsApi, plan: &RunPlan, shard: &mut Shard, attempt: u32) -> Result<()> {
    let id = submission_id(&plan.run_id, shard.index, attempt);
    let k_n = format!("{}/{}", shard.index, plan.shards);
    let metadata: BTreeMap<String, String> = [
        ("magpie_run", plan.run_id.clone()),
        ("shard", k_n),
        ("out", plan.command.out.to_string_lossy().into_owned()),
        ("try", attempt.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let job = JobSubmission {
        entrypoint: plan.command.entrypoint(shard.index, plan.shards)?,
        submission_id: Some(id.clone()),
        metadata,
        entrypoint_num_cpus: plan.cpus_per_shard,
        entrypoint_num_gpus: plan.gpus_per_shard,
        runtime_env: (!plan.env.is_empty()).then(|| RuntimeEnv {
            env_vars: plan.env.clone(),
        }),
    };
    tracing::debug!(job = %id, entrypoint = %job.entrypoint, "submitting");
    api.submit(&job)?;
    shard.id = id;
    shard.attempt = attempt;
    shard.tries_here += 1;
    shard.status = JobStatus::Pending;
    shard.progress = None;
    shard.last_logs = None;
    shard.succeeded_at = None;
    Ok(())
}

/// Reads the shard's log for its newest progress line (a failure is only logged: progress is
/// not worth stopping for).
fn read_logs(api: &dyn JobsApi, shard: &mut Shard) {
    shard.last_logs = Some(Instant::now());
    match api.logs(&shard.id) {
        Ok(logs) => {
            if let Some(p) = newest_progress(&logs, Some(shard.index as u32)) {
                shard.total = Some(p.total);
                shard.progress = Some(p);
            }
        }
        Err(e) => tracing::debug!(job = %shard.id, "cannot read the job's log: {e}"),
    }
}

/// Asks Ray to stop every job of the run that has not ended (best effort).
fn stop_active(api: &dyn JobsApi, shards: &[Shard]) {
    for shard in shards {
        if shard.outcome == Outcome::Active && !shard.id.is_empty() && !shard.status.is_terminal() {
            match api.stop(&shard.id) {
                Ok(_) => tracing::info!(job = %shard.id, "stopped"),
                Err(e) => tracing::warn!(job = %shard.id, "cannot stop the job: {e}"),
            }
        }
    }
}

fn sleep_unless_cancelled(total: Duration, cancel: &AtomicBool) {
    let step = Duration::from_millis(50);
    let until = Instant::now() + total;
    while Instant::now() < until && !cancel.load(Ordering::SeqCst) {
        std::thread::sleep(step.min(until.saturating_duration_since(Instant::now())));
    }
}

/// `K/N` → (K, N).
pub(crate) fn parse_shard(text: &str) -> Option<(usize, usize)> {
    let (k, n) = text.split_once('/')?;
    let (k, n) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
    (k < n).then_some((k, n))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use super::*;

    /// A Ray that runs every job instantly according to a script: each poll moves the jobs one
    /// step (PENDING → RUNNING → the end the script gives that submission id).
    #[derive(Default)]
    struct FakeRay {
        jobs: RefCell<Vec<(JobDetails, u32)>>,
        submitted: RefCell<Vec<JobSubmission>>,
        stopped: RefCell<Vec<String>>,
        /// submission id → its end (status, exit code); the default is SUCCEEDED.
        ends: HashMap<String, (JobStatus, Option<i32>)>,
        /// Jobs that never end.
        hang: Vec<String>,
        down: bool,
    }

    impl FakeRay {
        fn tick(&self) {
            for (job, steps) in self.jobs.borrow_mut().iter_mut() {
                *steps += 1;
                let id = job.submission_id.clone().unwrap();
                if job.status.is_terminal() {
                    continue;
                }
                job.status = match *steps {
                    1 => JobStatus::Running,
                    _ if self.hang.contains(&id) => JobStatus::Running,
                    _ => {
                        let (status, code) = self
                            .ends
                            .get(&id)
                            .copied()
                            .unwrap_or((JobStatus::Succeeded, Some(0)));
                        job.driver_exit_code = code;
                        status
                    }
                };
            }
        }
    }

    impl JobsApi for FakeRay {
        fn address(&self) -> &str {
            "http://fake:8265"
        }

        fn submit(&self, job: &JobSubmission) -> Result<String> {
            let id = job.submission_id.clone().unwrap();
            if self
                .jobs
                .borrow()
                .iter()
                .any(|(j, _)| j.submission_id.as_ref() == Some(&id))
            {
                return Err(Error::Http {
                    address: self.address().into(),
                    method: "POST",
                    path: "/api/jobs/".into(),
                    status: 500,
                    message: format!("ValueError: Job with submission_id {id} already exists."),
                });
            }
            self.submitted.borrow_mut().push(job.clone());
            self.jobs.borrow_mut().push((
                JobDetails {
                    kind: Some("SUBMISSION".into()),
                    submission_id: Some(id.clone()),
                    job_id: None,
                    status: JobStatus::Pending,
                    entrypoint: job.entrypoint.clone(),
                    message: None,
                    error_type: None,
                    start_time: Some(1),
                    end_time: None,
                    metadata: Some(job.metadata.clone()),
                    driver_exit_code: None,
                    driver_node_id: None,
                },
                0,
            ));
            Ok(id)
        }

        fn list(&self) -> Result<Vec<JobDetails>> {
            if self.down {
                return Err(Error::Unreachable {
                    address: self.address().into(),
                    reason: "connection refused".into(),
                });
            }
            self.tick();
            Ok(self.jobs.borrow().iter().map(|(j, _)| j.clone()).collect())
        }

        fn logs(&self, id: &str) -> Result<String> {
            let jobs = self.jobs.borrow();
            let (job, _) = jobs
                .iter()
                .find(|(j, _)| j.submission_id.as_deref() == Some(id))
                .unwrap();
            let (k, n) = parse_shard(job.meta("shard").unwrap()).unwrap();
            let done = if job.status == JobStatus::Succeeded {
                10
            } else {
                4
            };
            Ok(format!(
                "Running entrypoint\nmagpie-shard-progress {{\"shard\":{k},\"shards\":{n},\"done\":{done},\"total\":10,\"failed\":1}}\nlast words of {id}\n"
            ))
        }

        fn stop(&self, id: &str) -> Result<bool> {
            self.stopped.borrow_mut().push(id.to_string());
            for (job, _) in self.jobs.borrow_mut().iter_mut() {
                if job.submission_id.as_deref() == Some(id) {
                    job.status = JobStatus::Stopped;
                }
            }
            Ok(true)
        }
    }

    #[derive(Default)]
    struct Record {
        notes: Vec<String>,
        updates: usize,
        finished: bool,
    }

    impl Observer for Record {
        fn update(&mut self, _view: &RunView<'_>) {
            self.updates += 1;
        }
        fn note(&mut self, line: &str) {
            self.notes.push(line.to_string());
        }
        fn finish(&mut self) {
            self.finished = true;
        }
    }

    fn plan(shards: usize, retries: u32) -> RunPlan {
        RunPlan {
            run_id: "r1".into(),
            shards,
            command: ShardCommand::new(
                Path::new("/bin/magpie"),
                &["/photos".to_string(), "--out".into(), "/out".into()],
                Path::new("/"),
            )
            .unwrap(),
            cpus_per_shard: Some(1.0),
            gpus_per_shard: None,
            retries,
            env: [("MAGPIE_ORT_LIB".to_string(), "/ort".to_string())].into(),
            poll: Duration::from_millis(1),
            check_manifests: false,
            manifest_grace: Duration::ZERO,
        }
    }

    fn run(ray: &FakeRay, plan: &RunPlan) -> (Result<RunSummary>, Record) {
        let mut record = Record::default();
        let result = submit_run(ray, plan, &mut record, &AtomicBool::new(false));
        (result, record)
    }

    #[test]
    fn every_shard_is_one_job_with_its_command_and_metadata() {
        let ray = FakeRay::default();
        let (result, record) = run(&ray, &plan(3, 2));
        let summary = result.unwrap().check().unwrap();
        assert_eq!(
            (summary.done, summary.retried, summary.failures.len()),
            (3, 0, 0)
        );
        assert_eq!((summary.images, summary.unreadable), (30, 3));
        assert!(record.finished && record.updates > 0);
        let submitted = ray.submitted.borrow();
        assert_eq!(submitted.len(), 3);
        let second = &submitted[1];
        assert_eq!(
            second.submission_id.as_deref(),
            Some("magpie-r1-shard-1-try-1")
        );
        assert_eq!(
            second.entrypoint,
            "exec /bin/magpie embed-shard --shard 1/3 /photos --out /out"
        );
        assert_eq!(
            second.metadata,
            [
                ("magpie_run", "r1"),
                ("shard", "1/3"),
                ("out", "/out"),
                ("try", "1")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into()
        );
        assert_eq!(second.entrypoint_num_cpus, Some(1.0));
        assert_eq!(second.entrypoint_num_gpus, None);
        assert_eq!(
            second
                .runtime_env
                .as_ref()
                .unwrap()
                .env_vars
                .get("MAGPIE_ORT_LIB")
                .map(String::as_str),
            Some("/ort")
        );
        let text = summary.to_string();
        assert!(
            text.contains("3/3 shards done, 0 retried, 0 failed"),
            "{text}"
        );
        assert!(text.contains("30 images"), "{text}");
    }

    #[test]
    fn a_failed_shard_is_retried_until_the_budget_is_spent() {
        let mut ray = FakeRay::default();
        ray.ends.insert(
            "magpie-r1-shard-1-try-1".into(),
            (JobStatus::Failed, Some(137)),
        );
        ray.ends
            .insert("magpie-r1-shard-2-try-1".into(), (JobStatus::Stopped, None));
        for attempt in 1..=3 {
            ray.ends.insert(
                format!("magpie-r1-shard-0-try-{attempt}"),
                (JobStatus::Failed, Some(1)),
            );
        }
        let (result, record) = run(&ray, &plan(3, 2));
        let summary = result.unwrap();
        assert_eq!((summary.done, summary.retried), (2, 3));
        assert_eq!(summary.failures.len(), 1);
        let failure = &summary.failures[0];
        assert_eq!(failure.shard, "0/3");
        assert_eq!(failure.tries, 3);
        assert_eq!(failure.submission_id, "magpie-r1-shard-0-try-3");
        assert_eq!(failure.reason, "exit code 1");
        assert_eq!(
            failure.log_tail,
            [
                "Running entrypoint",
                "last words of magpie-r1-shard-0-try-3"
            ]
        );
        assert!(
            record.notes.iter().any(|n| n.contains(
                "shard 1/3 try 1 ended: exit code 137 (killed); submitting it again (try 2)"
            )),
            "{:?}",
            record.notes
        );
        let err = summary.check().unwrap_err().to_string();
        assert!(
            err.contains("shard 0/3 (3 tries, last job magpie-r1-shard-0-try-3): exit code 1"),
            "{err}"
        );
        assert!(
            err.contains("| last words of magpie-r1-shard-0-try-3"),
            "{err}"
        );
        // Try numbers go up in the ids and the metadata.
        let ids: Vec<String> = ray
            .submitted
            .borrow()
            .iter()
            .filter_map(|j| j.submission_id.clone())
            .collect();
        assert!(
            ids.contains(&"magpie-r1-shard-1-try-2".to_string()),
            "{ids:?}"
        );
        assert!(
            ids.contains(&"magpie-r1-shard-2-try-2".to_string()),
            "{ids:?}"
        );
        assert_eq!(ids.len(), 3 + 2 + 2);
    }

    #[test]
    fn usage_errors_are_not_retried() {
        let mut ray = FakeRay::default();
        ray.ends.insert(
            "magpie-r1-shard-0-try-1".into(),
            (JobStatus::Failed, Some(2)),
        );
        let (result, _) = run(&ray, &plan(1, 2));
        let summary = result.unwrap();
        assert_eq!(summary.failures.len(), 1);
        assert!(
            summary.failures[0].reason.contains("not retried"),
            "{:?}",
            summary.failures
        );
        assert_eq!(ray.submitted.borrow().len(), 1);
    }

    #[test]
    fn a_known_run_id_is_picked_up_where_it_stands() {
        let mut ray = FakeRay::default();
        ray.ends.insert(
            "magpie-r1-shard-1-try-1".into(),
            (JobStatus::Failed, Some(1)),
        );
        ray.ends.insert(
            "magpie-r1-shard-1-try-2".into(),
            (JobStatus::Failed, Some(1)),
        );
        let (first, _) = run(&ray, &plan(2, 0));
        let first = first.unwrap();
        assert_eq!((first.done, first.failures.len()), (1, 1));
        // The same run again: shard 0 is kept, shard 1 gets try 2.
        let (second, _) = run(&ray, &plan(2, 0));
        let second = second.unwrap();
        assert_eq!(
            (second.done, second.already_done, second.retried),
            (1, 1, 1)
        );
        assert_eq!(second.failures[0].submission_id, "magpie-r1-shard-1-try-2");
        assert_eq!(ray.submitted.borrow().len(), 3);
        // Another shard count under the same id is refused.
        let (third, _) = run(&ray, &plan(3, 0));
        assert!(third
            .unwrap_err()
            .to_string()
            .contains("submitted with 2 shards"));
    }

    #[test]
    fn cancelling_stops_the_unfinished_jobs() {
        let ray = FakeRay {
            hang: vec!["magpie-r1-shard-0-try-1".into()],
            ..FakeRay::default()
        };
        let cancel = AtomicBool::new(false);
        let mut record = Record::default();
        struct CancelAfter<'a>(&'a AtomicBool, &'a mut Record);
        impl Observer for CancelAfter<'_> {
            fn update(&mut self, view: &RunView<'_>) {
                if view.shards_done() == 1 {
                    self.0.store(true, Ordering::SeqCst);
                }
                self.1.update(view);
            }
            fn note(&mut self, line: &str) {
                self.1.note(line);
            }
            fn finish(&mut self) {
                self.1.finish();
            }
        }
        let err = submit_run(
            &ray,
            &plan(2, 0),
            &mut CancelAfter(&cancel, &mut record),
            &cancel,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");
        assert_eq!(*ray.stopped.borrow(), ["magpie-r1-shard-0-try-1"]);
    }

    #[test]
    fn ray_down_at_the_start_is_an_error_before_any_submission() {
        let ray = FakeRay {
            down: true,
            ..FakeRay::default()
        };
        let (result, _) = run(&ray, &plan(2, 0));
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("cannot reach Ray at http://fake:8265: connection refused"),
            "{err}"
        );
        assert!(ray.submitted.borrow().is_empty());
    }

    #[test]
    fn a_succeeded_shard_without_its_manifest_is_not_done() {
        let ray = FakeRay::default();
        let mut plan = plan(1, 2);
        plan.check_manifests = true;
        let dir =
            std::env::temp_dir().join(format!("magpie-cluster-manifest-{}", std::process::id()));
        plan.command.out = dir.clone();
        std::fs::create_dir_all(dir.join("shards")).unwrap();
        std::fs::write(dir.join("shards/shard_0.json"), "{}").unwrap();
        let (result, _) = run(&ray, &plan);
        assert_eq!(result.unwrap().done, 1);
        // Without it (a worker writing to storage this host does not see): failed, not retried.
        std::fs::remove_file(dir.join("shards/shard_0.json")).unwrap();
        plan.run_id = "r2".into();
        let (result, _) = run(&ray, &plan);
        let summary = result.unwrap();
        assert_eq!(summary.done, 0);
        let reason = &summary.failures[0].reason;
        assert!(
            reason.contains("shard_0.json does not exist on this host"),
            "{reason}"
        );
        assert!(reason.contains("not retried"), "{reason}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_view_adds_up_the_cluster() {
        let view_of = |done: u64, total: Option<u64>, finished: bool| ShardView {
            shard: 0,
            attempt: 1,
            status: JobStatus::Running,
            progress: Some(ShardProgress {
                shard: 0,
                shards: 2,
                done,
                total: total.unwrap_or(0),
                failed: 0,
            }),
            total,
            done: finished,
            failed: false,
        };
        let shards = [view_of(10, Some(10), true), view_of(3, Some(8), false)];
        let view = RunView {
            run_id: "r",
            shards: &shards,
            elapsed: Duration::from_secs(2),
            images_before: 0,
            retries: 0,
        };
        assert_eq!(
            (
                view.shards_done(),
                view.running(),
                view.images_done(),
                view.images_total()
            ),
            (1, 1, 13, 18)
        );
        assert!(view.totals_known());
        assert!((view.images_per_second() - 6.5).abs() < 1e-9);
        assert_eq!(parse_shard("1/3"), Some((1, 3)));
        assert_eq!(parse_shard("3/3"), None);
        assert_eq!(parse_shard("x"), None);
    }
}
