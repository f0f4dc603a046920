//! The fleet cache: stages shared through an OCI registry
//! (`--cache-registry REF`), pulled on demand from the final image down and
//! pushed as they are built (`--cache-push`). Best effort throughout: a
//! registry fault is a warning and the stage is built here.
//!
//! Owns: the remote name of a stage (`REF/<local tag>`), the demand-driven
//! walk (a stage is needed when it is the final image or a dependency of a
//! stage that must be built; a needed stage is local, pulled, or built),
//! the push queue that runs beside the builds, and the warnings. Must not:
//! build, print, or talk to the engine other than through [`Registry`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use crossbeam::channel;

use crate::run::engine::{BuildRequest, CancelToken, Engine, EngineError, Registry, RegistryError};
use crate::run::lsremote::run_bounded;

/// Registry calls running at once (pulls while resolving, pushes beside
/// the builds).
pub const PARALLEL: usize = 4;

/// A stage's name in the registry.
pub fn remote_name(reference: &str, tag: &str) -> String {
    format!("{}/{tag}", reference.trim_end_matches('/'))
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
    reference: String,
    pushed: Mutex<Vec<String>>,
    failed: Mutex<BTreeMap<String, String>>,
}

impl<'r> Pusher<'r> {
    pub fn new(registry: &'r dyn Registry, reference: &str) -> Pusher<'r> {
        let (tx, rx) = channel::unbounded();
        Pusher {
            tx: Mutex::new(Some(tx)),
            rx,
            registry,
            reference: reference.to_owned(),
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
                    match self
                        .registry
                        .push(&tag, &remote_name(&self.reference, &tag))
                    {
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
    fn remote_names_keep_the_local_tag() {
        assert_eq!(
            remote_name(
                "reg.example:5000/openbmc-ci/",
                "openbmc/ubuntu-unit-test-boost:2026-W48-ab"
            ),
            "reg.example:5000/openbmc-ci/openbmc/ubuntu-unit-test-boost:2026-W48-ab"
        );
    }
}
