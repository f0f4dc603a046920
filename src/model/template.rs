//! The templates of a project root: the base, package and final Dockerfile
//! templates, the build types, and the variables in `templates/base.toml`.
//!
//! Owns: loading them from the text `sources` read, the template engine's settings (strict undefined,
//! byte-exact whitespace), and which variables each kind of template may
//! use. Must not: know about packages beyond the variable names they fill.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::check::diag::Problem;
use crate::model::source::TomlSource;
use crate::model::sources::{TemplateSources, TextFile};

/// Variables the package stage template is given.
pub const PACKAGE_VARS: &[&str] = &[
    "base_image",
    "prefix",
    "depends",
    "name",
    "rev",
    "url",
    "tar_flag",
    "srcdir",
    "sha256",
    "custom_post_dl",
    "build",
    "custom_post_install",
];
/// Variables the final stage template is given.
pub const FINAL_VARS: &[&str] = &[
    "base_image",
    "prefix",
    "packages",
    "depcache",
    "uid",
    "gid",
    "username",
    "homedir",
    "home_parent",
    "http_proxy",
];
/// Variables the base template is given besides those of base.toml.
pub const BASE_EXTRA_VARS: &[&str] = &[
    "arch",
    "docker_reg",
    "ubuntu_mirror",
    "http_proxy",
    "ci_build",
    "timestamp",
];
/// Variables a build-type template is given.
pub const BUILD_TYPE_VARS: &[&str] = &[
    "name",
    "rev",
    "url",
    "prefix",
    "jobs",
    "arch",
    "config_flags",
    "config_env",
    "build_steps",
];
/// Manifest fields a build type may or may not use; one it does not use
/// must not be set, one it uses is required when it is `build_steps`.
pub const BUILD_TYPE_FIELDS: &[&str] = &["build_steps", "config_flags", "config_env"];
/// Variables the templated strings of a manifest (and its url) may use.
pub const MANIFEST_VARS: &[&str] = &["name", "rev", "prefix", "jobs", "arch"];

/// The template files of a root, relative to `templates/`.
pub const BASE_FILE: &str = "base.Dockerfile.j2";
pub const PACKAGE_FILE: &str = "package.Dockerfile.j2";
pub const FINAL_FILE: &str = "final.Dockerfile.j2";
pub const BASE_VARS_FILE: &str = "base.toml";
pub const BUILD_TYPES_DIR: &str = "build-types";
pub const BUILD_TYPE_SUFFIX: &str = ".sh.j2";

/// A loaded template file.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    /// Top-level variables it reads.
    pub variables: BTreeSet<String>,
}

/// Every template of a root, compiled.
#[derive(Debug)]
pub struct Templates {
    pub dir: PathBuf,
    env: Environment<'static>,
    pub base: TemplateFile,
    pub package: TemplateFile,
    pub final_: TemplateFile,
    /// Build types by name, sorted.
    pub build_types: IndexMap<String, TemplateFile>,
    /// `templates/base.toml`, in file order.
    pub base_vars: IndexMap<String, Value>,
    pub base_vars_source: TomlSource,
}

/// A template engine configured the way every template here is rendered.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("dirname", |path: String| {
        crate::model::settings::dirname(&path)
    });
    env
}

impl Templates {
    /// Loads and checks every template of `sources`; returns every problem
    /// found.
    pub fn load(sources: &TemplateSources) -> Result<Templates, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut env = environment();
        let load = |env: &mut Environment<'static>,
                    problems: &mut Vec<Problem>,
                    name: &str,
                    source: &TextFile,
                    allowed: &[&str],
                    extra: &BTreeSet<String>| {
            let file = read_template(env, name, source, problems)?;
            for var in &file.variables {
                if !allowed.contains(&var.as_str()) && !extra.contains(var) {
                    problems.push(unknown_variable(&file, var, allowed, extra));
                }
            }
            Some(file)
        };
        let none = BTreeSet::new();

        let base_vars_path = &sources.base_vars.path;
        let base_vars = load_base_vars(&sources.base_vars, &mut problems);
        let base_keys: BTreeSet<String> = base_vars
            .as_ref()
            .map(|(v, _)| v.keys().cloned().collect())
            .unwrap_or_default();

