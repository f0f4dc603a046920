//! Shared helpers of the integration tests: temp project roots, a fake
//! `git` that answers `ls-remote` like GitHub did for the golden vectors.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_build-unit-test-docker");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The 2021 root: `examples/openbmc-2021`.
pub fn example_2021() -> PathBuf {
    repo().join("examples/openbmc-2021")
}

/// What the 2021 script fed `docker build` (tests/golden/openbmc-2021).
pub fn golden() -> PathBuf {
    repo().join("tests/golden/openbmc-2021")
}

/// What OpenBMC's script of 2026 fed `docker build`, per scenario
/// (tests/golden/openbmc-2026/<scenario>).
pub fn golden_2026(scenario: &str) -> PathBuf {
    repo().join("tests/golden/openbmc-2026").join(scenario)
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            // std::fs::copy keeps the permissions (bootstrap.sh, autogen.sh).
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A temp root holding a copy of the 2021 root's templates and packages.d.
pub fn shipped_root() -> tempfile::TempDir {
    copy_root(&example_2021())
}

/// A temp root holding a copy of `root`'s templates and packages.d.
pub fn copy_root(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&root.join("templates"), &dir.path().join("templates"));
    copy_tree(&root.join("packages.d"), &dir.path().join("packages.d"));
    dir
}

/// A directory holding a fake `git` whose `ls-remote --heads URL` answers
/// one `refs/heads/master` line with sha1("<package>@master"), the package
/// being URL without its `https://github.com/` prefix (as the golden
/// vectors were made). Extra lines can be given for other branches. With
/// FAKE_BRANCHES set in its environment it lists those branches instead, in
/// that order (as the 2026 vectors' scenarios were made).
pub fn fake_git(extra_branches: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut script = String::from(
        "#!/bin/sh\nfor last; do :; done\npkg=${last#https://github.com/}\n\
         if [ -n \"$FAKE_BRANCHES\" ]; then\n\
           for b in $FAKE_BRANCHES; do\n\
             printf '%s\\trefs/heads/%s\\n' \"$(printf '%s' \"$pkg@$b\" | sha1sum | cut -d' ' -f1)\" \"$b\"\n\
           done\n\
           exit 0\n\
         fi\n\
         printf '%s\\trefs/heads/master\\n' \"$(printf '%s' \"$pkg@master\" | sha1sum | cut -d' ' -f1)\"\n",
    );
    for b in extra_branches {
        script.push_str(&format!(
            "printf '%s\\trefs/heads/{b}\\n' \"$(printf '%s' \"$pkg@{b}\" | sha1sum | cut -d' ' -f1)\"\n"
        ));
    }
    let path = dir.path().join("git");
    std::fs::write(&path, script).expect("write fake git");
    make_executable(&path);
    dir
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The tool with a clean environment of the golden conditions: no optional
/// variables, user root, 2 CPUs, 2021-02-12.
pub fn tool(git_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "DOCKER_IMAGE_NAME",
        "FORCE_DOCKER_BUILD",
        "BUILD_URL",
        "DISTRO",
        "BRANCH",
        "UBUNTU_MIRROR",
        "http_proxy",
        "https_proxy",
        "DOCKER_REG",
        "GERRIT_PROJECT",
        "GERRIT_PATCHSET_REVISION",
        "GERRIT_TOPIC",
        "BUILD_UNIT_TEST_GERRIT_URL",
        "BUILD_UNIT_TEST_ARCH",
        "FAKE_BRANCHES",
        "BUILD_UNIT_TEST_CPUS",
        "BUILD_UNIT_TEST_GIT_BASE",
        "OMP_NUM_THREADS",
        "OMP_THREAD_LIMIT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PATH", path_with(git_dir))
        .env("SOURCE_DATE_EPOCH", "1613131200")
        .env("USER", "root")
        .env("HOME", "/root")
        .env("BUILD_UNIT_TEST_CPUS", "2")
        .env("BUILD_UNIT_TEST_ARCH", "x86_64")
        .env("NO_COLOR", "1");
    cmd
}

/// The tool as `tool` makes it, pinned to CPU 0 with taskset; None when
/// taskset is not installed.
pub fn tool_on_cpu0(git_dir: &Path) -> Option<Command> {
    Command::new("taskset").arg("--version").output().ok()?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]).arg(BIN);
    for (k, v) in tool(git_dir).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    Some(cmd)
}

/// `validate` on `root`: exit code, stdout, stderr (no colours).
pub fn validate_root(root: &Path) -> (i32, String, String) {
    outcome(
        Command::new(BIN)
            .arg("--root")
            .arg(root)
            .arg("validate")
            .env("NO_COLOR", "1")
            .output()
            .expect("run validate"),
    )
}

/// A finished run as (exit status, stdout, stderr); -1 for a signal.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small root of its own: the default templates and two packages,
/// acme/b depending on acme/a.
pub fn acme_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("templates"), &root.path().join("templates"));
    let pkgs = root.path().join("packages.d");
    std::fs::create_dir_all(&pkgs).expect("mkdir");
    std::fs::write(
        pkgs.join("acme-a.toml"),
        "name = \"acme/a\"\nrev = \"v1\"\nbuild_type = \"make\"\n",
    )
    .expect("write");
    std::fs::write(
        pkgs.join("acme-b.toml"),
        "name = \"acme/b\"\nrev = \"v1\"\ndepends = [\"acme/a\"]\nbuild_type = \"make\"\n",
    )
    .expect("write");
    root
}

/// The golden base tag every parity render builds on.
pub fn golden_base_tag() -> String {
    let tags = std::fs::read_to_string(golden().join("tags.txt")).expect("golden tags");
    tags.lines()
        .find_map(|l| l.strip_prefix("base "))
        .expect("base tag in golden tags.txt")
        .to_owned()
}

/// A file server on 127.0.0.1 for tests (tiny_http): serves the files of
/// `dir` by name, 404 otherwise, and logs (path, status) of every request.
/// Stops when dropped.
pub struct FileServer {
    pub port: u16,
    server: std::sync::Arc<tiny_http::Server>,
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        use std::sync::{Arc, Mutex};
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (srv, requests, dir) = (server.clone(), log.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let name = request.url().trim_start_matches('/').to_owned();
                let file = (!name.is_empty() && !name.contains(".."))
                    .then(|| std::fs::read(dir.join(&name)).ok())
                    .flatten();
                let status = if file.is_some() { 200 } else { 404 };
                requests
                    .lock()
                    .expect("server log")
                    .push((format!("/{name}"), status));
                let _ = match file {
                    Some(body) => request.respond(tiny_http::Response::from_data(body)),
                    None => request.respond(
                        tiny_http::Response::from_string("not found").with_status_code(404),
                    ),
                };
            }
        });
        FileServer {
            port,
            server,
            log,
            thread: Some(thread),
        }
    }

    /// Whether `path` was asked for and answered with `status`.
    pub fn requested(&self, path: &str, status: u16) -> bool {
        self.log
            .lock()
            .expect("server log")
            .iter()
            .any(|(p, s)| p == path && *s == status)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs git with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
