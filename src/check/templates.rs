//! The rules of `templates/`: every file loads, each template uses only the
//! variables its kind is given, there is at least one build type, and
//! base.toml has the keys the base stage needs, with values that are safe
//! in a RUN line.
//!
//! Owns: turning what `model::template` loads into problems (it asks the
//! model to load and compile them from the sources already read), and into
//! the `Templates` when none is found. Must not: read files, or compile a
//! template by means of its own.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use serde_json::Value;

use crate::check::diag::Problem;
use crate::check::shell;
use crate::check::suggest::closest;
use crate::model::settings::{BaseRule, BranchMatch, CpuCount};
use crate::model::source::pointer_child;
use crate::model::sources::TemplateSources;
use crate::model::template::{
    BaseVars, LoadError, LoadedTemplates, TemplateFile, Templates, BASE_EXTRA_VARS, BASE_VARS_FILE,
    BUILD_TYPES_DIR, BUILD_TYPE_SUFFIX, BUILD_TYPE_VARS, FINAL_VARS, PACKAGE_VARS,
};

/// The values a rule key takes ([`BaseRule::names`]).
type Names = fn() -> &'static [&'static str];
/// base.toml keys that choose a rule rather than fill a template: the
/// values each takes, and what they mean.
const RULE_KEYS: &[(&str, Names, &str)] = &[
    (
        BranchMatch::KEY,
        BranchMatch::names,
        "\"regex-suffix\" is OpenBMC's rule today, \"contains\" the 2021 script's",
    ),
    (
        CpuCount::KEY,
        CpuCount::names,
        "\"affinity\" is OpenBMC's rule today, \"nproc\" the 2021 script's",
    ),
];

/// Loads and checks the templates of `sources`; the templates when no
/// problem was found (each found is added to `problems`).
pub fn check(sources: &TemplateSources, problems: &mut Vec<Problem>) -> Option<Templates> {
    let loaded = LoadedTemplates::load(sources);
    let mut found = Vec::new();

    let base_vars_path = &sources.base_vars.path;
    match &loaded.base_vars {
        Ok(vars) => check_base_vars(vars, &mut found),
        Err(e) => found.push(base_vars_error(base_vars_path, e)),
    }
    let base_keys: BTreeSet<String> = loaded
        .base_vars
        .as_ref()
        .map(|v| v.vars.keys().cloned().collect())
        .unwrap_or_default();
    let none = BTreeSet::new();

    let stages = [
        (&sources.base, &loaded.base, BASE_EXTRA_VARS, &base_keys),
        (&sources.package, &loaded.package, PACKAGE_VARS, &none),
        (&sources.final_, &loaded.final_, FINAL_VARS, &none),
    ];
    for (file, result, allowed, extra) in stages {
        // Without base.toml, the base template's own variables are not news.
        let base_unread = std::ptr::eq(file, &sources.base) && loaded.base_vars.is_err();
        if base_unread && result.is_ok() {
            continue;
        }
        check_template(&file.path, result, allowed, extra, &mut found);
    }
    if loaded.build_types.is_empty() {
        found.push(
            Problem::error(
                "template::no-build-types",
                &sources.dir.join(BUILD_TYPES_DIR),
                format!(
                    "no build types: {}/*{BUILD_TYPE_SUFFIX} has no file",
                    BUILD_TYPES_DIR
                ),
            )
            .help("add one template per build type, e.g. build-types/cmake.sh.j2"),
        );
    }
    for ((_, file), (_, result)) in sources.build_types.iter().zip(&loaded.build_types) {
        check_template(&file.path, result, BUILD_TYPE_VARS, &none, &mut found);
    }

    if let (Ok(vars), Ok(_)) = (&loaded.base_vars, &loaded.base) {
        for required in ["prefix", "distro"] {
            if !base_keys.contains(required) {
                found.push(
                    Problem::error(
                        "template::missing-base-var",
                        base_vars_path,
                        format!("`{required}` is missing from {BASE_VARS_FILE}"),
                    )
                    .at(
                        &vars.source.text,
                        Some(vars.source.top_span()),
                        "add it to this file",
                    )
                    .help(format!(
                        "add `{required} = \"…\"` (see the project's templates/base.toml)"
                    )),
                );
            }
        }
    }

    let clean = found.is_empty();
    problems.extend(found);
    if clean {
        loaded.into_templates()
    } else {
        None
    }
}

/// A template that did not load, or the variables it reads that nothing
/// fills.
fn check_template(
    path: &Path,
    loaded: &Result<TemplateFile, LoadError>,
    allowed: &[&str],
    extra: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) {
    let file = match loaded {
        Ok(file) => file,
        Err(LoadError::Unreadable(e)) => {
            problems.push(
                Problem::error("template::unreadable", path, format!("cannot read template: {e}"))
                    .help("every root needs templates/base.Dockerfile.j2, package.Dockerfile.j2, final.Dockerfile.j2, base.toml and build-types/"),
            );
            return;
        }
        Err(LoadError::Syntax { text, detail, span }) => {
            problems.push(
                Problem::error(
                    "template::syntax",
                    path,
                    format!("template syntax error: {detail}"),
                )
                .at(text, span.clone(), "here")
                .help("fix the template syntax (minijinja, a Jinja2 dialect)"),
            );
            return;
        }
    };
    for var in &file.variables {
        if !allowed.contains(&var.as_str()) && !extra.contains(var) {
            problems.push(unknown_variable(file, var, allowed, extra));
        }
    }
}

