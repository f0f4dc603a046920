//! Rendering: every stage's Dockerfile text and tag, from a checked project,
//! the resolved revisions and the settings.
//!
//! Owns: the stage list (base, packages in byte order of name, final), the
//! template contexts, the tag rule `{image}[-{stage}]:{week}-{sha16}`, and
//! and what a render that fails says ([`RenderError`]); the trial render
//! `validate` runs is `super::trial`. Must not: run processes, read the clock or the environment.
//! Pure and byte-stable: the same inputs give the same bytes.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::check::shell;
use crate::model::manifest::{self, Manifest};
use crate::model::project::Project;
use crate::model::settings::{dirname, Settings};
use crate::model::template::{
    self as template, BASE_FILE, BUILD_TYPE_SUFFIX, FINAL_FILE, PACKAGE_FILE,
};

/// What a stage is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageKind {
    Base,
    /// A package stage, with the package name.
    Package(String),
    Final,
}

/// One rendered stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub kind: StageKind,
    /// `base`, `final`, or the package's stage name (`openbmc-sdbusplus`).
    pub name: String,
    /// What its log lines are prefixed with: the package name, `base`, `final`.
    pub label: String,
    pub tag: String,
    pub dockerfile: String,
    /// Indexes of the stages it needs built first.
    pub deps: Vec<usize>,
    /// The source tarball a package stage downloads.
    pub url: Option<String>,
}

/// Every stage in build order: base (unless a base image is given), the
/// packages in byte order of their names, final last.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<Stage>,
    /// The image every stage starts FROM.
    pub base_image: String,
}

impl Plan {
    pub fn final_stage(&self) -> &Stage {
        // Render always ends with the final stage.
        &self.stages[self.stages.len() - 1]
    }

    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// Why a render failed. Validation rules out most of these.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("package `{0}` has no revision (it was not resolved)")]
    MissingRev(String),
    #[error("template {template} failed for {what}: {detail}{hint}")]
    Template {
        template: String,
        what: String,
        /// What minijinja said (not a `#[source]`: `detail` is the part
        /// of its chain worth printing).
        error: minijinja::Error,
        /// The innermost error (an include's, a macro's), with its place.
        detail: String,
        /// What to do, when a limit was reached (else empty).
        hint: String,
    },
    #[error("{what} has an unusable value: {why}")]
    Unsafe { what: String, why: String },
    #[error("dependency cycle through `{0}`")]
    Cycle(String),
}

/// `{image}[-{stage}]:{year}-W{week}-{first 16 hex of sha256(dockerfile)}`.
pub fn tag(settings: &Settings, stage: Option<&str>, dockerfile: &str) -> String {
    let digest = Sha256::digest(dockerfile.as_bytes());
    let hex = format!("{digest:x}");
    let hex = &hex[..16];
    let stage = stage.map(|s| format!("-{s}")).unwrap_or_default();
    format!(
        "{}{stage}:{}-{hex}",
        settings.image_name,
        settings.week.stamp()
    )
}

/// The revision each package builds: its own, or the resolved one.
pub fn rev_of<'a>(
    m: &'a Manifest,
    resolved: &'a BTreeMap<String, String>,
) -> Result<&'a str, RenderError> {
    resolved
        .get(&m.name)
        .or(m.rev.as_ref())
        .map(String::as_str)
        .ok_or_else(|| RenderError::MissingRev(m.name.clone()))
}

