//! Resolving the revisions of unpinned packages: GERRIT_PROJECT's patchset;
//! else, for `openbmc/` packages, the one open change on GERRIT_TOPIC; else
//! the head of BRANCH from `git ls-remote --heads`, matched by the root's
//! rule (`branch_match` in templates/base.toml). Every lookup, git and
//! Gerrit alike, runs in parallel, each with a deadline.
//!
//! Owns: the edge between the plan and git/Gerrit (the branch rules are
//! `crate::plan::revisions`), and why a branch-head lookup failed
//! ([`LookupFailure`], with the cause reports group it by). Must not:
//! render anything, or print: what it has to say comes back as notes and
//! warnings, what failed as typed failures; nor show a URL's credentials:
//! its messages mask them by `crate::process`'s one rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::model::project::Project;
use crate::model::settings::Settings;
use crate::model::settings::{BaseRule, BranchMatch};
use crate::plan::revisions::BranchRule;
use crate::process::mask_credentials;
use crate::run::gerrit::{self, Topic};
use crate::run::lsremote::{self, LsRemoteError};

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
    Lookups(Vec<(String, LookupFailure)>),
}

/// Why one package's branch head could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum LookupFailure {
    /// `git ls-remote` gave no answer.
    #[error(transparent)]
    Git(#[from] LsRemoteError),
    /// git listed the heads; none matched BRANCH, nor the rule's fallbacks.
    /// Its message masks the credentials in `url` (a `--git-base-url` with
    /// `user:pass@`), as every message naming a command does.
    #[error(
        "`git ls-remote --heads {}` lists no branch matching `{branch}`, nor {fallbacks}",
        mask_credentials(url)
    )]
    NoBranch {
        url: String,
        branch: String,
        /// [`BranchRule::fallbacks`].
        fallbacks: &'static str,
    },
    /// The head git answered is not a rev that is safe to use (`url`
    /// masked in its message).
    #[error("git answered `{rev}` for {}, which {why}", mask_credentials(url))]
    UnusableRev {
        url: String,
        rev: String,
        why: String,
    },
}

impl LookupFailure {
    /// What this failure has in common with the same failure of other
    /// packages, which the lookup report groups by: what git said
    /// ([`LsRemoteError::cause`]), or the failure without the repository's
    /// URL (the rev git answered is the repository's too).
    pub fn cause(&self) -> String {
        match self {
            LookupFailure::Git(e) => e.cause(),
            LookupFailure::NoBranch {
                branch, fallbacks, ..
            } => format!("lists no branch matching `{branch}`, nor {fallbacks}"),
            LookupFailure::UnusableRev { why, .. } => format!("git answered a rev which {why}"),
        }
    }
}

enum Job {
    Head(String),
    Topic(String),
}

enum Answer {
    Head(String, Result<String, LookupFailure>),
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
                .map_err(LookupFailure::from)
                .and_then(|output| {
                    rule.pick(&output)
                        .map(str::to_owned)
                        .ok_or_else(|| LookupFailure::NoBranch {
                            url: url.clone(),
                            branch: settings.branch.clone(),
                            fallbacks: rule.fallbacks(),
                        })
                })
                .and_then(|rev| match crate::check::shell::check_rev(&rev) {
                    Ok(()) => Ok(rev),
                    Err(why) => Err(LookupFailure::UnusableRev {
                        url: url.clone(),
                        rev,
                        why,
                    }),
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
        // Gerrit's errors name its URL: no password of it is shown.
        out.warnings.push(mask_credentials(&format!(
            "could not ask Gerrit ({}) about topic {topic} for {} package(s) ({}): {first}; \
             they build their branch heads",
            settings.gerrit_url,
            names.len(),
            names.join(", ")
        )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Failure, ProcessError};

    fn timeout(url: &str) -> LookupFailure {
        LookupFailure::Git(LsRemoteError::Process(ProcessError {
            command: format!("git ls-remote --heads {url}"),
            kind: Failure::Timeout(TIMEOUT),
        }))
    }

    fn no_branch(url: &str, branch: &str) -> LookupFailure {
        LookupFailure::NoBranch {
            url: url.into(),
            branch: branch.into(),
            fallbacks: "`master`",
        }
    }

    #[test]
    fn the_same_failure_of_two_repositories_has_one_cause() {
        let (x, y) = ("https://example.org/a/x", "https://example.org/a/y");
        assert_ne!(timeout(x).to_string(), timeout(y).to_string());
        assert_eq!(timeout(x).cause(), timeout(y).cause());
        assert_eq!(no_branch(x, "dev").cause(), no_branch(y, "dev").cause());
        let unusable = |url: &str, rev: &str| LookupFailure::UnusableRev {
            url: url.into(),
            rev: rev.into(),
            why: "contains `..`".into(),
        };
        assert_eq!(unusable(x, "a..b").cause(), unusable(y, "c..d").cause());
    }

    #[test]
    fn different_failures_have_different_causes() {
        let url = "https://example.org/a/x";
        assert_ne!(
            no_branch(url, "dev").cause(),
            no_branch(url, "main").cause()
        );
        assert_ne!(no_branch(url, "dev").cause(), timeout(url).cause());
        let spawn = LookupFailure::Git(LsRemoteError::Process(ProcessError {
            command: format!("git ls-remote --heads {url}"),
            kind: Failure::Spawn(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }));
        assert_ne!(spawn.cause(), timeout(url).cause());
    }

    #[test]
    fn failures_mask_the_credentials_of_the_url() {
        let url = "https://me:s3cret@git.example/a/x";
        let unusable = LookupFailure::UnusableRev {
            url: url.into(),
            rev: "a b".into(),
            why: "contains a space".into(),
        };
        for failure in [no_branch(url, "dev"), unusable] {
            let shown = failure.to_string();
            assert!(
                shown.contains("https://***@git.example/a/x") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
    }

    #[test]
    fn failures_print_what_failed_where() {
        assert_eq!(
            no_branch("https://example.org/a/x", "dev").to_string(),
            "`git ls-remote --heads https://example.org/a/x` lists no branch matching `dev`, \
             nor `master`"
        );
        let unusable = LookupFailure::UnusableRev {
            url: "https://example.org/a/x".into(),
            rev: "a b".into(),
            why: "contains a space".into(),
        };
        assert_eq!(
            unusable.to_string(),
            "git answered `a b` for https://example.org/a/x, which contains a space"
        );
    }
}
