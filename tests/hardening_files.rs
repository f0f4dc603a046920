//! Hardening, round two, the files and templates part (issue 18): what a
//! root's files can do to the tool when they are hostile or broken —
//! templates that spin or cannot render, files that are not regular files,
//! planted symlinks, a full disk, a killed edit, a slow download.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{acme_root, outcome, BIN};

/// A nested loop of 10^10 steps: without fuel, it never ends.
const SPIN: &str = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}";

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(
        Command::new(BIN)
            .arg("--root")
            .arg(root)
            .args(args)
            .env("NO_COLOR", "1")
            .env("SOURCE_DATE_EPOCH", "1613131200")
            .stdin(Stdio::null())
            .output()
            .expect("run the tool"),
    )
}

/// `text` with miette's line wrapping undone: one space for each run of
/// whitespace and frame characters, so a message reads as one line.
fn flat(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

// ------------------------------------------------------------ item 4: fuel

#[test]
fn a_manifest_template_that_spins_is_a_located_error_in_validate_render_and_build() {
    let root = acme_root();
    write(
        root.path(),
        "packages.d/acme-b.toml",
        &format!(
            "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\nconfig_flags = [\"-DX={SPIN}\"]\n"
        ),
    );
    for args in [
        &["validate"][..],
        &["render"],
        &["build", "--engine", "/bin/true"],
    ] {
        let start = Instant::now();
        let (code, _, err) = run(root.path(), args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            start.elapsed()
        );
        assert!(err.contains("acme-b.toml"), "{args:?}: {err}");
        assert!(
            err.contains("`config_flags` does not render"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("ran more than 200000 instructions"),
            "{args:?}: {err}"
        );
        assert!(err.contains("make it small"), "{args:?}: {err}");
    }
}

#[test]
fn a_build_type_that_spins_is_found_by_validate_and_named_by_render() {
    let root = acme_root();
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        &format!("# make\n{SPIN}make\n"),
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("make.sh.j2:2:1"), "located at its line: {err}");
    assert!(err.contains("ran more than 200000 instructions"), "{err}");
    let (code, out, err) = run(root.path(), &["render"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("build-types/make.sh.j2 failed for `acme/a`")
            && err.contains("(in build-types/make:2)"),
        "{err}"
    );
}

#[test]
fn a_template_that_writes_too_much_is_an_error_not_a_huge_dockerfile() {
    let root = acme_root();
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        "make {{ 'x' * 2000000 }}\n",
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the output is over"), "{err}");
    assert!(err.contains("make.sh.j2:1:1"), "{err}");
    let (code, out, err) = run(root.path(), &["render"]);
    assert_eq!((code, out.len()), (1, 0), "{err}");
}

#[test]
fn the_first_sigint_ends_a_validate_that_renders_for_long() {
    // 600 flags that each run out of fuel: more than the run's total
    // fuel, so without the stop it renders for many seconds.
    let root = acme_root();
    let flags: Vec<String> = (0..600).map(|i| format!("\"-D{i}={SPIN}\"")).collect();
    write(
        root.path(),
        "packages.d/acme-b.toml",
        &format!(
            "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\nconfig_flags = [{}]\n",
            flags.join(", ")
        ),
    );
    let child = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .arg("validate")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let signalled = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let waited = signalled.elapsed();
    let (code, _, err) = outcome(out);
    assert!(
        waited < Duration::from_secs(5),
        "ended {waited:?} after SIGINT"
    );
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted while checking the root"), "{err}");
    assert!(
        !err.contains("not rendered"),
        "no problem report after the stop: {err}"
    );
}

// ------------------------------------------- item 8: validate trial-renders

#[test]
fn validate_finds_templates_that_only_fail_when_rendered() {
    let cases = [
        (
            "templates/build-types/make.sh.j2",
            "make -j{{ jobs }}\n{{ name | int }}\n",
            "make.sh.j2:2:",
            "for `acme/a`",
        ),
        (
            "templates/package.Dockerfile.j2",
            "FROM {{ base_image }}\n{% include 'package' %}\n",
            "package.Dockerfile.j2:2:",
            "recursion limit exceeded",
        ),
        (
            "templates/final.Dockerfile.j2",
            "FROM {{ base_image }}\n{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}\n",
            "final.Dockerfile.j2:2:",
            "recursion limit exceeded",
        ),
    ];
    for (file, text, place, what) in cases {
        let root = acme_root();
        let (code, _, err) = run(root.path(), &["validate"]);
        assert_eq!(code, 0, "the acme root is valid: {err}");
        write(root.path(), file, text);
        let (code, _, err) = run(root.path(), &["validate"]);
        assert_eq!(code, 1, "{file}: {err}");
        assert!(err.contains("template::render"), "{file}: {err}");
        assert!(err.contains(place), "{file}: located at {place}: {err}");
        assert!(err.contains(what), "{file}: {err}");
        assert_eq!(
            err.matches("template::render").count(),
            1,
            "one problem however many packages hit it: {err}"
        );
        // And render agrees: it fails the same way.
        let (code, _, err) = run(root.path(), &["render"]);
        assert_eq!(code, 1, "{file}: {err}");
    }
}

#[test]
fn validate_renders_the_final_stage_for_a_non_root_user_with_a_proxy_too() {
    let root = acme_root();
    let final_ =
        std::fs::read_to_string(root.path().join("templates/final.Dockerfile.j2")).expect("read");
    write(
        root.path(),
        "templates/final.Dockerfile.j2",
        &format!("{final_}{{% if uid != 0 %}}{{{{ username | int }}}}{{% endif %}}\n"),
    );
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("final.Dockerfile.j2 does not render for the final stage"),
        "{err}"
    );
}

#[test]
fn a_bump_that_breaks_a_template_render_is_refused_and_writes_nothing() {
    let root = acme_root();
    // Renders while the rev is a number; a bump to a tag breaks it.
    write(
        root.path(),
        "templates/build-types/make.sh.j2",
        "make -j{{ (rev | int) + 1 }}\n",
    );
    write(
        root.path(),
        "packages.d/acme-a.toml",
        "name = \"acme/a\"\nrev = \"1\"\nbuild_type = \"make\"\n",
    );
    write(
        root.path(),
        "packages.d/acme-b.toml",
        "name = \"acme/b\"\nrev = \"v1\"\nbuild_type = \"cmake\"\n",
    );
    let before = std::fs::read(root.path().join("packages.d/acme-a.toml")).expect("read");
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(root.path(), &["bump", "acme/a", "v2"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("make.sh.j2 does not render for `acme/a`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(root.path().join("packages.d/acme-a.toml")).expect("read"),
        before
    );
}

// ---------------------------------- item 5: files that are not regular files

/// `validate` on `root`, stopped (and the test failed) after `secs`.
fn validate_within(root: &Path, secs: u64) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .arg("validate")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("validate of {} still running after {secs}s", root.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, out, err) = outcome(child.wait_with_output().expect("output"));
    (code, out, flat(&err))
}

fn replace_with_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
}

fn replace_with_symlink(path: &Path, target: &str) {
    let _ = std::fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).expect("symlink");
}

