//! The scheduler's tests, through its API ([`run`], [`run_late`]) on the
//! fake engine: order, bounds, priority, failures, cancellation, caching,
//! logs, late specs, and random DAGs against an independent model.

use super::*;
use crate::run::engine::fake::{FakeEngine, FakeResult};
use crate::run::engine::BuildRequest;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn job(stage: &str, deps: &[usize]) -> Job {
    Job {
        stage: stage.to_owned(),
        label: format!("label/{stage}"),
        tag: format!("img:{stage}"),
        dockerfile: format!("FROM scratch # {stage}"),
        deps: deps.to_vec(),
    }
}

/// Runs `jobs` and cancels `cancel` `after` the start, from another thread.
fn run_cancelled_after(
    jobs: &[Job],
    engine: &FakeEngine,
    o: &Options,
    after: Duration,
    cancel: &CancelToken,
) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let c = cancel.clone();
        s.spawn(move || {
            std::thread::sleep(after);
            c.cancel();
        });
        run(jobs, engine, o, &NullReporter, cancel)
    })
    .expect("valid")
}

#[test]
fn known_durations_order_the_ready_jobs_by_remaining_work() {
    // a is long and alone; b is short with a short dependent c. By
    // chain length b goes first; by remaining work a does.
    let jobs = vec![job("a", &[]), job("b", &[]), job("c", &[1])];
    let ms = Duration::from_millis;
    let engine = FakeEngine::new();
    run_ok(&jobs, &engine, &opts(Some(1)));
    assert_eq!(engine.build_order()[0], "b");
    let engine = FakeEngine::new();
    let o = Options {
        expected: Some(vec![ms(500), ms(10), ms(10)]),
        ..opts(Some(1))
    };
    run_ok(&jobs, &engine, &o);
    assert_eq!(engine.build_order(), ["a", "b", "c"]);
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Cached(usize),
    Started(usize),
    Line(usize, String),
    Finished(usize, Outcome),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Ev>>);

impl Recorder {
    fn events(&self) -> Vec<Ev> {
        lock(&self.0).clone()
    }
}

impl Reporter for Recorder {
    fn cached(&self, job: usize, _: &str) {
        lock(&self.0).push(Ev::Cached(job));
    }
    fn started(&self, job: usize) {
        lock(&self.0).push(Ev::Started(job));
    }
    fn line(&self, job: usize, line: &str) {
        lock(&self.0).push(Ev::Line(job, line.to_owned()));
    }
    fn finished(&self, job: usize, outcome: &Outcome) {
        lock(&self.0).push(Ev::Finished(job, outcome.clone()));
    }
}

fn opts(jobs: Option<usize>) -> Options {
    Options {
        jobs,
        ..Options::default()
    }
}

fn run_late_ok(
    jobs: &[Job],
    late: Late,
    engine: &FakeEngine,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    run_late(
        jobs,
        Some(late),
        engine,
        &opts(None),
        reporter,
        &CancelToken::new(),
    )
    .expect("valid input")
}

fn run_ok(jobs: &[Job], engine: &FakeEngine, o: &Options) -> Vec<Outcome> {
    run(jobs, engine, o, &NullReporter, &CancelToken::new()).expect("valid input")
}

/// Every build ran once, and only after all its deps' builds ended.
fn assert_ran_once_after_deps(jobs: &[Job], engine: &FakeEngine) {
    let builds = engine.builds();
    let by_stage: HashMap<&str, _> = builds.iter().map(|b| (b.stage.as_str(), b)).collect();
    assert_eq!(by_stage.len(), builds.len(), "a stage was built twice");
    for b in &builds {
        let j = jobs
            .iter()
            .find(|j| j.stage == b.stage)
            .expect("known stage");
        for &d in &j.deps {
            if let Some(db) = by_stage.get(jobs[d].stage.as_str()) {
                let end = db.end_seq.expect("dep build ended");
                assert!(
                    end < b.start_seq,
                    "{} started before dep {} ended",
                    b.stage,
                    db.stage
                );
            }
        }
    }
    assert_eq!(engine.running(), 0);
}

fn kind(o: &Outcome) -> &'static str {
    match o {
        Outcome::Built { .. } => "built",
        Outcome::Cached => "cached",
        Outcome::Failed { .. } => "failed",
        Outcome::Skipped { .. } => "skipped",
        Outcome::Cancelled => "cancelled",
        Outcome::Pulled => "pulled",
        Outcome::NotNeeded => "not needed",
    }
}

fn diamond() -> Vec<Job> {
    vec![
        job("base", &[]),
        job("a", &[0]),
        job("b", &[0]),
        job("c", &[1, 2]),
        job("d", &[0, 3]),
        job("final", &[0, 1, 2, 3, 4]),
    ]
}

