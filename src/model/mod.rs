//! The model: a project root read into memory (`sources`, the only module
//! here that reads files), manifests (serde types and the schema generated
//! from them), TOML sources with spans, the templates and base.toml as
//! loaded, and the run's settings.
//!
//! Owns: what the files and the environment say, as values, and the
//! template engine itself (`template`: loading, compiling and rendering a
//! template under its limits). Must not: judge them (that is `check`,
//! which depends on the model and never the other way), decide what a
//! stage renders with (that is `plan`), or run anything.

pub mod manifest;
pub mod project;
pub mod settings;
pub mod source;
pub mod sources;
pub mod template;