/// Renders every stage.
pub fn render(
    project: &Project,
    resolved: &BTreeMap<String, String>,
    settings: &Settings,
) -> Result<Plan, RenderError> {
    let t = &project.templates;
    let prefix = t.prefix().to_owned();
    let mut stages = Vec::with_capacity(project.packages.len() + 2);

    let base_image = match &settings.base_image {
        Some(image) => image.clone(),
        None => {
            let dockerfile = render_base(project, settings)?;
            let tag = tag(settings, Some("base"), &dockerfile);
            stages.push(Stage {
                kind: StageKind::Base,
                name: "base".to_owned(),
                label: "base".to_owned(),
                tag: tag.clone(),
                dockerfile,
                deps: Vec::new(),
                url: None,
            });
            tag
        }
    };
    let base_index: Vec<usize> = if stages.is_empty() {
        Vec::new()
    } else {
        vec![0]
    };

    // Packages in byte order; each rendered after its dependencies.
    let offset = stages.len();
    let names: Vec<&String> = project.packages.keys().collect();
    let index_of = |name: &str| names.binary_search_by(|n| n.as_str().cmp(name)).ok();
    let order = topological(project)?;
    let mut rendered: Vec<Option<(String, String, String)>> = vec![None; names.len()];
    for i in order {
        let pkg = &project.packages[i];
        let m = &pkg.manifest;
        let mut deps: Vec<&String> = m.depends.iter().collect();
        deps.sort();
        let dep_tags: Vec<String> = deps
            .iter()
            .filter_map(|d| {
                index_of(d).and_then(|j| rendered[j].as_ref().map(|(_, tag, _)| tag.clone()))
            })
            .collect();
        let (dockerfile, url) = render_package(
            project,
            m,
            resolved,
            settings,
            &prefix,
            &base_image,
            &dep_tags,
        )?;
        let tag = tag(settings, Some(&manifest::stage_name(&m.name)), &dockerfile);
        rendered[i] = Some((dockerfile, tag, url));
    }
    for (i, (name, pkg)) in project.packages.iter().enumerate() {
        let (dockerfile, tag, url) = rendered[i]
            .take()
            .ok_or_else(|| RenderError::Cycle(name.clone()))?;
        let mut deps = base_index.clone();
        let mut dep_idx: Vec<usize> = pkg
            .manifest
            .depends
            .iter()
            .filter_map(|d| index_of(d))
            .map(|j| j + offset)
            .collect();
        dep_idx.sort_unstable();
        deps.extend(dep_idx);
        stages.push(Stage {
            kind: StageKind::Package(name.clone()),
            name: manifest::stage_name(name),
            label: name.clone(),
            tag,
            dockerfile,
            deps,
            url: Some(url),
        });
    }

    let packages: Vec<&str> = stages[offset..].iter().map(|s| s.tag.as_str()).collect();
    let dockerfile = render_final(project, resolved, settings, &base_image, &packages)?;
    let final_tag = tag(settings, None, &dockerfile);
    let deps: Vec<usize> = (0..stages.len()).collect();
    stages.push(Stage {
        kind: StageKind::Final,
        name: "final".to_owned(),
        label: "final".to_owned(),
        tag: final_tag,
        dockerfile,
        deps,
        url: None,
    });
    Ok(Plan { stages, base_image })
}

/// The final stage's Dockerfile, over `packages` (their tags, in order).
pub(super) fn render_final(
    project: &Project,
    resolved: &BTreeMap<String, String>,
    settings: &Settings,
    base_image: &str,
    packages: &[&str],
) -> Result<String, RenderError> {
    let t = &project.templates;
    let prefix = t.prefix();
    let mut depcache = String::new();
    for (name, pkg) in &project.packages {
        depcache.push_str(&format!("{}:{},", name, rev_of(&pkg.manifest, resolved)?));
    }
    let user = &settings.user;
    for (what, value) in [("USER", &user.name), ("HOME", &user.home)] {
        shell::check_plain(value).map_err(|why| RenderError::Unsafe {
            what: what.to_owned(),
            why,
        })?;
    }
    if let Some(proxy) = &settings.http_proxy {
        shell::check_plain(proxy).map_err(|why| RenderError::Unsafe {
            what: "http_proxy".to_owned(),
            why,
        })?;
    }
    let ctx = json!({
        "base_image": base_image,
        "prefix": prefix,
        "packages": packages,
        "depcache": depcache,
        "uid": user.uid,
        "gid": user.gid,
        "username": user.name,
        "homedir": user.home,
        "home_parent": dirname(&user.home),
        "http_proxy": settings.http_proxy.clone().unwrap_or_default(),
    });
    t.render("final", &ctx)
        .map_err(|e| template_error(FINAL_FILE, "the final stage", e))
}

