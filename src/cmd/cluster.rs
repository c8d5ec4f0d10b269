//! `magpie cluster submit` and `magpie cluster status`: embedding on many hosts through a Ray
//! cluster's Jobs API. The work is `magpie_cluster` (the client, the driver, the display, the
//! status table); this module parses the arguments, fills in the defaults that need this
//! process (its own binary, the settings the jobs inherit) and turns Ctrl-C into stopping the
//! run's jobs.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use magpie_cluster::{
    new_run_id, run_status, submit_run, validate_run_id, Display, RayJobs, RunPlan, ShardCommand,
};

use super::Context;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Embed photos on a Ray cluster: one `magpie embed-shard` job per shard, followed with one
    /// progress bar, failed shards retried.
    ///
    /// The workers run the same `magpie` binary on the same paths as this host: the binary, the
    /// photos (or file list), the model and the --out folder must be on storage every node
    /// sees (a shared or network file system). Relative paths are made absolute here first.
    ///
    /// Example: magpie cluster submit --ray http://head:8265 --shards 16 --gpus-per-shard 1 --
    /// /shared/photos --out /shared/emb --model /shared/models/clip
    Submit(SubmitArgs),
    /// Where the shards of a run stand: shard, state, try, images done of total (from Ray's job
    /// list and the jobs' logs).
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The Ray cluster's Jobs API: the dashboard's address, e.g. http://HEAD:8265.
    #[arg(long, env = "MAGPIE_RAY", value_name = "URL")]
    pub ray: String,
    /// How many shards (= Ray jobs) to split the photos into.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub shards: u32,
    /// GPUs Ray reserves for each shard job (entrypoint_num_gpus; default none).
    #[arg(long, value_name = "G")]
    pub gpus_per_shard: Option<f64>,
    /// CPUs Ray reserves for each shard job (entrypoint_num_cpus).
    #[arg(long, value_name = "C", default_value_t = 1.0)]
    pub cpus_per_shard: f64,
    /// How many times a failed or stopped shard is submitted again.
    #[arg(long, value_name = "R", default_value_t = 2)]
    pub retries: u32,
    /// The magpie binary the workers run (default: this one). Every node must see it at this
    /// path.
    #[arg(long, value_name = "PATH")]
    pub magpie: Option<PathBuf>,
    /// Name of the run (letters, digits, '-', '_'; default: the UTC time and four hex digits).
    /// Submitting a run id again picks it up: done shards are kept, failed ones run again.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// The arguments of `magpie embed-shard` after `--`: ROOT… or --file-list F, then --out DIR
    /// and optionally --model DIR (without --shard: each job gets its own).
    #[arg(
        last = true,
        required = true,
        value_name = "EMBED_SHARD_ARGS",
        allow_hyphen_values = true
    )]
    pub embed_shard: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The Ray cluster's Jobs API: the dashboard's address, e.g. http://HEAD:8265.
    #[arg(long, env = "MAGPIE_RAY", value_name = "URL")]
    pub ray: String,
    /// The run to show (default: the newest run on the cluster).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// The settings a shard job inherits from this process (its environment is Ray's, not ours).
const INHERITED: [&str; 3] = ["MAGPIE_MODELS", "MAGPIE_MODEL", "MAGPIE_LOG"];

pub fn run(command: ClusterCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Submit(args) => submit(args, ctx),
        ClusterCommand::Status(args) => status(args),
    }
}

fn submit(args: SubmitArgs, ctx: &Context) -> anyhow::Result<()> {
    let ray = RayJobs::new(&args.ray)?;
    let run_id = match args.run_id {
        Some(id) => {
            validate_run_id(&id)?;
            id
        }
        None => new_run_id(),
    };
    for (name, value) in [
        ("--cpus-per-shard", Some(args.cpus_per_shard)),
        ("--gpus-per-shard", args.gpus_per_shard),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            anyhow::bail!("{name} must be a number of at least 0");
        }
    }
    let magpie = match args.magpie {
        Some(path) => path,
        None => std::env::current_exe().context("cannot tell which magpie binary this is")?,
    };
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let command = ShardCommand::new(&magpie, &args.embed_shard, &cwd)?;
    let plan = RunPlan {
        run_id: run_id.clone(),
        shards: args.shards as usize,
        command,
        cpus_per_shard: Some(args.cpus_per_shard),
        gpus_per_shard: args.gpus_per_shard,
        retries: args.retries,
        env: inherited_settings(ctx, &cwd),
        poll: Duration::from_millis(500),
        check_manifests: true,
        manifest_grace: magpie_cluster::driver::MANIFEST_GRACE,
    };
    eprintln!(
        "run {run_id}: {} shard jobs on Ray at {} (`magpie cluster status --run {run_id}`)",
        plan.shards,
        args.ray.trim_end_matches('/')
    );
    let cancel = cancel_on_ctrl_c();
    let mut display = Display::new(std::io::stderr().is_terminal(), Duration::from_secs(5));
    let summary = submit_run(&ray, &plan, &mut display, &cancel)?;
    eprintln!("{summary}");
    summary.check()?;
    Ok(())
}

/// The `MAGPIE_*` settings that decide how `embed-shard` runs: the ONNX Runtime library (as
/// this process resolved it), the config file, the model store.
fn inherited_settings(ctx: &Context, cwd: &std::path::Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let absolute = |p: &std::path::Path| cwd.join(p).to_string_lossy().into_owned();
    if let Some(ort) = &ctx.global.ort_lib {
        env.insert("MAGPIE_ORT_LIB".to_string(), absolute(ort));
    }
    if let Some(config) = &ctx.global.config {
        env.insert("MAGPIE_CONFIG".to_string(), absolute(config));
    }
    for name in INHERITED {
        if let Ok(value) = std::env::var(name) {
            env.insert(name.to_string(), value);
        }
    }
    env
}

/// Ctrl-C sets the flag: the driver stops the run's unfinished jobs and returns.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting now (the shard jobs keep running)");
            std::process::exit(130);
        }
        eprintln!("interrupted: stopping the run's unfinished jobs (Ctrl-C again to exit now)");
    });
    if let Err(e) = installed {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    cancel
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let ray = RayJobs::new(&args.ray)?;
    let status = run_status(&ray, args.run.as_deref())?;
    println!("{status}");
    Ok(())
}
