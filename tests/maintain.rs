//! The maintainer workflow: bump (packages and base pins), outdated and
//! update against local bare repositories over file://, sha256 checksums,
//! list and graph.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A root with the shipped templates and the given manifests.
fn root_with(manifests: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(
        &example_2021().join("templates"),
        &dir.path().join("templates"),
    );
    std::fs::create_dir_all(dir.path().join("packages.d")).expect("mkdir");
    for (file, text) in manifests {
        std::fs::write(dir.path().join("packages.d").join(file), text).expect("write");
    }
    dir
}

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("BUILD_UNIT_TEST_GIT_BASE")
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const ODD: &str = "#:schema ../schema/package.schema.json\n\
# Snapshot from 2020-06-13: keep in step with meta-oe\n\
name    =   'acme/widget'\n\
\n\
# pinned: see the release notes\n\
rev   =   \"v1.0.0\"    # pinned\n\
build_type=\"cmake\"\n\
config_flags = [\n\
    \"-DA=ON\",   # first\n\
    \"-DB=OFF\",\n\
]\n";

const USER: &str =
    "name = \"acme/gadget\"\nrev = \"v0.1\"\nbuild_type = \"meson\"\ndepends = [\"acme/widget\"]\n";

#[test]
fn bump_changes_exactly_the_rev_line_and_says_what_rebuilds() {
    let root = root_with(&[("acme-widget.toml", ODD), ("acme-gadget.toml", USER)]);
    let (code, stdout, stderr) = run(root.path(), &["bump", "acme/widget", "v1.2.0"]);
    assert_eq!(code, 0, "{stderr}");
    let after =
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read");
    let changed: Vec<(&str, &str)> = ODD
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![(
            "rev   =   \"v1.0.0\"    # pinned",
            "rev   =   \"v1.2.0\"    # pinned"
        )]
    );
    assert_eq!(ODD.lines().count(), after.lines().count());
    assert!(
        stdout.contains("acme/widget: changed v1.0.0 → v1.2.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stages that will rebuild: acme-gadget, acme-widget, final"),
        "{stdout}"
    );
    // No temp file left behind.
    let files = std::fs::read_dir(root.path().join("packages.d"))
        .expect("dir")
        .count();
    assert_eq!(files, 2);
}

#[test]
fn bump_dry_run_shows_a_diff_and_writes_nothing() {
    let root = root_with(&[("acme-widget.toml", ODD)]);
    let (code, stdout, _) = run(root.path(), &["bump", "acme/widget", "v2.0.0", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("--- a/packages.d/acme-widget.toml\n+++ b/packages.d/acme-widget.toml\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-rev   =   \"v1.0.0\"    # pinned\n+rev   =   \"v2.0.0\"    # pinned\n"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read"),
        ODD
    );
}

#[test]
fn bump_refuses_unknown_packages_and_invalid_results() {
    let root = root_with(&[("acme-widget.toml", ODD)]);
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widgit", "v2"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `acme/widget`?"), "{stderr}");
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v2 && rm -rf /"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read"),
        ODD
    );
}

#[test]
fn bump_base_pins_go_through_the_same_path() {
    let root = root_with(&[("acme-widget.toml", ODD)]);
    let before = std::fs::read_to_string(root.path().join("templates/base.toml")).expect("read");
    let (code, stdout, stderr) = run(root.path(), &["bump", "base.meson", "1.11.2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("base.meson: changed 0.54.3 → 1.11.2"),
        "{stdout}"
    );
    assert!(stdout.contains("all of them"), "{stdout}");
    let after = std::fs::read_to_string(root.path().join("templates/base.toml")).expect("read");
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed, vec![("meson = \"0.54.3\"", "meson = \"1.11.2\"")]);
    let (code, stdout, _) = run(root.path(), &["render"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("RUN pip3 install meson==1.11.2\n"));
    let (code, _, stderr) = run(root.path(), &["bump", "base.mesn", "1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `base.meson`?"), "{stderr}");
}

#[test]
fn concurrent_bumps_of_different_packages_leave_whole_files() {
    let root = root_with(&[("acme-widget.toml", ODD), ("acme-gadget.toml", USER)]);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let (pkg, rev) = if i % 2 == 0 {
                ("acme/widget", format!("v1.{i}.0"))
            } else {
                ("acme/gadget", format!("v0.{i}"))
            };
            Command::new(BIN)
                .arg("--root")
                .arg(root.path())
                .args(["bump", pkg, &rev])
                .output()
        })
        .collect();
    for c in children {
        assert!(c.expect("ran").status.success());
    }
    let (code, _, stderr) = run(root.path(), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
}

