//! The container engine at the edge of the program.
//!
//! Owns: the [`Engine`] trait (list existing image tags, build one image),
//! its real implementation [`DockerCli`] (runs `docker` or `podman` through
//! `crate::process`: its own process group, registered with the run's
//! [`CancelToken`], a deadline for `image ls` and the platform query and an
//! optional one per build), and a scriptable `fake::FakeEngine` for tests.
//!
//! Must not: decide what to build or in which order (that is
//! `crate::run::scheduler`), compute Dockerfiles or tags, print anything (build
//! output goes to the caller's `on_line` callback), panic, or leave a child
//! process (or anything it started) running when it returns.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

pub use crate::process::CancelToken;
use crate::process::{self, ProcessError};

/// The most of `image ls` output read: far above any real image list.
const IMAGE_LS_LIMIT: usize = 64 * 1024 * 1024;
/// How long `image ls` may take unless told otherwise.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// One image build: everything the engine needs, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct BuildRequest<'a> {
    /// Stage name, e.g. `openbmc-sdbusplus`, `base`, `final` (the engine
    /// names the stage in its errors).
    pub stage: &'a str,
    /// The image tag to build.
    pub tag: &'a str,
    /// The Dockerfile text, fed on the engine's stdin.
    pub dockerfile: &'a str,
    /// Build without the layer cache (`FORCE_DOCKER_BUILD`).
    pub no_cache: bool,
    /// `NAME=VALUE` pairs; each becomes `--build-arg NAME=VALUE`.
    pub build_args: &'a [String],
    /// Stop the build after this long (`--stage-timeout`); None: no limit.
    pub timeout: Option<Duration>,
}

/// A container engine: what exists already, and how to build an image.
pub trait Engine: Sync {
    /// Which of `tags` exist already — one engine process for all of them.
    fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError>;

    /// Build one image. Every output line (stdout and stderr merged, in
    /// arrival order) goes to `on_line` without its line terminator.
    /// Returns [`EngineError::Cancelled`] promptly once `cancel` is set.
    fn build(
        &self,
        req: &BuildRequest<'_>,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), EngineError>;
}

/// How a child process ended, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitDesc {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Neither (should not happen on Unix).
    Unknown,
}

impl ExitDesc {
    pub(crate) fn of(status: ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return ExitDesc::Code(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                return ExitDesc::Signal(sig);
            }
        }
        ExitDesc::Unknown
    }
}

impl std::fmt::Display for ExitDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitDesc::Code(c) => write!(f, "status {c}"),
            ExitDesc::Signal(s) => write!(f, "signal {s}"),
            ExitDesc::Unknown => f.write_str("an unknown status"),
        }
    }
}

/// Everything that can go wrong talking to the engine. Causes (I/O
/// errors) are part of the message, not chained as `source()`, so a report
/// printer does not show them twice.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine program could not be started at all.
    #[error("could not start `{program}`: {error}")]
    Invoke { program: String, error: io::Error },
    /// The engine ran and exited unsuccessfully.
    #[error("`{command}` exited with {exit}")]
    Status { command: String, exit: ExitDesc },
    /// `image ls` failed; `stderr` is what the engine said, and the hint
    /// what to change on the host (`crate::run::hints`, else a generic one).
    #[error(
        "`{command}` failed with {exit}: {stderr}\nhint: {}",
        image_list_hint(stderr)
    )]
    ImageList {
        command: String,
        exit: ExitDesc,
        stderr: String,
    },
    /// An I/O error while supervising a running engine process.
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    /// Neither `docker` nor `podman` is on PATH.
    #[error(
        "neither `docker` nor `podman` was found on PATH; install one of them \
         or pass the engine's path with `--engine PATH`"
    )]
    NotFound,
    /// An explicitly given engine is missing or not executable.
    #[error("container engine `{}` was not found or is not an executable file", path.display())]
    NotExecutable { path: PathBuf },
    /// Neither form of the platform query gave an `os/arch` answer.
    #[error("the engine did not say its platform: {0}")]
    Platform(String),
    /// The build was stopped because the [`CancelToken`] was set.
    #[error("cancelled")]
    Cancelled,
    /// The engine did not finish in time and was stopped.
    #[error("`{command}` did not finish within {}s and was stopped ({flag})", after.as_secs())]
    Timeout {
        command: String,
        after: Duration,
        /// The option that sets the limit.
        flag: &'static str,
    },
}

/// What to do when `image ls` failed with `stderr`: the host-setup hint
/// it matches, else a question every engine fault may answer.
fn image_list_hint(stderr: &str) -> &'static str {
    crate::run::hints::host_hint([stderr]).unwrap_or(
        "is the engine's daemon running and reachable? `docker info` or `podman info` \
         tells; scripts/docker-up.sh starts one",
    )
}

