//! `magpie-cluster`: embedding a huge photo collection on many hosts with a Ray cluster.
//!
//! Magpie talks to Ray only through the Jobs REST API of the Ray dashboard (`http://HEAD:8265`),
//! so no Python is needed on the submitting side: [`RayJobs`] submits, lists, reads the logs of
//! and stops jobs. [`submit_run`] is the driver of `magpie cluster submit`: one Ray job per shard,
//! whose entrypoint is `<magpie> embed-shard --shard K/N <the rest>` ([`ShardCommand`]); it polls
//! the jobs, follows each running shard's `magpie-shard-progress` lines ([`progress`]), shows one
//! progress bar for the whole cluster ([`display`]), resubmits failed or stopped shards, and ends
//! with a [`RunSummary`]. [`run_status`] is `magpie cluster status`: the newest (or a named) run's
//! shards from the job list and logs.
//!
//! The workers run the same `magpie` binary on the same paths as the submitting host, so the
//! binary, the photos, the model and the output folder must be on storage every node sees.

pub mod client;
pub mod display;
pub mod driver;
pub mod entrypoint;
mod error;
pub mod progress;
pub mod status;

pub use client::{JobDetails, JobStatus, JobSubmission, JobsApi, RayJobs};
pub use display::Display;
pub use driver::{submit_run, Observer, RunPlan, RunSummary, RunView, ShardFailure, ShardView};
pub use entrypoint::{new_run_id, submission_id, validate_run_id, ShardCommand};
pub use error::{Error, Result};
pub use progress::{newest_progress, ShardProgress, PROGRESS_PREFIX};
pub use status::{run_status, RunStatus, ShardStatus};
