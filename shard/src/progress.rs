//! Progress for machines: the line a running `magpie embed-shard` prints on stdout, and its
//! parser, for the Ray driver that reads job logs.
//!
//! ```text
//! magpie-shard-progress {"shard":3,"shards":16,"done":120,"total":5000,"failed":2}
//! ```
//! One JSON object after a fixed prefix, on a line of its own, at most about once a second and
//! once at the end (with `done == total` when the shard was written or skipped). `total` counts
//! the files selected for the shard, `done` those finished one way or another (embedded, failed,
//! not an image), `failed` those that could not be embedded.

use serde::{Deserialize, Serialize};

use crate::select::ShardSelection;

/// What starts every progress line (a space separates it from the JSON).
pub const PROGRESS_PREFIX: &str = "magpie-shard-progress";

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    pub shard: u32,
    pub shards: u32,
    pub done: u64,
    pub total: u64,
    #[serde(default)]
    pub failed: u64,
}

impl ShardProgress {
    pub fn new(selection: ShardSelection, done: u64, total: u64, failed: u64) -> Self {
        Self {
            shard: selection.index,
            shards: selection.count,
            done,
            total,
            failed,
        }
    }

    /// The line to print (without the newline).
    pub fn line(&self) -> String {
        // Serialising four integers cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{PROGRESS_PREFIX} {json}")
    }

    /// The report in a log line, if it is one (anything else, e.g. other log output, is `None`).
    pub fn parse(line: &str) -> Option<Self> {
        let json = line
            .trim()
            .strip_prefix(PROGRESS_PREFIX)?
            .strip_prefix(' ')?;
        serde_json::from_str(json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_exactly_the_agreed_form_and_parse_back() {
        let progress = ShardProgress::new(ShardSelection::new(3, 16).unwrap(), 120, 5000, 2);
        let line = progress.line();
        assert_eq!(
            line,
            r#"magpie-shard-progress {"shard":3,"shards":16,"done":120,"total":5000,"failed":2}"#
        );
        assert_eq!(ShardProgress::parse(&line), Some(progress));
        assert_eq!(ShardProgress::parse(&format!("{line}\r\n")), Some(progress));
        assert_eq!(ShardProgress::parse("WARN cannot index /x.jpg"), None);
        assert_eq!(ShardProgress::parse("magpie-shard-progress {"), None);
    }
}
