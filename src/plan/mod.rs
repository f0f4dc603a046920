//! The plan: the one dependency graph, and every stage's Dockerfile and tag
//! rendered from a checked project, its revisions and the settings.
//!
//! Owns: build order, cycles, priorities, dependents; the stage texts and
//! tags; the graph views. Must not: run processes, read the environment or
//! the clock. Pure and byte-stable.

pub mod dag;
pub mod graph;
pub mod render;
pub mod revisions;
