//! The pipeline's tests: whole builds against the fake engine and a fake
//! registry, each phase's effect seen through the reporter and the outcome.

use super::*;
use crate::run::engine::fake::FakeEngine;
use crate::run::engine::BuildRequest;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fake engine, with what is here, its platform and a registry.
struct Host {
    engine: FakeEngine,
    here: HashSet<String>,
    /// Tags (local names) the registry has.
    remote: HashSet<String>,
    pulled: Mutex<Vec<String>>,
    pushed: Mutex<Vec<String>>,
    local_tags_calls: Mutex<usize>,
}

impl Host {
    fn new(here: &[&str], remote: &[&str]) -> Host {
        let here: HashSet<String> = here.iter().map(|t| (*t).to_owned()).collect();
        Host {
            engine: FakeEngine::new().with_existing(here.clone()),
            here,
            remote: remote.iter().map(|t| (*t).to_owned()).collect(),
            pulled: Mutex::new(Vec::new()),
            pushed: Mutex::new(Vec::new()),
            local_tags_calls: Mutex::new(0),
        }
    }
    fn local(remote: &str) -> &str {
        remote
            .strip_prefix("reg.test/ci/linux-amd64/")
            .unwrap_or(remote)
    }
}

impl Engine for Host {
    fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
        self.engine.existing_tags(tags)
    }
    fn build(
        &self,
        req: &BuildRequest<'_>,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        self.engine.build(req, on_line, cancel)
    }
}

impl Images for Host {
    fn local_tags(&self) -> Result<HashSet<String>, EngineError> {
        *lock(&self.local_tags_calls) += 1;
        Ok(self.here.clone())
    }
    fn platform(&self) -> Result<String, EngineError> {
        Ok("linux/amd64".to_owned())
    }
}

impl Registry for Host {
    fn pull(&self, remote: &str, _local: &str) -> Result<(), RegistryError> {
        assert!(remote.starts_with("reg.test/ci/linux-amd64/"), "{remote}");
        if self.remote.contains(Host::local(remote)) {
            lock(&self.pulled).push(Host::local(remote).to_owned());
            Ok(())
        } else {
            Err(RegistryError::NotFound)
        }
    }
    fn push(&self, local: &str, _remote: &str) -> Result<(), RegistryError> {
        lock(&self.pushed).push(local.to_owned());
        Ok(())
    }
    fn probe(&self, remote: &str) -> Result<bool, RegistryError> {
        Ok(self.remote.contains(Host::local(remote)))
    }
}

/// Every event, in order: `say …`, `begin`, `started <stage>`, `end`…
#[derive(Default)]
struct Events {
    stages: Mutex<Vec<String>>,
    seen: Mutex<Vec<String>>,
}

impl Events {
    fn push(&self, e: String) {
        lock(&self.seen).push(e);
    }
    fn stage(&self, job: usize) -> String {
        lock(&self.stages).get(job).cloned().unwrap_or_default()
    }
    fn seen(&self) -> Vec<String> {
        lock(&self.seen).clone()
    }
    fn at(&self, event: &str) -> usize {
        let seen = self.seen();
        seen.iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no `{event}` in {seen:?}"))
    }
}

impl scheduler::Reporter for Events {
    fn cached(&self, job: usize, _: &str) {
        self.push(format!("cached {}", self.stage(job)));
    }
    fn started(&self, job: usize) {
        self.push(format!("started {}", self.stage(job)));
    }
    fn line(&self, _: usize, _: &str) {}
    fn finished(&self, job: usize, _: &Outcome) {
        self.push(format!("finished {}", self.stage(job)));
    }
}

impl Reporter for Events {
    fn say(&self, line: &str) {
        self.push(format!("say {line}"));
    }
    fn begin(&self, jobs: &[Job]) {
        *lock(&self.stages) = jobs.iter().map(|j| j.stage.clone()).collect();
        self.push("begin".to_owned());
    }
    fn end(&self) {
        self.push("end".to_owned());
    }
}

const PINNED: &str = "name = \"acme/widget\"\nrev = \"v1.0.0\"\nbuild_type = \"cmake\"\n";
const UNPINNED: &str =
    "name = \"openbmc/gadget\"\nbuild_type = \"meson\"\ndepends = [\"acme/widget\"]\n";
const PATCHSET: &str = "0123456789abcdef0123456789abcdef01234567";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A root with the shipped templates and these manifests, checked.
fn project(manifests: &[&str]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    copy_tree(&shipped, &dir.path().join("templates"));
    std::fs::create_dir_all(dir.path().join("packages.d")).expect("mkdir");
    for text in manifests {
        let name = text.split('"').nth(1).expect("a name").replace('/', "-");
        std::fs::write(dir.path().join(format!("packages.d/{name}.toml")), text).expect("write");
    }
    let checked = crate::check::check_root(dir.path());
    let project = checked.project.expect("a valid root");
    (dir, project)
}

