//! Why a command failed: one typed error per kind of failure, grouped by
//! area (usage, the project, lookups, the build, files), the area deciding
//! the exit status the run ends with. The entry function (`run` in
//! src/lib.rs) prints it once, as `error: {message}: {source}: …`.
//!
//! Owns: the messages of the command layer's failures, their areas and
//! their exit statuses. Must not: print, or decide anything about the
//! core's rules.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::maintain::edit::EditError;
use crate::plan::render::RenderError;
use crate::process::INTERRUPTED;
use crate::run::engine::EngineError;
use crate::run::prune::CallError;
use crate::run::registry_api::ApiError;
use crate::run::revs::LookupFailure;
use crate::run::scheduler::SchedulerError;

use super::{FAILED, USAGE};

/// Why a command failed: by area, each area's errors in its own enum. The
/// area decides the exit status ([`CmdError::exit_status`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    /// Flags or environment variables with unusable values (2).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The project, or what a command asked of it (1).
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// Looking things up: revisions, upstreams, tarballs (1).
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Rendering, the engine, the build, the registry (1).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Files, and what a command prints (1).
    #[error(transparent)]
    File(#[from] FileError),
    /// The process (1).
    #[error("cannot install signal handlers")]
    SignalHandlers(#[source] io::Error),
    /// SIGINT or SIGTERM stopped the run (130).
    #[error("{0}")]
    Interrupted(Interruption),
    /// `update` skipped one package's edit for this reason (1, whatever
    /// the reason's own status).
    #[error("{} (skipped)", with_sources(.0.as_ref()))]
    Skipped(Box<CmdError>),
    /// More than one failure, in the order they happened; each is printed
    /// as its own `error:` line and the run exits with the highest status.
    #[error("{}", .0.iter().map(|e| with_sources(e)).collect::<Vec<_>>().join("\nerror: "))]
    Several(Vec<CmdError>),
}

/// Flags or environment variables with unusable values: a usage error (2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    /// A setting read from the flags or the environment is unusable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("--cache-push needs --cache-registry (BUILD_UNIT_TEST_CACHE_REGISTRY)")]
    CachePushWithoutRegistry,
    /// A registry reference (`HOST[:PORT][/PATH]`) that is not one; `flag`
    /// names where it came from.
    #[error("{flag} {reference:?} {why}")]
    BadRegistry {
        flag: &'static str,
        reference: String,
        why: String,
    },
    /// `--report FILE` cannot be written: found before the build.
    #[error("--report {}: cannot write the report there (checked before building)", path.display())]
    ReportUnwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--checksum is for packages, not base pins")]
    ChecksumOfBasePin,
    /// `explain STAGE` names no stage of the plan.
    #[error(
        "no stage `{name}`{}",
        suggestion.as_ref().map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
    )]
    NoSuchStage {
        name: String,
        /// The stage meant, if one is close.
        suggestion: Option<String>,
    },
}

/// The project, or what a command asked of it, is not as it must be (1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    /// The project does not validate; its problems were printed as
    /// diagnostics before.
    #[error(
        "{errors} problem(s) in {}: run `build-unit-test-docker validate` for the full report",
        root.display()
    )]
    Invalid { errors: usize, root: PathBuf },
    /// An edit (`bump`, `update`) would leave the project invalid; the
    /// problems were printed before.
    #[error("the edit would leave the project invalid; nothing was written")]
    EditWouldInvalidate,
    /// A command names no package of the project.
    #[error(
        "no package `{name}`: {}",
        suggestion.as_ref().map_or_else(
            || "`build-unit-test-docker list` shows the packages".to_owned(),
            |s| format!("did you mean `{s}`?")
        )
    )]
    NoSuchPackage {
        name: String,
        /// The package meant, if one is close.
        suggestion: Option<String>,
    },
    /// A package found before is not in the project read again (under the
    /// root's lock): another edit removed it.
    #[error("no package `{name}`")]
    PackageGone { name: String },
    #[error(
        "no pin `base.{key}`: {}pins: {pins}",
        suggestion.as_ref().map_or_else(String::new, |s| format!("did you mean `base.{s}`? "))
    )]
    NoSuchPin {
        key: String,
        /// The pin meant (its key, without `base.`), if one is close.
        suggestion: Option<String>,
        /// The string pins there are, comma-separated.
        pins: String,
    },
    #[error("base.{key} is a list: edit templates/base.toml by hand")]
    BasePinIsList { key: String },
    #[error(
        "{package} has a sha256, which the new rev's tarball will not match: pass --checksum to record the new one"
    )]
    ChecksumWouldNotMatch { package: String },
    #[error("rev `{rev}` {why}")]
    UnsafeRev { rev: String, why: String },
    #[error("the url of {package} does not render")]
    UrlTemplate {
        package: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("no package has a pinned rev to compare with upstream")]
    NothingPinned,
}

