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
    #[error("BUILD_UNIT_TEST_CACHE_REGISTRY (--cache-registry) {reference:?} {why}")]
    BadCacheRegistry { reference: String, why: String },
    /// `--report FILE` cannot be written: found before the build.
    #[error("--report {}: cannot write the report there (checked before building)", path.display())]
    ReportUnwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--checksum is for packages, not base pins")]
    ChecksumOfBasePin,
    #[error("--cache-registry {reference:?} {why}")]
    BadPruneRegistry { reference: String, why: String },
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
mod tests {
    use super::*;

    fn io(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, what.to_owned())
    }

    /// What the edge prints and the status it exits with.
    fn printed(e: &CmdError) -> (String, i32) {
        (format!("error: {}", with_sources(e)), e.exit_status())
    }

    #[test]
    fn bad_flags_and_variables_are_usage_errors_exiting_2() {
        let usage = [
            CmdError::from(SettingsError::ZeroCpus),
            CmdError::from(SettingsError::ClockBeforeEpoch),
            CmdError::from(SettingsError::ClockOutOfRange),
            CmdError::from(SettingsError::SourceDateEpochNotANumber("soon".into())),
            CmdError::from(SettingsError::SourceDateEpochOutOfRange("9e99".into())),
            CmdError::from(SettingsError::SourceDateEpochNotUtf8),
            CmdError::from(SettingsError::NotAnArch("x86 64".into())),
            CmdError::from(SettingsError::Refused(vec!["a".into()])),
            CmdError::Usage(UsageError::CachePushWithoutRegistry),
            CmdError::Usage(UsageError::BadCacheRegistry {
                reference: "a b".into(),
                why: "is not a registry".into(),
            }),
            CmdError::Usage(UsageError::ChecksumOfBasePin),
            CmdError::Usage(UsageError::ReportUnwritable {
                path: "/r/x.json".into(),
                source: io("denied"),
            }),
            CmdError::Usage(UsageError::BadPruneRegistry {
                reference: "a b".into(),
                why: "is not a registry".into(),
            }),
            CmdError::Usage(UsageError::NoSuchStage {
                name: "x".into(),
                suggestion: None,
            }),
            CmdError::Usage(UsageError::NoSuchStage {
                name: "sdbus".into(),
                suggestion: Some("openbmc-sdbusplus".into()),
            }),
        ];
        for e in &usage {
            assert_eq!(e.exit_status(), 2, "{e}");
        }
        assert_eq!(
            printed(&usage[0]),
            ("error: --cpus must be at least 1".to_owned(), 2)
        );
        assert_eq!(
            printed(&usage[3]).0,
            "error: SOURCE_DATE_EPOCH `soon` is not a number of seconds"
        );
        assert_eq!(
            printed(&usage[9]).0,
            "error: BUILD_UNIT_TEST_CACHE_REGISTRY (--cache-registry) \"a b\" is not a registry"
        );
        assert_eq!(
            printed(&usage[12]).0,
            "error: --cache-registry \"a b\" is not a registry"
        );
        assert_eq!(
            printed(&usage[13]).0,
            "error: no stage `x`",
            "no hint when nothing is close"
        );
        assert_eq!(
            printed(&usage[14]).0,
            "error: no stage `sdbus` (did you mean `openbmc-sdbusplus`?)"
        );
        assert_eq!(
            printed(&usage[8]).0,
            "error: --cache-push needs --cache-registry (BUILD_UNIT_TEST_CACHE_REGISTRY)"
        );
        assert_eq!(
            printed(&usage[10]).0,
            "error: --checksum is for packages, not base pins"
        );
        assert_eq!(
            printed(&usage[11]).0,
            "error: --report /r/x.json: cannot write the report there (checked before building): denied"
        );
    }

    #[test]
    fn every_refused_setting_is_its_own_error_line() {
        let e = CmdError::from(SettingsError::Refused(vec![
            "DISTRO \"x\" is bad".into(),
            "BRANCH \"y\" is bad".into(),
        ]));
        assert_eq!(
            printed(&e),
            (
                "error: DISTRO \"x\" is bad\nerror: BRANCH \"y\" is bad".to_owned(),
                2
            )
        );
    }

    #[test]
    fn an_interrupted_run_exits_130_saying_what_was_stopped() {
        let cases = [
            (Interruption::Build, "error: interrupted"),
            (
                Interruption::RevisionLookups,
                "error: interrupted while looking up revisions; every lookup was stopped",
            ),
            (
                Interruption::UpstreamLookups,
                "error: interrupted; every lookup was stopped",
            ),
            (
                Interruption::Update,
                "error: interrupted; every lookup was stopped, nothing was written",
            ),
            (
                Interruption::Check,
                "error: interrupted while checking the root; nothing was done",
            ),
            (
                Interruption::Prune,
                "error: interrupted; nothing more was removed",
            ),
        ];
        for (what, line) in cases {
            assert_eq!(
                printed(&CmdError::Interrupted(what)),
                (line.to_owned(), 130)
            );
        }
    }

    #[test]
    fn an_invalid_project_points_at_validate_and_exits_1() {
        let e = CmdError::Project(ProjectError::Invalid {
            errors: 3,
            root: PathBuf::from("/p"),
        });
        assert_eq!(
            printed(&e),
            (
                "error: 3 problem(s) in /p: run `build-unit-test-docker validate` for the full report"
                    .to_owned(),
                1
            )
        );
        assert_eq!(
            printed(&CmdError::Project(ProjectError::EditWouldInvalidate)),
            (
                "error: the edit would leave the project invalid; nothing was written".to_owned(),
                1
            )
        );
    }

    /// `git ls-remote --heads` on `base/name` failing with `stderr`.
    fn git_failed(name: &str, stderr: &str) -> LookupFailure {
        use std::os::unix::process::ExitStatusExt;
        LookupFailure::Git(crate::run::lsremote::LsRemoteError::Failed {
            command: format!("git ls-remote --heads https://example.org/{name}"),
            status: std::process::ExitStatus::from_raw(128 << 8),
            stderr: stderr.into(),
        })
    }

    #[test]
    fn failed_revision_lookups_are_grouped_by_cause_with_the_hint() {
        let e = CmdError::Lookup(LookupError::RevisionLookups {
            failures: vec![
                ("a/x".into(), git_failed("a/x", "fatal: no host")),
                ("a/y".into(), git_failed("a/y", "fatal: no host")),
                (
                    "a/z".into(),
                    LookupFailure::Git(crate::run::lsremote::LsRemoteError::Process(
                        crate::process::ProcessError {
                            command: "git ls-remote --heads https://example.org/a/z".into(),
                            kind: crate::process::Failure::Timeout(std::time::Duration::from_secs(
                                120,
                            )),
                        },
                    )),
                ),
            ],
            git_base: "https://example.org".into(),
        });
        let (text, status) = printed(&e);
        assert_eq!(status, 1);
        assert_eq!(
            text,
            "error: cannot resolve the revision of 3 package(s) without a `rev`: a/x, a/y, a/z\n\
             \x20 a/x: `git ls-remote --heads https://example.org/a/x` failed (exit status: 128):\n    \
             fatal: no host (and the same for 1 more)\n\
             \x20 a/z: `git ls-remote --heads https://example.org/a/z` did not finish within 120s \
             and was stopped\n\
             hint: the branch heads are looked up with `git ls-remote` on https://example.org; \
             without network, pin `rev` in those manifests (bump PKG REV), or point \
             --git-base-url (BUILD_UNIT_TEST_GIT_BASE) at a reachable mirror"
        );
        let setting =
            CmdError::Lookup(LookupError::RevisionSetting("BRANCH \"x y\" is bad".into()));
        assert_eq!(
            printed(&setting),
            ("error: BRANCH \"x y\" is bad".into(), 1)
        );
    }

    #[test]
    fn lookups_failing_for_one_cause_are_one_line_whatever_their_urls() {
        let no_branch = |name: &str| LookupFailure::NoBranch {
            url: format!("https://example.org/{name}"),
            branch: "dev".into(),
            fallbacks: "`master` or `main`",
        };
        let e = CmdError::Lookup(LookupError::RevisionLookups {
            failures: vec![
                ("a/x".into(), no_branch("a/x")),
                ("a/y".into(), no_branch("a/y")),
                (
                    "a/z".into(),
                    LookupFailure::UnusableRev {
                        url: "https://example.org/a/z".into(),
                        rev: "-x".into(),
                        why: "starts with `-`".into(),
                    },
                ),
            ],
            git_base: "https://example.org".into(),
        });
        let text = printed(&e).0;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..3],
            [
                "  a/x: `git ls-remote --heads https://example.org/a/x` lists no branch matching \
                 `dev`, nor `master` or `main` (and the same for 1 more)",
                "  a/z: git answered `-x` for https://example.org/a/z, which starts with `-`",
            ],
            "{text}"
        );
        assert!(lines[3].starts_with("hint: "), "{text}");
    }

    #[test]
    fn a_lookup_report_shows_no_password_of_the_git_base() {
        let base = "https://me:s3cret@git.example";
        let e = CmdError::Lookup(LookupError::RevisionLookups {
            failures: vec![(
                "a/x".into(),
                LookupFailure::NoBranch {
                    url: format!("{base}/a/x"),
                    branch: "dev".into(),
                    fallbacks: "`master`",
                },
            )],
            git_base: base.into(),
        });
        let text = printed(&e).0;
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("`git ls-remote` on https://***@git.example;"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_build_names_its_failed_stages_and_exits_1() {
        let e = CmdError::Build(BuildError::StagesFailed {
            stages: vec!["base".into(), "openbmc/sdbusplus".into()],
        });
        assert_eq!(
            printed(&e),
            ("error: build failed: base, openbmc/sdbusplus".into(), 1)
        );
        let engine = CmdError::from(EngineError::NotFound);
        assert_eq!(engine.exit_status(), 1);
        assert!(printed(&engine).0.contains("--engine PATH"));
        let scheduler = CmdError::from(SchedulerError::ZeroJobs);
        assert_eq!(
            printed(&scheduler),
            (
                "error: the number of parallel builds must be at least 1".into(),
                1
            )
        );
        let render = CmdError::from(RenderError::MissingRev("a/x".into()));
        assert_eq!(
            printed(&render),
            (
                "error: package `a/x` has no revision (it was not resolved)".into(),
                1
            )
        );
    }

    #[test]
    fn a_failed_prune_names_each_tag_and_exits_1() {
        let e = CmdError::Build(BuildError::PruneRemovals {
            failures: vec![
                (
                    "img-base:2026-W01-0123456789abcdef".into(),
                    "conflict".into(),
                ),
                ("img:2026-W01-0123456789abcdef".into(), "busy".into()),
            ],
        });
        assert_eq!(
            printed(&e),
            (
                "error: 2 tag(s) could not be removed (the others were):\n\
                 \x20 img-base:2026-W01-0123456789abcdef: conflict\n\
                 \x20 img:2026-W01-0123456789abcdef: busy"
                    .to_owned(),
                1
            )
        );
        let e = CmdError::Build(BuildError::Registry(
            crate::run::registry_api::ApiError::DeletesDisabled {
                host: "reg:5000".into(),
                what: "DELETE /v2/x/manifests/sha256:1".into(),
                detail: ": UNSUPPORTED".into(),
            },
        ));
        let (text, status) = printed(&e);
        assert_eq!(status, 1);
        assert!(text.contains("storage: delete: enabled: true"), "{text}");
        let e = CmdError::Build(BuildError::RegistryCredentials("bad json".into()));
        assert_eq!(
            printed(&e),
            (
                "error: cannot read the registry credentials: bad json".to_owned(),
                1
            )
        );
        let e = CmdError::from(crate::run::prune::CallError::Engine(EngineError::NotFound));
        assert!(matches!(e, CmdError::Build(BuildError::PruneEngine(_))));
        assert_eq!(e.exit_status(), 1);
    }

    #[test]
    fn file_errors_name_the_file_then_the_cause() {
        let cases = [
            (
                CmdError::File(FileError::Read {
                    path: "/p/a.toml".into(),
                    source: io("denied"),
                }),
                "error: cannot read /p/a.toml: denied",
            ),
            (
                CmdError::File(FileError::Write {
                    path: "/o/base.Dockerfile".into(),
                    source: io("disk full"),
                }),
                "error: cannot write /o/base.Dockerfile: disk full",
            ),
            (
                CmdError::File(FileError::EditNotWritten {
                    path: "/p/a.toml".into(),
                    error: io("disk full"),
                }),
                "error: cannot write /p/a.toml: disk full; nothing else was written after it",
            ),
            (
                CmdError::File(FileError::CreateDir {
                    path: "/o".into(),
                    source: io("denied"),
                }),
                "error: cannot create /o: denied",
            ),
            (
                CmdError::File(FileError::RemoveStale {
                    path: "/o/x.Dockerfile".into(),
                    source: io("busy"),
                }),
                "error: cannot remove the stale /o/x.Dockerfile: busy",
            ),
            (
                CmdError::File(FileError::Edit {
                    path: "/p/a.toml".into(),
                    source: EditError::NotToml {
                        message: "bad".into(),
                    },
                }),
                "error: /p/a.toml: not valid TOML: bad",
            ),
            (
                CmdError::File(FileError::LockRoot {
                    root: "/p".into(),
                    source: io("held"),
                }),
                "error: cannot lock /p for editing: held",
            ),
            (
                CmdError::File(FileError::WriteReport {
                    path: "/r.json".into(),
                    source: io("denied"),
                }),
                "error: cannot write the report /r.json: denied",
            ),
            (
                CmdError::File(FileError::Stdout(io("No space left on device"))),
                "error: could not write to stdout: No space left on device",
            ),
            (
                CmdError::File(FileError::WriteManPages(io("closed"))),
                "error: cannot write the man pages: closed",
            ),
            (
                CmdError::SignalHandlers(io("no")),
                "error: cannot install signal handlers: no",
            ),
        ];
        for (e, line) in cases {
            assert_eq!(printed(&e), (line.to_owned(), 1));
        }
    }

    #[test]
    fn maintainer_edit_errors_say_what_to_do_and_exit_1() {
        let cases = [
            (
                CmdError::Project(ProjectError::NoSuchPackage {
                    name: "widget".into(),
                    suggestion: Some("acme/widget".into()),
                }),
                "error: no package `widget`: did you mean `acme/widget`?",
            ),
            (
                CmdError::Project(ProjectError::NoSuchPackage {
                    name: "zzz".into(),
                    suggestion: None,
                }),
                "error: no package `zzz`: `build-unit-test-docker list` shows the packages",
            ),
            (
                CmdError::Project(ProjectError::PackageGone {
                    name: "acme/a".into(),
                }),
                "error: no package `acme/a`",
            ),
            (
                CmdError::Project(ProjectError::NoSuchPin {
                    key: "mesn".into(),
                    suggestion: Some("meson".into()),
                    pins: "base.meson, base.cmake".into(),
                }),
                "error: no pin `base.mesn`: did you mean `base.meson`? pins: base.meson, base.cmake",
            ),
            (
                CmdError::Project(ProjectError::NoSuchPin {
                    key: "zzz".into(),
                    suggestion: None,
                    pins: "base.meson".into(),
                }),
                "error: no pin `base.zzz`: pins: base.meson",
            ),
            (
                CmdError::Project(ProjectError::BasePinIsList { key: "apt".into() }),
                "error: base.apt is a list: edit templates/base.toml by hand",
            ),
            (
                CmdError::Project(ProjectError::ChecksumWouldNotMatch {
                    package: "acme/a".into(),
                }),
                "error: acme/a has a sha256, which the new rev's tarball will not match: pass --checksum to record the new one",
            ),
            (
                CmdError::Project(ProjectError::UnsafeRev {
                    rev: "a b".into(),
                    why: "has a space".into(),
                }),
                "error: rev `a b` has a space",
            ),
            (
                CmdError::Project(ProjectError::NothingPinned),
                "error: no package has a pinned rev to compare with upstream",
            ),
            (
                CmdError::Lookup(LookupError::UpstreamLookupsFailed),
                "error: some lookups failed (see the table)",
            ),
            (
                CmdError::Lookup(LookupError::Download("curl failed".into())),
                "error: curl failed",
            ),
            (
                CmdError::Lookup(LookupError::RevMovedDuringLookup {
                    package: "acme/a".into(),
                    looked_up: "v1".into(),
                    now: "v2".into(),
                }),
                "error: acme/a: its rev changed from v1 to v2 while upstream was looked up; \
                 not updated (run update again)",
            ),
            (
                CmdError::Lookup(LookupError::SourceMovedDuringDownload {
                    package: "acme/a".into(),
                    downloaded: "https://x/a.tar.gz".into(),
                    now: "https://x/b.tar.gz".into(),
                }),
                "error: acme/a: its tarball is now https://x/b.tar.gz, not https://x/a.tar.gz: \
                 the manifest changed while it downloaded; nothing was written (run the bump again)",
            ),
            (
                CmdError::Project(ProjectError::UrlTemplate {
                    package: "acme/a".into(),
                    source: minijinja::Error::new(minijinja::ErrorKind::UndefinedError, "no x"),
                }),
                "error: the url of acme/a does not render: undefined value: no x",
            ),
        ];
        for (e, line) in cases {
            assert_eq!(printed(&e), (line.to_owned(), 1));
        }
    }

    #[test]
    fn several_failures_are_one_line_each_and_exit_with_the_highest_status() {
        let skipped = CmdError::Skipped(Box::new(CmdError::File(FileError::Read {
            path: "/p/a.toml".into(),
            source: io("denied"),
        })));
        let lookup = CmdError::Lookup(LookupError::UpstreamLookup {
            package: "acme/b".into(),
            why: "timed out".into(),
        });
        let e = CmdError::all(vec![lookup, skipped]).expect_err("two failures");
        assert_eq!(
            printed(&e),
            (
                "error: acme/b: lookup failed: timed out\n\
                 error: cannot read /p/a.toml: denied (skipped)"
                    .to_owned(),
                1
            )
        );
        let e = CmdError::all(vec![
            CmdError::Interrupted(Interruption::Build),
            CmdError::File(FileError::WriteReport {
                path: "/r.json".into(),
                source: io("denied"),
            }),
        ])
        .expect_err("two failures");
        assert_eq!(e.exit_status(), 130, "an interrupt wins");
        let skipped_usage =
            CmdError::Skipped(Box::new(CmdError::Usage(UsageError::ChecksumOfBasePin)));
        assert_eq!(
            skipped_usage.exit_status(),
            1,
            "a skipped edit is not a usage error"
        );
        assert!(CmdError::all(Vec::new()).is_ok());
        let one =
            CmdError::all(vec![CmdError::Project(ProjectError::NothingPinned)]).expect_err("one");
        assert!(
            matches!(one, CmdError::Project(ProjectError::NothingPinned)),
            "not wrapped"
        );
    }
}
