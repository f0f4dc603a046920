//! `explain`: for each stage that will build, what changed since this root
//! last built it on this machine (the unified diff of its Dockerfile
//! against the one in the store) and which input caused it: a new source
//! URL (a rev), a dependency's new tag, a new base, or its own steps. A
//! stage this root has no record of is compared with the newest image of
//! it that the engine still has (and the store knows), and says so.
//! Reads the store, never writes it.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::Path;

use crate::cli::ExplainArgs;
use crate::plan::render::{Plan, Stage};
use crate::run::engine::DockerCli;
use crate::run::store::{self, Last, Store};

use super::{CmdError, UsageError};

pub fn run(root: &Path, args: &ExplainArgs) -> Result<(), CmdError> {
    let (_, settings, plan) = super::plan(root, &args.render, false)?;
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
                    return Err(UsageError::NoSuchStage {
                        name: name.clone(),
                        suggestion: crate::check::suggest::closest(name, names).map(str::to_owned),
                    }
                    .into());
                }
            }
        }
        picked
    };
    let engine = DockerCli::detect(args.engine.clone())?;
    // One listing: which stages exist, and what a stage this root has no
    // record of may be compared with.
    let existing = engine.local_tags()?;
    let mut store = super::open_store(root, &settings, store::Mode::Read);
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
        out.push_str(&explain_stage(&plan, stage, store.as_mut(), &existing));
        out.push('\n');
    }
    if building == 0 && args.stages.is_empty() {
        out.push_str("every stage exists: nothing will build\n");
    }
    let printed = super::print_out(out);
    if let Some(w) = super::store_warning(store.as_ref()) {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
    printed
}

/// The explanation of one stage that will build.
fn explain_stage(
    plan: &Plan,
    stage: &Stage,
    mut store: Option<&mut Store>,
    here: &HashSet<String>,
) -> String {
    let mut out = format!("{}: will build {}\n", stage.name, stage.tag);
    let last = store.as_mut().and_then(|s| s.last(&stage.name));
    let (old_tag, old, against) = match last {
        Some(Last {
            tag,
            dockerfile: Some(text),
        }) => (tag, text, "as last built here"),
        Some(Last {
            tag,
            dockerfile: None,
        }) => {
            out.push_str(&format!(
                "  last built here as {tag}; its Dockerfile was not kept (over 1 MiB, or \
                 dropped to keep the store small)\n"
            ));
            return out;
        }
        None => {
            match store.and_then(|s| s.newest(store::repo_of(&stage.tag), |t| here.contains(t))) {
                Some((tag, text)) => {
                    out.push_str("  no record of it for this root; compared with the newest image of this stage here\n");
                    (tag, text, "as in the newest image here")
                }
                None => {
                    out.push_str("  never built here\n");
                    return out;
                }
            }
        }
    };
    for cause in causes(plan, stage, &old) {
        out.push_str(&format!("  because {cause}\n"));
    }
    let diff = crate::maintain::edit::unified_diff(&stage.name, &old, &stage.dockerfile);
    for (i, line) in diff.lines().enumerate() {
        match i {
            0 => out.push_str(&format!("--- {} {against} ({old_tag})\n", stage.name)),
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
