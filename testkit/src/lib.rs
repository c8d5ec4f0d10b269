//! `magpie-testkit`: the one place that decides what a Magpie test may skip, and how a skip is
//! seen.
//!
//! The rule, for every crate: what `scripts/test` provides (the generated test models, ONNX
//! Runtime, the Python reference venv, the services it starts) must be there, and a test that
//! misses it **fails** with the fix. Only `../shared` — material a clone of the project alone does
//! not have — may be absent, and a test that needs it **skips visibly**: [`skip`] writes past the
//! test harness's output capture (so the line shows in `cargo test` output even for a passing
//! test) and appends to the file named by `MAGPIE_SKIP_LOG`, which `scripts/test` counts and
//! lists at the end. A skip while `../shared` is present is a bug, and `scripts/test` fails on it.
//!
//! Also here: running a command as an unprivileged user when the suite runs as root (so
//! permission tests really run in CI), and a child-process guard that kills on drop (so a failing
//! test does not leak a server or a watcher).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The workspace root (this crate lives in `testkit/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
}

/// `MAGPIE_TESTDATA`, else `<root>/.magpie/testdata` (where `scripts/test` generates models).
pub fn testdata_dir() -> PathBuf {
    std::env::var_os("MAGPIE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".magpie").join("testdata"))
}

/// `.magpie/testdata/models/<name>`; fails the test with the fix when it is missing.
pub fn test_model(name: &str) -> PathBuf {
    let dir = testdata_dir().join("models").join(name);
    assert!(
        dir.is_dir(),
        "generated test model {} is missing: run scripts/test (it generates the test models)",
        dir.display()
    );
    dir
}

/// `.magpie/testdata/formats`: the format corpus `scripts/testformats/make_test_images.py` makes
/// (HEIC, AVIF, JPEG XL, DNG, damaged copies, reference decodes); fails the test with the fix when
/// it is missing.
pub fn test_formats() -> PathBuf {
    let dir = testdata_dir().join("formats");
    assert!(
        dir.join("MANIFEST.json").is_file(),
        "generated format test files {} are missing: run scripts/test (it runs scripts/testformats/make_test_images.py)",
        dir.display()
    );
    dir
}

/// The ONNX Runtime library (or its folder) made by `scripts/setup`: `MAGPIE_ORT_LIB`, else
/// `<root>/.magpie/ort`. Fails the test with the fix when it is missing.
pub fn ort_lib() -> PathBuf {
    let lib = std::env::var_os("MAGPIE_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".magpie").join("ort"));
    assert!(
        lib.exists(),
        "ONNX Runtime {} is missing: run scripts/test (it runs scripts/setup)",
        lib.display()
    );
    lib
}

/// The reference Python of `.venv` (`MAGPIE_PYTHON` overrides). Fails the test when missing.
pub fn python() -> PathBuf {
    let python = std::env::var_os("MAGPIE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv").join("bin").join("python"));
    assert!(
        python.exists(),
        "reference Python {} is missing: run scripts/test (it runs scripts/setup)",
        python.display()
    );
    python
}

/// The Milvus server `scripts/test` starts (`scripts/services/milvus start`): `MAGPIE_MILVUS`
/// (`http://127.0.0.1:PORT`), else what that script wrote to `.magpie/services/milvus.env`.
/// Fails the test with the fix when neither says where it is; a test that then cannot reach it
/// fails with the client's error, which names the address.
pub fn milvus_address() -> String {
    if let Some(address) = std::env::var_os("MAGPIE_MILVUS") {
        return address.to_string_lossy().into_owned();
    }
    let env = workspace_root()
        .join(".magpie")
        .join("services")
        .join("milvus.env");
    std::fs::read_to_string(&env)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MAGPIE_MILVUS=").map(str::to_string))
        })
        .unwrap_or_else(|| {
            panic!(
                "no Milvus server for this test: MAGPIE_MILVUS is unset and {} is missing — run scripts/services/milvus start (scripts/test starts it)",
                env.display()
            )
        })
}