/// The real engine: the `docker` (or `podman`) command-line client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCli {
    /// The engine executable that is run.
    pub program: PathBuf,
    /// How long `image ls` may take.
    pub query_timeout: Duration,
    /// How long a pull, push or registry query may take.
    pub registry_timeout: Duration,
}

impl DockerCli {
    /// Use exactly this program (no checks).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            registry_timeout: Duration::from_secs(600),
        }
    }

    /// The same engine with another deadline for registry calls.
    pub fn with_registry_timeout(mut self, timeout: Duration) -> Self {
        self.registry_timeout = timeout;
        self
    }

    /// The same engine with another `image ls` deadline.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Find the engine: `explicit` if given (a bare name is looked up on
    /// PATH, a path must be an executable file), else `docker` on PATH,
    /// else `podman` on PATH.
    pub fn detect(explicit: Option<PathBuf>) -> Result<Self, EngineError> {
        Self::detect_with_path(explicit, std::env::var_os("PATH").as_deref())
    }

    /// [`detect`](Self::detect) with an explicit PATH value (for tests).
    pub fn detect_with_path(
        explicit: Option<PathBuf>,
        path_var: Option<&OsStr>,
    ) -> Result<Self, EngineError> {
        if let Some(path) = explicit {
            let is_bare_name = path.components().count() == 1
                && !path.as_os_str().is_empty()
                && !path.to_string_lossy().contains('/');
            let found = if is_bare_name {
                find_on_path(path.as_os_str(), path_var)
            } else if is_executable_file(&path) {
                Some(path.clone())
            } else {
                None
            };
            return found
                .map(Self::new)
                .ok_or(EngineError::NotExecutable { path });
        }
        ["docker", "podman"]
            .iter()
            .find_map(|name| find_on_path(OsStr::new(name), path_var))
            .map(Self::new)
            .ok_or(EngineError::NotFound)
    }

    fn program_name(&self) -> String {
        self.program.display().to_string()
    }

    /// What a query (`image ls`, the platform, prune's calls: each under
    /// `--engine-timeout`) that did not run to its end means: `command` as
    /// the error shows it.
    pub(crate) fn query_error(&self, command: &str, e: ProcessError) -> EngineError {
        match e {
            ProcessError::Spawn(error) => EngineError::Invoke {
                program: self.program_name(),
                error,
            },
            ProcessError::Cancelled => EngineError::Cancelled,
            ProcessError::Timeout(after) => EngineError::Timeout {
                command: command.to_owned(),
                after,
                flag: "--engine-timeout",
            },
            ProcessError::Wait(error) => EngineError::Io {
                what: format!("`{command}`"),
                error,
            },
        }
    }

    /// The arguments (after the program) of `build` for `req`.
    pub fn build_argv(req: &BuildRequest<'_>) -> Vec<String> {
        let mut argv = Vec::with_capacity(req.build_args.len() * 2 + 7);
        argv.push("build".to_owned());
        for arg in req.build_args {
            argv.push("--build-arg".to_owned());
            argv.push(arg.clone());
        }
        argv.extend([
            "--network=host".to_owned(),
            "--force-rm".to_owned(),
            format!("--no-cache={}", req.no_cache),
            "-t".to_owned(),
            req.tag.to_owned(),
            "-".to_owned(),
        ]);
        argv
    }
}

/// Those of `tags` that are in `present`: what [`Engine::existing_tags`]
/// answers from a listing.
pub fn among(tags: &[&str], present: &HashSet<String>) -> HashSet<String> {
    tags.iter()
        .filter(|t| present.contains(**t))
        .map(|t| (*t).to_owned())
        .collect()
}

/// The `--format` argument of `image ls` (one argv element, no quotes).
pub const IMAGE_LS_FORMAT: &str = "{{.Repository}}:{{.Tag}}";

impl DockerCli {
    /// Every `repository:tag` here, as `image ls` lists it and without a
    /// default registry prefix (`docker.io/`, `localhost/`): one engine
    /// process. A run that learns some tags late asks this set, not the
    /// engine again.
    pub fn local_tags(&self) -> Result<HashSet<String>, EngineError> {
        let command = format!(
            "{} image ls --format {IMAGE_LS_FORMAT}",
            self.program_name()
        );
        let mut cmd = process::command(&self.program);
        cmd.args(["image", "ls", "--format", IMAGE_LS_FORMAT]);
        let output = process::run(cmd, self.query_timeout, IMAGE_LS_LIMIT)
            .map_err(|e| self.query_error(&command, e))?;
        if !output.status.success() {
            return Err(EngineError::ImageList {
                command,
                exit: ExitDesc::of(output.status),
                stderr: crate::printable::printable(&output.stderr)
                    .trim()
                    .to_owned(),
            });
        }
        if output.stdout_truncated {
            return Err(EngineError::Io {
                what: format!("`{command}`"),
                error: io::Error::other("it printed more than 64 MiB; not a list of images"),
            });
        }
        let mut found = HashSet::new();
        for entry in String::from_utf8_lossy(&output.stdout).lines() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            found.insert(entry.to_owned());
            found.insert(strip_registry(entry).to_owned());
        }
        Ok(found)
    }
}

