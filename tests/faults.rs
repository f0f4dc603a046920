//! Fault injection: fake engines, gits and curls that hang (with children
//! of their own), crash, die by a signal or print garbage or floods. Each
//! run ends in bounded time with a clear message and the documented exit
//! status (1 for a failure, 130 for SIGINT/SIGTERM), and leaves no process
//! behind: every fake records its pid and its child's, and each is checked.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A fake program's body that starts a child, records both pids in
/// `$FAULT_DIR/pids` and the fact it started in `$FAULT_DIR/started`, then
/// waits forever.
const HANG: &str = "sleep 300 &\necho $! >> \"$FAULT_DIR/pids\"\necho $$ >> \"$FAULT_DIR/pids\"\n\
                    touch \"$FAULT_DIR/started\"\nwait\n";

struct Faults {
    bin: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Faults {
    fn new() -> Faults {
        let f = Faults {
            bin: tempfile::tempdir().expect("tempdir"),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        // Lookups answer as GitHub did for the golden vectors unless a test
        // replaces git.
        let git = fake_git(&[]);
        std::fs::copy(git.path().join("git"), f.bin.path().join("git")).expect("copy git");
        f
    }

    /// Writes a fake `name` on PATH with this shell body.
    fn program(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write fake");
        make_executable(&path);
        path
    }

    /// The tool on `root`, PATH with the fakes first, in a process group of
    /// its own (so the test can signal that group).
    fn tool(&self, root: &Path, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = tool(self.bin.path());
        cmd.arg("--root")
            .arg(root)
            .args(args)
            .env("FAULT_DIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        cmd
    }

    fn started(&self) -> bool {
        self.dir.path().join("started").exists()
    }

    /// Waits until a fake has started (at most 30 s).
    fn wait_started(&self) {
        let t = Instant::now();
        while !self.started() && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(self.started(), "no fake started");
    }

    /// Every pid a fake recorded is gone (allowing a moment for reaping).
    fn assert_none_left(&self) {
        let pids = std::fs::read_to_string(self.dir.path().join("pids")).unwrap_or_default();
        for pid in pids.lines() {
            let t = Instant::now();
            while alive(pid) && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!alive(pid), "process {pid} was left running");
        }
    }
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Waits for `child` at most `limit`, reading its output meanwhile; kills
/// it and fails the test past the limit.
fn finish(child: Child, limit: Duration) -> (Output, Duration) {
    let t = Instant::now();
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => (out.expect("output"), t.elapsed()),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the tool did not end within {limit:?}");
        }
    }
}

fn signal(child: &Child, sig: &str, group: bool) {
    let target = if group {
        format!("-{}", child.id())
    } else {
        child.id().to_string()
    };
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), "--", &target])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An engine whose `image ls` answers nothing and whose builds run `build`.
fn engine_with_build(f: &Faults, build: &str) -> PathBuf {
    f.program(
        "docker",
        &format!(
            "case \"$1\" in\n  image) exit 0 ;;\n  build) cat >/dev/null\n{build}\n;;\nesac\n"
        ),
    )
}

#[test]
fn a_hanging_image_ls_ends_at_the_engine_timeout() {
    let f = Faults::new();
    f.program(
        "docker",
        &format!("case \"$1\" in image) {HANG} ;; esac\nexit 0\n"),
    );
    let root = acme_root();
    let child = f
        .tool(root.path(), &["build", "--engine-timeout", "1"])
        .spawn()
        .expect("spawn");
    let (out, took) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "{took:?}");
    let err = text(&out.stderr);
    assert!(err.contains("did not finish within 1s"), "{err}");
    assert!(err.contains("--engine-timeout"), "{err}");
    assert!(out.stdout.is_empty());
    f.assert_none_left();
}

#[test]
fn sigint_during_a_hanging_image_ls_exits_130_at_once() {
    let f = Faults::new();
    f.program(
        "docker",
        &format!("case \"$1\" in image) {HANG} ;; esac\nexit 0\n"),
    );
    let root = acme_root();
    let child = f.tool(root.path(), &["build"]).spawn().expect("spawn");
    f.wait_started();
    signal(&child, "INT", false);
    let (out, took) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(out.stdout.is_empty());
    f.assert_none_left();
}

