//! What each shard job runs, and the names of runs and jobs.
//!
//! A shard job's entrypoint is `exec <magpie> embed-shard --shard K/N <the rest>`, a shell
//! command line (Ray runs it with `/bin/sh -c`; `exec` leaves one process, the shard itself).
//! Ray starts it in a folder of its own on whichever node it picks, so relative paths among the
//! arguments are made absolute against the submitting folder first ([`ShardCommand::new`]) — and
//! the workers must see those same paths (shared storage).
//!
//! Jobs are named `magpie-<run id>-shard-K-try-A` ([`submission_id`]); a run id is
//! `YYYYMMDD-HHMMSS-xxxx` (UTC, plus four hex digits) unless given.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The options of `magpie embed-shard` that take a value (the rest of its options are flags or
/// are passed through untouched).
const VALUE_OPTIONS: [&str; 3] = ["--out", "--file-list", "--model"];

/// `<magpie> embed-shard --shard K/N <args>` for every K, with the arguments made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCommand {
    /// The `magpie` binary the workers run.
    pub magpie: PathBuf,
    /// The arguments after `--shard K/N`.
    pub args: Vec<String>,
    /// The `--out` folder (absolute).
    pub out: PathBuf,
}

impl ShardCommand {
    /// Checks `args` (`ROOT…|--file-list F --out DIR [--model DIR]`, and any other options of
    /// `embed-shard`) and makes their paths absolute against `cwd`: `--out` always, roots,
    /// `--file-list` and `--model` when they name something that exists here (a `--model` may
    /// be a model store name; a value of an option this crate does not know stays as it is).
    pub fn new(magpie: &Path, args: &[String], cwd: &Path) -> Result<Self> {
        let magpie = absolute(magpie, cwd);
        let mut out_args = Vec::with_capacity(args.len());
        let mut out: Option<PathBuf> = None;
        let mut it = args.iter();
        let mut positional_only = false;
        while let Some(arg) = it.next() {
            if positional_only || !arg.starts_with('-') || arg == "-" {
                out_args.push(absolute_if_exists(arg, cwd));
                continue;
            }
            if arg == "--" {
                positional_only = true;
                out_args.push(arg.clone());
                continue;
            }
            if arg == "--shard" || arg.starts_with("--shard=") {
                return Err(Error::Invalid(
                    "leave --shard out: `magpie cluster submit` gives every job its own --shard K/N"
                        .into(),
                ));
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            if !VALUE_OPTIONS.contains(&name) {
                out_args.push(arg.clone());
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Invalid(format!("{name} needs a value")))?,
            };
            let value = if name == "--out" {
                let abs = absolute(Path::new(&value), cwd);
                out = Some(abs.clone());
                path_text(&abs)?
            } else {
                absolute_if_exists(&value, cwd)
            };
            out_args.push(name.to_string());
            out_args.push(value);
        }
        let out = out.ok_or_else(|| {
            Error::Invalid(
                "the embed-shard arguments need --out DIR (a folder every node sees), e.g. `magpie cluster submit --ray URL --shards 8 -- /photos --out /shared/emb`".into(),
            )
        })?;
        Ok(Self {
            magpie,
            args: out_args,
            out,
        })
    }

    /// The shell command line of shard `shard` of `shards`.
    pub fn entrypoint(&self, shard: usize, shards: usize) -> Result<String> {
        let mut line = format!(
            "exec {} embed-shard --shard {shard}/{shards}",
            shell_quote(&path_text(&self.magpie)?)
        );
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        Ok(line)
    }

    /// The manifest that exists once shard `shard` is complete (`DIR/shards/shard_K.json`).
    pub fn manifest(&self, shard: usize) -> PathBuf {
        magpie_shard::ShardLayout::new(&self.out).manifest(shard as u32)
    }
}

fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

fn absolute_if_exists(arg: &str, cwd: &Path) -> String {
    let path = Path::new(arg);
    if path.is_relative() && cwd.join(path).exists() {
        cwd.join(path).to_string_lossy().into_owned()
    } else {
        arg.to_string()
    }
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::Invalid(format!(
            "{} is not UTF-8, which a Ray job's command line must be",
            path.display()
        ))
    })
}