#[test]
fn each_stage_runs_once_after_its_deps() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_default_duration(Duration::from_millis(3));
    let out = run_ok(&jobs, &engine, &opts(None));
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Built { .. })),
        "{out:?}"
    );
    assert_eq!(engine.builds().len(), jobs.len());
    assert_ran_once_after_deps(&jobs, &engine);
    assert_eq!(engine.existing_tags_calls().len(), 1);
}

#[test]
fn jobs_bound_is_never_exceeded() {
    for bound in [1, 2, 3] {
        let jobs: Vec<Job> = (0..8).map(|i| job(&format!("s{i}"), &[])).collect();
        let engine = FakeEngine::new().with_default_duration(Duration::from_millis(20));
        let out = run_ok(&jobs, &engine, &opts(Some(bound)));
        assert!(out.iter().all(Outcome::is_success));
        assert!(engine.max_concurrency() <= bound, "bound {bound}");
        assert_eq!(
            engine.max_concurrency(),
            bound,
            "bound {bound} should be reached"
        );
    }
}

#[test]
fn unbounded_runs_independent_stages_in_parallel() {
    let jobs: Vec<Job> = (0..6).map(|i| job(&format!("s{i}"), &[])).collect();
    let engine = FakeEngine::new().with_default_duration(Duration::from_millis(60));
    let start = Instant::now();
    run_ok(&jobs, &engine, &opts(None));
    assert!(engine.max_concurrency() >= 2);
    assert!(start.elapsed() < Duration::from_millis(300));
}

#[test]
fn single_slot_goes_to_the_longest_remaining_path() {
    // Index order would be a, b, ...; priority order is b (chain of 3),
    // then c (chain of 2, ready only when b ends — queued before b's
    // slot is freed), then a and d (1 each, tie broken by index).
    let jobs = vec![job("a", &[]), job("b", &[]), job("c", &[1]), job("d", &[2])];
    for _ in 0..10 {
        let engine = FakeEngine::new().with_default_duration(Duration::from_millis(1));
        run_ok(&jobs, &engine, &opts(Some(1)));
        assert_eq!(engine.build_order(), ["b", "c", "a", "d"]);
    }
}

#[test]
fn longest_paths_are_counted_inclusively() {
    let g = Graph::new(&diamond()).expect("valid");
    // base -> a -> c -> d -> final
    assert_eq!(g.longest_remaining_paths(), vec![5, 4, 4, 3, 2, 1]);
}

#[test]
fn failure_skips_exactly_its_transitive_dependents() {
    let jobs = vec![
        job("base", &[]),
        job("bad", &[0]),
        job("after-bad", &[1]),
        job("after-after", &[2, 0]),
        job("independent", &[0]),
        job("final", &[0, 1, 2, 3, 4]),
    ];
    let engine = FakeEngine::new()
        .with_failing(["bad"])
        .with_duration("independent", Duration::from_millis(30));
    let rec = Recorder::default();
    let out = run(&jobs, &engine, &opts(Some(2)), &rec, &CancelToken::new()).expect("valid");
    assert!(matches!(out[0], Outcome::Built { .. }));
    let Outcome::Failed {
        error, log_tail, ..
    } = &out[1]
    else {
        panic!("bad should fail: {:?}", out[1]);
    };
    assert!(error.contains("exited with status 1"), "{error}");
    assert_eq!(
        log_tail.last().map(String::as_str),
        Some("ERROR: fake failure")
    );
    for i in [2, 3, 5] {
        assert_eq!(out[i], Outcome::Skipped { because: 1 }, "job {i}");
    }
    assert!(
        matches!(out[4], Outcome::Built { .. }),
        "independent still builds"
    );
    assert_eq!(engine.build_order().len(), 3);
    assert_ran_once_after_deps(&jobs, &engine);
    let finished = rec
        .events()
        .iter()
        .filter(|e| matches!(e, Ev::Finished(..)))
        .count();
    assert_eq!(finished, jobs.len());
}

#[test]
fn existing_tags_are_cached_and_checked_once() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_existing(["img:base", "img:a", "img:b"]);
    let rec = Recorder::default();
    let out = run(&jobs, &engine, &opts(Some(2)), &rec, &CancelToken::new()).expect("valid");
    assert_eq!(
        &out[..3],
        &[Outcome::Cached, Outcome::Cached, Outcome::Cached]
    );
    assert!(out[3..].iter().all(|o| matches!(o, Outcome::Built { .. })));
    let calls = engine.existing_tags_calls();
    assert_eq!(calls.len(), 1);
    let all: Vec<String> = jobs.iter().map(|j| j.tag.clone()).collect();
    assert_eq!(calls[0], all);
    assert_eq!(engine.build_order(), ["c", "d", "final"]);
    assert!(engine.builds().iter().all(|b| !b.no_cache));
    let ev = rec.events();
    for i in 0..3 {
        assert!(ev.contains(&Ev::Cached(i)));
        assert!(!ev
            .iter()
            .any(|e| matches!(e, Ev::Finished(j, _) | Ev::Started(j) if *j == i)));
    }
}

