//! One build, from the checked project to each stage's outcome: look up
//! the unpinned revisions, render, ask the engine once which tags exist,
//! walk the cache registry (`--cache-registry`), build the rest on the
//! scheduler (pushing beside the builds with `--cache-push`), and record
//! what now exists in the store. With unpinned packages (and no cache
//! registry or dry run), what needs no lookup builds while the lookups run.
//!
//! Every run says where its revisions came from (the resolution's notes
//! and warnings) as soon as the lookups are in: before any stage that uses
//! them starts, on both paths (the base and the pinned packages may be
//! building already when the lookups run beside them).
//!
//! Owns: the order of a build's phases, the values derived from the
//! [`BuildConfig`] (the proxy build arguments, the scheduler's options,
//! the expected durations), and the cache registry's part of the outcome.
//! Must not: read flags or the environment (the edge makes the config
//! once, `crate::commands`), or print: what the user should hear goes to
//! the [`Reporter`], what the run ended with comes back as [`Ran`].

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::project::Project;
use crate::model::settings::Settings;
use crate::plan::render::{Plan, RenderError};
use crate::run::engine::{CancelToken, DockerCli, Engine, EngineError, Registry, RegistryError};
use crate::run::registry::{self, CachingEngine, Fate, Node, Pusher, Remote};
use crate::run::revs::{self, Resolution, ResolveError};
use crate::run::scheduler::{self, Job, Late, Options, Outcome, SchedulerError, Spec};
use crate::run::store::{self, Store};

/// Everything a build reads besides the project, made once at the edge
/// from the flags and the environment.
pub struct BuildConfig {
    pub settings: Settings,
    /// Where the unpinned packages' repositories are (`--git-base-url`).
    pub git_base: String,
    /// At most this many builds at once (`--jobs`); None: no limit.
    pub jobs: Option<usize>,
    /// Each build's output also goes to `DIR/<stage>.log` (`--log-dir`).
    pub log_dir: Option<PathBuf>,
    /// Stop a build that runs longer than this (`--stage-timeout`).
    pub stage_timeout: Option<Duration>,
    /// The cache registry, checked (`--cache-registry`, `--cache-push`).
    pub cache: Option<CacheConfig>,
    /// Say what would happen, build nothing (`--dry-run`).
    pub dry_run: bool,
    /// This root's build store: build times read, the new stages recorded.
    /// None in a dry run, or with no folder to keep it in.
    pub store: Option<Store>,
    /// The run's "stop now" (a signal).
    pub cancel: CancelToken,
}

/// The cache registry of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// REF, without a trailing `/`.
    pub reference: String,
    /// Push the stages built here (`--cache-push`).
    pub push: bool,
}

impl BuildConfig {
    /// The original's proxy build arguments (each becomes `--build-arg A`):
    /// both proxies when http_proxy is set (the settings give https_proxy
    /// http_proxy's value when it is not set itself).
    pub fn build_args(&self) -> Vec<String> {
        match (&self.settings.http_proxy, &self.settings.https_proxy) {
            (Some(http), Some(https)) => {
                vec![format!("http_proxy={http}"), format!("https_proxy={https}")]
            }
            _ => Vec::new(),
        }
    }
}

/// What a build asks the engine besides [`Engine`]: every tag here (to
/// check tags that arrive late without asking again) and its platform (the
/// cache registry keeps stages apart by it).
pub trait Images: Engine {
    /// Every `repository:tag` here, one engine call.
    fn local_tags(&self) -> Result<HashSet<String>, EngineError>;
    /// The platform the engine builds for (`linux/amd64`).
    fn platform(&self) -> Result<String, EngineError>;
}

impl Images for DockerCli {
    fn local_tags(&self) -> Result<HashSet<String>, EngineError> {
        DockerCli::local_tags(self)
    }
    fn platform(&self) -> Result<String, EngineError> {
        DockerCli::platform(self)
    }
}

/// Hears what a build has to say: the scheduler's events, and the lines
/// around them.
pub trait Reporter: scheduler::Reporter {
    /// A line for the user now (no newline): where a revision came from,
    /// what the cache registry is asked. Also while builds run.
    fn say(&self, line: &str);
    /// The stages are known; the scheduler's events for them follow.
    fn begin(&self, jobs: &[Job]);
    /// The builds are over (before the summary).
    fn end(&self);
}

/// Which phase a signal stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    RevisionLookups,
    Build,
}

