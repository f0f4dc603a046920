//! `build` end to end with a fake `docker` first on PATH that records what
//! it receives: stdout is exactly the final tag, the Dockerfiles built are
//! `render`'s, the engine is asked once which tags exist, failures skip
//! exactly the dependents. (The real daemon is tested in tests/e2e.rs.)

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

const FAKE_DOCKER: &str = r#"#!/bin/sh
dir="$FAKE_DOCKER_DIR"
case "$1" in
  image)
    echo "$*" >> "$dir/image-ls.calls"
    cat "$dir/existing" 2>/dev/null
    exit 0 ;;
  build)
    tag=; prev=
    for a in "$@"; do [ "$prev" = "-t" ] && tag=$a; prev=$a; done
    f="$dir/built/$(echo "$tag" | tr '/:' '__')"
    cat > "$f.Dockerfile"
    echo "$*" > "$f.argv"
    echo "Step 1/2 : FROM something"
    echo "warning on stderr" >&2
    if [ -n "$FAKE_DOCKER_SLEEP" ]; then echo $$ >> "$dir/sleepers"; exec sleep "$FAKE_DOCKER_SLEEP"; fi
    case "$tag" in *"$FAKE_DOCKER_FAIL"*)
      if [ -n "$FAKE_DOCKER_FAIL" ]; then echo "${FAKE_DOCKER_SAYS:-curl: (22) The requested URL returned error: 404}"; exit 1; fi ;;
    esac
    echo "Successfully tagged $tag"
    exit 0 ;;
  version)
    echo "$*" >> "$dir/version.calls"
    if [ -n "$FAKE_DOCKER_NO_PLATFORM" ]; then echo "Error: no server" >&2; exit 1; fi
    echo "${FAKE_DOCKER_PLATFORM:-linux/amd64}"
    exit 0 ;;
esac
# A registry of files in $FAKE_REGISTRY, one per remote name (none: every
# registry call fails).
if [ -n "$FAKE_REGISTRY" ]; then
  for last; do :; done
  stored="$FAKE_REGISTRY/$(echo "$last" | tr '/:' '__')"
  case "$1" in
    tag) echo "$3" >> "$dir/existing"; exit 0 ;;
    push) : > "$stored"; echo "$last" >> "$dir/pushed"; exit 0 ;;
    pull|manifest)
      if [ -e "$stored" ]; then echo "$last" >> "$dir/pulled"; exit 0; fi
      echo "Error response from daemon: manifest for $last not found: manifest unknown" >&2
      exit 1 ;;
  esac
fi
echo "unexpected: $*" >&2
exit 2
"#;

struct Fake {
    bin: tempfile::TempDir,
    data: tempfile::TempDir,
    git: tempfile::TempDir,
}

impl Fake {
    fn new(program: &str) -> Fake {
        let bin = tempfile::tempdir().expect("tempdir");
        let data = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(data.path().join("built")).expect("mkdir");
        let script = bin.path().join(program);
        std::fs::write(&script, FAKE_DOCKER).expect("write");
        make_executable(&script);
        Fake {
            bin,
            data,
            git: fake_git(&[]),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_in(&example_2021(), args)
    }

    /// The tool on `root`, with a PATH of only our fakes and the few
    /// utilities they use: no real docker or podman.
    fn command_in(&self, root: &Path, args: &[&str]) -> Command {
        let tools = self.bin.path().join("tools");
        if !tools.exists() {
            std::fs::create_dir_all(&tools).expect("mkdir");
            for util in [
                "sh", "cat", "tr", "sha1sum", "cut", "printf", "echo", "sleep",
            ] {
                let _ = std::os::unix::fs::symlink(format!("/usr/bin/{util}"), tools.join(util));
            }
        }
        let mut cmd = tool(self.git.path());
        cmd.env(
            "PATH",
            format!(
                "{}:{}:{}",
                self.bin.path().display(),
                self.git.path().display(),
                tools.display()
            ),
        )
        .env("FAKE_DOCKER_DIR", self.data.path())
        .arg("--root")
        .arg(root)
        .args(args);
        cmd
    }

    fn built(&self) -> BTreeMap<String, (String, String)> {
        let mut map = BTreeMap::new();
        for entry in std::fs::read_dir(self.data.path().join("built")).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "argv") {
                let argv = std::fs::read_to_string(&path)
                    .expect("argv")
                    .trim()
                    .to_owned();
                let tag = argv
                    .split(" -t ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or("")
                    .to_owned();
                let dockerfile =
                    std::fs::read_to_string(path.with_extension("Dockerfile")).expect("Dockerfile");
                map.insert(tag, (argv, dockerfile));
            }
        }
        map
    }
}

