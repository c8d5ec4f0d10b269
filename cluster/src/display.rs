//! How a run looks while it goes: on a terminal one indicatif bar for the whole cluster (images
//! done of the shards' totals, shards done of N, running shards, images/s), as `magpie index`
//! shows its own; otherwise a plain line every few seconds. Events (a shard done, a try ended)
//! are lines of their own either way, on stderr.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::driver::{Observer, RunView};

/// The bar, or the periodic lines.
pub struct Display {
    bar: Option<ProgressBar>,
    every: Duration,
    last_line: Option<Instant>,
}

impl Display {
    /// `terminal`: draw a bar (stderr is a terminal); else print a line every `every`.
    pub fn new(terminal: bool, every: Duration) -> Self {
        let bar = terminal.then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(magpie_indexer::progress::IMAGE_BAR_TEMPLATE)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Self {
            bar,
            every,
            last_line: None,
        }
    }
}

/// `shards 1/3 done, 2 running, 1 retry, 35.2 images/s`.
pub fn status_line(view: &RunView<'_>) -> String {
    let mut text = format!(
        "shards {}/{} done, {} running",
        view.shards_done(),
        view.shards.len(),
        view.running()
    );
    if view.retries > 0 {
        text.push_str(&format!(
            ", {} {}",
            view.retries,
            if view.retries == 1 {
                "retry"
            } else {
                "retries"
            }
        ));
    }
    if view.shards_failed() > 0 {
        text.push_str(&format!(", {} failed", view.shards_failed()));
    }
    text.push_str(&format!(", {:.1} images/s", view.images_per_second()));
    text
}

impl Observer for Display {
    fn update(&mut self, view: &RunView<'_>) {
        if let Some(bar) = &self.bar {
            bar.set_length(view.images_total());
            bar.set_position(view.images_done());
            bar.set_message(status_line(view));
            return;
        }
        if self.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last_line = Some(Instant::now());
        let total = if view.totals_known() {
            view.images_total().to_string()
        } else {
            format!("{}+", view.images_total())
        };
        eprintln!(
            "run {}: images {}/{total}, {}",
            view.run_id,
            view.images_done(),
            status_line(view)
        );
    }

    fn note(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::JobStatus;
    use crate::driver::ShardView;
    use crate::progress::ShardProgress;

    #[test]
    fn the_status_line_sums_up_the_cluster() {
        let shard = |done: u64, total: u64, finished: bool, status| ShardView {
            shard: 0,
            attempt: 1,
            status,
            progress: Some(ShardProgress {
                shard: 0,
                shards: 3,
                done,
                total,
                failed: 0,
            }),
            total: Some(total),
            done: finished,
            failed: false,
        };
        let shards = [
            shard(10, 10, true, JobStatus::Succeeded),
            shard(5, 10, false, JobStatus::Running),
            shard(0, 10, false, JobStatus::Pending),
        ];
        let view = RunView {
            run_id: "r",
            shards: &shards,
            elapsed: Duration::from_secs(3),
            images_before: 0,
            retries: 1,
        };
        assert_eq!(
            status_line(&view),
            "shards 1/3 done, 1 running, 1 retry, 5.0 images/s"
        );
    }
}
