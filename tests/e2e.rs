//! End to end against a real Docker daemon: the fixture tree in tests/e2e/
//! (one small C/C++ library per build type, with real dependency edges) is
//! built by the real binary, from source tarballs this test serves itself on
//! 127.0.0.1, on the local base image that `scripts/docker-up.sh` makes.
//!
//! (a) a cold build gives one tag on stdout, and a final image holding every
//!     package, in which a program linked against two packages runs;
//! (b) a second run builds nothing;
//! (c) bumping one package's rev rebuilds exactly it, its transitive
//!     dependents and the final stage;
//! (d) a package whose tarball is missing fails, its dependent is skipped,
//!     an independent new package is still built, and stdout stays empty;
//! (e) `prune` after three weeks of builds, on the daemon and on a real
//!     registry (`e2e_prune_three_weeks`).
//!
//! Builds are counted through `--engine`: a wrapper script that logs every
//! `build` invocation, then runs the real docker.
//!
//! Without a daemon the test prints how to start one and passes, except
//! with CI=true, where it fails. Images are named `bud-e2e-<pid>` and removed
//! at the end (BUD_E2E_KEEP_IMAGES=1 keeps them); the base stage is kept as
//! `bud-e2e-layer-cache:base` so the next run reuses its apt layer.
//! BUD_E2E_VERBOSE=1 prints the tool's whole stderr of every run;
//! BUD_E2E_DOCKER names another docker executable.
//!
//! `e2e_rootless_podman` runs (a) and (b) as an ordinary user with rootless
//! podman, the user `scripts/rootless-up.sh` made; where the host cannot
//! (not root, no user namespaces, no runtime that works), it says why and
//! skips, also with CI=true. Once it has started, a failure fails.
//! `e2e_podman_default_runtime_failure_says_what_to_change` builds through
//! podman's own default runtime where it refuses this host (crun on hybrid
//! cgroups): the summary's hint must name the fix.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{copy_tree, make_executable, repo, FileServer, BIN};

/// 2023-11-14: ISO week 2023-W46.
const SOURCE_DATE_EPOCH: &str = "1700000000";
const WEEK: &str = "2023-W46";
/// The base image `scripts/docker-up.sh` makes (tests/e2e/templates/base.toml).
const BASE_IMAGE: &str = "bud-debian:bookworm";
/// The port written in the committed manifests; rewritten to the bound one.
const FIXED_PORT_HOST: &str = "127.0.0.1:8088";
const CACHE_TAG: &str = "bud-e2e-layer-cache:base";
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const PROGRAM_OUTPUT: &str =
    "e2e fixtures: pythagorean(3,4,5)=1 pythagorean(2,3,4)=0 nonuple(5)=45 answer=42";

/// The fixture packages: name, and what it installs under /usr/local.
const PACKAGES: &[(&str, &[&str])] = &[
    (
        "e2e/autoconflib",
        &["include/autoconflib.h", "lib/libautoconflib.so"],
    ),
    (
        "e2e/autogenlib",
        &["include/autogenlib.h", "lib/libautogenlib.so"],
    ),
    (
        "e2e/cmakelib",
        &["include/cmakelib/cmakelib.hpp", "lib/libcmakelib.so"],
    ),
    ("e2e/customlib", &["include/customlib/customlib.h"]),
    ("e2e/makelib", &["include/makelib.h", "lib/libmakelib.so"]),
    (
        "e2e/mesonlib",
        &["include/mesonlib/mesonlib.hpp", "lib/libmesonlib.so"],
    ),
];

fn fixture() -> PathBuf {
    repo().join("tests/e2e")
}

/// The fixture tree uses the project's own package, final and build-type
/// templates, byte for byte (only the base template is its own): a change
/// there must be copied here, or the e2e test would test something else.
#[test]
fn e2e_templates_are_the_projects() {
    let mut files = vec![
        PathBuf::from("package.Dockerfile.j2"),
        PathBuf::from("final.Dockerfile.j2"),
    ];
    let ours = repo().join("templates/build-types");
    for entry in std::fs::read_dir(&ours).expect("read templates/build-types") {
        let entry = entry.expect("dir entry");
        files.push(Path::new("build-types").join(entry.file_name()));
    }
    for f in files {
        let want = std::fs::read(repo().join("templates").join(&f)).expect("read template");
        let got = std::fs::read(fixture().join("templates").join(&f)).unwrap_or_default();
        assert!(
            want == got,
            "tests/e2e/templates/{0} differs from templates/{0}; copy it: \
             cp templates/{0} tests/e2e/templates/{0}",
            f.display()
        );
    }
}

#[test]
fn e2e_real_docker() {
    let Some(docker) = engine_or_skip("BUD_E2E_DOCKER", "docker") else {
        return;
    };
    scenario(Run::new(docker));
}

/// The same scenario with the tool unchanged on Debian's podman (made ready
/// by `scripts/podman-up.sh`).
#[test]
fn e2e_real_podman() {
    let Some(podman) = engine_or_skip("BUD_E2E_PODMAN", "podman") else {
        return;
    };
    scenario(Run::new(podman));
}

/// Where podman's own default runtime cannot run containers on this host
/// (crun on hybrid cgroups, which `scripts/podman-up.sh` works around for
/// the other tests), a build through it fails, and the summary's one hint
/// names the fix. Elsewhere it skips, saying why.
#[test]
fn e2e_podman_default_runtime_failure_says_what_to_change() {
    let Some(podman) = engine_or_skip("BUD_E2E_PODMAN", "podman") else {
        return;
    };
    let mut probe = Command::new(&podman);
    probe.env_remove("CONTAINERS_CONF").args([
        "run",
        "--rm",
        "--network=host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        BASE_IMAGE,
        "true",
    ]);
    let out = run_with_timeout(probe, None, Duration::from_secs(120));
    if out.code == Some(0) || !out.stderr.contains("cgroups in hybrid mode not supported") {
        eprintln!(
            "e2e hint: podman's default runtime does not refuse this host's cgroups ({}); \
             skipping",
            out.stderr
                .trim()
                .lines()
                .next_back()
                .unwrap_or("it runs containers")
        );
        return;
    }
    let run = Run::new(podman.clone());
    // The engine as a user who never heard of CONTAINERS_CONF would run it.
    let wrapper = run._tmp.path().join("podman-default");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh
unset CONTAINERS_CONF
exec '{}' \"$@\"\n",
            podman.display()
        ),
    )
    .expect("write wrapper");
    make_executable(&wrapper);
    let log = run._tmp.path().join("default-runtime.log");
    let r = run.build_with("hint", &wrapper, &log, &[]);
    assert_eq!(r.code, Some(1), "(hint) the build fails\n{}", r.context());
    let hints: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("hint: "))
        .collect();
    assert_eq!(hints.len(), 1, "(hint) one hint line\n{}", r.context());
    assert!(
        hints[0].contains("set `runtime = \"runc\"` under `[engine]` in containers.conf"),
        "{}",
        hints[0]
    );
}