/// How each engine says its platform: docker's daemon (`Server`, which
/// is what builds, also through DOCKER_HOST) and podman's host. Both are
/// Go's names (`linux/amd64`, `linux/arm64`, `linux/ppc64le`).
pub const PLATFORM_QUERIES: [[&str; 3]; 2] = [
    ["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"],
    ["info", "--format", "{{.Host.OS}}/{{.Host.Arch}}"],
];

impl DockerCli {
    /// The platform the engine builds for, as it says it (`linux/amd64`):
    /// docker's form first, podman's when the program's name says podman
    /// (the other form is tried when the first does not answer, as
    /// `docker` may be podman's shim). Each call has the `image ls`
    /// deadline.
    pub fn platform(&self) -> Result<String, EngineError> {
        let mut queries = PLATFORM_QUERIES;
        if self.is_podman() {
            queries.reverse();
        }
        let mut said = Vec::new();
        for args in queries {
            let command = format!("{} {}", self.program_name(), args.join(" "));
            let mut cmd = process::command(&self.program);
            cmd.args(args);
            match process::run(cmd, self.query_timeout, 64 * 1024) {
                Ok(out) => {
                    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    let answer = stdout.split('/').collect::<Vec<_>>();
                    if out.status.success()
                        && answer.len() >= 2
                        && answer
                            .iter()
                            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
                    {
                        return Ok(stdout);
                    }
                    let stderr = crate::printable::printable(&out.stderr);
                    let last = stderr.trim().lines().next_back().unwrap_or_default();
                    said.push(format!(
                        "`{command}` {}: {:?}",
                        if out.status.success() {
                            "answered".to_owned()
                        } else {
                            format!("failed with {}", ExitDesc::of(out.status))
                        },
                        if out.status.success() {
                            stdout.as_str()
                        } else {
                            last
                        }
                    ));
                }
                Err(e) => return Err(self.query_error(&command, e)),
            }
        }
        Err(EngineError::Platform(said.join("; ")))
    }
}

impl Engine for DockerCli {
    fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
        if tags.is_empty() {
            return Ok(HashSet::new());
        }
        Ok(among(tags, &self.local_tags()?))
    }

    fn build(
        &self,
        req: &BuildRequest<'_>,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        let program = self.program_name();
        let mut cmd = process::command(&self.program);
        cmd.args(Self::build_argv(req))
            // Plain progress (BuildKit's default on a terminal redraws lines).
            .env("BUILDKIT_PROGRESS", "plain");
        let run = process::Streamed {
            input: Some(req.dockerfile.as_bytes().to_vec()),
            deadline: req.timeout,
            cancel,
            stdout: process::Mode::Lines,
        };
        // Both streams are the build's output, line by line, as they come.
        let status = process::stream(cmd, run, &mut |piece| match piece {
            process::Piece::Out(line) | process::Piece::Err(line) => on_line(line),
            process::Piece::OutBytes(_) => {}
        })
        .map_err(|e| match e {
            ProcessError::Spawn(error) => EngineError::Invoke {
                program: program.clone(),
                error,
            },
            ProcessError::Timeout(after) => EngineError::Timeout {
                command: format!("{program} build -t {}", req.tag),
                after,
                flag: "--stage-timeout",
            },
            ProcessError::Cancelled => EngineError::Cancelled,
            ProcessError::Wait(error) => EngineError::Io {
                what: format!(
                    "`{program} build` of stage {} ({}): waiting for the process",
                    req.stage, req.tag
                ),
                error,
            },
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(EngineError::Status {
                command: format!("{program} build"),
                exit: ExitDesc::of(status),
            })
        }
    }
}

/// Why a registry operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not have that image.
    #[error("not in the registry")]
    NotFound,
    /// Anything else: unreachable, refused, timed out, corrupt.
    #[error("{0}")]
    Failed(String),
    #[error("interrupted")]
    Cancelled,
}

