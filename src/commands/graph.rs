//! `graph`: the dependency graph of the stages.

use std::io::Write;
use std::path::Path;

use crate::cli::{GraphArgs, GraphFormat};
use crate::plan::graph;

use super::CmdError;

pub fn run(root: &Path, args: &GraphArgs) -> Result<(), CmdError> {
    let project = super::load_for_view(root)?;
    let out = match args.format {
        GraphFormat::Text => graph::text(&project),
        GraphFormat::Dot => graph::dot(&project),
        GraphFormat::Mermaid => graph::mermaid(&project),
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}