#[test]
fn all_cached_builds_nothing() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_existing(jobs.iter().map(|j| j.tag.clone()));
    let out = run_ok(&jobs, &engine, &opts(Some(1)));
    assert!(out.iter().all(|o| *o == Outcome::Cached));
    assert!(engine.builds().is_empty());
    assert_eq!(engine.existing_tags_calls().len(), 1);
}

#[test]
fn force_never_checks_tags_and_builds_without_cache() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_existing(jobs.iter().map(|j| j.tag.clone()));
    let o = Options {
        force: true,
        build_args: vec!["http_proxy=http://p:3128".to_owned()],
        ..opts(Some(3))
    };
    let out = run_ok(&jobs, &engine, &o);
    assert!(out.iter().all(|o| matches!(o, Outcome::Built { .. })));
    assert!(engine.existing_tags_calls().is_empty());
    let builds = engine.builds();
    assert_eq!(builds.len(), jobs.len());
    assert!(builds
        .iter()
        .all(|b| b.no_cache && b.build_args == o.build_args));
}

#[test]
fn failing_tag_check_builds_nothing() {
    let engine = FakeEngine::new().with_existing_tags_error();
    let err = run(
        &diamond(),
        &engine,
        &opts(None),
        &NullReporter,
        &CancelToken::new(),
    )
    .expect_err("must fail");
    assert!(matches!(err, SchedulerError::ExistingTags(_)));
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(engine.builds().is_empty());
}

#[test]
fn cancel_mid_build_stops_everything_and_returns() {
    let jobs = vec![
        job("base", &[]),
        job("a", &[0]),
        job("b", &[0]),
        job("c", &[]),
        job("d", &[1]),
    ];
    let engine = FakeEngine::new().with_default_duration(Duration::from_secs(20));
    let cancel = CancelToken::new();
    let start = Instant::now();
    let out = run_cancelled_after(
        &jobs,
        &engine,
        &opts(Some(2)),
        Duration::from_millis(60),
        &cancel,
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(out.iter().all(|o| *o == Outcome::Cancelled), "{out:?}");
    assert_eq!(engine.running(), 0);
    let builds = engine.builds();
    assert_eq!(builds.len(), 2, "base and c were running");
    assert!(builds.iter().all(|b| b.result == FakeResult::Cancelled));
}

#[test]
fn already_cancelled_builds_nothing() {
    let engine = FakeEngine::new();
    let cancel = CancelToken::new();
    cancel.cancel();
    let out = run(&diamond(), &engine, &opts(Some(1)), &NullReporter, &cancel).expect("valid");
    assert!(out.iter().all(|o| *o == Outcome::Cancelled));
    assert!(engine.builds().is_empty());
}

#[test]
fn bad_input_is_an_error_not_a_deadlock() {
    let engine = FakeEngine::new();
    let check = |jobs: Vec<Job>| {
        run(
            &jobs,
            &engine,
            &opts(Some(1)),
            &NullReporter,
            &CancelToken::new(),
        )
        .expect_err("bad input")
        .to_string()
    };
    let e = check(vec![job("a", &[]), job("b", &[7])]);
    assert!(
        e.contains("`b` depends on job #7") && e.contains("only 2"),
        "{e}"
    );
    let e = check(vec![job("a", &[0])]);
    assert_eq!(e, "dependency cycle between stages: a -> a");
    let e = check(vec![
        job("x", &[]),
        job("a", &[3]),
        job("b", &[1]),
        job("c", &[2, 0]),
    ]);
    assert!(e.contains("a -> b -> c -> a"), "{e}");
    let err = run(
        &diamond(),
        &engine,
        &opts(Some(0)),
        &NullReporter,
        &CancelToken::new(),
    )
    .expect_err("zero jobs");
    assert!(matches!(err, SchedulerError::ZeroJobs));
    assert!(engine.builds().is_empty() && engine.existing_tags_calls().is_empty());
}

#[test]
fn no_jobs_is_fine() {
    let engine = FakeEngine::new();
    assert!(run_ok(&[], &engine, &opts(None)).is_empty());
    assert!(engine.existing_tags_calls().is_empty());
}

#[test]
fn duplicate_deps_are_harmless() {
    let jobs = vec![job("a", &[]), job("b", &[0, 0, 0])];
    let out = run_ok(&jobs, &FakeEngine::new(), &opts(Some(1)));
    assert!(out.iter().all(|o| matches!(o, Outcome::Built { .. })));
}

#[test]
fn a_panicking_engine_fails_only_that_stage() {
    let jobs = vec![
        job("a", &[]),
        job("boom", &[0]),
        job("after", &[1]),
        job("c", &[0]),
    ];
    let engine = FakeEngine::new().with_panicking(["boom"]);
    let out = run_ok(&jobs, &engine, &opts(Some(2)));
    let Outcome::Failed { error, .. } = &out[1] else {
        panic!("{:?}", out[1]);
    };
    assert!(
        error.contains("panicked") && error.contains("boom"),
        "{error}"
    );
    assert_eq!(out[2], Outcome::Skipped { because: 1 });
    assert!(out[3].is_success() && out[0].is_success());
}

struct PanickyReporter;
impl Reporter for PanickyReporter {
    fn cached(&self, _: usize, _: &str) {
        panic!("cached");
    }
    fn started(&self, _: usize) {
        panic!("started");
    }
    fn line(&self, _: usize, _: &str) {
        panic!("line");
    }
    fn finished(&self, _: usize, _: &Outcome) {
        panic!("finished");
    }
}

#[test]
fn a_panicking_reporter_does_not_break_the_run() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_existing(["img:base"]);
    let out = run(
        &jobs,
        &engine,
        &opts(Some(2)),
        &PanickyReporter,
        &CancelToken::new(),
    )
    .expect("valid");
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
}

