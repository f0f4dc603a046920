//! The fleet cache: stages shared through an OCI registry
//! (`--cache-registry REF`), pulled on demand from the final image down and
//! pushed as they are built (`--cache-push`). Best effort throughout: a
//! registry fault is a warning and the stage is built here.
//!
//! Owns: the remote name of a stage (`REF/<os>-<arch>/<local tag>`, the
//! platform as the engine says it: machines of different architectures
//! never share a stage, machines of one share all), the demand-driven
//! walk (a stage is needed when it is the final image or a dependency of a
//! stage that must be built; a needed stage is local, pulled, or built),
//! the push queue that runs beside the builds, [`CachingEngine`] (the
//! engine as the scheduler sees it in a cached run: what the walk pulled
//! counts as existing, and each build is queued for its push once it
//! ends), and the warnings. Must not: start a build of its own (builds are
//! the scheduler's, through the engine it is given), print, or call the
//! registry other than through [`Registry`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use crossbeam::channel;

use crate::run::engine::{BuildRequest, CancelToken, Engine, EngineError, Registry, RegistryError};
use crate::run::lsremote::run_bounded;

/// Registry calls running at once (pulls while resolving, pushes beside
/// the builds).
pub const PARALLEL: usize = 4;

/// Where a run's stages are in the cache registry: the reference and the
/// engine's platform. Local tags say nothing of the architecture (most
/// Dockerfiles are the same on every machine), so the remote names must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    reference: String,
    /// `linux-amd64`: the platform's parts joined by `-`.
    platform: String,
}

impl Remote {
    /// `reference` (REF, without a trailing `/`) for an engine whose
    /// platform is `said` (`linux/amd64`, as `docker version` or `podman
    /// info` put it). An answer that is no `os/arch[/variant]` of lower-case
    /// letters, digits and inner `_` is refused: a guess could share stages
    /// across architectures.
    pub fn new(reference: &str, said: &str) -> Result<Remote, String> {
        let parts: Vec<&str> = said.trim().split('/').collect();
        let component = |p: &&str| {
            !p.is_empty()
                && !p.starts_with('_')
                && !p.ends_with('_')
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(component) {
            return Err(format!(
                "{said:?} is not a platform like linux/amd64, linux/arm64 or linux/ppc64le"
            ));
        }
        Ok(Remote {
            reference: reference.trim_end_matches('/').to_owned(),
            platform: parts.join("-"),
        })
    }

    /// The reference, as given.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The platform's part of the names (`linux-amd64`).
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// A stage's name in the registry: `REF/<os>-<arch>/<local tag>`.
    pub fn name(&self, tag: &str) -> String {
        format!("{}/{}/{tag}", self.reference, self.platform)
    }
}

/// One stage as the walk sees it.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub tag: &'a str,
    /// Indexes of the stages it is built from.
    pub deps: &'a [usize],
}

/// What the walk decided for each stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It exists here already.
    Local,
    /// It came from the registry (or, in a dry run, would).
    Pulled,
    /// Neither: it must be built, and its dependencies are needed.
    Build,
    /// Nothing needs it: a stage after it was local or pulled.
    NotNeeded,
}

/// The outcome of the walk.
#[derive(Debug)]
pub struct Walk {
    pub fates: Vec<Fate>,
    /// Registry faults met (each kind once), for the summary.
    pub warnings: Vec<String>,
}

/// Walks from `final_index` down: local stages are done, the others are
/// tried on the registry with `fetch` (a pull, or a probe in a dry run),
/// `PARALLEL` at a time; a stage the registry lacks is built, which makes
/// its dependencies needed. After the first fault other than "not there",
/// the registry is not asked again in this run.
pub fn walk(
    nodes: &[Node<'_>],
    final_index: usize,
    local: &HashSet<String>,
    fetch: impl Fn(&str) -> Result<(), RegistryError> + Sync,
    cancel: &CancelToken,
) -> Walk {
    let mut fates: Vec<Option<Fate>> = vec![None; nodes.len()];
    let mut warnings = Vec::new();
    let broken = Mutex::new(None::<String>);
    let mut frontier = vec![final_index];
    while !frontier.is_empty() {
        let mut ask = Vec::new();
        for i in frontier.drain(..) {
            if fates[i].is_some() {
                continue;
            }
            if local.contains(nodes[i].tag) {
                fates[i] = Some(Fate::Local);
            } else {
                fates[i] = Some(Fate::Build); // Until the registry says otherwise.
                ask.push(i);
            }
        }
        let answers = run_bounded(ask, PARALLEL, |i| {
            let skip = cancel.is_cancelled() || lock(&broken).is_some();
            let answer = if skip {
                Err(RegistryError::NotFound)
            } else {
                fetch(nodes[i].tag)
            };
            if let Err(RegistryError::Failed(why)) = &answer {
                lock(&broken).get_or_insert_with(|| why.clone());
            }
            (i, answer.is_ok())
        });
        for (i, found) in answers {
            if found {
                fates[i] = Some(Fate::Pulled);
            } else {
                frontier.extend(nodes[i].deps.iter().copied());
            }
        }
    }
    if let Some(why) = lock(&broken).take() {
        warnings.push(format!(
            "the cache registry failed ({why}); it was not used further, the stages it \
             lacked were built here"
        ));
    }
    Walk {
        fates: fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::NotNeeded))
            .collect(),
        warnings,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Pushes built stages beside the builds, `PARALLEL` at a time. After a
/// push fails, the rest are not tried (the registry is down, or refuses).
pub struct Pusher<'r> {
    tx: Mutex<Option<channel::Sender<String>>>,
    rx: channel::Receiver<String>,
    registry: &'r dyn Registry,
    remote: Remote,
    pushed: Mutex<Vec<String>>,
    failed: Mutex<BTreeMap<String, String>>,
}

