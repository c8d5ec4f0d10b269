//! A client for Ray's Jobs REST API (the dashboard port, 8265 by default), as Ray 2.60 serves it
//! (`ray/dashboard/modules/job/job_head.py`, the request and answer types in `common.py` and
//! `pydantic_models.py`):
//!
//! | call | request | answer |
//! |---|---|---|
//! | submit | `POST /api/jobs/` with a [`JobSubmission`] | `{"job_id", "submission_id"}` |
//! | status | `GET /api/jobs/{id}` | one [`JobDetails`] |
//! | list | `GET /api/jobs/` | an array of [`JobDetails`] (submission jobs and plain drivers) |
//! | logs | `GET /api/jobs/{id}/logs` | `{"logs": "…"}` (the entrypoint's stdout and stderr) |
//! | stop | `POST /api/jobs/{id}/stop` | `{"stopped": bool}` (false: it had already ended) |
//!
//! Errors come back as plain text, often a Python traceback whose last exception line is the
//! message ([`server_message`] picks it). Every request has bounded timeouts; a server that does
//! not answer is [`Error::Unreachable`] naming the address and the reason.
//!
//! [`JobsApi`] is the part of the client the driver uses, so its logic is tested with a fake.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long to wait for a TCP connection to the dashboard.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one whole request may take (a submit waits for Ray to start the job's supervisor).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an answer that is read (logs of a long job are the largest).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// What the driver needs from Ray (implemented by [`RayJobs`], and by a fake in the tests).
pub trait JobsApi {
    /// The address, for messages.
    fn address(&self) -> &str;
    /// Submits a job; returns its submission id.
    fn submit(&self, job: &JobSubmission) -> Result<String>;
    /// Every job the cluster knows.
    fn list(&self) -> Result<Vec<JobDetails>>;
    /// The job's output so far.
    fn logs(&self, submission_id: &str) -> Result<String>;
    /// Asks the job to stop; `false` when it had already ended.
    fn stop(&self, submission_id: &str) -> Result<bool>;
}

/// The body of `POST /api/jobs/` (Ray's `JobSubmitRequest`; metadata values must be strings).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobSubmission {
    /// A shell command line, run by `/bin/sh -c` on the node Ray picks.
    pub entrypoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint_num_gpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_env: Option<RuntimeEnv>,
}

/// The part of Ray's `runtime_env` Magpie uses: environment variables for the entrypoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuntimeEnv {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
}

/// A job's state (Ray's `JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for resources or for its runtime environment.
    Pending,
    Running,
    /// Stopped on request (or its node went away).
    Stopped,
    Succeeded,
    Failed,
    /// A state this client does not know (a newer Ray).
    #[serde(other)]
    Unknown,
}

impl JobStatus {
    /// STOPPED, SUCCEEDED and FAILED never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Stopped | JobStatus::Succeeded | JobStatus::Failed
        )
    }

    /// Lower-case, for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Stopped => "stopped",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Unknown => "unknown",
        }
    }
}

/// One job as `GET /api/jobs/{id}` and `GET /api/jobs/` describe it (Ray's `JobDetails`; the
/// fields Magpie reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobDetails {
    /// `SUBMISSION` for jobs of the Jobs API, `DRIVER` for scripts that called `ray.init`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub submission_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    pub status: JobStatus,
    #[serde(default)]
    pub entrypoint: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
    /// Unix time in milliseconds.
    #[serde(default)]
    pub start_time: Option<u64>,
    #[serde(default)]
    pub end_time: Option<u64>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The entrypoint's exit status once it ended (137: killed).
    #[serde(default)]
    pub driver_exit_code: Option<i32>,
    #[serde(default)]
    pub driver_node_id: Option<String>,
}

impl JobDetails {
    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Deserialize)]
struct SubmitAnswer {
    submission_id: String,
}

#[derive(Deserialize)]
struct LogsAnswer {
    logs: String,
}

#[derive(Deserialize)]
struct StopAnswer {
    stopped: bool,
}

/// The Jobs API of one Ray cluster.
pub struct RayJobs {
    address: String,
    agent: ureq::Agent,
}

