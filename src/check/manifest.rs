//! The rules of one manifest that met the schema: its name and file name,
//! rev, sha256, url, the fields its build type takes, its templated lists
//! (syntax, variables, and shell safety once rendered with sample values)
//! and its dependencies.
//!
//! Owns: those rules and `check_templated`, the trial render of a
//! manifest's templated string. Must not: report what the schema already
//! did, claim names (`names`), or follow dependencies further than one
//! step (`cycles`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::check::diag::Problem;
use crate::check::names::file_label;
use crate::check::shell;
use crate::check::suggest::closest;
use crate::model::manifest::{self, Manifest};
use crate::model::source::{pointer_child, TomlSource};
use crate::model::template::{self, Templates, MANIFEST_VARS};

/// A sample of the values filled at render time, to check templated strings.
const SAMPLE_REV: &str = "0123456789abcdef0123456789abcdef01234567";
const SAMPLE_JOBS: usize = 2;
const SAMPLE_ARCH: &str = "x86_64";

/// What the rules of one manifest see of the others and of the templates.
pub(super) struct Ctx<'a> {
    templates: Option<&'a Templates>,
    /// The declared names, sorted, for "did you mean".
    names: Vec<&'a str>,
    declared: &'a HashMap<String, usize>,
    prefix: &'a str,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        templates: Option<&'a Templates>,
        declared: &'a HashMap<String, usize>,
        prefix: &'a str,
    ) -> Self {
        let mut names: Vec<&str> = declared.keys().map(String::as_str).collect();
        names.sort_unstable();
        Ctx {
            templates,
            names,
            declared,
            prefix,
        }
    }

    /// Every rule of one manifest, in the order its problems are reported.
    pub(super) fn check_manifest(
        &self,
        source: &TomlSource,
        m: &Manifest,
        problems: &mut Vec<Problem>,
    ) {
        name_and_file_name(source, m, problems);
        rev(source, m, problems);
        sha256(source, m, problems);
        let sample = self.sample(m);
        self.url(source, m, &sample, problems);
        self.build_type_fields(source, m, problems);
        self.templated_lists(source, m, &sample, problems);
        self.dependencies(source, m, problems);
    }

    /// The values a templated string of `m` is tried with.
    fn sample(&self, m: &Manifest) -> Value {
        template::ManifestVars {
            name: &m.name,
            rev: m.rev.as_deref().unwrap_or(SAMPLE_REV),
            prefix: self.prefix,
            jobs: SAMPLE_JOBS,
            arch: SAMPLE_ARCH,
        }
        .context()
    }

    /// The url (or the default one) is a template that renders to a safe
    /// download URL; one that is unsafe only through a bad name or rev is
    /// not reported again.
    fn url(&self, source: &TomlSource, m: &Manifest, sample: &Value, problems: &mut Vec<Problem>) {
        let name_ok = shell::check_name(&m.name).is_ok();
        let rev_ok = m.rev.as_deref().is_none_or(|r| shell::check_rev(r).is_ok());
        let url_text = m.url.as_deref().unwrap_or(manifest::DEFAULT_URL);
        if let Some(url) = self.check_templated(source, "/url", url_text, sample, problems) {
            // A bad name or rev was reported already; the URL made of it is not news.
            let vars = self
                .templates
                .and_then(|t| t.variables_of(url_text).ok())
                .unwrap_or_default();
            let derived = (!name_ok && vars.contains("name")) || (!rev_ok && vars.contains("rev"));
            if let (false, Err(why)) = (derived, shell::check_url(&url)) {
                problems.push(error(
                    source,
                    "manifest::bad-url",
                    if m.url.is_some() { "/url" } else { "/name" },
                    format!("url `{}` {why}", url.escape_debug()),
                    "cannot be downloaded safely",
                    "use an http(s) URL to a .tar.gz or .tar.bz2, with no spaces, quotes or shell operators".to_owned(),
                ));
            }
        }
    }

    /// The fields a build type may take: `build_steps` is required when its
    /// template uses it, and none may be set when its template does not.
    fn build_type_fields(&self, source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
        let path = &source.path;
        let Some(bt) = self
            .templates
            .and_then(|templates| templates.build_types.get(&m.build_type))
        else {
            return;
        };
        let set = m.set_fields();
        for field in template::BUILD_TYPE_FIELDS {
            let used = bt.variables.contains(*field);
            let present = set.iter().any(|f| f == field);
            let pointer = pointer_child("", field);
            if used && *field == "build_steps" && m.build_steps.as_ref().is_none_or(Vec::is_empty) {
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

    /// Each entry of the templated lists is a template that renders, with
    /// sample values, to something safe in the generated shell line.
    fn templated_lists(
        &self,
        source: &TomlSource,
        m: &Manifest,
        sample: &Value,
        problems: &mut Vec<Problem>,
    ) {
        const STEP_HELP: &str = "one command per entry, on one line, with balanced quotes";
        let steps = m.build_steps.clone().unwrap_or_default();
        type Rule = fn(&str) -> Result<(), String>;
        // (field, entries, rule, code, help)
        let lists: [(&str, &Vec<String>, Rule, &'static str, &str); 5] = [
            (
                "build_steps",
                &steps,
                shell::check_step,
                "manifest::unsafe-step",
                STEP_HELP,
            ),
            (
                "custom_post_dl",
                &m.custom_post_dl,
                shell::check_step,
                "manifest::unsafe-step",
                STEP_HELP,
            ),
            (
                "custom_post_install",
                &m.custom_post_install,
                shell::check_step,
                "manifest::unsafe-step",
                STEP_HELP,
            ),
            (
                "config_flags",
                &m.config_flags,
                shell::check_flag,
                "manifest::unsafe-flag",
                "one option per entry, quotes balanced, no `;` `&` `|` `<` `>` backticks or `$(`",
            ),
            (
                "config_env",
                &m.config_env,
                shell::check_env,
                "manifest::unsafe-env",
                "one NAME=value per entry, quotes balanced, no `;` `&` `|` `<` `>` backticks or `$(`",
            ),
        ];
        for (field, items, rule, code, help) in lists {
            for (i, item) in items.iter().enumerate() {
                let pointer = format!("/{field}/{i}");
                let Some(text) = self.check_templated(source, &pointer, item, sample, problems)
                else {
                    continue;
                };
                if let Err(why) = rule(&text) {
                    problems.push(error(
                        source,
                        code,
                        &pointer,
                        format!("{field} entry `{}` {why}", text.escape_debug()),
                        "would break the generated shell line",
                        help.to_owned(),
                    ));
                }
            }
        }
    }

    /// Each dependency is another declared package, listed once.
    fn dependencies(&self, source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
        let mut seen = HashSet::new();
        for (i, dep) in m.depends.iter().enumerate() {
            let pointer = format!("/depends/{i}");
            if dep == &m.name {
                problems.push(error(
                    source,
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
                problems.push(error(
                    source,
                    "manifest::unknown-dependency",
                    &pointer,
                    format!("dependency `{}` is not a package", dep.escape_debug()),
                    "no manifest declares this name",
                    help,
                ));
            } else if !seen.insert(dep.as_str()) {
                problems.push(error(
                    source,
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

/// An error of the rule `code` at the value `pointer` points to.
fn error(
    source: &TomlSource,
    code: &'static str,
    pointer: &str,
    message: String,
    label: &str,
    help: String,
) -> Problem {
    Problem::error(code, &source.path, message)
        .at(&source.text, source.value_span(pointer), label)
        .help(help)
}

/// The name is a valid package name, and the file is named after it.
fn name_and_file_name(source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
    let path = &source.path;
    if let Err(why) = shell::check_name(&m.name) {
        problems.push(error(
            source,
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
            problems.push(error(
                source,
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
}

/// A rev, when set, is safe in the generated shell line.
fn rev(source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
    if let Some(rev) = &m.rev {
        if let Err(why) = shell::check_rev(rev) {
            problems.push(error(
                source,
                "manifest::bad-rev",
                "/rev",
                format!("rev `{}` {why}", rev.escape_debug()),
                "unsafe in the generated shell line",
                "a rev is a tag, branch or commit: letters, digits, `.` `_` `-` `+` `/`".to_owned(),
            ));
        }
    }
}

/// A sha256, when set, is 64 lower-case hex digits.
fn sha256(source: &TomlSource, m: &Manifest, problems: &mut Vec<Problem>) {
    if let Some(sum) = &m.sha256 {
        if sum.len() != 64
            || !sum
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            problems.push(error(
                source,
                "manifest::bad-sha256",
                "/sha256",
                "sha256 must be 64 lower-case hex digits".to_owned(),
                "not a SHA-256 digest",
                "fill it with `build-unit-test-docker bump --checksum`, or `sha256sum` of the tarball".to_owned(),
            ));
        }
    }
}