/// The Ray cluster `scripts/test` starts (`scripts/services/ray start`, two nodes on
/// 127.0.0.1): `MAGPIE_RAY` (the Jobs API, `http://127.0.0.1:PORT`), else the `RAY_ADDRESS` that
/// script wrote to `.magpie/services/ray.env`. Fails the test with the fix when neither says
/// where it is, or when its Jobs API does not answer `GET /api/version` (checked with a bounded
/// wait, so a test never hangs on a cluster that is not there).
pub fn ray_address() -> String {
    let env = workspace_root()
        .join(".magpie")
        .join("services")
        .join("ray.env");
    let address = match std::env::var("MAGPIE_RAY") {
        Ok(address) if !address.trim().is_empty() => address.trim().to_string(),
        _ => std::fs::read_to_string(&env)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("RAY_ADDRESS=").map(|a| a.trim().to_string()))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no Ray cluster for this test: MAGPIE_RAY is unset and {} is missing — run scripts/services/ray start (scripts/test starts it)",
                    env.display()
                )
            }),
    };
    if let Err(reason) = ray_answers(&address) {
        panic!(
            "the Ray cluster at {address} does not answer ({reason}) — run scripts/services/ray start (scripts/test starts it)"
        );
    }
    address
}

/// Whether `GET /api/version` at `address` (`http://host:port`) answers 200 within seconds.
fn ray_answers(address: &str) -> Result<(), String> {
    use std::io::Read as _;
    use std::net::ToSocketAddrs as _;
    use std::time::Duration;
    let host_port = address
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or("not an http:// address")?;
    let socket = host_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host has no address")?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /api/version HTTP/1.0\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    let status = answer.lines().next().unwrap_or_default();
    if status.contains(" 200") && answer.contains("ray_version") {
        Ok(())
    } else {
        Err(format!("GET /api/version answered {status:?}"))
    }
}

/// Where `../shared` is expected: `MAGPIE_SHARED`, else the folder beside the checkout.
pub fn shared_location() -> PathBuf {
    std::env::var_os("MAGPIE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("..").join("shared"))
}

/// `../shared` when it is there, else `Err(reason)` for [`skip`].
pub fn shared_dir() -> Result<PathBuf, String> {
    let dir = shared_location();
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "{} is absent (a clone without ../shared; set MAGPIE_SHARED to use another copy)",
            dir.display()
        ))
    }
}

/// `../shared`, or `None` after [`skip`]ping the calling test with the reason:
/// `let Some(shared) = magpie_testkit::shared_or_skip() else { return };`
pub fn shared_or_skip() -> Option<PathBuf> {
    match shared_dir() {
        Ok(dir) => Some(dir),
        Err(reason) => {
            skip(&reason);
            None
        }
    }
}

/// [`shared_or_skip`] for a test that names what it needs `../shared` for (in the skip line).
pub fn shared_for(what: &str) -> Option<PathBuf> {
    match shared_dir() {
        Ok(dir) => Some(dir),
        Err(reason) => {
            skip(&format!("{what} needs ../shared: {reason}"));
            None
        }
    }
}

/// A path inside `../shared` (e.g. `data/photos`), or `None` after skipping. A `../shared` that
/// is present but lacks the path fails the test: the material moved, and silence would hide it.
pub fn shared_path_or_skip(relative: &str) -> Option<PathBuf> {
    let path = shared_or_skip()?.join(relative);
    assert!(
        path.exists(),
        "{} is missing from ../shared (read ../shared/README.md)",
        path.display()
    );
    Some(path)
}

/// The name the harness gave the running test (`module::test`), else the thread's name.
fn current_test() -> String {
    let binary = std::env::args()
        .next()
        .map(|arg| {
            let name = Path::new(&arg)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(arg);
            // Cargo names test binaries `<target>-<16 hex digits>`.
            match name.rsplit_once('-') {
                Some((target, hash))
                    if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    target.to_string()
                }
                _ => name,
            }
        })
        .unwrap_or_default();
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed thread")
        .to_string();
    format!("{binary}::{thread}")
}

/// Marks the calling test as skipped, with the reason. The line goes to the real stderr (not the
/// harness's capture, so `cargo test` shows it) and to `MAGPIE_SKIP_LOG` when set. The caller
/// returns right after.
pub fn skip(reason: &str) {
    let line = format!("SKIP {}: {}", current_test(), reason.replace('\n', " "));
    // `std::io::stderr()` written directly is not captured by the test harness (only the
    // `print!` family is), so the skip is visible in a normal `cargo test` run.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(log) = std::env::var_os("MAGPIE_SKIP_LOG") {
        let appended = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(e) = appended {
            panic!(
                "cannot record the skip in {}: {e}",
                Path::new(&log).display()
            );
        }
    }
}

/// Whether this process runs as root (which ignores file permissions).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs `program` without root's privileges: as is for an ordinary user, and as
/// `nobody` through `setpriv` when the suite runs as root (CI does), so that permission-denied
/// paths are really exercised. Fails the test when root cannot drop privileges.
pub fn unprivileged(program: impl AsRef<std::ffi::OsStr>) -> Command {
    if !is_root() {
        return Command::new(program);
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("setpriv (util-linux) is needed to run permission tests as root");
    let mut cmd = Command::new(setpriv);
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
    ])
    .arg(program);
    cmd
}