/// A bare repository with the given tags (lightweight and annotated) on
/// successive commits of branch `main`.
fn bare_repo(base: &Path, name: &str, tags: &[&str]) -> String {
    bare_repo_of(base, name, tags, "sha1")
}

/// [`bare_repo`] with the object format `format` (`sha1`, `sha256`).
fn bare_repo_of(base: &Path, name: &str, tags: &[&str], format: &str) -> String {
    let work = base.join("work").join(name);
    std::fs::create_dir_all(&work).expect("mkdir");
    git(
        &work,
        &[
            "init",
            "-q",
            "-b",
            "main",
            &format!("--object-format={format}"),
        ],
    );
    for (i, tag) in tags.iter().enumerate() {
        std::fs::write(work.join("f"), format!("{i}")).expect("write");
        git(&work, &["add", "f"]);
        git(&work, &["commit", "-q", "-m", tag]);
        if i % 2 == 0 {
            git(&work, &["tag", tag]);
        } else {
            git(&work, &["tag", "-a", "-m", tag, tag]);
        }
    }
    std::fs::write(work.join("f"), "head").expect("write");
    git(&work, &["commit", "-q", "-am", "head"]);
    let bare = base.join(format!("{name}.git"));
    std::fs::create_dir_all(bare.parent().expect("parent")).expect("mkdir");
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("utf8"),
            bare.to_str().expect("utf8"),
        ],
    );
    git(&work, &["rev-parse", "HEAD"])
}

