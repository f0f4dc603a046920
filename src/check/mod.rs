//! Checking a project root as read into memory: every manifest against the
//! JSON schema, then the semantic rules (names, revisions, URLs, build
//! types, shell safety, template variables, dependencies, cycles), and the
//! templates (`templates`), reporting every problem in one pass.
//!
//! Owns: the rules, and building the `Project` (the checked model the plan
//! is made from) when they all hold. `check` is pure: it sees only the
//! `Sources` it is given (`check_root` reads them first).
//! Must not: touch the filesystem, run processes, spawn threads or print.

pub mod diag;
pub mod settings;
pub mod shell;
pub mod suggest;
pub mod templates;

pub use crate::model::project::{Package, Project};
pub use crate::model::sources::{PACKAGES_DIR, TEMPLATES_DIR};

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::check::diag::Problem;
use crate::check::suggest::closest;
use crate::model::manifest::{self, Manifest};
use crate::model::source::{pointer_child, TomlSource};
use crate::model::sources::{EntryKind, ManifestFile, Skipped, Sources};
use crate::model::template::{self, Templates, MANIFEST_VARS};

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

/// A sample of the values filled at render time, to check templated strings.
const SAMPLE_REV: &str = "0123456789abcdef0123456789abcdef01234567";
const SAMPLE_JOBS: usize = 2;
const SAMPLE_ARCH: &str = "x86_64";

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

    let files = list_manifests(sources, &mut problems);
    let schema = manifest::schema(&build_types);
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
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
    let mut parsed: Vec<(TomlSource, Option<Manifest>)> = Vec::with_capacity(files.len());
    for file in files {
        let Some(source) = parse_manifest(file, &mut problems) else {
            continue;
        };
        let path = &file.path;
        let schema_problems = schema_problems(&source, &validator, &build_types);
        let manifest = if schema_problems.is_empty() {
            match serde_json::from_value::<Manifest>(source.json.clone()) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(
                        Problem::error("manifest::invalid", path, format!("invalid manifest: {e}"))
                            .at(&source.text, Some(source.top_span()), "in this file"),
                    );
                    None
                }
            }
        } else {
            problems.extend(schema_problems);
            None
        };
        parsed.push((source, manifest));
    }

    // Every name declared, even by files with other problems, so that their
    // dependents are not also reported.
    let mut declared: HashMap<String, usize> = HashMap::new();
    let mut stages: HashMap<String, usize> = HashMap::new();
    // Files named after their package claim their name first, so that the
    // copy with the wrong file name is the one reported.
    let name_of = |source: &TomlSource| {
        source
            .json
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut claim_order: Vec<usize> = (0..parsed.len()).collect();
    claim_order.sort_by_key(|&i| {
        let source = &parsed[i].0;
        let named_right =
            name_of(source).is_some_and(|n| file_label(&source.path) == manifest::file_name(&n));
        (!named_right, i)
    });
    for i in claim_order {
        let source = &parsed[i].0;
        let Some(name) = name_of(source) else {
            continue;
        };
        if let Some(&first) = declared.get(&name) {
            problems.push(duplicate(
                &parsed[first].0,
                source,
                &name,
                "manifest::duplicate-package",
                "package",
            ));
            continue;
        }
        declared.insert(name.clone(), i);
        let stage = manifest::stage_name(&name);
        if let Some(&first) = stages.get(&stage) {
            problems.push(duplicate(
                &parsed[first].0,
                source,
                &name,
                "manifest::duplicate-stage",
                "stage name",
            ));
        }
        stages.entry(stage).or_insert(i);
    }
    let mut names: Vec<&str> = declared.keys().map(String::as_str).collect();
    names.sort_unstable();

    let ctx = Ctx {
        templates: templates.as_ref(),
        names: &names,
        declared: &declared,
        prefix: &prefix,
    };
    for (source, manifest) in &parsed {
        if let Some(m) = manifest {
            ctx.check_manifest(source, m, &mut problems);
        }
    }
    check_cycles(&parsed, &declared, &mut problems);

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

/// The manifests of the root, after reporting what its listing found:
/// a packages.d/ that cannot be read, entries that are not manifests, and
/// none at all.
fn list_manifests<'a>(sources: &'a Sources, problems: &mut Vec<Problem>) -> &'a [ManifestFile] {
    let dir = sources.packages_dir();
    let listing = match &sources.packages {
        Ok(listing) => listing,
        Err(e) => {
            problems.push(
                Problem::error("project::no-packages-dir", &dir, format!("cannot read the manifest directory: {e}"))
                    .help("run in a project root (the directory holding packages.d/ and templates/) or pass --root DIR"),
            );
            return &[];
        }
    };
    for entry in &listing.skipped {
        problems.push(match entry {
            Skipped::EditTemp { path, file_name } => Problem::warning(
                "project::edit-temp-file",
                path,
                format!(
                    "{file_name} is the temporary file of an edit (bump or update) that has not \
                     finished, or was killed: ignored"
                ),
            )
            .help("the next bump or update removes it once its writer is gone; or delete it"),
            Skipped::Hidden { path, file_name } => Problem::warning(
                "project::hidden-manifest",
                path,
                format!("{file_name} is hidden, so it is not read as a manifest"),
            )
            .help(format!(
                "rename it to {} to make it a manifest, or move it out of {PACKAGES_DIR}/",
                file_name.trim_start_matches('.')
            )),
            Skipped::SymlinkOutside { path, target } => Problem::error(
                "project::symlink-outside",
                path,
                format!(
                    "is a symlink to {}, outside the project root; it was not read",
                    target.display()
                ),
            )
            .help("put the manifest itself in packages.d/, or link to a file inside the project"),
            Skipped::BrokenSymlink { path, error } => Problem::error(
                "project::broken-symlink",
                path,
                format!("is a symlink that leads nowhere: {error}"),
            )
            .help("remove it, or point it at a manifest inside the project"),
            Skipped::Stray { path, kind } => {
                let (what, help) = match kind {
                    EntryKind::Directory => (
                        "a directory",
                        format!("manifests are files directly in {PACKAGES_DIR}/: move it out"),
                    ),
                    EntryKind::File => (
                        "a file",
                        format!(
                            "move it out of {PACKAGES_DIR}/, or give a manifest the .toml extension"
                        ),
                    ),
                    EntryKind::Other => ("an entry", format!("move it out of {PACKAGES_DIR}/")),
                };
                Problem::warning(
                    "project::stray-file",
                    path,
                    format!("{what} in {PACKAGES_DIR}/, not a .toml manifest: ignored"),
                )
                .help(help)
            }
        });
    }
    if listing.manifests.is_empty() {
        problems.push(
            Problem::error(
                "project::no-manifests",
                &dir,
                format!("{PACKAGES_DIR}/ holds no manifest"),
            )
            .help("add one <package>.toml per package (see README: \"Adding a package\")"),
        );
    }
    &listing.manifests
}

