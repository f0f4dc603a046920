//! The model: a project root read into memory. Manifests (serde types and
//! the schema generated from them), TOML sources with spans, the templates
//! and base.toml, and the run's settings.
//!
//! Owns: what the files and the environment say, as values. Must not: judge
//! them (that is `check`), render, or run anything.

pub mod manifest;
pub mod project;
pub mod settings;
pub mod source;
pub mod sources;
pub mod template;
