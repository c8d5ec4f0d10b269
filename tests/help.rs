//! What `magpie <command> --help` shows a user: every `--library` names `MAGPIE_LIBRARY`, every
//! flag of the commands users script has a description, and `serve` says how to keep the token
//! out of `ps`. (`src/cmd/mod.rs` checks every argument of every command through clap; this
//! checks the text the binary really prints.)

mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = ok(magpie(home.path()).args(args).arg("--help"));
    String::from_utf8(out.stdout).unwrap()
}

/// The flags of a `--help` text (`--name`, at the start of an option line) with the text that
/// follows them on that line and the lines below, up to the next option.
fn options(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let is_option = trimmed.starts_with('-') && line.len() - trimmed.len() <= 6;
        if is_option {
            let flag = trimmed
                .split([' ', ',', '='])
                .find(|w| w.starts_with("--"))
                .unwrap_or(trimmed)
                .to_string();
            let rest = trimmed
                .split_once("  ")
                .map(|(_, r)| r.trim().to_string())
                .unwrap_or_default();
            out.push((flag, rest));
        } else if let Some((_, text)) = out.last_mut() {
            if !trimmed.is_empty() && !trimmed.ends_with(':') {
                text.push(' ');
                text.push_str(trimmed);
            }
        }
    }
    out
}

#[test]
fn every_library_flag_names_its_variable() {
    for command in [
        &["index"][..],
        &["watch"],
        &["search"],
        &["tag"],
        &["dupes"],
        &["serve"],
        &["library", "stats"],
    ] {
        let text = help(command);
        let library = options(&text)
            .into_iter()
            .find(|(flag, _)| flag == "--library")
            .unwrap_or_else(|| panic!("magpie {command:?} --help has no --library:\n{text}"));
        assert!(
            library.1.contains("[env: MAGPIE_LIBRARY"),
            "magpie {command:?} --help: {library:?}"
        );
    }
}

#[test]
fn every_flag_users_script_has_help_text() {
    for command in [&["search"][..], &["tag"], &["dupes"], &["serve"]] {
        let text = help(command);
        let flags = options(&text);
        assert!(flags.len() >= 3, "{command:?}: {text}");
        for (flag, description) in flags {
            let description = description.trim();
            assert!(
                !description.is_empty() && !description.starts_with('['),
                "magpie {command:?} {flag} has no help text:\n{text}"
            );
        }
    }
}

#[test]
fn serve_help_says_where_the_token_may_come_from() {
    let text = help(&["serve"]);
    let (_, token) = options(&text)
        .into_iter()
        .find(|(flag, _)| flag == "--token")
        .unwrap_or_else(|| panic!("no --token:\n{text}"));
    for needed in ["MAGPIE_TOKEN", "`ps`", "config file"] {
        assert!(
            token.contains(needed),
            "no {needed:?} in --token's help: {token}"
        );
    }
}