fn unknown_variable(
    file: &TemplateFile,
    var: &str,
    allowed: &[&str],
    extra: &BTreeSet<String>,
) -> Problem {
    let mut known: Vec<&str> = allowed.to_vec();
    known.extend(extra.iter().map(String::as_str));
    let help = match closest(var, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? Variables here: {}", known.join(", ")),
        None => format!("variables here: {}", known.join(", ")),
    };
    Problem::error(
        "template::undefined-variable",
        &file.path,
        format!("template uses `{var}`, which nothing fills"),
    )
    .at(
        &file.text,
        find_variable(&file.text, var).or(Some(0..0)),
        "not a variable of this template",
    )
    .help(help)
}

/// The first place `var` is used inside a `{{ … }}` or `{% … %}` of `text`.
fn find_variable(text: &str, var: &str) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(var).map(|i| i + from) {
        let before_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let end = i + var.len();
        let after_ok =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        let open = text[..i].rfind(['{']).map(|o| {
            o > 0 && matches!(bytes[o - 1], b'{' | b'%')
                || matches!(bytes.get(o + 1), Some(b'{' | b'%'))
        });
        if before_ok && after_ok && open.unwrap_or(false) {
            return Some(i..end);
        }
        from = end;
    }
    None
}

fn base_vars_error(path: &Path, e: &LoadError) -> Problem {
    match e {
        LoadError::Unreadable(e) => Problem::error(
            "template::unreadable",
            path,
            format!("cannot read {BASE_VARS_FILE}: {e}"),
        )
        .help("create templates/base.toml with at least `prefix` and `distro`"),
        LoadError::Syntax { text, detail, span } => {
            Problem::error("toml::syntax", path, format!("invalid TOML: {detail}"))
                .at(text, span.clone(), "here")
                .help("fix the TOML syntax")
        }
    }
}

/// Each value of base.toml: safe in a RUN line, a known rule where it
/// chooses one, a string or a list of strings.
fn check_base_vars(base: &BaseVars, problems: &mut Vec<Problem>) {
    let (path, text) = (&base.source.path, &base.source.text);
    for (key, value) in &base.vars {
        let ok = match value {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let pointer = pointer_child("", key);
        if let Some(why) = strings.iter().find_map(|s| shell::check_plain(s).err()) {
            problems.push(
                Problem::error("template::unsafe-base-var", path, format!("`{key}` {why}, which would break the base Dockerfile"))
                    .at(text, base.source.value_span(&pointer), "unsafe in a RUN line")
                    .help("base.toml values are versions, names and images: no spaces, quotes or shell operators"),
            );
        }
        if let Some((_, names, hint)) = RULE_KEYS.iter().find(|(k, _, _)| *k == key.as_str()) {
            let names = names();
            if !value.as_str().is_some_and(|v| names.contains(&v)) {
                problems.push(
                    Problem::error(
                        "template::unknown-rule",
                        path,
                        format!("`{key}` must be one of {}", names.join(", ")),
                    )
                    .at(text, base.source.value_span(&pointer), "not a known rule")
                    .help(*hint),
                );
            }
        }
        if !ok {
            problems.push(
                Problem::error(
                    "template::base-var-type",
                    path,
                    format!("`{key}` must be a string or a list of strings"),
                )
                .at(
                    text,
                    base.source.value_span(&pointer),
                    "not a string or list of strings",
                )
                .help(
                    "template variables in base.toml are strings (\"1.2.3\") or lists of strings",
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sources::Sources;

    #[test]
    fn finds_variables_inside_tags_only() {
        let text = "jobs here {{ config_flags | join(' ') }} -j{{ jobs }}";
        let r = find_variable(text, "jobs").expect("found");
        assert_eq!(&text[r.clone()], "jobs");
        assert!(r.start > text.find("-j").unwrap_or(0));
    }

    #[test]
    fn each_rule_of_templates_is_reported_in_file_order() {
        let sources = Sources::from_files(
            Path::new("/nowhere"),
            [
                (
                    "templates/base.toml",
                    "distro = \"a b\"\nbranch_match = \"exact\"\n".to_owned(),
                ),
                (
                    "templates/base.Dockerfile.j2",
                    "FROM {{ distro }}\n".to_owned(),
                ),
                (
                    "templates/package.Dockerfile.j2",
                    "FROM {{ base_imag }}\n".to_owned(),
                ),
                ("templates/final.Dockerfile.j2", "{% if %}\n".to_owned()),
            ],
        );
        let mut problems = Vec::new();
        assert!(check(&sources.templates, &mut problems).is_none());
        let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "template::unsafe-base-var",
                "template::unknown-rule",
                "template::undefined-variable",
                "template::syntax",
                "template::no-build-types",
                "template::missing-base-var",
            ]
        );
        assert_eq!(
            problems[1].message,
            "`branch_match` must be one of regex-suffix, contains"
        );
        assert_eq!(
            problems[2]
                .help
                .as_deref()
                .map(|h| h.starts_with("did you mean `base_image`?")),
            Some(true)
        );
    }
}
