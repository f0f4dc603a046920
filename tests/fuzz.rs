//! The property campaign: adversarial manifests, base.toml values and run
//! settings (every variable and flag that reaches a template) go through the
//! same checks as the tool's; whatever is accepted must render without a
//! panic into Dockerfiles whose line structure is exactly the templates'
//! (no injected line, no `#` or stray quote cutting a RUN line).
//!
//! Two more classes: template code that loops, repeats, recurses or includes
//! itself must end within its fuel with validate agreeing with render; and
//! whatever stands at a root file (a FIFO, a device, a link out of the
//! root, a huge file) is read only when it is a regular file inside it.
//!
//! CI runs a short campaign (BUD_FUZZ_CASES, default 500 cases a property;
//! a 64th of that for templates and a 16th for file kinds, at least 32:
//! their cases cost far more);
//! `scripts/fuzz.sh` runs over a million.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use build_unit_test_docker::testing::shell;
use build_unit_test_docker::testing::Sources;
use build_unit_test_docker::testing::{self as validate, Project};
use build_unit_test_docker::testing::{render, Plan};
use build_unit_test_docker::testing::{IsoWeek, Settings};
use common::{copy_tree, repo};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config() -> Config {
    let cases = std::env::var("BUD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// A root with the default templates, `acme/dep` and a placeholder
/// `acme/fuzz` whose text each case overrides. Made once, kept.
fn fuzz_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        copy_tree(&repo().join("templates"), &dir.join("templates"));
        let pkgs = dir.join("packages.d");
        std::fs::create_dir_all(&pkgs).expect("mkdir");
        std::fs::write(
            pkgs.join("acme-dep.toml"),
            "name = \"acme/dep\"\nrev = \"v1\"\nbuild_type = \"make\"\n",
        )
        .expect("write");
        std::fs::write(
            pkgs.join("acme-fuzz.toml"),
            "name = \"acme/fuzz\"\nrev = \"v1\"\nbuild_type = \"make\"\n",
        )
        .expect("write");
        dir
    })
}

/// The fuzz root as read, once: each case checks a copy with one file
/// replaced in memory.
fn fuzz_sources() -> &'static Sources {
    static SOURCES: OnceLock<Sources> = OnceLock::new();
    SOURCES.get_or_init(|| Sources::read(fuzz_root()))
}

/// The default root, loaded once.
fn default_project() -> &'static Project {
    static P: OnceLock<Project> = OnceLock::new();
    P.get_or_init(|| {
        validate::check_root(&repo())
            .project
            .expect("the default root is valid")
    })
}

fn settings() -> Settings {
    Settings {
        gerrit_timeout: Duration::from_secs(1),
        ..Settings::plain(IsoWeek {
            year: 2021,
            week: 6,
        })
    }
}

/// The base stage of the fuzz root as it is.
fn unchanged_base() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let project = validate::check_root(fuzz_root())
            .project
            .expect("the fuzz root is valid");
        let plan = render::render(&project, &BTreeMap::new(), &settings()).expect("renders");
        stage(&plan, "base").to_owned()
    })
}

/// A revision for every unpinned package.
fn heads(project: &Project) -> BTreeMap<String, String> {
    project
        .packages
        .iter()
        .filter(|(_, p)| p.manifest.rev.is_none())
        .map(|(n, _)| {
            (
                n.clone(),
                "0123456789abcdef0123456789abcdef01234567".to_owned(),
            )
        })
        .collect()
}

/// Pieces that break shell lines, Dockerfiles, TOML and templates.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9._/-]{1,8}",
        1 => prop::sample::select(vec![
            "\n", "\r", "\t", " ", "#", " #", "$(", "`", "'", "\"", "\\", ";", "&&", "|", ">",
            "<<EOF", "{{ name }}", "{{ rev }}", "{{", "}}", "{%", "%}", "{#", "\0", "\u{7f}",
            "RUN touch /pwn", "=", ":", "@", "..", "-", "--", "http://", "https://", ".tar.gz",
            "A", "É", "\u{2028}",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{1,3}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..6).prop_map(|v| v.concat())
}