/// Why a build did not get to run its stages.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("interrupted")]
    Interrupted(Phase),
    /// A setting (BRANCH, GERRIT_…) is unusable.
    #[error("{0}")]
    RevisionSetting(String),
    /// These packages' lookups failed: (package, why).
    #[error("{} revision lookup(s) failed", failures.len())]
    RevisionLookups {
        failures: Vec<(String, String)>,
        git_base: String,
    },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
}

/// How a build ended, for the edge to print.
#[derive(Debug)]
pub enum Ran {
    /// `--dry-run`: each stage's fate, nothing built.
    Dry(DryRun),
    /// The stages ran (also when some failed, or a signal stopped them).
    Built(Built),
}

#[derive(Debug)]
pub struct DryRun {
    pub jobs: Vec<Job>,
    pub fates: Vec<Fate>,
    /// A cache registry was asked.
    pub registry: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub struct Built {
    /// The rendered plan (the build-ahead plan's labels when a signal
    /// stopped the lookups: the summary reads only those).
    pub plan: Plan,
    pub jobs: Vec<Job>,
    /// One per stage; `Pulled` and `NotNeeded` from the registry's walk.
    pub outcomes: Vec<Outcome>,
    /// The tags pushed to the cache registry.
    pub pushed: HashSet<String>,
    /// `cache: pushed N stage(s) to REF`, when pushing.
    pub cache_line: Option<String>,
    /// The registry's warnings (the store's are the edge's to add).
    pub warnings: Vec<String>,
}

/// Runs the build of `project` as `config` says, on `engine` (its
/// registry access is `registry`), telling `reporter`.
pub fn build<E: Images, R: Reporter>(
    project: Project,
    config: &mut BuildConfig,
    engine: &E,
    registry: &dyn Registry,
    reporter: &R,
) -> Result<Ran, PipelineError> {
    // The base and the pinned packages build while the other revisions are
    // looked up, unless every tag is needed first: by a cache registry's
    // walk, or to say what would happen (--dry-run).
    if config.cache.is_none() && !config.dry_run && project.unpinned().next().is_some() {
        // A setting that no lookup can use fails before anything starts.
        revs::check_settings(&project, &config.settings).map_err(PipelineError::RevisionSetting)?;
        return build_ahead(&project, config, engine, reporter).map(Ran::Built);
    }
    let resolution = look_up(&project, &config.settings, &config.git_base, &config.cancel)?;
    say_resolution(&resolution, reporter);
    let plan = crate::plan::render::render(&project, &resolution.revs, &config.settings)?;
    // The plan is all a build needs from here: the loaded project (every
    // manifest's text and tree) would only hold memory.
    drop(project);
    let jobs = jobs_of(&plan);
    let mut warnings = Vec::new();
    let remote = match &config.cache {
        Some(cache) => remote_of(engine, &cache.reference, &mut warnings)?,
        None => None,
    };
    let cancel = config.cancel.clone();
    // What is here, and (with a cache registry) what comes from it.
    let local = existing(engine, &jobs, &config.settings)?;
    if config.dry_run {
        let fates = match (&remote, config.settings.force) {
            (Some(remote), false) => {
                let walk = walk(&jobs, &local, &cancel, |tag| {
                    match registry.probe(&remote.name(tag)) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(RegistryError::NotFound),
                        Err(e) => Err(e),
                    }
                });
                warnings.extend(walk.warnings);
                walk.fates
            }
            _ => here_or_build(&jobs, &local),
        };
        return Ok(Ran::Dry(DryRun {
            jobs,
            fates,
            registry: remote.is_some(),
            warnings,
        }));
    }
    let fates = match (&remote, config.settings.force) {
        (Some(remote), false) => {
            reporter.say(&format!(
                "cache: asking {} for the {} stages needed and missing here",
                remote.reference(),
                remote.platform()
            ));
            let walk = walk(&jobs, &local, &cancel, |tag| {
                registry.pull(&remote.name(tag), tag)
            });
            let pulled = walk.fates.iter().filter(|f| **f == Fate::Pulled).count();
            reporter.say(&format!("cache: pulled {pulled} stage(s)"));
            warnings.extend(walk.warnings);
            walk.fates
        }
        _ => here_or_build(&jobs, &local),
    };
    let done: HashSet<String> = jobs
        .iter()
        .zip(&fates)
        .filter(|(_, f)| **f != Fate::Build)
        .map(|(j, _)| j.tag.clone())
        .collect();
    // A registry that failed while pulling is not pushed to either.
    let push = config.cache.as_ref().is_some_and(|c| c.push);
    let registry_failed = !warnings.is_empty();
    if registry_failed && push {
        if let Some(w) = warnings.last_mut() {
            w.push_str("; nothing is pushed in this run");
        }
    }
    let pusher = match (&remote, push && !registry_failed) {
        (Some(remote), true) => Some(Pusher::new(registry, remote.clone())),
        _ => None,
    };
    let caching = CachingEngine {
        inner: engine,
        done,
        pusher: pusher.as_ref(),
    };
    let options = options(config, &jobs);
    reporter.begin(&jobs);
    // The scheduler sees stages that are here, pulled or not needed as
    // existing (with --force: none); pushes run beside the builds.
    let outcomes = crossbeam::scope(|scope| {
        if let Some(p) = &pusher {
            p.spawn(scope);
        }
        let outcomes = scheduler::run(&jobs, &caching, &options, reporter, &cancel);
        if let Some(p) = &pusher {
            p.close();
        }
        outcomes
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    reporter.end();
    let mut outcomes = outcomes?;
    if remote.is_some() {
        for (outcome, fate) in outcomes.iter_mut().zip(&fates) {
            if *outcome == Outcome::Cached {
                match fate {
                    Fate::Pulled => *outcome = Outcome::Pulled,
                    Fate::NotNeeded => *outcome = Outcome::NotNeeded,
                    _ => {}
                }
            }
        }
    }
    let mut built = Built {
        plan,
        jobs,
        outcomes,
        pushed: HashSet::new(),
        cache_line: None,
        warnings,
    };
    if let (Some(p), Some(cache)) = (&pusher, &config.cache) {
        built.pushed = p.pushed().into_iter().collect();
        let reference = &cache.reference;
        built.cache_line = Some(format!(
            "cache: pushed {} stage(s) to {reference}",
            built.pushed.len()
        ));
        let failed = p.failed();
        if let Some((tag, why)) = failed.iter().find(|(_, w)| !w.starts_with("not tried")) {
            built.warnings.push(format!(
                "{} stage(s) were not pushed to {reference}; the first failure, of {tag}: {why}",
                failed.len()
            ));
        }
    }
    remember(&built, config.store.as_mut());
    Ok(Ran::Built(built))
}

/// Builds while the unpinned packages' revisions are looked up: the stages
/// that need no lookup (the base first) start at once, each of the others
/// when its dependencies are built and the revisions are in. One engine
/// call lists the images here; a failed lookup stops the builds.
fn build_ahead<E: Images, R: Reporter>(
    project: &Project,
    config: &mut BuildConfig,
    engine: &E,
    reporter: &R,
) -> Result<Built, PipelineError> {
    let (ahead, waits) = crate::plan::render::render_ahead(project, &config.settings)?;
    let jobs = jobs_of(&ahead);
    let options = options(config, &jobs);
    let shared: &BuildConfig = config;
    let settings = &shared.settings;
    let local = if settings.force {
        HashSet::new()
    } else {
        engine.local_tags()?
    };
    let caching = CachingEngine {
        inner: engine,
        done: local,
        pusher: None,
    };
    // Cancelled on a signal, or alone when the lookups fail.
    let cancel = shared.cancel.child();
    let git_base = shared.git_base.as_str();
    let (specs_tx, specs) = crossbeam::channel::bounded(1);
    let late = Late {
        pending: waits.clone(),
        specs,
    };
    reporter.begin(&jobs);
    let (outcomes, looked_up) = crossbeam::scope(|scope| {
        let cancel_on_failure = cancel.clone();
        let lookups_cancel = shared.cancel.clone();
        let lookups = scope.spawn(move |_| {
            let looked_up =
                look_up(project, settings, git_base, &lookups_cancel).and_then(|resolution| {
                    let plan = crate::plan::render::render(project, &resolution.revs, settings)?;
                    Ok((resolution, plan))
                });
            let message = match &looked_up {
                Ok((resolution, plan)) => {
                    // Before the specs go out: before any stage that uses
                    // these revisions starts.
                    say_resolution(resolution, reporter);
                    Ok(waits
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| **w)
                        .map(|(job, _)| Spec {
                            job,
                            tag: plan.stages[job].tag.clone(),
                            dockerfile: plan.stages[job].dockerfile.clone(),
                        })
                        .collect())
                }
                Err(_) => {
                    cancel_on_failure.cancel();
                    Err("its revision could not be looked up".to_owned())
                }
            };
            let _ = specs_tx.send(message);
            looked_up.map(|(_, plan)| plan)
        });
        let outcomes =
            scheduler::run_late(&jobs, Some(late), &caching, &options, reporter, &cancel);
        (outcomes, lookups.join())
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let looked_up = looked_up.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    reporter.end();
    let plan = match looked_up {
        Ok(plan) => plan,
        // Stopped by a signal: the summary of what ran, as in any phase.
        Err(_) if shared.cancel.is_cancelled() => ahead,
        Err(e) => return Err(e),
    };
    let built = Built {
        // The labels are the same in both plans: the summary reads only those.
        plan,
        jobs,
        outcomes: outcomes?,
        pushed: HashSet::new(),
        cache_line: None,
        warnings: Vec::new(),
    };
    remember(&built, config.store.as_mut());
    Ok(built)
}

/// The revisions of the unpinned packages (`crate::run::revs::resolve`),
/// with the errors a build reports: interrupted (when `cancel` is set), a
/// bad setting, or the failed lookups. What `render` and `build` share.
pub fn look_up(
    project: &Project,
    settings: &Settings,
    git_base: &str,
    cancel: &CancelToken,
) -> Result<Resolution, PipelineError> {
    let resolution = revs::resolve(project, settings, git_base);
    if cancel.is_cancelled() {
        return Err(PipelineError::Interrupted(Phase::RevisionLookups));
    }
    resolution.map_err(|e| match e {
        ResolveError::Setting(why) => PipelineError::RevisionSetting(why),
        ResolveError::Lookups(failures) => PipelineError::RevisionLookups {
            failures,
            git_base: git_base.to_owned(),
        },
    })
}

/// Where the revisions came from, when not the branch heads, and the
/// lookups that failed without failing the run.
fn say_resolution(resolution: &Resolution, reporter: &dyn Reporter) {
    for note in &resolution.notes {
        reporter.say(note);
    }
    for warning in &resolution.warnings {
        reporter.say(&format!("warning: {warning}"));
    }
}

/// Which of the jobs' tags exist here: one engine call (none with --force).
fn existing(
    engine: &dyn Engine,
    jobs: &[Job],
    settings: &Settings,
) -> Result<HashSet<String>, EngineError> {
    if settings.force {
        return Ok(HashSet::new());
    }
    let tags: Vec<&str> = jobs.iter().map(|j| j.tag.as_str()).collect();
    engine.existing_tags(&tags)
}

/// The run's place in the cache registry `reference`: the engine is asked
/// its platform, once. An engine that cannot say is one warning and no
/// registry in this run (a guess could pull another architecture's
/// stages); a signal stops the run.
fn remote_of(
    engine: &dyn Images,
    reference: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Remote>, PipelineError> {
    let said = match engine.platform() {
        Ok(said) => Remote::new(reference, &said),
        Err(EngineError::Cancelled) => return Err(PipelineError::Interrupted(Phase::Build)),
        Err(e) => Err(e.to_string()),
    };
    match said {
        Ok(remote) => Ok(Some(remote)),
        Err(why) => {
            warnings.push(format!(
                "the cache registry {reference} was not used: its stages are kept apart by \
                 platform, and {why}; every stage missing here is built here"
            ));
            Ok(None)
        }
    }
}

/// How the scheduler runs this build.
fn options(config: &mut BuildConfig, jobs: &[Job]) -> Options {
    Options {
        jobs: config.jobs,
        force: config.settings.force,
        build_args: config.build_args(),
        log_dir: config.log_dir.clone(),
        stage_timeout: config.stage_timeout,
        expected: config
            .store
            .as_mut()
            .and_then(|s| expected_durations(jobs, s)),
    }
}

/// The scheduler's view of the plan.
fn jobs_of(plan: &Plan) -> Vec<Job> {
    plan.stages
        .iter()
        .map(|s| Job {
            stage: s.name.clone(),
            label: s.label.clone(),
            tag: s.tag.clone(),
            dockerfile: s.dockerfile.clone(),
            deps: s.deps.clone(),
        })
        .collect()
}

/// Without a cache registry: each stage is here, or is built.
fn here_or_build(jobs: &[Job], local: &HashSet<String>) -> Vec<Fate> {
    jobs.iter()
        .map(|j| {
            if local.contains(&j.tag) {
                Fate::Local
            } else {
                Fate::Build
            }
        })
        .collect()
}

/// The demand-driven walk over the plan's stages (the final stage last).
fn walk(
    jobs: &[Job],
    local: &HashSet<String>,
    cancel: &CancelToken,
    fetch: impl Fn(&str) -> Result<(), RegistryError> + Sync,
) -> registry::Walk {
    let nodes: Vec<Node<'_>> = jobs
        .iter()
        .map(|j| Node {
            tag: &j.tag,
            deps: &j.deps,
        })
        .collect();
    registry::walk(&nodes, jobs.len() - 1, local, fetch, cancel)
}

/// How long each stage took when this root last built it (the mean of
/// the known ones for the others), or None when nothing is known.
fn expected_durations(jobs: &[Job], store: &mut Store) -> Option<Vec<Duration>> {
    let stages: Vec<&str> = jobs.iter().map(|j| j.stage.as_str()).collect();
    let known = store.seconds(&stages);
    let values: Vec<f64> = known.iter().flatten().copied().collect();
    if values.is_empty() {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Some(
        known
            .into_iter()
            .map(|k| Duration::try_from_secs_f64(k.unwrap_or(mean)).unwrap_or_default())
            .collect(),
    )
}

/// Records every stage that now exists here, with the build time of those
/// this run built (best effort: the store's trouble is its warning).
fn remember(built: &Built, store: Option<&mut Store>) {
    let Some(store) = store else {
        return;
    };
    let entries: Vec<store::Entry<'_>> = built
        .plan
        .stages
        .iter()
        .zip(&built.outcomes)
        .filter(|(_, o)| o.is_success())
        .map(|(stage, outcome)| store::Entry {
            stage: &stage.name,
            tag: &stage.tag,
            dockerfile: &stage.dockerfile,
            seconds: match outcome {
                Outcome::Built { elapsed } => Some(elapsed.as_secs_f64()),
                _ => None,
            },
        })
        .collect();
    store.record(&entries, unix_now());
}

/// Now, in Unix seconds (0 before 1970).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::{IsoWeek, User};
    use crate::run::engine::fake::FakeEngine;
    use crate::run::engine::BuildRequest;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::{Mutex, PoisonError};

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fake engine, with what is here, its platform and a registry.
    struct Host {
        engine: FakeEngine,
        here: HashSet<String>,
        /// Tags (local names) the registry has.
        remote: HashSet<String>,
        pulled: Mutex<Vec<String>>,
        pushed: Mutex<Vec<String>>,
        local_tags_calls: Mutex<usize>,
    }

    impl Host {
        fn new(here: &[&str], remote: &[&str]) -> Host {
            let here: HashSet<String> = here.iter().map(|t| (*t).to_owned()).collect();
            Host {
                engine: FakeEngine::new().with_existing(here.clone()),
                here,
                remote: remote.iter().map(|t| (*t).to_owned()).collect(),
                pulled: Mutex::new(Vec::new()),
                pushed: Mutex::new(Vec::new()),
                local_tags_calls: Mutex::new(0),
            }
        }
        fn local(remote: &str) -> &str {
            remote
                .strip_prefix("reg.test/ci/linux-amd64/")
                .unwrap_or(remote)
        }
    }

    impl Engine for Host {
        fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
            self.engine.existing_tags(tags)
        }
        fn build(
            &self,
            req: &BuildRequest<'_>,
            on_line: &mut dyn FnMut(&str),
            cancel: &CancelToken,
        ) -> Result<(), EngineError> {
            self.engine.build(req, on_line, cancel)
        }
    }

    impl Images for Host {
        fn local_tags(&self) -> Result<HashSet<String>, EngineError> {
            *lock(&self.local_tags_calls) += 1;
            Ok(self.here.clone())
        }
        fn platform(&self) -> Result<String, EngineError> {
            Ok("linux/amd64".to_owned())
        }
    }

    impl Registry for Host {
        fn pull(&self, remote: &str, _local: &str) -> Result<(), RegistryError> {
            assert!(remote.starts_with("reg.test/ci/linux-amd64/"), "{remote}");
            if self.remote.contains(Host::local(remote)) {
                lock(&self.pulled).push(Host::local(remote).to_owned());
                Ok(())
            } else {
                Err(RegistryError::NotFound)
            }
        }
        fn push(&self, local: &str, _remote: &str) -> Result<(), RegistryError> {
            lock(&self.pushed).push(local.to_owned());
            Ok(())
        }
        fn probe(&self, remote: &str) -> Result<bool, RegistryError> {
            Ok(self.remote.contains(Host::local(remote)))
        }
    }

    /// Every event, in order: `say …`, `begin`, `started <stage>`, `end`…
    #[derive(Default)]
    struct Events {
        stages: Mutex<Vec<String>>,
        seen: Mutex<Vec<String>>,
    }

    impl Events {
        fn push(&self, e: String) {
            lock(&self.seen).push(e);
        }
        fn stage(&self, job: usize) -> String {
            lock(&self.stages).get(job).cloned().unwrap_or_default()
        }
        fn seen(&self) -> Vec<String> {
            lock(&self.seen).clone()
        }
        fn at(&self, event: &str) -> usize {
            let seen = self.seen();
            seen.iter()
                .position(|e| e == event)
                .unwrap_or_else(|| panic!("no `{event}` in {seen:?}"))
        }
    }

    impl scheduler::Reporter for Events {
        fn cached(&self, job: usize, _: &str) {
            self.push(format!("cached {}", self.stage(job)));
        }
        fn started(&self, job: usize) {
            self.push(format!("started {}", self.stage(job)));
        }
        fn line(&self, _: usize, _: &str) {}
        fn finished(&self, job: usize, _: &Outcome) {
            self.push(format!("finished {}", self.stage(job)));
        }
    }

    impl Reporter for Events {
        fn say(&self, line: &str) {
            self.push(format!("say {line}"));
        }
        fn begin(&self, jobs: &[Job]) {
            *lock(&self.stages) = jobs.iter().map(|j| j.stage.clone()).collect();
            self.push("begin".to_owned());
        }
        fn end(&self) {
            self.push("end".to_owned());
        }
    }

    const PINNED: &str = "name = \"acme/widget\"\nrev = \"v1.0.0\"\nbuild_type = \"cmake\"\n";
    const UNPINNED: &str =
        "name = \"openbmc/gadget\"\nbuild_type = \"meson\"\ndepends = [\"acme/widget\"]\n";
    const PATCHSET: &str = "0123456789abcdef0123456789abcdef01234567";

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }

    /// A root with the shipped templates and these manifests, checked.
    fn project(manifests: &[&str]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tempdir");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        copy_tree(&shipped, &dir.path().join("templates"));
        std::fs::create_dir_all(dir.path().join("packages.d")).expect("mkdir");
        for text in manifests {
            let name = text.split('"').nth(1).expect("a name").replace('/', "-");
            std::fs::write(dir.path().join(format!("packages.d/{name}.toml")), text)
                .expect("write");
        }
        let checked = crate::check::check_root(dir.path());
        let project = checked.project.expect("a valid root");
        (dir, project)
    }

    fn settings() -> Settings {
        Settings {
            image_name: "openbmc/ubuntu-unit-test".to_owned(),
            force: false,
            ci_build: false,
            distro: None,
            branch: "master".to_owned(),
            ubuntu_mirror: None,
            http_proxy: Some("http://proxy:3128".to_owned()),
            https_proxy: Some("http://proxy:3128".to_owned()),
            docker_reg: None,
            gerrit_project: Some("openbmc/gadget".to_owned()),
            gerrit_rev: Some(PATCHSET.to_owned()),
            gerrit_topic: None,
            gerrit_url: String::new(),
            gerrit_timeout: Duration::from_secs(1),
            cpus: 2,
            user: User {
                name: "root".to_owned(),
                home: "/root".to_owned(),
                uid: 0,
                gid: 0,
            },
            arch: "x86_64".to_owned(),
            week: IsoWeek {
                year: 2021,
                week: 6,
            },
            base_image: None,
        }
    }

    fn config_with(store: Option<Store>) -> BuildConfig {
        BuildConfig {
            settings: settings(),
            // No lookup may run: a lookup here fails.
            git_base: "/nonexistent/git".to_owned(),
            jobs: Some(2),
            log_dir: None,
            stage_timeout: None,
            cache: None,
            dry_run: false,
            store,
            cancel: CancelToken::new(),
        }
    }

    /// The tags the run will use (rendered with the Gerrit pin).
    fn tags(project: &Project) -> BTreeMap<String, String> {
        let revs = project
            .unpinned()
            .map(|n| (n.to_owned(), PATCHSET.to_owned()))
            .collect();
        let plan = crate::plan::render::render(project, &revs, &settings()).expect("renders");
        plan.stages.into_iter().map(|s| (s.name, s.tag)).collect()
    }

    fn built(ran: Ran) -> Built {
        match ran {
            Ran::Built(b) => b,
            Ran::Dry(d) => panic!("a dry run: {d:?}"),
        }
    }

    const NOTE: &str =
        "say Found Gerrit revision for openbmc/gadget: 0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn the_notes_come_before_the_stages_that_use_them_on_both_paths() {
        let (_dir, p) = project(&[PINNED, UNPINNED]);
        let tags = tags(&p);
        // Without a cache registry the base and acme/widget build while the
        // revisions are looked up; with one, the lookups come first.
        for cache in [false, true] {
            let (_dir, p) = project(&[PINNED, UNPINNED]);
            let host = Host::new(&[], &[]);
            let events = Events::default();
            let mut config = config_with(None);
            if cache {
                config.cache = Some(CacheConfig {
                    reference: "reg.test/ci".to_owned(),
                    push: false,
                });
            }
            let b = built(build(p, &mut config, &host, &host, &events).expect("runs"));
            assert!(
                b.outcomes.iter().all(Outcome::is_success),
                "{:?}",
                b.outcomes
            );
            let seen = events.seen();
            assert_eq!(seen.iter().filter(|e| *e == NOTE).count(), 1, "{seen:?}");
            assert!(
                events.at(NOTE) < events.at("started openbmc-gadget"),
                "cache {cache}: {seen:?}"
            );
            assert!(events.at(NOTE) < events.at("started final"), "{seen:?}");
            assert!(events.at(NOTE) < events.at("end"), "{seen:?}");
            let gadget = b.plan.stage("openbmc-gadget").expect("stage");
            assert_eq!(gadget.tag, tags["openbmc-gadget"], "the pinned patchset");
            if cache {
                // Every stage is needed first: nothing starts before the notes.
                assert!(events.at(NOTE) < events.at("begin"), "{seen:?}");
            } else {
                assert!(events.at("started base") < events.at("end"), "{seen:?}");
                assert_eq!(*lock(&host.local_tags_calls), 1, "one image listing");
            }
        }
    }

    #[test]
    fn what_is_here_is_kept_the_rest_built_with_the_proxies_and_recorded() {
        let (_dir, p) = project(&[PINNED]);
        let tags = tags(&p);
        let host = Host::new(&[tags["base"].as_str()], &[]);
        let data = tempfile::tempdir().expect("tempdir");
        let store = Store::open(data.path(), key("/root"), store::Mode::Write);
        let mut config = config_with(Some(store));
        let b = built(build(p, &mut config, &host, &host, &Events::default()).expect("runs"));
        let kinds: Vec<&str> = b
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Cached => "cached",
                Outcome::Built { .. } => "built",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            ["cached", "built", "built"],
            "base, acme-widget, final"
        );
        let builds = host.engine.builds();
        assert_eq!(builds.len(), 2);
        for record in &builds {
            assert_eq!(
                record.build_args,
                [
                    "http_proxy=http://proxy:3128",
                    "https_proxy=http://proxy:3128"
                ]
            );
        }
        assert!(b.cache_line.is_none() && b.warnings.is_empty());
        // The built stages' times are this root's next priorities.
        let store = config.store.as_mut().expect("store");
        let secs = store.seconds(&["base", "acme-widget", "final"]);
        assert!(
            secs[0].is_none() && secs[1].is_some() && secs[2].is_some(),
            "{secs:?}"
        );
    }