/// (a) and (b) as an ordinary user with rootless podman: the user, its
/// subordinate ids, runtime folder, containers.conf and base image are
/// `scripts/rootless-up.sh`'s (named in $BUD_ROOTLESS_STATE/env, default
/// /tmp/bud-rootless/env). The temp tree is handed to that user.
#[test]
fn e2e_rootless_podman() {
    let Some(user) = rootless_or_skip() else {
        return;
    };
    let Some(podman) = find_program(Path::new("podman")) else {
        eprintln!("e2e rootless: no `podman` on PATH; skipping");
        return;
    };
    let start = Instant::now();
    let run = Run::new_as(podman, user);
    cold_build_and_noop(&run);
    eprintln!(
        "e2e rootless: cold build, image check and no-op rebuild as {} in {:.1}s",
        run.user.as_ref().map_or("?", |u| u.name.as_str()),
        start.elapsed().as_secs_f64()
    );
}

/// The fleet cache through a real registry (Debian's docker-registry, run
/// here on 127.0.0.1) between two Docker daemons standing in for two CI
/// machines: A (the first daemon) and B (scripts/fleet-up.sh's). Counts
/// come from the engine calls the tool made.
#[test]
fn e2e_fleet_cache_through_a_real_registry() {
    let Some(docker) = engine_or_skip("BUD_E2E_DOCKER", "docker") else {
        return;
    };
    let host_b = std::env::var("BUD_DOCKER_B_HOST")
        .unwrap_or_else(|_| "unix:///run/bud-docker-b/docker.sock".to_owned());
    let b_answers = {
        let mut cmd = Command::new(&docker);
        cmd.args(["-H", &host_b, "info"]);
        run_with_timeout(cmd, None, Duration::from_secs(30)).code == Some(0)
    };
    let registry_bin = find_program(Path::new("docker-registry"));
    if !b_answers || registry_bin.is_none() {
        let msg = format!(
            "e2e fleet: machine B ({host_b}) answers: {b_answers}, docker-registry installed: {}; \
             run `scripts/fleet-up.sh` first",
            registry_bin.is_some()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (CI=true: not skipping)");
        }
        eprintln!("{msg}; skipping");
        return;
    }
    let run = Run::new(docker.clone());
    let mut registry = LocalRegistry::start(registry_bin.as_deref().expect("checked"));
    let reference = format!("127.0.0.1:{}/bud-fleet", registry.port);
    // Every remote name carries the platform the daemon reports (both
    // daemons are this machine's): REF/<os>-<arch>/<local tag>.
    let platform = {
        let mut cmd = Command::new(&docker);
        cmd.args(["version", "--format", "{{.Server.Os}}-{{.Server.Arch}}"]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(60));
        assert_eq!(out.code, Some(0), "docker version: {}", out.stderr);
        out.stdout.trim().to_owned()
    };
    let under_platform = |r: &BuildRun| {
        let prefix = format!("{reference}/{platform}/{}", run.image);
        assert!(
            r.remotes.iter().all(|n| n.starts_with(&prefix)),
            "({}) every remote name starts with {prefix}: {:?}",
            r.step,
            r.remotes
        );
    };
    let machine = |name: &str, host: Option<&str>| {
        let wrapper = run._tmp.path().join(format!("docker-{name}"));
        let log = run._tmp.path().join(format!("calls-{name}.log"));
        write_wrapper(&wrapper, &docker, &log, host);
        (wrapper, log)
    };
    let (a, a_log) = machine("a", None);
    let (b, b_log) = machine("b", Some(&host_b));
    let cache = ["--cache-registry", reference.as_str()];
    let push = ["--cache-registry", reference.as_str(), "--cache-push"];
    let every_stage = set(&[
        "base",
        "e2e-autoconflib",
        "e2e-autogenlib",
        "e2e-cmakelib",
        "e2e-customlib",
        "e2e-makelib",
        "e2e-mesonlib",
        "final",
    ]);

    // A, empty, pushing: builds every stage and pushes every one.
    let a1 = run.build_with("fleet-a1", &a, &a_log, &push);
    a1.assert_success();
    assert_eq!(
        a1.built_stages(),
        every_stage,
        "(A1) every stage built\n{}",
        a1.context()
    );
    assert_eq!(
        a1.pushes,
        every_stage,
        "(A1) every stage pushed\n{}",
        a1.context()
    );
    assert!(a1.pulls.is_empty(), "(A1) nothing pulled\n{}", a1.context());
    under_platform(&a1);
    let tag = a1.final_tag(&run.image);

    // B, empty, dry run: says the final image would be pulled, nothing else.
    let dry = run.build_with("fleet-b0", &b, &b_log, &["--dry-run", cache[0], cache[1]]);
    dry.assert_success();
    let final_line = dry
        .stdout
        .lines()
        .find(|l| l.starts_with("final "))
        .unwrap_or_default();
    assert!(final_line.contains("would pull"), "(B0) {}", dry.stdout);
    assert!(
        dry.stdout
            .contains("0 would build, 1 would pull, 7 not needed"),
        "(B0) {}",
        dry.stdout
    );
    assert!(dry.pulls.is_empty() && dry.builds.is_empty());

    // B, empty: no build, exactly one pull (the final image), same tag.
    let report = run._tmp.path().join("fleet-b1.json");
    let report_arg = report.display().to_string();
    let b1 = run.build_with(
        "fleet-b1",
        &b,
        &b_log,
        &[cache[0], cache[1], "--report", &report_arg],
    );
    b1.assert_success();
    assert!(b1.builds.is_empty(), "(B1) nothing built\n{}", b1.context());
    assert_eq!(b1.pulls, set(&["final"]), "(B1) one pull\n{}", b1.context());
    under_platform(&b1);
    assert_eq!(b1.final_tag(&run.image), tag, "(B1) the same final tag");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(
        (json["pulled"].as_u64(), json["pushed"].as_u64()),
        (Some(1), Some(0))
    );
    run.check_image_on(&tag, &[], Some(&host_b));
    eprintln!(
        "e2e fleet: cold build on A {:.1}s (with pushes); fresh machine B from the registry {:.1}s",
        a1.seconds, b1.seconds
    );

    // A bump on B, pushing: builds exactly the stages whose tags changed,
    // pulls what those builds need that B lacks, pushes what it built.
    run.set_rev("e2e-makelib.toml", "1.0", "1.1");
    run.make_tarballs();
    let changed = set(&["e2e-autoconflib", "e2e-autogenlib", "e2e-makelib", "final"]);
    let b2 = run.build_with("fleet-b2", &b, &b_log, &push);
    b2.assert_success();
    assert_eq!(b2.built_stages(), changed, "(B2) builds\n{}", b2.context());
    assert_eq!(
        b2.pulls,
        set(&["base", "e2e-cmakelib", "e2e-customlib", "e2e-mesonlib"]),
        "(B2) pulls\n{}",
        b2.context()
    );
    assert_eq!(b2.pushes, changed, "(B2) pushes\n{}", b2.context());
    under_platform(&b2);
    let tag2 = b2.final_tag(&run.image);

    // A after the same bump: no build, one pull.
    let a2 = run.build_with("fleet-a2", &a, &a_log, &cache);
    a2.assert_success();
    assert!(a2.builds.is_empty(), "(A2) nothing built\n{}", a2.context());
    assert_eq!(a2.pulls, set(&["final"]), "(A2) one pull\n{}", a2.context());
    assert_eq!(a2.final_tag(&run.image), tag2);

    // The registry stopped: B builds what it must, warns once, exit 0.
    registry.stop();
    run.set_rev("e2e-makelib.toml", "1.1", "1.2");
    run.make_tarballs();
    let b3 = run.build_with("fleet-b3", &b, &b_log, &push);
    b3.assert_success();
    assert_eq!(b3.built_stages(), changed, "(B3) builds\n{}", b3.context());
    assert_eq!(
        b3.stderr.matches("warning:").count(),
        1,
        "(B3) one warning\n{}",
        b3.context()
    );
    assert!(b3.pushes.is_empty() && b3.pulls.is_empty());
    run.check_image_on(
        &b3.final_tag(&run.image),
        &[("e2e/makelib", "1.2")],
        Some(&host_b),
    );
    // What A pulled under the registry's names goes with the run.
    run.remove_images_named(&format!("127.0.0.1:{}/", registry.port));
}