fn list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(value(), 0..3)
}

/// Logical lines: continuation lines joined.
fn logical_lines(dockerfile: &str) -> Vec<String> {
    dockerfile
        .replace("\\\n", " ")
        .split('\n')
        .map(str::to_owned)
        .collect()
}

/// The first word of every physical line: the structure the templates give.
fn shape(dockerfile: &str) -> Vec<&str> {
    dockerfile
        .split('\n')
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

/// No RUN line of `dockerfile` is cut short by a comment or a quote.
fn runs_whole(dockerfile: &str) -> Result<(), TestCaseError> {
    for line in logical_lines(dockerfile) {
        if let Some(cmd) = line.strip_prefix("RUN ") {
            prop_assert!(!shell::cuts_the_line(cmd), "RUN line cut short: {line:?}");
        }
    }
    Ok(())
}

fn stage<'a>(plan: &'a Plan, name: &str) -> &'a str {
    &plan
        .stages
        .iter()
        .find(|s| s.name == name)
        .expect("stage")
        .dockerfile
}

fn manifest_text(
    rev: &str,
    build_type: &str,
    depends: bool,
    fields: &[(&str, Vec<String>)],
    url: Option<&str>,
) -> String {
    let mut table = toml::Table::new();
    table.insert("name".into(), "acme/fuzz".into());
    table.insert("rev".into(), rev.into());
    if let Some(url) = url {
        table.insert("url".into(), url.into());
    }
    if depends {
        table.insert(
            "depends".into(),
            toml::Value::Array(vec!["acme/dep".into()]),
        );
    }
    table.insert("build_type".into(), build_type.into());
    for (key, items) in fields {
        if !items.is_empty() {
            table.insert(
                (*key).into(),
                toml::Value::Array(items.iter().map(|s| s.as_str().into()).collect()),
            );
        }
    }
    toml::to_string(&table).expect("serialise")
}

/// Counts of one campaign: cases tried, accepted by the checks, rendered
/// and checked for structure.
#[derive(Default)]
struct Tally {
    cases: std::sync::atomic::AtomicUsize,
    accepted: std::sync::atomic::AtomicUsize,
}

impl Tally {
    fn case(&self, accepted: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.cases.fetch_add(1, Relaxed);
        if accepted {
            self.accepted.fetch_add(1, Relaxed);
        }
    }

    fn report(&self, what: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        eprintln!(
            "fuzz {what}: {} cases, {} accepted and rendered with the templates' structure, 0 panics",
            self.cases.load(Relaxed),
            self.accepted.load(Relaxed)
        );
    }
}

/// Runs `test` on `strategy` for the configured number of cases.
fn campaign<S: Strategy>(
    what: &str,
    strategy: S,
    test: impl Fn(S::Value, &Tally) -> Result<(), TestCaseError>,
) {
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&strategy, |v| test(v, &tally));
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
    tally.report(what);
}

#[test]
fn accepted_manifests_render_one_whole_run_line() {
    let strategy = (
        prop_oneof![3 => Just("v1.0".to_owned()), 1 => value()],
        prop::sample::select(vec![
            "autoconf", "autogen", "cmake", "custom", "make", "meson",
        ]),
        any::<bool>(),
        list(),
        prop::collection::vec(value().prop_map(|v| format!("CFLAGS={v}")), 0..2),
        list(),
        list(),
        list(),
        prop::option::of(value().prop_map(|v| format!("https://example.org/{v}.tar.gz"))),
        prop::option::of(value()),
    );
    campaign(
        "manifests",
        strategy,
        |(rev, build_type, depends, flags, env, steps, post_dl, post_install, url, raw), tally| {
            let text = match raw {
                // Sometimes not TOML at all.
                Some(garbage) if garbage.len() % 7 == 0 => garbage,
                _ => {
                    let mut fields = vec![
                        ("custom_post_dl", post_dl),
                        ("custom_post_install", post_install),
                    ];
                    if build_type == "custom" {
                        fields.push(("build_steps", steps));
                    } else if build_type != "make" {
                        fields.push(("config_flags", flags));
                        fields.push(("config_env", env));
                    }
                    manifest_text(&rev, build_type, depends, &fields, url.as_deref())
                }
            };
            let mut sources = fuzz_sources().clone();
            prop_assert!(sources.replace(&fuzz_root().join("packages.d/acme-fuzz.toml"), text));
            let checked = validate::check(&sources);
            let plan = checked
                .project
                .and_then(|p| render::render(&p, &BTreeMap::new(), &settings()).ok());
            tally.case(plan.is_some());
            if let Some(plan) = plan {
                let df = stage(&plan, "acme-fuzz");
                let deps = usize::from(depends);
                let lines: Vec<&str> = df.split('\n').collect();
                prop_assert_eq!(lines.len(), 5 + 2 * deps, "lines of {:?}", df);
                prop_assert!(lines[1].starts_with("FROM "));
                prop_assert!(lines[lines.len() - 2].starts_with("RUN "));
                runs_whole(df)?;
            }
            Ok(())
        },
    );
}

