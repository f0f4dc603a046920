//! Checking a project root as read into memory: every manifest against the
//! JSON schema, then the semantic rules (names, revisions, URLs, build
//! types, shell safety, template variables, dependencies, cycles), and the
//! templates (`templates`), reporting every problem in one pass.
//!
//! Owns: the order of the passes (templates, listing, schema, names, the
//! rules of each manifest, cycles) and building the `Project` (the checked
//! model the plan is made from) when they all hold. `check` is pure: it
//! sees only the `Sources` it is given (`check_root` reads them first).
//! Must not: touch the filesystem, run processes, spawn threads or print;
//! or hold a rule itself (each pass has its module).

mod cycles;
pub mod diag;
mod listing;
mod manifest;
mod names;
mod schema;
pub mod settings;
pub mod shell;
pub mod suggest;
pub mod templates;
#[cfg(test)]
mod tests;

pub use crate::model::project::{Package, Project};
pub use crate::model::sources::{PACKAGES_DIR, TEMPLATES_DIR};

use std::path::Path;

use indexmap::IndexMap;

use crate::check::diag::Problem;
use crate::model::manifest::Manifest;
use crate::model::source::TomlSource;
use crate::model::sources::Sources;

/// The outcome of checking a root: the project when there is no error, and
/// every problem found (warnings included).
pub struct Checked {
    pub project: Option<Project>,
    /// With errors (and loadable templates): the packages whose manifests
    /// parsed, for views (`list`, `graph`) that can show a broken tree.
    /// Never rendered or built.
    pub partial: Option<Project>,
    pub problems: Vec<Problem>,
}

/// A manifest file that parsed as TOML, and its typed manifest when it
/// also met the schema.
type Parsed = (TomlSource, Option<Manifest>);

/// Reads the project at `root` and checks it.
pub fn check_root(root: &Path) -> Checked {
    check(&Sources::read(root))
}

/// Checks the project as `sources` hold it: what is on disk, or what
/// would be after an edit (`Sources::replace`).
pub fn check(sources: &Sources) -> Checked {
    let root = sources.root.as_path();
    let mut problems = Vec::new();
    // Not a root at all: one error that says so, not one per missing file.
    if !sources.is_root {
        problems.push(
            Problem::error(
                "project::not-a-root",
                root,
                format!(
                    "{} is not a project root: it has no {PACKAGES_DIR}/ and no {TEMPLATES_DIR}/",
                    root.display()
                ),
            )
            .help("run from a checkout of build-unit-test-docker, or pass --root DIR (the directory holding packages.d/ and templates/)"),
        );
        return Checked {
            project: None,
            partial: None,
            problems,
        };
    }
    let mut templates = templates::check(&sources.templates, &mut problems);
    if let (Some(templates), Ok(dir)) = (templates.as_mut(), sources.packages.as_ref()) {
        // The final stage names every package: a larger root may render more.
        templates.size_for(dir.manifests.len());
    }
    let build_types = sources.templates.build_type_names();
    let prefix = templates
        .as_ref()
        .map_or("/usr/local", |t| t.prefix())
        .to_owned();

    let files = listing::list_manifests(sources, &mut problems);
    let schema = match schema::ManifestSchema::compile(&build_types) {
        Ok(s) => s,
        Err(e) => {
            problems.push(Problem::error(
                "schema::invalid",
                &root.join("schema"),
                format!("internal schema error: {e}"),
            ));
            return Checked {
                project: None,
                partial: None,
                problems,
            };
        }
    };

    // Per file: parse, schema, typed manifest.
    let mut parsed: Vec<Parsed> = Vec::with_capacity(files.len());
    for file in files {
        let Some(source) = listing::parse_manifest(file, &mut problems) else {
            continue;
        };
        let manifest = schema.typed(&source, &mut problems);
        parsed.push((source, manifest));
    }

    let declared = names::claim(&parsed, &mut problems);
    let ctx = manifest::Ctx::new(templates.as_ref(), &declared, &prefix);
    for (source, manifest) in &parsed {
        if let Some(m) = manifest {
            ctx.check_manifest(source, m, &mut problems);
        }
    }
    cycles::check_cycles(&parsed, &declared, &mut problems);

    let has_errors = problems.iter().any(Problem::is_error);
    let project = match templates {
        Some(templates) => {
            let mut packages: IndexMap<String, Package> = parsed
                .into_iter()
                .filter_map(|(source, m)| {
                    Some((
                        m.as_ref()?.name.clone(),
                        Package {
                            manifest: m?,
                            source,
                        },
                    ))
                })
                .collect();
            packages.sort_unstable_keys();
            Some(Project {
                root: root.to_path_buf(),
                templates,
                packages,
            })
        }
        None => None,
    };
    let (project, partial) = if has_errors {
        (None, project)
    } else {
        (project, None)
    };
    Checked {
        project,
        partial,
        problems,
    }
}
