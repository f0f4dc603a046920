//! The edge that runs things: a build's phases in order (`pipeline`, from
//! the checked project and one `BuildConfig` to each stage's outcome),
//! revision lookups (git, Gerrit), the engine
//! (docker or podman), the scheduler that builds the stages on threads, the
//! registry cache, progress on the terminal, the store of what was built
//! here (`store`), the hints for engine failures that the host's setup
//! causes, and `prune`'s engine calls and registry client.
//!
//! Owns: which child processes run and when (each started through
//! `crate::process`, which also owns the reader, waiter and signal
//! threads), and the stage and lookup threads. Must not: decide what a
//! stage contains (that is `plan`) or print outside the progress reporter
//! (commands print).

pub mod engine;
pub mod fetch;
pub mod gerrit;
pub mod hints;
pub mod lsremote;
pub mod pipeline;
pub mod progress;
pub mod prune;
pub mod registry;
pub mod registry_api;
pub mod revs;
pub mod scheduler;
pub mod store;
