//! `explain`: for each stage that will build, what changed since it was
//! last built on this machine (the unified diff of its Dockerfile against
//! the one recorded then) and which input caused it: a new source URL (a
//! rev), a dependency's new tag, a new base, or its own steps.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cli::ExplainArgs;
use crate::plan::render::{Plan, Stage};
use crate::run::engine::{DockerCli, Engine};

use super::CmdError;

pub fn run(root: &Path, args: &ExplainArgs) -> Result<(), CmdError> {
    let (_, _, plan) = super::plan(root, &args.render, false)?;
    let wanted: Vec<&Stage> = if args.stages.is_empty() {
        plan.stages.iter().collect()
    } else {
        let mut picked = Vec::new();
        for name in &args.stages {
            match plan
                .stages
                .iter()
                .find(|s| s.name == *name || s.label == *name)
            {
                Some(s) => picked.push(s),
                None => {
                    let names = plan.stages.iter().map(|s| s.name.as_str());
                    let hint = crate::check::suggest::closest(name, names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(CmdError::NoSuchStage {
                        name: name.clone(),
                        hint,
                    });
                }
            }
        }
        picked
    };
    let engine = DockerCli::detect(args.engine.clone())?;
    let tags: Vec<&str> = wanted.iter().map(|s| s.tag.as_str()).collect();
    let existing = engine.existing_tags(&tags)?;
    let cache = crate::run::history::cache_dir(|k| std::env::var(k).ok());
    let mut out = String::new();
    let mut building = 0;
    for stage in wanted {
        if existing.contains(&stage.tag) {
            if !args.stages.is_empty() {
                out.push_str(&format!(
                    "{}: exists ({}); nothing to build\n\n",
                    stage.name, stage.tag
                ));
            }
            continue;
        }
        building += 1;
        out.push_str(&explain_stage(&plan, stage, cache.as_deref()));
        out.push('\n');
    }
    if building == 0 && args.stages.is_empty() {
        out.push_str("every stage exists: nothing will build\n");
    }
    super::print_out(out)
}

/// The explanation of one stage that will build.
fn explain_stage(plan: &Plan, stage: &Stage, cache: Option<&Path>) -> String {
    let mut out = format!("{}: will build {}\n", stage.name, stage.tag);
    let Some((old_tag, old)) = cache.and_then(|c| crate::run::history::last(c, &stage.name)) else {
        out.push_str("  never built here\n");
        return out;
    };
    for cause in causes(plan, stage, &old) {
        out.push_str(&format!("  because {cause}\n"));
    }
    let diff = crate::maintain::edit::unified_diff(&stage.name, &old, &stage.dockerfile);
    for (i, line) in diff.lines().enumerate() {
        match i {
            0 => out.push_str(&format!(
                "--- {} as last built here ({old_tag})\n",
                stage.name
            )),
            1 => out.push_str(&format!("+++ {} as planned ({})\n", stage.name, stage.tag)),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The inputs that differ, read from the two Dockerfiles and the plan.
fn causes(plan: &Plan, stage: &Stage, old: &str) -> Vec<String> {
    let mut causes = Vec::new();
    let new = &stage.dockerfile;
    if old == new {
        causes.push("its image is gone from the engine (same Dockerfile)".to_owned());
        return causes;
    }
    let from = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("FROM "))
            .map(str::to_owned)
    };
    if from(old) != from(new) {
        causes.push(format!(
            "the base changed: {} → {}",
            from(old).unwrap_or_default(),
            from(new).unwrap_or_default()
        ));
    }
    let copies = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("COPY --from="))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    };
    let (was, now) = (copies(old), copies(new));
    for tag in now.difference(&was) {
        let dep = plan
            .stages
            .iter()
            .find(|s| s.tag == *tag)
            .map_or(tag.as_str(), |s| s.label.as_str());
        causes.push(format!("dependency {dep} has a new tag ({tag})"));
    }
    if let Some(url) = &stage.url {
        if !old.contains(url.as_str()) {
            let old_url = old
                .split_whitespace()
                .find(|w| w.starts_with("http") && (w.contains(".tar.")))
                .unwrap_or("?");
            causes.push(format!("its source changed: {old_url} → {url}"));
        }
    }
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("FROM ") && !l.starts_with("COPY --from="))
            .map(|l| match &stage.url {
                Some(url) => l.replace(url.as_str(), "URL"),
                None => l.to_owned(),
            })
            .collect()
    };
    let mut old_rest = strip(old);
    if let Some(url) = old
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(".tar."))
    {
        old_rest = old_rest.iter().map(|l| l.replace(url, "URL")).collect();
    }
    if old_rest != strip(new) {
        causes.push(if stage.name == "final" {
            "the final stage's own lines changed (depcache, user or template)".to_owned()
        } else if stage.name == "base" {
            "the base template or base.toml changed".to_owned()
        } else {
            "its build steps changed (manifest flags, build type or template)".to_owned()
        });
    }
    if causes.is_empty() {
        causes.push("its Dockerfile changed".to_owned());
    }
    causes
}
