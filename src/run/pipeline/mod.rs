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
use crate::run::revs::{self, LookupFailure, Resolution, ResolveError};
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
        failures: Vec<(String, LookupFailure)>,
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
mod tests;
