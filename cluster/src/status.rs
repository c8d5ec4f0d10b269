//! `magpie cluster status`: where the shards of one run stand, from Ray's job list (the jobs
//! whose metadata names the run; per shard its newest try) and each shard's log (the newest
//! progress line). Without a run id, the newest run: the one whose first job started last.

use std::collections::{BTreeMap, HashMap};

use crate::client::{JobDetails, JobStatus, JobsApi};
use crate::driver::parse_shard;
use crate::error::{Error, Result};
use crate::progress::{newest_progress, ShardProgress};

/// One shard's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardStatus {
    pub shard: usize,
    /// The newest try's job (none: never submitted).
    pub job: Option<ShardJob>,
}

/// The newest try of a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardJob {
    pub submission_id: String,
    pub attempt: u32,
    pub status: JobStatus,
    pub progress: Option<ShardProgress>,
}

/// A run's shards.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    pub run_id: String,
    pub shards: usize,
    /// The output folder the jobs were given.
    pub out: Option<String>,
    pub rows: Vec<ShardStatus>,
}

impl RunStatus {
    pub fn done(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| {
                r.job
                    .as_ref()
                    .is_some_and(|j| j.status == JobStatus::Succeeded)
            })
            .count()
    }
}

/// `done` for a succeeded job, else Ray's state in lower case.
pub fn state_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Succeeded => "done",
        other => other.as_str(),
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {}: {} shards", self.run_id, self.shards)?;
        if let Some(out) = &self.out {
            write!(f, ", out {out}")?;
        }
        writeln!(f)?;
        let width = format!("{}/{}", self.shards, self.shards).len().max(5);
        writeln!(
            f,
            "{:<width$}  {:<13}  {:>3}  {:>13}  JOB",
            "SHARD", "STATE", "TRY", "IMAGES"
        )?;
        let (mut done_images, mut total_images) = (0u64, 0u64);
        for row in &self.rows {
            let shard = format!("{}/{}", row.shard, self.shards);
            match &row.job {
                None => writeln!(
                    f,
                    "{shard:<width$}  {:<13}  {:>3}  {:>13}  -",
                    "not submitted", "-", "-"
                )?,
                Some(job) => {
                    let images = job.progress.map_or("-".to_string(), |p| {
                        done_images += p.done;
                        total_images += p.total;
                        format!("{}/{}", p.done, p.total)
                    });
                    writeln!(
                        f,
                        "{shard:<width$}  {:<13}  {:>3}  {images:>13}  {}",
                        state_word(job.status),
                        job.attempt,
                        job.submission_id
                    )?;
                }
            }
        }
        write!(
            f,
            "{}/{} shards done; images {done_images}/{total_images} (of the shards that reported)",
            self.done(),
            self.shards
        )
    }
}

/// The status of run `run_id`, or of the newest Magpie run Ray knows.
pub fn run_status(api: &dyn JobsApi, run_id: Option<&str>) -> Result<RunStatus> {
    let jobs = api.list()?;
    let ours: Vec<&JobDetails> = jobs
        .iter()
        .filter(|j| j.meta("magpie_run").is_some() && j.submission_id.is_some())
        .collect();
    let run_id = match run_id {
        Some(id) => id.to_string(),
        None => newest_run(&ours).ok_or_else(|| {
            Error::Invalid(format!(
                "Ray at {} has no jobs of `magpie cluster submit`",
                api.address()
            ))
        })?,
    };
    let mut newest: BTreeMap<usize, (&JobDetails, u32)> = BTreeMap::new();
    let mut shards = 0;
    let mut out = None;
    for job in ours
        .iter()
        .filter(|j| j.meta("magpie_run") == Some(run_id.as_str()))
    {
        let Some((k, n)) = job.meta("shard").and_then(parse_shard) else {
            continue;
        };
        shards = shards.max(n);
        out = out.or_else(|| job.meta("out").map(str::to_string));
        let attempt = job.meta("try").and_then(|t| t.parse().ok()).unwrap_or(1);
        if newest.get(&k).is_none_or(|(_, a)| attempt > *a) {
            newest.insert(k, (job, attempt));
        }
    }
    if newest.is_empty() {
        return Err(Error::Invalid(format!(
            "Ray at {} has no jobs of run {run_id}",
            api.address()
        )));
    }
    let rows = (0..shards)
        .map(|shard| ShardStatus {
            shard,
            job: newest.get(&shard).map(|(job, attempt)| {
                let id = job.submission_id.clone().unwrap_or_default();
                let progress = match api.logs(&id) {
                    Ok(logs) => newest_progress(&logs, Some(shard as u32)),
                    Err(e) => {
                        tracing::debug!(job = %id, "cannot read the job's log: {e}");
                        None
                    }
                };
                ShardJob {
                    submission_id: id,
                    attempt: *attempt,
                    status: job.status,
                    progress,
                }
            }),
        })
        .collect();
    Ok(RunStatus {
        run_id,
        shards,
        out,
        rows,
    })
}

