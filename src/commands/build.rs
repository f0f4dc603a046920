//! `build` (and the bare command): render every stage, ask the engine once
//! which tags exist, build the rest on the scheduler, print the final tag.
//! With unpinned packages (and no cache registry or --dry-run), what needs
//! no lookup builds while the lookups run (`build_ahead`). With a cache
//! registry the engine is also asked its platform, once: the stages' remote
//! names carry it (`crate::run::registry::Remote`).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::cli::BuildArgs;
use crate::model::project::Project;
use crate::model::settings::Settings;
use crate::plan::render::Plan;
use crate::run::engine::{CancelToken, DockerCli, Engine, EngineError, Registry};
use crate::run::progress::{summary, StderrReporter};
use crate::run::registry::{self, CachingEngine, Fate, Node, Pusher, Remote};
use crate::run::scheduler::{self, Job, Late, Options, Outcome, Spec};
use crate::run::store::{self, Store};

use super::{CmdError, Interruption, OK};

pub fn run(root: &Path, args: &BuildArgs) -> Result<(), CmdError> {
    let (project, settings) = super::prepare(root, &args.render, args.force)?;
    let cache = cache_reference(args)?;
    if let (Some(path), false) = (&args.report, args.dry_run) {
        super::report::check_writable(path).map_err(|source| CmdError::ReportUnwritable {
            path: path.clone(),
            source,
        })?;
    }
    // What this root built here: build times now, the new stages at the end.
    let mut store = if args.dry_run {
        None
    } else {
        super::open_store(root, &settings, store::Mode::Write)
    };
    // The base and the pinned packages build while the other revisions are
    // looked up, unless every tag is needed first: by a cache registry's
    // walk, or to say what would happen (--dry-run).
    if cache.is_none() && !args.dry_run && project.unpinned().next().is_some() {
        // A setting that no lookup can use fails before anything starts.
        crate::run::revs::check_settings(&project, &settings).map_err(CmdError::RevisionSetting)?;
        return build_ahead(&project, &settings, args, &engine_of(args)?, store.as_mut());
    }
    let revs = super::resolve_revs(&project, &settings, &args.render.git.git_base_url)?;
    let plan = crate::plan::render::render(&project, &revs, &settings)?;
    // The plan is all a build needs from here: the loaded project (every
    // manifest's text and tree) would only hold memory.
    drop(project);
    let engine = engine_of(args)?;
    let jobs = jobs_of(&plan);
    let mut warnings = Vec::new();
    let remote = match &cache {
        Some(reference) => remote_of(&engine, reference, &mut warnings)?,
        None => None,
    };
    if args.dry_run {
        return dry_run(&engine, &jobs, &settings, remote.as_ref(), warnings);
    }

    let cancel = crate::process::interrupted().clone();
    // What is here, and (with a cache registry) what comes from it.
    let local = if settings.force {
        Default::default()
    } else {
        let tags: Vec<&str> = jobs.iter().map(|j| j.tag.as_str()).collect();
        engine.existing_tags(&tags)?
    };
    let fates = match (&remote, settings.force) {
        (Some(remote), false) => {
            let _ = writeln!(
                std::io::stderr(),
                "cache: asking {} for the {} stages needed and missing here",
                remote.reference(),
                remote.platform()
            );
            let walk = walk(&jobs, &local, &cancel, |tag| {
                engine.pull(&remote.name(tag), tag)
            });
            let pulled = walk.fates.iter().filter(|f| **f == Fate::Pulled).count();
            let _ = writeln!(std::io::stderr(), "cache: pulled {pulled} stage(s)");
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
    let registry_failed = !warnings.is_empty();
    if registry_failed && args.cache_push {
        if let Some(w) = warnings.last_mut() {
            w.push_str("; nothing is pushed in this run");
        }
    }
    let pusher = match (&remote, args.cache_push && !registry_failed) {
        (Some(remote), true) => Some(Pusher::new(&engine, remote.clone())),
        _ => None,
    };
    let caching = CachingEngine {
        inner: &engine,
        done,
        pusher: pusher.as_ref(),
    };
    let options = options(args, &settings, &jobs, store.as_mut());
    let stderr = std::io::stderr();
    let reporter = StderrReporter::new(&jobs, stderr.is_terminal(), stderr);
    // The scheduler sees stages that are here, pulled or not needed as
    // existing (with --force: none); pushes run beside the builds.
    let outcomes = crossbeam::scope(|scope| {
        if let Some(p) = &pusher {
            p.spawn(scope);
        }
        let outcomes = scheduler::run(&jobs, &caching, &options, &reporter, &cancel);
        if let Some(p) = &pusher {
            p.close();
        }
        outcomes
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    reporter.finish();
    let registry = cache.as_deref().map(|reference| CacheRun {
        reference,
        fates,
        pusher: pusher.as_ref(),
        warnings,
    });
    conclude(&plan, &jobs, outcomes, registry, args, store.as_mut())
}

/// What the cache registry did in a run: each stage's fate, the pushes,
/// and its warnings.
struct CacheRun<'a> {
    reference: &'a str,
    fates: Vec<Fate>,
    pusher: Option<&'a Pusher<'a>>,
    warnings: Vec<String>,
}

/// The run's place in the cache registry `reference`: the engine is asked
/// its platform, once. An engine that cannot say is one warning and no
/// registry in this run (a guess could pull another architecture's
/// stages); a signal stops the run.
fn remote_of(
    engine: &DockerCli,
    reference: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Remote>, CmdError> {
    let said = match engine.platform() {
        Ok(said) => Remote::new(reference, &said),
        Err(EngineError::Cancelled) => return Err(CmdError::Interrupted(Interruption::Build)),
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

/// The container engine of this run, with its deadlines.
fn engine_of(args: &BuildArgs) -> Result<DockerCli, CmdError> {
    Ok(DockerCli::detect(args.engine.clone())?
        .with_query_timeout(Duration::from_secs(args.engine_timeout.max(1)))
        .with_registry_timeout(Duration::from_secs(args.cache_timeout.max(1))))
}

/// Builds while the unpinned packages' revisions are looked up: the stages
/// that need no lookup (the base first) start at once, each of the others
/// when its dependencies are built and the revisions are in. One engine
/// call lists the images here; a failed lookup stops the builds.
fn build_ahead(
    project: &Project,
    settings: &Settings,
    args: &BuildArgs,
    engine: &DockerCli,
    mut store: Option<&mut Store>,
) -> Result<(), CmdError> {
    let (ahead, waits) = crate::plan::render::render_ahead(project, settings)?;
    let jobs = jobs_of(&ahead);
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
    let options = options(args, settings, &jobs, store.as_deref_mut());
    let stderr = std::io::stderr();
    let reporter = StderrReporter::new(&jobs, stderr.is_terminal(), stderr);
    // Cancelled on a signal, or alone when the lookups fail.
    let cancel = crate::process::interrupted().child();
    let git_base = args.render.git.git_base_url.as_str();
    let (specs_tx, specs) = crossbeam::channel::bounded(1);
    let late = Late {
        pending: waits.clone(),
        specs,
    };
    let (outcomes, looked_up) = crossbeam::scope(|scope| {
        let cancel_on_failure = cancel.clone();
        let lookups = scope.spawn(move |_| {
            let looked_up = super::resolved(
                crate::run::revs::resolve(project, settings, git_base),
                git_base,
            )
            .and_then(|resolution| {
                let plan = crate::plan::render::render(project, &resolution.revs, settings)?;
                Ok((resolution, plan))
            });
            let message = match &looked_up {
                Ok((_, plan)) => Ok(waits
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w)
                    .map(|(job, _)| Spec {
                        job,
                        tag: plan.stages[job].tag.clone(),
                        dockerfile: plan.stages[job].dockerfile.clone(),
                    })
                    .collect()),
                Err(_) => {
                    cancel_on_failure.cancel();
                    Err("its revision could not be looked up".to_owned())
                }
            };
            let _ = specs_tx.send(message);
            looked_up
        });
        let outcomes =
            scheduler::run_late(&jobs, Some(late), &caching, &options, &reporter, &cancel);
        (outcomes, lookups.join())
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let looked_up = looked_up.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    reporter.finish();
    let plan = match looked_up {
        Ok((resolution, plan)) => {
            super::report_resolution(&resolution);
            plan
        }
        // Stopped by a signal: the summary of what ran, as in any phase.
        Err(_) if crate::process::interrupted().is_cancelled() => ahead,
        Err(e) => return Err(e),
    };
    // The labels are the same in both plans: the summary reads only those.
    conclude(&plan, &jobs, outcomes, None, args, store)
}

/// How the scheduler runs this build.
fn options(
    args: &BuildArgs,
    settings: &Settings,
    jobs: &[Job],
    store: Option<&mut Store>,
) -> Options {
    Options {
        jobs: args.jobs.map(usize::from),
        force: settings.force,
        build_args: build_args(settings),
        log_dir: args.log_dir.clone(),
        stage_timeout: args.stage_timeout.map(std::time::Duration::from_secs),
        expected: store.and_then(|s| expected_durations(jobs, s)),
    }
}

/// After the builds: the summary, the cache's counts, the report, the
/// store's record (for `explain` and the next run's priorities), and the
/// final tag on stdout when all went well.
fn conclude(
    plan: &Plan,
    jobs: &[Job],
    outcomes: Result<Vec<Outcome>, scheduler::SchedulerError>,
    registry: Option<CacheRun<'_>>,
    args: &BuildArgs,
    store: Option<&mut Store>,
) -> Result<(), CmdError> {
    let mut outcomes = outcomes?;
    let mut warnings = Vec::new();
    let mut pushed = HashSet::new();
    let mut cache_lines = String::new();
    if let Some(registry) = registry {
        for (outcome, fate) in outcomes.iter_mut().zip(&registry.fates) {
            if *outcome == Outcome::Cached {
                match fate {
                    Fate::Pulled => *outcome = Outcome::Pulled,
                    Fate::NotNeeded => *outcome = Outcome::NotNeeded,
                    _ => {}
                }
            }
        }
        warnings = registry.warnings;
        if let Some(p) = registry.pusher {
            pushed = p.pushed().into_iter().collect();
            let reference = registry.reference;
            cache_lines = format!("cache: pushed {} stage(s) to {reference}\n", pushed.len());
            let failed = p.failed();
            if let Some((tag, why)) = failed.iter().find(|(_, w)| !w.starts_with("not tried")) {
                warnings.push(format!(
                    "{} stage(s) were not pushed to {reference}; the first failure, of {tag}: {why}",
                    failed.len()
                ));
            }
        }
    }

    if let Some(store) = store {
        remember(plan, &outcomes, store);
        warnings.extend(super::store_warning(Some(store)));
    }
    let mut report = summary(jobs, &outcomes);
    for (stage, outcome) in plan.stages.iter().zip(&outcomes) {
        if let (Outcome::Failed { .. }, Some(url)) = (outcome, &stage.url) {
            report.push_str(&format!("{} failed; its source is {url}\n", stage.label));
        }
    }
    report.push_str(&cache_lines);
    for w in &warnings {
        report.push_str(&format!("warning: {w}\n"));
    }
    if let Some(dir) = &args.log_dir {
        report.push_str(&format!("full logs: {}\n", dir.display()));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());

    let ended = if crate::process::interrupted().is_cancelled() {
        Err(CmdError::Interrupted(Interruption::Build))
    } else if outcomes.iter().all(Outcome::is_success) {
        Ok(())
    } else {
        let stages = plan
            .stages
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(s, _)| s.label.clone())
            .collect();
        Err(CmdError::BuildFailed { stages })
    };
    // The tag goes out before the report is written, so that the report's
    // exit_status is the one the run ends with, a stdout that cannot be
    // written included.
    let ended = ended.and_then(|()| super::print_out(format!("{}\n", plan.final_stage().tag)));
    if let Some(path) = &args.report {
        let code = ended.as_ref().map_or_else(CmdError::exit_status, |()| OK);
        let report = super::report::report(plan, &outcomes, args.log_dir.as_deref(), &pushed, code);
        if let Err(source) = super::report::write(path, &report) {
            let unwritten = CmdError::WriteReport {
                path: path.clone(),
                source,
            };
            // Both lines when the build failed too; the higher status.
            return CmdError::all(ended.err().into_iter().chain([unwritten]).collect());
        }
    }
    ended
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

/// The original's proxy build arguments (each becomes `--build-arg A`).
fn build_args(settings: &Settings) -> Vec<String> {
    match (&settings.http_proxy, &settings.https_proxy) {
        (Some(http), https) => vec![
            format!("http_proxy={http}"),
            format!("https_proxy={}", https.as_deref().unwrap_or(http)),
        ],
        _ => Vec::new(),
    }
}

fn dry_run(
    engine: &DockerCli,
    jobs: &[Job],
    settings: &Settings,
    remote: Option<&Remote>,
    mut warnings: Vec<String>,
) -> Result<(), CmdError> {
    let existing = if settings.force {
        Default::default()
    } else {
        let tags: Vec<&str> = jobs.iter().map(|j| j.tag.as_str()).collect();
        engine.existing_tags(&tags)?
    };
    let cancel = crate::process::interrupted();
    let fates = match (remote, settings.force) {
        (Some(remote), false) => {
            let walk = walk(jobs, &existing, cancel, |tag| {
                match engine.probe(&remote.name(tag)) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(crate::run::engine::RegistryError::NotFound),
                    Err(e) => Err(e),
                }
            });
            warnings.extend(walk.warnings);
            walk.fates
        }
        _ => here_or_build(jobs, &existing),
    };
    let width = jobs.iter().map(|j| j.stage.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for (j, fate) in jobs.iter().zip(&fates) {
        let (i, state) = match fate {
            Fate::Local => (0, "cached"),
            Fate::Pulled => (1, "would pull"),
            Fate::Build => (2, "would build"),
            Fate::NotNeeded => (3, "not needed"),
        };
        counts[i] += 1;
        out.push_str(&format!("{:<width$}  {:<11}  {}\n", j.stage, state, j.tag));
    }
    out.push_str(&format!(
        "{} stages: {} cached, {} would build",
        jobs.len(),
        counts[0],
        counts[2]
    ));
    if remote.is_some() {
        out.push_str(&format!(
            ", {} would pull, {} not needed",
            counts[1], counts[3]
        ));
    }
    out.push('\n');
    let printed = super::print_out(out);
    let mut stderr = std::io::stderr().lock();
    for w in warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    printed
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
    fetch: impl Fn(&str) -> Result<(), crate::run::engine::RegistryError> + Sync,
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

/// --cache-registry, checked (a usage error when it is no registry path).
fn cache_reference(args: &BuildArgs) -> Result<Option<String>, CmdError> {
    let Some(reference) = args.cache_registry.as_deref().filter(|r| !r.is_empty()) else {
        if args.cache_push {
            return Err(CmdError::CachePushWithoutRegistry);
        }
        return Ok(None);
    };
    let reference = reference.trim_end_matches('/');
    if let Err(why) = crate::check::shell::check_registry(reference) {
        return Err(CmdError::BadCacheRegistry {
            reference: reference.to_owned(),
            why,
        });
    }
    Ok(Some(reference.to_owned()))
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
/// this run built (best effort: the store's trouble is one warning).
fn remember(plan: &Plan, outcomes: &[Outcome], store: &mut Store) {
    let entries: Vec<store::Entry<'_>> = plan
        .stages
        .iter()
        .zip(outcomes)
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
    store.record(&entries, super::unix_now());
}

#[cfg(test)]
mod tests {
    use super::*;

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