impl<'r> Pusher<'r> {
    pub fn new(registry: &'r dyn Registry, remote: Remote) -> Pusher<'r> {
        let (tx, rx) = channel::unbounded();
        Pusher {
            tx: Mutex::new(Some(tx)),
            rx,
            registry,
            remote,
            pushed: Mutex::new(Vec::new()),
            failed: Mutex::new(BTreeMap::new()),
        }
    }

    /// Queues `tag` for a push.
    pub fn submit(&self, tag: &str) {
        if let Some(tx) = lock(&self.tx).as_ref() {
            let _ = tx.send(tag.to_owned());
        }
    }

    /// Runs the pushers inside `scope` until [`close`](Self::close).
    pub fn spawn<'s>(&'s self, scope: &crossbeam::thread::Scope<'s>) {
        for _ in 0..PARALLEL {
            let rx = self.rx.clone();
            scope.spawn(move |_| {
                for tag in rx.iter() {
                    if !lock(&self.failed).is_empty() {
                        lock(&self.failed)
                            .insert(tag, "not tried after an earlier push failed".to_owned());
                        continue;
                    }
                    match self.registry.push(&tag, &self.remote.name(&tag)) {
                        Ok(()) => lock(&self.pushed).push(tag),
                        Err(e) => {
                            lock(&self.failed).insert(tag, e.to_string());
                        }
                    }
                }
            });
        }
    }

    /// No more pushes: the pushers end when the queue is empty.
    pub fn close(&self) {
        lock(&self.tx).take();
    }

    pub fn pushed(&self) -> Vec<String> {
        lock(&self.pushed).clone()
    }

    /// Failed pushes: tag → why.
    pub fn failed(&self) -> BTreeMap<String, String> {
        lock(&self.failed).clone()
    }
}

/// The engine as the scheduler sees it with a registry: stages that are
/// local, pulled or not needed count as existing; each successful build is
/// queued for a push.
pub struct CachingEngine<'a> {
    pub inner: &'a dyn Engine,
    /// Tags to report as existing.
    pub done: HashSet<String>,
    pub pusher: Option<&'a Pusher<'a>>,
}

