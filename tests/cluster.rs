//! `magpie cluster submit` on the real binary against the two-node Ray cluster `scripts/test`
//! starts: a real `magpie embed-shard` job killed half-way through its shard (once its first
//! thumbnails are written) is submitted again by the driver and completes; every photo ends up
//! in exactly one shard, and `magpie cluster status` shows the run done.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The pids of running processes whose command line holds every one of `words`.
fn processes_with(words: &[&str]) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if words.iter().all(|w| args.iter().any(|a| a == w)) {
            pids.push(pid);
        }
    }
    pids
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_shard_job_killed_half_way_is_retried_and_completes() {
    let home = tempfile::tempdir().unwrap();
    let photos = home.path().join("photos");
    let mut files = colour_library(&photos);
    // More photos, large enough that decoding and thumbnailing them keeps shard 1 busy for
    // seconds at one image per batch: with tiny ones it was done in a tenth of a second, before
    // the test could see it running, on a fast machine.
    for i in 0..120 {
        let path = photos.join(format!("more/colour_{i:03}.jpg"));
        save(
            &colour_image([(i * 2) as u8, 90, 200], 1600, 1200, i),
            &path,
        );
        files.push(path);
    }
    let out = home.path().join("shards");
    let run_id = format!("kill-{}", std::process::id());
    let mut submit = magpie(home.path());
    submit
        .args(["cluster", "submit", "--ray", &magpie_testkit::ray_address()])
        .args(["--shards", "2", "--retries", "2", "--run-id", &run_id, "--"])
        .arg(&photos)
        .arg("--out")
        .arg(&out)
        .arg("--model")
        .arg(test_model("colour"))
        .args(["--batch-size", "1", "--workers", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = magpie_testkit::ChildGuard::spawn(&mut submit);

    // Shard 1's first try: killed once its first thumbnails are on disk, half-way through.
    let staging = out.join("thumbs").join(".shard_1.partial");
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed = loop {
        assert!(
            Instant::now() < deadline,
            "shard 1 never started writing thumbnails"
        );
        let pids = processes_with(&["embed-shard", "1/2"]);
        if !pids.is_empty() && files_in(&staging) > 0 {
            for pid in &pids {
                // SAFETY: kill(2) with a pid read from /proc; no memory is touched.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            break pids;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(!killed.is_empty());
    assert!(
        !out.join("shards/shard_1.json").exists(),
        "shard 1 was already complete when it was killed"
    );

    let output = child.into_inner().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("2/2 shards done, 1 retried, 0 failed"),
        "{stderr}"
    );

    // Every photo in exactly one shard, none twice after the retry.
    let mut rows = 0;
    for k in 0..2 {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("shards/shard_{k}.json"))).unwrap(),
        )
        .unwrap();
        rows += manifest["rows"].as_u64().unwrap();
    }
    assert_eq!(rows as usize, files.len());
    assert!(
        !staging.exists(),
        "the killed try's staging folder was replaced"
    );

    let status = ok(magpie(home.path())
        .args(["cluster", "status", "--ray", &magpie_testkit::ray_address()])
        .args(["--run", &run_id]));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("2/2 shards done"), "{status}");
}
