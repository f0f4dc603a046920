//! `bump`, `outdated`, `update`.

use std::path::Path;

use crate::cli::{BumpArgs, OutdatedArgs, UpdateArgs};

pub fn bump(_root: &Path, _args: &BumpArgs) -> i32 {
    super::FAILED
}
pub fn outdated(_root: &Path, _args: &OutdatedArgs) -> i32 {
    super::FAILED
}
pub fn update(_root: &Path, _args: &UpdateArgs) -> i32 {
    super::FAILED
}
