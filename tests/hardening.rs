//! Hardening at the edge (issue 18): options before a subcommand, stdout
//! that cannot be written, out-of-range durations and epochs, variables
//! that are not UTF-8, an unwritable `--report`, and a child's control
//! characters on the terminal. Each through the real binary, on a small
//! root with a fake engine (nothing leaves the machine).

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// A fake engine that knows no image, builds every stage at once (reading
/// its Dockerfile) and says so, and answers nothing else. Each call's first
/// word goes to `calls` beside it.
const ENGINE: &str = "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/calls\"\n\
                      case \"$1\" in\n  build) cat >/dev/null; echo built ;;\nesac\nexit 0\n";

struct Fixture {
    root: tempfile::TempDir,
    bin: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_engine(ENGINE)
    }

    /// With this fake engine script instead.
    fn with_engine(script: &str) -> Fixture {
        let bin = tempfile::tempdir().expect("tempdir");
        let engine = bin.path().join("docker");
        std::fs::write(&engine, script).expect("write engine");
        make_executable(&engine);
        Fixture {
            root: acme_root(),
            bin,
            cache: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    /// The tool with the golden environment, the fake engine on PATH and a
    /// history cache of its own; `args` as given (no --root added).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = tool(self.bin.path());
        cmd.args(args)
            .env("BUILD_UNIT_TEST_CACHE_DIR", self.cache.path())
            .stdin(Stdio::null());
        cmd
    }

    /// `--root ROOT args…`: (status, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.cmd(&["--root"]);
        cmd.arg(self.root()).args(args);
        outcome(cmd.output().expect("run"))
    }

    /// The engine's calls so far (first words).
    fn engine_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.bin.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn manifest(&self) -> String {
        std::fs::read_to_string(self.root().join("packages.d/acme-a.toml")).expect("read")
    }
}

// ---- 1. Options before a subcommand.

#[test]
fn a_dry_run_before_bump_is_refused_and_writes_nothing() {
    let f = Fixture::new();
    let before = f.manifest();
    let (code, out, err) = f.run(&["--dry-run", "bump", "acme/a", "v2"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(
            "`--dry-run` goes after the subcommand: `build-unit-test-docker bump --dry-run …`"
        ),
        "{err}"
    );
    assert_eq!(f.manifest(), before, "the manifest is untouched");
    // Where it belongs, it is a dry run.
    let (code, out, err) = f.run(&["bump", "--dry-run", "acme/a", "v2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("+rev = \"v2\""), "{out}");
    assert_eq!(f.manifest(), before);
}

#[test]
fn build_options_before_other_subcommands_are_refused_naming_their_place() {
    let f = Fixture::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--dry-run", "update"],
            "`--dry-run` goes after the subcommand: `build-unit-test-docker update --dry-run …`",
        ),
        (
            &["--dry-run", "build"],
            "`--dry-run` goes after the subcommand: `build-unit-test-docker build --dry-run …`",
        ),
        (
            &["--force", "--image-name", "other/img", "build"],
            "`--force` goes after the subcommand",
        ),
        (
            &["--image-name", "x", "render"],
            "`--image-name` goes after the subcommand: `build-unit-test-docker render --image-name <NAME> …`",
        ),
        (
            &["--report", "r.json", "--log-dir", "logs", "list"],
            "`--report` is not an option of `list`: it is `build`'s (`build-unit-test-docker build --report <FILE>`)",
        ),
        (&["-j", "2", "validate"], "`--jobs` is not an option of `validate`"),
    ];
    for (args, says) in cases {
        let (code, out, err) = f.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing ran: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!f.root().join("r.json").exists() && !f.root().join("logs").exists());
}

