//! First-use friction, one test a point: offline lookups, the wrong
//! directory, git's error in `outdated`, views of a broken tree, a daemon
//! that is down, hidden manifests, stale render output, a checksum-only
//! bump, colour codes from the engine, and `--format` help.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory with one fake program `name` running `body`.
fn fake(name: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write");
    make_executable(&path);
    dir
}

fn on(root: &Path, bin: &Path, args: &[&str]) -> Output {
    tool(bin)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn offline_lookups_are_one_grouped_error_with_a_hint() {
    let git = fake(
        "git",
        "echo \"fatal: unable to access 'https://github.com/x/': Could not resolve host: github.com\" >&2\nexit 128\n",
    );
    let out = on(&repo(), git.path(), &["render"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("Could not resolve host").count(), 1, "{err}");
    assert!(err.contains("the same for 9 more"), "{err}");
    assert!(err.contains("10 package(s) without a `rev`"), "{err}");
    assert!(err.contains("hint:") && err.contains("pin `rev`"), "{err}");
    assert!(err.contains("--git-base-url"), "{err}");
}

#[test]
fn the_wrong_directory_is_one_error_that_says_pass_root() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .arg("validate")
        .current_dir(empty.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("is not a project root"), "{err}");
    assert!(err.contains("--root"), "{err}");
    assert!(err.contains("1 error(s)"), "{err}");
}

#[test]
fn outdated_shows_what_git_said_not_just_that_it_failed() {
    let root = copy_root(&repo());
    let git = fake(
        "git",
        "echo 'remote: Repository not found.' >&2\necho \"fatal: repository 'https://x/y/' not found\" >&2\nexit 128\n",
    );
    let out = on(root.path(), git.path(), &["outdated", "fmtlib/fmt"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(table.contains("exit status: 128"), "{table}");
    assert!(
        table.contains("fatal: repository 'https://x/y/' not found"),
        "{table}"
    );
}

#[test]
fn list_and_graph_show_a_tree_that_has_errors() {
    let root = copy_root(&repo());
    std::fs::write(
        root.path().join("packages.d/fmtlib-fmt.toml"),
        "name = \"fmtlib/fmt\"\nrev = \"11.2.0\"\nbuild_type = \"scons\"\n",
    )
    .expect("write");
    let git = fake_git(&[]);
    let out = on(root.path(), git.path(), &["list"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("scons"), "the problem is shown: {err}");
    assert!(err.contains("showing the 24 package(s)"), "{err}");
    let list = text(&out.stdout);
    assert!(list.contains("openbmc/sdbusplus"), "{list}");
    assert!(
        !list.lines().any(|l| l.starts_with("fmtlib/fmt ")),
        "{list}"
    );
    let out = on(root.path(), git.path(), &["graph", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("\"openbmc/sdbusplus\""));
    // render and build still refuse.
    let out = on(root.path(), git.path(), &["render"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_failing_image_ls_suggests_starting_the_daemon() {
    let bin = fake(
        "docker",
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n",
    );
    let git = fake_git(&[]);
    std::fs::copy(git.path().join("git"), bin.path().join("git")).expect("copy git");
    let out = on(&repo(), bin.path(), &["build", "--dry-run"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(
        err.contains("\nhint: no Docker daemon answers: start it (`systemctl start docker`"),
        "{err}"
    );
    assert!(err.contains("docker-up.sh"), "{err}");
}

#[test]
fn a_hidden_toml_in_packages_d_is_a_warning() {
    let root = copy_root(&repo());
    std::fs::write(
        root.path().join("packages.d/.acme-x.toml"),
        "name = \"acme/x\"\nrev = \"1\"\nbuild_type = \"make\"\n",
    )
    .expect("write");
    let (code, _, err) = validate_root(root.path());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(".acme-x.toml is hidden"), "{err}");
    assert!(err.contains("rename it to acme-x.toml"), "{err}");
}

#[test]
fn render_out_removes_stale_dockerfiles_and_keeps_other_files() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(out_dir.path().join("gone-package.Dockerfile"), "old").expect("write");
    std::fs::write(out_dir.path().join("notes.txt"), "mine").expect("write");
    let git = fake_git(&[]);
    let out = on(
        &repo(),
        git.path(),
        &["render", "--out", &out_dir.path().display().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!out_dir.path().join("gone-package.Dockerfile").exists());
    assert!(out_dir.path().join("notes.txt").exists());
    assert!(out_dir.path().join("openbmc-sdbusplus.Dockerfile").exists());
}

#[test]
fn a_checksum_only_bump_says_so() {
    let files = tempfile::tempdir().expect("tempdir");
    std::fs::write(files.path().join("widget-v1.tar.gz"), b"bytes").expect("write");
    let server = FileServer::start(files.path());
    let root = copy_root(&repo());
    std::fs::write(
        root.path().join("packages.d/acme-widget.toml"),
        format!(
            "name = \"acme/widget\"\nrev = \"v1\"\nurl = \"http://127.0.0.1:{}/widget-{{{{ rev }}}}.tar.gz\"\nbuild_type = \"make\"\n",
            server.port
        ),
    )
    .expect("write");
    let out = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .args(["bump", "acme/widget", "v1", "--checksum"])
        .output()
        .expect("bump");
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(said.contains("recorded the sha256 of v1"), "{said}");
    assert!(!said.contains("v1 → v1"), "{said}");
}

#[test]
fn colour_codes_from_the_engine_do_not_reach_the_output_or_the_summary() {
    let bin = fake(
        "docker",
        "case \"$1\" in image) exit 0 ;; esac\ncat >/dev/null\nprintf '\\033[0m\\033[91mERROR\\033[0m: it broke\\n'\nexit 1\n",
    );
    let git = fake_git(&[]);
    std::fs::copy(git.path().join("git"), bin.path().join("git")).expect("copy git");
    let out = on(&repo(), bin.path(), &["build", "--jobs", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("ERROR: it broke"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn every_format_option_explains_itself() {
    for sub in ["list", "outdated", "update"] {
        let help = text(
            &Command::new(BIN)
                .args([sub, "--help"])
                .output()
                .expect("help")
                .stdout,
        );
        let lines: Vec<&str> = help.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("--format"))
            .unwrap_or_else(|| panic!("{sub}: {help}"));
        let option = lines[at..(at + 3).min(lines.len())].join("\n");
        assert!(option.contains("How to print"), "{sub}: {option}");
    }
}
