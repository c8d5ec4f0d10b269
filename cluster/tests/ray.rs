//! The client and the driver against the real Ray cluster `scripts/test` starts
//! (`scripts/services/ray start`: two nodes on 127.0.0.1; `MAGPIE_RAY` says where). Without it
//! these tests fail with the fix, as every prerequisite of `scripts/test` does.
//!
//! The shard jobs here run a stand-in for `magpie` (a shell script that prints the
//! `magpie-shard-progress` lines and writes the manifest), so the Ray side is tested on its own;
//! `tests/cluster.rs` at the root runs the real `magpie embed-shard`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use magpie_cluster::{
    submit_run, JobStatus, JobSubmission, JobsApi, Observer, RayJobs, RunPlan, RunView,
    ShardCommand,
};

/// Stops every unfinished job whose id starts with `prefix` when dropped (also on a failing
/// test), so no test leaves work on the cluster.
struct StopJobs<'a> {
    ray: &'a RayJobs,
    prefix: String,
}

impl Drop for StopJobs<'_> {
    fn drop(&mut self) {
        let Ok(jobs) = self.ray.list() else { return };
        for job in jobs {
            if let Some(id) = &job.submission_id {
                if id.starts_with(&self.prefix) && !job.status.is_terminal() {
                    let _ = self.ray.stop(id);
                }
            }
        }
    }
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos:08x}", std::process::id())
}

fn wait_for_end(ray: &RayJobs, id: &str, limit: Duration) -> JobStatus {
    let started = Instant::now();
    loop {
        let status = ray.status(id).unwrap().status;
        if status.is_terminal() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "{id} still {status:?} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn submit_status_list_logs_and_stop_against_ray() {
    let ray = RayJobs::new(&magpie_testkit::ray_address()).unwrap();
    assert!(ray.version().unwrap().starts_with("2."));
    let prefix = unique("magpie-test-client");
    let _cleanup = StopJobs {
        ray: &ray,
        prefix: prefix.clone(),
    };
    let quick = format!("{prefix}-quick");
    let job = JobSubmission {
        entrypoint: "echo hi; sleep 1; echo \"$MAGPIE_FAKE\"".into(),
        submission_id: Some(quick.clone()),
        metadata: [("magpie_run".to_string(), prefix.clone())].into(),
        entrypoint_num_cpus: Some(1.0),
        runtime_env: Some(magpie_cluster::client::RuntimeEnv {
            env_vars: [("MAGPIE_FAKE".to_string(), "forwarded".to_string())].into(),
        }),
        ..JobSubmission::default()
    };
    assert_eq!(ray.submit(&job).unwrap(), quick);
    // The same id again is refused, with Ray's own reason.
    let again = ray.submit(&job).unwrap_err().to_string();
    assert!(again.contains("already exists"), "{again}");
    assert_eq!(
        wait_for_end(&ray, &quick, Duration::from_secs(60)),
        JobStatus::Succeeded
    );
    let details = ray.status(&quick).unwrap();
    assert_eq!(details.meta("magpie_run"), Some(prefix.as_str()));
    assert_eq!(details.driver_exit_code, Some(0));
    let logs = ray.logs(&quick).unwrap();
    // The entrypoint's output, with the job's own environment variable.
    assert!(logs.lines().any(|l| l == "hi"), "{logs}");
    assert!(logs.lines().any(|l| l == "forwarded"), "{logs}");
    assert!(ray
        .list()
        .unwrap()
        .iter()
        .any(|j| j.submission_id.as_deref() == Some(quick.as_str())));

    let slow = format!("{prefix}-slow");
    ray.submit(&JobSubmission {
        entrypoint: "sleep 120".into(),
        submission_id: Some(slow.clone()),
        entrypoint_num_cpus: Some(1.0),
        ..JobSubmission::default()
    })
    .unwrap();
    assert!(ray.stop(&slow).unwrap());
    assert_eq!(
        wait_for_end(&ray, &slow, Duration::from_secs(60)),
        JobStatus::Stopped
    );
    // Stopping it again: it had already ended.
    assert!(!ray.stop(&slow).unwrap());

    let missing = ray.logs(&format!("{prefix}-never")).unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(missing.to_string().contains("does not exist"), "{missing}");
}

/// A stand-in for `magpie`: `embed-shard --shard K/N … --out DIR` counts to 5+K with a progress
/// line every 0.2 s and writes the manifest; shard 1 kills itself half-way on its first try.
const FAKE_MAGPIE: &str = r#"#!/bin/sh
[ "$1" = embed-shard ] || exit 2
shift
shard=; out=
while [ $# -gt 0 ]; do
  case "$1" in
    --shard) shard=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "$shard" ] && [ -n "$out" ] || { echo "usage: embed-shard --shard K/N --out DIR" >&2; exit 2; }