fn parse_manifest(file: &ManifestFile, problems: &mut Vec<Problem>) -> Option<TomlSource> {
    let path = &file.path;
    let bytes = match &file.bytes {
        Ok(b) => b,
        Err(e) => {
            problems.push(Problem::error(
                "toml::unreadable",
                path,
                format!("cannot read manifest: {e}"),
            ));
            return None;
        }
    };
    let text: Arc<str> = match std::str::from_utf8(bytes) {
        Ok(s) => Arc::from(s),
        Err(e) => {
            let at = e.valid_up_to();
            let lossy: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).into_owned());
            // The bytes before `at` are valid UTF-8, so the lossy copy keeps
            // them as they are: the bad byte's U+FFFD starts at `at`.
            let (start, end) = (at, at + char::REPLACEMENT_CHARACTER.len_utf8());
            problems.push(
                Problem::error(
                    "toml::not-utf8",
                    path,
                    format!("manifest is not UTF-8 (invalid byte at offset {at})"),
                )
                .at(&lossy, Some(start..end), "not UTF-8")
                .help("save the file as UTF-8"),
            );
            return None;
        }
    };
    match TomlSource::parse(path, text.clone()) {
        Ok(s) => Some(s),
        Err(e) => {
            let duplicate = e.message.contains("duplicate key");
            let (code, help) = if duplicate {
                (
                    "toml::duplicate-key",
                    "remove one of the two keys: a key may appear once",
                )
            } else {
                ("toml::syntax", "fix the TOML syntax (https://toml.io)")
            };
            let message = e
                .message
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_owned();
            problems.push(
                Problem::error(code, path, format!("invalid TOML: {message}"))
                    .at(
                        &text,
                        e.span,
                        if duplicate {
                            "defined again here"
                        } else {
                            "here"
                        },
                    )
                    .help(help),
            );
            None
        }
    }
}

