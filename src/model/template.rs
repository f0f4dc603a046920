//! The templates of a project root: the base, package and final Dockerfile
//! templates, the build types, and the variables in `templates/base.toml`.
//!
//! Owns: loading them from their read text (parsing base.toml, compiling
//! each template, finding the variables it reads), the template engine's
//! settings (strict undefined, byte-exact whitespace), its limits (the
//! instructions one render may run, [`RENDER_FUEL`]; what one render may
//! write, [`RENDER_OUTPUT_CAP`]; what all renders of one loaded root may run
//! together, [`TOTAL_FUEL`]; and [`stop_rendering`], which the edge calls on
//! SIGINT/SIGTERM), and which variables each kind of template may use.
//! Must not: read files (`sources` did), judge what loaded (that is
//! `check::templates`), or know about packages beyond the variable names
//! they fill.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

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
/// must not be set ([`Manifest::set_fields`](crate::model::manifest::Manifest::set_fields)),
/// one it uses is required when it is `build_steps`.
pub const BUILD_TYPE_FIELDS: &[&str] = &["build_steps", "config_flags", "config_env"];
/// Variables the templated strings of a manifest (and its url) may use.
pub const MANIFEST_VARS: &[&str] = &["name", "rev", "prefix", "jobs", "arch"];

/// What a manifest's templated strings (and its url) see: the
/// [`MANIFEST_VARS`], made in this one place for the check's trial, the
/// render and `bump --checksum` alike.
#[derive(Debug, Clone, Copy)]
pub struct ManifestVars<'a> {
    pub name: &'a str,
    pub rev: &'a str,
    pub prefix: &'a str,
    pub jobs: usize,
    pub arch: &'a str,
}

impl ManifestVars<'_> {
    /// The context of a manifest's templated string.
    pub fn context(&self) -> Value {
        Value::Object(self.map())
    }

    /// The context of a build type: these and the manifest's rendered
    /// url and lists ([`BUILD_TYPE_VARS`]).
    pub fn build_type_context(
        &self,
        url: &str,
        config_flags: &[String],
        config_env: &[String],
        build_steps: &[String],
    ) -> Value {
        let mut map = self.map();
        map.insert("url".to_owned(), Value::from(url));
        map.insert("config_flags".to_owned(), Value::from(config_flags));
        map.insert("config_env".to_owned(), Value::from(config_env));
        map.insert("build_steps".to_owned(), Value::from(build_steps));
        Value::Object(map)
    }

    fn map(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        for (key, value) in [
            ("name", Value::from(self.name)),
            ("rev", Value::from(self.rev)),
            ("prefix", Value::from(self.prefix)),
            ("jobs", Value::from(self.jobs)),
            ("arch", Value::from(self.arch)),
        ] {
            map.insert(key.to_owned(), value);
        }
        map
    }
}

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

/// Every template of a root, compiled: made from `LoadedTemplates` when
/// every file loaded (and, by `check`, only when every rule holds).
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
    fuel: FuelSpent,
}

/// The template instructions one render may run (minijinja's fuel) in a
/// root of up to `LIMITS_GROW_FROM` packages. The shipped roots' largest
/// render (the 2026 base stage) runs about 1,350
/// (`fuel_stays_far_below_the_limit_in_every_shipped_root` measures it); a
/// loop that runs longer is an error naming the template, not a hang (and
/// takes about 10 ms in a release build).
pub const RENDER_FUEL: u64 = 200_000;
/// The instructions every render of one loaded root may run together, so
/// that many templated strings, each within [`RENDER_FUEL`], cannot keep a
/// run busy either (a failed render counts as all of its fuel: 500 of them
/// fit). The default root's check, trial and render run about 8,500.
pub const TOTAL_FUEL: u64 = 500 * RENDER_FUEL;
/// The bytes one render may write (a Dockerfile, a build line, a flag) in
/// a root of up to `LIMITS_GROW_FROM` packages.
pub const RENDER_OUTPUT_CAP: usize = 1 << 20;
/// Past this many packages the limits grow with the root: the final
/// stage's Dockerfile names every package, so a root of 10,000 packages
/// writes more than [`RENDER_OUTPUT_CAP`] in one honest render. Each
/// package past it adds [`FUEL_PER_PACKAGE`] and [`OUTPUT_PER_PACKAGE`] to
/// a render's limits and [`TOTAL_FUEL_PER_PACKAGE`] to the total.
pub const LIMITS_GROW_FROM: usize = 500;
/// What each package past [`LIMITS_GROW_FROM`] adds to one render's fuel.
pub const FUEL_PER_PACKAGE: u64 = 400;
/// What each package past [`LIMITS_GROW_FROM`] adds to one render's output.
pub const OUTPUT_PER_PACKAGE: usize = 1024;
/// What each package past [`LIMITS_GROW_FROM`] adds to [`TOTAL_FUEL`].
pub const TOTAL_FUEL_PER_PACKAGE: u64 = 20_000;