/// The revision an unpinned package stands in with in [`render_ahead`].
pub(super) const LOOKED_UP_LATER: &str = "0000000000000000000000000000000000000000";

/// What can be built before the unpinned packages' revisions are looked
/// up: the plan rendered with a stand-in revision for each of them, and per
/// stage whether its text waits for the lookups — an unpinned package,
/// every stage built on one, and the final stage. The other stages' texts
/// and tags are already the real ones, since a package stage's text
/// depends only on its own revision and its dependencies' tags.
pub fn render_ahead(
    project: &Project,
    settings: &Settings,
) -> Result<(Plan, Vec<bool>), RenderError> {
    let stand_ins: BTreeMap<String, String> = project
        .unpinned()
        .map(|name| (name.to_owned(), LOOKED_UP_LATER.to_owned()))
        .collect();
    let plan = render(project, &stand_ins, settings)?;
    let dag = crate::dag::Dag::new(plan.stages.iter().map(|s| s.deps.clone()).collect());
    let mut waits = vec![false; plan.stages.len()];
    for (i, stage) in plan.stages.iter().enumerate() {
        if matches!(&stage.kind, StageKind::Package(name) if stand_ins.contains_key(name)) {
            waits[i] = true;
            for j in dag.transitive_dependents(i) {
                waits[j] = true;
            }
        }
    }
    Ok((plan, waits))
}

fn template_error(template: &str, what: &str, source: minijinja::Error) -> RenderError {
    RenderError::Template {
        template: template.to_owned(),
        what: what.to_owned(),
        hint: template::limit_help(&source)
            .map(|h| format!("; {h}"))
            .unwrap_or_default(),
        detail: template::describe(&source),
        error: source,
    }
}

/// The base stage's Dockerfile. Its context: the run's values (empty when
/// unset), then `base.toml`, then the variables and flags given for this run
/// (DISTRO, DOCKER_REG), each layer over the one before.
pub fn render_base(project: &Project, settings: &Settings) -> Result<String, RenderError> {
    let t = &project.templates;
    let opt = |v: &Option<String>| Value::from(v.clone().unwrap_or_default());
    let mut ctx: Map<String, Value> = Map::new();
    for (key, value) in [
        ("arch", Value::from(settings.arch.clone())),
        ("docker_reg", opt(&settings.docker_reg)),
        ("ubuntu_mirror", opt(&settings.ubuntu_mirror)),
        ("http_proxy", opt(&settings.http_proxy)),
        ("ci_build", Value::from(settings.ci_build)),
        ("timestamp", Value::from(settings.week.stamp())),
    ] {
        ctx.insert(key.to_owned(), value);
    }
    for (k, v) in &t.base_vars {
        ctx.insert(k.clone(), v.clone());
    }
    for (key, value) in [
        ("distro", &settings.distro),
        ("docker_reg", &settings.docker_reg),
    ] {
        if let Some(value) = value {
            ctx.insert(key.to_owned(), Value::from(value.clone()));
        }
    }
    t.render("base", &Value::Object(ctx))
        .map_err(|e| template_error(BASE_FILE, "the base stage", e))
}

/// Package indexes (in `project.packages`) in an order where dependencies
/// come first.
pub fn topological(project: &Project) -> Result<Vec<usize>, RenderError> {
    project.dag().order().map_err(|cycle| {
        let name = cycle
            .first()
            .and_then(|&i| project.packages.get_index(i))
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        RenderError::Cycle(name)
    })
}