/// An engine's own access to registries (its login, its certificates).
pub trait Registry: Sync {
    /// Pulls `remote` and tags it `local`.
    fn pull(&self, remote: &str, local: &str) -> Result<(), RegistryError>;
    /// Tags `local` as `remote` and pushes it.
    fn push(&self, local: &str, remote: &str) -> Result<(), RegistryError>;
    /// Whether the registry has `remote`, without pulling it.
    fn probe(&self, remote: &str) -> Result<bool, RegistryError>;
}

/// What a registry said, read for "it does not have that image".
fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("manifest unknown")
        || s.contains("no such manifest")
        || s.contains("not found: manifest")
        || (s.contains("manifest for") && s.contains("not found"))
}

impl DockerCli {
    /// Runs the engine with `args` under the registry deadline.
    fn registry_call(&self, args: &[&str]) -> Result<(), RegistryError> {
        let mut cmd = process::command(&self.program);
        cmd.args(args);
        let what = format!("`{} {}`", self.program_name(), args.join(" "));
        match process::run(cmd, self.registry_timeout, 1024 * 1024) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => {
                // A registry's words reach the terminal (a warning): no
                // escape sequence of theirs does.
                let said = crate::printable::printable(&out.stderr).trim().to_owned();
                if is_not_found(&said) {
                    Err(RegistryError::NotFound)
                } else {
                    let last = said.lines().next_back().unwrap_or_default();
                    Err(RegistryError::Failed(format!(
                        "{what} failed ({}): {last}",
                        ExitDesc::of(out.status)
                    )))
                }
            }
            Err(ProcessError::Cancelled) => Err(RegistryError::Cancelled),
            Err(e) => Err(RegistryError::Failed(format!("{what}: {e}"))),
        }
    }

    fn is_podman(&self) -> bool {
        self.program
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("podman"))
    }
}

impl Registry for DockerCli {
    fn pull(&self, remote: &str, local: &str) -> Result<(), RegistryError> {
        self.registry_call(&["pull", "--quiet", remote])?;
        self.registry_call(&["tag", remote, local])
    }

    fn push(&self, local: &str, remote: &str) -> Result<(), RegistryError> {
        self.registry_call(&["tag", local, remote])?;
        self.registry_call(&["push", "--quiet", remote])
    }