fn render_tags(
    fake: &Fake,
    extra_env: &[(&str, &str)],
) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = fake.command(&["render", "--out", out.path().to_str().expect("utf8")]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    assert!(cmd.output().expect("render").status.success());
    let tags = std::fs::read_to_string(out.path().join("tags.txt")).expect("tags");
    let map = tags
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, t)| (s.to_owned(), t.to_owned()))
        .collect();
    (out, map)
}

#[test]
fn build_prints_only_the_final_tag_and_builds_what_render_shows() {
    let fake = Fake::new("docker");
    let out = fake
        .command(&["build", "--jobs", "3"])
        .output()
        .expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (rendered, tags) = render_tags(&fake, &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", tags["final"])
    );

    let built = fake.built();
    assert_eq!(built.len(), 27, "base, 25 packages, final");
    for (stage, tag) in &tags {
        let (argv, dockerfile) = built
            .get(tag)
            .unwrap_or_else(|| panic!("{stage} not built"));
        assert_eq!(
            argv,
            &format!("build --network=host --force-rm --no-cache=false -t {tag} -")
        );
        let expected = std::fs::read_to_string(rendered.path().join(format!("{stage}.Dockerfile")))
            .expect("rendered");
        assert_eq!(dockerfile, &expected, "{stage}");
    }
    assert!(
        !fake.data.path().join("version.calls").exists(),
        "without a cache registry the platform is not asked"
    );
    // One `image ls` for all the tags.
    let calls = std::fs::read_to_string(fake.data.path().join("image-ls.calls")).expect("calls");
    assert_eq!(calls.lines().count(), 1);
    assert_eq!(calls.trim(), "image ls --format {{.Repository}}:{{.Tag}}");
    // Engine output goes to stderr, prefixed with the package name.
    assert!(
        stderr.contains("openbmc/sdbusplus: Step 1/2 : FROM something"),
        "{stderr}"
    );
    assert!(stderr.contains("base: Successfully tagged"), "{stderr}");
    assert!(stderr.contains("27 stages: 27 built, 0 cached"), "{stderr}");
}

#[test]
fn the_bare_command_builds_too_and_existing_tags_are_skipped() {
    let fake = Fake::new("docker");
    let (_, tags) = render_tags(&fake, &[]);
    let existing: String = tags
        .iter()
        .filter(|(s, _)| *s != "final" && *s != "openbmc-stdplus")
        .map(|(_, t)| format!("{t}\n"))
        .collect();
    std::fs::write(fake.data.path().join("existing"), existing).expect("write");
    let out = fake.command(&[]).output().expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", tags["final"])
    );
    let built: std::collections::BTreeSet<String> = fake.built().into_keys().collect();
    let expected: std::collections::BTreeSet<String> =
        [tags["final"].clone(), tags["openbmc-stdplus"].clone()].into();
    assert_eq!(built, expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Image {} already exists.  Skipping.",
            tags["base"]
        )),
        "{stderr}"
    );
}

