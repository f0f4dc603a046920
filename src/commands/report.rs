//! `build --report FILE`: the run as JSON for CI systems (schema version 1,
//! documented in the README). Written even when the build fails or is
//! interrupted, so a dashboard can show why. Its path is checked before
//! the build starts ([`check_writable`]).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::plan::render::Plan;
use crate::run::scheduler::Outcome;

/// Bumped when a field changes meaning or goes away (adding one does not).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub schema_version: u32,
    pub tool: Tool,
    /// The final image's tag when every stage is available, else null.
    pub final_tag: Option<&'a str>,
    /// The exit status the run ends with.
    pub exit_status: i32,
    /// Stages pulled from the cache registry.
    pub pulled: usize,
    /// Stages pushed to the cache registry.
    pub pushed: usize,
    pub stages: Vec<StageReport<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct StageReport<'a> {
    /// `base`, `final` or the package's stage name.
    pub stage: &'a str,
    /// The package name (`openbmc/sdbusplus`), `base` or `final`.
    pub label: &'a str,
    pub tag: &'a str,
    /// built, cached, pulled, not-needed, failed, skipped or cancelled.
    pub outcome: &'static str,
    /// Build time (0 when not built).
    pub seconds: f64,
    /// The stage's log file (with --log-dir), else null.
    pub log: Option<String>,
    /// Why it failed, else null.
    pub error: Option<String>,
    /// For a skipped stage: the failed stage it waited on.
    pub skipped_because: Option<&'a str>,
    /// Pushed to the cache registry in this run.
    pub pushed: bool,
}

/// The report of a run.
pub fn report<'a>(
    plan: &'a Plan,
    outcomes: &[Outcome],
    log_dir: Option<&Path>,
    pushed: &std::collections::HashSet<String>,
    exit_status: i32,
) -> Report<'a> {
    let secs = |d: &Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
    let stages = plan
        .stages
        .iter()
        .zip(outcomes)
        .map(|(s, o)| {
            let (outcome, seconds, error, because) = match o {
                Outcome::Built { elapsed } => ("built", secs(elapsed), None, None),
                Outcome::Cached => ("cached", 0.0, None, None),
                Outcome::Failed { error, elapsed, .. } => {
                    ("failed", secs(elapsed), Some(error.clone()), None)
                }
                Outcome::Skipped { because } => (
                    "skipped",
                    0.0,
                    None,
                    plan.stages.get(*because).map(|b| b.name.as_str()),
                ),
                Outcome::Cancelled => ("cancelled", 0.0, None, None),
                Outcome::Pulled => ("pulled", 0.0, None, None),
                Outcome::NotNeeded => ("not-needed", 0.0, None, None),
            };
            let log = log_dir
                .filter(|_| matches!(o, Outcome::Built { .. } | Outcome::Failed { .. }))
                .map(|d| {
                    crate::run::scheduler::log_path(d, &s.name)
                        .display()
                        .to_string()
                });
            StageReport {
                stage: &s.name,
                label: &s.label,
                tag: &s.tag,
                outcome,
                seconds,
                log,
                error,
                skipped_because: because,
                pushed: pushed.contains(&s.tag),
            }
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        final_tag: outcomes
            .iter()
            .all(Outcome::is_success)
            .then(|| plan.final_stage().tag.as_str()),
        exit_status,
        pulled: outcomes.iter().filter(|o| **o == Outcome::Pulled).count(),
        pushed: pushed.len(),
        stages,
    }
}

/// Whether the report can be written to `path`, checked before the build
/// so that an unwritable one is found before anything builds, not after:
/// its folder is made (as `--log-dir` is), `path` must not be a folder,
/// and a file must be creatable beside it (a probe, removed at once: the
/// report is written atomically, through such a file). Nothing is left
/// behind but the folder.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(std::io::Error::other("it is a folder; give a file name"));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(std::io::Error::other(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(".report-probe")
        .tempfile_in(dir)
        .map(drop)
}

/// Writes `report` to `path` (atomically, as a file of its own: a symlink
/// or hard link found there is replaced, never written through).
pub fn write(path: &Path, report: &Report<'_>) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    crate::maintain::edit::replace_entry(path, &text)
}
