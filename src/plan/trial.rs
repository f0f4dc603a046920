//! The trial render `validate` runs: every template rendered with the
//! project's packages and stand-in settings (the defaults, and a CI run for
//! a user with a proxy and a mirror), each failure a problem located at the
//! template line that failed.
//!
//! Owns: [`trial`], the stand-in settings and the mapping of a failed
//! render to a [`Problem`]. Must not: render by rules of its own (it calls
//! `super::render`), run processes, or read the clock or the environment.

use std::collections::BTreeMap;

use crate::check::diag::Problem;
use crate::model::manifest;
use crate::model::project::Project;
use crate::model::settings::{IsoWeek, Settings, User};
use crate::model::template::{
    self, BASE_FILE, BUILD_TYPES_DIR, BUILD_TYPE_SUFFIX, FINAL_FILE, PACKAGE_FILE,
};

use super::render::{render_base, render_final, render_package, RenderError, LOOKED_UP_LATER};

/// The settings a trial render stands in with: the defaults (root, no
/// proxy or mirror), and a CI run for a user with a proxy and a mirror, so
/// that both sides of the templates' usual conditions are rendered.
fn stand_in_settings() -> [Settings; 2] {
    let plain = Settings::plain(IsoWeek {
        year: 2026,
        week: 1,
    });
    let mut other = plain.clone();
    other.ci_build = true;
    other.ubuntu_mirror = Some("http://mirror.invalid/ubuntu".to_owned());
    other.http_proxy = Some("http://proxy.invalid:3128".to_owned());
    other.https_proxy = other.http_proxy.clone();
    other.user = User {
        name: "builder".to_owned(),
        home: "/home/builder".to_owned(),
        uid: 1000,
        gid: 1000,
    };
    [plain, other]
}

/// Renders every template as `render` would — the base and final stages
/// under each stand-in setting, each package's stage and build type with
/// its own manifest (unpinned packages with a stand-in revision) — and
/// turns each failure into a problem at the template line that failed
/// (one problem per template line and cause, naming the first package
/// that hit it). What `validate` adds to the rules: a template that only
/// fails when rendered (a self-include, a recursive macro, a filter that
/// refuses its value, a loop that runs out of fuel) is found before a
/// build.
pub fn trial(project: &Project) -> Vec<Problem> {
    let stand_ins: BTreeMap<String, String> = project
        .unpinned()
        .map(|name| (name.to_owned(), LOOKED_UP_LATER.to_owned()))
        .collect();
    let mut failures: Vec<RenderError> = Vec::new();
    let [plain, other] = stand_in_settings();
    let prefix = project.templates.prefix().to_owned();
    let stand_in_tag = |stage: &str| format!("{}-{stage}:trial", plain.image_name);
    let base_image = stand_in_tag("base");
    let mut package_tags = Vec::new();
    for pkg in project.packages.values() {
        let m = &pkg.manifest;
        let deps: Vec<String> = m
            .depends
            .iter()
            .map(|d| stand_in_tag(&manifest::stage_name(d)))
            .collect();
        package_tags.push(stand_in_tag(&manifest::stage_name(&m.name)));
        if let Err(e) = render_package(project, m, &stand_ins, &plain, &prefix, &base_image, &deps)
        {
            failures.push(e);
        }
    }
    let packages: Vec<&str> = package_tags.iter().map(String::as_str).collect();
    for settings in [&plain, &other] {
        if let Err(e) = render_base(project, settings) {
            failures.push(e);
        }
        if let Err(e) = render_final(project, &stand_ins, settings, &base_image, &packages) {
            failures.push(e);
        }
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for failure in failures {
        // The same template line failing the same way for every package
        // is one problem.
        let key = match &failure {
            RenderError::Template {
                template, error, ..
            } => {
                let inner = template::innermost(error);
                (
                    inner.name().unwrap_or(template).to_owned(),
                    inner.line(),
                    template::what_failed(error),
                )
            }
            other => (String::new(), None, other.to_string()),
        };
        if seen.insert(key) {
            problems.push(trial_problem(project, &failure));
        }
    }
    problems
}

/// A failed trial render as a problem: at the template file and line that
/// failed (a build type, a stage template, or the manifest whose templated
/// string it was).
fn trial_problem(project: &Project, failure: &RenderError) -> Problem {
    let t = &project.templates;
    let RenderError::Template {
        template: file,
        what,
        error: source,
        ..
    } = failure
    else {
        // Unsafe values and the like: the rules report these first.
        return Problem::error("template::render", &t.dir, failure.to_string());
    };
    let detail = template::what_failed(source);
    let help = template::limit_help(source)
        .unwrap_or_else(|| "fix the template: `render` and `build` fail here too".to_owned());
    let source = template::innermost(source);
    // The template the error names, else (a limit hit outside any line)
    // the one that was being rendered.
    let named = source.name().and_then(|name| match name {
        "base" => Some(&t.base),
        "package" => Some(&t.package),
        "final" => Some(&t.final_),
        other => other
            .strip_prefix(BUILD_TYPES_DIR)
            .and_then(|n| n.strip_prefix('/'))
            .and_then(|n| t.build_types.get(n)),
    });
    let rendered = || match file.as_str() {
        BASE_FILE => Some(&t.base),
        PACKAGE_FILE => Some(&t.package),
        FINAL_FILE => Some(&t.final_),
        other => other
            .strip_prefix(BUILD_TYPES_DIR)
            .and_then(|n| n.strip_prefix('/'))
            .and_then(|n| n.strip_suffix(BUILD_TYPE_SUFFIX))
            .and_then(|n| t.build_types.get(n)),
    };
    let in_file = match source.name() {
        Some(_) => named,
        None => rendered(),
    };
    match in_file {
        Some(tf) => {
            let span = source
                .range()
                .filter(|r| tf.text.get(r.clone()).is_some())
                .or_else(|| template::line_span(&tf.text, source.line()))
                .or(Some(0..0));
            let name = tf
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Problem::error(
                "template::render",
                &tf.path,
                format!("{name} does not render for {what}: {detail}"),
            )
            .at(&tf.text, span, "fails when rendered")
            .help(help)
        }
        None => {
            // A manifest's templated string (checked with sample values
            // already), or a template the error does not name.
            let pkg = project
                .packages
                .values()
                .find(|p| file == &format!("packages.d/{}", manifest::file_name(&p.manifest.name)));
            match pkg {
                Some(p) => Problem::error(
                    "template::render",
                    &p.source.path,
                    format!("{what} does not render: {detail}"),
                )
                .at(
                    &p.source.text,
                    Some(p.source.top_span()),
                    "in this manifest",
                )
                .help(help),
                None => Problem::error(
                    "template::render",
                    &t.dir.join(file),
                    format!("{file} does not render for {what}: {detail}"),
                )
                .help(help),
            }
        }
    }
}