pub(super) fn render_package(
    project: &Project,
    m: &Manifest,
    resolved: &BTreeMap<String, String>,
    settings: &Settings,
    prefix: &str,
    base_image: &str,
    dep_tags: &[String],
) -> Result<(String, String), RenderError> {
    let t = &project.templates;
    let rev = rev_of(m, resolved)?;
    shell::check_rev(rev).map_err(|why| RenderError::Unsafe {
        what: format!("the rev of `{}`", m.name),
        why,
    })?;
    let vars = template::ManifestVars {
        name: &m.name,
        rev,
        prefix,
        jobs: settings.cpus,
        arch: &settings.arch,
    };
    let small = vars.context();
    let what = |field: &str| format!("`{field}` of `{}`", m.name);
    let one = |field: &str, text: &str| -> Result<String, RenderError> {
        t.render_str(text, &small).map_err(|e| {
            template_error(
                &format!("packages.d/{}", manifest::file_name(&m.name)),
                &what(field),
                e,
            )
        })
    };
    let list = |field: &str, items: &[String]| -> Result<Vec<String>, RenderError> {
        items.iter().map(|s| one(field, s)).collect()
    };
    let url = one("url", m.url.as_deref().unwrap_or(manifest::DEFAULT_URL))?;
    let tar_flag = shell::check_url(&url).map_err(|why| RenderError::Unsafe {
        what: what("url"),
        why,
    })?;
    let config_flags = list("config_flags", &m.config_flags)?;
    let config_env = list("config_env", &m.config_env)?;
    let build_steps = list("build_steps", m.build_steps.as_deref().unwrap_or_default())?;
    let build_ctx = vars.build_type_context(&url, &config_flags, &config_env, &build_steps);
    let build_template = format!("build-types/{}", m.build_type);
    let mut build = t.render(&build_template, &build_ctx).map_err(|e| {
        template_error(
            &format!("{build_template}{BUILD_TYPE_SUFFIX}"),
            &format!("`{}`", m.name),
            e,
        )
    })?;
    // A build type is one command line: its file's final newline is not part of it.
    while build.ends_with('\n') {
        build.pop();
    }
    let srcdir = m.name.rsplit('/').next().unwrap_or(&m.name);
    let ctx = json!({
        "base_image": base_image,
        "prefix": prefix,
        "depends": dep_tags,
        "name": m.name,
        "rev": rev,
        "url": url,
        "tar_flag": tar_flag.to_string(),
        "srcdir": srcdir,
        "sha256": m.sha256.clone().unwrap_or_default(),
        "custom_post_dl": list("custom_post_dl", &m.custom_post_dl)?,
        "build": build,
        "custom_post_install": list("custom_post_install", &m.custom_post_install)?,
    });
    let dockerfile = t
        .render("package", &ctx)
        .map_err(|e| template_error(PACKAGE_FILE, &format!("`{}`", m.name), e))?;
    Ok((dockerfile, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        crate::model::settings::test_settings()
    }

    /// The repository's default root, checked.
    fn project() -> Project {
        crate::check::check_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .project
            .expect("the default root is valid")
    }

    fn heads(project: &Project) -> BTreeMap<String, String> {
        project
            .unpinned()
            .map(|n| (n.to_owned(), "a".repeat(40)))
            .collect()
    }

    #[test]
    fn tags_hash_the_dockerfile_under_the_week() {
        let s = settings();
        let t = tag(&s, Some("boost"), "FROM x\n");
        assert!(
            t.starts_with("openbmc/ubuntu-unit-test-boost:2021-W06-"),
            "{t}"
        );
        assert_eq!(
            t.len(),
            "openbmc/ubuntu-unit-test-boost:2021-W06-".len() + 16
        );
        assert_ne!(t, tag(&s, Some("boost"), "FROM y\n"));
        assert!(tag(&s, None, "x").starts_with("openbmc/ubuntu-unit-test:2021-W06-"));
    }

    #[test]
    fn the_run_s_values_override_base_toml_only_when_given() {
        let p = project();
        let base = render_base(&p, &settings()).expect("renders");
        assert!(
            base.contains("\nFROM public.ecr.aws/ubuntu/ubuntu:resolute\n"),
            "{base}"
        );
        let mut s = settings();
        s.distro = Some("ubuntu:noble".to_owned());
        s.docker_reg = Some("docker.io".to_owned());
        let base = render_base(&p, &s).expect("renders");
        assert!(base.contains("\nFROM docker.io/ubuntu:noble\n"), "{base}");
    }

    #[test]
    fn stages_come_base_packages_final_with_their_dependencies() {
        let p = project();
        let plan = render(&p, &heads(&p), &settings()).expect("renders");
        assert_eq!(plan.stages.first().map(|s| s.name.as_str()), Some("base"));
        assert_eq!(plan.final_stage().name, "final");
        assert_eq!(plan.stages.len(), p.packages.len() + 2);
        let logging = plan
            .stages
            .iter()
            .find(|s| s.name == "openbmc-phosphor-logging")
            .expect("stage");
        // base and its four dependencies, by index.
        assert_eq!(logging.deps.len(), 5);
        for &d in &logging.deps[1..] {
            assert!(logging
                .dockerfile
                .contains(&format!("COPY --from={} ", plan.stages[d].tag)));
        }
        assert_eq!(plan.final_stage().deps.len(), plan.stages.len() - 1);
    }

    /// Every shipped root (the default, the 2021 example, the e2e tree),
    /// checked, rendered and trial-rendered: the fuel of its largest render
    /// and of all.
    #[test]
    fn fuel_stays_far_below_the_limit_in_every_shipped_root() {
        use crate::model::template::{RENDER_FUEL, TOTAL_FUEL};
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for root in ["", "examples/openbmc-2021", "tests/e2e"] {
            let p = crate::check::check_root(&repo.join(root))
                .project
                .expect("the shipped root is valid");
            let plan = render(&p, &heads(&p), &settings()).expect("renders");
            assert!(plan.stages.len() > 2);
            let trial = crate::plan::trial::trial(&p);
            assert!(trial.is_empty(), "{root:?}: {trial:?}");
            let (all, most) = p.templates.fuel_spent();
            #[allow(clippy::disallowed_macros)] // The measurement the README quotes.
            {
                eprintln!("root {root:?}: {all} instructions in all, {most} at most in one render");
            }
            assert!(most > 0, "fuel is counted");
            assert!(
                most * 100 < RENDER_FUEL,
                "{root:?}: {most} of {RENDER_FUEL}"
            );
            assert!(all * 100 < TOTAL_FUEL, "{root:?}: {all} of {TOTAL_FUEL}");
        }
    }

    #[test]
    fn a_missing_revision_is_an_error_not_a_panic() {
        let p = project();
        let e = render(&p, &BTreeMap::new(), &settings()).expect_err("unresolved");
        assert!(matches!(e, RenderError::MissingRev(_)), "{e}");
    }

    #[test]
    fn ahead_of_the_lookups_only_what_needs_none_is_final() {
        let p = project();
        let s = settings();
        let (ahead, waits) = render_ahead(&p, &s).expect("renders");
        let real = render(&p, &heads(&p), &s).expect("renders");
        assert_eq!(ahead.stages.len(), real.stages.len());
        let unpinned: Vec<&str> = p.unpinned().collect();
        assert!(
            !unpinned.is_empty(),
            "the default root looks some revisions up"
        );
        assert!(!waits[0], "the base waits for no lookup");
        assert!(waits[waits.len() - 1], "the final stage waits for all");
        for ((early, late), &wait) in ahead.stages.iter().zip(&real.stages).zip(&waits) {
            assert_eq!(early.deps, late.deps);
            if let StageKind::Package(name) = &early.kind {
                let deps_wait = early.deps.iter().any(|&d| waits[d]);
                assert_eq!(
                    wait,
                    unpinned.contains(&name.as_str()) || deps_wait,
                    "{name}"
                );
            }
            if !wait {
                assert_eq!(
                    (&early.tag, &early.dockerfile),
                    (&late.tag, &late.dockerfile)
                );
            } else if early.kind != StageKind::Base {
                assert_ne!(early.tag, late.tag, "{} has a stand-in", early.name);
            }
        }
        assert!(
            waits.iter().filter(|w| !**w).count() > 1,
            "some packages build early"
        );
    }
}