/// The limits of the renders of one loaded root (see [`Templates::size_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instructions one render may run.
    pub render_fuel: u64,
    /// Bytes one render may write.
    pub output_cap: usize,
    /// Instructions every render together may run.
    pub total_fuel: u64,
}

impl Limits {
    /// The limits for a root of `packages` packages: the constants above
    /// up to [`LIMITS_GROW_FROM`], then growing by each package's share.
    pub fn for_packages(packages: usize) -> Limits {
        let past = packages.saturating_sub(LIMITS_GROW_FROM);
        let past64 = u64::try_from(past).unwrap_or(u64::MAX);
        Limits {
            render_fuel: RENDER_FUEL.saturating_add(past64.saturating_mul(FUEL_PER_PACKAGE)),
            output_cap: RENDER_OUTPUT_CAP.saturating_add(past.saturating_mul(OUTPUT_PER_PACKAGE)),
            total_fuel: TOTAL_FUEL.saturating_add(past64.saturating_mul(TOTAL_FUEL_PER_PACKAGE)),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_packages(0)
    }
}

/// Set once the run is interrupted: every render from then on fails at
/// once, so a long check or render ends within one render's fuel.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Makes every later render fail at once ("interrupted"). The edge calls it
/// on the first SIGINT/SIGTERM; nothing undoes it (the process is ending).
pub fn stop_rendering() {
    STOPPED.store(true, Ordering::SeqCst);
}

/// Whether `e` is one of the limits above (fuel, output, total, stop)
/// rather than a mistake in the template's logic.
pub fn is_limit(e: &minijinja::Error) -> bool {
    innermost(e).kind() == ErrorKind::OutOfFuel
        || e.detail().is_some_and(|d| d.starts_with(LIMIT_PREFIX))
}

/// What went wrong in a render, in one line without the place: a limit's
/// message, else the innermost error's (an include's, a macro's).
pub fn what_failed(e: &minijinja::Error) -> String {
    if e.detail().is_some_and(|d| d.starts_with(LIMIT_PREFIX)) {
        return e.detail().unwrap_or_default().to_owned();
    }
    let inner = innermost(e);
    match inner.detail() {
        Some(detail) => detail.to_owned(),
        None => inner.kind().to_string(),
    }
}

/// [`what_failed`], then where: the template and line of the innermost
/// error, when known (`… (in build-types/make:3)`).
pub fn describe(e: &minijinja::Error) -> String {
    let inner = innermost(e);
    match (inner.name(), inner.line()) {
        (Some(name), Some(line)) => format!("{} (in {name}:{line})", what_failed(e)),
        _ => what_failed(e),
    }
}

/// The error at the bottom of `e`'s chain (an include's, a macro's): the
/// one that says what went wrong, and where.
pub fn innermost(e: &minijinja::Error) -> &minijinja::Error {
    let mut at = e;
    while let Some(inner) =
        std::error::Error::source(at).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        at = inner;
    }
    at
}

/// What to do about a render error: the help line for a limit, else None.
pub fn limit_help(e: &minijinja::Error) -> Option<String> {
    is_limit(e).then(|| {
        format!(
            "a template may run {RENDER_FUEL} instructions and write {} KiB per render \
             (more in a root of over {LIMITS_GROW_FROM} packages): \
             look for a loop over a large range or a repeated string ('x' * N) and make it small",
            RENDER_OUTPUT_CAP / 1024
        )
    })
}

/// Prefix of the details of the limit errors made here.
const LIMIT_PREFIX: &str = "template limit: ";

fn limit_error(what: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, format!("{LIMIT_PREFIX}{what}"))
}