#[test]
fn a_package_pinned_at_a_sha256_commit_is_compared_with_the_branch_head() {
    // A repository in git's SHA-256 object format: its commit ids have 64
    // hex digits. A pin at one is a commit, not a release.
    let remotes = tempfile::tempdir().expect("tempdir");
    let head = bare_repo_of(
        remotes.path(),
        "acme/gadget",
        &["v1.0.0", "v1.1.0"],
        "sha256",
    );
    assert_eq!(head.len(), 64, "{head}");
    let pinned = git(
        &remotes.path().join("work/acme/gadget"),
        &["rev-parse", "HEAD~1"],
    );
    let gadget = format!("name = \"acme/gadget\"\nrev = \"{pinned}\"\nbuild_type = \"meson\"\n");
    let root = root_with(&[("acme-gadget.toml", &gadget)]);
    let base = format!("file://{}", remotes.path().display());
    let (code, stdout, stderr) = run(
        root.path(),
        &["outdated", "--git-base-url", &base, "--format", "json"],
    );
    assert_eq!(code, 0, "{stderr}{stdout}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(rows[0]["kind"], "commit", "{rows}");
    assert_eq!(rows[0]["latest"], head.as_str(), "{rows}");
    assert_eq!(rows[0]["outdated"], true, "{rows}");
    // `update` moves the pin to the branch head, not to a tag.
    let (code, _, stderr) = run(root.path(), &["update", "--git-base-url", &base]);
    assert_eq!(code, 0, "{stderr}");
    let text =
        std::fs::read_to_string(root.path().join("packages.d/acme-gadget.toml")).expect("read");
    assert!(text.contains(&format!("rev = \"{head}\"")), "{text}");
}

#[test]
fn outdated_and_update_use_ls_remote_only() {
    let remotes = tempfile::tempdir().expect("tempdir");
    bare_repo(
        remotes.path(),
        "acme/widget",
        &["v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0-rc1", "other-9.0"],
    );
    let head = bare_repo(remotes.path(), "acme/gadget", &["x"]);
    let gadget = "name = \"acme/gadget\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\nbuild_type = \"meson\"\n";
    let root = root_with(&[("acme-widget.toml", ODD), ("acme-gadget.toml", gadget)]);
    let base = format!("file://{}", remotes.path().display());

    let (code, stdout, stderr) = run(
        root.path(),
        &["outdated", "--git-base-url", &base, "--format", "json"],
    );
    assert_eq!(code, 0, "{stderr}{stdout}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(rows[0]["package"], "acme/gadget");
    assert_eq!(rows[0]["kind"], "commit");
    assert_eq!(rows[0]["latest"], head.as_str());
    assert_eq!(rows[1]["package"], "acme/widget");
    assert_eq!(rows[1]["latest"], "v1.10.0");
    assert_eq!(rows[1]["outdated"], true);

    let (_, stdout, _) = run(
        root.path(),
        &["outdated", "acme/widget", "--pre", "--git-base-url", &base],
    );
    assert!(
        stdout.contains("acme/widget  v1.0.0   v2.0.0-rc1  newer release"),
        "{stdout}"
    );

    let (code, stdout, _) = run(
        root.path(),
        &["update", "--dry-run", "--git-base-url", &base],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("+rev   =   \"v1.10.0\"    # pinned"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read"),
        ODD
    );

    let (code, _, stderr) = run(root.path(), &["update", "--git-base-url", &base]);
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run(root.path(), &["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(list[0]["rev"], head.as_str());
    assert_eq!(list[1]["rev"], "v1.10.0");

    // A repository that does not exist is a failed row, not a crash.
    let (code, stdout, stderr) = run(
        root.path(),
        &["outdated", "--git-base-url", "file:///nonexistent"],
    );
    assert_eq!(code, 1);
    assert!(stdout.contains("lookup failed"), "{stdout}");
    assert!(stderr.contains("some lookups failed"));
}

#[test]
fn bump_checksum_records_the_digest_and_the_stage_checks_it() {
    let files = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        files.path().join("widget-v3.tar.gz"),
        b"not really a tarball",
    )
    .expect("write");
    let server = FileServer::start(files.path());
    let manifest = format!(
        "name = \"acme/widget\"\nrev = \"v1\"\nurl = \"http://127.0.0.1:{}/widget-{{{{ rev }}}}.tar.gz\"\nbuild_type = \"cmake\"\n",
        server.port
    );
    let root = root_with(&[("acme-widget.toml", &manifest)]);
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v3", "--checksum"]);
    assert_eq!(code, 0, "{stderr}");
    let text =
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read");
    let sum = text
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .expect("sha256 line")
        .trim_end_matches('"')
        .to_owned();
    assert_eq!(sum.len(), 64);
    let (_, stdout, _) = run(root.path(), &["render"]);
    assert!(
        stdout.contains(&format!(
            "if [ \"$actual\" != \"{sum}\" ]; then echo \"sha256 mismatch"
        )),
        "{stdout}"
    );
    // Bumping again without --checksum would leave a stale digest.
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v4"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--checksum"), "{stderr}");
    // A missing tarball is a clear error.
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v5", "--checksum"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("widget-v5.tar.gz"), "{stderr}");
}

/// A tarball URL with a password in it: what `bump --checksum` says about
/// the download (that it starts, that the file was empty) shows the URL
/// with its credentials masked.
#[test]
fn bump_checksum_never_shows_the_password_of_a_tarball_url() {
    let files = tempfile::tempdir().expect("tempdir");
    std::fs::write(files.path().join("widget-v3.tar.gz"), b"").expect("write");
    let server = FileServer::start(files.path());
    let manifest = format!(
        "name = \"acme/widget\"\nrev = \"v1\"\nurl = \"http://me:s3cret@127.0.0.1:{}/widget-{{{{ rev }}}}.tar.gz\"\nbuild_type = \"cmake\"\n",
        server.port
    );
    let root = root_with(&[("acme-widget.toml", &manifest)]);
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v3", "--checksum"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(server.requested("/widget-v3.tar.gz", 200), "{stderr}");
    assert!(stderr.contains("served an empty file"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "downloading http://***@127.0.0.1:{}/widget-v3.tar.gz",
            server.port
        )),
        "{stderr}"
    );
}

/// The sha256 recorded by `bump --checksum` in `root`'s widget manifest.
fn recorded_sum(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("packages.d/acme-widget.toml")).expect("read");
    text.lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .expect("sha256 line")
        .trim_end_matches('"')
        .to_owned()
}