#[test]
fn events_come_in_order_per_job() {
    let jobs = diamond();
    let engine = FakeEngine::new().with_existing(["img:base"]);
    let rec = Recorder::default();
    run(&jobs, &engine, &opts(Some(2)), &rec, &CancelToken::new()).expect("valid");
    let ev = rec.events();
    assert_eq!(ev.first(), Some(&Ev::Cached(0)));
    for i in 1..jobs.len() {
        let mine: Vec<&Ev> = ev
            .iter()
            .filter(
                |e| matches!(e, Ev::Started(j) | Ev::Line(j, _) | Ev::Finished(j, _) if *j == i),
            )
            .collect();
        assert_eq!(mine.len(), 4, "{mine:?}");
        assert_eq!(mine[0], &Ev::Started(i));
        assert!(matches!(mine[1], Ev::Line(_, l) if l.starts_with("Step 1/2")));
        assert!(matches!(mine[3], Ev::Finished(_, Outcome::Built { .. })));
    }
}

#[test]
fn stage_logs_go_to_the_log_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("logs/nested");
    let jobs = vec![job("ok", &[]), job("bad", &[]), job("has/slash", &[])];
    let engine = FakeEngine::new().with_failing(["bad"]);
    let o = Options {
        log_dir: Some(log_dir.clone()),
        ..opts(None)
    };
    run_ok(&jobs, &engine, &o);
    let read = |name: &str| std::fs::read_to_string(log_dir.join(name)).expect("log file");
    assert_eq!(
        read("ok.log"),
        "Step 1/2 : FROM something for ok\nSuccessfully tagged img:ok\n"
    );
    let bad = read("bad.log");
    assert!(bad.contains("ERROR: fake failure\n"), "{bad}");
    assert!(
        bad.ends_with("ERROR: `fake build` exited with status 1\n"),
        "{bad}"
    );
    assert!(read("has_slash.log").contains("Successfully tagged"));
}

