//! Where people use the tool: shell completions, man pages, the pre-commit
//! hook, the JSON build report, and `explain` (why a stage rebuilds), with
//! a fake engine that remembers what it built.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A fake engine: `image ls` lists what it built before, `build` adds the
/// tag (and fails for tags containing $FAKE_FAIL).
const ENGINE: &str = r#"#!/bin/sh
case "$1" in
  image) cat "$FAKE_DIR/existing" 2>/dev/null; exit 0 ;;
  build)
    tag=; prev=
    for a in "$@"; do [ "$prev" = "-t" ] && tag=$a; prev=$a; done
    cat >/dev/null
    echo "Step 1/1"
    if [ -n "$FAKE_FAIL" ]; then case "$tag" in *"$FAKE_FAIL"*) echo boom; exit 1 ;; esac; fi
    echo "$tag" >> "$FAKE_DIR/existing"
    exit 0 ;;
esac
exit 2
"#;

struct Env {
    root: tempfile::TempDir,
    data: tempfile::TempDir,
    engine: PathBuf,
}

impl Env {
    /// A root with the default templates and acme/a, acme/b (needs a).
    fn new() -> Env {
        let root = acme_root();
        let data = tempfile::tempdir().expect("tempdir");
        let engine = data.path().join("engine");
        std::fs::write(&engine, ENGINE).expect("write engine");
        make_executable(&engine);
        Env { root, data, engine }
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let git = fake_git(&[]);
        let mut cmd = tool(git.path());
        cmd.arg("--root")
            .arg(self.root.path())
            .args(args)
            .env("FAKE_DIR", self.data.path())
            .env("BUILD_UNIT_TEST_CACHE_DIR", self.data.path().join("cache"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().expect("run")
    }

    fn build(&self, extra: &[&str], envs: &[(&str, &str)]) -> Output {
        let engine = self.engine.display().to_string();
        let mut args = vec!["build", "--engine", engine.as_str()];
        args.extend_from_slice(extra);
        self.run(&args, envs)
    }

    fn explain(&self, extra: &[&str]) -> String {
        let engine = self.engine.display().to_string();
        let mut args = vec!["explain", "--engine", engine.as_str()];
        args.extend_from_slice(extra);
        let out = self.run(&args, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }

    fn set_rev(&self, file: &str, rev: &str) {
        let path = self.root.path().join("packages.d").join(file);
        let t = std::fs::read_to_string(&path).expect("read");
        let t = t.replace("rev = \"v1\"", &format!("rev = \"{rev}\""));
        std::fs::write(path, t).expect("write");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn plain(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run")
}

#[test]
fn completions_load_in_bash_and_name_every_subcommand() {
    let out = plain(&["completions", "bash"]);
    assert!(out.status.success());
    let script = text(&out.stdout);
    for sub in [
        "build",
        "validate",
        "bump",
        "outdated",
        "explain",
        "completions",
        "man",
    ] {
        assert!(script.contains(sub), "{sub} in the bash completions");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.bash");
    std::fs::write(&file, &script).expect("write");
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p build-unit-test-docker",
            file.display()
        ))
        .output()
        .expect("bash");
    assert!(loaded.status.success(), "{}", text(&loaded.stderr));
    assert!(text(&loaded.stdout).contains("build-unit-test-docker"));

    let zsh = text(&plain(&["completions", "zsh"]).stdout);
    assert!(zsh.starts_with("#compdef build-unit-test-docker"), "{zsh}");
    let fish = text(&plain(&["completions", "fish"]).stdout);
    assert!(
        fish.contains("complete -c build-unit-test-docker"),
        "{fish}"
    );
    assert_eq!(plain(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_one_per_subcommand_that_man_can_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = plain(&["man", "--out", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "build-unit-test-docker.1",
        "build-unit-test-docker-build.1",
        "build-unit-test-docker-validate.1",
        "build-unit-test-docker-bump.1",
        "build-unit-test-docker-explain.1",
    ] {
        let body = std::fs::read_to_string(dir.path().join(page)).expect(page);
        assert!(body.contains(".TH "), "{page}");
    }
    let bump = std::fs::read_to_string(dir.path().join("build-unit-test-docker-bump.1"))
        .expect("bump page");
    assert!(bump.contains("checksum"), "{bump}");
    // Without --out, the main page goes to stdout.
    let main = text(&plain(&["man"]).stdout);
    assert!(
        main.contains(".SH SUBCOMMANDS") || main.contains("SUBCOMMAND"),
        "{main}"
    );
    if Command::new("man").arg("--version").output().is_ok() {
        let rendered = Command::new("man")
            .arg("-l")
            .arg(dir.path().join("build-unit-test-docker-validate.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .expect("man");
        assert!(
            text(&rendered.stdout).contains("validate"),
            "{}",
            text(&rendered.stderr)
        );
    }
}

#[test]
fn the_pre_commit_hook_runs_validate_on_the_root() {
    let hooks = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).expect("hooks");
    // The pre-commit framework's fields, as YAML (Python's parser).
    let parsed = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, yaml, json; h = yaml.safe_load(sys.stdin); \
             print(json.dumps(h))",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(hooks.as_bytes())?;
            c.wait_with_output()
        });
    if let Some(out) = parsed.ok().filter(|o| o.status.success()) {
        let hooks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let hook = &hooks[0];
        assert_eq!(hook["id"], "validate");
        assert_eq!(hook["language"], "rust");
        assert_eq!(hook["pass_filenames"], false);
        assert_eq!(hook["entry"], "build-unit-test-docker validate");
    } else {
        assert!(hooks.contains("- id: validate"));
    }
    // The entry works as pre-commit runs it: in the repository root.
    let entry = Command::new(BIN)
        .arg("validate")
        .current_dir(repo())
        .output()
        .expect("validate");
    assert!(entry.status.success(), "{}", text(&entry.stderr));
    // And fails a broken manifest.
    let env = Env::new();
    std::fs::write(env.root.path().join("packages.d/acme-a.toml"), "name = 1\n").expect("write");
    let broken = Command::new(BIN)
        .arg("validate")
        .current_dir(env.root.path())
        .output()
        .expect("validate");
    assert_eq!(broken.status.code(), Some(1));
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json")
}

#[test]
fn the_build_report_lists_every_stage_with_its_outcome() {
    let env = Env::new();
    let file = env.data.path().join("report.json");
    let logs = env.data.path().join("logs");
    let f = file.display().to_string();
    let l = logs.display().to_string();
    let out = env.build(&["--report", &f, "--log-dir", &l], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = report(&file);
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["tool"]["name"], "build-unit-test-docker");
    assert_eq!(r["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["exit_status"], 0);
    assert_eq!(r["final_tag"], text(&out.stdout).trim());
    let stages = r["stages"].as_array().expect("stages");
    let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(names, ["base", "acme-a", "acme-b", "final"]);
    for s in stages {
        assert_eq!(s["outcome"], "built", "{s}");
        assert!(s["seconds"].as_f64().is_some());
        let log = s["log"].as_str().expect("log path");
        assert!(Path::new(log).exists(), "{log}");
        assert!(s["tag"].as_str().is_some_and(|t| t.contains(":2021-W06-")));
    }

    // Again: everything cached.
    let out = env.build(&["--report", &f], &[]);
    assert!(out.status.success());
    let r = report(&file);
    assert!(r["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .all(|s| s["outcome"] == "cached" && s["log"].is_null()));

    // A failure: the failed stage, its skipped dependent, no final tag.
    env.set_rev("acme-a.toml", "v2");
    let out = env.build(&["--report", &f], &[("FAKE_FAIL", "acme-a")]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&file);
    assert_eq!(r["exit_status"], 1);
    assert!(r["final_tag"].is_null());
    let by = |name: &str| {
        r["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["stage"] == name)
            .cloned()
            .expect("stage")
    };
    assert_eq!(by("acme-a")["outcome"], "failed");
    assert!(by("acme-a")["error"]
        .as_str()
        .is_some_and(|e| e.contains("status 1")));
    assert_eq!(by("acme-b")["outcome"], "skipped");
    assert_eq!(by("acme-b")["skipped_because"], "acme-a");
    assert_eq!(by("base")["outcome"], "cached");
}

#[test]
fn explain_says_why_each_stage_rebuilds() {
    let env = Env::new();
    // Nothing built here yet.
    let first = env.explain(&[]);
    assert!(first.contains("acme-a: will build"), "{first}");
    assert!(first.contains("never built here"), "{first}");

    assert!(env.build(&[], &[]).status.success());
    assert!(env.explain(&[]).contains("nothing will build"));

    // A new rev for acme/a: it, acme/b (through its tag) and final rebuild.
    env.set_rev("acme-a.toml", "v2");
    let out = env.explain(&[]);
    assert!(!out.contains("base: will build"), "{out}");
    let section = |name: &str| {
        out.split("\n\n")
            .find(|s| s.starts_with(&format!("{name}: will build")))
            .unwrap_or_else(|| panic!("{name} in:\n{out}"))
            .to_owned()
    };
    let a = section("acme-a");
    assert!(
        a.contains("because its source changed: https://github.com/acme/a/archive/v1.tar.gz → https://github.com/acme/a/archive/v2.tar.gz"),
        "{a}"
    );
    assert!(
        a.contains("-RUN curl -L https://github.com/acme/a/archive/v1.tar.gz"),
        "{a}"
    );
    assert!(
        a.contains("+RUN curl -L https://github.com/acme/a/archive/v2.tar.gz"),
        "{a}"
    );
    let b = section("acme-b");
    assert!(b.contains("because dependency acme/a has a new tag"), "{b}");
    assert!(!b.contains("its source changed"), "{b}");
    let fin = section("final");
    assert!(fin.contains("dependency acme/a has a new tag"), "{fin}");

    // Asking for one stage by package name; an unknown one is a usage error.
    let only = env.explain(&["acme/b"]);
    assert!(only.starts_with("acme-b: will build"), "{only}");
    assert!(!only.contains("acme-a: will build"));
    let engine = env.engine.display().to_string();
    let bad = env.run(&["explain", "--engine", &engine, "acme/bb"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("did you mean `acme-b`"),
        "{}",
        text(&bad.stderr)
    );
}
