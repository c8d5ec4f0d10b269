//! The errors of this crate: Ray unreachable (naming the address and the reason), Ray answering
//! with an HTTP error (with the server's own message), answers that do not parse, bad arguments,
//! and a run whose shards failed for good (naming them and the tail of their logs).

use crate::driver::ShardFailure;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing answered at the address (refused, timed out, unknown host).
    #[error("cannot reach Ray at {address}: {reason} (is the cluster up? `ray status` on the head node, or scripts/services/ray start for the test cluster)")]
    Unreachable { address: String, reason: String },
    /// Ray answered with an HTTP error.
    #[error("Ray at {address} refused {method} {path}: HTTP {status}: {message}")]
    Http {
        address: String,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// Ray answered something that is not what its Jobs API sends.
    #[error("unexpected answer from Ray at {address} to {method} {path}: {reason}")]
    Protocol {
        address: String,
        method: &'static str,
        path: String,
        reason: String,
    },
    /// The command line or run description cannot work.
    #[error("{0}")]
    Invalid(String),
    /// Ray could not be asked about the jobs for too long while a run was being followed.
    #[error("lost contact with Ray while following run {run_id}: {source}; the jobs may still be running: `magpie cluster status --run {run_id}`")]
    LostContact {
        run_id: String,
        #[source]
        source: Box<Error>,
    },
    /// Ctrl-C: the run's unfinished jobs were asked to stop.
    #[error("interrupted: the unfinished shard jobs of run {run_id} were stopped; finished shards are kept, and `magpie cluster submit --run-id {run_id} …` picks up the rest")]
    Interrupted { run_id: String },
    /// Some shards failed on every try.
    #[error("{}", shards_failed(.run_id, .failures))]
    ShardsFailed {
        run_id: String,
        failures: Vec<ShardFailure>,
    },
}

impl Error {
    /// Whether Ray answered 404 (no such job).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Http { status: 404, .. })
    }
}

fn shards_failed(run_id: &str, failures: &[ShardFailure]) -> String {
    let mut text = format!(
        "run {run_id}: {} shard(s) failed on every try:",
        failures.len()
    );
    for f in failures {
        text.push_str(&format!(
            "\n  shard {} ({} tries, last job {}): {}",
            f.shard, f.tries, f.submission_id, f.reason
        ));
        if f.log_tail.is_empty() {
            text.push_str("\n    (its log is empty)");
        } else {
            text.push_str(&format!("\n    last lines of {}'s log:", f.submission_id));
            for line in &f.log_tail {
                text.push_str(&format!("\n    | {line}"));
            }
        }
    }
    text
}
