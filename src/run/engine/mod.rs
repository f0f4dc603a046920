//! The container engine at the edge of the program.
//!
//! Owns: the [`Engine`] trait (list existing image tags, build one image),
//! its real implementation [`DockerCli`] (runs `docker` or `podman` through
//! `crate::process`: its own process group, registered with the run's
//! [`CancelToken`], a deadline for `image ls` and the platform query and an
//! optional one per build), and a scriptable `fake::FakeEngine` for tests.
//! The engine's registry calls (pull, push, probe) are `registry.rs`.
//!
//! Must not: decide what to build or in which order (that is
//! `crate::run::scheduler`), compute Dockerfiles or tags, print anything (build
//! output goes to the caller's `on_line` callback), panic, or leave a child
//! process (or anything it started) running when it returns.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::PathBuf;
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
    /// Stage name, e.g. `openbmc-sdbusplus`, `base`, `final`: what the
    /// fake engine keys on. The real one names a build by its command
    /// line, whose tag names the stage.
    #[cfg_attr(not(test), allow(dead_code))]
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
/// printer does not show them twice. Each names the engine's command as
/// `crate::process::command_line` shows it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be started, or not be waited for.
    #[error(transparent)]
    Process(ProcessError),
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
    /// `image ls` printed more than any list of images.
    #[error("`{command}`: it printed more than {} MiB; not a list of images", IMAGE_LS_LIMIT / (1024 * 1024))]
    TooLarge { command: String },
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
    #[error("{error} ({flag})")]
    Timeout {
        /// What the engine ran, and its deadline.
        error: ProcessError,
        /// The option that sets the limit.
        flag: &'static str,
    },
}

impl EngineError {
    /// A run of the engine under the deadline `flag` sets that did not
    /// come to its end: stopped by its token, it is [`EngineError::Cancelled`]
    /// (which the scheduler counts as cancelled, not failed); past its
    /// deadline, a [`EngineError::Timeout`] naming `flag`.
    pub(crate) fn stopped(e: ProcessError, flag: &'static str) -> Self {
        if e.is_cancelled() {
            EngineError::Cancelled
        } else if e.timed_out() {
            EngineError::Timeout { error: e, flag }
        } else {
            EngineError::Process(e)
        }
    }
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
        // `which` finds a bare name on `path_var` and checks a path with a
        // slash in it (relative to the current directory) itself: either way
        // an executable regular file, or nothing.
        let cwd = std::env::current_dir().unwrap_or_default();
        let find = |name: &OsStr| which::which_in(name, path_var, &cwd).ok();
        if let Some(path) = explicit {
            let found = if path.as_os_str().is_empty() {
                None
            } else {
                find(path.as_os_str())
            };
            return found
                .map(Self::new)
                .ok_or(EngineError::NotExecutable { path });
        }
        ["docker", "podman"]
            .iter()
            .find_map(|name| find(OsStr::new(name)))
            .map(Self::new)
            .ok_or(EngineError::NotFound)
    }

    /// Whether the engine is podman (whose flags differ here and there).
    fn is_podman(&self) -> bool {
        self.program
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("podman"))
    }

    /// Runs `cmd` (the engine) as a query: under `--engine-timeout`
    /// (`image ls`, the platform, prune's calls), keeping at most `limit`
    /// bytes of each stream.
    pub(crate) fn query(
        &self,
        cmd: std::process::Command,
        limit: usize,
    ) -> Result<process::Finished, EngineError> {
        process::run(cmd, self.query_timeout, limit)
            .map_err(|e| EngineError::stopped(e, "--engine-timeout"))
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
        let mut cmd = process::command(&self.program);
        cmd.args(["image", "ls", "--format", IMAGE_LS_FORMAT]);
        let output = self.query(cmd, IMAGE_LS_LIMIT)?;
        if !output.status.success() {
            return Err(EngineError::ImageList {
                command: output.command,
                exit: ExitDesc::of(output.status),
                stderr: crate::printable::printable(&output.stderr)
                    .trim()
                    .to_owned(),
            });
        }
        if output.stdout_truncated {
            return Err(EngineError::TooLarge {
                command: output.command,
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
            let mut cmd = process::command(&self.program);
            cmd.args(args);
            let out = self.query(cmd, 64 * 1024)?;
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
                "`{}` {}: {:?}",
                out.command,
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
        let exited = process::stream(cmd, run, &mut |piece| match piece {
            process::Piece::Out(line) | process::Piece::Err(line) => on_line(line),
            process::Piece::OutBytes(_) => {}
        })
        .map_err(|e| EngineError::stopped(e, "--stage-timeout"))?;
        if exited.status.success() {
            Ok(())
        } else {
            Err(EngineError::Status {
                command: exited.command,
                exit: ExitDesc::of(exited.status),
            })
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

#[cfg(test)]
pub mod fake;
mod registry;
#[cfg(test)]
mod tests;

pub use registry::{Registry, RegistryError};