    #[test]
    fn the_registry_is_walked_from_the_final_image_and_built_stages_are_pushed() {
        let (_dir, p) = project(&[PINNED]);
        let tags = tags(&p);
        let reg = Some(CacheConfig {
            reference: "reg.test/ci".to_owned(),
            push: true,
        });
        // The registry has what final is built from: final is built here.
        let host = Host::new(&[], &[tags["base"].as_str(), tags["acme-widget"].as_str()]);
        let mut config = config_with(None);
        config.cache = reg.clone();
        let events = Events::default();
        let b = built(build(p, &mut config, &host, &host, &events).expect("runs"));
        assert_eq!(
            b.outcomes[..2],
            [Outcome::Pulled, Outcome::Pulled],
            "{:?}",
            b.outcomes
        );
        assert!(matches!(b.outcomes[2], Outcome::Built { .. }));
        assert_eq!(host.engine.build_order(), ["final"]);
        assert_eq!(*lock(&host.pushed), [tags["final"].clone()]);
        assert_eq!(b.pushed, HashSet::from([tags["final"].clone()]));
        assert_eq!(
            b.cache_line.as_deref(),
            Some("cache: pushed 1 stage(s) to reg.test/ci")
        );
        let asked =
            "say cache: asking reg.test/ci for the linux-amd64 stages needed and missing here";
        assert!(events.at(asked) < events.at("say cache: pulled 2 stage(s)"));
        assert!(events.at("say cache: pulled 2 stage(s)") < events.at("begin"));

        // A dry run with the final image in the registry: only it would
        // come, and nothing is built, pulled or pushed.
        let (_dir, p) = project(&[PINNED]);
        let host = Host::new(&[], &[tags["final"].as_str()]);
        let mut config = config_with(None);
        config.cache = reg;
        config.dry_run = true;
        let Ran::Dry(dry) = build(p, &mut config, &host, &host, &Events::default()).expect("runs")
        else {
            panic!("not a dry run");
        };
        assert_eq!(dry.fates, [Fate::NotNeeded, Fate::NotNeeded, Fate::Pulled]);
        assert!(dry.registry);
        assert!(host.engine.builds().is_empty() && lock(&host.pulled).is_empty());
        assert!(lock(&host.pushed).is_empty());
    }