/// Debian's docker-registry on a free port of 127.0.0.1, with a config of
/// its own (filesystem storage in a temp dir); stopped on drop.
struct LocalRegistry {
    port: u16,
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    fn start(program: &Path) -> LocalRegistry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write config");
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        LocalRegistry {
            port,
            child: Some(child),
            _dir: dir,
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Cold build, no-op, bump, failure: (a) to (d) of the module comment.
fn scenario(run: Run) {
    let tag_a = cold_build_and_noop(&run);
    bump_and_failures(&run, &tag_a);
}

/// (a) and (b); the final tag.
fn cold_build_and_noop(run: &Run) -> String {
    // (a) cold build: every stage is built once.
    let a = run.build("a");
    a.assert_success();
    let tag_a = a.final_tag(&run.image);
    assert_eq!(
        a.built_stages(),
        set(&[
            "base",
            "e2e-autoconflib",
            "e2e-autogenlib",
            "e2e-cmakelib",
            "e2e-customlib",
            "e2e-makelib",
            "e2e-mesonlib",
            "final",
        ]),
        "(a) every stage built once\n{}",
        a.context()
    );
    run.check_image(&tag_a, &[]);

    // (b) nothing changed: nothing is built, every stage reported cached.
    let b = run.build("b");
    b.assert_success();
    assert_eq!(b.final_tag(&run.image), tag_a, "(b) same final tag");
    assert!(
        b.builds.is_empty(),
        "(b) no builds expected, got {:?}\n{}",
        b.built_stages(),
        b.context()
    );
    for tag in a.builds.values() {
        assert!(
            b.stderr
                .contains(&format!("Image {tag} already exists.  Skipping.")),
            "(b) {tag} not reported as existing\n{}",
            b.context()
        );
    }
    tag_a
}

/// (c), (c2) and (d), after (a) made `tag_a`.
fn bump_and_failures(run: &Run, tag_a: &str) {
    // (c) bump e2e/makelib: it, its dependents (autoconflib, and autogenlib
    // through it) and the final stage are rebuilt, nothing else.
    run.set_rev("e2e-makelib.toml", "1.0", "1.1");
    run.make_tarballs();
    let c = run.build("c");
    c.assert_success();
    let tag_c = c.final_tag(&run.image);
    assert_ne!(tag_c, tag_a, "(c) a new final image");
    assert_eq!(
        c.built_stages(),
        set(&["e2e-autoconflib", "e2e-autogenlib", "e2e-makelib", "final"]),
        "(c) the bumped stage, its transitive dependents and final\n{}",
        c.context()
    );
    run.check_image(&tag_c, &[("e2e/makelib", "1.1")]);

    // (c2) e2e/customlib loses its pin: its revision is the head of master
    // on a git server (a local repository). The other stages are here; the
    // lookup runs beside the check, customlib and final are rebuilt.
    let head = run.serve_git_repo("e2e/customlib");
    run.unpin("e2e-customlib.toml", "1.0");
    std::fs::copy(
        run.tarballs.join("e2e-customlib-1.0.tar.gz"),
        run.tarballs.join(format!("e2e-customlib-{head}.tar.gz")),
    )
    .expect("tarball at the looked-up revision");
    let git_base = format!("file://{}", run.git_base().display());
    let c2 = run.build_with(
        "c2",
        &run.wrapper,
        &run.build_log,
        &["--git-base-url", &git_base],
    );
    c2.assert_success();
    assert_eq!(
        c2.built_stages(),
        set(&["e2e-customlib", "final"]),
        "(c2) the unpinned package at its looked-up revision, and final\n{}",
        c2.context()
    );
    run.check_image(
        &c2.final_tag(&run.image),
        &[("e2e/makelib", "1.1"), ("e2e/customlib", &head)],
    );
    run.set_rev_line("e2e-customlib.toml", "1.0");

    // (d) a package whose tarball does not exist, with a dependent, and an
    // independent new package.
    run.add_failure_fixtures();
    run.make_tarballs();
    let d = run.build("d");
    assert_eq!(
        d.code,
        Some(1),
        "(d) exit status 1 expected\n{}",
        d.context()
    );
    assert_eq!(d.stdout, "", "(d) nothing on stdout\n{}", d.context());
    let missing_url = format!(
        "http://127.0.0.1:{}/e2e-missing-1.0.tar.gz",
        run.server.port
    );
    assert!(
        d.stderr.contains("e2e/missing") && d.stderr.contains(&missing_url),
        "(d) stderr names the failed package and its URL {missing_url}\n{}",
        d.context()
    );
    assert!(
        d.stderr
            .lines()
            .any(|l| l.contains("e2e/needsmissing") && l.contains("skipped")),
        "(d) the dependent e2e/needsmissing reported skipped\n{}",
        d.context()
    );
    assert_eq!(
        d.built_stages(),
        set(&["e2e-latecomer", "e2e-missing"]),
        "(d) the failing and the independent stage built, not the dependent nor final\n{}",
        d.context()
    );
    assert!(
        run.server.requested("/e2e-missing-1.0.tar.gz", 404),
        "(d) the missing tarball was asked for (and answered 404)"
    );
    let latecomer = &d.builds["e2e-latecomer"];
    assert!(
        run.docker_ok(&["image", "inspect", latecomer]),
        "(d) the independent stage {latecomer} exists"
    );
}

// ---------------------------------------------------------------------------
// Docker

/// The engine executable (`$var`, else `default` on PATH), if it answers
/// and has the base image; otherwise a skip (or a failure with CI=true).
fn engine_or_skip(var: &str, default: &str) -> Option<PathBuf> {
    let name = std::env::var_os(var).unwrap_or_else(|| default.into());
    let found = find_program(Path::new(&name));
    let answer = found.as_ref().map(|docker| {
        let mut cmd = Command::new(docker);
        cmd.arg("info");
        run_with_timeout(cmd, None, Duration::from_secs(60))
    });
    let problem = match (&found, answer) {
        (None, _) => format!("no `{}` on PATH", Path::new(&name).display()),
        (Some(_), Some(out)) if out.code == Some(0) => {
            let mut cmd = Command::new(found.as_ref().expect("checked above"));
            cmd.args(["image", "inspect", BASE_IMAGE]);
            let out = run_with_timeout(cmd, None, Duration::from_secs(60));
            if out.code == Some(0) {
                return found;
            }
            format!("the base image {BASE_IMAGE} does not exist")
        }
        (Some(_), Some(out)) => format!("`{default} info` failed: {}", out.stderr.trim()),
        (Some(_), None) => format!("`{default} info` failed"),
    };
    let msg = format!(
        "e2e: {problem}; run `scripts/docker-up.sh` first (it starts dockerd \
         and makes {BASE_IMAGE}), and `scripts/podman-up.sh` for podman"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: not skipping)");
    }
    eprintln!("{msg}; skipping the real-{default} test");
    None
}

/// `name` itself if it has a slash, else its first executable match on PATH.
fn find_program(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 {
        return is_exec(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exec(p))
}

/// An ordinary user made for rootless podman, and its environment.
#[derive(Debug, Clone)]
struct Rootless {
    name: String,
    /// USER, HOME, XDG_RUNTIME_DIR, CONTAINERS_CONF.
    env: Vec<(String, String)>,
}

/// The user `scripts/rootless-up.sh` made ready, or why there is none: a
/// skip with the reason when the host cannot (not root, or the script found
/// no way: also with CI=true); without the script's answer, a skip, or a
/// failure with CI=true.
fn rootless_or_skip() -> Option<Rootless> {
    let state = PathBuf::from(
        std::env::var_os("BUD_ROOTLESS_STATE").unwrap_or_else(|| "/tmp/bud-rootless".into()),
    );
    let skip = |why: String| {
        eprintln!("e2e rootless: {why}; skipping the rootless-podman test");
        None
    };
    // The effective user, as `id -u` says it.
    let id = {
        let mut cmd = Command::new("id");
        cmd.arg("-u");
        run_with_timeout(cmd, None, Duration::from_secs(10)).stdout
    };
    if id.trim() != "0" {
        return skip("it runs as another user, which needs root".to_owned());
    }
    if let Ok(why) = std::fs::read_to_string(state.join("skipped")) {
        return skip(format!(
            "this host cannot run rootless podman: {}",
            why.trim()
        ));
    }
    let Ok(text) = std::fs::read_to_string(state.join("env")) else {
        let msg = format!(
            "no {} (run `scripts/rootless-up.sh` as root first; scripts/test.sh does)",
            state.join("env").display()
        );
        // Not a host that cannot (that is `skipped`): the setup did not run
        // or broke.
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("e2e rootless: {msg} (CI=true: not skipping)");
        }
        return skip(msg);
    };
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let name = env
        .iter()
        .find(|(k, _)| k == "USER")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{} names no USER", state.join("env").display()));
    Some(Rootless { name, env })
}

/// One test run: a temp copy of the fixture tree, its tarballs and server,
/// the engine wrapper, and the images to remove at the end.
struct Run {
    docker: PathBuf,
    /// The ordinary user every engine and tool call runs as (else this
    /// test's own user).
    user: Option<Rootless>,
    image: String,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    tarballs: PathBuf,
    logs: PathBuf,
    wrapper: PathBuf,
    build_log: PathBuf,
    server: FileServer,
}

impl Run {
    fn new(docker: PathBuf) -> Run {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let tarballs = tmp.path().join("tarballs");
        let logs = tmp.path().join("logs");
        copy_tree(&fixture(), &root);
        std::fs::create_dir_all(&tarballs).expect("mkdir tarballs");
        std::fs::create_dir_all(&logs).expect("mkdir logs");

        let server = FileServer::start(&tarballs);
        for manifest in manifests(&root) {
            let text = std::fs::read_to_string(&manifest).expect("read manifest");
            let text = text.replace(FIXED_PORT_HOST, &format!("127.0.0.1:{}", server.port));
            std::fs::write(&manifest, text).expect("write manifest");
        }

        // Logs each build, pull and push with its exit status (one line,
        // so concurrent calls do not interleave), around the real docker.
        let build_log = tmp.path().join("builds.log");
        let wrapper = tmp.path().join("docker-wrapper");
        write_wrapper(&wrapper, &docker, &build_log, None);

        let run = Run {
            image: format!("bud-e2e-{}", std::process::id()),
            docker,
            user: None,
            _tmp: tmp,
            root,
            tarballs,
            logs,
            wrapper,
            build_log,
            server,
        };
        run.make_tarballs();
        run
    }

