//! `render`: every stage's Dockerfile and tag, written to a directory or printed.

use std::io::Write;
use std::path::Path;

use crate::cli::RenderCmd;

use super::{CmdError, FileError};

pub fn run(root: &Path, args: &RenderCmd) -> Result<(), CmdError> {
    let (_, _, plan) = super::plan(root, &args.render, false)?;
    let mut tags = String::new();
    for stage in &plan.stages {
        tags.push_str(&format!("{} {}\n", stage.name, stage.tag));
    }
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| FileError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            let mut files: Vec<(String, &str)> = plan
                .stages
                .iter()
                .map(|s| (format!("{}.Dockerfile", s.name), s.dockerfile.as_str()))
                .collect();
            files.push(("tags.txt".to_owned(), &tags));
            // Dockerfiles of stages this render does not have (a removed
            // package, an earlier --base-image run) would read as current.
            let fresh: std::collections::HashSet<&str> =
                files.iter().map(|(n, _)| n.as_str()).collect();
            let stale: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".Dockerfile") && !fresh.contains(n))
                })
                .collect();
            for path in stale {
                std::fs::remove_file(&path)
                    .map_err(|source| FileError::RemoveStale { path, source })?;
            }
            for (name, text) in files {
                let path = dir.join(&name);
                crate::maintain::edit::replace_entry(&path, text)
                    .map_err(|source| FileError::Write { path, source })?;
            }
            let _ = writeln!(
                std::io::stderr(),
                "wrote {} Dockerfiles and tags.txt to {}",
                plan.stages.len(),
                dir.display()
            );
        }
        None => {
            let mut out = String::new();
            for stage in &plan.stages {
                out.push_str(&format!(
                    "### {} {}\n{}",
                    stage.name, stage.tag, stage.dockerfile
                ));
                if !stage.dockerfile.ends_with('\n') {
                    out.push('\n');
                }
            }
            out.push_str("### tags.txt\n");
            out.push_str(&tags);
            super::print_out(out)?;
        }
    }
    Ok(())
}