fn settings() -> Settings {
    Settings {
        http_proxy: Some("http://proxy:3128".to_owned()),
        https_proxy: Some("http://proxy:3128".to_owned()),
        gerrit_project: Some("openbmc/gadget".to_owned()),
        gerrit_rev: Some(PATCHSET.to_owned()),
        ..crate::model::settings::test_settings()
    }
}

fn config_with(store: Option<Store>) -> BuildConfig {
    BuildConfig {
        settings: settings(),
        // No lookup may run: a lookup here fails.
        git_base: "/nonexistent/git".to_owned(),
        jobs: Some(2),
        log_dir: None,
        stage_timeout: None,
        cache: None,
        dry_run: false,
        store,
        cancel: CancelToken::new(),
    }
}

/// The tags the run will use (rendered with the Gerrit pin).
fn tags(project: &Project) -> BTreeMap<String, String> {
    let revs = project
        .unpinned()
        .map(|n| (n.to_owned(), PATCHSET.to_owned()))
        .collect();
    let plan = crate::plan::render::render(project, &revs, &settings()).expect("renders");
    plan.stages.into_iter().map(|s| (s.name, s.tag)).collect()
}

fn built(ran: Ran) -> Built {
    match ran {
        Ran::Built(b) => b,
        Ran::Dry(d) => panic!("a dry run: {d:?}"),
    }
}

const NOTE: &str =
    "say Found Gerrit revision for openbmc/gadget: 0123456789abcdef0123456789abcdef01234567";

#[test]
fn the_notes_come_before_the_stages_that_use_them_on_both_paths() {
    let (_dir, p) = project(&[PINNED, UNPINNED]);
    let tags = tags(&p);
    // Without a cache registry the base and acme/widget build while the
    // revisions are looked up; with one, the lookups come first.
    for cache in [false, true] {
        let (_dir, p) = project(&[PINNED, UNPINNED]);
        let host = Host::new(&[], &[]);
        let events = Events::default();
        let mut config = config_with(None);
        if cache {
            config.cache = Some(CacheConfig {
                reference: "reg.test/ci".to_owned(),
                push: false,
            });
        }
        let b = built(build(p, &mut config, &host, &host, &events).expect("runs"));
        assert!(
            b.outcomes.iter().all(Outcome::is_success),
            "{:?}",
            b.outcomes
        );
        let seen = events.seen();
        assert_eq!(seen.iter().filter(|e| *e == NOTE).count(), 1, "{seen:?}");
        assert!(
            events.at(NOTE) < events.at("started openbmc-gadget"),
            "cache {cache}: {seen:?}"
        );
        assert!(events.at(NOTE) < events.at("started final"), "{seen:?}");
        assert!(events.at(NOTE) < events.at("end"), "{seen:?}");
        let gadget = b.plan.stage("openbmc-gadget").expect("stage");
        assert_eq!(gadget.tag, tags["openbmc-gadget"], "the pinned patchset");
        if cache {
            // Every stage is needed first: nothing starts before the notes.
            assert!(events.at(NOTE) < events.at("begin"), "{seen:?}");
        } else {
            assert!(events.at("started base") < events.at("end"), "{seen:?}");
            assert_eq!(*lock(&host.local_tags_calls), 1, "one image listing");
        }
    }
}

#[test]
fn what_is_here_is_kept_the_rest_built_with_the_proxies_and_recorded() {
    let (_dir, p) = project(&[PINNED]);
    let tags = tags(&p);
    let host = Host::new(&[tags["base"].as_str()], &[]);
    let data = tempfile::tempdir().expect("tempdir");
    let store = Store::open(data.path(), key("/root"), store::Mode::Write);
    let mut config = config_with(Some(store));
    let b = built(build(p, &mut config, &host, &host, &Events::default()).expect("runs"));
    let kinds: Vec<&str> = b
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Cached => "cached",
            Outcome::Built { .. } => "built",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["cached", "built", "built"],
        "base, acme-widget, final"
    );
    let builds = host.engine.builds();
    assert_eq!(builds.len(), 2);
    for record in &builds {
        assert_eq!(
            record.build_args,
            [
                "http_proxy=http://proxy:3128",
                "https_proxy=http://proxy:3128"
            ]
        );
    }
    assert!(b.cache_line.is_none() && b.warnings.is_empty());
    // The built stages' times are this root's next priorities.
    let store = config.store.as_mut().expect("store");
    let secs = store.seconds(&["base", "acme-widget", "final"]);
    assert!(
        secs[0].is_none() && secs[1].is_some() && secs[2].is_some(),
        "{secs:?}"
    );
}