    /// As `new`, every engine and tool call running as `user`, who is
    /// given the temp tree.
    fn new_as(docker: PathBuf, user: Rootless) -> Run {
        let mut run = Run::new(docker);
        let mut cmd = Command::new("chown");
        cmd.arg("-R").arg(&user.name).arg(run._tmp.path());
        let out = run_with_timeout(cmd, None, Duration::from_secs(60));
        assert_eq!(out.code, Some(0), "chown: {}", out.stderr);
        run.user = Some(user);
        run
    }

    /// `program` as this run's user: `runuser -u USER -- env K=V… program`
    /// with the user's HOME, XDG_RUNTIME_DIR and CONTAINERS_CONF.
    fn command(&self, program: &Path) -> Command {
        let Some(user) = &self.user else {
            return Command::new(program);
        };
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &user.name, "--", "env"]);
        cmd.args(user.env.iter().map(|(k, v)| format!("{k}={v}")));
        cmd.arg("PATH=/usr/sbin:/usr/bin:/sbin:/bin").arg(program);
        cmd
    }

    fn make_tarballs(&self) {
        let mut cmd = Command::new("bash");
        cmd.arg(self.root.join("make-tarballs.sh"))
            .arg(&self.tarballs)
            .arg(&self.root);
        let out = run_with_timeout(cmd, None, Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "make-tarballs.sh: {}", out.stderr);
    }

    /// One `build` run, with the builds it made.
    fn build(&self, step: &str) -> BuildRun {
        self.build_with(step, &self.wrapper, &self.build_log, &[])
    }

    /// One `build` run through `wrapper` (which logs to `log`), with `extra`
    /// arguments; the builds, pulls and pushes it made.
    fn build_with(&self, step: &str, wrapper: &Path, log: &Path, extra: &[&str]) -> BuildRun {
        let _ = std::fs::remove_file(log);
        let mut cmd = self.command(Path::new(BIN));
        cmd.arg("--root")
            .arg(&self.root)
            .arg("build")
            .args(["--jobs", "2"])
            .args(extra)
            .arg("--engine")
            .arg(wrapper)
            .arg("--log-dir")
            .arg(self.logs.join(step))
            .env("DOCKER_IMAGE_NAME", &self.image)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .env("BUILD_UNIT_TEST_CPUS", "2");
        for var in [
            "FORCE_DOCKER_BUILD",
            "BUILD_URL",
            "DISTRO",
            "BRANCH",
            "UBUNTU_MIRROR",
            "DOCKER_REG",
            "GERRIT_PROJECT",
            "GERRIT_PATCHSET_REVISION",
        ] {
            cmd.env_remove(var);
        }
        let start = Instant::now();
        let out = run_with_timeout(cmd, None, BUILD_TIMEOUT);
        eprintln!(
            "e2e ({step}): exit {:?} after {:.1}s",
            out.code,
            start.elapsed().as_secs_f64()
        );
        if std::env::var("BUD_E2E_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!(
                "e2e ({step}) stdout:\n{}\ne2e ({step}) stderr:\n{}",
                out.stdout, out.stderr
            );
        }
        let log = std::fs::read_to_string(log).unwrap_or_default();
        let mut builds = BTreeMap::new();
        let mut pulls = BTreeSet::new();
        let mut pushes = BTreeSet::new();
        let mut remotes = Vec::new();
        for line in log.lines() {
            let (rc, line) = line.split_once(' ').expect("rc and call");
            let args: Vec<&str> = line.split(' ').collect();
            if args[0] == "pull" || args[0] == "push" {
                // The last argument is REF/<os>-<arch>/<local tag>.
                let remote = args.last().expect("a reference");
                remotes.push((*remote).to_owned());
                let local = remote
                    .find(&format!("/{}", self.image))
                    .map(|i| &remote[i + 1..])
                    .unwrap_or_else(|| panic!("({step}) {remote} is no stage of {}", self.image));
                if rc == "0" {
                    let set = if args[0] == "pull" {
                        &mut pulls
                    } else {
                        &mut pushes
                    };
                    set.insert(stage_of(&self.image, local));
                }
                continue;
            }
            let tag = args
                .iter()
                .position(|a| *a == "-t" || *a == "--tag")
                .and_then(|i| args.get(i + 1))
                .map(|t| (*t).to_owned())
                .or_else(|| {
                    args.iter()
                        .find_map(|a| a.strip_prefix("--tag=").or_else(|| a.strip_prefix("-t=")))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| panic!("({step}) a build without -t: {line}"));
            let stage = stage_of(&self.image, &tag);
            let previous = builds.insert(stage.clone(), tag);
            assert!(
                previous.is_none(),
                "({step}) stage {stage} built twice:\n{log}"
            );
        }
        BuildRun {
            step: step.to_owned(),
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            builds,
            pulls,
            pushes,
            remotes,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// Removes the images on the first daemon whose names start with `prefix`.
    fn remove_images_named(&self, prefix: &str) {
        let mut cmd = self.command(&self.docker);
        cmd.args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(120));
        let ours: Vec<&str> = out
            .stdout
            .lines()
            .filter(|t| t.starts_with(prefix))
            .collect();
        if !ours.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(ours);
            let _ = self.docker_ok(&args);
        }
    }

    /// Checks the final image: every package's files, the depcache, and a
    /// program linked against two packages (and through them all but one).
    fn check_image(&self, tag: &str, revs: &[(&str, &str)]) {
        self.check_image_on(tag, revs, None);
    }

    /// As `check_image`, on the daemon at `host` (else the default one).
    /// `revs`: the packages not at rev 1.0, and theirs.
    fn check_image_on(&self, tag: &str, revs: &[(&str, &str)], host: Option<&str>) {
        let mut script = String::from("set -e\ncat >/tmp/main.cpp\nmissing=\n");
        for (_, files) in PACKAGES {
            for f in *files {
                script.push_str(&format!(
                    "test -e /usr/local/{f} || missing=\"$missing /usr/local/{f}\"\n"
                ));
            }
        }
        script.push_str(
            "[ -z \"$missing\" ] || { echo \"missing:$missing\"; exit 1; }\n\
             echo depcache=$(cat /tmp/depcache)\n\
             cd /tmp\n\
             # DT_RPATH (not RUNPATH) also covers the libraries' own dependencies.\n\
             g++ -o rpath main.cpp -lautogenlib -lmesonlib -Wl,--disable-new-dtags,-rpath,/usr/local/lib\n\
             echo \"rpath: $(./rpath)\"\n\
             # The final stage ran ldconfig: a plain link runs too.\n\
             g++ -o plain main.cpp -lautogenlib -lmesonlib\n\
             echo \"plain: $(./plain)\"\n",
        );
        let program =
            std::fs::read(fixture().join("prog/main.cpp")).expect("read tests/e2e/prog/main.cpp");
        let mut cmd = self.command(&self.docker);
        if let Some(host) = host {
            cmd.args(["-H", host]);
        }
        cmd.args(["run", "--rm", "-i"]);
        if self.user.is_some() {
            // Rootless, a network of its own needs /dev/net/tun for
            // slirp4netns, which some hosts deny; the checks need none.
            cmd.arg("--network=none");
        }
        if self.is_podman() {
            // podman 4.3 asks for limits above this sandbox's hard ones.
            cmd.args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
            ]);
        }
        cmd.args([tag, "sh", "-c", &script]);
        let out = run_with_timeout(cmd, Some(program), Duration::from_secs(300));
        assert_eq!(
            out.code,
            Some(0),
            "checks in {tag} failed:\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
        let depcache: String = PACKAGES
            .iter()
            .map(|(name, _)| {
                let rev = revs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("1.0", |(_, r)| *r);
                format!("{name}:{rev},")
            })
            .collect();
        let want = [
            format!("depcache={depcache}"),
            format!("rpath: {PROGRAM_OUTPUT}"),
            format!("plain: {PROGRAM_OUTPUT}"),
        ];
        let got: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(got, want, "output of the checks in {tag}");
    }

    /// Replaces `rev = "<from>"` with `rev = "<to>"` in one manifest.
    fn set_rev(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join("packages.d").join(file);
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let old = format!("rev = \"{from}\"");
        assert!(text.contains(&old), "{file} has no {old}");
        std::fs::write(&path, text.replace(&old, &format!("rev = \"{to}\""))).expect("write");
    }

    /// Removes `rev = "<rev>"` from one manifest.
    fn unpin(&self, file: &str, rev: &str) {
        let path = self.root.join("packages.d").join(file);
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let line = format!("rev = \"{rev}\"\n");
        assert!(text.contains(&line), "{file} has no {line}");
        std::fs::write(&path, text.replacen(&line, "", 1)).expect("write");
    }

    /// Puts `rev = "<rev>"` back after the name of one unpinned manifest.
    fn set_rev_line(&self, file: &str, rev: &str) {
        let path = self.root.join("packages.d").join(file);
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let (head, tail) = text.split_once("\nname = ").expect("a name line");
        let (name, rest) = tail.split_once('\n').expect("a line after the name");
        let text = format!("{head}\nname = {name}\nrev = \"{rev}\"\n{rest}");
        std::fs::write(&path, text).expect("write");
    }

    /// The folder of the local git server `serve_git_repo` fills.
    fn git_base(&self) -> PathBuf {
        self.tarballs.with_file_name("git")
    }

    /// A git repository for `name` under [`git_base`](Self::git_base) with
    /// one commit on master; returns that commit.
    fn serve_git_repo(&self, name: &str) -> String {
        let repo = self.git_base().join(name);
        std::fs::create_dir_all(&repo).expect("mkdir repo");
        let git = |args: &[&str]| {
            let mut cmd = Command::new("git");
            cmd.arg("-C").arg(&repo).args(args);
            let out = run_with_timeout(cmd, None, Duration::from_secs(60));
            assert_eq!(out.code, Some(0), "git {args:?}: {}", out.stderr);
            out.stdout
        };
        git(&["init", "-q", "-b", "master"]);
        git(&[
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@localhost",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "customlib",
        ]);
        git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// e2e/missing (no tarball), e2e/needsmissing (depends on it) and
    /// e2e/latecomer (independent, header-only, has sources).
    fn add_failure_fixtures(&self) {
        let url = format!(
            "http://127.0.0.1:{}/{{{{ name | replace('/', '-') }}}}-{{{{ rev }}}}.tar.gz",
            self.server.port
        );
        let pkgs = self.root.join("packages.d");
        let write = |file: &str, text: String| {
            std::fs::write(pkgs.join(file), text).expect("write manifest");
        };
        write(
            "e2e-missing.toml",
            format!(
                "name = \"e2e/missing\"\nrev = \"1.0\"\nurl = \"{url}\"\n\
                 build_type = \"custom\"\nbuild_steps = [\"true\"]\n"
            ),
        );
        write(
            "e2e-needsmissing.toml",
            format!(
                "name = \"e2e/needsmissing\"\nrev = \"1.0\"\nurl = \"{url}\"\n\
                 depends = [\"e2e/missing\"]\n\
                 build_type = \"custom\"\nbuild_steps = [\"true\"]\n"
            ),
        );
        write(
            "e2e-latecomer.toml",
            format!(
                "name = \"e2e/latecomer\"\nrev = \"1.0\"\nurl = \"{url}\"\n\
                 build_type = \"custom\"\nbuild_steps = [\n    \
                 \"mkdir -p {{{{ prefix }}}}/include\",\n    \
                 \"cp latecomer.h {{{{ prefix }}}}/include/\",\n]\n"
            ),
        );
        let src = self.root.join("src/latecomer");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join("latecomer.h"), "#define LATECOMER 1\n").expect("write header");
    }

    fn is_podman(&self) -> bool {
        self.docker
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("podman"))
    }

    fn docker_ok(&self, args: &[&str]) -> bool {
        let mut cmd = self.command(&self.docker);
        cmd.args(args);
        run_with_timeout(cmd, None, Duration::from_secs(120)).code == Some(0)
    }
}