        let base = load(
            &mut env,
            &mut problems,
            "base",
            &sources.base,
            BASE_EXTRA_VARS,
            &base_keys,
        );
        let package = load(
            &mut env,
            &mut problems,
            "package",
            &sources.package,
            PACKAGE_VARS,
            &none,
        );
        let final_ = load(
            &mut env,
            &mut problems,
            "final",
            &sources.final_,
            FINAL_VARS,
            &none,
        );
        let mut build_types = IndexMap::new();
        if sources.build_types.is_empty() {
            problems.push(
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
        for (name, source) in &sources.build_types {
            if let Some(file) = load(
                &mut env,
                &mut problems,
                &format!("build-types/{name}"),
                source,
                BUILD_TYPE_VARS,
                &none,
            ) {
                build_types.insert(name.clone(), file);
            }
        }
        if let (Some((_, vars_source)), Some(_)) = (&base_vars, &base) {
            for required in ["prefix", "distro"] {
                if !base_keys.contains(required) {
                    problems.push(
                        Problem::error(
                            "template::missing-base-var",
                            base_vars_path,
                            format!("`{required}` is missing from {BASE_VARS_FILE}"),
                        )
                        .at(
                            &vars_source.text,
                            Some(vars_source.top_span()),
                            "add it to this file",
                        )
                        .help(format!(
                            "add `{required} = \"…\"` (see the project's templates/base.toml)"
                        )),
                    );
                }
            }
        }
        match (base, package, final_, base_vars) {
            (Some(base), Some(package), Some(final_), Some((base_vars, base_vars_source)))
                if problems.is_empty() =>
            {
                Ok(Templates {
                    dir: sources.dir.clone(),
                    env,
                    base,
                    package,
                    final_,
                    build_types,
                    base_vars,
                    base_vars_source,
                })
            }
            _ => Err(problems),
        }
    }

    /// Renders the template `name` ("base", "package", "final",
    /// "build-types/<type>").
    /// A string value of base.toml.
    pub fn base_str(&self, key: &str) -> Option<&str> {
        self.base_vars.get(key).and_then(Value::as_str)
    }

    /// The install prefix (base.toml's `prefix`, else /usr/local).
    pub fn prefix(&self) -> &str {
        self.base_str("prefix").unwrap_or("/usr/local")
    }

    pub fn render(&self, name: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// Renders a one-line template string from a manifest.
    pub fn render_str(&self, text: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        self.env.render_str(text, ctx)
    }

    /// The top-level variables a template string reads.
    pub fn variables_of(&self, text: &str) -> Result<BTreeSet<String>, minijinja::Error> {
        Ok(self
            .env
            .template_from_str(text)?
            .undeclared_variables(false)
            .into_iter()
            .collect())
    }

    /// Names of the build types, sorted.
    pub fn build_type_names(&self) -> Vec<String> {
        self.build_types.keys().cloned().collect()
    }
}

fn read_template(
    env: &mut Environment<'static>,
    name: &str,
    source: &TextFile,
    problems: &mut Vec<Problem>,
) -> Option<TemplateFile> {
    let path = &source.path;
    let text = match &source.text {
        Ok(text) => text.clone(),
        Err(e) => {
            problems.push(
                Problem::error("template::unreadable", path, format!("cannot read template: {e}"))
                    .help("every root needs templates/base.Dockerfile.j2, package.Dockerfile.j2, final.Dockerfile.j2, base.toml and build-types/"),
            );
            return None;
        }
    };
    if let Err(e) = env.add_template_owned(name.to_owned(), text.to_string()) {
        problems.push(
            Problem::error(
                "template::syntax",
                path,
                format!("template syntax error: {}", e.detail().unwrap_or("invalid")),
            )
            .at(
                &text,
                e.range().or_else(|| line_span(&text, e.line())),
                "here",
            )
            .help("fix the template syntax (minijinja, a Jinja2 dialect)"),
        );
        return None;
    }
    let variables = env
        .get_template(name)
        .map(|t| t.undeclared_variables(false).into_iter().collect())
        .unwrap_or_default();
    Some(TemplateFile {
        path: path.clone(),
        text,
        variables,
    })
}

/// The span of 1-based `line` in `text`.
pub fn line_span(text: &str, line: Option<usize>) -> Option<std::ops::Range<usize>> {
    let line = line?;
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let len = text[start.min(text.len())..]
        .find('\n')
        .unwrap_or(text.len() - start.min(text.len()));
    Some(start..start + len)
}

/// The first place `var` is used inside a `{{ … }}` or `{% … %}` of `text`.
pub fn find_variable(text: &str, var: &str) -> Option<std::ops::Range<usize>> {
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

fn unknown_variable(
    file: &TemplateFile,
    var: &str,
    allowed: &[&str],
    extra: &BTreeSet<String>,
) -> Problem {
    let mut known: Vec<&str> = allowed.to_vec();
    known.extend(extra.iter().map(String::as_str));
    let help = match crate::check::suggest::closest(var, known.iter().copied()) {
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

/// base.toml keys that choose a rule rather than fill a template: the
/// values each takes, and what they mean.
const RULE_KEYS: &[(&str, &[&str], &str)] = &[
    (
        crate::model::settings::BranchMatch::KEY,
        crate::model::settings::BranchMatch::NAMES,
        "\"regex-suffix\" is OpenBMC's rule today, \"contains\" the 2021 script's",
    ),
    (
        crate::model::settings::CpuCount::KEY,
        crate::model::settings::CpuCount::NAMES,
        "\"affinity\" is OpenBMC's rule today, \"nproc\" the 2021 script's",
    ),
];

fn load_base_vars(
    file: &TextFile,
    problems: &mut Vec<Problem>,
) -> Option<(IndexMap<String, Value>, TomlSource)> {
    let path = &file.path;
    let text = match &file.text {
        Ok(t) => t.clone(),
        Err(e) => {
            problems.push(
                Problem::error(
                    "template::unreadable",
                    path,
                    format!("cannot read {BASE_VARS_FILE}: {e}"),
                )
                .help("create templates/base.toml with at least `prefix` and `distro`"),
            );
            return None;
        }
    };
    let source = match TomlSource::parse(path, text.clone()) {
        Ok(s) => s,
        Err(e) => {
            problems.push(
                Problem::error("toml::syntax", path, format!("invalid TOML: {}", e.message))
                    .at(&text, e.span, "here")
                    .help("fix the TOML syntax"),
            );
            return None;
        }
    };
    let mut vars = IndexMap::new();
    if let Some(obj) = source.json.as_object() {
        for (key, value) in obj {
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
            if let Some(why) = strings
                .iter()
                .find_map(|s| crate::check::shell::check_plain(s).err())
            {
                let pointer = crate::model::source::pointer_child("", key);
                problems.push(
                    Problem::error("template::unsafe-base-var", path, format!("`{key}` {why}, which would break the base Dockerfile"))
                        .at(&text, source.value_span(&pointer), "unsafe in a RUN line")
                        .help("base.toml values are versions, names and images: no spaces, quotes or shell operators"),
                );
            }
            if let Some((_, names, hint)) = RULE_KEYS.iter().find(|(k, _, _)| *k == key) {
                if !value.as_str().is_some_and(|v| names.contains(&v)) {
                    let pointer = crate::model::source::pointer_child("", key);
                    problems.push(
                        Problem::error(
                            "template::unknown-rule",
                            path,
                            format!("`{key}` must be one of {}", names.join(", ")),
                        )
                        .at(&text, source.value_span(&pointer), "not a known rule")
                        .help(*hint),
                    );
                }
            }
            if !ok {
                let pointer = crate::model::source::pointer_child("", key);
                problems.push(
                    Problem::error("template::base-var-type", path, format!("`{key}` must be a string or a list of strings"))
                        .at(&text, source.value_span(&pointer), "not a string or list of strings")
                        .help("template variables in base.toml are strings (\"1.2.3\") or lists of strings"),
                );
            }
            vars.insert(key.clone(), value.clone());
        }
    }
    Some((vars, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_variables_inside_tags_only() {
        let text = "jobs here {{ config_flags | join(' ') }} -j{{ jobs }}";
        let r = find_variable(text, "jobs").expect("found");
        assert_eq!(&text[r.clone()], "jobs");
        assert!(r.start > text.find("-j").unwrap_or(0));
    }

    #[test]
    fn environment_is_strict_and_keeps_whitespace() {
        let env = environment();
        assert!(env.render_str("{{ nope }}", serde_json::json!({})).is_err());
        let out = env.render_str(
            "{% if x %}\nA\n{% endif %}\nB\n",
            serde_json::json!({"x": true}),
        );
        assert_eq!(out.ok().as_deref(), Some("A\nB\n"));
    }

    #[test]
    fn the_shipped_templates_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let sources = crate::model::sources::Sources::read(root);
        let t = Templates::load(&sources.templates)
            .map_err(|p| format!("{p:?}"))
            .expect("templates load");
        assert_eq!(
            t.build_type_names(),
            ["autoconf", "autogen", "cmake", "custom", "make", "meson"]
        );
        assert!(t.build_types["custom"].variables.contains("build_steps"));
        assert_eq!(t.base_vars["prefix"], "/usr/local");
    }
}