#[test]
fn a_fifo_for_a_template_is_refused_unread_instead_of_blocking() {
    for rel in [
        "templates/base.toml",
        "templates/package.Dockerfile.j2",
        "templates/build-types/make.sh.j2",
        "templates/build-types/fifo.sh.j2",
    ] {
        let root = acme_root();
        replace_with_fifo(&root.path().join(rel));
        let (code, _, err) = validate_within(root.path(), 20);
        assert_eq!(code, 1, "{rel}: {err}");
        assert!(
            err.contains("it is a FIFO, not a regular file: not read"),
            "{rel}: {err}"
        );
        assert!(
            err.contains(rel.rsplit('/').next().unwrap_or(rel)),
            "{rel}: {err}"
        );
        assert!(
            !err.contains("template::undefined-variable"),
            "{rel}: no follow-on noise: {err}"
        );
    }
}

#[test]
fn a_template_symlinked_out_of_the_root_is_refused_without_reading_it() {
    for (rel, target) in [
        ("templates/base.toml", "/dev/zero"),
        ("templates/base.toml", "/etc/passwd"),
        ("templates/final.Dockerfile.j2", "/etc/passwd"),
        ("templates/build-types/make.sh.j2", "/etc/passwd"),
    ] {
        let root = acme_root();
        replace_with_symlink(&root.path().join(rel), target);
        let (code, out, err) = validate_within(root.path(), 20);
        assert_eq!(code, 1, "{rel} -> {target}: {err}");
        assert!(
            err.contains("outside the project root: not read"),
            "{rel}: {err}"
        );
        assert!(
            !err.contains("root:x:0:0") && !out.contains("root:"),
            "{rel}: its text leaked: {err}"
        );
    }
    // The templates folder itself symlinked away: the same.
    let root = acme_root();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    common::copy_tree(&root.path().join("templates"), elsewhere.path());
    std::fs::remove_dir_all(root.path().join("templates")).expect("rm");
    std::os::unix::fs::symlink(elsewhere.path(), root.path().join("templates")).expect("symlink");
    let (code, _, err) = validate_within(root.path(), 20);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("outside the project root: not read"), "{err}");
}