impl Drop for Run {
    /// Removes this run's images; keeps the base stage's layers under
    /// CACHE_TAG for the next run.
    fn drop(&mut self) {
        if std::env::var("BUD_E2E_KEEP_IMAGES").is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!("e2e: keeping the images {}*", self.image);
            return;
        }
        let mut cmd = self.command(&self.docker);
        cmd.args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(120));
        let ours: Vec<String> = out
            .stdout
            .lines()
            // podman lists local images under localhost/.
            .map(|t| t.strip_prefix("localhost/").unwrap_or(t))
            .filter(|t| {
                t.starts_with(&format!("{}:", self.image))
                    || t.starts_with(&format!("{}-", self.image))
            })
            .map(str::to_owned)
            .collect();
        if let Some(base) = ours
            .iter()
            .find(|t| t.starts_with(&format!("{}-base:", self.image)))
        {
            let _ = self.docker_ok(&["tag", base, CACHE_TAG]);
        }
        if !ours.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(ours.iter().map(String::as_str));
            if !self.docker_ok(&args) {
                eprintln!("e2e: could not remove some of {ours:?}");
            }
        }
    }
}

/// The stage of a tag: `final` for IMAGE:…, `base` for IMAGE-base:…, the
/// package's stage name for IMAGE-<stage>:….
fn stage_of(image: &str, tag: &str) -> String {
    let repo = tag.rsplit_once(':').map_or(tag, |(r, _)| r);
    if repo == image {
        return "final".to_owned();
    }
    repo.strip_prefix(image)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or_else(|| panic!("tag {tag} is not one of image {image}"))
        .to_owned()
}