#[test]
fn bump_checksum_downloads_the_tarball_of_the_machine_the_build_is_for() {
    use sha2::Digest;
    // One tarball a machine, as a manifest with {{ arch }} in its url has.
    let files = tempfile::tempdir().expect("tempdir");
    for arch in ["x86_64", "aarch64", "ppc64le"] {
        std::fs::write(
            files.path().join(format!("widget-v3-{arch}.tar.gz")),
            format!("the {arch} tarball"),
        )
        .expect("write");
    }
    let sha = |arch: &str| format!("{:x}", sha2::Sha256::digest(format!("the {arch} tarball")));
    let server = FileServer::start(files.path());
    let manifest = format!(
        "name = \"acme/widget\"\nrev = \"v1\"\nurl = \"http://127.0.0.1:{}/widget-{{{{ rev }}}}-{{{{ arch }}}}.tar.gz\"\nbuild_type = \"cmake\"\n",
        server.port
    );
    // The build reads BUILD_UNIT_TEST_ARCH (and --arch): so does the bump.
    let root = root_with(&[("acme-widget.toml", &manifest)]);
    let out = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .args(["bump", "acme/widget", "v3", "--checksum"])
        .env("BUILD_UNIT_TEST_ARCH", "aarch64")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("widget-v3-aarch64.tar.gz"), "{stderr}");
    assert_eq!(recorded_sum(root.path()), sha("aarch64"), "{stderr}");
    // The build for that machine downloads that tarball and checks that sum.
    let render = Command::new(BIN)
        .arg("--root")
        .arg(root.path())
        .arg("render")
        .env("BUILD_UNIT_TEST_ARCH", "aarch64")
        .output()
        .expect("render");
    let dockerfile = String::from_utf8_lossy(&render.stdout);
    assert!(
        dockerfile.contains("widget-v3-aarch64.tar.gz"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains(&sha("aarch64")), "{dockerfile}");

    // --arch as the build takes it.
    let root = root_with(&[("acme-widget.toml", &manifest)]);
    let (code, _, stderr) = run(
        root.path(),
        &[
            "bump",
            "acme/widget",
            "v3",
            "--checksum",
            "--arch",
            "ppc64le",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(recorded_sum(root.path()), sha("ppc64le"), "{stderr}");
    // A machine name that is not one is refused before any download.
    let (code, _, stderr) = run(
        root.path(),
        &["bump", "acme/widget", "v3", "--checksum", "--arch", "a b"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("a b"), "{stderr}");
}

#[test]
fn list_and_graph_of_the_shipped_project() {
    let (code, stdout, _) = run(&example_2021(), &["list"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("list", stdout);
    for format in ["text", "dot", "mermaid"] {
        let (code, stdout, _) = run(&example_2021(), &["graph", "--format", format]);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("graph-{format}"), stdout);
    }
}

#[test]
fn bump_checksum_against_a_server_that_never_answers_ends_at_its_deadline() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for conn in listener.incoming().take(1) {
            conns.push(conn);
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
    });
    let manifest = format!(
        "name = \"acme/widget\"\nrev = \"v1\"\nurl = \"http://127.0.0.1:{port}/widget-{{{{ rev }}}}.tar.gz\"\nbuild_type = \"cmake\"\n"
    );
    let root = root_with(&[("acme-widget.toml", &manifest)]);
    let before =
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read");
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(
        root.path(),
        &[
            "bump",
            "acme/widget",
            "v3",
            "--checksum",
            "--fetch-timeout",
            "2",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did not finish within 2s"), "{stderr}");
    let after =
        std::fs::read_to_string(root.path().join("packages.d/acme-widget.toml")).expect("read");
    assert_eq!(before, after, "nothing written");
    drop(held);
}

#[test]
fn outdated_fails_when_git_answers_garbage_or_nothing_and_names_unpinned_packages() {
    let root = root_with(&[
        ("acme-widget.toml", ODD),
        (
            "acme-head.toml",
            "name = \"acme/head\"\nbuild_type = \"cmake\"\n",
        ),
    ]);
    for (answer, shown) in [
        ("echo 'hello world'", "hello world"),
        ("true", "printed no tags"),
    ] {
        let bin = tempfile::tempdir().expect("tempdir");
        let git = bin.path().join("git");
        std::fs::write(&git, format!("#!/bin/sh\n{answer}\n")).expect("write");
        make_executable(&git);
        let out = Command::new(BIN)
            .arg("--root")
            .arg(root.path())
            .args(["outdated", "acme/widget"])
            .env("PATH", path_with(bin.path()))
            .env("NO_COLOR", "1")
            .output()
            .expect("outdated");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{answer}: {stdout}");
        assert!(stdout.contains("lookup failed"), "{answer}: {stdout}");
        assert!(stdout.contains(shown), "{answer}: {stdout}");
        assert!(!stdout.contains("no newer release"), "{stdout}");
    }
    // An unpinned package asked for by name is a row that says so.
    let (code, stdout, stderr) = run(root.path(), &["outdated", "acme/head"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("acme/head"), "{stdout}");
    assert!(
        stdout.contains("not pinned: builds its branch head"),
        "{stdout}"
    );
}

#[test]
fn concurrent_bumps_of_one_file_lose_no_edit() {
    let root = root_with(&[("acme-widget.toml", ODD)]);
    let base = root.path().join("templates/base.toml");
    for round in 0..10 {
        let meson = format!("1.{round}.0");
        let gcc = format!("{}", 20 + round);
        let spawn = |target: &str, value: &str| {
            Command::new(BIN)
                .arg("--root")
                .arg(root.path())
                .args(["bump", target, value])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let a = spawn("base.meson", &meson);
        let b = spawn("base.gcc_version", &gcc);
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = std::fs::read_to_string(&base).expect("read");
        assert!(
            text.contains(&format!("meson = \"{meson}\"")),
            "round {round}: {text}"
        );
        assert!(
            text.contains(&format!("gcc_version = \"{gcc}\"")),
            "round {round}: {text}"
        );
    }
}

#[test]
fn bump_keeps_the_owner_group_mode_and_hard_links_of_the_file() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = root_with(&[("acme-widget.toml", ODD)]);
    let path = root.path().join("packages.d/acme-widget.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let chown = Command::new("chown")
        .arg("1234:2345")
        .arg(&path)
        .status()
        .expect("chown");
    let as_root = chown.success();
    let link = root.path().join("linked.toml");
    std::fs::hard_link(&path, &link).expect("hard link");
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v2.0.0"]);
    assert_eq!(code, 0, "{stderr}");
    let meta = std::fs::metadata(&path).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    if as_root {
        assert_eq!((meta.uid(), meta.gid()), (1234, 2345));
    }
    let linked = std::fs::read_to_string(&link).expect("read link");
    assert!(
        linked.contains("\"v2.0.0\""),
        "the hard link sees the edit: {linked}"
    );
    assert_eq!(meta.nlink(), 2);

    // Without a hard link, the atomic rename path keeps owner and mode too.
    std::fs::remove_file(&link).expect("unlink");
    let (code, _, stderr) = run(root.path(), &["bump", "acme/widget", "v3.0.0"]);
    assert_eq!(code, 0, "{stderr}");
    let meta = std::fs::metadata(&path).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    if as_root {
        assert_eq!((meta.uid(), meta.gid()), (1234, 2345));
    }
}
