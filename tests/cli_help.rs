//! `--help` of every subcommand, snapshotted: it is the user's manual.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::process::Command;

use common::BIN;

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COLUMNS", "100")
        .output()
        .expect("run");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", help(&[]));
    for sub in [
        "build", "validate", "list", "schema", "render", "graph", "bump", "outdated", "update",
        "prune",
    ] {
        let text = help(&[sub]);
        assert!(text.contains("Usage: build-unit-test-docker"), "{sub}");
        insta::assert_snapshot!(format!("help-{sub}"), text);
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(BIN)
        .args(["validate", "--format", "xml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["build", "--jobs", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
