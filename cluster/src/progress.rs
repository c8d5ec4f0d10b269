//! Following a shard job: `magpie embed-shard` prints, about once a second and at the end,
//! lines like
//!
//! ```text
//! magpie-shard-progress {"shard":1,"shards":3,"done":120,"total":400,"failed":2}
//! ```
//!
//! on stdout, which Ray keeps as the job's log. The newest such line of a job's log is how far
//! that shard has got.

pub use magpie_shard::{ShardProgress, PROGRESS_PREFIX};

/// The newest progress line in `logs` (of shard `shard` when given; a line of another shard
/// would be a mix-up and is ignored).
pub fn newest_progress(logs: &str, shard: Option<u32>) -> Option<ShardProgress> {
    logs.lines()
        .rev()
        .filter_map(ShardProgress::parse)
        .find(|p| shard.is_none_or(|s| p.shard == s))
}

/// The last `n` lines of `logs` that are not progress lines (what to show of a failed job).
pub fn log_tail(logs: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = logs
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && ShardProgress::parse(l).is_none())
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_parses() {
        let p = ShardProgress::parse(
            r#"magpie-shard-progress {"shard":1,"shards":3,"done":120,"total":400,"failed":2}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            ShardProgress {
                shard: 1,
                shards: 3,
                done: 120,
                total: 400,
                failed: 2
            }
        );
        // Carriage returns, spaces and a missing `failed` are fine.
        let p = ShardProgress::parse(
            "magpie-shard-progress  {\"shard\": 0, \"shards\": 2, \"done\": 0, \"total\": 5}\r",
        )
        .unwrap();
        assert_eq!((p.shard, p.done, p.total, p.failed), (0, 0, 5, 0));
    }

    #[test]
    fn other_lines_are_not_progress() {
        for line in [
            "",
            "hi",
            "magpie-shard-progress",
            "magpie-shard-progress {",
            "magpie-shard-progress {\"shard\":1}",
            "magpie-shard-progressive {\"shard\":1,\"shards\":3,\"done\":1,\"total\":4}",
            "magpie-shard-progress {\"shard\":-1,\"shards\":3,\"done\":1,\"total\":4}",
            "Running entrypoint for job magpie-r-shard-1-try-1: exec magpie embed-shard --shard 1/3",
        ] {
            assert_eq!(ShardProgress::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_newest_line_of_the_shard_wins() {
        let logs = "2026-12-02 10:24:51,716\tINFO job_manager.py:581 -- Runtime env is setting up.\n\
            Running entrypoint for job x: exec magpie embed-shard --shard 1/3 /photos\n\
            magpie-shard-progress {\"shard\":1,\"shards\":3,\"done\":0,\"total\":40,\"failed\":0}\n\
            magpie-shard-progress {\"shard\":1,\"shards\":3,\"done\":17,\"total\":40,\"failed\":1}\n\
            magpie-shard-progress {\"shard\":2,\"shards\":3,\"done\":39,\"total\":40,\"failed\":0}\n\
            magpie-shard-progress {\"shard\":1,\"shards\":3,\"done\":2\n\
            some warning\n";
        let p = newest_progress(logs, Some(1)).unwrap();
        assert_eq!((p.done, p.total, p.failed), (17, 40, 1));
        assert_eq!(newest_progress(logs, None).unwrap().shard, 2);
        assert_eq!(newest_progress(logs, Some(0)), None);
        assert_eq!(newest_progress("", None), None);
    }

    #[test]
    fn the_log_tail_leaves_progress_out() {
        let logs = "a\nmagpie-shard-progress {\"shard\":1,\"shards\":3,\"done\":0,\"total\":40}\nb\n\nc\r\nKilled\n";
        assert_eq!(log_tail(logs, 3), ["b", "c", "Killed"]);
        assert_eq!(log_tail(logs, 10), ["a", "b", "c", "Killed"]);
        assert!(log_tail("", 5).is_empty());
    }
}