#[test]
fn accepted_settings_keep_the_base_and_final_structure() {
    let strategy = (
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value().prop_map(|v| format!("http://{v}"))),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
    );
    campaign(
        "settings",
        strategy,
        |(image_name, distro, docker_reg, mirror, proxy, user, home, base_image), tally| {
            // As the command line reads them: an empty value is no value.
            let some = |v: Option<String>| v.filter(|v| !v.is_empty());
            let (image_name, distro, docker_reg, mirror, proxy, user, home, base_image) = (
                some(image_name),
                some(distro),
                some(docker_reg),
                some(mirror),
                some(proxy),
                some(user),
                some(home),
                some(base_image),
            );
            let project = default_project();
            let mut benign = settings();
            // Same template branches as the fuzzed values take.
            benign.distro = distro.as_ref().map(|d| {
                if d.contains("ubuntu") {
                    "ubuntu:noble"
                } else {
                    "debian:bookworm"
                }
                .to_owned()
            });
            benign.docker_reg = docker_reg.as_ref().map(|_| "docker.io".to_owned());
            benign.ubuntu_mirror = mirror
                .as_ref()
                .map(|_| "http://mirror.example/ubuntu".to_owned());
            benign.http_proxy = proxy.as_ref().map(|_| "http://proxy:3128".to_owned());
            benign.https_proxy = benign.http_proxy.clone();
            benign.base_image = base_image.as_ref().map(|_| "base:1".to_owned());
            if let Some(u) = &user {
                benign.user.name = if u == "root" { "root" } else { "bob" }.to_owned();
            }
            benign.user.home = home.as_ref().map_or("/root", |_| "/home/bob").to_owned();

            let mut s = settings();
            if let Some(v) = image_name {
                s.image_name = v;
            }
            s.distro = distro;
            s.docker_reg = docker_reg;
            s.ubuntu_mirror = mirror;
            s.https_proxy = proxy.clone();
            s.http_proxy = proxy;
            s.base_image = base_image;
            if let Some(u) = user {
                s.user.name = u;
            }
            if let Some(h) = home {
                s.user.home = h;
            }
            let revs = heads(project);
            let ours = build_unit_test_docker::testing::settings::check(&s)
                .ok()
                .and_then(|()| render::render(project, &revs, &s).ok());
            tally.case(ours.is_some());
            let Some(ours) = ours else { return Ok(()) };
            let theirs = render::render(project, &revs, &benign).expect("benign settings render");
            for name in ["base", "final"] {
                let a = ours.stages.iter().find(|st| st.name == name);
                let b = theirs.stages.iter().find(|st| st.name == name);
                prop_assert_eq!(a.is_some(), b.is_some());
                if let (Some(a), Some(b)) = (a, b) {
                    prop_assert_eq!(
                        shape(&a.dockerfile),
                        shape(&b.dockerfile),
                        "{}:\n{}",
                        name,
                        a.dockerfile
                    );
                    runs_whole(&a.dockerfile)?;
                }
            }
            Ok(())
        },
    );
}