/// What a field holds, for type errors.
fn expected_type(field: &str) -> &'static str {
    match field {
        "depends"
        | "build_steps"
        | "config_flags"
        | "config_env"
        | "custom_post_dl"
        | "custom_post_install" => "a list of strings",
        _ => "a string",
    }
}

fn schema_problems(
    source: &TomlSource,
    validator: &jsonschema::Validator,
    build_types: &[String],
) -> Vec<Problem> {
    let path = &source.path;
    let mut problems = Vec::new();
    let mut typed_paths = HashSet::new();
    let errors: Vec<_> = validator.iter_errors(&source.json).collect();
    for e in &errors {
        if matches!(e.kind(), ValidationErrorKind::Type { .. }) {
            typed_paths.insert(e.instance_path().as_str().to_owned());
        }
    }
    for e in &errors {
        let pointer = e.instance_path().as_str().to_owned();
        let field = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let problem = match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let mut p = Problem::error(
                        "manifest::unknown-field",
                        path,
                        format!("unknown field `{key}`"),
                    )
                    .at(
                        &source.text,
                        source.key_span(&pointer_child(&pointer, key)),
                        "not a manifest field",
                    );
                    p = match closest(key, manifest::FIELDS.iter().copied()) {
                        Some(s) => p.help(format!("did you mean `{s}`?")),
                        None => p.help(format!("manifest fields: {}", manifest::FIELDS.join(", "))),
                    };
                    problems.push(p);
                }
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let prop = property.as_str().unwrap_or("?");
                let help = if prop == "build_type" {
                    format!(
                        "add `build_type = \"…\"`, one of: {}",
                        build_types.join(", ")
                    )
                } else {
                    format!("add `{prop} = …` ({})", expected_type(prop))
                };
                Problem::error(
                    "manifest::missing-field",
                    path,
                    format!("missing field `{prop}`"),
                )
                .at(
                    &source.text,
                    Some(source.top_span()),
                    format!("`{prop}` is required"),
                )
                .help(help)
            }
            ValidationErrorKind::Enum { .. } if field == "build_type" => {
                if typed_paths.contains(&pointer) {
                    continue;
                }
                let given = source
                    .json
                    .get("build_type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let known = build_types.join(", ");
                let help = match closest(given, build_types.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`? Known build types: {known}"),
                    None => format!(
                        "known build types: {known} (each is a template in templates/build-types/)"
                    ),
                };
                Problem::error(
                    "manifest::unknown-build-type",
                    path,
                    format!("unknown build type `{given}`"),
                )
                .at(
                    &source.text,
                    source.value_span(&pointer),
                    "no such build type",
                )
                .help(help)
            }
            ValidationErrorKind::Type { .. } => {
                let is_element = pointer.matches('/').count() > 1;
                let what = if is_element {
                    "each entry of".to_owned()
                } else {
                    String::new()
                };
                let want = if is_element {
                    "a string"
                } else {
                    expected_type(&field)
                };
                let message = if is_element {
                    format!("{what} `{field}` must be a string")
                } else {
                    format!("`{field}` must be {want}")
                };
                Problem::error("manifest::wrong-type", path, message)
                    .at(
                        &source.text,
                        source.value_span(&pointer),
                        format!("expected {want}"),
                    )
                    .help(format!("write `{field}` as {}", example_of(&field)))
            }
            _ => Problem::error("manifest::schema", path, format!("`{field}`: {e}"))
                .at(&source.text, source.value_span(&pointer), "here")
                .help("see schema/package.schema.json for what each field takes"),
        };
        problems.push(problem);
    }
    problems
}

fn example_of(field: &str) -> String {
    match expected_type(field) {
        "a string" => format!("{field} = \"…\""),
        _ => format!("{field} = [\"…\", \"…\"]"),
    }
}

fn duplicate(
    first: &TomlSource,
    again: &TomlSource,
    name: &str,
    code: &'static str,
    what: &str,
) -> Problem {
    let message = if what == "package" {
        format!(
            "package `{name}` is already defined in {}",
            first.path.display()
        )
    } else {
        format!(
            "`{name}` has the same stage name as the package of {}",
            first.path.display()
        )
    };
    Problem::error(code, &again.path, message)
        .at(
            &again.text,
            again.value_span("/name"),
            format!("same {what} as in {}", file_label(&first.path)),
        )
        .help("each package has exactly one manifest: merge the two files or rename one package")
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

struct Ctx<'a> {
    templates: Option<&'a Templates>,
    names: &'a [&'a str],
    declared: &'a HashMap<String, usize>,
    prefix: &'a str,
}

impl Ctx<'_> {
    fn check_manifest(&self, source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
        let path = &source.path;
        let err =
            |code: &'static str, pointer: &str, message: String, label: &str, help: String| {
                Problem::error(code, path, message)
                    .at(&source.text, source.value_span(pointer), label)
                    .help(help)
            };

        // Name and file name.
        let name_ok = shell::check_name(&m.name).is_ok();
        let rev_ok = m.rev.as_deref().is_none_or(|r| shell::check_rev(r).is_ok());
        if let Err(why) = shell::check_name(&m.name) {
            problems.push(err(
                "manifest::bad-name",
                "/name",
                format!("package name `{}` {why}", m.name.escape_debug()),
                "not a valid package name",
                "use the GitHub `owner/repo` (letters, digits, `.` `_` `-` `+`) or a bare name"
                    .to_owned(),
            ));
        } else {
            let expected = manifest::file_name(&m.name);
            if file_label(path) != expected {
                problems.push(err(
                    "manifest::file-name",
                    "/name",
                    format!("manifest of `{}` must be named `{expected}`", m.name),
                    "the file name must follow this name",
                    format!(
                        "rename {} to {expected} (the name lower-cased, `/` → `-`)",
                        file_label(path)
                    ),
                ));
            }
        }

        // Revision.
        if let Some(rev) = &m.rev {
            if let Err(why) = shell::check_rev(rev) {
                problems.push(err(
                    "manifest::bad-rev",
                    "/rev",
                    format!("rev `{}` {why}", rev.escape_debug()),
                    "unsafe in the generated shell line",
                    "a rev is a tag, branch or commit: letters, digits, `.` `_` `-` `+` `/`"
                        .to_owned(),
                ));
            }
        }

        // SHA-256.
        if let Some(sum) = &m.sha256 {
            if sum.len() != 64
                || !sum
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                problems.push(err(
                    "manifest::bad-sha256",
                    "/sha256",
                    "sha256 must be 64 lower-case hex digits".to_owned(),
                    "not a SHA-256 digest",
                    "fill it with `build-unit-test-docker bump --checksum`, or `sha256sum` of the tarball".to_owned(),
                ));
            }
        }

        let sample = crate::model::template::ManifestVars {
            name: &m.name,
            rev: m.rev.as_deref().unwrap_or(SAMPLE_REV),
            prefix: self.prefix,
            jobs: SAMPLE_JOBS,
            arch: SAMPLE_ARCH,
        }
        .context();

        // URL.
        let url_text = m.url.as_deref().unwrap_or(manifest::DEFAULT_URL);
        if let Some(url) = self.check_templated(source, "/url", url_text, &sample, problems) {
            // A bad name or rev was reported already; the URL made of it is not news.
            let vars = self
                .templates
                .and_then(|t| t.variables_of(url_text).ok())
                .unwrap_or_default();
            let derived = (!name_ok && vars.contains("name")) || (!rev_ok && vars.contains("rev"));
            if let (false, Err(why)) = (derived, shell::check_url(&url)) {
                problems.push(err(
                    "manifest::bad-url",
                    if m.url.is_some() { "/url" } else { "/name" },
                    format!("url `{}` {why}", url.escape_debug()),
                    "cannot be downloaded safely",
                    "use an http(s) URL to a .tar.gz or .tar.bz2, with no spaces, quotes or shell operators".to_owned(),
                ));
            }
        }

        // Build type and the fields it takes.
        if let Some(templates) = self.templates {
            if let Some(bt) = templates.build_types.get(&m.build_type) {
                for field in template::BUILD_TYPE_FIELDS {
                    let used = bt.variables.contains(*field);
                    let present = match *field {
                        "build_steps" => m.build_steps.is_some(),
                        "config_flags" => !m.config_flags.is_empty(),
                        _ => !m.config_env.is_empty(),
                    };
                    let pointer = pointer_child("", field);
                    if used
                        && *field == "build_steps"
                        && m.build_steps.as_ref().is_none_or(Vec::is_empty)
                    {
                        problems.push(
                            Problem::error(
                                "manifest::build-steps-missing",
                                path,
                                format!("build type `{}` needs `build_steps`", m.build_type),
                            )
                            .at(&source.text, source.entry_span(&pointer).or_else(|| source.value_span("/build_type")), "no steps to run")
                            .help("add `build_steps = [\"…\"]`: the shell steps that build and install the package"),
                        );
                    } else if !used && present {
                        problems.push(
                            Problem::error(
                                if *field == "build_steps" { "manifest::build-steps-unexpected" } else { "manifest::field-unused" },
                                path,
                                format!("`{field}` has no effect with build type `{}`", m.build_type),
                            )
                            .at(&source.text, source.key_span(&pointer), "ignored by this build type")
                            .help(format!(
                                "remove `{field}`, or use a build type whose template uses it (templates/build-types/)"
                            )),
                        );
                    }
                }
            }
        }

        // Templated lists and shell safety.
        let steps = m.build_steps.clone().unwrap_or_default();
        type Rule = fn(&str) -> Result<(), String>;
        let lists: [(&str, &Vec<String>, Rule, &'static str); 5] = [
            (
                "build_steps",
                &steps,
                shell::check_step,
                "manifest::unsafe-step",
            ),
            (
                "custom_post_dl",
                &m.custom_post_dl,
                shell::check_step,
                "manifest::unsafe-step",
            ),
            (
                "custom_post_install",
                &m.custom_post_install,
                shell::check_step,
                "manifest::unsafe-step",
            ),
            (
                "config_flags",
                &m.config_flags,
                shell::check_flag,
                "manifest::unsafe-flag",
            ),
            (
                "config_env",
                &m.config_env,
                shell::check_env,
                "manifest::unsafe-env",
            ),
        ];
        for (field, items, rule, code) in lists {
            for (i, item) in items.iter().enumerate() {
                let pointer = format!("/{field}/{i}");
                let Some(text) = self.check_templated(source, &pointer, item, &sample, problems)
                else {
                    continue;
                };
                if let Err(why) = rule(&text) {
                    problems.push(err(
                        code,
                        &pointer,
                        format!("{field} entry `{}` {why}", text.escape_debug()),
                        "would break the generated shell line",
                        safety_help(field),
                    ));
                }
            }
        }

        // Dependencies.
        let mut seen = HashSet::new();
        for (i, dep) in m.depends.iter().enumerate() {
            let pointer = format!("/depends/{i}");
            if dep == &m.name {
                problems.push(err(
                    "manifest::self-dependency",
                    &pointer,
                    format!("`{}` depends on itself", m.name),
                    "a package cannot depend on itself",
                    "remove this entry".to_owned(),
                ));
            } else if !self.declared.contains_key(dep) {
                let help = match closest(dep, self.names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "add packages.d/{} for it, or remove this entry",
                        manifest::file_name(dep)
                    ),
                };
                problems.push(err(
                    "manifest::unknown-dependency",
                    &pointer,
                    format!("dependency `{}` is not a package", dep.escape_debug()),
                    "no manifest declares this name",
                    help,
                ));
            } else if !seen.insert(dep.as_str()) {
                problems.push(err(
                    "manifest::duplicate-dependency",
                    &pointer,
                    format!("dependency `{dep}` is listed twice"),
                    "listed again here",
                    "remove the second entry".to_owned(),
                ));
            }
        }
    }

    /// Checks a templated string's syntax and variables and renders it
    /// with sample values; None when it has a problem (reported).
    fn check_templated(
        &self,
        source: &TomlSource,
        pointer: &str,
        text: &str,
        sample: &Value,
        problems: &mut Vec<Problem>,
    ) -> Option<String> {
        let env = match self.templates {
            Some(t) => t,
            None => {
                return Some(text.to_owned()).filter(|t| !t.contains("{{") && !t.contains("{%"))
            }
        };
        let field = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        let problem = |message: String, label: &str, help: String| {
            Problem::error("manifest::template", &source.path, message)
                .at(&source.text, source.value_span(pointer), label)
                .help(help)
        };
        match env.variables_of(text) {
            Err(e) => {
                problems.push(problem(
                    format!(
                        "`{field}` is not a valid template: {}",
                        e.detail().unwrap_or("syntax error")
                    ),
                    "template syntax error",
                    "templates use {{ prefix }}, {{ jobs }}, {{ name }} and {{ rev }}".to_owned(),
                ));
                None
            }
            Ok(vars) => {
                let unknown: Vec<&String> = vars
                    .iter()
                    .filter(|v| !MANIFEST_VARS.contains(&v.as_str()))
                    .collect();
                if let Some(var) = unknown.first() {
                    let hint = closest(var, MANIFEST_VARS.iter().copied())
                        .map(|s| format!("did you mean `{{{{ {s} }}}}`? "))
                        .unwrap_or_default();
                    problems.push(problem(
                        format!("`{field}` uses the variable `{var}`, which nothing fills"),
                        "unknown template variable",
                        format!("{hint}variables here: {}", MANIFEST_VARS.join(", ")),
                    ));
                    return None;
                }
                match env.render_str(text, sample) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        problems.push(problem(
                            format!("`{field}` does not render: {}", template::what_failed(&e)),
                            "template error",
                            template::limit_help(&e).unwrap_or_else(|| {
                                "check the filters and expressions used".to_owned()
                            }),
                        ));
                        None
                    }
                }
            }
        }
    }
}