#[test]
fn force_and_proxy_reach_the_engine_like_the_original() {
    let fake = Fake::new("docker");
    let env = [
        ("FORCE_DOCKER_BUILD", "1"),
        ("http_proxy", "http://proxy.example:3128"),
        ("https_proxy", "http://sproxy.example:3129"),
    ];
    let mut cmd = fake.command(&["build"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    std::fs::write(fake.data.path().join("existing"), "").expect("write");
    let out = cmd.output().expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !fake.data.path().join("image-ls.calls").exists(),
        "forced builds do not ask which tags exist"
    );
    let (_, tags) = render_tags(&fake, &env);
    let (argv, _) = &fake.built()[&tags["final"]];
    assert_eq!(
        argv,
        &format!(
            "build --build-arg http_proxy=http://proxy.example:3128 --build-arg https_proxy=http://sproxy.example:3129 \
             --network=host --force-rm --no-cache=true -t {} -",
            tags["final"]
        )
    );
}

#[test]
fn a_failing_stage_skips_its_dependents_and_prints_nothing_on_stdout() {
    let fake = Fake::new("docker");
    let out = fake
        .command(&["build", "--log-dir"])
        .arg(fake.data.path().join("logs"))
        .env("FAKE_DOCKER_FAIL", "openbmc-stdplus")
        .output()
        .expect("build");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (_, tags) = render_tags(&fake, &[]);
    let built = fake.built();
    // Dependents of stdplus (gpioplus, sdeventplus, logging, objmgr, pldm) and final are not attempted.
    for stage in [
        "openbmc-gpioplus",
        "openbmc-sdeventplus",
        "openbmc-phosphor-logging",
        "openbmc-phosphor-objmgr",
        "openbmc-pldm",
        "final",
    ] {
        assert!(!built.contains_key(&tags[stage]), "{stage} was attempted");
        let label = stage.replacen('-', "/", 1);
        assert!(stderr.contains(&label), "{stage} missing from summary");
    }
    // Independent stages still build so the cache fills.
    for stage in [
        "boost",
        "openbmc-sdbusplus",
        "openbmc-phosphor-dbus-interfaces",
        "fmtlib-fmt",
    ] {
        assert!(built.contains_key(&tags[stage]), "{stage} not built");
    }
    assert!(
        stderr.contains("(because openbmc/stdplus failed)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "openbmc/stdplus failed; its source is https://github.com/openbmc/stdplus/archive/"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("404"), "the log tail is shown: {stderr}");
    assert!(stderr.contains("1 failed, 6 skipped"), "{stderr}");
    let log = std::fs::read_to_string(fake.data.path().join("logs/openbmc-stdplus.log"))
        .expect("log kept");
    assert!(log.contains("404"));
}

#[test]
fn a_build_failing_for_the_hosts_setup_says_what_to_change() {
    let fake = Fake::new("docker");
    let out = fake
        .command(&["build"])
        .env("FAKE_DOCKER_FAIL", "-base:")
        .env(
            "FAKE_DOCKER_SAYS",
            "Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all \
             controllers from cgroupv2",
        )
        .output()
        .expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    let hints: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hint: ")).collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    assert!(
        hints[0].contains("set `runtime = \"runc\"` under `[engine]` in containers.conf")
            && hints[0].contains("systemd.unified_cgroup_hierarchy=1"),
        "{stderr}"
    );
    // An ordinary failure (a missing tarball) gets none.
    let out = fake
        .command(&["build"])
        .env("FAKE_DOCKER_FAIL", "-base:")
        .output()
        .expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("hint:"), "{stderr}");
}

#[test]
fn dry_run_lists_each_stage_and_builds_nothing() {
    let fake = Fake::new("docker");
    let (_, tags) = render_tags(&fake, &[]);
    std::fs::write(
        fake.data.path().join("existing"),
        format!("{}\n", tags["boost"]),
    )
    .expect("write");
    let out = fake.command(&["build", "--dry-run"]).output().expect("run");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("boost {:>1}", "")), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("boost ")
            && l.contains("cached")
            && l.ends_with(&tags["boost"])),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("final ") && l.contains("would build")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("27 stages: 1 cached, 26 would build\n"),
        "{stdout}"
    );
    assert!(fake.built().is_empty());
}

