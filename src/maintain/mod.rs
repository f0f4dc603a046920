//! Maintaining the manifests: format-preserving edits written atomically
//! under the root's lock, and the version schemes `outdated` compares.
//!
//! Owns: how a value changes in a file and how releases compare. Must not:
//! look anything up itself or decide what to bump (commands do).

pub mod edit;
pub mod versions;