#[test]
fn a_build_past_the_stage_timeout_fails_that_stage_and_stops_its_children() {
    let f = Faults::new();
    engine_with_build(&f, HANG);
    let root = acme_root();
    let child = f
        .tool(root.path(), &["build", "--stage-timeout", "1"])
        .spawn()
        .expect("spawn");
    let (out, took) = finish(child, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(err.contains("did not finish within 1s"), "{err}");
    assert!(err.contains("--stage-timeout"), "{err}");
    assert!(err.contains("build failed: base"), "{err}");
    assert!(out.stdout.is_empty());
    f.assert_none_left();
}

#[test]
fn sigint_to_the_whole_process_group_during_builds_exits_130_with_the_summary() {
    let f = Faults::new();
    engine_with_build(&f, HANG);
    let root = acme_root();
    let child = f.tool(root.path(), &["build"]).spawn().expect("spawn");
    f.wait_started();
    signal(&child, "INT", true);
    let (out, took) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(err.contains("cancelled"), "the summary: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(out.stdout.is_empty());
    f.assert_none_left();
}

#[test]
fn an_engine_that_dies_by_a_signal_or_floods_output_is_a_clear_failure() {
    // Killed by SIGKILL mid-build.
    let f = Faults::new();
    engine_with_build(&f, "echo step 1\nkill -KILL $$");
    let root = acme_root();
    let child = f.tool(root.path(), &["build"]).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("signal 9"), "{err}");
    assert!(out.stdout.is_empty());

    // 64 MB on one line without an end, then binary garbage: read in
    // bounded pieces, the build still succeeds.
    let f = Faults::new();
    engine_with_build(
        &f,
        "head -c 67108864 /dev/zero | tr '\\0' x\nhead -c 4096 /dev/urandom\necho\nexit 0",
    );
    let child = f.tool(root.path(), &["build"]).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("openbmc/ubuntu-unit-test:"));
}

#[test]
fn sigterm_during_branch_head_lookups_exits_130_and_stops_every_git() {
    let f = Faults::new();
    f.program("git", HANG);
    let child = f.tool(&repo(), &["render"]).spawn().expect("spawn");
    f.wait_started();
    // Let every lookup start.
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM", false);
    let (out, took) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "one message: {err}");
    assert!(out.stdout.is_empty());
    f.assert_none_left();
}

#[test]
fn a_git_that_crashes_or_floods_fails_the_lookup_with_the_package_named() {
    let f = Faults::new();
    f.program("git", "kill -SEGV $$\n");
    let child = f.tool(&repo(), &["render"]).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("openbmc/sdbusplus"), "{err}");
    assert!(err.contains("signal"), "{err}");

    let f = Faults::new();
    f.program("git", "head -c 33554432 /dev/zero | tr '\\0' a\n");
    let child = f.tool(&repo(), &["render"]).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("more than 4 MiB"), "{err}");
}

#[test]
fn sigint_during_bump_checksum_exits_130_stops_curl_and_writes_nothing() {
    let f = Faults::new();
    f.program("curl", HANG);
    let root = acme_root();
    let manifest = root.path().join("packages.d/acme-a.toml");
    let before = std::fs::read_to_string(&manifest).expect("read");
    let child = f
        .tool(root.path(), &["bump", "acme/a", "v2", "--checksum"])
        .spawn()
        .expect("spawn");
    f.wait_started();
    signal(&child, "INT", false);
    let (out, took) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(std::fs::read_to_string(&manifest).expect("read"), before);
    f.assert_none_left();
}

#[test]
fn sigterm_during_a_gerrit_lookup_exits_130_and_stops_curl() {
    let f = Faults::new();
    f.program("curl", HANG);
    let child = f
        .tool(&repo(), &["render"])
        .env("GERRIT_TOPIC", "t")
        .env("BUILD_UNIT_TEST_GERRIT_URL", "http://127.0.0.1:9")
        .spawn()
        .expect("spawn");
    f.wait_started();
    signal(&child, "TERM", false);
    let (out, took) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(6), "{took:?}");
    f.assert_none_left();
}

#[test]
fn sigint_during_outdated_lookups_exits_130_with_one_line() {
    let f = Faults::new();
    f.program("git", HANG);
    let root = acme_root();
    let child = f.tool(root.path(), &["outdated"]).spawn().expect("spawn");
    f.wait_started();
    signal(&child, "INT", false);
    let (out, took) = finish(child, Duration::from_secs(20));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(out.stdout.is_empty(), "no table: {}", text(&out.stdout));
    f.assert_none_left();
}
