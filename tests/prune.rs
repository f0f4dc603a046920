//! `prune` through the real binary against a scripted engine: what it
//! asks the engine (and never asks: `rmi -f`), what it prints where, its
//! exit statuses, and that it needs no project: every run is in an empty
//! directory. The real engines and registry are in tests/e2e.rs.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{make_executable, BIN};

/// 2023-11-14: ISO week 2023-W46.
const EPOCH: &str = "1700000000";
const H: &str = "0123456789abcdef";

/// A fake engine: `image ls` lists `images` (id, repository, tag), every
/// image is 1000 bytes, container `holder` uses image `cc`, `rmi` logs its
/// arguments, fails for the tags in `$REFUSE`, finds those in `$GONE` gone
/// already (as after another prune) and deletes the image but for
/// `bud-base:2023-W45-…` (which `latest` also names), `system df` says 1.2GB.
fn engine(dir: &Path, images: &[(&str, &str, String)]) -> PathBuf {
    let listing: String = images
        .iter()
        .map(|(id, repo, tag)| format!("sha256:{id}\\t{repo}\\t{tag}\\n"))
        .collect();
    let script = format!(
        r#"#!/bin/sh
D="$(dirname "$0")"
printf '%s\n' "$*" >> "$D/calls"
case "$1 $2" in
"image ls") printf '{listing}' ;;
"image inspect") shift 4; for id in "$@"; do printf 'sha256:%s\t1000\n' "$id"; done ;;
"ps --all") echo c0ffee ;;
"container inspect") printf '/holder\tsha256:cc\n' ;;
"system df") printf 'Images\t1.2GB\nContainers\t0B\n' ;;
rmi*) case " $REFUSE " in *" $2 "*) echo "Error response from daemon: conflict" >&2; exit 1 ;; esac
      case " $GONE " in *" $2 "*) echo "Error: No such image: $2" >&2; exit 1 ;; esac
      echo "Untagged: $2"; case "$2" in bud-base:2023-W45-*) ;; *) echo "Deleted: sha256:0" ;; esac ;;
*) echo "unexpected: $*" >&2; exit 3 ;;
esac
"#
    );
    let path = dir.join("docker");
    std::fs::write(&path, script).expect("write fake engine");
    make_executable(&path);
    path
}

fn prune(dir: &Path, engine: &Path, args: &[&str], refuse: &str) -> Output {
    prune_with(dir, engine, args, &[("REFUSE", refuse)])
}

fn prune_with(dir: &Path, engine: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("prune")
        .args(args)
        .arg("--engine")
        .arg(engine)
        .env("DOCKER_IMAGE_NAME", "bud")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .envs(env.iter().copied())
        .output()
        .expect("run prune")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn images() -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("aa", "bud-base", format!("2023-W44-{H}")),
        ("bb", "bud-base", format!("2023-W45-{H}")),
        ("bb", "bud-base", "latest".to_owned()),
        ("cc", "bud", format!("2023-W45-{H}")),
        ("dd", "bud", format!("2023-W46-{H}")),
        ("ee", "budfoo-base", format!("2023-W44-{H}")),
        ("ff", "other/img-base", format!("2020-W01-{H}")),
    ]
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_dry_run_lists_and_removes_nothing_without_any_project() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = engine(bin.path(), &images());
    let out = prune(cwd.path(), &docker, &["--dry-run"], "");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "would remove bud-base:2023-W44-{H}  (image aa deleted"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "would untag  bud-base:2023-W45-{H}  (image bb stays: still tagged bud-base:latest)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "left         bud:2023-W45-{H}  (image cc is used by container holder)"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains("budfoo") && !stdout.contains("other/img"),
        "{stdout}"
    );
    assert!(
        !calls(bin.path()).iter().any(|c| c.starts_with("rmi")),
        "{:?}",
        calls(bin.path())
    );
}

#[test]
fn a_prune_removes_tags_without_force_then_has_nothing_to_do() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = engine(bin.path(), &images());
    let out = prune(cwd.path(), &docker, &["--format", "json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON only");
    assert_eq!(json["current_week"], "2023-W46");
    assert_eq!(json["removed"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json["in_use"][0]["containers"][0], "holder");
    assert_eq!(json["kept_tags"], 1);
    assert_eq!(json["image_storage_bytes"]["before"], 1_200_000_000u64);
    let rmi: Vec<String> = calls(bin.path())
        .into_iter()
        .filter(|c| c.starts_with("rmi"))
        .collect();
    assert_eq!(
        rmi,
        [
            format!("rmi bud-base:2023-W44-{H}"),
            format!("rmi bud-base:2023-W45-{H}")
        ],
        "one tag a call, never -f"
    );
}

#[test]
fn a_refused_removal_fails_the_run_naming_the_tag() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = engine(bin.path(), &images());
    let refused = format!("bud-base:2023-W44-{H}");
    let out = prune(cwd.path(), &docker, &[], &refused);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with("error: 1 tag(s) could not be removed (the others were):")
            && stderr.contains(&format!("{refused}: `"))
            && stderr.contains("conflict"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("untagged     bud-base:2023-W45-{H}")),
        "{stdout}"
    );
}

#[test]
fn a_tag_gone_meanwhile_is_no_failure() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = engine(bin.path(), &images());
    let gone = format!("bud-base:2023-W44-{H}");
    let out = prune_with(cwd.path(), &docker, &[], &[("GONE", &gone)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("gone         {gone}  (removed meanwhile")),
        "{stdout}"
    );
}

#[test]
fn nothing_old_is_exit_0_and_bad_settings_are_usage_errors() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = engine(bin.path(), &[("dd", "bud", format!("2023-W46-{H}"))]);
    let out = prune(cwd.path(), &docker, &[], "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "nothing to prune for bud: 1 tag(s) of 2023-W46 kept\n"
    );
    let out = prune(cwd.path(), &docker, &["--image-name", "Bad Name"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("DOCKER_IMAGE_NAME (--image-name)"),
        "{}",
        text(&out.stderr)
    );
    let out = prune(
        cwd.path(),
        &docker,
        &["--cache-registry", "not a registry"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_hung_engine_is_stopped_at_the_engine_timeout() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = bin.path().join("docker");
    std::fs::write(&docker, "#!/bin/sh\nexec sleep 60\n").expect("write");
    make_executable(&docker);
    let start = std::time::Instant::now();
    let out = prune(cwd.path(), &docker, &["--engine-timeout", "1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        text(&out.stderr).contains("--engine-timeout"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sigterm_stops_the_engine_and_its_children_and_exits_130() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let docker = bin.path().join("docker");
    let pids = bin.path().join("pids");
    std::fs::write(
        &docker,
        format!(
            "#!/bin/sh\nsleep 60 &\necho $! > '{}'\nwait\n",
            pids.display()
        ),
    )
    .expect("write");
    make_executable(&docker);
    let child = Command::new(BIN)
        .current_dir(cwd.path())
        .args(["prune", "--engine"])
        .arg(&docker)
        .env("DOCKER_IMAGE_NAME", "bud")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start prune");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !pids.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sleeper = std::fs::read_to_string(&pids).expect("the engine started");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted; nothing more was removed"),
        "{}",
        text(&out.stderr)
    );
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gone(sleeper.trim()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone(sleeper.trim()), "the engine's child was stopped too");
}