/// The uid and gid [`unprivileged`] commands run as (`nobody`/`nogroup`).
pub const UNPRIVILEGED_ID: u32 = 65534;

/// Hands `path` and everything below it to the unprivileged user when running as root (so that
/// an [`unprivileged`] command may write there); does nothing otherwise.
pub fn give_to_unprivileged_user(path: &Path) {
    if !is_root() {
        return;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(current) = stack.pop() {
        std::os::unix::fs::lchown(&current, Some(UNPRIVILEGED_ID), Some(UNPRIVILEGED_ID))
            .unwrap_or_else(|e| panic!("cannot hand {} to nobody: {e}", current.display()));
        if current.is_dir() && !current.is_symlink() {
            for entry in std::fs::read_dir(&current).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
}

/// Set in the copy of a test that [`reran_unprivileged`] started.
const UNPRIVILEGED_RUN: &str = "MAGPIE_TESTKIT_UNPRIVILEGED_RUN";

/// For an in-process test that needs file permissions to bite: under root it runs the calling
/// test again, alone, as `nobody` (the same test binary through [`unprivileged`]), fails if that
/// run fails, and returns `true` — the caller then returns. As an ordinary user, or inside that
/// copy, it returns `false` and the caller runs its body.
pub fn reran_unprivileged() -> bool {
    if !is_root() || std::env::var_os(UNPRIVILEGED_RUN).is_some() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .expect("called from a test thread, which the harness names after the test")
        .to_string();
    let output = unprivileged(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env(UNPRIVILEGED_RUN, "1")
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap_or_else(|e| panic!("cannot re-run {test} as nobody: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test}, re-run as nobody, failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

/// A child process that is killed and reaped when the guard drops — including when the test
/// panics, so a failing test never leaves a server or watcher running.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// Spawns `cmd` under a guard; fails the test when it cannot start.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self::new(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
        )
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still guarded")
    }

    pub fn id(&self) -> u32 {
        self.child
            .as_ref()
            .expect("the child is still guarded")
            .id()
    }

    /// Hands the child back without killing it (e.g. to `wait_with_output`).
    pub fn into_inner(mut self) -> Child {
        self.child.take().expect("the child is still guarded")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_names_the_test_and_reaches_the_log() {
        let log = std::env::temp_dir().join(format!("magpie-testkit-skip-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        // The variable is read at the time of the call; point it elsewhere for this call only
        // (scripts/test's own log must not count this deliberate skip).
        let outer = std::env::var_os("MAGPIE_SKIP_LOG");
        std::env::set_var("MAGPIE_SKIP_LOG", &log);
        skip("a reason\nover two lines");
        match outer {
            Some(outer) => std::env::set_var("MAGPIE_SKIP_LOG", outer),
            None => std::env::remove_var("MAGPIE_SKIP_LOG"),
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("skip_names_the_test_and_reaches_the_log: a reason over two lines"),
            "{text}"
        );
        assert!(text.starts_with("SKIP magpie_testkit::"), "{text}");
    }

    #[test]
    fn an_absent_shared_folder_is_a_reason_not_a_path() {
        std::env::set_var("MAGPIE_SHARED", "/nonexistent/magpie-shared");
        let result = shared_dir();
        std::env::remove_var("MAGPIE_SHARED");
        let reason = result.unwrap_err();
        assert!(
            reason.contains("/nonexistent/magpie-shared is absent"),
            "{reason}"
        );
    }

    #[test]
    fn guarded_children_die_with_the_guard() {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("30"));
        let pid = guard.id() as i32;
        drop(guard);
        // SAFETY: kill with signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "the guarded child {pid} is still running");
    }

    #[test]
    fn unprivileged_commands_cannot_read_private_files() {
        let dir = std::env::temp_dir().join(format!("magpie-testkit-priv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "x").unwrap();
        give_to_unprivileged_user(&dir);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
        let status = unprivileged("cat")
            .arg(&secret)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            !status.success(),
            "an unprivileged cat read a mode-000 file"
        );
    }

    #[test]
    fn a_rerun_test_runs_without_privileges() {
        if reran_unprivileged() {
            return;
        }
        // Here, whoever started the suite, file permissions apply.
        let dir = tempfile_dir("rerun");
        let secret = dir.join("secret");
        std::fs::write(&secret, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
        let read = std::fs::read(&secret);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(read.is_err(), "a mode-000 file was readable");
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "magpie-testkit-{name}-{}-{}",
            std::process::id(),
            unsafe { libc::geteuid() }
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
