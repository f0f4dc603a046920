//! Resolving the revisions of unpinned packages: GERRIT_PROJECT's patchset;
//! else, for `openbmc/` packages, the one open change on GERRIT_TOPIC; else
//! the head of BRANCH from `git ls-remote --heads`, matched by the root's
//! rule (`branch_match` in templates/base.toml). Every lookup, git and
//! Gerrit alike, runs in parallel, each with a deadline.
//!
//! Owns: the edge between the plan and git/Gerrit (the branch rules are
//! `crate::plan::revisions`). Must not: render anything, or print: what it has to
//! say comes back as notes and warnings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::model::project::Project;
use crate::model::settings::Settings;
use crate::model::settings::{BaseRule, BranchMatch};
use crate::plan::revisions::BranchRule;
use crate::run::gerrit::{self, Topic};
use crate::run::lsremote;

/// How long one lookup may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Lookups running at once.
const PARALLEL: usize = 16;

/// The repository URL of a package on a git server.
pub fn repo_url(git_base: &str, package: &str) -> String {
    format!("{}/{package}", git_base.trim_end_matches('/'))
}

/// The revisions of the unpinned packages, and what the caller should tell
/// the user about how they were found.
#[derive(Debug, Default)]
pub struct Resolution {
    pub revs: BTreeMap<String, String>,
    /// Which revision came from where, when it is not the branch head.
    pub notes: Vec<String>,
    /// Lookups that failed without failing the run (Gerrit).
    pub warnings: Vec<String>,
}

/// Why revisions could not be resolved.
#[derive(Debug)]
pub enum ResolveError {
    /// A setting (BRANCH, GERRIT_…) is unusable.
    Setting(String),
    /// These packages' lookups failed: (package, why).
    Lookups(Vec<(String, String)>),
}

enum Job {
    Head(String),
    Topic(String),
}

enum Answer {
    Head(String, Result<String, String>),
    Topic(String, Result<Topic, String>),
}

/// The lookup settings (GERRIT_…, BRANCH), checked as [`resolve`] checks
/// them: what a build checks before it starts anything beside the lookups.
pub fn check_settings(project: &Project, settings: &Settings) -> Result<(), String> {
    gerrit_pin(settings)?;
    if project.unpinned().next().is_some() {
        branch_rule(project, settings)?;
    }
    Ok(())
}

/// GERRIT_PROJECT's patchset revision, if both are set, checked; and
/// GERRIT_TOPIC, checked.
fn gerrit_pin(settings: &Settings) -> Result<Option<(&str, &str)>, String> {
    let pin = match (&settings.gerrit_project, &settings.gerrit_rev) {
        (Some(project), Some(rev)) => {
            crate::check::shell::check_rev(rev)
                .map_err(|why| format!("GERRIT_PATCHSET_REVISION `{rev}` for {project} {why}"))?;
            Some((project.as_str(), rev.as_str()))
        }
        _ => None,
    };
    if let Some(topic) = &settings.gerrit_topic {
        if topic.chars().any(char::is_control) {
            return Err(format!(
                "GERRIT_TOPIC {topic:?} contains a control character"
            ));
        }
    }
    Ok(pin)
}

/// How BRANCH picks a head (the root's `branch_match`).
fn branch_rule(project: &Project, settings: &Settings) -> Result<BranchRule, String> {
    BranchRule::new(BranchMatch::of(&project.templates), &settings.branch)
}

/// Revisions for every package without a `rev`. Errors name the package
/// and the command that failed, one per failed lookup.
pub fn resolve(
    project: &Project,
    settings: &Settings,
    git_base: &str,
) -> Result<Resolution, ResolveError> {
    let mut out = Resolution::default();
    let gerrit_pin = gerrit_pin(settings).map_err(ResolveError::Setting)?;
    let mut jobs = Vec::new();
    for name in project.unpinned() {
        if let Some((_, rev)) = gerrit_pin.filter(|(p, _)| *p == name) {
            out.notes
                .push(format!("Found Gerrit revision for {name}: {rev}"));
            out.revs.insert(name.to_owned(), rev.to_owned());
            continue;
        }
        if settings.gerrit_topic.is_some() && name.starts_with("openbmc/") {
            jobs.push(Job::Topic(name.to_owned()));
        }
        jobs.push(Job::Head(name.to_owned()));
    }
    if jobs.is_empty() {
        return Ok(out);
    }
    let rule = branch_rule(project, settings).map_err(ResolveError::Setting)?;
    let topic = settings.gerrit_topic.as_deref().unwrap_or_default();
    let git = Path::new("git");
    let answers = lsremote::run_bounded(jobs, PARALLEL, |job| match job {
        Job::Topic(name) => {
            let answer = gerrit::change_on_topic(
                &settings.gerrit_url,
                &name,
                topic,
                settings.gerrit_timeout,
            );
            Answer::Topic(name, answer)
        }
        Job::Head(name) => {
            let url = repo_url(git_base, &name);
            let answer = lsremote::ls_remote(git, &url, &["--heads"], TIMEOUT)
                .map_err(|e| e.to_string())
                .and_then(|output| {
                    rule.pick(&output).map(str::to_owned).ok_or_else(|| {
                        format!(
                            "`git ls-remote --heads {url}` lists no branch matching `{}`, nor {}",
                            settings.branch,
                            rule.fallbacks()
                        )
                    })
                })
                .and_then(|rev| {
                    crate::check::shell::check_rev(&rev)
                        .map(|()| rev.clone())
                        .map_err(|why| format!("git answered `{rev}` for {url}, which {why}"))
                });
            Answer::Head(name, answer)
        }
    });

    let mut heads = BTreeMap::new();
    let mut topic_failures = Vec::new();
    for answer in answers {
        match answer {
            Answer::Head(name, result) => {
                heads.insert(name, result);
            }
            Answer::Topic(name, Ok(Topic::One { commit })) => {
                out.notes
                    .push(format!("Using {commit} from {topic} for {name}"));
                out.revs.insert(name, commit);
            }
            Answer::Topic(name, Ok(Topic::None)) => out.notes.push(format!(
                "{name} has no open change under {topic}; using its branch head"
            )),
            Answer::Topic(name, Ok(Topic::Many(n))) => out.notes.push(format!(
                "{name} has more than 1 commit under {topic}; using latest upstream: {n}"
            )),
            Answer::Topic(name, Err(why)) => topic_failures.push((name, why)),
        }
    }
    if let Some((_, first)) = topic_failures.first() {
        let names: Vec<&str> = topic_failures.iter().map(|(n, _)| n.as_str()).collect();
        out.warnings.push(format!(
            "could not ask Gerrit ({}) about topic {topic} for {} package(s) ({}): {first}; \
             they build their branch heads",
            settings.gerrit_url,
            names.len(),
            names.join(", ")
        ));
    }
    let mut errors = Vec::new();
    for (name, head) in heads {
        if out.revs.contains_key(&name) {
            continue; // The topic's change wins; its branch head is not needed.
        }
        match head {
            Ok(rev) => {
                out.revs.insert(name, rev);
            }
            Err(e) => errors.push((name, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ResolveError::Lookups(errors))
    }
}