    fn probe(&self, remote: &str) -> Result<bool, RegistryError> {
        // docker's client, unlike its daemon, wants --insecure for a plain
        // http registry; the daemon allows those on loopback only, so this
        // does too.
        let host = remote.split('/').next().unwrap_or_default();
        let name = host.split(':').next().unwrap_or_default();
        let loopback = name == "localhost" || name.starts_with("127.") || name == "[::1]";
        let mut args = vec!["manifest", "inspect"];
        if loopback {
            args.push(if self.is_podman() {
                "--tls-verify=false"
            } else {
                "--insecure"
            });
        }
        args.push(remote);
        match self.registry_call(&args) {
            Ok(()) => Ok(true),
            Err(RegistryError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Registries that `image ls` may prefix a locally built name with
/// (podman lists `localhost/name:tag`).
pub(crate) fn strip_registry(entry: &str) -> &str {
    ["localhost/", "docker.io/library/", "docker.io/"]
        .iter()
        .find_map(|p| entry.strip_prefix(p))
        .unwrap_or(entry)
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The first executable `name` in the PATH-style list `path_var`
/// (an empty entry means the current directory, as in POSIX).
fn find_on_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        })
        .find(|candidate| is_executable_file(candidate))
}

/// A scriptable in-memory engine for tests: no processes, records calls.
#[cfg(test)]
pub mod fake {
    use super::{BuildRequest, CancelToken, Engine, EngineError, ExitDesc};
    use std::collections::{HashMap, HashSet};
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    /// How a fake build ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FakeResult {
        /// Still running (only seen while a build is in progress).
        Running,
        Built,
        Failed,
        Cancelled,
    }

    /// One call of [`Engine::build`] on a [`FakeEngine`].
    #[derive(Debug, Clone)]
    pub struct BuildRecord {
        pub stage: String,
        pub tag: String,
        pub no_cache: bool,
        pub build_args: Vec<String>,
        pub end: Option<Instant>,
        /// Position of the start in the engine's global event sequence.
        pub start_seq: u64,
        /// Position of the end in the same sequence (`None` while running).
        pub end_seq: Option<u64>,
        pub result: FakeResult,
    }

    #[derive(Debug, Default)]
    struct State {
        existing_tags_calls: Vec<Vec<String>>,
        builds: Vec<BuildRecord>,
        running: usize,
        max_running: usize,
        seq: u64,
    }

    /// See the module docs. Build with the `with_*` methods.
    #[derive(Debug, Default)]
    pub struct FakeEngine {
        existing: HashSet<String>,
        failing: HashSet<String>,
        panicking: HashSet<String>,
        durations: HashMap<String, Duration>,
        default_duration: Duration,
        existing_tags_fails: bool,
        state: Mutex<State>,
    }

    impl FakeEngine {
        /// No existing tags, nothing fails, builds take no time.
        pub fn new() -> Self {
            Self::default()
        }
        /// These tags "exist already".
        pub fn with_existing<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
            self.existing.extend(t.into_iter().map(Into::into));
            self
        }
        /// Builds of these stages fail (after their duration).
        pub fn with_failing<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
            self.failing.extend(s.into_iter().map(Into::into));
            self
        }
        /// Builds of these stages panic (to test panic containment).
        pub fn with_panicking<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
            self.panicking.extend(s.into_iter().map(Into::into));
            self
        }
        /// This stage's build takes `d`.
        pub fn with_duration(mut self, stage: impl Into<String>, d: Duration) -> Self {
            self.durations.insert(stage.into(), d);
            self
        }
        /// Every stage without its own duration takes `d`.
        pub fn with_default_duration(mut self, d: Duration) -> Self {
            self.default_duration = d;
            self
        }
        /// `existing_tags` returns an error.
        pub fn with_existing_tags_error(mut self) -> Self {
            self.existing_tags_fails = true;
            self
        }

        fn lock(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }
        /// The `tags` argument of every `existing_tags` call.
        pub fn existing_tags_calls(&self) -> Vec<Vec<String>> {
            self.lock().existing_tags_calls.clone()
        }
        /// Every build, in start order.
        pub fn builds(&self) -> Vec<BuildRecord> {
            self.lock().builds.clone()
        }
        /// Stage names built, in start order.
        pub fn build_order(&self) -> Vec<String> {
            self.lock().builds.iter().map(|b| b.stage.clone()).collect()
        }
        /// The most builds that ran at the same time.
        pub fn max_concurrency(&self) -> usize {
            self.lock().max_running
        }
        /// Builds running right now.
        pub fn running(&self) -> usize {
            self.lock().running
        }
    }

    impl Engine for FakeEngine {
        fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
            self.lock()
                .existing_tags_calls
                .push(tags.iter().map(|t| (*t).to_owned()).collect());
            if self.existing_tags_fails {
                return Err(EngineError::ImageList {
                    command: "fake image ls".to_owned(),
                    exit: ExitDesc::Code(1),
                    stderr: "fake: cannot connect to the daemon".to_owned(),
                });
            }
            Ok(super::among(tags, &self.existing))
        }

        fn build(
            &self,
            req: &BuildRequest<'_>,
            on_line: &mut dyn FnMut(&str),
            cancel: &CancelToken,
        ) -> Result<(), EngineError> {
            let index = {
                let mut st = self.lock();
                st.seq += 1;
                st.running += 1;
                st.max_running = st.max_running.max(st.running);
                let seq = st.seq;
                st.builds.push(BuildRecord {
                    stage: req.stage.to_owned(),
                    tag: req.tag.to_owned(),
                    no_cache: req.no_cache,
                    build_args: req.build_args.to_vec(),
                    end: None,
                    start_seq: seq,
                    end_seq: None,
                    result: FakeResult::Running,
                });
                st.builds.len() - 1
            };
            let finish = |result| {
                let mut st = self.lock();
                st.seq += 1;
                st.running -= 1;
                let seq = st.seq;
                let rec = &mut st.builds[index];
                rec.end = Some(Instant::now());
                rec.end_seq = Some(seq);
                rec.result = result;
            };
            on_line(&format!("Step 1/2 : FROM something for {}", req.stage));
            let duration = self
                .durations
                .get(req.stage)
                .copied()
                .unwrap_or(self.default_duration);
            let deadline = Instant::now() + duration;
            loop {
                if cancel.is_cancelled() {
                    finish(FakeResult::Cancelled);
                    return Err(EngineError::Cancelled);
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
            }
            if self.panicking.contains(req.stage) {
                finish(FakeResult::Failed);
                panic!("fake engine panics for stage {}", req.stage);
            }
            if self.failing.contains(req.stage) {
                on_line("ERROR: fake failure");
                finish(FakeResult::Failed);
                return Err(EngineError::Status {
                    command: "fake build".to_owned(),
                    exit: ExitDesc::Code(1),
                });
            }
            on_line(&format!("Successfully tagged {}", req.tag));
            finish(FakeResult::Built);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Instant;

    /// Tests that run processes hold this: writing a script while another
    /// thread forks can make exec fail with "text file busy".
    static PROCESSES: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        PROCESSES.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_file(path: &Path, body: &str, mode: u32) {
        std::fs::write(path, body).expect("write file");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn script(dir: &Path, body: &str) -> DockerCli {
        let path = dir.join("docker");
        write_file(&path, &format!("#!/bin/sh\n{body}"), 0o755);
        DockerCli::new(path)
    }

    const RECORD_ARGV: &str =
        "D=\"$(dirname \"$0\")\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$D/argv\"\n";

    fn request<'a>(args: &'a [String], no_cache: bool) -> BuildRequest<'a> {
        BuildRequest {
            stage: "openbmc-sdbusplus",
            tag: "openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc",
            dockerfile: "FROM ubuntu:noble\nRUN echo hi\n",
            no_cache,
            build_args: args,
            timeout: None,
        }
    }

    fn collect_build(
        cli: &DockerCli,
        req: &BuildRequest<'_>,
        cancel: &CancelToken,
    ) -> (Result<(), EngineError>, Vec<String>) {
        let mut lines = Vec::new();
        let r = cli.build(req, &mut |l| lines.push(l.to_owned()), cancel);
        (r, lines)
    }

    fn process_gone(pid_file: &Path) -> bool {
        let pid = std::fs::read_to_string(pid_file).expect("pid file");
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    }

    #[test]
    fn build_passes_exact_argv_and_stdin_and_streams_lines_in_order() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            &format!(
                "{RECORD_ARGV}cat > \"$D/stdin\"\necho 'Step 1/3 : FROM ubuntu'\nsleep 0.1\n\
                 echo 'warning on stderr' >&2\nsleep 0.1\nprintf 'Successfully built abc\\r\\n'\n"
            ),
        );
        let args = vec![
            "http_proxy=http://p:3128".to_owned(),
            "https_proxy=http://p:3128".to_owned(),
        ];
        let req = request(&args, false);
        let (r, lines) = collect_build(&cli, &req, &CancelToken::new());
        r.expect("build succeeds");
        assert_eq!(
            lines,
            [
                "Step 1/3 : FROM ubuntu",
                "warning on stderr",
                "Successfully built abc"
            ]
        );
        let argv = std::fs::read_to_string(dir.path().join("argv")).expect("argv");
        assert_eq!(
            argv.lines().collect::<Vec<_>>(),
            [
                "build",
                "--build-arg",
                "http_proxy=http://p:3128",
                "--build-arg",
                "https_proxy=http://p:3128",
                "--network=host",
                "--force-rm",
                "--no-cache=false",
                "-t",
                "openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc",
                "-",
            ]
        );
        let stdin = std::fs::read_to_string(dir.path().join("stdin")).expect("stdin");
        assert_eq!(stdin, req.dockerfile);
    }

    #[test]
    fn build_argv_without_args_and_with_no_cache() {
        let req = request(&[], true);
        assert_eq!(
            DockerCli::build_argv(&req).join(" "),
            "build --network=host --force-rm --no-cache=true -t \
             openbmc/ubuntu-unit-test-sdbusplus:2024-W01-abc -"
        );
    }

    #[test]
    fn failing_build_reports_its_status_and_output() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(dir.path(), "cat >/dev/null\necho 'it broke' >&2\nexit 3\n");
        let (r, lines) = collect_build(&cli, &request(&[], false), &CancelToken::new());
        let err = r.expect_err("must fail");
        assert!(
            matches!(
                &err,
                EngineError::Status {
                    exit: ExitDesc::Code(3),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("`{} build` exited with status 3", cli.program.display())
        );
        assert_eq!(lines, ["it broke"]);
    }

    #[test]
    fn missing_program_is_an_invoke_error() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = DockerCli::new(dir.path().join("nope"));
        let (r, _) = collect_build(&cli, &request(&[], false), &CancelToken::new());
        let err = r.expect_err("must fail");
        assert!(matches!(err, EngineError::Invoke { .. }), "{err:?}");
        assert!(err.to_string().starts_with("could not start `"), "{err}");
        let err = cli.existing_tags(&["a:b"]).expect_err("must fail");
        assert!(matches!(err, EngineError::Invoke { .. }), "{err:?}");
    }

    /// Builds with `cli`, cancelling from another thread after `delay`.
    fn build_cancelled_after(
        cli: &DockerCli,
        delay: Duration,
    ) -> (Result<(), EngineError>, Vec<String>) {
        let cancel = CancelToken::new();
        std::thread::scope(|s| {
            let c = cancel.clone();
            s.spawn(move || {
                std::thread::sleep(delay);
                c.cancel();
            });
            collect_build(cli, &request(&[], false), &cancel)
        })
    }

    #[test]
    fn cancel_terminates_the_child_promptly() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            "echo $$ > \"$(dirname \"$0\")/pid\"\necho started\nexec sleep 30\n",
        );
        let start = Instant::now();
        let (r, lines) = build_cancelled_after(&cli, Duration::from_millis(300));
        assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(lines, ["started"]);
        assert!(process_gone(&dir.path().join("pid")));
    }

    #[test]
    fn cancel_escalates_to_sigkill_when_sigterm_is_ignored() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            "trap '' TERM\necho $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30\n",
        );
        let start = Instant::now();
        let (r, _) = build_cancelled_after(&cli, Duration::from_millis(200));
        assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
        let took = start.elapsed();
        assert!(
            took >= process::GRACE && took < process::GRACE * 2,
            "{took:?}"
        );
        assert!(process_gone(&dir.path().join("pid")));
    }

    #[test]
    fn cancelled_before_start_runs_nothing() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let cli = DockerCli::new("/nonexistent/docker");
        let (r, _) = collect_build(&cli, &request(&[], false), &cancel);
        assert!(matches!(r, Err(EngineError::Cancelled)));
    }

    #[test]
    fn a_panicking_callback_does_not_leave_the_child_behind() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            "echo $$ > \"$(dirname \"$0\")/pid\"\necho hello\nexec sleep 30\n",
        );
        let r = std::panic::catch_unwind(|| {
            cli.build(
                &request(&[], false),
                &mut |_| panic!("callback panics"),
                &CancelToken::new(),
            )
        });
        assert!(r.is_err());
        assert!(process_gone(&dir.path().join("pid")));
    }

    #[test]
    fn existing_tags_runs_one_image_ls_and_intersects() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            &format!(
                "{RECORD_ARGV}printf 'openbmc/base:1\\nlocalhost/openbmc/pkg:2\\n<none>:<none>\\nother:3\\n'\n"
            ),
        );
        let found = cli
            .existing_tags(&["openbmc/base:1", "openbmc/pkg:2", "openbmc/final:3"])
            .expect("image ls works");
        let want: HashSet<String> = ["openbmc/base:1", "openbmc/pkg:2"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(found, want);
        let argv = std::fs::read_to_string(dir.path().join("argv")).expect("argv");
        assert_eq!(argv, "image\nls\n--format\n{{.Repository}}:{{.Tag}}\n");
        assert!(cli.existing_tags(&[]).expect("no tags").is_empty());
    }

    #[test]
    fn failing_image_ls_says_what_failed() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = script(
            dir.path(),
            "echo 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
        );
        let err = cli.existing_tags(&["a:b"]).expect_err("must fail");
        let said = err.to_string();
        assert!(
            said.starts_with(&format!(
                "`{} image ls --format {{{{.Repository}}}}:{{{{.Tag}}}}` failed with status 1: \
                 Cannot connect to the Docker daemon\nhint: no Docker daemon answers: start it",
                cli.program.display()
            )),
            "{said}"
        );
        // What matches no known fault gets the generic question.
        let cli = script(dir.path(), "echo 'Error: something else' >&2\nexit 125\n");
        let said = cli
            .existing_tags(&["a:b"])
            .expect_err("must fail")
            .to_string();
        assert!(
            said.ends_with(
                "something else\nhint: is the engine's daemon running and reachable? \
                            `docker info` or `podman info` tells; scripts/docker-up.sh starts one"
            ),
            "{said}"
        );
    }

    #[test]
    fn the_platform_is_what_the_engine_says_in_either_form() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        // docker's form.
        let cli = script(
            dir.path(),
            "[ \"$1 $3\" = 'version {{.Server.Os}}/{{.Server.Arch}}' ] && echo linux/arm64 && exit 0\n\
             echo \"unexpected: $*\" >&2; exit 2\n",
        );
        assert_eq!(cli.platform().expect("docker answers"), "linux/arm64");
        // podman (also behind a program named docker): its own form.
        let cli = script(
            dir.path(),
            "[ \"$1\" = version ] && { printf 'linux/'; echo 'Error: template: version:1:10: \
             executing \"version\" at <.Arch>: can'\\''t evaluate field Arch' >&2; exit 125; }\n\
             [ \"$1 $3\" = 'info {{.Host.OS}}/{{.Host.Arch}}' ] && echo linux/ppc64le && exit 0\n\
             exit 2\n",
        );
        assert_eq!(cli.platform().expect("podman answers"), "linux/ppc64le");
        let podman = dir.path().join("podman");
        std::fs::rename(&cli.program, &podman).expect("rename");
        let calls = dir.path().join("calls");
        let body = std::fs::read_to_string(&podman).expect("read");
        write_file(
            &podman,
            &body.replacen(
                "\n",
                &format!("\necho \"$1\" >> '{}'\n", calls.display()),
                1,
            ),
            0o755,
        );
        assert_eq!(
            DockerCli::new(&podman).platform().expect("podman"),
            "linux/ppc64le"
        );
        assert_eq!(
            std::fs::read_to_string(&calls).expect("calls"),
            "info\n",
            "podman is asked in its own form first"
        );
        // Neither form answers: one error quoting both.
        let cli = script(dir.path(), "echo 'Error: no such thing' >&2\nexit 1\n");
        let err = cli.platform().expect_err("no platform");
        assert!(matches!(err, EngineError::Platform(_)), "{err:?}");
        let said = err.to_string();
        assert!(
            said.starts_with("the engine did not say its platform: `")
                && said.contains("version --format {{.Server.Os}}/{{.Server.Arch}}` failed with status 1: \"Error: no such thing\"")
                && said.contains("info --format {{.Host.OS}}/{{.Host.Arch}}`"),
            "{said}"
        );
        // An answer that is no os/arch is not taken.
        let cli = script(dir.path(), "echo '/'\n");
        assert!(matches!(cli.platform(), Err(EngineError::Platform(_))));
    }

    #[test]
    fn a_hanging_platform_query_ends_at_the_engine_deadline() {
        let _s = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let cli =
            script(dir.path(), "exec sleep 30\n").with_query_timeout(Duration::from_millis(300));
        let start = Instant::now();
        let err = cli.platform().expect_err("timeout");
        assert!(
            matches!(
                err,
                EngineError::Timeout {
                    flag: "--engine-timeout",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn detect_finds_docker_then_podman_then_explains() {
        let root = tempfile::tempdir().expect("tempdir");
        let mk = |name: &str| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).expect("mkdir");
            d
        };
        let (both, only_podman, not_exec, empty) =
            (mk("both"), mk("podman"), mk("noexec"), mk("empty"));
        for (d, f, mode) in [
            (&both, "docker", 0o755),
            (&both, "podman", 0o755),
            (&only_podman, "podman", 0o755),
            (&not_exec, "docker", 0o644),
        ] {
            write_file(&d.join(f), "#!/bin/sh\n", mode);
        }
        let path = |dirs: &[&PathBuf]| std::env::join_paths(dirs).expect("join");
        let detect = |explicit: Option<&str>, dirs: &[&PathBuf]| {
            DockerCli::detect_with_path(explicit.map(PathBuf::from), Some(&path(dirs)))
        };

        let cli = detect(None, &[&both]).expect("docker");
        assert_eq!(cli.program, both.join("docker"));
        let cli = detect(None, &[&not_exec, &only_podman]).expect("podman");
        assert_eq!(cli.program, only_podman.join("podman"));
        let err = detect(None, &[&empty, &not_exec]).expect_err("none");
        assert!(matches!(err, EngineError::NotFound));
        assert!(err.to_string().contains("--engine PATH"), "{err}");
        assert!(matches!(
            DockerCli::detect_with_path(None, None),
            Err(EngineError::NotFound)
        ));

        let explicit = both.join("podman");
        let cli = detect(explicit.to_str(), &[&empty]).expect("explicit");
        assert_eq!(cli.program, explicit);
        let cli = detect(Some("podman"), &[&empty, &both]).expect("bare name");
        assert_eq!(cli.program, both.join("podman"));
        for bad in [
            not_exec.join("docker"),
            empty.join("docker"),
            empty.clone(),
            PathBuf::from("nothing-like-this"),
        ] {
            let err = detect(bad.to_str(), &[&both]).expect_err("bad explicit");
            assert!(
                matches!(err, EngineError::NotExecutable { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().contains("not an executable"), "{err}");
        }
    }

    #[test]
    fn fake_engine_records_and_fails_as_told() {
        let fake = fake::FakeEngine::new()
            .with_existing(["t:1"])
            .with_failing(["bad"]);
        let found = fake.existing_tags(&["t:1", "t:2"]).expect("fake");
        assert_eq!(found.len(), 1);
        let mut lines = Vec::new();
        let mut req = request(&[], true);
        req.stage = "bad";
        let r = fake.build(&req, &mut |l| lines.push(l.to_owned()), &CancelToken::new());
        assert!(matches!(r, Err(EngineError::Status { .. })));
        assert_eq!(lines.len(), 2);
        let builds = fake.builds();
        assert_eq!(builds.len(), 1);
        assert_eq!(builds[0].result, fake::FakeResult::Failed);
        assert!(builds[0].end_seq > Some(builds[0].start_seq));
        assert_eq!(
            fake.existing_tags_calls(),
            [vec!["t:1".to_owned(), "t:2".to_owned()]]
        );
    }
}