#[test]
fn a_planted_log_symlink_or_fifo_is_never_followed_or_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("logs");
    std::fs::create_dir(&log_dir).expect("mkdir");
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "keep me\n").expect("write");
    std::os::unix::fs::symlink(&precious, log_dir.join("ok.log")).expect("symlink");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        log_dir.join("fifo.log"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    std::fs::write(log_dir.join("old.log"), "a stale log\n").expect("write");
    let jobs = vec![job("ok", &[]), job("fifo", &[]), job("old", &[])];
    let engine = FakeEngine::new();
    let o = Options {
        log_dir: Some(log_dir.clone()),
        ..opts(None)
    };
    let outcomes = run_ok(&jobs, &engine, &o);
    for (i, what) in [(0, "it is a symlink"), (1, "not a regular file")] {
        match &outcomes[i] {
            Outcome::Failed { error, .. } => {
                assert!(error.contains(what), "{error}");
                assert!(error.contains("--log-dir"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "keep me\n"
    );
    assert!(std::fs::symlink_metadata(log_dir.join("ok.log"))
        .expect("meta")
        .file_type()
        .is_symlink());
    // A regular log from before is emptied and rewritten.
    assert!(matches!(outcomes[2], Outcome::Built { .. }));
    let old = std::fs::read_to_string(log_dir.join("old.log")).expect("read");
    assert!(
        old.starts_with("Step 1/2") && !old.contains("stale"),
        "{old}"
    );
}

#[test]
fn unusable_log_dir_is_an_error_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "").expect("write");
    let engine = FakeEngine::new();
    let o = Options {
        log_dir: Some(file.join("sub")),
        ..opts(None)
    };
    let err =
        run(&diamond(), &engine, &o, &NullReporter, &CancelToken::new()).expect_err("log dir");
    assert!(matches!(err, SchedulerError::LogDir { .. }), "{err}");
    assert!(engine.builds().is_empty());
}

#[test]
fn log_tail_keeps_the_last_lines() {
    struct Chatty;
    impl Engine for Chatty {
        fn existing_tags(&self, _: &[&str]) -> Result<HashSet<String>, EngineError> {
            Ok(HashSet::new())
        }
        fn build(
            &self,
            _: &BuildRequest<'_>,
            on_line: &mut dyn FnMut(&str),
            _: &CancelToken,
        ) -> Result<(), EngineError> {
            for i in 0..50 {
                on_line(&format!("line {i}"));
            }
            Err(EngineError::Status {
                command: "chatty build".to_owned(),
                exit: crate::run::engine::ExitDesc::Signal(9),
            })
        }
    }
    let out = run(
        &[job("a", &[])],
        &Chatty,
        &opts(None),
        &NullReporter,
        &CancelToken::new(),
    )
    .expect("valid");
    let Outcome::Failed {
        log_tail, error, ..
    } = &out[0]
    else {
        panic!("{out:?}");
    };
    assert_eq!(error, "`chatty build` exited with signal 9");
    assert_eq!(log_tail.len(), LOG_TAIL_LINES);
    assert_eq!(log_tail[0], "line 30");
    assert_eq!(log_tail[19], "line 49");
}

/// A random DAG: job i depends on some of 0..i.
fn dag_case() -> impl Strategy<Value = (Vec<Job>, HashSet<String>, HashSet<String>, Option<usize>)>
{
    (1usize..=30)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(
                    (
                        proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
                        proptest::bool::weighted(0.15),
                        proptest::bool::weighted(0.15),
                    ),
                    n,
                ),
                proptest::option::of(1usize..5),
            )
        })
        .prop_map(|(specs, bound)| {
            let mut jobs = Vec::new();
            let mut failing = HashSet::new();
            let mut existing = HashSet::new();
            for (i, (deps, fails, cached)) in specs.into_iter().enumerate() {
                let deps: Vec<usize> = if i == 0 {
                    Vec::new()
                } else {
                    deps.iter().map(|ix| ix.index(i)).collect()
                };
                let j = job(&format!("s{i}"), &deps);
                if fails {
                    failing.insert(j.stage.clone());
                }
                if cached {
                    existing.insert(j.tag.clone());
                }
                jobs.push(j);
            }
            (jobs, failing, existing, bound)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn random_dags_behave((jobs, failing, existing, bound) in dag_case()) {
        let engine = Arc::new(
            FakeEngine::new()
                .with_failing(failing.iter().cloned())
                .with_existing(existing.iter().cloned())
                .with_default_duration(Duration::from_micros(300)),
        );
        let out = run(&jobs, &*engine, &opts(bound), &NullReporter, &CancelToken::new())
            .expect("valid DAG");
        prop_assert_eq!(out.len(), jobs.len());
        // Expected outcomes, computed independently (deps have lower indexes).
        let mut expected: Vec<Outcome> = Vec::new();
        for j in &jobs {
            let mut exp = if existing.contains(&j.tag) {
                Outcome::Cached
            } else if failing.contains(&j.stage) {
                Outcome::Failed { error: String::new(), log_tail: Vec::new(), elapsed: Duration::ZERO }
            } else {
                Outcome::Built { elapsed: Duration::ZERO }
            };
            if exp != Outcome::Cached {
                for &d in &j.deps {
                    match &expected[d] {
                        Outcome::Failed { .. } => exp = Outcome::Skipped { because: d },
                        Outcome::Skipped { because } => exp = Outcome::Skipped { because: *because },
                        _ => continue,
                    }
                    break;
                }
            }
            expected.push(exp);
        }
        for (i, (got, exp)) in out.iter().zip(&expected).enumerate() {
            prop_assert_eq!(kind(got), kind(exp), "job {}", i);
            if let Outcome::Skipped { because } = exp {
                prop_assert_eq!(got, &Outcome::Skipped { because: *because });
            }
        }
        let builds = engine.builds();
        let built: HashSet<&str> = builds.iter().map(|b| b.stage.as_str()).collect();
        prop_assert_eq!(built.len(), builds.len());
        for (j, o) in jobs.iter().zip(&out) {
            let ran = matches!(o, Outcome::Built { .. } | Outcome::Failed { .. });
            prop_assert_eq!(built.contains(j.stage.as_str()), ran, "stage {}", &j.stage);
        }
        assert_ran_once_after_deps(&jobs, &engine);
        if let Some(b) = bound {
            prop_assert!(engine.max_concurrency() <= b);
        }
        prop_assert_eq!(engine.existing_tags_calls().len(), 1);
    }
}

/// base(0); a(1, pending) and b(2) on base; final(3, pending) on all.
fn late_jobs() -> (Vec<Job>, Vec<bool>) {
    let mut jobs = vec![
        job("base", &[]),
        job("a", &[0]),
        job("b", &[0]),
        job("final", &[0, 1, 2]),
    ];
    for i in [1, 3] {
        jobs[i].tag = "placeholder".to_owned();
        jobs[i].dockerfile = "placeholder".to_owned();
    }
    (jobs, vec![false, true, false, true])
}

fn late_specs() -> Vec<Spec> {
    [(1, "img:a-late"), (3, "img:final-late")]
        .map(|(job, tag)| Spec {
            job,
            tag: tag.to_owned(),
            dockerfile: format!("FROM scratch # {tag}"),
        })
        .to_vec()
}

/// Tells a channel when job 0 (the base) has finished.
struct OnBaseDone(crossbeam::channel::Sender<()>);
impl Reporter for OnBaseDone {
    fn cached(&self, _: usize, _: &str) {}
    fn started(&self, _: usize) {}
    fn line(&self, _: usize, _: &str) {}
    fn finished(&self, job: usize, _: &Outcome) {
        if job == 0 {
            let _ = self.0.send(());
        }
    }
}

#[test]
fn the_base_builds_while_the_revisions_are_looked_up() {
    let (jobs, pending) = late_jobs();
    let engine = FakeEngine::new();
    let (specs_tx, specs_rx) = crossbeam::channel::bounded(1);
    let (base_tx, base_rx) = crossbeam::channel::bounded(1);
    let late = Late {
        pending,
        specs: specs_rx,
    };
    let out = std::thread::scope(|s| {
        // The "lookups" answer only once the base has been built: the
        // run must not wait for them to start it.
        s.spawn(move || {
            base_rx.recv().expect("the base finishes");
            specs_tx.send(Ok(late_specs())).expect("the run listens");
        });
        let reporter = OnBaseDone(base_tx);
        run_late_ok(&jobs, late, &engine, &reporter)
    });
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
    let order = engine.build_order();
    assert_eq!(order[0], "base");
    assert_eq!(order.last().map(String::as_str), Some("final"));
    let tags: HashMap<String, String> = engine
        .builds()
        .into_iter()
        .map(|b| (b.stage, b.tag))
        .collect();
    assert_eq!(tags["a"], "img:a-late", "built with the spec that arrived");
    assert_eq!(tags["final"], "img:final-late");
    assert_eq!(tags["b"], "img:b");
    let calls = engine.existing_tags_calls();
    assert_eq!(
        calls,
        [
            vec!["img:base", "img:b"],
            vec!["img:a-late", "img:final-late"]
        ]
    );
}

#[test]
fn a_late_stage_whose_image_exists_is_cached_with_its_real_tag() {
    let (jobs, pending) = late_jobs();
    let engine = FakeEngine::new().with_existing(["img:a-late"]);
    let (tx, specs) = crossbeam::channel::bounded(1);
    tx.send(Ok(late_specs())).expect("buffered");
    let reporter = Recorder::default();
    let late = Late { pending, specs };
    let out = run_late_ok(&jobs, late, &engine, &reporter);
    assert_eq!(out[1], Outcome::Cached);
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
    assert_eq!(engine.build_order(), ["base", "b", "final"]);
    let events = reporter.events();
    assert_eq!(events.iter().filter(|e| **e == Ev::Cached(1)).count(), 1);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Ev::Finished(1, _) | Ev::Started(1))),
        "a cached job only gets `cached`: {events:?}"
    );
}