/// What one render wrote, up to its cap ([`Limits::output_cap`]).
struct Capped(Vec<u8>, usize);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > self.1 {
            return Err(std::io::Error::other("render output cap"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fuel spent by the renders of one loaded root (see [`TOTAL_FUEL`]), and
/// the most one render used.
#[derive(Debug, Default)]
struct FuelSpent(AtomicU64, AtomicU64, Limits);

impl FuelSpent {
    /// Renders `template` within the limits, counting the fuel it used (a
    /// failed render counts as using all of its fuel).
    fn render(
        &self,
        template: &minijinja::Template<'_, '_>,
        ctx: &Value,
    ) -> Result<String, minijinja::Error> {
        if STOPPED.load(Ordering::SeqCst) {
            return Err(limit_error(
                "not rendered: the run was interrupted".to_owned(),
            ));
        }
        let limits = self.2;
        if self.0.load(Ordering::SeqCst) + limits.render_fuel > limits.total_fuel {
            return Err(limit_error(format!(
                "not rendered: this root's templates already ran {} instructions in all",
                self.0.load(Ordering::SeqCst)
            )));
        }
        let mut out = Capped(Vec::new(), limits.output_cap);
        let rendered = template
            .render_captured_to(ctx, &mut out)
            .map(|captured| captured.state().fuel_levels().map_or(0, |(used, _)| used));
        let used = rendered.as_ref().map_or(limits.render_fuel, |used| *used);
        self.0.fetch_add(used, Ordering::SeqCst);
        self.1.fetch_max(used, Ordering::SeqCst);
        match rendered {
            Ok(_) => String::from_utf8(out.0).map_err(|_| {
                minijinja::Error::new(ErrorKind::InvalidOperation, "rendered text is not UTF-8")
            }),
            Err(e) if e.kind() == ErrorKind::WriteFailure => Err(limit_error(format!(
                "the output is over {} KiB",
                limits.output_cap / 1024
            ))),
            // Kept as the source: it says where the fuel ran out.
            Err(e) if innermost(&e).kind() == ErrorKind::OutOfFuel => Err(limit_error(format!(
                "ran more than {} instructions",
                limits.render_fuel
            ))
            .with_source(e)),
            Err(e) => Err(e),
        }
    }

    fn spent(&self) -> (u64, u64) {
        (self.0.load(Ordering::SeqCst), self.1.load(Ordering::SeqCst))
    }
}

/// A template engine configured the way every template here is rendered.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(RENDER_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("dirname", |path: String| {
        crate::model::settings::dirname(&path)
    });
    env
}

/// Why a file of `templates/` did not load.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// It could not be read (or is not UTF-8).
    Unreadable(Arc<std::io::Error>),
    /// It is not a valid template (base.toml: not valid TOML): what the
    /// parser said, and where in `text`.
    Syntax {
        text: Arc<str>,
        detail: String,
        span: Option<Range<usize>>,
    },
}

/// `templates/base.toml`: its variables in file order, and the file.
#[derive(Debug, Clone)]
pub struct BaseVars {
    pub vars: IndexMap<String, Value>,
    pub source: TomlSource,
}

/// The templates of a root as loaded: each file parsed and compiled, or
/// why it was not. `check` judges them and makes the `Templates`.
#[derive(Debug)]
pub struct LoadedTemplates {
    dir: PathBuf,
    env: Environment<'static>,
    pub base_vars: Result<BaseVars, LoadError>,
    pub base: Result<TemplateFile, LoadError>,
    pub package: Result<TemplateFile, LoadError>,
    pub final_: Result<TemplateFile, LoadError>,
    /// Build types by name, sorted.
    pub build_types: Vec<(String, Result<TemplateFile, LoadError>)>,
}

impl LoadedTemplates {
    /// Parses base.toml and compiles every template of `sources`.
    pub fn load(sources: &TemplateSources) -> LoadedTemplates {
        let mut env = environment();
        // Valid by construction: tested by `the_shipped_templates_load`.
        let _ = env.add_template(DEFAULT_URL_NAME, crate::model::manifest::DEFAULT_URL);
        let base_vars = load_base_vars(&sources.base_vars);
        let base = compile(&mut env, "base", &sources.base);
        let package = compile(&mut env, "package", &sources.package);
        let final_ = compile(&mut env, "final", &sources.final_);
        let build_types = sources
            .build_types
            .iter()
            .map(|(name, file)| {
                let loaded = compile(&mut env, &format!("{BUILD_TYPES_DIR}/{name}"), file);
                (name.clone(), loaded)
            })
            .collect();
        LoadedTemplates {
            dir: sources.dir.clone(),
            env,
            base_vars,
            base,
            package,
            final_,
            build_types,
        }
    }

    /// The templates, when every file loaded.
    pub fn into_templates(self) -> Option<Templates> {
        let BaseVars {
            vars: base_vars,
            source: base_vars_source,
        } = self.base_vars.ok()?;
        let build_types = self
            .build_types
            .into_iter()
            .map(|(name, file)| Some((name, file.ok()?)))
            .collect::<Option<IndexMap<_, _>>>()?;
        Some(Templates {
            dir: self.dir,
            env: self.env,
            base: self.base.ok()?,
            package: self.package.ok()?,
            final_: self.final_.ok()?,
            build_types,
            base_vars,
            base_vars_source,
            fuel: FuelSpent::default(),
        })
    }
}

