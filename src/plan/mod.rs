//! The plan: every stage's Dockerfile and tag, rendered from a checked
//! project, its revisions and the settings.
//!
//! Owns: the stage texts and tags, which stages wait for revision lookups,
//! the branch rules, the graph views (the graph itself is `crate::dag`),
//! and `prune`'s retention rule (which old tags go).
//! Must not: run processes, read the environment or the clock. Pure and
//! byte-stable.

pub mod graph;
pub mod prune;
pub mod render;
pub mod revisions;
pub mod trial;