#[test]
fn without_specs_the_late_stages_fail_with_the_reason_and_the_rest_builds() {
    let (jobs, pending) = late_jobs();
    let engine = FakeEngine::new();
    let (tx, specs) = crossbeam::channel::bounded(1);
    tx.send(Err("git ls-remote failed for a".to_owned()))
        .expect("buffered");
    let late = Late {
        pending: pending.clone(),
        specs,
    };
    let out = run_late_ok(&jobs, late, &engine, &NullReporter);
    assert!(out[0].is_success() && out[2].is_success(), "{out:?}");
    match &out[1] {
        Outcome::Failed { error, .. } => assert!(error.contains("ls-remote failed"), "{error}"),
        other => panic!("a must fail, not {other:?}"),
    }
    assert!(
        matches!(
            out[3],
            Outcome::Failed { .. } | Outcome::Skipped { because: 1 }
        ),
        "{:?}",
        out[3]
    );
    assert_eq!(engine.build_order(), ["base", "b"]);

    // A sender dropped without a word counts as no specs.
    let engine = FakeEngine::new();
    let (tx, specs) = crossbeam::channel::bounded::<Result<Vec<Spec>, String>>(1);
    drop(tx);
    let late = Late { pending, specs };
    let out = run_late_ok(&jobs, late, &engine, &NullReporter);
    match &out[1] {
        Outcome::Failed { error, .. } => {
            assert!(error.contains("without an answer"), "{error}")
        }
        other => panic!("a must fail, not {other:?}"),
    }
    assert_eq!(engine.build_order(), ["base", "b"]);
}

#[test]
fn pending_flags_must_match_the_jobs() {
    let (jobs, _) = late_jobs();
    let (_tx, specs) = crossbeam::channel::bounded(1);
    let late = Late {
        pending: vec![true],
        specs,
    };
    let err = run_late(
        &jobs,
        Some(late),
        &FakeEngine::new(),
        &opts(None),
        &NullReporter,
        &CancelToken::new(),
    )
    .expect_err("refused");
    assert!(matches!(
        err,
        SchedulerError::LateLength { pending: 1, len: 4 }
    ));
}