k=${shard%/*}; n=${shard#*/}
total=$((5 + k))
mkdir -p "$out/shards"
d=0
while [ "$d" -le "$total" ]; do
  echo "magpie-shard-progress {\"shard\":$k,\"shards\":$n,\"done\":$d,\"total\":$total,\"failed\":0}"
  if [ "$k" = 1 ] && [ "$d" = 2 ] && [ ! -e "$out/killed-once" ]; then
    touch "$out/killed-once"; echo "shard 1 dies"; kill -9 $$
  fi
  d=$((d + 1))
  sleep 0.2
done
echo "{\"shard\":$k,\"env\":\"$MAGPIE_FAKE\"}" > "$out/shards/shard_$k.json"
"#;

fn fake_magpie(dir: &Path) -> PathBuf {
    let path = dir.join("fake-magpie");
    std::fs::write(&path, FAKE_MAGPIE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[derive(Default)]
struct Notes(Vec<String>, usize);

impl Observer for Notes {
    fn update(&mut self, _view: &RunView<'_>) {
        self.1 += 1;
    }
    fn note(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
    fn finish(&mut self) {}
}

fn plan(run_id: &str, dir: &Path, out: &str, retries: u32) -> RunPlan {
    RunPlan {
        run_id: run_id.to_string(),
        shards: 3,
        command: ShardCommand::new(
            &fake_magpie(dir),
            &["/photos".to_string(), "--out".into(), out.to_string()],
            dir,
        )
        .unwrap(),
        cpus_per_shard: Some(1.0),
        gpus_per_shard: None,
        retries,
        env: [("MAGPIE_FAKE".to_string(), "forwarded".to_string())].into(),
        poll: Duration::from_millis(500),
        check_manifests: true,
        manifest_grace: Duration::from_secs(5),
    }
}

#[test]
fn the_driver_runs_every_shard_and_retries_a_killed_one() {
    let ray = RayJobs::new(&magpie_testkit::ray_address()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run_id = unique("drv");
    let _cleanup = StopJobs {
        ray: &ray,
        prefix: format!("magpie-{run_id}-"),
    };
    let plan = plan(&run_id, dir.path(), "out", 2);
    let mut notes = Notes::default();
    let started = Instant::now();
    let summary = submit_run(&ray, &plan, &mut notes, &AtomicBool::new(false)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(
        (summary.done, summary.retried, summary.failures.len()),
        (3, 1, 0),
        "{summary}\n{:?}",
        notes.0
    );
    // Every shard's final line: 5 + 6 + 7 files.
    assert_eq!(summary.images, 18, "{summary}");
    assert!(notes.1 > 2);
    assert!(
        notes
            .0
            .iter()
            .any(|n| n.contains("shard 1/3 try 1 ended: exit code") && n.contains("(killed)")),
        "{:?}",
        notes.0
    );
    for k in 0..3 {
        let manifest =
            std::fs::read_to_string(dir.path().join(format!("out/shards/shard_{k}.json"))).unwrap();
        assert!(manifest.contains("\"env\":\"forwarded\""), "{manifest}");
    }
    let retried = ray
        .status(&format!("magpie-{run_id}-shard-1-try-2"))
        .unwrap();
    assert_eq!(retried.meta("try"), Some("2"));
    assert_eq!(retried.meta("shard"), Some("1/3"));
    let status = magpie_cluster::run_status(&ray, Some(&run_id)).unwrap();
    assert_eq!(status.done(), 3, "{status}");
    assert!(status.to_string().contains("3/3 shards done"), "{status}");
}

#[test]
fn a_shard_that_fails_every_try_is_named_with_its_log() {
    let ray = RayJobs::new(&magpie_testkit::ray_address()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run_id = unique("fail");
    let _cleanup = StopJobs {
        ray: &ray,
        prefix: format!("magpie-{run_id}-"),
    };
    let mut plan = plan(&run_id, dir.path(), "out", 1);
    plan.shards = 1;
    // No such binary on any node: every try fails the same way.
    plan.command.magpie = dir.path().join("no-such-magpie");
    let summary = submit_run(&ray, &plan, &mut Notes::default(), &AtomicBool::new(false)).unwrap();
    assert_eq!((summary.done, summary.retried), (0, 1), "{summary}");
    let err = summary.check().unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "shard 0/1 (2 tries, last job magpie-{run_id}-shard-0-try-2)"
        )),
        "{err}"
    );
    assert!(err.contains("no-such-magpie"), "{err}");
}