/// Looking things up failed: revisions, upstreams, tarballs (1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// A revision setting (BRANCH, GERRIT_…) cannot be used for the lookups.
    #[error("{0}")]
    RevisionSetting(String),
    /// Branch-head lookups failed: the grouped report, with its hint.
    #[error("{}", lookup_report(failures, git_base))]
    RevisionLookups {
        /// (package, what failed), in the order of the packages.
        failures: Vec<(String, LookupFailure)>,
        /// Where the heads were looked up.
        git_base: String,
    },
    /// `outdated`: some rows of the table say `lookup failed`.
    #[error("some lookups failed (see the table)")]
    UpstreamLookupsFailed,
    /// `update`: one package's upstream could not be looked up.
    #[error("{package}: lookup failed: {why}")]
    UpstreamLookup { package: String, why: String },
    /// Downloading a tarball for its checksum failed.
    #[error("{0}")]
    Download(String),
    /// `update`: while the lookups ran (without the root's lock), another
    /// edit changed the package's rev; it is left as that edit made it.
    #[error("{package}: its rev changed from {looked_up} to {now} while upstream was looked up; not updated (run update again)")]
    RevMovedDuringLookup {
        package: String,
        looked_up: String,
        now: String,
    },
    /// `bump --checksum`: while the tarball downloaded (without the root's
    /// lock), another edit changed where the package's source comes from.
    #[error(
        "{package}: its tarball is now {now}, not {downloaded}: the manifest changed while it \
         downloaded; nothing was written (run the bump again)"
    )]
    SourceMovedDuringDownload {
        package: String,
        downloaded: String,
        now: String,
    },
}

/// Rendering, the engine, the build, the registry failed (1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// `prune`: an engine call failed (listing, inspecting).
    #[error(transparent)]
    PruneEngine(#[from] CallError),
    /// `prune`: these tags could not be removed (tag, why); the others were.
    #[error(
        "{} tag(s) could not be removed (the others were):\n{}",
        failures.len(),
        failures.iter().map(|(t, why)| format!("  {t}: {why}")).collect::<Vec<_>>().join("\n")
    )]
    PruneRemovals { failures: Vec<(String, String)> },
    /// `prune --cache-registry`: the registry failed or refused.
    #[error(transparent)]
    Registry(ApiError),
    /// The engine's credentials file could not be read.
    #[error("cannot read the registry credentials: {0}")]
    RegistryCredentials(String),
    /// The build ran; these stages (labels) failed.
    #[error("build failed: {}", stages.join(", "))]
    StagesFailed { stages: Vec<String> },
}