#[test]
fn a_late_stage_already_waiting_is_not_built_when_its_image_exists() {
    // The base exists, so a's thread starts at once and waits for its
    // spec; the spec says its image exists.
    let (jobs, pending) = late_jobs();
    let engine = FakeEngine::new().with_existing(["img:base", "img:a-late"]);
    let (tx, specs) = crossbeam::channel::bounded(1);
    let late = Late { pending, specs };
    let reporter = Recorder::default();
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            tx.send(Ok(late_specs())).expect("the run listens");
        });
        run_late_ok(&jobs, late, &engine, &reporter)
    });
    assert_eq!((&out[0], &out[1]), (&Outcome::Cached, &Outcome::Cached));
    assert_eq!(engine.build_order(), ["b", "final"]);
    assert!(!reporter
        .events()
        .iter()
        .any(|e| matches!(e, Ev::Finished(1, _))));
}

#[test]
fn a_late_stage_queued_for_a_slot_and_then_found_cached_does_not_block_the_queue() {
    // The specs arrive just as the base ends: a (ahead of b in the slot
    // queue) may be queued, or its thread started, before it turns out
    // to exist; whatever the order, b must still get its slot. The
    // order is up to the threads, so the run is repeated.
    /// Sends the specs when the base finishes.
    struct SpecsOnBaseDone(crossbeam::channel::Sender<Result<Vec<Spec>, String>>);
    impl Reporter for SpecsOnBaseDone {
        fn cached(&self, _: usize, _: &str) {}
        fn started(&self, _: usize) {}
        fn line(&self, _: usize, _: &str) {}
        fn finished(&self, job: usize, _: &Outcome) {
            if job == 0 {
                let _ = self.0.try_send(Ok(late_specs()));
            }
        }
    }
    for round in 0..50 {
        let (jobs, pending) = late_jobs();
        let (specs_tx, specs) = crossbeam::channel::bounded(1);
        let late = Late { pending, specs };
        // Detached, so that a run that never ends fails the test
        // instead of hanging it.
        let (done_tx, done_rx) = crossbeam::channel::bounded(1);
        std::thread::spawn(move || {
            let engine = FakeEngine::new().with_existing(["img:a-late"]);
            let out = run_late_ok(&jobs, late, &engine, &SpecsOnBaseDone(specs_tx));
            let _ = done_tx.send((out, engine.build_order()));
        });
        let (out, order) = done_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("round {round}: the run never ended"));
        assert_eq!(out[1], Outcome::Cached, "round {round}");
        assert!(out.iter().all(Outcome::is_success), "{out:?}");
        assert_eq!(order, ["base", "b", "final"], "round {round}");
    }
}

#[test]
fn a_stage_waiting_for_its_revision_does_not_hold_the_slot_queue() {
    // The base exists; a (first in the queue by priority) waits for
    // its spec, which comes only once b builds: b must not wait for a.
    struct SpecsWhenBStarts(crossbeam::channel::Sender<Result<Vec<Spec>, String>>);
    impl Reporter for SpecsWhenBStarts {
        fn cached(&self, _: usize, _: &str) {}
        fn started(&self, job: usize) {
            if job == 2 {
                let _ = self.0.try_send(Ok(late_specs()));
            }
        }
        fn line(&self, _: usize, _: &str) {}
        fn finished(&self, _: usize, _: &Outcome) {}
    }
    let (jobs, pending) = late_jobs();
    let (specs_tx, specs) = crossbeam::channel::bounded(1);
    let late = Late { pending, specs };
    let (done_tx, done_rx) = crossbeam::channel::bounded(1);
    std::thread::spawn(move || {
        let engine = FakeEngine::new().with_existing(["img:base"]);
        let out = run_late_ok(&jobs, late, &engine, &SpecsWhenBStarts(specs_tx));
        let _ = done_tx.send((out, engine.build_order()));
    });
    let (out, order) = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("b builds while a waits for its revision");
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
    assert_eq!(order, ["b", "a", "final"]);
}

// The dispatcher: threads only for builds, bounded by --jobs; skips and
// cancellations decided by the loop; late specs competing on priority.

/// The threads of this process whose name starts with `prefix` (Linux:
/// `/proc/self/task/*/comm`, names cut to 15 bytes).
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .count()
}