/// `arg` as one word for `/bin/sh`: as is when it is plain, else in single quotes.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `magpie-<run>-shard-<K>-try-<A>`.
pub fn submission_id(run_id: &str, shard: usize, attempt: u32) -> String {
    format!("magpie-{run_id}-shard-{shard}-try-{attempt}")
}

/// A run id must be usable in job names and URLs: 1–64 of `A-Za-z0-9_-`.
pub fn validate_run_id(run_id: &str) -> Result<()> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 64
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "run id {run_id:?}: use 1 to 64 letters, digits, '-' or '_'"
        )))
    }
}

/// `YYYYMMDD-HHMMSS-xxxx` (UTC now, four hex digits from the clock's nanoseconds and the pid).
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = magpie_catalog::dates::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let salt = (now.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{salt:04x}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_become_absolute_and_the_entrypoint_is_quoted() {
        let cwd = std::env::temp_dir().join(format!("magpie-cluster-ep-{}", std::process::id()));
        std::fs::create_dir_all(cwd.join("my photos")).unwrap();
        std::fs::write(cwd.join("list.txt"), "").unwrap();
        let cmd = ShardCommand::new(
            Path::new("bin/magpie"),
            &strings(&[
                "my photos",
                "/abs/root",
                "--file-list=list.txt",
                "--out",
                "emb",
                "--model",
                "some/store-name",
                "--batch-size",
                "32",
            ]),
            &cwd,
        )
        .unwrap();
        let c = cwd.to_str().unwrap();
        assert_eq!(cmd.magpie, cwd.join("bin/magpie"));
        assert_eq!(cmd.out, cwd.join("emb"));
        assert_eq!(
            cmd.args,
            strings(&[
                &format!("{c}/my photos"),
                "/abs/root",
                "--file-list",
                &format!("{c}/list.txt"),
                "--out",
                &format!("{c}/emb"),
                "--model",
                "some/store-name",
                "--batch-size",
                "32",
            ])
        );
        assert_eq!(
            cmd.entrypoint(1, 3).unwrap(),
            format!("exec {c}/bin/magpie embed-shard --shard 1/3 '{c}/my photos' /abs/root --file-list {c}/list.txt --out {c}/emb --model some/store-name --batch-size 32")
        );
        assert_eq!(cmd.manifest(2), cwd.join("emb/shards/shard_2.json"));
        let _ = std::fs::remove_dir_all(&cwd);
    }

    #[test]
    fn out_is_required_and_shard_is_ours() {
        let cwd = Path::new("/");
        let err = ShardCommand::new(Path::new("/m"), &strings(&["/photos"]), cwd).unwrap_err();
        assert!(err.to_string().contains("--out DIR"), "{err}");
        for args in [
            &["/p", "--out", "/o", "--shard", "0/2"][..],
            &["/p", "--out", "/o", "--shard=0/2"][..],
        ] {
            let err = ShardCommand::new(Path::new("/m"), &strings(args), cwd).unwrap_err();
            assert!(err.to_string().contains("leave --shard out"), "{err}");
        }
        let err = ShardCommand::new(Path::new("/m"), &strings(&["/p", "--out"]), cwd).unwrap_err();
        assert!(err.to_string().contains("--out needs a value"), "{err}");
    }

    #[test]
    fn shell_quoting_keeps_every_argument_one_word() {
        assert_eq!(shell_quote("/plain/path-1.jpg"), "/plain/path-1.jpg");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME;rm"), "'$HOME;rm'");
        // What /bin/sh makes of them: the same words back.
        let words = ["a b", "it's", "$HOME;rm", "", "*", "x\ny"];
        let line = words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("printf '%s\\0' {line}")])
            .output()
            .unwrap();
        let back: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(str::to_string)
            .collect();
        assert_eq!(&back[..words.len()], &words.map(String::from)[..]);
    }

    #[test]
    fn names_of_runs_and_jobs() {
        assert_eq!(submission_id("r1", 2, 1), "magpie-r1-shard-2-try-1");
        let id = new_run_id();
        validate_run_id(&id).unwrap();
        assert_eq!(id.len(), "20261202-102400-abcd".len(), "{id}");
        assert!(id.starts_with("20"), "{id}");
        assert!(validate_run_id("a b").is_err());
        assert!(validate_run_id("").is_err());
        assert!(validate_run_id(&"x".repeat(65)).is_err());
    }
}