/// A file could not be read or written, or what a command prints could not
/// be (1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// One file of a multi-file edit could not be written; the cause stays
    /// in the message, which goes on after it.
    #[error("cannot write {}: {error}; nothing else was written after it", path.display())]
    EditNotWritten { path: PathBuf, error: io::Error },
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove the stale {}", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The edit of a manifest or base.toml could not be made.
    #[error("{}", path.display())]
    Edit {
        path: PathBuf,
        #[source]
        source: EditError,
    },
    #[error("cannot lock {} for editing", root.display())]
    LockRoot {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the report {}", path.display())]
    WriteReport {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// What a command prints could not be written (not EPIPE: see
    /// `print_out`).
    #[error("could not write to stdout")]
    Stdout(#[source] io::Error),
    #[error("cannot write the man pages")]
    WriteManPages(#[source] io::Error),
}

/// `From` an area's own sources (`SettingsError`, `EngineError`, …) for
/// [`CmdError`], through their area, so that `?` takes them as it is.
macro_rules! through_area {
    ($($source:ty => $area:ident),* $(,)?) => {
        $(impl From<$source> for CmdError {
            fn from(e: $source) -> Self {
                CmdError::$area(e.into())
            }
        })*
    };
}

through_area! {
    SettingsError => Usage,
    RenderError => Build,
    EngineError => Build,
    SchedulerError => Build,
    CallError => Build,
}

impl CmdError {
    /// The exit status the run ends with, decided by the area: 2 for usage
    /// errors, 130 when interrupted, 1 for everything else; for several
    /// failures, the highest of theirs.
    pub(crate) fn exit_status(&self) -> i32 {
        match self {
            CmdError::Usage(_) => USAGE,
            CmdError::Interrupted(_) => INTERRUPTED,
            CmdError::Several(all) => all
                .iter()
                .map(CmdError::exit_status)
                .max()
                .unwrap_or(FAILED),
            CmdError::Project(_)
            | CmdError::Lookup(_)
            | CmdError::Build(_)
            | CmdError::File(_)
            | CmdError::SignalHandlers(_)
            | CmdError::Skipped(_) => FAILED,
        }
    }

    /// All of `errors` as one: none is Ok, one is itself.
    pub(crate) fn all(mut errors: Vec<CmdError>) -> Result<(), CmdError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(CmdError::Several(errors)),
        }
    }
}

impl From<crate::run::pipeline::PipelineError> for CmdError {
    fn from(e: crate::run::pipeline::PipelineError) -> Self {
        use crate::run::pipeline::{Phase, PipelineError};
        match e {
            PipelineError::Interrupted(Phase::RevisionLookups) => {
                CmdError::Interrupted(Interruption::RevisionLookups)
            }
            PipelineError::Interrupted(Phase::Build) => CmdError::Interrupted(Interruption::Build),
            PipelineError::RevisionSetting(why) => LookupError::RevisionSetting(why).into(),
            PipelineError::RevisionLookups { failures, git_base } => {
                LookupError::RevisionLookups { failures, git_base }.into()
            }
            PipelineError::Render(e) => e.into(),
            PipelineError::Engine(e) => e.into(),
            PipelineError::Scheduler(e) => e.into(),
        }
    }
}

/// What an interrupt stopped: it says so in the one line printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// The builds (the summary is printed before).
    Build,
    /// The branch-head lookups before rendering.
    RevisionLookups,
    /// `outdated`'s lookups.
    UpstreamLookups,
    /// `update`'s lookups, before anything was written.
    Update,
    /// Checking the root (its templates' trial renders), before anything
    /// was printed, built or written.
    Check,
    /// `prune`: what was removed before stays removed.
    Prune,
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interruption::Build => "interrupted",
            Interruption::RevisionLookups => {
                "interrupted while looking up revisions; every lookup was stopped"
            }
            Interruption::UpstreamLookups => "interrupted; every lookup was stopped",
            Interruption::Update => "interrupted; every lookup was stopped, nothing was written",
            Interruption::Check => "interrupted while checking the root; nothing was done",
            Interruption::Prune => "interrupted; nothing more was removed",
        })
    }
}

/// Why the settings of a run cannot be made from its flags and environment
/// (a usage error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("the system clock is before 1970")]
    ClockBeforeEpoch,
    #[error("the system clock is out of range")]
    ClockOutOfRange,
    #[error("SOURCE_DATE_EPOCH `{0}` is not a number of seconds")]
    SourceDateEpochNotANumber(String),
    #[error(
        "SOURCE_DATE_EPOCH `{0}` is out of range: tags need a year from 1970 to 9999 \
         (0 to 253402300799 seconds)"
    )]
    SourceDateEpochOutOfRange(String),
    #[error("SOURCE_DATE_EPOCH is not valid UTF-8: set it to a number of seconds since 1970, or unset it")]
    SourceDateEpochNotUtf8,
    #[error("--arch `{0}` is not a machine name like x86_64, aarch64 or ppc64le")]
    NotAnArch(String),
    #[error("--cpus must be at least 1")]
    ZeroCpus,
    /// Values the settings' checks refuse, one line each.
    #[error("{}", .0.join("\nerror: "))]
    Refused(Vec<String>),
}

/// `error`'s message followed by its sources: `message: source: source`.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Lookup failures, grouped by their cause ([`LookupFailure::cause`]),
/// with what to do about them: one line per distinct cause, with the first
/// package that had it and its whole message.
fn lookup_report(failures: &[(String, LookupFailure)], git_base: &str) -> String {
    let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
    let mut out = format!(
        "cannot resolve the revision of {} package(s) without a `rev`: {}\n",
        names.len(),
        names.join(", ")
    );
    let mut causes: Vec<(String, Vec<&str>, &LookupFailure)> = Vec::new();
    for (name, why) in failures {
        let cause = why.cause();
        match causes.iter_mut().find(|(c, _, _)| *c == cause) {
            Some((_, names, _)) => names.push(name),
            None => causes.push((cause, vec![name], why)),
        }
    }
    for (_, names, first) in &causes {
        let others = if names.len() > 1 {
            format!(" (and the same for {} more)", names.len() - 1)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {}: {}{others}\n",
            names[0],
            first.to_string().replace('\n', "\n    ")
        ));
    }
    out.push_str(&format!(
        "hint: the branch heads are looked up with `git ls-remote` on {}; \
         without network, pin `rev` in those manifests (bump PKG REV), or point \
         --git-base-url (BUILD_UNIT_TEST_GIT_BASE) at a reachable mirror",
        crate::process::mask_credentials(git_base)
    ));
    out
}

#[cfg(test)]
mod tests;