impl Engine for CachingEngine<'_> {
    fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
        Ok(crate::run::engine::among(tags, &self.done))
    }

    fn build(
        &self,
        req: &BuildRequest<'_>,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        self.inner.build(req, on_line, cancel)?;
        if let Some(p) = self.pusher {
            p.submit(req.tag);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base ← a ← b, base ← c; final needs a, b, c.
    fn graph() -> (Vec<String>, Vec<Vec<usize>>) {
        let tags = ["base", "a", "b", "c", "final"].map(str::to_owned).to_vec();
        let deps = vec![vec![], vec![0], vec![0, 1], vec![0], vec![0, 1, 2, 3]];
        (tags, deps)
    }

    fn run(
        local: &[&str],
        remote: &[&str],
        failing: bool,
    ) -> (Vec<Fate>, Vec<String>, Vec<String>) {
        let (tags, deps) = graph();
        let nodes: Vec<Node<'_>> = tags
            .iter()
            .zip(&deps)
            .map(|(t, d)| Node { tag: t, deps: d })
            .collect();
        let local: HashSet<String> = local.iter().map(|s| (*s).to_owned()).collect();
        let asked = Mutex::new(Vec::new());
        let w = walk(
            &nodes,
            4,
            &local,
            |tag| {
                lock(&asked).push(tag.to_owned());
                if failing {
                    Err(RegistryError::Failed("connection refused".into()))
                } else if remote.contains(&tag) {
                    Ok(())
                } else {
                    Err(RegistryError::NotFound)
                }
            },
            &CancelToken::new(),
        );
        let mut asked = lock(&asked).clone();
        asked.sort();
        (w.fates, asked, w.warnings)
    }

    #[test]
    fn a_final_image_in_the_registry_is_the_only_pull() {
        let all = ["base", "a", "b", "c", "final"];
        let (fates, asked, warnings) = run(&[], &all, false);
        assert_eq!(fates[4], Fate::Pulled);
        assert!(
            fates[..4].iter().all(|f| *f == Fate::NotNeeded),
            "{fates:?}"
        );
        assert_eq!(asked, ["final"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_bump_pulls_only_what_the_rebuilt_stages_need() {
        // a changed: a, b and final are new; base and c are in the registry.
        let (fates, asked, _) = run(&[], &["base", "c"], false);
        use Fate::*;
        assert_eq!(fates, vec![Pulled, Build, Build, Pulled, Build]);
        assert_eq!(asked, ["a", "b", "base", "c", "final"]);
        // With base and c here already, nothing is pulled.
        let (fates, asked, _) = run(&["base", "c"], &["base", "c"], false);
        assert_eq!(fates, vec![Local, Build, Build, Local, Build]);
        assert_eq!(asked, ["a", "b", "final"]);
    }

    #[test]
    fn a_failing_registry_is_one_warning_and_local_builds() {
        let (fates, asked, warnings) = run(&[], &[], true);
        assert!(fates.iter().all(|f| *f == Fate::Build), "{fates:?}");
        assert_eq!(asked, ["final"], "not asked again after the fault");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("connection refused"));
    }

    #[test]
    fn remote_names_carry_the_platform_and_keep_the_local_tag() {
        let tag = "openbmc/ubuntu-unit-test-boost:2026-W48-ab";
        let name = |said: &str| {
            Remote::new("reg.example:5000/openbmc-ci/", said)
                .expect("a platform")
                .name(tag)
        };
        assert_eq!(
            name("linux/amd64"),
            "reg.example:5000/openbmc-ci/linux-amd64/openbmc/ubuntu-unit-test-boost:2026-W48-ab"
        );
        assert_eq!(
            name("linux/ppc64le\n"),
            "reg.example:5000/openbmc-ci/linux-ppc64le/openbmc/ubuntu-unit-test-boost:2026-W48-ab"
        );
        assert_eq!(
            name("linux/arm/v7"),
            "reg.example:5000/openbmc-ci/linux-arm-v7/openbmc/ubuntu-unit-test-boost:2026-W48-ab"
        );
        // The same tag on two architectures: two names; on one: one.
        assert_ne!(name("linux/amd64"), name("linux/arm64"));
        assert_eq!(name("linux/arm64"), name("linux/arm64"));
        // Each name is one a registry takes (the reference's own grammar).
        for said in [
            "linux/amd64",
            "linux/arm64",
            "linux/ppc64le",
            "linux/s390x",
            "windows/amd64",
        ] {
            let n = name(said);
            let (repo, _) = n.rsplit_once(':').expect("a tag");
            crate::check::shell::check_registry(repo).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn an_answer_that_is_no_platform_is_refused() {
        for said in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "Linux/AMD64",
            "linux/amd 64",
            "linux/amd64/v8/x",
            "linux/_x",
            "linux/{{.Server.Arch}}",
            "<no value>/<no value>",
            "linux/../x",
        ] {
            let err = Remote::new("reg:5000/ci", said).expect_err(said);
            assert!(
                err.contains("not a platform like linux/amd64"),
                "{said}: {err}"
            );
        }
    }

    /// Two machines of different architectures, one registry: each pushes
    /// what it built under its own platform, and neither finds the other's.
    #[test]
    fn two_architectures_share_nothing_and_one_shares_everything() {
        let (tags, deps) = graph();
        let nodes: Vec<Node<'_>> = tags
            .iter()
            .zip(&deps)
            .map(|(t, d)| Node { tag: t, deps: d })
            .collect();
        let registry: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        let machine = |said: &str| {
            let remote = Remote::new("reg:5000/ci", said).expect("platform");
            let w = walk(
                &nodes,
                4,
                &HashSet::new(),
                |tag| {
                    if lock(&registry).contains(&remote.name(tag)) {
                        Ok(())
                    } else {
                        Err(RegistryError::NotFound)
                    }
                },
                &CancelToken::new(),
            );
            // Everything built is pushed under this machine's names.
            for (tag, fate) in tags.iter().zip(&w.fates) {
                if *fate == Fate::Build {
                    lock(&registry).insert(remote.name(tag));
                }
            }
            w.fates
        };
        use Fate::*;
        assert_eq!(machine("linux/amd64"), vec![Build; 5]);
        assert_eq!(machine("linux/arm64"), vec![Build; 5], "nothing crosses");
        assert_eq!(
            machine("linux/amd64"),
            vec![NotNeeded, NotNeeded, NotNeeded, NotNeeded, Pulled],
            "the same architecture shares all"
        );
        assert_eq!(lock(&registry).len(), 10);
    }
}
