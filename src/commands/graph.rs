//! `graph`: the dependency graph of the stages.

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
    super::print_out(out)
}