struct BuildRun {
    step: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// stage -> tag of every `build` invocation.
    builds: BTreeMap<String, String>,
    /// Stages pulled, and pushed, successfully.
    pulls: BTreeSet<String>,
    pushes: BTreeSet<String>,
    /// The remote name of every pull and push.
    remotes: Vec<String>,
    seconds: f64,
}

impl BuildRun {
    fn built_stages(&self) -> BTreeSet<String> {
        self.builds.keys().cloned().collect()
    }

    fn assert_success(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "({}) build failed\n{}",
            self.step,
            self.context()
        );
    }

    /// stdout is exactly one line: IMAGE:<ISO week>-<16 hex>.
    fn final_tag(&self, image: &str) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert!(
            lines.len() == 1 && self.stdout.ends_with('\n'),
            "({}) stdout must be one line, got {:?}",
            self.step,
            self.stdout
        );
        let tag = lines[0];
        let hash = tag
            .strip_prefix(&format!("{image}:{WEEK}-"))
            .unwrap_or_else(|| panic!("({}) tag {tag} is not {image}:{WEEK}-…", self.step));
        assert!(
            hash.len() == 16
                && hash
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "({}) tag {tag} does not end in 16 hex digits",
            self.step
        );
        assert_eq!(
            self.builds.get("final").map_or(tag, String::as_str),
            tag,
            "({}) the final stage was built under another tag",
            self.step
        );
        tag.to_owned()
    }

    /// stdout, the builds and the end of stderr, for failure messages.
    fn context(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        format!(
            "exit: {:?}\nbuilds: {:?}\nstdout: {:?}\nstderr (last 80 lines):\n{tail}",
            self.code,
            self.built_stages(),
            self.stdout
        )
    }
}

/// A docker wrapper that logs `<status> <arguments>` of every build, pull
/// and push to `log`, talking to the daemon at `host` (else the default).
fn write_wrapper(path: &Path, docker: &Path, log: &Path, host: Option<&str>) {
    let host = host
        .map(|h| format!("DOCKER_HOST='{h}'\nexport DOCKER_HOST\n"))
        .unwrap_or_default();
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\n{host}\
             '{docker}' \"$@\"\n\
             rc=$?\n\
             case \"$1\" in build|pull|push) line=\"$rc $*\"; printf '%s\\n' \"$line\" >>'{log}' ;; esac\n\
             exit $rc\n",
            log = log.display(),
            docker = docker.display(),
        ),
    )
    .expect("write wrapper");
    make_executable(path);
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn manifests(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("packages.d"))
        .expect("read packages.d")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Processes

