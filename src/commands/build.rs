//! `build` (and the bare command).

use std::path::Path;

use crate::cli::BuildArgs;

pub fn run(_root: &Path, _args: &BuildArgs) -> i32 {
    super::error("build: not wired yet");
    super::FAILED
}
