//! Prometheus metrics (text exposition format 0.0.4) for `/metrics`: requests by route, method
//! and status, a latency histogram per route, and library gauges.
//!
//! Labels only ever hold route *patterns* (`/api/images/{id}`), standard method names and status
//! codes — never text from the request — so a client can neither inject into the output nor
//! grow it without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    counters: Mutex<Counters>,
    /// Whole-library near-duplicate passes computed (the rest were answered from the cache).
    duplicate_passes: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            counters: Mutex::new(Counters::default()),
            duplicate_passes: AtomicU64::new(0),
        }
    }
}

/// Library numbers shown next to the request metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct LibraryGauges {
    pub images: u64,
    pub generation: u64,
    pub failures: u64,
    pub indexing_active: bool,
}

/// A method name safe to use as a label.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

impl Metrics {
    pub fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *counters
            .requests
            .entry((route.to_string(), method, status))
            .or_default() += 1;
        let histogram = counters.latency.entry(route.to_string()).or_default();
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        histogram.counts[slot] += 1;
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// Counts one whole-library near-duplicate pass.
    pub(crate) fn duplicate_pass(&self) {
        self.duplicate_passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Near-duplicate passes computed so far.
    pub fn duplicate_passes(&self) -> u64 {
        self.duplicate_passes.load(Ordering::Relaxed)
    }

    /// The exposition text.
    pub fn render(&self, library: &LibraryGauges) -> String {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP magpie_http_requests_total HTTP requests by route pattern, method and status."
        );
        let _ = writeln!(out, "# TYPE magpie_http_requests_total counter");
        for ((route, method, status), count) in &counters.requests {
            let _ = writeln!(
                out,
                "magpie_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                escape_label(route)
            );
        }
        let _ = writeln!(out, "# HELP magpie_http_request_duration_seconds Time to answer a request, by route pattern.");
        let _ = writeln!(out, "# TYPE magpie_http_request_duration_seconds histogram");
        for (route, histogram) in &counters.latency {
            let route = escape_label(route);
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&histogram.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "magpie_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "magpie_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "magpie_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "magpie_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        let gauges = [
            (
                "magpie_library_images",
                "Images in the library (current generation).",
                library.images,
            ),
            (
                "magpie_library_generation",
                "Library generation being served.",
                library.generation,
            ),
            (
                "magpie_library_failures",
                "Files the indexer could not index.",
                library.failures,
            ),
            (
                "magpie_indexing_active",
                "1 while an indexer reports progress.",
                u64::from(library.indexing_active),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP magpie_duplicate_passes_total Near-duplicate groupings computed over the whole library (once per generation and threshold; the rest come from the cache)."
        );
        let _ = writeln!(out, "# TYPE magpie_duplicate_passes_total counter");
        let _ = writeln!(
            out,
            "magpie_duplicate_passes_total {}",
            self.duplicate_passes()
        );
        let _ = writeln!(
            out,
            "# HELP magpie_uptime_seconds Seconds since the server started."
        );
        let _ = writeln!(out, "# TYPE magpie_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "magpie_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("/api/search", "GET", 200, 0.004);
        metrics.record("/api/search", "GET", 200, 0.2);
        metrics.record("/api/search", "GET", 400, 30.0);
        let text = metrics.render(&LibraryGauges {
            images: 12,
            ..LibraryGauges::default()
        });
        assert!(text.contains(
            r#"magpie_http_requests_total{route="/api/search",method="GET",status="200"} 2"#
        ));
        assert!(text.contains(
            r#"magpie_http_request_duration_seconds_bucket{route="/api/search",le="0.005"} 1"#
        ));
        assert!(text.contains(
            r#"magpie_http_request_duration_seconds_bucket{route="/api/search",le="0.25"} 2"#
        ));
        assert!(text.contains(
            r#"magpie_http_request_duration_seconds_bucket{route="/api/search",le="+Inf"} 3"#
        ));
        assert!(text.contains("magpie_library_images 12\n"));
    }
}