#[test]
fn dry_run_with_a_failing_cache_registry_warns_and_succeeds() {
    // The fake engine refuses `manifest inspect`: the registry fails.
    let fake = Fake::new("docker");
    let out = fake
        .command(&[
            "build",
            "--dry-run",
            "--cache-registry",
            "127.0.0.1:9/cache",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("warning: the cache registry failed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("error:"),
        "a warning, not an error: {stderr}"
    );
    assert!(fake.built().is_empty());
}

/// What a fake machine's engine recorded in `file` (pushed, pulled), one
/// remote name a line.
fn calls(fake: &Fake, file: &str) -> Vec<String> {
    std::fs::read_to_string(fake.data.path().join(file))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Machines of two architectures share one registry (the fake engine's, a
/// folder): neither pulls what the other built, and same-architecture
/// machines still share everything; the local tags are the same on all.
#[test]
fn a_fleet_of_two_architectures_pulls_nothing_across_them() {
    let registry = tempfile::tempdir().expect("tempdir");
    let reference = "127.0.0.1:5000/ci";
    let build = |fake: &Fake, platform: Option<&str>| {
        let mut cmd = fake.command(&["build", "--cache-registry", reference, "--cache-push"]);
        cmd.env("FAKE_REGISTRY", registry.path());
        match platform {
            Some(p) => cmd.env("FAKE_DOCKER_PLATFORM", p),
            None => cmd.env("FAKE_DOCKER_NO_PLATFORM", "1"),
        };
        let out = cmd.output().expect("build");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let (amd64, arm64, amd64_b, unknown) = (
        Fake::new("docker"),
        Fake::new("docker"),
        Fake::new("docker"),
        Fake::new("docker"),
    );
    let (final_tag, _) = build(&amd64, Some("linux/amd64"));
    assert_eq!(amd64.built().len(), 27);
    assert_eq!(
        calls(&amd64, "version.calls"),
        ["version --format {{.Server.Os}}/{{.Server.Arch}}"],
        "the platform is asked once a run"
    );
    let pushed = calls(&amd64, "pushed");
    assert_eq!(pushed.len(), 27);
    assert!(
        pushed
            .iter()
            .all(|r| r.starts_with(&format!("{reference}/linux-amd64/openbmc/ubuntu-unit-test"))),
        "{pushed:?}"
    );

    // arm64: every stage built here, nothing pulled, pushed beside amd64's.
    let (tag, stderr) = build(&arm64, Some("linux/arm64"));
    assert_eq!(tag, final_tag, "the same local tags");
    assert_eq!(arm64.built().len(), 27, "{stderr}");
    assert!(calls(&arm64, "pulled").is_empty(), "{stderr}");
    let pushed = calls(&arm64, "pushed");
    assert_eq!(pushed.len(), 27);
    assert!(pushed
        .iter()
        .all(|r| r.starts_with(&format!("{reference}/linux-arm64/"))));
    assert!(
        stderr.contains(&format!(
            "cache: asking {reference} for the linux-arm64 stages needed and missing here"
        )),
        "{stderr}"
    );

    // A second amd64 machine: the final image is the one pull, no build.
    let (tag, stderr) = build(&amd64_b, Some("linux/amd64"));
    assert_eq!(tag, final_tag);
    assert!(amd64_b.built().is_empty(), "{stderr}");
    assert_eq!(
        calls(&amd64_b, "pulled"),
        [format!("{reference}/linux-amd64/{}", final_tag.trim())]
    );

    // An engine that does not say its platform: one warning, no registry.
    let (tag, stderr) = build(&unknown, None);
    assert_eq!(tag, final_tag);
    assert_eq!(unknown.built().len(), 27);
    assert!(calls(&unknown, "pulled").is_empty() && calls(&unknown, "pushed").is_empty());
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains(&format!("the cache registry {reference} was not used"))
            && warnings[0].contains("the engine did not say its platform"),
        "{stderr}"
    );
}

#[test]
fn podman_is_used_when_docker_is_absent_and_a_missing_engine_is_clear() {
    let fake = Fake::new("podman");
    let out = fake.command(&["build", "--dry-run"]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fake.data.path().join("image-ls.calls").exists());

    let empty = tempfile::tempdir().expect("tempdir");
    let git = fake_git(&[]);
    let out = tool(git.path())
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                empty.path().display(),
                git.path().display(),
                fake.bin.path().join("tools").display()
            ),
        )
        .arg("--root")
        .arg(repo())
        .arg("build")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--engine"), "{stderr}");
}

#[test]
fn invalid_manifests_never_reach_the_engine() {
    let fake = Fake::new("docker");
    let root = shipped_root();
    std::fs::write(
        root.path().join("packages.d/fmtlib-fmt.toml"),
        "name = \"fmtlib/fmt\"\nrev = \"7.1.3; id\"\nbuild_type = \"cmake\"\n",
    )
    .expect("write");
    let out = fake
        .command_in(root.path(), &["build"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(!fake.data.path().join("image-ls.calls").exists());
    assert!(fake.built().is_empty());
}

#[test]
fn sigterm_stops_running_builds_prints_the_summary_and_leaves_no_child() {
    let fake = Fake::new("docker");
    let child = fake
        .command(&["build", "--jobs", "2"])
        .env("FAKE_DOCKER_SLEEP", "60")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the base stage's build is running.
    let sleepers = fake.data.path().join("sleepers");
    let start = std::time::Instant::now();
    while !sleepers.exists() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(sleepers.exists(), "no build started");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for pid in std::fs::read_to_string(&sleepers).expect("pids").lines() {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "engine process {pid} left behind"
        );
    }
}

/// Replaces the fake git with one that first waits (up to 20 s) until the
/// base stage's build has started, then runs `then`.
fn git_after_the_base_starts(fake: &Fake, then: &str) {
    let git = fake.git.path().join("git");
    let original = fake.git.path().join("git-heads");
    std::fs::rename(&git, &original).expect("rename");
    let script = format!(
        "#!/bin/sh\ni=0\nuntil [ -e \"$FAKE_DOCKER_DIR/base-started\" ]; do\n\
         i=$((i+1)); if [ $i -gt 400 ]; then echo 'the base never started' >&2; exit 1; fi\n\
         sleep 0.05\ndone\n{then}\n",
    );
    std::fs::write(&git, script).expect("write");
    make_executable(&git);
    // The fake engine says when the base's build starts.
    let docker = fake.bin.path().join("docker");
    let engine = std::fs::read_to_string(&docker).expect("read");
    let engine = engine.replacen(
        "    cat > \"$f.Dockerfile\"\n",
        "    cat > \"$f.Dockerfile\"\n    case \"$tag\" in *-base:*) : > \"$dir/base-started\" ;; esac\n",
        1,
    );
    std::fs::write(&docker, engine).expect("write");
}

#[test]
fn the_base_builds_while_the_revisions_are_looked_up() {
    let fake = Fake::new("docker");
    let (_, tags) = render_tags(&fake, &[]);
    // Every lookup waits for the base build to start: a tool that looked
    // the revisions up first would wait 20 s and fail.
    git_after_the_base_starts(&fake, "exec \"${0%/*}/git-heads\" \"$@\"");
    let start = std::time::Instant::now();
    let out = fake.command(&["build"]).output().expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(15),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", tags["final"]),
        "the same image as when the revisions are known first"
    );
    let built = fake.built();
    assert_eq!(built.len(), tags.len(), "{stderr}");
    for tag in tags.values() {
        assert!(built.contains_key(tag), "{tag} not built: {stderr}");
    }
    let calls = std::fs::read_to_string(fake.data.path().join("image-ls.calls")).expect("calls");
    assert_eq!(calls.lines().count(), 1, "one `image ls` still");
}

#[test]
fn a_failed_lookup_stops_the_base_build_and_says_why() {
    let fake = Fake::new("docker");
    git_after_the_base_starts(
        &fake,
        "echo 'fatal: unable to access the server' >&2\nexit 128",
    );
    let start = std::time::Instant::now();
    let out = fake
        .command(&["build"])
        .env("FAKE_DOCKER_SLEEP", "60")
        .output()
        .expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(15),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot resolve the revision of")
            && stderr.contains("fatal: unable to access the server"),
        "{stderr}"
    );
    assert!(!stderr.contains("interrupted"), "not a signal: {stderr}");
    let sleepers = std::fs::read_to_string(fake.data.path().join("sleepers")).expect("pids");
    for pid in sleepers.lines() {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "engine process {pid} left behind"
        );
    }
}

#[test]
fn a_branch_no_lookup_can_use_fails_before_any_build_starts() {
    let fake = Fake::new("docker");
    let out = fake
        .command_in(&repo(), &["build"])
        .env("BRANCH", "(")
        .output()
        .expect("build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("BRANCH `(` is not a regular expression"),
        "{stderr}"
    );
    assert!(fake.built().is_empty(), "nothing built: {stderr}");
    assert!(
        !fake.data.path().join("image-ls.calls").exists(),
        "the engine was not even asked: {stderr}"
    );
}