/// The run whose first job started last.
fn newest_run(jobs: &[&JobDetails]) -> Option<String> {
    let mut first_start: HashMap<&str, u64> = HashMap::new();
    for job in jobs {
        let Some(run) = job.meta("magpie_run") else {
            continue;
        };
        let start = job.start_time.unwrap_or(0);
        let entry = first_start.entry(run).or_insert(start);
        *entry = (*entry).min(start);
    }
    first_start
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)))
        .map(|(run, _)| run.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::JobSubmission;

    struct Listed(Vec<JobDetails>);

    impl JobsApi for Listed {
        fn address(&self) -> &str {
            "http://fake:8265"
        }
        fn submit(&self, _: &JobSubmission) -> Result<String> {
            unreachable!()
        }
        fn list(&self) -> Result<Vec<JobDetails>> {
            Ok(self.0.clone())
        }
        fn logs(&self, id: &str) -> Result<String> {
            let k: u64 = id.split("-shard-").nth(1).unwrap()[..1].parse().unwrap();
            Ok(format!(
                "magpie-shard-progress {{\"shard\":{k},\"shards\":3,\"done\":{},\"total\":10}}\n",
                if id.ends_with("try-2") { 10 } else { 4 }
            ))
        }
        fn stop(&self, _: &str) -> Result<bool> {
            unreachable!()
        }
    }

    fn job(run: &str, shard: usize, attempt: u32, status: JobStatus, start: u64) -> JobDetails {
        JobDetails {
            kind: Some("SUBMISSION".into()),
            submission_id: Some(format!("magpie-{run}-shard-{shard}-try-{attempt}")),
            job_id: None,
            status,
            entrypoint: String::new(),
            message: None,
            error_type: None,
            start_time: Some(start),
            end_time: None,
            metadata: Some(
                [
                    ("magpie_run", run.to_string()),
                    ("shard", format!("{shard}/3")),
                    ("try", attempt.to_string()),
                    ("out", "/out".to_string()),
                ]
                .map(|(k, v)| (k.to_string(), v))
                .into(),
            ),
            driver_exit_code: None,
            driver_node_id: None,
        }
    }

    #[test]
    fn the_newest_run_and_the_newest_try_of_each_shard() {
        let mut other = job("old", 0, 1, JobStatus::Succeeded, 1);
        other
            .metadata
            .as_mut()
            .unwrap()
            .insert("shard".into(), "0/3".into());
        let ray = Listed(vec![
            other,
            job("new", 0, 1, JobStatus::Succeeded, 10),
            job("new", 1, 1, JobStatus::Failed, 11),
            job("new", 1, 2, JobStatus::Succeeded, 20),
            // Not ours: no metadata.
            JobDetails {
                metadata: None,
                ..job("x", 0, 1, JobStatus::Running, 99)
            },
        ]);
        let status = run_status(&ray, None).unwrap();
        assert_eq!(status.run_id, "new");
        assert_eq!(status.shards, 3);
        assert_eq!(status.done(), 2);
        let row1 = status.rows[1].job.as_ref().unwrap();
        assert_eq!((row1.attempt, row1.status), (2, JobStatus::Succeeded));
        assert_eq!(row1.progress.unwrap().done, 10);
        assert_eq!(status.rows[2].job, None);
        let table = status.to_string();
        assert!(table.contains("1/3    done"), "{table}");
        assert!(table.contains("2/3    not submitted"), "{table}");
        assert!(table.contains("2/3 shards done; images 14/20"), "{table}");
        assert!(table.contains("magpie-new-shard-1-try-2"), "{table}");
        assert_eq!(run_status(&ray, Some("old")).unwrap().done(), 1);
        let err = run_status(&ray, Some("nope")).unwrap_err().to_string();
        assert!(err.contains("no jobs of run nope"), "{err}");
        let err = run_status(&Listed(vec![]), None).unwrap_err().to_string();
        assert!(err.contains("no jobs of `magpie cluster submit`"), "{err}");
    }
}