struct Output {
    /// None when killed after the timeout (or by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with `stdin` (or none), collecting both outputs; kills it
/// after `timeout`.
fn run_with_timeout(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Output {
                code: None,
                stdout: String::new(),
                stderr: format!("could not start {cmd:?}: {e}"),
            }
        }
    };
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let mut stderr = err.join().unwrap_or_default();
    if timed_out {
        stderr.push_str(&format!(
            "\n[killed after {}s: {cmd:?}]\n",
            timeout.as_secs()
        ));
    }
    Output {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------
// prune: three weeks of builds, then the current week's images only

/// The three weeks of the prune test (2023-W44, W45, W46); W46 is "today".
const PRUNE_WEEKS: [(&str, i64); 3] = [
    ("2023-W44", 1_700_000_000 - 2 * 604_800),
    ("2023-W45", 1_700_000_000 - 604_800),
    ("2023-W46", 1_700_000_000),
];

/// `prune` on the real Docker daemon and a real registry (Debian's
/// docker-registry with `storage.delete.enabled`): three weeks of builds of
/// two fixture packages, each pushed to the registry (the base stage notes
/// its week, as a CI base refreshes weekly, so each week's images differ); a
/// stopped container holding an old week's image; foreign tags. Then
/// `prune`: the current week stays, the old weeks go but the container's,
/// the foreign tags stay, the space is named; a build right after builds
/// nothing and a second prune removes nothing. `prune --cache-registry`
/// leaves only the current week's tags and the registry's garbage
/// collection then shrinks its storage; a registry without deletes gives
/// the one clear error.
#[test]
fn e2e_prune_three_weeks() {
    let Some(docker) = engine_or_skip("BUD_E2E_DOCKER", "docker") else {
        return;
    };
    let Some(registry_bin) = find_program(Path::new("docker-registry")) else {
        let msg = "e2e prune: docker-registry is not installed; run `scripts/fleet-up.sh` first";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (CI=true: not skipping)");
        }
        eprintln!("{msg}; skipping");
        return;
    };
    let run = Run::new(docker.clone());
    // Lean: two packages without dependencies; the base notes its week.
    for manifest in manifests(&run.root) {
        let name = manifest.file_name().unwrap_or_default().to_string_lossy();
        if name != "e2e-makelib.toml" && name != "e2e-customlib.toml" {
            std::fs::remove_file(&manifest).expect("remove manifest");
        }
    }
    let base_template = run.root.join("templates/base.Dockerfile.j2");
    let mut text = std::fs::read_to_string(&base_template).expect("read base template");
    text.push_str("\nRUN echo {{ timestamp }} > /etc/bud-week\n");
    std::fs::write(&base_template, text).expect("write base template");

    let registry = PruneRegistry::start(&registry_bin, true);
    let reference = format!("127.0.0.1:{}/bud-prune", registry.port);
    let mut guard = PruneLeftovers {
        docker: docker.clone(),
        container: format!("bud-prune-holder-{}", std::process::id()),
        tags: Vec::new(),
        prefix: format!("127.0.0.1:{}/", registry.port),
        prefixes: Vec::new(),
    };

    // Three weeks of builds, each pushed to the registry.
    let mut finals = Vec::new();
    for (week, epoch) in PRUNE_WEEKS {
        let built = prune_build(
            &run,
            week,
            epoch,
            &["--cache-registry", &reference, "--cache-push"],
        );
        assert_eq!(
            built.code,
            Some(0),
            "({week}) build failed:\n{}",
            built.stderr
        );
        assert_eq!(
            built.builds, 4,
            "({week}) every stage built:\n{}",
            built.stderr
        );
        finals.push(built.stdout.trim().to_owned());
    }
    let tags_of = |week: &str| -> Vec<String> {
        local_tags(&docker)
            .into_iter()
            .filter(|t| {
                (t.starts_with(&format!("{}:", run.image))
                    || t.starts_with(&format!("{}-", run.image)))
                    && t.contains(&format!(":{week}-"))
            })
            .collect()
    };
    let old_makelib = tags_of("2023-W44")
        .into_iter()
        .find(|t| t.starts_with(&format!("{}-e2e-makelib:", run.image)))
        .expect("the W44 makelib tag");
    let old_base = tags_of("2023-W44")
        .into_iter()
        .find(|t| t.starts_with(&format!("{}-base:", run.image)))
        .expect("the W44 base tag");
    // A stopped container holds an old week's image; foreign tags on another.
    assert!(run.docker_ok(&["create", "--name", &guard.container, &old_makelib, "true"]));
    let foreign = [
        format!("{}-base:latest", run.image),
        format!("{}foo-base:2023-W44-0123456789abcdef", run.image),
        format!(
            "bud-other-{}/img-base:2020-W01-0123456789abcdef",
            std::process::id()
        ),
    ];
    for f in &foreign {
        assert!(run.docker_ok(&["tag", &old_base, f]));
        guard.tags.push(f.clone());
    }
    let current: BTreeSet<String> = tags_of("2023-W46").into_iter().collect();
    assert_eq!(current.len(), 4, "{current:?}");

    // A dry run changes nothing.
    let before = local_tags(&docker);
    let dry = prune_cmd(&run, &["--dry-run"]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(
        dry.stdout.contains("dry run: would remove"),
        "{}",
        dry.stdout
    );
    assert_eq!(local_tags(&docker), before, "a dry run removes nothing");

    // prune: the old weeks go, but the container's image and the foreign tags.
    let pruned = prune_cmd(&run, &[]);
    eprintln!("e2e prune: stdout:\n{}", pruned.stdout);
    assert_eq!(pruned.code, Some(0), "{}\n{}", pruned.stdout, pruned.stderr);
    assert!(
        pruned.stderr.is_empty(),
        "nothing on stderr: {}",
        pruned.stderr
    );
    let after = local_tags(&docker);
    for t in &current {
        assert!(after.contains(t), "{t} (this week) stays");
    }
    for week in ["2023-W44", "2023-W45"] {
        let left: Vec<String> = tags_of(week);
        let want: Vec<&str> = if week == "2023-W44" {
            vec![old_makelib.as_str()]
        } else {
            Vec::new()
        };
        assert_eq!(left, want, "({week}) only the container's image is left");
    }
    for f in &foreign {
        assert!(after.contains(f), "{f} (foreign) stays");
    }
    assert!(
        pruned.stdout.contains(&format!("{old_makelib}  (image"))
            && pruned
                .stdout
                .contains(&format!("used by container {}", guard.container)),
        "the container's image is named with the container:\n{}",
        pruned.stdout
    );
    assert!(
        pruned.stdout.contains(&format!("untagged     {old_base}")),
        "the foreign-tagged image is only untagged:\n{}",
        pruned.stdout
    );
    assert!(
        pruned.stdout.contains("system df` counted the images at"),
        "{}",
        pruned.stdout
    );
    // The registry names the tool left beside the local ones went too.
    assert!(
        !after.iter().any(|t| t.starts_with(&guard.prefix)
            && !t.contains(":2023-W46-")
            && !t.contains("e2e-makelib:2023-W44-")),
        "{after:#?}"
    );

    // A build right after builds nothing; a second prune removes nothing.
    let (week, epoch) = PRUNE_WEEKS[2];
    let again = prune_build(&run, week, epoch, &[]);
    assert_eq!((again.code, again.builds), (Some(0), 0), "{}", again.stderr);
    assert_eq!(again.stdout.trim(), finals[2]);
    let second = prune_cmd(&run, &["--format", "json"]);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let json: serde_json::Value = serde_json::from_str(&second.stdout).expect("JSON");
    assert_eq!(json["removed"].as_array().map(Vec::len), Some(0), "{json}");
    assert_eq!(
        json["in_use"][0]["containers"][0],
        guard.container.as_str(),
        "{json}"
    );

    // The registry: only the current week's tags are left, then the
    // garbage collection shrinks its storage.
    let registry_tags = |reg: &PruneRegistry| -> BTreeMap<String, BTreeSet<String>> {
        ["base", "e2e-makelib", "e2e-customlib"]
            .iter()
            .map(|s| format!("{}-{s}", run.image))
            .chain([run.image.clone()])
            .map(|name| {
                // Under REF, maybe after the platform's path part.
                let repos: Vec<String> = reg
                    .catalog()
                    .into_iter()
                    .filter(|r| r.starts_with("bud-prune/") && r.ends_with(&format!("/{name}")))
                    .collect();
                assert_eq!(repos.len(), 1, "{name}: {repos:?}");
                (name, reg.tags(&repos[0]))
            })
            .collect()
    };
    let all = registry_tags(&registry);
    assert!(
        all.values().all(|t| t.len() == 3),
        "three weeks pushed: {all:?}"
    );
    let rp = prune_cmd(&run, &["--cache-registry", &reference]);
    eprintln!("e2e prune --cache-registry: stdout:\n{}", rp.stdout);
    assert_eq!(rp.code, Some(0), "{}\n{}", rp.stdout, rp.stderr);
    for (name, tags) in registry_tags(&registry) {
        assert!(
            tags.len() == 1 && tags.iter().all(|t| t.starts_with("2023-W46-")),
            "{name}: {tags:?}"
        );
    }
    let again = prune_cmd(&run, &["--cache-registry", &reference]);
    assert!(
        again.stdout.contains("nothing to prune"),
        "{}",
        again.stdout
    );
    let size_before = du_kib(&registry.data());
    let mut registry = registry;
    registry.stop();
    let mut gc = Command::new(&registry_bin);
    gc.arg("garbage-collect").arg(&registry.config);
    let out = run_with_timeout(gc, None, Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "garbage-collect: {}", out.stderr);
    let size_after = du_kib(&registry.data());
    eprintln!("e2e prune: registry storage {size_before} KiB before garbage-collect, {size_after} KiB after");
    assert!(
        size_after < size_before,
        "{size_before} KiB -> {size_after} KiB"
    );

    // A registry that does not delete: one clear error, exit 1.
    let refusing = PruneRegistry::start(&registry_bin, false);
    let reference = format!("127.0.0.1:{}/bud-prune", refusing.port);
    guard.prefixes.push(format!("127.0.0.1:{}/", refusing.port));
    let old = format!("{reference}/{}-base:2023-W40-0123456789abcdef", run.image);
    assert!(run.docker_ok(&["tag", BASE_IMAGE, &old]));
    assert!(run.docker_ok(&["push", "--quiet", &old]));
    let refused = prune_cmd(&run, &["--cache-registry", &reference]);
    assert_eq!(
        refused.code,
        Some(1),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
    assert!(
        refused.stderr.contains("storage: delete: enabled: true") && refused.stdout.is_empty(),
        "{}",
        refused.stderr
    );
    assert_eq!(
        refusing
            .tags(&format!("bud-prune/{}-base", run.image))
            .len(),
        1
    );
}

/// Debian's docker-registry on a free port of 127.0.0.1 with its own
/// config and storage (deletes enabled or not); stopped on drop.
struct PruneRegistry {
    port: u16,
    config: PathBuf,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl PruneRegistry {
    fn start(program: &Path, deletes: bool) -> PruneRegistry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 {}http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display(),
                if deletes { "  delete:\n    enabled: true\n" } else { "" }
            ),
        )
        .expect("write config");
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PruneRegistry {
            port,
            config,
            child: Some(child),
            dir,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The repositories the registry lists (one page of 1000).
    fn catalog(&self) -> Vec<String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30"])
            .arg(format!("http://127.0.0.1:{}/v2/_catalog?n=1000", self.port));
        let out = run_with_timeout(cmd, None, Duration::from_secs(60));
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        json["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tags of a repository, from the registry's own API.
    fn tags(&self, repository: &str) -> BTreeSet<String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30"]).arg(format!(
            "http://127.0.0.1:{}/v2/{repository}/tags/list",
            self.port
        ));
        let out = run_with_timeout(cmd, None, Duration::from_secs(60));
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        json["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PruneRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the prune test made beside the Run's images: removed at the end.
struct PruneLeftovers {
    docker: PathBuf,
    container: String,
    tags: Vec<String>,
    /// The registries' names of this run's images.
    prefix: String,
    prefixes: Vec<String>,
}

impl Drop for PruneLeftovers {
    fn drop(&mut self) {
        let docker = |args: &[&str]| {
            let mut cmd = Command::new(&self.docker);
            cmd.args(args);
            run_with_timeout(cmd, None, Duration::from_secs(120));
        };
        docker(&["rm", "-f", &self.container]);
        let prefixes: Vec<&String> = std::iter::once(&self.prefix)
            .chain(&self.prefixes)
            .collect();
        let mut gone: Vec<String> = self.tags.clone();
        gone.extend(
            local_tags(&self.docker)
                .into_iter()
                .filter(|t| prefixes.iter().any(|p| t.starts_with(p.as_str()))),
        );
        if !gone.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(gone.iter().map(String::as_str));
            docker(&args);
        }
    }
}

/// Every `repository:tag` on the daemon.
fn local_tags(docker: &Path) -> BTreeSet<String> {
    let mut cmd = Command::new(docker);
    cmd.args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    run_with_timeout(cmd, None, Duration::from_secs(120))
        .stdout
        .lines()
        .filter(|l| !l.contains("<none>"))
        .map(str::to_owned)
        .collect()
}

/// The KiB under `dir`, as `du` counts them.
fn du_kib(dir: &Path) -> u64 {
    let mut cmd = Command::new("du");
    cmd.arg("-sk").arg(dir);
    let out = run_with_timeout(cmd, None, Duration::from_secs(60));
    out.stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct PruneRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Engine builds the run made.
    builds: usize,
}

/// A build of the prune test's root in `week` (SOURCE_DATE_EPOCH `epoch`).
fn prune_build(run: &Run, week: &str, epoch: i64, extra: &[&str]) -> PruneRun {
    let _ = std::fs::remove_file(&run.build_log);
    let mut cmd = Command::new(BIN);
    cmd.arg("--root")
        .arg(&run.root)
        .arg("build")
        .args(["--jobs", "2"])
        .args(extra)
        .arg("--engine")
        .arg(&run.wrapper)
        .env("DOCKER_IMAGE_NAME", &run.image)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("BUILD_UNIT_TEST_CPUS", "2");
    for var in [
        "FORCE_DOCKER_BUILD",
        "BUILD_URL",
        "DISTRO",
        "BRANCH",
        "DOCKER_REG",
    ] {
        cmd.env_remove(var);
    }
    let start = Instant::now();
    let out = run_with_timeout(cmd, None, BUILD_TIMEOUT);
    eprintln!(
        "e2e prune ({week}): build exit {:?} after {:.1}s",
        out.code,
        start.elapsed().as_secs_f64()
    );
    let log = std::fs::read_to_string(&run.build_log).unwrap_or_default();
    PruneRun {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        builds: log
            .lines()
            .filter(|l| l.split(' ').nth(1) == Some("build"))
            .count(),
    }
}

/// `prune` of the run's image name in the current week (2023-W46).
fn prune_cmd(run: &Run, extra: &[&str]) -> PruneRun {
    let mut cmd = Command::new(BIN);
    cmd.arg("prune")
        .args(extra)
        .arg("--engine")
        .arg(&run.docker)
        .env("DOCKER_IMAGE_NAME", &run.image)
        .env("SOURCE_DATE_EPOCH", PRUNE_WEEKS[2].1.to_string());
    let out = run_with_timeout(cmd, None, Duration::from_secs(600));
    PruneRun {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        builds: 0,
    }
}