    #[test]
    fn a_failed_lookup_stops_the_build_and_names_the_package() {
        let (_dir, p) = project(&[PINNED, UNPINNED]);
        let host = Host::new(&[], &[]);
        let mut config = config_with(None);
        config.settings.gerrit_project = None;
        config.settings.gerrit_rev = None;
        let e = build(p, &mut config, &host, &host, &Events::default()).expect_err("fails");
        match e {
            PipelineError::RevisionLookups { failures, git_base } => {
                assert_eq!(git_base, "/nonexistent/git");
                let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["openbmc/gadget"]);
            }
            other => panic!("{other:?}"),
        }
        let built = host.engine.build_order();
        assert!(!built.contains(&"openbmc-gadget".to_owned()), "{built:?}");
        assert!(!built.contains(&"final".to_owned()), "{built:?}");
    }

    #[test]
    fn build_args_are_both_proxies_only_with_http_proxy() {
        let mut config = config_with(None);
        assert_eq!(
            config.build_args(),
            [
                "http_proxy=http://proxy:3128",
                "https_proxy=http://proxy:3128"
            ]
        );
        config.settings.http_proxy = None;
        assert!(
            config.build_args().is_empty(),
            "https_proxy alone is not passed"
        );
    }

    fn job(stage: &str) -> Job {
        Job {
            stage: stage.to_owned(),
            label: stage.to_owned(),
            tag: format!("img-{stage}:w-1"),
            dockerfile: "FROM x\n".to_owned(),
            deps: Vec::new(),
        }
    }

    fn key(root: &str) -> store::Key {
        store::Key {
            root: root.to_owned(),
            image: "img".to_owned(),
            branch: String::new(),
        }
    }

    #[test]
    fn the_priorities_read_only_this_roots_build_times() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = |root: &str, times: &[(&str, f64)]| {
            let mut s = Store::open(dir.path(), key(root), store::Mode::Write);
            let tags: Vec<String> = times
                .iter()
                .map(|(st, _)| format!("img-{st}:w-1"))
                .collect();
            let entries: Vec<store::Entry<'_>> = times
                .iter()
                .zip(&tags)
                .map(|((stage, secs), tag)| store::Entry {
                    stage,
                    tag,
                    dockerfile: "FROM x\n",
                    seconds: Some(*secs),
                })
                .collect();
            s.record(&entries, 1000);
        };
        record("/other", &[("base", 900.0), ("a", 800.0), ("b", 700.0)]);
        record("/this", &[("base", 10.0), ("a", 30.0)]);
        let jobs = [job("base"), job("a"), job("b")];
        let mut this = Store::open(dir.path(), key("/this"), store::Mode::Write);
        let secs: Vec<u64> = expected_durations(&jobs, &mut this)
            .expect("known")
            .iter()
            .map(Duration::as_secs)
            .collect();
        // b: unknown to this root, so the mean of its known ones.
        assert_eq!(secs, [10, 30, 20]);
        let mut fresh = Store::open(dir.path(), key("/fresh"), store::Mode::Write);
        assert_eq!(expected_durations(&jobs, &mut fresh), None);
    }
}
