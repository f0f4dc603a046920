//! Resolving the revisions of unpinned packages: GERRIT_PROJECT's patchset;
//! else, for `openbmc/` packages, the one open change on GERRIT_TOPIC; else
//! the head of BRANCH from `git ls-remote --heads`, matched by the root's
//! rule (`branch_match` in templates/base.toml). Every lookup, git and
//! Gerrit alike, runs in parallel, each with a deadline.
//!
//! Owns: the edge between the plan and git/Gerrit, and the two branch rules
//! of OpenBMC's script. Must not: render anything, or print: what it has to
//! say comes back as notes and warnings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::gerrit::{self, Topic};
use crate::lsremote;
use crate::settings::Settings;
use crate::validate::Project;

/// How long one lookup may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Lookups running at once.
const PARALLEL: usize = 16;

/// The key of templates/base.toml that names the root's branch rule.
pub const BRANCH_MATCH_KEY: &str = "branch_match";

/// How BRANCH picks a line of `git ls-remote --heads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchMatch {
    /// OpenBMC's script since 2023 (the default): the first line that
    /// BRANCH, a regular expression, matches at its end; else the first line
    /// naming `refs/heads/master` or `refs/heads/main`.
    RegexSuffix,
    /// The 2021 script: the last line containing `refs/heads/BRANCH`; else
    /// the first naming `refs/heads/master`.
    Contains,
}

impl BranchMatch {
    /// The values `branch_match` may take.
    pub const NAMES: &'static [&'static str] = &["regex-suffix", "contains"];

    pub fn from_name(name: &str) -> Option<BranchMatch> {
        match name {
            "regex-suffix" => Some(BranchMatch::RegexSuffix),
            "contains" => Some(BranchMatch::Contains),
            _ => None,
        }
    }

    /// The root's rule (the default when base.toml does not say).
    pub fn of(project: &Project) -> BranchMatch {
        project
            .templates
            .base_str(BRANCH_MATCH_KEY)
            .and_then(BranchMatch::from_name)
            .unwrap_or(BranchMatch::RegexSuffix)
    }
}

/// A compiled branch rule.
#[derive(Debug, Clone)]
pub enum BranchRule {
    RegexSuffix(regex::Regex),
    Contains(String),
}

impl BranchRule {
    /// The rule for `branch`; an error when it is no regular expression.
    pub fn new(kind: BranchMatch, branch: &str) -> Result<BranchRule, String> {
        match kind {
            // Python's re.fullmatch(f".*{branch}$", line).
            BranchMatch::RegexSuffix => regex::Regex::new(&format!("^(?:.*{branch}$)$"))
                .map(BranchRule::RegexSuffix)
                .map_err(|e| {
                    format!(
                        "BRANCH `{branch}` is not a regular expression, which this root's \
                         branch rule needs: {}",
                        e.to_string().lines().last().unwrap_or("syntax error")
                    )
                }),
            BranchMatch::Contains => Ok(BranchRule::Contains(format!("refs/heads/{branch}"))),
        }
    }

    /// The revision `git ls-remote --heads` output gives, as the script
    /// reads it line by line.
    pub fn pick<'a>(&self, output: &'a str) -> Option<&'a str> {
        let first_field = |line: &'a str| line.split_whitespace().next();
        let mut rev = None;
        for line in output.split('\n') {
            match self {
                BranchRule::RegexSuffix(re) => {
                    if re.is_match(line.trim()) {
                        return first_field(line).or(rev);
                    }
                    if (line.contains("refs/heads/master") || line.contains("refs/heads/main"))
                        && rev.is_none()
                    {
                        rev = first_field(line);
                    }
                }
                BranchRule::Contains(wanted) => {
                    if line.contains(wanted.as_str()) {
                        rev = first_field(line).or(rev);
                    } else if line.contains("refs/heads/master") && rev.is_none() {
                        rev = first_field(line);
                    }
                }
            }
        }
        rev
    }

    fn fallbacks(&self) -> &'static str {
        match self {
            BranchRule::RegexSuffix(_) => "`master` or `main`",
            BranchRule::Contains(_) => "`master`",
        }
    }
}

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