impl Templates {
    /// A string value of base.toml.
    pub fn base_str(&self, key: &str) -> Option<&str> {
        self.base_vars.get(key).and_then(Value::as_str)
    }

    /// The install prefix (base.toml's `prefix`, else /usr/local).
    pub fn prefix(&self) -> &str {
        self.base_str("prefix").unwrap_or("/usr/local")
    }

    /// Renders the template `name` ("base", "package", "final",
    /// "build-types/`<type>`").
    pub fn render(&self, name: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        self.fuel.render(&self.env.get_template(name)?, ctx)
    }

    /// Renders a one-line template string from a manifest. Text without
    /// template syntax is itself (not compiled); the default URL is
    /// compiled once, with the templates.
    pub fn render_str(&self, text: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        if is_plain(text) {
            return Ok(text.to_owned());
        }
        if text == crate::model::manifest::DEFAULT_URL {
            return self
                .fuel
                .render(&self.env.get_template(DEFAULT_URL_NAME)?, ctx);
        }
        self.fuel.render(&self.env.template_from_str(text)?, ctx)
    }

    /// Sizes the render limits for a root of `packages` packages
    /// ([`Limits::for_packages`]); `check` calls it once it knows them.
    pub fn size_for(&mut self, packages: usize) {
        let limits = Limits::for_packages(packages);
        self.env.set_fuel(Some(limits.render_fuel));
        self.fuel.2 = limits;
    }

    /// The template instructions every render so far has run, and the
    /// most one of them ran.
    pub fn fuel_spent(&self) -> (u64, u64) {
        self.fuel.spent()
    }

