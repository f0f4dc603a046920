//! The build store as a user meets it: two roots sharing one machine,
//! two builds of one root at once, a corrupt or unusable store (one
//! warning, never a failed build), and a no-op build that writes nothing.
//! A fake engine remembers what it built; the store is real.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// `image ls` lists what was built before; `build` adds the tag.
const ENGINE: &str = r#"#!/bin/sh
case "$1" in
  image) cat "$FAKE_DIR/existing" 2>/dev/null; exit 0 ;;
  build)
    tag=; prev=
    for a in "$@"; do [ "$prev" = "-t" ] && tag=$a; prev=$a; done
    cat >/dev/null
    echo "Step 1/1"
    echo "$tag" >> "$FAKE_DIR/existing"
    exit 0 ;;
esac
exit 2
"#;

/// One machine: a fake engine, a cache folder, a fake git.
struct Machine {
    data: tempfile::TempDir,
    engine: PathBuf,
    git: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let data = tempfile::tempdir().expect("tempdir");
        let engine = data.path().join("engine");
        std::fs::write(&engine, ENGINE).expect("write engine");
        make_executable(&engine);
        Machine {
            data,
            engine,
            git: fake_git(&[]),
        }
    }

    fn cache(&self) -> PathBuf {
        self.data.path().join("cache")
    }

    fn command(&self, root: &Path, args: &[&str], cache: &Path) -> Command {
        let mut cmd = tool(self.git.path());
        cmd.arg("--root")
            .arg(root)
            .args(args)
            .arg("--engine")
            .arg(&self.engine)
            .env("FAKE_DIR", self.data.path())
            .env("BUILD_UNIT_TEST_CACHE_DIR", cache);
        cmd
    }

    fn build_in(&self, root: &Path, cache: &Path) -> Output {
        self.command(root, &["build"], cache).output().expect("run")
    }

    fn build(&self, root: &Path) -> Output {
        self.build_in(root, &self.cache())
    }

    fn explain(&self, root: &Path) -> String {
        let out = self
            .command(root, &["explain"], &self.cache())
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn built(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stderr)
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect()
}

fn set_rev(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join("packages.d").join(file);
    let t = std::fs::read_to_string(&path).expect("read");
    assert!(t.contains(from), "{file}: {from}");
    std::fs::write(path, t.replace(from, to)).expect("write");
}

/// The section of `explain`'s output about `stage`.
fn section(out: &str, stage: &str) -> String {
    out.split("\n\n")
        .find(|s| s.starts_with(&format!("{stage}: will build")))
        .unwrap_or_else(|| panic!("{stage} in:\n{out}"))
        .to_owned()
}

#[test]
fn two_roots_sharing_a_machine_never_see_each_other() {
    let m = Machine::new();
    // The issue's case: the 2021 root (focal), then the default root
    // (resolute), one image name, one cache folder.
    let old = shipped_root();
    let new = copy_root(&repo());
    built(&m.build(old.path()));
    built(&m.build(new.path()));

    // A new boost for the 2021 root: against what that root built.
    set_rev(
        old.path(),
        "boost.toml",
        "rev = \"1.75.0\"",
        "rev = \"1.76.0\"",
    );
    let out = m.explain(old.path());
    let boost = section(&out, "boost");
    assert!(boost.contains("because its source changed"), "{boost}");
    assert!(boost.contains("as last built here"), "{boost}");
    assert!(!out.contains("the base changed"), "{out}");
    assert!(!out.contains("resolute"), "{out}");

    // And the default root, bumped, against its own.
    set_rev(new.path(), "boost.toml", "rev = \"", "rev = \"9");
    let out = m.explain(new.path());
    let boost = section(&out, "boost");
    assert!(boost.contains("because its source changed"), "{boost}");
    assert!(!out.contains("the base changed"), "{out}");
    assert!(!out.contains("focal"), "{out}");
}