#[test]
fn symlinks_inside_the_root_are_still_followed() {
    let root = acme_root();
    std::fs::rename(
        root.path().join("templates/build-types/make.sh.j2"),
        root.path().join("make.sh.j2"),
    )
    .expect("move");
    replace_with_symlink(
        &root.path().join("templates/build-types/make.sh.j2"),
        "../../make.sh.j2",
    );
    let (code, _, err) = validate_within(root.path(), 20);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_device_or_a_fifo_reached_by_a_symlink_inside_the_root_is_refused() {
    let root = acme_root();
    replace_with_fifo(&root.path().join("fifo"));
    replace_with_symlink(&root.path().join("templates/base.toml"), "../fifo");
    let (code, _, err) = validate_within(root.path(), 20);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("it is a FIFO"), "{err}");
    // A device node in the root (root may make one; others skip this part).
    let dev = root.path().join("zero");
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        &dev,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 5),
    );
    if made.is_err() {
        eprintln!("skipped the device case: mknod is not allowed here");
        return;
    }
    replace_with_symlink(&root.path().join("templates/base.toml"), "../zero");
    let (code, _, err) = validate_within(root.path(), 20);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("it is a device, not a regular file"), "{err}");
}

#[test]
fn a_file_over_the_size_cap_is_refused_unread() {
    let big = format!("# {}\n", "x".repeat(1 << 20));
    for rel in ["templates/final.Dockerfile.j2", "packages.d/acme-a.toml"] {
        let root = acme_root();
        write(root.path(), rel, &big);
        let (code, _, err) = validate_within(root.path(), 20);
        assert_eq!(code, 1, "{rel}: {err}");
        assert!(
            err.contains("larger than 1024 KiB: not read"),
            "{rel}: {err}"
        );
        assert!(
            !err.contains("xxxxxxxx"),
            "{rel}: its text is not quoted: {err}"
        );
    }
}

// -------------------------------------- item 3: a full disk, a hard link

/// A 256 KiB tmpfs, unmounted when dropped; None (the test then skips,
/// saying why) where this user may not mount.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left of it.
    fn fill(&self) {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.path().join("filler")).expect("filler");
        let block = vec![b'f'; 4096];
        while f.write_all(&block).is_ok() {}
        // And the last bytes, if any page is partly free.
        while f.write_all(b"f").is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A root on `disk`: the templates and acme-a's manifest of just under one
/// page, so that a longer rev needs a page the full disk does not have.
fn root_on(disk: &SmallDisk) -> std::path::PathBuf {
    let root = disk.path().join("root");
    common::copy_tree(&common::repo().join("templates"), &root.join("templates"));
    let head = "name = \"acme/a\"\nrev = \"v1\"\nbuild_type = \"make\"\n";
    let pad = 4090 - head.len() - 3;
    write(
        &root,
        "packages.d/acme-a.toml",
        &format!("{head}# {}\n", "p".repeat(pad)),
    );
    root
}