impl RayJobs {
    /// `address` is the dashboard's URL, `http://HEAD:8265` (a bare `HEAD:8265` means http).
    pub fn new(address: &str) -> Result<Self> {
        let address = normalise_address(address)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("magpie/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { address, agent })
    }

    /// `GET /api/jobs/{id}`.
    pub fn status(&self, submission_id: &str) -> Result<JobDetails> {
        let path = format!("/api/jobs/{}", encode_path(submission_id));
        let text = self.request("GET", &path, None)?;
        self.parse("GET", &path, &text)
    }

    /// `GET /api/version`: whether the Jobs API answers (and Ray's version).
    pub fn version(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Version {
            ray_version: String,
        }
        let text = self.request("GET", "/api/version", None)?;
        let v: Version = self.parse("GET", "/api/version", &text)?;
        Ok(v.ray_version)
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        text: &str,
    ) -> Result<T> {
        serde_json::from_str(text).map_err(|e| Error::Protocol {
            address: self.address.clone(),
            method,
            path: path.to_string(),
            reason: format!("{e} in {}", clip(text, 200)),
        })
    }

    /// One request; the answer's text on 2xx, else [`Error::Http`] with the server's message.
    fn request(&self, method: &'static str, path: &str, body: Option<Vec<u8>>) -> Result<String> {
        let url = format!("{}{path}", self.address);
        tracing::debug!(%method, %url, "Ray Jobs API");
        let sent = match (method, body) {
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&body[..]),
            ("POST", None) => self.agent.post(&url).send_empty(),
            _ => self.agent.get(&url).call(),
        };
        let mut response = sent.map_err(|e| Error::Unreachable {
            address: self.address.clone(),
            reason: transport_reason(&e),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| Error::Unreachable {
                address: self.address.clone(),
                reason: format!("the answer broke off: {}", transport_reason(&e)),
            })?;
        if !(200..300).contains(&status) {
            return Err(Error::Http {
                address: self.address.clone(),
                method,
                path: path.to_string(),
                status,
                message: server_message(&text),
            });
        }
        Ok(text)
    }
}

impl JobsApi for RayJobs {
    fn address(&self) -> &str {
        &self.address
    }

    fn submit(&self, job: &JobSubmission) -> Result<String> {
        let body = serde_json::to_vec(job).map_err(|e| Error::Invalid(e.to_string()))?;
        let text = self.request("POST", "/api/jobs/", Some(body))?;
        let answer: SubmitAnswer = self.parse("POST", "/api/jobs/", &text)?;
        Ok(answer.submission_id)
    }

    fn list(&self) -> Result<Vec<JobDetails>> {
        let text = self.request("GET", "/api/jobs/", None)?;
        self.parse("GET", "/api/jobs/", &text)
    }

    fn logs(&self, submission_id: &str) -> Result<String> {
        let path = format!("/api/jobs/{}/logs", encode_path(submission_id));
        let text = self.request("GET", &path, None)?;
        let answer: LogsAnswer = self.parse("GET", &path, &text)?;
        Ok(answer.logs)
    }

    fn stop(&self, submission_id: &str) -> Result<bool> {
        let path = format!("/api/jobs/{}/stop", encode_path(submission_id));
        let text = self.request("POST", &path, None)?;
        let answer: StopAnswer = self.parse("POST", &path, &text)?;
        Ok(answer.stopped)
    }
}

/// `http://host:port` without a trailing slash; a bare `host:port` gets `http://`.
pub fn normalise_address(address: &str) -> Result<String> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(Error::Invalid(
            "no Ray address: give the dashboard's URL, e.g. --ray http://HEAD:8265".into(),
        ));
    }
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("http", trimmed));
    if scheme != "http" && scheme != "https" {
        return Err(Error::Invalid(format!(
            "Ray address {address}: the Jobs API is http(s), e.g. http://HEAD:8265"
        )));
    }
    // The Jobs API lives under /api on the dashboard; a path would double it.
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(Error::Invalid(format!(
            "Ray address {address}: give the dashboard's scheme, host and port only, e.g. http://HEAD:8265"
        )));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// Why a request did not get an answer, in a few words.
fn transport_reason(e: &ureq::Error) -> String {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused".into(),
            ErrorKind::ConnectionReset => "connection reset".into(),
            ErrorKind::TimedOut => "timed out".into(),
            ErrorKind::UnexpectedEof => "the server closed the connection".into(),
            _ => io.to_string(),
        },
        ureq::Error::Timeout(which) => format!("no answer in time ({which})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => other.to_string(),
    }
}

