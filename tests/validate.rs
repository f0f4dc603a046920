//! `validate` on bad input: each fixture in tests/fixtures/validate/ fails
//! (or warns) with a located message, snapshotted as the user sees it.
//! Also: the shipped packages.d is clean, the JSON and GitHub formats, and
//! no input makes the checker panic.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A temp root: the shipped templates, overlaid with the fixture's files.
fn fixture_root(case: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("templates"), &dir.path().join("templates"));
    copy_tree(
        &repo().join("tests/fixtures/validate").join(case),
        dir.path(),
    );
    dir
}

fn validate(root: &Path, format: &str) -> (i32, String, String) {
    outcome(
        Command::new(BIN)
            .current_dir(root)
            .args(["validate", "--root", ".", "--format", format])
            .env("NO_COLOR", "1")
            .output()
            .expect("run validate"),
    )
}

fn human(case: &str) -> String {
    let root = fixture_root(case);
    let (code, stdout, stderr) = validate(root.path(), "human");
    assert!(stdout.is_empty(), "human output goes to stderr");
    format!("exit: {code}\n{stderr}")
}

macro_rules! cases {
    ($($name:ident => $case:literal, $exit:literal;)*) => {$(
        #[test]
        fn $name() {
            let out = human($case);
            assert!(out.starts_with(concat!("exit: ", $exit, "\n")), "{out}");
            assert!(!out.contains("panicked"), "{out}");
            insta::assert_snapshot!($case, out);
        }
    )*};
}

cases! {
    broken_toml => "broken-toml", 1;
    duplicate_key => "duplicate-key", 1;
    unknown_field_suggests_the_closest => "unknown-field", 1;
    wrong_type => "wrong-type", 1;
    missing_build_type => "missing-build-type", 1;
    unknown_build_type_lists_the_known_ones => "unknown-build-type", 1;
    unknown_dependency_suggests_the_closest => "unknown-dependency", 1;
    dependency_cycle_is_printed => "dependency-cycle", 1;
    self_dependency => "self-dependency", 1;
    duplicate_package => "duplicate-package", 1;
    build_steps_missing_for_custom => "build-steps-missing", 1;
    build_steps_on_another_type => "build-steps-unexpected", 1;
    field_unused_by_the_build_type => "field-unused", 1;
    unsafe_rev => "unsafe-rev", 1;
    unsafe_name => "unsafe-name", 1;
    unsafe_url => "unsafe-url", 1;
    url_not_http => "url-not-http", 1;
    url_bad_archive => "url-bad-archive", 1;
    unsafe_flag => "unsafe-flag", 1;
    unsafe_env => "unsafe-env", 1;
    unsafe_step => "unsafe-step", 1;
    unknown_template_variable_in_a_manifest => "unknown-template-variable", 1;
    unknown_template_variable_in_a_build_type => "build-type-unknown-variable", 1;
    empty_packages_dir => "empty", 1;
    not_utf8 => "not-utf8", 1;
    stray_file_only_warns => "stray-file", 0;
    file_name_must_follow_the_package_name => "file-name", 1;
    bad_sha256 => "bad-sha256", 1;
}

#[test]
fn the_shipped_project_is_valid() {
    let (code, stdout, stderr) = validate(&repo(), "human");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr, "ok: 25 packages, 6 build types\n");
}

#[test]
fn json_format_gives_file_line_column_code_message_help() {
    let root = fixture_root("wrong-type");
    let (code, stdout, _) = validate(root.path(), "json");
    assert_eq!(code, 1);
    let problems: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let problems = problems.as_array().expect("array");
    assert_eq!(problems.len(), 3, "{stdout}");
    let first = &problems[0];
    assert_eq!(first["file"], "./packages.d/a-b.toml");
    assert_eq!(first["line"], 4);
    assert_eq!(first["column"], 11);
    assert_eq!(first["code"], "manifest::wrong-type");
    assert_eq!(first["message"], "`depends` must be a list of strings");
    assert!(first["help"].as_str().unwrap_or("").contains("depends = ["));
    assert_eq!(first["level"], "error");
}

#[test]
fn github_format_annotates_the_line() {
    let root = fixture_root("unknown-dependency");
    let (code, stdout, _) = validate(root.path(), "github");
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "::error file=./packages.d/a-b.toml,line=4,col=12,title=manifest%3A%3Aunknown-dependency::\
dependency `openbmc/sdbuplus` is not a package%0Ahelp: did you mean `openbmc/sdbusplus`?\n"
    );
}

#[test]
fn root_is_accepted_before_or_after_the_subcommand() {
    for args in [
        vec!["--root", "ROOT", "validate"],
        vec!["validate", "--root", "ROOT"],
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "ROOT" {
                    repo().display().to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let out = Command::new(BIN)
            .current_dir("/")
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_missing_root_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = validate(dir.path(), "human");
    assert_eq!(code, 1);
    assert!(stderr.contains("packages.d"), "{stderr}");
    assert!(stderr.contains("--root"), "{stderr}");
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn check_text(text: &[u8]) {
        let root = fixture_root("stray-file");
        std::fs::write(root.path().join("packages.d/a-b.toml"), text).expect("write");
        let checked = build_unit_test_docker::testing::check_root(root.path());
        if checked.project.is_none() {
            assert!(checked.problems.iter().any(|p| p.is_error()));
        }
        // Every rendering of the problems works too.
        let _ = build_unit_test_docker::testing::diag::render_human(&checked.problems, false);
        let _ = build_unit_test_docker::testing::diag::render_json(&checked.problems);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            check_text(&bytes);
        }

        #[test]
        fn manifest_like_text(
            name in "[a-z/ ;$]{0,12}",
            rev in "\\PC{0,12}",
            bt in "(cmake|meson|custom|make|x)",
            deps in proptest::collection::vec("[a-z/]{0,6}", 0..3),
            steps in proptest::collection::vec("\\PC{0,10}", 0..3),
        ) {
            let text = format!(
                "name = {name:?}\nrev = {rev:?}\nbuild_type = {bt:?}\ndepends = {deps:?}\nbuild_steps = {steps:?}\n"
            );
            check_text(text.as_bytes());
        }
    }
}

#[test]
fn a_directory_named_like_a_manifest_is_called_a_directory() {
    let root = copy_root(&repo());
    std::fs::create_dir(root.path().join("packages.d/foo.toml")).expect("mkdir");
    let (code, _, stderr) = validate_root(root.path());
    assert_eq!(code, 0, "only a warning: {stderr}");
    assert!(stderr.contains("a directory in packages.d/"), "{stderr}");
    assert!(
        !stderr.contains("give a manifest the .toml extension"),
        "{stderr}"
    );
}