#[test]
fn a_full_disk_leaves_a_hard_linked_manifest_with_its_old_text_and_link() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let root = root_on(&disk);
    let manifest = root.join("packages.d/acme-a.toml");
    let link = disk.path().join("acme-a.link");
    std::fs::hard_link(&manifest, &link).expect("hard link");
    let before = std::fs::read(&manifest).expect("read");
    disk.fill();
    let long_rev = format!("v2-{}", "r".repeat(40));
    let (code, out, err) = run(&root, &["bump", "acme/a", &long_rev]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("acme-a.toml"), "{err}");
    assert_eq!(
        std::fs::read(&manifest).expect("read"),
        before,
        "the old text, byte for byte"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&manifest).expect("meta");
    assert_eq!(meta.nlink(), 2, "the link stays");
    assert_eq!(meta.ino(), std::fs::metadata(&link).expect("meta").ino());
    let (code, _, err) = run(&root, &["validate"]);
    assert_eq!(code, 0, "still valid: {err}");
    // With room again, the same bump goes through, in place.
    std::fs::remove_file(disk.path().join("filler")).expect("rm");
    let (code, _, err) = run(&root, &["bump", "acme/a", &long_rev]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&link).expect("read the other link");
    assert!(after.contains(&format!("rev = \"{long_rev}\"")), "{after}");
}