#[test]
fn accepted_base_toml_values_keep_the_base_structure() {
    let strategy = (
        prop::sample::select(vec![
            "distro",
            "python_version",
            "gcc_version",
            "meson",
            "keyserver_rev",
            "docker_reg",
        ]),
        value(),
        prop::option::of(value()),
    );
    campaign("base.toml values", strategy, |(key, v, apt), tally| {
        let root = fuzz_root();
        let path = root.join("templates/base.toml");
        let text = fuzz_sources().text(&path).expect("base.toml");
        let mut doc: toml_edit::DocumentMut = text.parse().expect("parses");
        doc[key] = toml_edit::value(v);
        if let Some(pkg) = &apt {
            if let Some(a) = doc["apt_packages"].as_array_mut() {
                a.push(pkg.as_str());
            }
        }
        let mut sources = fuzz_sources().clone();
        prop_assert!(sources.replace(&path, doc.to_string()));
        let plan = validate::check(&sources)
            .project
            .and_then(|p| render::render(&p, &BTreeMap::new(), &settings()).ok());
        tally.case(plan.is_some());
        if let Some(plan) = plan {
            let base = stage(&plan, "base");
            let extra = usize::from(apt.is_some());
            prop_assert_eq!(
                base.split('\n').count(),
                unchanged_base().split('\n').count() + extra,
                "{}",
                base
            );
            runs_whole(base)?;
        }
        Ok(())
    });
}

/// Template code that loops, repeats, recurses or includes itself, from
/// cheap to far past any limit.
fn template_code() -> impl Strategy<Value = String> {
    let size = prop::sample::select(vec![0usize, 1, 3, 10, 100, 1000, 100_000]);
    let piece = prop_oneof![
        3 => (size.clone(), size.clone()).prop_map(|(a, b)| format!(
            "{{% for a in 'x' * {a} %}}{{% for b in 'x' * {b} %}}{{% endfor %}}{{% endfor %}}"
        )),
        2 => size.clone().prop_map(|n| format!("{{{{ 'y' * {n} }}}}")),
        2 => (size.clone(), size).prop_map(|(a, b)| format!(
            "{{% for a in 'x' * {a} %}}{{{{ 'z' * {b} }}}}{{% endfor %}}"
        )),
        1 => Just("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}".to_owned()),
        1 => Just("{% include 'build-types/make' %}".to_owned()),
        1 => Just("{{ name | int }}".to_owned()),
        3 => Just("make -j{{ jobs }}".to_owned()),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|v| v.concat())
}

#[test]
fn every_template_ends_within_its_fuel_and_validate_agrees_with_render() {
    use build_unit_test_docker::testing::{RENDER_FUEL, RENDER_OUTPUT_CAP};
    // Each case may render a few times to the end of its fuel: fewer cases.
    let cases = (config().cases / 64).max(32);
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(Config { cases, ..config() });
    let path = fuzz_root().join("templates/build-types/make.sh.j2");
    let result = runner.run(&template_code(), |code| {
        let mut sources = fuzz_sources().clone();
        let text = format!("{code}\n");
        prop_assert!(sources.replace(&path, text));
        let started = std::time::Instant::now();
        let checked = validate::check(&sources);
        let Some(project) = checked.project else {
            tally.case(false);
            return Ok(());
        };
        let trial = build_unit_test_docker::testing::trial(&project);
        let rendered = render::render(&project, &BTreeMap::new(), &settings());
        prop_assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}: {}",
            started.elapsed(),
            code
        );
        // validate finds exactly what render would fail on.
        prop_assert_eq!(trial.is_empty(), rendered.is_ok(), "{}: {:?}", code, trial);
        let (_, most) = project.templates.fuel_spent();
        prop_assert!(most <= RENDER_FUEL, "{} instructions in one render", most);
        tally.case(rendered.is_ok());
        if let Ok(plan) = rendered {
            prop_assert!(stage(&plan, "acme-fuzz").len() <= RENDER_OUTPUT_CAP + 4096);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("templates: {e}");
    }
    tally.report("templates (fuel, output, recursion)");
}