    /// The top-level variables a template string reads.
    pub fn variables_of(&self, text: &str) -> Result<BTreeSet<String>, minijinja::Error> {
        if is_plain(text) {
            return Ok(BTreeSet::new());
        }
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

/// The name the default URL template is compiled under.
const DEFAULT_URL_NAME: &str = "<default url>";

/// Whether `text` has no template syntax at all (so it renders as itself).
fn is_plain(text: &str) -> bool {
    !(text.contains("{{") || text.contains("{%") || text.contains("{#"))
}

/// Adds the template `file` to `env` as `name`, and finds the variables
/// it reads.
fn compile(
    env: &mut Environment<'static>,
    name: &str,
    file: &TextFile,
) -> Result<TemplateFile, LoadError> {
    let text = file.text.clone().map_err(LoadError::Unreadable)?;
    if let Err(e) = env.add_template_owned(name.to_owned(), text.to_string()) {
        return Err(LoadError::Syntax {
            detail: e.detail().unwrap_or("invalid").to_owned(),
            span: e.range().or_else(|| line_span(&text, e.line())),
            text,
        });
    }
    let variables = env
        .get_template(name)
        .map(|t| t.undeclared_variables(false).into_iter().collect())
        .unwrap_or_default();
    Ok(TemplateFile {
        path: file.path.clone(),
        text,
        variables,
    })
}

/// The span of 1-based `line` in `text`.
pub fn line_span(text: &str, line: Option<usize>) -> Option<Range<usize>> {
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

/// Parses base.toml: every top-level key and its value, in file order.
fn load_base_vars(file: &TextFile) -> Result<BaseVars, LoadError> {
    let text = file.text.clone().map_err(LoadError::Unreadable)?;
    let source = TomlSource::parse(&file.path, text.clone()).map_err(|e| LoadError::Syntax {
        text,
        detail: e.message,
        span: e.span,
    })?;
    let vars = source
        .json
        .as_object()
        .map(|obj| obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(BaseVars { vars, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sources::Sources;

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
        let t = LoadedTemplates::load(&Sources::read(root).templates)
            .into_templates()
            .expect("templates load");
        assert_eq!(
            t.build_type_names(),
            ["autoconf", "autogen", "cmake", "custom", "make", "meson"]
        );
        assert!(t.build_types["custom"].variables.contains("build_steps"));
        assert_eq!(t.base_vars["prefix"], "/usr/local");
        let ctx = serde_json::json!({"name": "a/b", "rev": "v1"});
        let url = t.render_str(crate::model::manifest::DEFAULT_URL, &ctx);
        assert_eq!(
            url.ok().as_deref(),
            Some("https://github.com/a/b/archive/v1.tar.gz")
        );
        assert_eq!(t.render_str("-DX=1", &ctx).ok().as_deref(), Some("-DX=1"));
        assert!(t.render_str("{{ nope }}", &ctx).is_err());
    }

    #[test]
    fn a_syntax_error_is_located_and_the_rest_still_loads() {
        let root = std::path::Path::new("/nowhere");
        let sources = Sources::from_files(
            root,
            [
                ("templates/base.toml", "prefix = [\n".to_owned()),
                ("templates/package.Dockerfile.j2", "A\n{{ oops\n".to_owned()),
                (
                    "templates/final.Dockerfile.j2",
                    "FROM {{ base_image }}\n".to_owned(),
                ),
            ],
        );
        let loaded = LoadedTemplates::load(&sources.templates);
        assert!(matches!(loaded.base_vars, Err(LoadError::Syntax { .. })));
        assert!(matches!(loaded.base, Err(LoadError::Unreadable(_))));
        match &loaded.package {
            Err(LoadError::Syntax { span, .. }) => assert!(span.is_some()),
            other => panic!("{other:?}"),
        }
        let final_ = loaded.final_.as_ref().expect("final compiles");
        assert!(final_.variables.contains("base_image"));
        assert!(loaded.into_templates().is_none());
    }

    #[test]
    fn the_final_stage_of_a_large_root_renders_within_its_grown_limits() {
        // The final stage names every package: 12,000 lines of ~100 bytes
        // is over the 1 MiB a render of a small root may write.
        let sources = Sources::from_files(
            std::path::Path::new("/nowhere"),
            [
                ("templates/base.toml", "prefix = \"/usr/local\"\n".to_owned()),
                ("templates/base.Dockerfile.j2", "FROM x\n".to_owned()),
                ("templates/package.Dockerfile.j2", "FROM x\n".to_owned()),
                (
                    "templates/final.Dockerfile.j2",
                    "{% for p in packages %}COPY --from={{ p }} /usr/local /usr/local # {{ p }} {{ p }}\n{% endfor %}"
                        .to_owned(),
                ),
            ],
        );
        let packages: Vec<String> = (0..12_000)
            .map(|i| format!("openbmc-package-{i:05}"))
            .collect();
        let ctx = serde_json::json!({ "packages": packages });
        let mut t = LoadedTemplates::load(&sources.templates)
            .into_templates()
            .expect("templates load");
        let small = t
            .render("final", &ctx)
            .expect_err("over the small root's cap");
        assert!(what_failed(&small).contains("over 1024 KiB"), "{small}");
        t.size_for(12_000);
        let out = t
            .render("final", &ctx)
            .expect("a 12,000-package root may write this");
        assert!(out.len() > RENDER_OUTPUT_CAP, "{}", out.len());
        assert_eq!(out.lines().count(), 12_000);
        // A runaway loop is still stopped in the large root.
        let runaway = t.render_str(
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            &ctx,
        );
        assert!(runaway.is_err_and(|e| is_limit(&e)));
    }

    #[test]
    fn the_limits_grow_only_past_five_hundred_packages() {
        assert_eq!(
            Limits::for_packages(0),
            Limits::for_packages(LIMITS_GROW_FROM)
        );
        assert_eq!(Limits::for_packages(0).output_cap, RENDER_OUTPUT_CAP);
        assert_eq!(Limits::for_packages(0).render_fuel, RENDER_FUEL);
        let big = Limits::for_packages(10_500);
        assert_eq!(
            big.output_cap,
            RENDER_OUTPUT_CAP + 10_000 * OUTPUT_PER_PACKAGE
        );
        assert_eq!(big.render_fuel, RENDER_FUEL + 10_000 * FUEL_PER_PACKAGE);
        assert!(Limits::for_packages(usize::MAX).total_fuel >= TOTAL_FUEL);
    }

    #[test]
    fn the_manifest_context_has_exactly_the_documented_variables() {
        let vars = ManifestVars {
            name: "a/b",
            rev: "v1",
            prefix: "/usr/local",
            jobs: 3,
            arch: "aarch64",
        };
        fn sorted(mut names: Vec<&str>) -> Vec<&str> {
            names.sort_unstable();
            names
        }
        fn keys(v: &Value) -> Vec<&str> {
            sorted(
                v.as_object()
                    .expect("map")
                    .keys()
                    .map(String::as_str)
                    .collect(),
            )
        }
        let ctx = vars.context();
        assert_eq!(keys(&ctx), sorted(MANIFEST_VARS.to_vec()));
        assert_eq!(ctx["jobs"], 3);
        assert_eq!(ctx["arch"], "aarch64");
        let build = vars.build_type_context("u", &["-DA=1".to_owned()], &[], &[]);
        assert_eq!(keys(&build), sorted(BUILD_TYPE_VARS.to_vec()));
        assert_eq!(build["config_flags"][0], "-DA=1");
    }
}
