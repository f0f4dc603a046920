//! A registry's prune: list its repositories (the catalog, else the names
//! the engine would push), ask [`crate::plan::prune`] which tags go, and
//! delete their manifests unless a kept tag shares them.
//!
//! Owns: [`prune_registry`] and what it reports. Must not: talk HTTP itself
//! (it goes through [`RegistryApi`]), decide the retention rule, print, or
//! delete anything in a dry run.

use crate::plan::prune::{self, Deletion, RemoteTag, Retention, Shared};
use crate::process;

use super::{ApiError, RegistryApi};

/// How the repositories to prune were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The registry's catalog, filtered by the prefix.
    Catalog,
    /// The catalog could not be read (why); these names were asked for.
    Derived(String),
}

/// One repository's plan, with its name in the registry.
#[derive(Debug, Clone)]
pub struct RepositoryOutcome {
    pub repository: String,
    pub deleted: Vec<Deletion>,
    pub shared: Vec<Shared>,
    /// Deletions that found the manifest gone already.
    pub gone: Vec<Deletion>,
    pub kept: usize,
}

/// What a registry prune did (or would do).
#[derive(Debug)]
pub struct RegistryOutcome {
    pub listed: Listed,
    pub repositories: Vec<RepositoryOutcome>,
}

/// Lists the repositories of `image` under `path` (REF's path, may be
/// empty) and prunes each: tags read, the old ones' digests deleted unless
/// a tag that stays shares them. `derived` gives the repository names
/// (under `path`, as the engine names them here) to ask for when the
/// catalog cannot be read. Stops at the first failure.
pub fn prune_registry(
    api: &dyn RegistryApi,
    path: &str,
    image: &str,
    retention: &Retention,
    dry_run: bool,
    derived: impl FnOnce() -> Vec<String>,
) -> Result<RegistryOutcome, ApiError> {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let derive = || -> Vec<String> {
        derived()
            .into_iter()
            .map(|local| format!("{prefix}{local}"))
            .collect()
    };
    let (names, listed) = match api.catalog() {
        Ok(all) => (
            all.into_iter()
                .filter(|r| {
                    r.strip_prefix(&prefix)
                        .is_some_and(|local| prune::our_repository(image, local).is_some())
                })
                .collect::<Vec<_>>(),
            Listed::Catalog,
        ),
        // A registry that keeps its catalog to itself (or to admins) is
        // asked for the repositories by name; one that wants credentials
        // nobody gave is an error.
        Err(
            e @ ApiError::Status {
                status: 403..=405, ..
            },
        ) => (derive(), Listed::Derived(e.to_string())),
        Err(e @ ApiError::Unauthorized { .. }) if api.has_credentials() => {
            (derive(), Listed::Derived(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    let mut names = names;
    names.sort();
    names.dedup();
    let mut repositories = Vec::new();
    for repository in names {
        let under = repository.strip_prefix(&prefix).unwrap_or(&repository);
        let local = prune::our_repository(image, under)
            .unwrap_or(under)
            .to_owned();
        let tags = api.tags(&repository)?;
        let any_old = tags.iter().any(|t| {
            matches!(
                prune::verdict(image, retention, &format!("{local}:{t}")),
                prune::Verdict::Old(_)
            )
        });
        let mut outcome = RepositoryOutcome {
            repository: repository.clone(),
            deleted: Vec::new(),
            shared: Vec::new(),
            gone: Vec::new(),
            kept: 0,
        };
        if !any_old {
            outcome.kept = tags
                .iter()
                .filter(|t| {
                    prune::verdict(image, retention, &format!("{local}:{t}"))
                        == prune::Verdict::Kept
                })
                .count();
            repositories.push(outcome);
            continue;
        }
        // Every tag's digest: a tag in another format may share one too.
        let mut remote = Vec::new();
        for tag in &tags {
            if let Some(digest) = api.digest(&repository, tag)? {
                remote.push(RemoteTag {
                    tag: tag.clone(),
                    digest,
                });
            }
        }
        let plan = prune::plan_repository(image, retention, &local, &remote);
        outcome.kept = plan.kept;
        outcome.shared = plan.shared;
        for deletion in plan.delete {
            if dry_run {
                outcome.deleted.push(deletion);
                continue;
            }
            if process::interrupted().is_cancelled() {
                return Err(ApiError::Cancelled);
            }
            if api.delete(&repository, &deletion.digest)? {
                outcome.deleted.push(deletion);
            } else {
                outcome.gone.push(deletion);
            }
        }
        repositories.push(outcome);
    }
    Ok(RegistryOutcome {
        listed,
        repositories,
    })
}