/// The message in an error answer: the last exception line of a Python traceback
/// (`ValueError: Job with submission_id … already exists…`), a JSON answer's `msg`, or the text
/// itself (clipped).
pub fn server_message(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(no message)".into();
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["msg", "message", "error"] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
                return clip(s, 500);
            }
        }
    }
    if body.contains("Traceback (most recent call last)") {
        if let Some(line) = body.lines().rev().find(|l| is_exception_line(l)) {
            return clip(line.trim(), 500);
        }
    }
    clip(body, 500)
}

/// `ValueError: …`, `ray.exceptions.RaySystemError: …` (not indented, a dotted name, a colon).
fn is_exception_line(line: &str) -> bool {
    if line.starts_with(char::is_whitespace) {
        return false;
    }
    let Some((name, _)) = line.split_once(": ") else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && (name.ends_with("Error") || name.ends_with("Exception") || name.ends_with("Exit"))
}

fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// Percent-encodes a path segment (ids Magpie makes need none of it; ids typed by hand might).
fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Ray 2.60 answers `GET /api/jobs/{id}` for a finished job (taken from a real server).
    const FINISHED: &str = r#"{"type": "SUBMISSION", "job_id": null, "submission_id": "probe-1", "driver_info": null, "status": "SUCCEEDED", "entrypoint": "echo hi; sleep 2; echo bye", "message": "Job finished successfully.", "error_type": null, "start_time": 1796207091693, "end_time": 1796207095722, "metadata": {"magpie_run": "r1", "try": "1"}, "runtime_env": {"env_vars": {"MAGPIE_X": "forwarded"}}, "driver_agent_http_address": "http://192.0.2.2:16403", "driver_node_id": "3b818828727a27876d424ff9e2cafbb06d6e1ea481a12843b61c7a38", "driver_exit_code": 0}"#;

    #[test]
    fn job_details_parse_as_ray_sends_them() {
        let job: JobDetails = serde_json::from_str(FINISHED).unwrap();
        assert_eq!(job.submission_id.as_deref(), Some("probe-1"));
        assert_eq!(job.status, JobStatus::Succeeded);
        assert!(job.status.is_terminal());
        assert_eq!(job.meta("magpie_run"), Some("r1"));
        assert_eq!(job.meta("try"), Some("1"));
        assert_eq!(job.driver_exit_code, Some(0));
        assert_eq!(job.start_time, Some(1796207091693));
        assert_eq!(job.kind.as_deref(), Some("SUBMISSION"));
    }

    #[test]
    fn a_job_list_holds_submissions_and_drivers_and_unknown_states() {
        let list = format!(
            r#"[{FINISHED}, {{"type": "DRIVER", "job_id": "01000000", "submission_id": null, "status": "RUNNING", "entrypoint": "", "metadata": {{}}}}, {{"type": "SUBMISSION", "submission_id": "x", "status": "SOMETHING_NEW", "entrypoint": "true", "metadata": null, "message": "Job entrypoint command failed with exit code 137"}}]"#
        );
        let jobs: Vec<JobDetails> = serde_json::from_str(&list).unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[1].status, JobStatus::Running);
        assert_eq!(jobs[1].submission_id, None);
        assert_eq!(jobs[2].status, JobStatus::Unknown);
        assert!(!jobs[2].status.is_terminal());
        assert_eq!(jobs[2].meta("magpie_run"), None);
    }

    #[test]
    fn a_submission_serialises_as_ray_expects_it() {
        let mut metadata = BTreeMap::new();
        metadata.insert("magpie_run".to_string(), "r1".to_string());
        metadata.insert("try".to_string(), "2".to_string());
        let job = JobSubmission {
            entrypoint: "exec /bin/magpie embed-shard --shard 0/3".into(),
            submission_id: Some("magpie-r1-shard-0-try-2".into()),
            metadata,
            entrypoint_num_cpus: Some(1.0),
            entrypoint_num_gpus: None,
            runtime_env: Some(RuntimeEnv {
                env_vars: [("MAGPIE_ORT_LIB".to_string(), "/ort".to_string())].into(),
            }),
        };
        let value: serde_json::Value = serde_json::to_value(&job).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "entrypoint": "exec /bin/magpie embed-shard --shard 0/3",
                "submission_id": "magpie-r1-shard-0-try-2",
                "metadata": {"magpie_run": "r1", "try": "2"},
                "entrypoint_num_cpus": 1.0,
                "runtime_env": {"env_vars": {"MAGPIE_ORT_LIB": "/ort"}}
            })
        );
        // Nothing optional is sent as null: Ray type-checks what is there.
        let bare = serde_json::to_value(JobSubmission {
            entrypoint: "true".into(),
            ..JobSubmission::default()
        })
        .unwrap();
        assert_eq!(bare, serde_json::json!({"entrypoint": "true"}));
    }

    #[test]
    fn the_small_answers_parse() {
        let a: SubmitAnswer =
            serde_json::from_str(r#"{"job_id": "probe-1", "submission_id": "probe-1"}"#).unwrap();
        assert_eq!(a.submission_id, "probe-1");
        let l: LogsAnswer = serde_json::from_str(r#"{"logs": "hi\nbye\n"}"#).unwrap();
        assert_eq!(l.logs, "hi\nbye\n");
        let s: StopAnswer = serde_json::from_str(r#"{"stopped": false}"#).unwrap();
        assert!(!s.stopped);
    }

    #[test]
    fn the_server_message_is_the_last_exception_of_a_traceback() {
        // Ray's answer to a submission id that exists (HTTP 500, as a real server sent it).
        let body = "Traceback (most recent call last):\n  File \"/x/job_head.py\", line 419, in submit_job\n    resp = await job_agent_client.submit_job_internal(submit_request)\n  File \"/x/job_head.py\", line 134, in _raise_error\n    raise RuntimeError(f\"Request failed with status code {status}: {error_text}.\")\nRuntimeError: Request failed with status code 400: Traceback (most recent call last):\n  File \"/x/job_agent.py\", line 45, in submit_job\n    submission_id = await self.get_job_manager().submit_job(\nValueError: Job with submission_id probe-1 already exists. Please use a different submission_id.\n.\n";
        assert_eq!(
            server_message(body),
            "ValueError: Job with submission_id probe-1 already exists. Please use a different submission_id."
        );
        assert_eq!(
            server_message("Job nope does not exist"),
            "Job nope does not exist"
        );
        assert_eq!(
            server_message(r#"{"result": false, "msg": "Unknown view x", "data": {}}"#),
            "Unknown view x"
        );
        assert_eq!(server_message("  \n"), "(no message)");
        assert!(server_message(&"x".repeat(2000)).chars().count() <= 501);
    }

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(
            normalise_address("http://head:8265/").unwrap(),
            "http://head:8265"
        );
        assert_eq!(
            normalise_address("127.0.0.1:18265").unwrap(),
            "http://127.0.0.1:18265"
        );
        for bad in [
            "",
            "ray://head:10001",
            "http://head:8265/api/jobs",
            "http://",
        ] {
            let err = normalise_address(bad).unwrap_err().to_string();
            assert!(err.contains("8265"), "{bad}: {err}");
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            encode_path("magpie-r1-shard-0-try-1"),
            "magpie-r1-shard-0-try-1"
        );
        assert_eq!(encode_path("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn an_unreachable_address_says_where_and_why() {
        // A port nothing listens on (bound, then released).
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let ray = RayJobs::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let started = std::time::Instant::now();
        let err = ray.list().unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "cannot reach Ray at http://127.0.0.1:{port}: connection refused"
            )),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn http_errors_carry_the_servers_message() {
        // A one-shot server answering 404 as Ray does for an unknown job.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).unwrap();
            let body = "Job nope does not exist";
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        let ray = RayJobs::new(&format!("127.0.0.1:{port}")).unwrap();
        let err = ray.status("nope").unwrap_err();
        assert!(err.is_not_found(), "{err}");
        let text = err.to_string();
        assert!(text.contains("HTTP 404: Job nope does not exist"), "{text}");
        assert!(text.contains("GET /api/jobs/nope"), "{text}");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /api/jobs/nope HTTP/1.1"),
            "{request}"
        );
    }
}
