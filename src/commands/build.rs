//! `build` (and the bare command): render every stage, ask the engine once
//! which tags exist, build the rest on the scheduler, print the final tag.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::BuildArgs;
use crate::engine::{DockerCli, Engine};
use crate::progress::{summary, StderrReporter};
use crate::render::Plan;
use crate::scheduler::{self, Job, Options, Outcome};
use crate::settings::Settings;

use super::{error, FAILED, OK};

use crate::process::INTERRUPTED;

pub fn run(root: &Path, args: &BuildArgs) -> i32 {
    let (_, settings, plan) = match super::plan(root, &args.render, args.force) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let engine = match DockerCli::detect(args.engine.clone()) {
        Ok(e) => e.with_query_timeout(std::time::Duration::from_secs(args.engine_timeout.max(1))),
        Err(e) => {
            error(e);
            return FAILED;
        }
    };
    let jobs = jobs_of(&plan);
    if args.dry_run {
        return dry_run(&engine, &jobs, &settings);
    }

    let cancel = crate::process::interrupted().clone();
    let options = Options {
        jobs: args.jobs.map(usize::from),
        force: settings.force,
        build_args: build_args(&settings),
        log_dir: args.log_dir.clone(),
        stage_timeout: args.stage_timeout.map(std::time::Duration::from_secs),
    };
    let stderr = std::io::stderr();
    let reporter = StderrReporter::new(&jobs, stderr.is_terminal(), stderr);
    let outcomes = scheduler::run(&jobs, &engine, &options, &reporter, &cancel);
    reporter.finish();
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(e) => {
            error(e);
            return FAILED;
        }
    };

    remember(&plan, &outcomes);
    let mut report = summary(&jobs, &outcomes);
    for (stage, outcome) in plan.stages.iter().zip(&outcomes) {
        if let (Outcome::Failed { .. }, Some(url)) = (outcome, &stage.url) {
            report.push_str(&format!("{} failed; its source is {url}\n", stage.label));
        }
    }
    if let Some(dir) = &args.log_dir {
        report.push_str(&format!("full logs: {}\n", dir.display()));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());

    let code = if cancel.is_cancelled() {
        error("interrupted");
        INTERRUPTED
    } else if outcomes.iter().all(Outcome::is_success) {
        OK
    } else {
        let failed: Vec<&str> = plan
            .stages
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(s, _)| s.label.as_str())
            .collect();
        error(format!("build failed: {}", failed.join(", ")));
        FAILED
    };
    if let Some(path) = &args.report {
        let report = super::report::report(&plan, &outcomes, args.log_dir.as_deref(), code);
        if let Err(e) = super::report::write(path, &report) {
            error(e);
            return FAILED.max(code);
        }
    }
    if code == OK {
        let _ = writeln!(std::io::stdout(), "{}", plan.final_stage().tag);
    }
    code
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

fn dry_run(engine: &DockerCli, jobs: &[Job], settings: &Settings) -> i32 {
    let existing = if settings.force {
        Default::default()
    } else {
        let tags: Vec<&str> = jobs.iter().map(|j| j.tag.as_str()).collect();
        match engine.existing_tags(&tags) {
            Ok(e) => e,
            Err(e) => {
                error(e);
                return FAILED;
            }
        }
    };
    let width = jobs.iter().map(|j| j.stage.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut to_build = 0;
    for j in jobs {
        let state = if existing.contains(&j.tag) {
            "cached"
        } else {
            to_build += 1;
            "would build"
        };
        out.push_str(&format!("{:<width$}  {:<11}  {}\n", j.stage, state, j.tag));
    }
    out.push_str(&format!(
        "{} stages: {} cached, {to_build} would build\n",
        jobs.len(),
        jobs.len() - to_build
    ));
    let _ = std::io::stdout().write_all(out.as_bytes());
    OK
}

/// Keeps the Dockerfile of every stage that now exists here, for `explain`
/// (best effort: a cache folder that cannot be written changes nothing).
fn remember(plan: &Plan, outcomes: &[Outcome]) {
    let Some(cache) = crate::history::cache_dir(|k| std::env::var(k).ok()) else {
        return;
    };
    for (stage, outcome) in plan.stages.iter().zip(outcomes) {
        if outcome.is_success() {
            let _ = crate::history::record(&cache, &stage.name, &stage.tag, &stage.dockerfile);
        }
    }
    crate::history::prune(&cache);
}