#[test]
fn the_registry_is_walked_from_the_final_image_and_built_stages_are_pushed() {
    let (_dir, p) = project(&[PINNED]);
    let tags = tags(&p);
    let reg = Some(CacheConfig {
        reference: "reg.test/ci".to_owned(),
        push: true,
    });
    // The registry has what final is built from: final is built here.
    let host = Host::new(&[], &[tags["base"].as_str(), tags["acme-widget"].as_str()]);
    let mut config = config_with(None);
    config.cache = reg.clone();
    let events = Events::default();
    let b = built(build(p, &mut config, &host, &host, &events).expect("runs"));
    assert_eq!(
        b.outcomes[..2],
        [Outcome::Pulled, Outcome::Pulled],
        "{:?}",
        b.outcomes
    );
    assert!(matches!(b.outcomes[2], Outcome::Built { .. }));
    assert_eq!(host.engine.build_order(), ["final"]);
    assert_eq!(*lock(&host.pushed), [tags["final"].clone()]);
    assert_eq!(b.pushed, HashSet::from([tags["final"].clone()]));
    assert_eq!(
        b.cache_line.as_deref(),
        Some("cache: pushed 1 stage(s) to reg.test/ci")
    );
    let asked = "say cache: asking reg.test/ci for the linux-amd64 stages needed and missing here";
    assert!(events.at(asked) < events.at("say cache: pulled 2 stage(s)"));
    assert!(events.at("say cache: pulled 2 stage(s)") < events.at("begin"));

    // A dry run with the final image in the registry: only it would
    // come, and nothing is built, pulled or pushed.
    let (_dir, p) = project(&[PINNED]);
    let host = Host::new(&[], &[tags["final"].as_str()]);
    let mut config = config_with(None);
    config.cache = reg;
    config.dry_run = true;
    let Ran::Dry(dry) = build(p, &mut config, &host, &host, &Events::default()).expect("runs")
    else {
        panic!("not a dry run");
    };
    assert_eq!(dry.fates, [Fate::NotNeeded, Fate::NotNeeded, Fate::Pulled]);
    assert!(dry.registry);
    assert!(host.engine.builds().is_empty() && lock(&host.pulled).is_empty());
    assert!(lock(&host.pushed).is_empty());
}

#[test]
fn a_failed_lookup_stops_the_build_and_names_the_package() {
    let (_dir, p) = project(&[PINNED, UNPINNED]);
    let host = Host::new(&[], &[]);
    let mut config = config_with(None);
    config.settings.gerrit_project = None;
    config.settings.gerrit_rev = None;
    let e = build(p, &mut config, &host, &host, &Events::default()).expect_err("fails");
    match e {
        PipelineError::RevisionLookups { failures, git_base } => {
            assert_eq!(git_base, "/nonexistent/git");
            let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["openbmc/gadget"]);
        }
        other => panic!("{other:?}"),
    }
    let built = host.engine.build_order();
    assert!(!built.contains(&"openbmc-gadget".to_owned()), "{built:?}");
    assert!(!built.contains(&"final".to_owned()), "{built:?}");
}

#[test]
fn build_args_are_both_proxies_only_with_http_proxy() {
    let mut config = config_with(None);
    assert_eq!(
        config.build_args(),
        [
            "http_proxy=http://proxy:3128",
            "https_proxy=http://proxy:3128"
        ]
    );
    config.settings.http_proxy = None;
    assert!(
        config.build_args().is_empty(),
        "https_proxy alone is not passed"
    );
}

fn job(stage: &str) -> Job {
    Job {
        stage: stage.to_owned(),
        label: stage.to_owned(),
        tag: format!("img-{stage}:w-1"),
        dockerfile: "FROM x\n".to_owned(),
        deps: Vec::new(),
    }
}

fn key(root: &str) -> store::Key {
    store::Key {
        root: root.to_owned(),
        image: "img".to_owned(),
        branch: String::new(),
    }
}

#[test]
fn the_priorities_read_only_this_roots_build_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = |root: &str, times: &[(&str, f64)]| {
        let mut s = Store::open(dir.path(), key(root), store::Mode::Write);
        let tags: Vec<String> = times
            .iter()
            .map(|(st, _)| format!("img-{st}:w-1"))
            .collect();
        let entries: Vec<store::Entry<'_>> = times
            .iter()
            .zip(&tags)
            .map(|((stage, secs), tag)| store::Entry {
                stage,
                tag,
                dockerfile: "FROM x\n",
                seconds: Some(*secs),
            })
            .collect();
        s.record(&entries, 1000);
    };
    record("/other", &[("base", 900.0), ("a", 800.0), ("b", 700.0)]);
    record("/this", &[("base", 10.0), ("a", 30.0)]);
    let jobs = [job("base"), job("a"), job("b")];
    let mut this = Store::open(dir.path(), key("/this"), store::Mode::Write);
    let secs: Vec<u64> = expected_durations(&jobs, &mut this)
        .expect("known")
        .iter()
        .map(Duration::as_secs)
        .collect();
    // b: unknown to this root, so the mean of its known ones.
    assert_eq!(secs, [10, 30, 20]);
    let mut fresh = Store::open(dir.path(), key("/fresh"), store::Mode::Write);
    assert_eq!(expected_durations(&jobs, &mut fresh), None);
}
