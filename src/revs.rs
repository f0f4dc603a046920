//! Resolving the revisions of unpinned packages: GERRIT_PROJECT's patchset,
//! else the head of BRANCH (else master, else main) from `git ls-remote
//! --heads`, looked up in parallel through the `git` on PATH.
//!
//! Owns: the edge between the plan and git. Must not: render anything.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::lsremote;
use crate::settings::Settings;
use crate::validate::Project;

/// How long one lookup may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Lookups running at once.
const PARALLEL: usize = 16;

/// The repository URL of a package on a git server.
pub fn repo_url(git_base: &str, package: &str) -> String {
    format!("{}/{package}", git_base.trim_end_matches('/'))
}

/// Revisions for every package without a `rev`. Errors name the package
/// and the command that failed, one per failed lookup.
pub fn resolve(
    project: &Project,
    settings: &Settings,
    git_base: &str,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut resolved = BTreeMap::new();
    let mut lookups = Vec::new();
    for (name, pkg) in &project.packages {
        if pkg.manifest.rev.is_some() {
            continue;
        }
        match (&settings.gerrit_project, &settings.gerrit_rev) {
            (Some(project), Some(rev)) if project == name => {
                resolved.insert(name.clone(), rev.clone());
            }
            _ => lookups.push(name.clone()),
        }
    }
    if let (Some(project), Some(rev)) = (&settings.gerrit_project, &settings.gerrit_rev) {
        if let Err(why) = crate::shell::check_rev(rev) {
            return Err(vec![format!(
                "GERRIT_PATCHSET_REVISION `{rev}` for {project} {why}"
            )]);
        }
    }
    let git = Path::new("git");
    let branch = settings.branch.as_str();
    let results = lsremote::run_bounded(lookups, PARALLEL, |name: String| {
        let url = repo_url(git_base, &name);
        let outcome = lsremote::ls_remote(git, &url, &["--heads"], TIMEOUT)
            .map_err(|e| e.to_string())
            .and_then(|out| {
                let refs = lsremote::parse(&out);
                lsremote::head_of(&refs, branch)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        let mut wanted: Vec<String> = Vec::new();
                        for b in [branch, "master", "main"] {
                            let b = format!("`{b}`");
                            if !wanted.contains(&b) {
                                wanted.push(b);
                            }
                        }
                        format!(
                            "`git ls-remote --heads {url}` lists no branch {}",
                            wanted.join(" or ")
                        )
                    })
            });
        (name, outcome)
    });
    let mut errors = Vec::new();
    for (name, outcome) in results {
        match outcome {
            Ok(rev) => {
                resolved.insert(name, rev);
            }
            Err(e) => errors.push(format!("cannot resolve the revision of {name}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}