fn safety_help(field: &str) -> String {
    match field {
        "config_flags" => {
            "one option per entry, quotes balanced, no `;` `&` `|` `<` `>` backticks or `$(`"
                .to_owned()
        }
        "config_env" => {
            "one NAME=value per entry, quotes balanced, no `;` `&` `|` `<` `>` backticks or `$(`"
                .to_owned()
        }
        _ => "one command per entry, on one line, with balanced quotes".to_owned(),
    }
}

/// Reports each dependency cycle once, at the first edge of the cycle.
fn check_cycles(
    parsed: &[(TomlSource, Option<Manifest>)],
    declared: &HashMap<String, usize>,
    problems: &mut Vec<Problem>,
) {
    // Graph over parsed files with a manifest, following known, non-self edges.
    let edges: Vec<Vec<(usize, usize)>> = parsed
        .iter()
        .map(|(_, m)| {
            m.as_ref()
                .map(|m| {
                    m.depends
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| *d != &m.name)
                        .filter_map(|(k, d)| declared.get(d).map(|&j| (j, k)))
                        .filter(|(j, _)| parsed[*j].1.is_some())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let dag = crate::dag::Dag::new(
        edges
            .iter()
            .map(|e| e.iter().map(|&(to, _)| to).collect())
            .collect(),
    );
    for cycle in dag.cycles() {
        problems.push(cycle_problem(parsed, &edges, &cycle));
    }
}

fn cycle_problem(
    parsed: &[(TomlSource, Option<Manifest>)],
    edges: &[Vec<(usize, usize)>],
    cycle: &[usize],
) -> Problem {
    let name = |i: usize| parsed[i].1.as_ref().map_or("?", |m| m.name.as_str());
    // Start the cycle at its smallest name so the message is stable.
    let start = (0..cycle.len())
        .min_by_key(|&k| name(cycle[k]))
        .unwrap_or(0);
    let ordered: Vec<usize> = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .copied()
        .collect();
    let mut text: Vec<&str> = ordered.iter().map(|&i| name(i)).collect();
    text.push(name(ordered[0]));
    let (first, second) = (ordered[0], ordered.get(1).copied().unwrap_or(ordered[0]));
    let dep_index = edges[first]
        .iter()
        .find(|(to, _)| *to == second)
        .map_or(0, |(_, k)| *k);
    let source = &parsed[first].0;
    Problem::error("manifest::dependency-cycle", &source.path, format!("dependency cycle: {}", text.join(" → ")))
        .at(&source.text, source.value_span(&format!("/depends/{dep_index}")), "this dependency closes a cycle")
        .help("packages are built in dependency order, so a cycle can never start: remove one of these dependencies")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's default root with `file` in packages.d/ reading `text`.
    fn check_one(file: &str, text: &str) -> Checked {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Sources::read(root);
        assert!(sources.replace(&root.join("packages.d").join(file), text));
        check(&sources)
    }

    /// The shipped templates and `manifests`, held in memory only, under a
    /// root that does not exist: nothing is read from disk.
    fn in_memory(manifests: &[(&str, &str)]) -> Sources {
        let mut files = crate::model::sources::shipped_templates();
        files.extend(
            manifests
                .iter()
                .map(|(file, text)| (format!("{PACKAGES_DIR}/{file}"), (*text).to_owned())),
        );
        Sources::from_files(Path::new("/nonexistent/root"), files)
    }

    fn codes(checked: &Checked) -> Vec<String> {
        checked
            .problems
            .iter()
            .map(|p| p.code.to_string())
            .collect()
    }

    #[test]
    fn the_default_root_is_valid() {
        let checked = check_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(checked.project.is_some(), "{:?}", codes(&checked));
        assert_eq!(checked.project.map(|p| p.packages.len()), Some(25));
    }

    #[test]
    fn a_rule_failure_names_its_code_and_keeps_a_partial_view() {
        let checked = check_one(
            "fmtlib-fmt.toml",
            "name = \"fmtlib/fmt\"\nrev = \"1 2\"\nbuild_type = \"cmake\"\n",
        );
        assert!(checked.project.is_none());
        assert!(
            codes(&checked).iter().any(|c| c.contains("rev")),
            "{:?}",
            codes(&checked)
        );
        assert!(checked.partial.is_some(), "views can still show the tree");
    }

    #[test]
    fn a_cycle_is_reported_once() {
        let checked = check_one(
            "openbmc-sdbusplus.toml",
            "name = \"openbmc/sdbusplus\"\ndepends = [\"openbmc/phosphor-logging\"]\nbuild_type = \"meson\"\n",
        );
        let cycles: Vec<String> = codes(&checked)
            .into_iter()
            .filter(|c| c.contains("cycle"))
            .collect();
        assert_eq!(cycles.len(), 1, "{:?}", codes(&checked));
    }

    #[test]
    fn an_in_memory_root_is_checked_without_the_filesystem() {
        let good = in_memory(&[
            ("acme-lib.toml", "name = \"acme/lib\"\nrev = \"v1\"\nbuild_type = \"cmake\"\n"),
            (
                "acme-app.toml",
                "name = \"acme/app\"\nrev = \"v2\"\ndepends = [\"acme/lib\"]\nbuild_type = \"make\"\n",
            ),
        ]);
        let checked = check(&good);
        assert_eq!(codes(&checked), Vec::<String>::new());
        let project = checked.project.expect("valid");
        assert_eq!(
            project.packages.keys().collect::<Vec<_>>(),
            ["acme/app", "acme/lib"]
        );
        assert_eq!(project.root, Path::new("/nonexistent/root"));

        let mut bad = good.clone();
        let path = Path::new("/nonexistent/root/packages.d/acme-app.toml");
        assert!(bad.replace(
            path,
            "name = \"acme/app\"\nrev = \"v2\"\ndepends = [\"acme/lbi\"]\nbuild_type = \"make\"\n",
        ));
        let checked = check(&bad);
        assert!(checked.project.is_none());
        assert_eq!(codes(&checked), ["manifest::unknown-dependency"]);
        let problem = &checked.problems[0];
        assert_eq!(problem.file, path);
        assert_eq!(problem.line_col(), Some((3, 12)));
        assert_eq!(problem.help.as_deref(), Some("did you mean `acme/lib`?"));
    }

    #[test]
    fn checking_the_same_sources_twice_gives_the_same_problems() {
        let sources = in_memory(&[("a-b.toml", "name = \"a/b\"\nrev = \"1 2\"\n")]);
        let once: Vec<String> = check(&sources)
            .problems
            .iter()
            .map(|p| p.message.clone())
            .collect();
        let again: Vec<String> = check(&sources)
            .problems
            .iter()
            .map(|p| p.message.clone())
            .collect();
        assert!(!once.is_empty());
        assert_eq!(once, again);
    }
}