/// What can stand at a root's file: each kind, and whether it is read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Regular,
    TooBig,
    Fifo,
    Directory,
    LinkInside,
    LinkToFifoInside,
    LinkOut(&'static str),
    Dangling,
}

impl Kind {
    fn is_read(self) -> bool {
        matches!(self, Kind::Regular | Kind::LinkInside)
    }
}

#[test]
fn only_regular_files_inside_the_root_are_read() {
    let kinds = prop::sample::select(vec![
        Kind::Regular,
        Kind::TooBig,
        Kind::Fifo,
        Kind::Directory,
        Kind::LinkInside,
        Kind::LinkToFifoInside,
        Kind::LinkOut("/etc/passwd"),
        Kind::LinkOut("/dev/zero"),
        Kind::LinkOut("/proc/self/status"),
        Kind::Dangling,
    ]);
    let files = prop::sample::select(vec![
        "templates/base.toml",
        "templates/base.Dockerfile.j2",
        "templates/package.Dockerfile.j2",
        "templates/final.Dockerfile.j2",
        "templates/build-types/make.sh.j2",
        "packages.d/acme-fuzz.toml",
    ]);
    let cases = (config().cases / 16).max(32);
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(Config { cases, ..config() });
    let result = runner.run(&(files, kinds), |(rel, kind)| {
        let root = tempfile::tempdir().expect("tempdir");
        copy_tree(
            &fuzz_root().join("templates"),
            &root.path().join("templates"),
        );
        copy_tree(
            &fuzz_root().join("packages.d"),
            &root.path().join("packages.d"),
        );
        let path = root.path().join(rel);
        let original = std::fs::read(&path).expect("read");
        let aside = root.path().join("aside");
        std::fs::remove_file(&path).expect("rm");
        let fifo = |at: &Path| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                at,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .expect("mkfifo")
        };
        match kind {
            Kind::Regular => std::fs::write(&path, &original).expect("write"),
            Kind::TooBig => {
                let mut big = original.clone();
                big.extend(std::iter::repeat_n(b'\n', 1 << 20));
                std::fs::write(&path, big).expect("write")
            }
            Kind::Fifo => fifo(&path),
            Kind::Directory => std::fs::create_dir(&path).expect("mkdir"),
            Kind::LinkInside => {
                std::fs::write(&aside, &original).expect("write");
                std::os::unix::fs::symlink(&aside, &path).expect("symlink")
            }
            Kind::LinkToFifoInside => {
                fifo(&aside);
                std::os::unix::fs::symlink(&aside, &path).expect("symlink")
            }
            Kind::LinkOut(target) => std::os::unix::fs::symlink(target, &path).expect("symlink"),
            Kind::Dangling => std::os::unix::fs::symlink(&aside, &path).expect("symlink"),
        }
        let sources = Sources::read(root.path());
        let text = sources.text(&path).map(str::to_owned);
        let checked = validate::check(&sources);
        tally.case(kind.is_read());
        if kind.is_read() {
            prop_assert_eq!(text.as_deref().map(str::as_bytes), Some(&original[..]));
            prop_assert!(checked.project.is_some(), "{} {:?}", rel, kind);
        } else {
            prop_assert!(text.is_none(), "{} {:?} was read", rel, kind);
            // A template is missing then (an error); a manifest is an entry
            // of packages.d/ that is not one (a warning at most).
            let fuzz_loaded = checked
                .project
                .as_ref()
                .is_some_and(|p| p.packages.contains_key("acme/fuzz"));
            prop_assert!(!fuzz_loaded, "{} {:?} loaded", rel, kind);
            if rel.starts_with("templates/") {
                prop_assert!(checked.project.is_none(), "{} {:?} accepted", rel, kind);
            }
            let leaked = checked.problems.iter().any(|p| {
                p.source
                    .as_deref()
                    .is_some_and(|s| s.contains("root:x:0:0"))
            });
            prop_assert!(!leaked, "{} {:?}: /etc/passwd quoted", rel, kind);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("file kinds: {e}");
    }
    tally.report("file kinds");
}