#[test]
fn a_stage_this_root_never_recorded_is_compared_with_the_newest_image_here() {
    let m = Machine::new();
    let a = acme_root();
    let b = acme_root();
    built(&m.build(a.path()));
    // Root b has the same stages; built elsewhere (another cache folder),
    // so this machine's store knows only a's.
    set_rev(b.path(), "acme-a.toml", "rev = \"v1\"", "rev = \"v2\"");
    let out = m.explain(b.path());
    let acme_a = section(&out, "acme-a");
    assert!(acme_a.contains("no record of it for this root"), "{acme_a}");
    assert!(acme_a.contains("as in the newest image here"), "{acme_a}");
    assert!(acme_a.contains("because its source changed"), "{acme_a}");
    // Once b has built, it is compared with its own.
    built(&m.build(b.path()));
    set_rev(b.path(), "acme-a.toml", "rev = \"v2\"", "rev = \"v3\"");
    let acme_a = section(&m.explain(b.path()), "acme-a");
    assert!(acme_a.contains("as last built here"), "{acme_a}");
    assert!(acme_a.contains("v2.tar.gz → "), "{acme_a}");
}

#[test]
fn two_builds_of_one_root_at_once_both_record() {
    let m = Machine::new();
    let root = acme_root();
    let spawn = || {
        m.command(root.path(), &["build"], &m.cache())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (one, two) = (spawn(), spawn());
    for child in [one, two] {
        let out = child.wait_with_output().expect("wait");
        let stderr = built(&out);
        assert!(warnings(&stderr).is_empty(), "{stderr}");
    }
    set_rev(root.path(), "acme-b.toml", "rev = \"v1\"", "rev = \"v2\"");
    let b = section(&m.explain(root.path()), "acme-b");
    assert!(b.contains("as last built here"), "{b}");
}

#[test]
fn a_corrupt_store_is_one_warning_and_a_fresh_start() {
    let m = Machine::new();
    let root = acme_root();
    std::fs::create_dir_all(m.cache()).expect("mkdir");
    std::fs::write(m.cache().join("store.sqlite"), "garbage ".repeat(1000)).expect("write");
    let stderr = built(&m.build(root.path()));
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(
        w[0].contains("store.sqlite") && w[0].contains("replaced"),
        "{stderr}"
    );
    // Fresh: recorded, and no warning again.
    let stderr = built(&m.build(root.path()));
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    set_rev(root.path(), "acme-a.toml", "rev = \"v1\"", "rev = \"v2\"");
    assert!(section(&m.explain(root.path()), "acme-a").contains("as last built here"));
}

#[test]
fn an_unusable_cache_folder_never_fails_a_build() {
    let m = Machine::new();
    let root = acme_root();
    // A folder that cannot be made, even by root.
    let file = m.data.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let out = m.build_in(root.path(), &file.join("cache"));
    let stderr = built(&out);
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(
        w[0].contains("cannot be made") && w[0].contains("BUILD_UNIT_TEST_CACHE_DIR"),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("openbmc/ubuntu-unit-test:"));

    // A FIFO where the store goes: not opened (no hang), left as it is.
    let cache = m.data.path().join("fifo-cache");
    std::fs::create_dir(&cache).expect("mkdir");
    let fifo = cache.join("store.sqlite");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let stderr = built(&m.build_in(root.path(), &cache));
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(
        w[0].contains("a FIFO") && w[0].contains("left alone"),
        "{stderr}"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .expect("meta")
        .file_type()
        .is_fifo());
}

#[test]
fn a_no_op_build_writes_nothing_to_the_store() {
    let m = Machine::new();
    let root = acme_root();
    built(&m.build(root.path()));
    let listing = |dir: &Path| -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| {
                let e = e.expect("entry");
                let meta = e.metadata().expect("meta");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                    meta.modified().expect("mtime"),
                )
            })
            .collect();
        all.sort();
        all
    };
    let before = listing(&m.cache());
    assert_eq!(before.len(), 1, "one file: the store");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let stderr = built(&m.build(root.path()));
    assert!(stderr.contains("4 cached"), "{stderr}");
    assert!(
        listing(&m.cache()) == before,
        "the no-op build changed the cache folder"
    );
}
