//! `build` (and the bare command): the edge of a build. Makes the run's
//! [`BuildConfig`] once from the flags and the environment, detects the
//! engine, hands both to the pipeline (`crate::run::pipeline`, which owns
//! the phases), and prints what it ended with: the summary, the cache's
//! lines, the warnings, the report and the final tag (or, with --dry-run,
//! each stage's fate).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use crate::cli::BuildArgs;
use crate::run::engine::DockerCli;
use crate::run::pipeline::{self, BuildConfig, Built, CacheConfig, DryRun, Ran};
use crate::run::progress::{summary, StderrReporter};
use crate::run::registry::Fate;
use crate::run::scheduler::{self, Job, Outcome};
use crate::run::store;

use super::{BuildError, CmdError, FileError, Interruption, UsageError, OK};

pub fn run(root: &std::path::Path, args: &BuildArgs) -> Result<(), CmdError> {
    let (project, settings) = super::prepare(root, &args.render, args.force)?;
    let cache = cache_config(args)?;
    if let (Some(path), false) = (&args.report, args.dry_run) {
        super::report::check_writable(path).map_err(|source| UsageError::ReportUnwritable {
            path: path.clone(),
            source,
        })?;
    }
    // What this root built here: build times now, the new stages at the end.
    let store = if args.dry_run {
        None
    } else {
        super::open_store(root, &settings, store::Mode::Write)
    };
    let mut config = BuildConfig {
        settings,
        git_base: args.render.git.git_base_url.clone(),
        jobs: args.jobs.map(usize::from),
        log_dir: args.log_dir.clone(),
        stage_timeout: args.stage_timeout.map(Duration::from_secs),
        cache,
        dry_run: args.dry_run,
        store,
        cancel: crate::process::interrupted().clone(),
    };
    let engine = engine_of(args)?;
    let terminal = Terminal::default();
    match pipeline::build(project, &mut config, &engine, &engine, &terminal)? {
        Ran::Dry(dry) => print_dry_run(&dry),
        Ran::Built(built) => conclude(&built, &config, args),
    }
}

/// The container engine of this run, with its deadlines.
fn engine_of(args: &BuildArgs) -> Result<DockerCli, CmdError> {
    Ok(DockerCli::detect(args.engine.clone())?
        .with_query_timeout(Duration::from_secs(args.engine_timeout.max(1)))
        .with_registry_timeout(Duration::from_secs(args.cache_timeout.max(1))))
}

/// The build's progress on stderr: lines straight to stderr until the
/// stages are known, then through the live display (under its status line).
#[derive(Default)]
struct Terminal {
    progress: OnceLock<StderrReporter<std::io::Stderr>>,
}

impl scheduler::Reporter for Terminal {
    fn cached(&self, job: usize, tag: &str) {
        if let Some(p) = self.progress.get() {
            p.cached(job, tag);
        }
    }
    fn started(&self, job: usize) {
        if let Some(p) = self.progress.get() {
            p.started(job);
        }
    }
    fn line(&self, job: usize, line: &str) {
        if let Some(p) = self.progress.get() {
            p.line(job, line);
        }
    }
    fn finished(&self, job: usize, outcome: &Outcome) {
        if let Some(p) = self.progress.get() {
            p.finished(job, outcome);
        }
    }
}

impl pipeline::Reporter for Terminal {
    fn say(&self, line: &str) {
        match self.progress.get() {
            Some(p) => p.say(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
    fn begin(&self, jobs: &[Job]) {
        let stderr = std::io::stderr();
        let _ = self
            .progress
            .set(StderrReporter::new(jobs, stderr.is_terminal(), stderr));
    }
    fn end(&self) {
        if let Some(p) = self.progress.get() {
            p.finish();
        }
    }
}

/// After the builds: the summary, the cache's counts, the warnings (the
/// store's last), the report, and the final tag on stdout when all went
/// well.
fn conclude(built: &Built, config: &BuildConfig, args: &BuildArgs) -> Result<(), CmdError> {
    let Built {
        plan,
        jobs,
        outcomes,
        pushed,
        cache_line,
        warnings,
    } = built;
    let mut report = summary(jobs, outcomes);
    for (stage, outcome) in plan.stages.iter().zip(outcomes) {
        if let (Outcome::Failed { .. }, Some(url)) = (outcome, &stage.url) {
            report.push_str(&format!("{} failed; its source is {url}\n", stage.label));
        }
    }
    if let Some(line) = cache_line {
        report.push_str(&format!("{line}\n"));
    }
    for w in warnings
        .iter()
        .cloned()
        .chain(super::store_warning(config.store.as_ref()))
    {
        report.push_str(&format!("warning: {w}\n"));
    }
    if let Some(dir) = &config.log_dir {
        report.push_str(&format!("full logs: {}\n", dir.display()));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());

    let ended = if config.cancel.is_cancelled() {
        Err(CmdError::Interrupted(Interruption::Build))
    } else if outcomes.iter().all(Outcome::is_success) {
        Ok(())
    } else {
        let stages = plan
            .stages
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(s, _)| s.label.clone())
            .collect();
        Err(BuildError::StagesFailed { stages }.into())
    };
    // The tag goes out before the report is written, so that the report's
    // exit_status is the one the run ends with, a stdout that cannot be
    // written included.
    let ended = ended.and_then(|()| super::print_out(format!("{}\n", plan.final_stage().tag)));
    if let Some(path) = &args.report {
        let code = ended.as_ref().map_or_else(CmdError::exit_status, |()| OK);
        let report = super::report::report(plan, outcomes, config.log_dir.as_deref(), pushed, code);
        if let Err(source) = super::report::write(path, &report) {
            let unwritten = FileError::WriteReport {
                path: path.clone(),
                source,
            }
            .into();
            // Both lines when the build failed too; the higher status.
            return CmdError::all(ended.err().into_iter().chain([unwritten]).collect());
        }
    }
    ended
}

/// --dry-run: each stage's fate and the counts on stdout, then the
/// warnings on stderr.
fn print_dry_run(dry: &DryRun) -> Result<(), CmdError> {
    let DryRun {
        jobs,
        fates,
        registry,
        warnings,
    } = dry;
    let width = jobs.iter().map(|j| j.stage.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for (j, fate) in jobs.iter().zip(fates) {
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
    if *registry {
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

/// --cache-registry and --cache-push, checked (a usage error when it is
/// no registry path, or a push has no registry).
fn cache_config(args: &BuildArgs) -> Result<Option<CacheConfig>, CmdError> {
    let Some(reference) = args.cache_registry.as_deref().filter(|r| !r.is_empty()) else {
        if args.cache_push {
            return Err(UsageError::CachePushWithoutRegistry.into());
        }
        return Ok(None);
    };
    let reference = super::registry_reference(
        reference,
        "BUILD_UNIT_TEST_CACHE_REGISTRY (--cache-registry)",
    )?;
    Ok(Some(CacheConfig {
        reference: reference.to_owned(),
        push: args.cache_push,
    }))
}