/// Revisions for every package without a `rev`. Errors name the package
/// and the command that failed, one per failed lookup.
pub fn resolve(
    project: &Project,
    settings: &Settings,
    git_base: &str,
) -> Result<Resolution, ResolveError> {
    let mut out = Resolution::default();
    let gerrit_pin = match (&settings.gerrit_project, &settings.gerrit_rev) {
        (Some(project), Some(rev)) => {
            if let Err(why) = crate::shell::check_rev(rev) {
                return Err(ResolveError::Setting(format!(
                    "GERRIT_PATCHSET_REVISION `{rev}` for {project} {why}"
                )));
            }
            Some((project.as_str(), rev.as_str()))
        }
        _ => None,
    };
    if let Some(topic) = &settings.gerrit_topic {
        if topic.chars().any(char::is_control) {
            return Err(ResolveError::Setting(format!(
                "GERRIT_TOPIC {topic:?} contains a control character"
            )));
        }
    }
    let mut jobs = Vec::new();
    for (name, pkg) in &project.packages {
        if pkg.manifest.rev.is_some() {
            continue;
        }
        if let Some((_, rev)) = gerrit_pin.filter(|(p, _)| *p == name.as_str()) {
            out.notes
                .push(format!("Found Gerrit revision for {name}: {rev}"));
            out.revs.insert(name.clone(), rev.to_owned());
            continue;
        }
        if settings.gerrit_topic.is_some() && name.starts_with("openbmc/") {
            jobs.push(Job::Topic(name.clone()));
        }
        jobs.push(Job::Head(name.clone()));
    }
    if jobs.is_empty() {
        return Ok(out);
    }
    let rule = BranchRule::new(BranchMatch::of(project), &settings.branch)
        .map_err(ResolveError::Setting)?;
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
                    crate::shell::check_rev(&rev)
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

#[cfg(test)]
mod tests {
    use super::*;

    const LS: &str = "1111111111111111111111111111111111111111\trefs/heads/dev\n\
                      2222222222222222222222222222222222222222\trefs/heads/feature\n\
                      3333333333333333333333333333333333333333\trefs/heads/main\n\
                      4444444444444444444444444444444444444444\trefs/heads/maintenance\n\
                      5555555555555555555555555555555555555555\trefs/heads/master\n\
                      6666666666666666666666666666666666666666\trefs/heads/old-feature\n";

    fn pick(kind: BranchMatch, branch: &str, output: &str) -> Option<String> {
        BranchRule::new(kind, branch)
            .expect("rule")
            .pick(output)
            .map(|s| s[..1].to_owned())
    }

    #[test]
    fn the_2026_rule_matches_a_regex_at_the_end_and_falls_back_to_master_or_main() {
        let r = BranchMatch::RegexSuffix;
        assert_eq!(pick(r, "feature", LS).as_deref(), Some("2"));
        assert_eq!(pick(r, "ure", LS).as_deref(), Some("2"), "a suffix matches");
        assert_eq!(pick(r, "old-.*", LS).as_deref(), Some("6"), "a regex");
        assert_eq!(
            pick(r, "nope", LS).as_deref(),
            Some("3"),
            "main is listed first"
        );
        assert_eq!(pick(r, "master", LS).as_deref(), Some("5"));
        let only_master = "5555555555555555555555555555555555555555\trefs/heads/master\n";
        assert_eq!(pick(r, "nope", only_master).as_deref(), Some("5"));
        assert_eq!(pick(r, "nope", "").as_deref(), None);
        assert!(BranchRule::new(r, "feat(").is_err());
    }

    #[test]
    fn the_2021_rule_takes_the_last_line_containing_the_branch_and_only_master() {
        let r = BranchMatch::Contains;
        assert_eq!(pick(r, "feature", LS).as_deref(), Some("2"));
        assert_eq!(
            pick(r, "ure", LS).as_deref(),
            Some("5"),
            "no substring match"
        );
        assert_eq!(
            pick(r, "ma", LS).as_deref(),
            Some("5"),
            "the last of main, maintenance, master"
        );
        assert_eq!(
            pick(r, "nope", LS).as_deref(),
            Some("5"),
            "master, never main"
        );
        let only_main = "3333333333333333333333333333333333333333\trefs/heads/main\n";
        assert_eq!(pick(r, "nope", only_main), None);
        assert!(BranchRule::new(r, "feat(").is_ok(), "not a regex here");
    }
}