#[test]
fn a_full_disk_leaves_a_plain_manifest_whole_and_no_temporary_file() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let root = root_on(&disk);
    let manifest = root.join("packages.d/acme-a.toml");
    let before = std::fs::read(&manifest).expect("read");
    disk.fill();
    let (code, _, err) = run(&root, &["bump", "acme/a", "v2"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(&manifest).expect("read"), before);
    let names: Vec<String> = std::fs::read_dir(root.join("packages.d"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["acme-a.toml"]);
}

// --------------------------- item 13b: the temporary file of a killed edit

#[test]
fn a_killed_edits_temporary_file_is_recognised_and_removed_by_the_next_edit() {
    let root = acme_root();
    let pkgs = root.path().join("packages.d");
    // What a bump killed mid-write leaves: its pid (now gone) in the name.
    let mut gone = Command::new("true").spawn().expect("spawn");
    let dead_pid = gone.id();
    gone.wait().expect("wait");
    let stale = pkgs.join(format!(".acme-a.toml.bud-tmp-{dead_pid}-AbC123"));
    std::fs::write(&stale, "name = \"acme/a\"\nrev = \"half").expect("write");
    // One of a live writer (this test), written just now: left alone.
    let live = pkgs.join(format!(
        ".acme-b.toml.bud-tmp-{}-XyZ789",
        std::process::id()
    ));
    std::fs::write(&live, "in progress").expect("write");
    let (code, _, err) = run(root.path(), &["validate"]);
    assert_eq!(code, 0, "validate does not choke on them: {err}");
    assert_eq!(
        err.matches("project::edit-temp-file").count(),
        2,
        "and says what they are: {err}"
    );
    let (code, _, err) = run(root.path(), &["bump", "acme/a", "v2"]);
    assert_eq!(code, 0, "{err}");
    assert!(!stale.exists(), "the stale one is removed");
    assert!(err.contains("left by an edit that was killed"), "{err}");
    assert!(live.exists(), "a live writer's is kept");
    let (_, _, err) = run(root.path(), &["validate"]);
    assert_eq!(err.matches("project::edit-temp-file").count(), 1, "{err}");
    // And the edits' own temporary files carry the recognisable name.
    let src =
        std::fs::read_to_string(common::repo().join("src/maintain/edit/mod.rs")).expect("read");
    assert!(src.contains(".bud-tmp-"), "named as the cleanup expects");
}

// ------------------------------ item 11: bump --checksum and the root lock

#[test]
fn a_curl_that_floods_its_stderr_before_the_tarball_does_not_hang_the_download() {
    // 1 MiB of warnings first (far more than a pipe holds), then the
    // tarball: stdout and stderr must be read side by side.
    let bin = tempfile::tempdir().expect("tempdir");
    let curl = bin.path().join("curl");
    std::fs::write(
        &curl,
        "#!/bin/sh
head -c 1048576 /dev/zero | tr '\\0' 'w' >&2
printf 'the tarball'
",
    )
    .expect("write");
    common::make_executable(&curl);
    let root = acme_root();
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .args([
            "bump",
            "acme/a",
            "v2",
            "--checksum",
            "--fetch-timeout",
            "20",
        ])
        .env("PATH", common::path_with(bin.path()))
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let (code, _, err) = outcome(out);
    assert_eq!(code, 0, "{}", &err[..err.len().min(2000)]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let a = std::fs::read_to_string(root.path().join("packages.d/acme-a.toml")).expect("read");
    // sha256("the tarball").
    let sum = "9444287dee246d8a40b79422081a10430102ae982462a7c7e713e729b593d2d5";
    assert!(a.contains(&format!("sha256 = \"{sum}\"")), "{a}");
}

#[test]
fn bump_checksum_downloads_without_holding_the_root_lock() {
    let bin = tempfile::tempdir().expect("tempdir");
    let marks = tempfile::tempdir().expect("tempdir");
    // A slow server: curl takes 4 s, then serves the tarball.
    let curl = bin.path().join("curl");
    std::fs::write(
        &curl,
        format!(
            "#!/bin/sh\ntouch {}/started\nsleep 4\nprintf 'the tarball'\n",
            marks.path().display()
        ),
    )
    .expect("write");
    common::make_executable(&curl);
    let root = acme_root();
    let path = common::path_with(bin.path());
    let slow = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .args(["bump", "acme/a", "v2", "--checksum"])
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let t = Instant::now();
    while !marks.path().join("started").exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(marks.path().join("started").exists(), "curl started");
    // Meanwhile, another edit of the same root, and one of the same file.
    let started = Instant::now();
    let (code, _, err) = run(root.path(), &["bump", "acme/b", "v7"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("waiting for another edit"), "{err}");
    assert!(
        took < Duration::from_secs(3),
        "the other bump took {took:?}"
    );
    let a = root.path().join("packages.d/acme-a.toml");
    let text = std::fs::read_to_string(&a).expect("read");
    std::fs::write(&a, format!("# edited meanwhile\n{text}")).expect("write");
    let (code, _, err) = outcome(slow.wait_with_output().expect("wait"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("changed while the tarball downloaded"),
        "{err}"
    );
    let a = std::fs::read_to_string(&a).expect("read");
    assert!(
        a.starts_with("# edited meanwhile\n"),
        "the edit made meanwhile is kept: {a}"
    );
    // sha256("the tarball"), with the rev it is the tarball of.
    let sum = "9444287dee246d8a40b79422081a10430102ae982462a7c7e713e729b593d2d5";
    assert!(
        a.contains(&format!("rev = \"v2\"\nsha256 = \"{sum}\"")),
        "{a}"
    );
    let b = std::fs::read_to_string(root.path().join("packages.d/acme-b.toml")).expect("read");
    assert!(b.contains("rev = \"v7\""), "{b}");
}

#[test]
fn bump_checksum_refuses_when_the_url_changed_during_the_download() {
    let bin = tempfile::tempdir().expect("tempdir");
    let root = acme_root();
    let a = root.path().join("packages.d/acme-a.toml");
    // curl itself moves the manifest on, as another edit would meanwhile.
    let curl = bin.path().join("curl");
    std::fs::write(
        &curl,
        format!(
            "#!/bin/sh\nprintf 'url = \"https://example.com/{{{{ rev }}}}.tar.gz\"\\n' >> {}\nprintf 'the tarball'\n",
            a.display()
        ),
    )
    .expect("write");
    common::make_executable(&curl);
    let out = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .args(["bump", "acme/a", "v2", "--checksum"])
        .env("PATH", common::path_with(bin.path()))
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let (code, _, err) = outcome(out);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the manifest changed while it downloaded; nothing was written"),
        "{err}"
    );
    let text = std::fs::read_to_string(&a).expect("read");
    assert!(
        text.contains("rev = \"v1\"") && !text.contains("sha256"),
        "{text}"
    );
}

// ------------- item 6, the same rule for the other files the tool writes

#[test]
fn render_out_replaces_a_planted_symlink_instead_of_writing_through_it() {
    let root = acme_root();
    let out = tempfile::tempdir().expect("tempdir");
    let precious = out.path().join("precious");
    std::fs::write(&precious, "keep me\n").expect("write");
    std::os::unix::fs::symlink(&precious, out.path().join("base.Dockerfile")).expect("symlink");
    std::os::unix::fs::symlink(&precious, out.path().join("tags.txt")).expect("symlink");
    let (code, _, err) = run(
        root.path(),
        &["render", "--out", out.path().to_str().expect("utf-8")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "keep me\n"
    );
    for name in ["base.Dockerfile", "tags.txt"] {
        let meta = std::fs::symlink_metadata(out.path().join(name)).expect("meta");
        assert!(meta.is_file(), "{name} is now a file of its own");
    }
    let base = std::fs::read_to_string(out.path().join("base.Dockerfile")).expect("read");
    assert!(base.contains("FROM "), "{base}");
}

#[test]
fn update_looks_up_without_holding_the_root_lock_and_keeps_a_bump_made_meanwhile() {
    let bin = tempfile::tempdir().expect("tempdir");
    let marks = tempfile::tempdir().expect("tempdir");
    // A slow upstream: every ls-remote takes 3 s, then lists v1 and v2.
    let git = bin.path().join("git");
    std::fs::write(
        &git,
        format!(
            "#!/bin/sh\ntouch {}/started\nsleep 3\n\
             printf '1111111111111111111111111111111111111111\\trefs/tags/v1\\n'\n\
             printf '2222222222222222222222222222222222222222\\trefs/tags/v2\\n'\n",
            marks.path().display()
        ),
    )
    .expect("write");
    common::make_executable(&git);
    let root = acme_root();
    let slow = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .arg("update")
        .env("PATH", common::path_with(bin.path()))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let t = Instant::now();
    while !marks.path().join("started").exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let (code, _, err) = run(root.path(), &["bump", "acme/b", "v9"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("waiting for another edit"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (code, out, err) = outcome(slow.wait_with_output().expect("wait"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "acme/b: its rev changed from v1 to v9 while upstream was looked up; not updated"
        ),
        "{err}"
    );
    let a = std::fs::read_to_string(root.path().join("packages.d/acme-a.toml")).expect("read");
    let b = std::fs::read_to_string(root.path().join("packages.d/acme-b.toml")).expect("read");
    assert!(a.contains("rev = \"v2\""), "acme/a is updated: {a}");
    assert!(
        b.contains("rev = \"v9\""),
        "the bump made meanwhile stays: {b}"
    );
}

#[test]
fn the_build_report_replaces_a_planted_symlink_instead_of_writing_through_it() {
    let root = acme_root();
    let data = tempfile::tempdir().expect("tempdir");
    // An engine for which every stage exists: nothing is built.
    let engine = data.path().join("engine");
    std::fs::write(
        &engine,
        "#!/bin/sh\n[ \"$1\" = image ] && exec cat \"$EXISTING\"\nexit 2\n",
    )
    .expect("write");
    common::make_executable(&engine);
    let git = common::fake_git(&[]);
    let (_, tags, _) = outcome(
        common::tool(git.path())
            .arg("--root")
            .arg(root.path())
            .arg("render")
            .output()
            .expect("render"),
    );
    let existing = data.path().join("existing");
    let listed: Vec<String> = tags
        .split("### tags.txt\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    assert!(listed.len() > 2, "{tags}");
    std::fs::write(&existing, listed.join("\n") + "\n").expect("write");
    let precious = data.path().join("precious");
    std::fs::write(&precious, "keep me\n").expect("write");
    let report = data.path().join("report.json");
    std::os::unix::fs::symlink(&precious, &report).expect("symlink");
    let (code, out, err) = outcome(
        common::tool(git.path())
            .arg("--root")
            .arg(root.path())
            .args(["build", "--engine"])
            .arg(&engine)
            .arg("--report")
            .arg(&report)
            .env("EXISTING", &existing)
            .env("BUILD_UNIT_TEST_CACHE_DIR", data.path().join("cache"))
            .output()
            .expect("build"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "keep me\n"
    );
    assert!(std::fs::symlink_metadata(&report).expect("meta").is_file());
    let text = std::fs::read_to_string(&report).expect("read");
    assert!(text.contains("\"schema_version\": 1"), "{text}");
}