#[test]
fn the_bare_command_is_build_and_root_goes_before_or_after() {
    let f = Fixture::new();
    let (code, bare, err) = f.run(&["--jobs", "2", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(bare.contains("4 stages: 0 cached, 4 would build"), "{bare}");
    let mut after = f.cmd(&["build", "--dry-run", "--jobs", "2", "--root"]);
    after.arg(f.root());
    let (code, out, err) = outcome(after.output().expect("run"));
    assert_eq!((code, out), (0, bare), "{err}");
    // Variables still reach the bare command and a subcommand alike.
    let mut named = f.cmd(&["--root"]);
    named
        .arg(f.root())
        .arg("--dry-run")
        .env("DOCKER_IMAGE_NAME", "other/img");
    let (code, out, err) = outcome(named.output().expect("run"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" other/img:"), "{out}");
}

// ---- 7. Durations out of range.

#[test]
fn huge_or_zero_durations_are_usage_errors_not_panics() {
    let f = Fixture::new();
    let huge = "18446744073709551615";
    let cases: &[&[&str]] = &[
        &["build", "--stage-timeout", huge],
        &["--stage-timeout", huge],
        &["build", "--engine-timeout", huge],
        &["build", "--cache-timeout", huge],
        &["render", "--gerrit-timeout", huge],
        &["explain", "--gerrit-timeout", huge],
        &["bump", "--fetch-timeout", huge, "acme/a", "v2"],
        &["outdated", "--timeout", huge],
        &["update", "--timeout", "0"],
    ];
    for args in cases {
        let (code, out, err) = f.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        let flag = args.iter().find(|a| a.ends_with("timeout")).expect("flag");
        assert!(err.contains(&format!("'{flag} <SECS>'")), "{args:?}: {err}");
        assert!(
            err.contains("must be at most 2592000 seconds (30 days)")
                || err.contains("must be at least 1 second"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The largest accepted value builds.
    let (code, _, err) = f.run(&["build", "--stage-timeout", "2592000"]);
    assert_eq!(code, 0, "{err}");
}

// ---- 10. SOURCE_DATE_EPOCH and variables that are not UTF-8.

#[test]
fn source_date_epoch_outside_four_digit_years_is_refused() {
    let f = Fixture::new();
    for epoch in ["-99999999999", "-1", "253402300800", "99999999999999"] {
        let mut cmd = f.cmd(&["--root"]);
        cmd.arg(f.root())
            .arg("render")
            .env("SOURCE_DATE_EPOCH", epoch);
        let (code, out, err) = outcome(cmd.output().expect("run"));
        assert_eq!(code, 2, "{epoch}: {err}");
        assert!(out.is_empty(), "{epoch}: {out}");
        assert!(
            err.contains(&format!("SOURCE_DATE_EPOCH `{epoch}` is out of range")),
            "{epoch}: {err}"
        );
    }
    for (epoch, week) in [("0", ":1970-W01-"), ("253402300799", ":9999-W52-")] {
        let mut cmd = f.cmd(&["--root"]);
        cmd.arg(f.root())
            .arg("render")
            .env("SOURCE_DATE_EPOCH", epoch);
        let (code, out, err) = outcome(cmd.output().expect("run"));
        assert_eq!(code, 0, "{epoch}: {err}");
        assert!(out.contains(week), "{epoch}: {out}");
    }
}

fn not_utf8() -> &'static std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b"ubuntu:\xff")
}

#[test]
fn a_source_date_epoch_that_is_not_utf8_is_refused() {
    let f = Fixture::new();
    let mut cmd = f.cmd(&["--root"]);
    cmd.arg(f.root())
        .arg("render")
        .env("SOURCE_DATE_EPOCH", not_utf8());
    let (code, out, err) = outcome(cmd.output().expect("run"));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("SOURCE_DATE_EPOCH is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn variables_that_are_not_utf8_are_named_with_their_flag() {
    let f = Fixture::new();
    for (var, flag) in [
        ("DISTRO", "--distro"),
        ("HOME", "--home"),
        ("USER", "--user"),
        ("DOCKER_IMAGE_NAME", "--image-name"),
        ("FORCE_DOCKER_BUILD", "--force"),
    ] {
        // `render` reads no FORCE_DOCKER_BUILD.
        let commands: &[&[&str]] = if var == "FORCE_DOCKER_BUILD" {
            &[&["--dry-run"]]
        } else {
            &[&["render"], &["--dry-run"]]
        };
        for &args in commands {
            let mut cmd = f.cmd(&["--root"]);
            cmd.arg(f.root()).args(args).env(var, not_utf8());
            let (code, out, err) = outcome(cmd.output().expect("run"));
            assert_eq!(code, 2, "{var} {args:?}: {err}");
            assert!(out.is_empty(), "{var}: {out}");
            assert!(
                err.contains(&format!("{var} ({flag}) is not valid UTF-8")),
                "{var} {args:?}: {err}"
            );
        }
    }
    // A command that does not read HOME is not failed by it.
    let mut cmd = f.cmd(&["--root"]);
    cmd.arg(f.root()).arg("validate").env("HOME", not_utf8());
    let (code, _, err) = outcome(cmd.output().expect("run"));
    assert_eq!(code, 0, "{err}");
    // A bad value from a variable names the variable too.
    let mut cmd = f.cmd(&["--root"]);
    cmd.arg(f.root())
        .arg("render")
        .env("BUILD_UNIT_TEST_CPUS", "many");
    let (code, _, err) = outcome(cmd.output().expect("run"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("BUILD_UNIT_TEST_CPUS (--cpus) `many` is not valid"),
        "{err}"
    );
}

// ---- 2. stdout that cannot be written.

/// Every command that prints on stdout, as run on the fixture
/// (`validate --format github` prints nothing for a valid root).
const PRINTING: &[&[&str]] = &[
    &["list"],
    &["list", "--format", "json"],
    &["render"],
    &["schema"],
    &["graph"],
    &["validate", "--format", "json"],
    &["explain"],
    &["build", "--dry-run"],
    &["build"],
    &[],
    &["completions", "bash"],
    &["man"],
];

#[test]
fn a_full_stdout_fails_every_command_that_prints() {
    let f = Fixture::new();
    for args in PRINTING {
        let mut cmd = f.cmd(&["--root"]);
        cmd.arg(f.root())
            .args(*args)
            .stdout(std::fs::File::create("/dev/full").expect("/dev/full"));
        let (code, _, err) = outcome(cmd.output().expect("run"));
        assert_eq!(code, 1, "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert_eq!(
            last, "error: could not write to stdout: No space left on device (os error 28)",
            "{args:?}: {err}"
        );
        assert_eq!(
            err.matches("error:").count(),
            1,
            "{args:?}: one error line: {err}"
        );
    }
}

#[test]
fn a_build_whose_tag_cannot_be_written_says_so_in_its_report() {
    let f = Fixture::new();
    let report = f.root().join("report.json");
    let mut cmd = f.cmd(&["--root"]);
    cmd.arg(f.root())
        .arg("build")
        .arg("--report")
        .arg(&report)
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"));
    let (code, _, err) = outcome(cmd.output().expect("run"));
    assert_eq!(code, 1, "{err}");
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(
        text.contains("\"exit_status\": 1"),
        "as the run exits: {text}"
    );
}

#[test]
fn a_closed_stdout_fails_every_command_that_prints() {
    let f = Fixture::new();
    for args in PRINTING {
        // The shell closes fd 1 (`>&-`), then runs the tool.
        let mut cmd = f.cmd(&[]);
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg("exec \"$0\" \"$@\" >&-")
            .arg(BIN)
            .arg("--root")
            .arg(f.root())
            .args(*args);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => shell.env(k, v),
                None => shell.env_remove(k),
            };
        }
        cmd = shell;
        let (code, _, err) = outcome(cmd.output().expect("run"));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.ends_with("error: could not write to stdout: it was closed when the run started\n"),
            "{args:?}: {err}"
        );
    }
    // A daemon's child, all three on one read-write /dev/null (as daemon(3)
    // leaves them): its output is discarded on purpose; the run succeeds.
    let mut daemon = Command::new("sh");
    daemon
        .arg("-c")
        .arg("exec \"$0\" \"$@\" <>/dev/null >&0 2>&0")
        .arg(BIN)
        .arg("--root")
        .arg(f.root())
        .arg("list");
    let status = daemon.status().expect("run");
    assert_eq!(status.code(), Some(0));
    // /dev/null on purpose is written, not refused.
    let (code, _, err) = outcome(
        f.cmd(&["--root"])
            .arg(f.root())
            .arg("list")
            .stdout(Stdio::null())
            .output()
            .expect("run"),
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_reader_that_went_away_is_not_an_error() {
    // `… | true`: the reader exits without reading; the write meets EPIPE
    // (or the pipe's buffer): the run ends as it would have, quietly.
    let f = Fixture::new();
    for args in [&["schema"][..], &["render"][..]] {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg("\"$0\" \"$@\" | true; exit \"${PIPESTATUS[0]}\"")
            .arg(BIN)
            .arg("--root")
            .arg(f.root())
            .args(args);
        for (k, v) in f.cmd(&[]).get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let (code, _, err) = outcome(cmd.output().expect("run"));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("error:"), "{args:?}: {err}");
    }
}

// ---- 9. An unwritable --report is found before the build.

#[test]
fn an_unwritable_report_is_refused_before_anything_builds() {
    let f = Fixture::new();
    let file = f.root().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let under_a_file = file.join("report.json");
    let a_folder = f.root().join("packages.d");
    for (path, says) in [
        (&under_a_file, "a-file is not a folder"),
        (&a_folder, "it is a folder; give a file name"),
    ] {
        let (code, out, err) = f.run(&["build", "--report", &path.display().to_string()]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "no tag: {out}");
        assert!(
            err.contains(&format!(
                "error: --report {}: cannot write the report there (checked before building): ",
                path.display()
            )) && err.contains(says),
            "{err}"
        );
        assert!(
            f.engine_calls().is_empty(),
            "the engine was not called: {:?}",
            f.engine_calls()
        );
    }
    // A report in a folder that does not exist yet: made, written, and
    // nothing else left there.
    let report = f.root().join("out/sub/report.json");
    let (code, out, err) = f.run(&["build", "--report", &report.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty(), "the tag");
    assert!(f.engine_calls().contains(&"build".to_owned()));
    let text = std::fs::read_to_string(&report).expect("report written");
    assert!(text.contains("\"exit_status\": 0"), "{text}");
    let left: Vec<_> = std::fs::read_dir(report.parent().expect("parent"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("report.json")]);
}

// ---- 13a. A child's escape sequences never reach the terminal.

/// What a hostile or broken child prints: a title change, colours, a
/// hidden link, a bell, a backspace and a carriage return.
const HOSTILE: &str =
    r"\033]0;pwned\007\033[31mdenied\033[0m: \033]8;;http://x/\007see\033]8;;\007 \007\010\rend";

fn assert_printable(err: &str) {
    let bad: Vec<char> = err
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(
        bad.is_empty(),
        "control characters {bad:?} reached stderr: {err:?}"
    );
    assert!(
        !err.contains("pwned"),
        "an OSC's payload went through: {err:?}"
    );
}

#[test]
fn a_registrys_error_text_reaches_the_terminal_stripped() {
    // Every pull fails, saying HOSTILE; the build goes on without the cache.
    let engine = format!(
        "#!/bin/sh\ncase \"$1\" in\n  version) echo linux/amd64 ;;\n  pull) printf '{HOSTILE}\\n' >&2; exit 1 ;;\n  \
         build) cat >/dev/null; echo built ;;\nesac\nexit 0\n"
    );
    let f = Fixture::with_engine(&engine);
    let (code, out, err) = f.run(&["build", "--cache-registry", "127.0.0.1:1/ci"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty(), "the tag");
    assert!(err.contains("denied: see end"), "the words stay: {err:?}");
    assert_printable(&err);
}

#[test]
fn git_error_text_reaches_the_terminal_stripped() {
    // An unpinned package; git fails saying HOSTILE.
    let f = Fixture::new();
    std::fs::write(
        f.root().join("packages.d/acme-a.toml"),
        "name = \"acme/a\"\nbuild_type = \"make\"\n",
    )
    .expect("write");
    let git = f.bin.path().join("git");
    std::fs::write(
        &git,
        format!("#!/bin/sh\nprintf '{HOSTILE}\\n' >&2\nexit 128\n"),
    )
    .expect("write git");
    make_executable(&git);
    let (code, out, err) = f.run(&["render"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("denied: see end"), "the words stay: {err:?}");
    assert_printable(&err);
}