#[test]
fn a_stage_thread_exists_only_while_its_build_holds_a_slot() {
    // Eight independent stages, two slots: at no point are there more
    // than two stage threads (the stages waiting for a slot have none).
    assert!(
        std::path::Path::new("/proc/self/task").is_dir(),
        "this test reads the thread names from /proc"
    );
    struct CountThreads(Mutex<Vec<usize>>);
    impl Reporter for CountThreads {
        fn cached(&self, _: usize, _: &str) {}
        fn started(&self, _: usize) {
            lock(&self.0).push(threads_named("stage dsp-slot"));
        }
        fn line(&self, _: usize, _: &str) {
            lock(&self.0).push(threads_named("stage dsp-slot"));
        }
        fn finished(&self, _: usize, _: &Outcome) {}
    }
    let jobs: Vec<Job> = (0..8).map(|i| job(&format!("dsp-slot-{i}"), &[])).collect();
    let engine = FakeEngine::new().with_default_duration(Duration::from_millis(15));
    let counts = CountThreads(Mutex::new(Vec::new()));
    let out = run(&jobs, &engine, &opts(Some(2)), &counts, &CancelToken::new()).expect("valid");
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
    let counts = lock(&counts.0).clone();
    assert_eq!(counts.len(), 8 * 3, "started and two lines per stage");
    assert!(counts.iter().all(|&c| (1..=2).contains(&c)), "{counts:?}");
    assert_eq!(engine.max_concurrency(), 2);
}

#[test]
fn skips_are_decided_by_the_dispatcher_even_down_a_long_chain() {
    // A failure at the top of a 5,000-stage chain: one build, and every
    // other stage is skipped by the calling thread, not a stage thread,
    // without the depth of the chain mattering.
    struct FinishedOn(Mutex<Vec<(usize, std::thread::ThreadId)>>);
    impl Reporter for FinishedOn {
        fn cached(&self, _: usize, _: &str) {}
        fn started(&self, _: usize) {}
        fn line(&self, _: usize, _: &str) {}
        fn finished(&self, job: usize, _: &Outcome) {
            lock(&self.0).push((job, std::thread::current().id()));
        }
    }
    let n: usize = 5_000;
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let deps: Vec<usize> = i.checked_sub(1).into_iter().collect();
            job(&format!("c{i}"), &deps)
        })
        .collect();
    let engine = FakeEngine::new().with_failing(["c0"]);
    let rec = FinishedOn(Mutex::new(Vec::new()));
    let me = std::thread::current().id();
    let out = run(&jobs, &engine, &opts(Some(1)), &rec, &CancelToken::new()).expect("valid");
    assert!(matches!(out[0], Outcome::Failed { .. }), "{:?}", out[0]);
    assert!(out[1..]
        .iter()
        .all(|o| *o == Outcome::Skipped { because: 0 }));
    assert_eq!(engine.build_order(), ["c0"]);
    let finished = lock(&rec.0).clone();
    assert_eq!(finished.len(), n, "each job finished once");
    assert!(finished.iter().all(|&(_, t)| t == me));
}

#[test]
fn cancelling_while_stages_wait_for_the_slot_builds_no_more() {
    let jobs: Vec<Job> = (0..4).map(|i| job(&format!("w{i}"), &[])).collect();
    let engine = FakeEngine::new().with_default_duration(Duration::from_secs(20));
    let cancel = CancelToken::new();
    let start = Instant::now();
    let out = run_cancelled_after(
        &jobs,
        &engine,
        &opts(Some(1)),
        Duration::from_millis(50),
        &cancel,
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(out.iter().all(|o| *o == Outcome::Cancelled), "{out:?}");
    assert_eq!(
        engine.build_order().len(),
        1,
        "only the one holding the slot"
    );
    assert_eq!(engine.running(), 0);
}

#[test]
fn a_late_stage_whose_spec_comes_during_a_build_competes_on_priority() {
    // One slot. The specs arrive while the base builds: when it ends, a
    // (pending, with final after it) and b are both ready, and a goes
    // first as it has more after it. Without its spec b would have gone.
    struct SpecsWhenBaseStarts(crossbeam::channel::Sender<Result<Vec<Spec>, String>>);
    impl Reporter for SpecsWhenBaseStarts {
        fn cached(&self, _: usize, _: &str) {}
        fn started(&self, job: usize) {
            if job == 0 {
                let _ = self.0.try_send(Ok(late_specs()));
            }
        }
        fn line(&self, _: usize, _: &str) {}
        fn finished(&self, _: usize, _: &Outcome) {}
    }
    let mut jobs = vec![
        job("base", &[]),
        job("a", &[0]),
        job("b", &[0]),
        job("after-a", &[1]),
    ];
    jobs[1].tag = "placeholder".to_owned();
    let pending = vec![false, true, false, false];
    let (tx, specs) = crossbeam::channel::bounded(1);
    let late = Late { pending, specs };
    let engine = FakeEngine::new().with_duration("base", Duration::from_millis(200));
    let reporter = SpecsWhenBaseStarts(tx);
    let out = run_late(
        &jobs,
        Some(late),
        &engine,
        &opts(Some(1)),
        &reporter,
        &CancelToken::new(),
    )
    .expect("valid");
    assert!(out.iter().all(Outcome::is_success), "{out:?}");
    assert_eq!(engine.build_order(), ["base", "a", "b", "after-a"]);
    let tags: HashMap<String, String> = engine
        .builds()
        .into_iter()
        .map(|b| (b.stage, b.tag))
        .collect();
    assert_eq!(tags["a"], "img:a-late");
}
