//! Runs a DAG of image builds on a [`crate::run::engine::Engine`]: one crossbeam
//! scoped thread per stage, a bounded pool of build slots handed out by
//! priority (longest remaining chain first), cancellation, per-stage logs.
//!
//! Owns: input validation (dependency indexes, cycles), the "already
//! exists" check (one `existing_tags` call, and one more for the jobs whose
//! tags arrive late — see [`Late`]), the order and concurrency of builds,
//! turning engine results into [`Outcome`]s, and the per-stage log files
//! under `Options::log_dir` (each created or emptied only as a regular
//! file: a symlink, FIFO or device planted at `<stage>.log` is never
//! followed, opened for writing or truncated — see [`create_log`]).
//!
//! Must not: print anything (all progress goes through [`Reporter`]),
//! compute Dockerfiles or tags, talk to processes directly, poll with
//! sleeps, panic, or deadlock — whatever the engine or the input does.
//!
//! Cancellation policy: once the [`CancelToken`] is set, running builds are
//! stopped by the engine, and every job that had not finished (waiting for
//! dependencies, for a slot, or building) ends as [`Outcome::Cancelled`] —
//! also when the dependency it waited on was itself cancelled. `Skipped`
//! always points at a real failure.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::dag::Dag;
use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::run::engine::{BuildRequest, CancelToken, Engine, EngineError};

/// How many of a failed build's last output lines are kept.
pub const LOG_TAIL_LINES: usize = 20;

/// One stage to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Stage name (also the log file name): `base`, `openbmc-sdbusplus`.
    pub stage: String,
    /// What output lines are labelled with: `openbmc/sdbusplus`.
    pub label: String,
    /// The image tag this stage produces.
    pub tag: String,
    /// The Dockerfile text.
    pub dockerfile: String,
    /// Indexes (into the jobs slice) of the stages this one builds on.
    pub deps: Vec<usize>,
}

/// How to run the jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// At most this many builds at once; `None` = unbounded. `Some(0)` is
    /// rejected.
    pub jobs: Option<usize>,
    /// Build everything, without the layer cache, ignoring existing tags.
    pub force: bool,
    /// `NAME=VALUE` build arguments passed to every build.
    pub build_args: Vec<String>,
    /// If set, each build's output also goes to `DIR/<stage>.log`.
    pub log_dir: Option<PathBuf>,
    /// Stop a build that runs longer than this (`--stage-timeout`).
    pub stage_timeout: Option<std::time::Duration>,
    /// How long each job is expected to take (its last build's time), to
    /// order the ready jobs by the longest remaining work instead of the
    /// longest remaining chain of jobs.
    pub expected: Option<Vec<Duration>>,
}

/// Jobs whose tag and Dockerfile are not known when the run starts, because
/// their revision (or a dependency's) is still being looked up. Each waits
/// for its dependencies and for the specs, no more: the other stages (the
/// base first) build meanwhile.
pub struct Late {
    /// Per job: whether its [`Spec`] comes later (its `tag` and
    /// `dockerfile` in the job list are placeholders, never used).
    pub pending: Vec<bool>,
    /// One message: every pending job's spec, or why there are none. A
    /// dropped sender counts as the latter.
    pub specs: crossbeam::channel::Receiver<Result<Vec<Spec>, String>>,
}

/// A pending job's tag and Dockerfile, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub job: usize,
    pub tag: String,
    pub dockerfile: String,
}

/// How one job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Built successfully.
    Built { elapsed: Duration },
    /// The tag existed already; nothing was built.
    Cached,
    /// The build failed (or its log file could not be created).
    Failed {
        error: String,
        /// The last [`LOG_TAIL_LINES`] output lines.
        log_tail: Vec<String>,
        elapsed: Duration,
    },
    /// Not built because a dependency failed; `because` is the index of
    /// the failed job at the root of the chain.
    Skipped { because: usize },
    /// Not built (or stopped) because the run was cancelled.
    Cancelled,
    /// Pulled from the cache registry (set by the caller, not the scheduler).
    Pulled,
    /// Not needed: a stage after it was here or pulled (set by the caller).
    NotNeeded,
}

impl Outcome {
    /// Whether the run has what it needs of this stage.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Built { .. } | Outcome::Cached | Outcome::Pulled | Outcome::NotNeeded
        )
    }
}

/// Receives progress events; implementations must not block for long.
/// Cached jobs get only [`cached`](Self::cached); every other job gets
/// [`finished`](Self::finished) exactly once, preceded by
/// [`started`](Self::started) and [`line`](Self::line)s if it was built.
pub trait Reporter: Sync {
    /// Job `job`'s image, `tag`, exists already.
    fn cached(&self, job: usize, tag: &str);
    /// Job `job` got a build slot and its build starts now.
    fn started(&self, job: usize);
    /// One output line of job `job`'s build.
    fn line(&self, job: usize, line: &str);
    /// Job `job` ended (built, failed, skipped or cancelled).
    fn finished(&self, job: usize, outcome: &Outcome);
}

/// A [`Reporter`] that ignores everything.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NullReporter;

#[cfg(test)]
impl Reporter for NullReporter {
    fn cached(&self, _: usize, _: &str) {}
    fn started(&self, _: usize) {}
    fn line(&self, _: usize, _: &str) {}
    fn finished(&self, _: usize, _: &Outcome) {}
}

/// Why [`run`] refused to start. Causes are part of the message.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("stage `{stage}` depends on job #{dep}, but there are only {len} jobs")]
    DepOutOfRange {
        stage: String,
        dep: usize,
        len: usize,
    },
    #[error("dependency cycle between stages: {}", stages.join(" -> "))]
    Cycle { stages: Vec<String> },
    #[error("the number of parallel builds must be at least 1")]
    ZeroJobs,
    #[error("could not list existing images: {0}")]
    ExistingTags(EngineError),
    #[error("could not create log directory `{}`: {error}", path.display())]
    LogDir { path: PathBuf, error: io::Error },
    #[error("{pending} pending flags for {len} jobs")]
    LateLength { pending: usize, len: usize },
}

/// Build `jobs` on `engine`; returns one [`Outcome`] per job, in order.
///
/// Errors only for bad input or before anything was built (the
/// `existing_tags` call, the log directory). Returns after every stage
/// thread has finished, also when cancelled.
pub fn run(
    jobs: &[Job],
    engine: &dyn Engine,
    opts: &Options,
    events: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Vec<Outcome>, SchedulerError> {
    run_late(jobs, None, engine, opts, events, cancel)
}

/// [`run`], with some jobs' specs arriving while the others build: a
/// pending job waits for its dependencies and for `late.specs`; when they
/// come, the pending jobs whose tags exist are cached (one more
/// `existing_tags` call), the others build. When the specs cannot come,
/// the pending jobs fail with the reason (or are cancelled, if the run is).
pub fn run_late(
    jobs: &[Job],
    late: Option<Late>,
    engine: &dyn Engine,
    opts: &Options,
    events: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Vec<Outcome>, SchedulerError> {
    let graph = Graph::new(jobs)?;
    if opts.jobs == Some(0) {
        return Err(SchedulerError::ZeroJobs);
    }
    let n = jobs.len();
    let (pending, specs_rx) = match late {
        Some(late) if late.pending.len() != n => {
            return Err(SchedulerError::LateLength {
                pending: late.pending.len(),
                len: n,
            })
        }
        Some(late) => (late.pending, late.specs),
        None => (vec![false; n], crossbeam::channel::never()),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    if let Some(dir) = &opts.log_dir {
        std::fs::create_dir_all(dir).map_err(|error| SchedulerError::LogDir {
            path: dir.clone(),
            error,
        })?;
    }
    let cached: Vec<bool> = if opts.force {
        vec![false; n]
    } else {
        let known = || (0..n).filter(|&i| !pending[i]);
        let tags: Vec<&str> = known().map(|i| jobs[i].tag.as_str()).collect();
        let existing = engine
            .existing_tags(&tags)
            .map_err(SchedulerError::ExistingTags)?;
        (0..n)
            .map(|i| !pending[i] && existing.contains(&jobs[i].tag))
            .collect()
    };

    let priority = match &opts.expected {
        Some(expected) if expected.len() == n => {
            let ms: Vec<u64> = expected
                .iter()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
                .collect();
            graph
                .dag
                .longest_remaining_weighted(&graph.topo, &ms)
                .into_iter()
                .map(|w| usize::try_from(w).unwrap_or(usize::MAX))
                .collect()
        }
        _ => graph.longest_remaining_paths(),
    };
    let (startable, start_rx) = crossbeam::channel::unbounded();
    let uncached_deps = |i: usize| graph.dag.deps(i).iter().filter(|&&d| !cached[d]).count();
    let ctx = Ctx {
        jobs,
        remaining: (0..n).map(|i| AtomicUsize::new(uncached_deps(i))).collect(),
        unfinished: (0..n).map(|i| AtomicUsize::new(uncached_deps(i))).collect(),
        startable,
        finished: (0..n).map(|_| AtomicBool::new(false)).collect(),
        completions: cached
            .iter()
            .map(|&c| Completion::new(c.then_some(Done::Ok)))
            .collect(),
        outcomes: cached
            .iter()
            .map(|&c| Mutex::new(c.then_some(Outcome::Cached)))
            .collect(),
        slots: SlotPool::new(opts.jobs.unwrap_or(usize::MAX), priority),
        graph,
        cached,
        specs: (0..n).map(|_| OnceLock::new()).collect(),
        gate: Completion::new(pending.iter().all(|p| !p).then_some(Ok(()))),
        pending,
        engine,
        opts,
        events,
        cancel,
    };
    for i in (0..n).filter(|&i| ctx.cached[i]) {
        ctx.report(|| events.cached(i, &jobs[i].tag));
    }
    // Jobs ready from the start are queued before any thread runs, so the
    // first slots go by priority rather than by thread start-up order.
    for i in 0..n {
        if !ctx.cached[i] && ctx.remaining[i].load(Ordering::SeqCst) == 0 && ctx.may_queue(i) {
            ctx.slots.mark_ready(i, || false);
        }
    }

    // Threads start when a job's dependencies have finished: the jobs
    // without pending dependencies now, the others as the dispatcher below
    // hears of them (a blocking receive, no polling).
    for i in 0..n {
        if !ctx.cached[i] && ctx.unfinished[i].load(Ordering::SeqCst) == 0 {
            let _ = ctx.startable.send(i);
        }
    }
    let to_start = (0..n).filter(|&i| !ctx.cached[i]).count();

    // A panicking stage thread is contained by `job_thread`; if one still
    // escaped, its outcome is filled in below, so the Err is not needed.
    // Each thread is joined as soon as it ends, so that a finished stage
    // holds no stack: 10,000 stages do not mean 10,000 threads' memory.
    let (ended_tx, ended_rx) = crossbeam::channel::unbounded::<usize>();
    let _ = crossbeam::scope(|scope| {
        let mut running = std::collections::HashMap::new();
        let mut started = 0;
        let never = crossbeam::channel::never();
        let no_specs = crossbeam::channel::never();
        let mut specs = &specs_rx;
        while started < to_start || !running.is_empty() {
            let starts = if started < to_start {
                &start_rx
            } else {
                &never
            };
            crossbeam::channel::select! {
                recv(specs) -> arrived => {
                    specs = &no_specs;
                    let arrived = arrived.unwrap_or_else(|_| {
                        Err("the revision lookups ended without an answer".to_owned())
                    });
                    ctx.arrive(arrived);
                },
                recv(starts) -> i => {
                    let Ok(i) = i else { break };
                    started += 1;
                    let ctx = &ctx;
                    let ended = EndedOnDrop(ended_tx.clone(), i);
                    let spawned = scope
                        .builder()
                        .name(format!("stage {}", jobs[i].stage.replace('\0', "")))
                        .spawn(move |_| {
                            let _ended = ended;
                            job_thread(ctx, i);
                        });
                    match spawned {
                        Ok(handle) => {
                            running.insert(i, handle);
                        }
                        Err(e) => {
                            let outcome = Outcome::Failed {
                                error: format!("could not start a thread for this stage: {e}"),
                                log_tail: Vec::new(),
                                elapsed: Duration::ZERO,
                            };
                            ctx.conclude(i, outcome);
                            ctx.slots.forget(i);
                        }
                    }
                },
                recv(ended_rx) -> i => {
                    if let Some(handle) = i.ok().and_then(|i| running.remove(&i)) {
                        let _ = handle.join();
                    }
                },
            }
        }
    });

    Ok((0..n)
        .map(|i| {
            let slot = lock(&ctx.outcomes[i]).take();
            slot.unwrap_or_else(|| {
                let outcome = internal_failure("the stage thread ended without an outcome");
                ctx.report(|| events.finished(i, &outcome));
                outcome
            })
        })
        .collect())
}

/// The jobs' graph, checked: every dependency in range, no cycle.
struct Graph {
    dag: Dag,
    /// A build order (dependencies first).
    topo: Vec<usize>,
}

impl Graph {
    fn new(jobs: &[Job]) -> Result<Self, SchedulerError> {
        let n = jobs.len();
        for job in jobs {
            if let Some(&dep) = job.deps.iter().find(|&&d| d >= n) {
                return Err(SchedulerError::DepOutOfRange {
                    stage: job.stage.clone(),
                    dep,
                    len: n,
                });
            }
        }
        let dag = Dag::new(jobs.iter().map(|j| j.deps.clone()).collect());
        let topo = dag.order().map_err(|cycle| SchedulerError::Cycle {
            stages: cycle.into_iter().map(|i| jobs[i].stage.clone()).collect(),
        })?;
        Ok(Self { dag, topo })
    }

    /// For each job, the number of jobs on the longest chain from it to a
    /// job nothing depends on, itself included.
    fn longest_remaining_paths(&self) -> Vec<usize> {
        self.dag.longest_remaining(&self.topo)
    }
}

/// How a job ended, as far as its dependents care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Ok,
    /// Failed or skipped; `root` is the job that actually failed.
    Failed {
        root: usize,
    },
    Cancelled,
}

impl Done {
    fn of(outcome: &Outcome, job: usize) -> Self {
        match outcome {
            Outcome::Built { .. } | Outcome::Cached | Outcome::Pulled | Outcome::NotNeeded => {
                Done::Ok
            }
            Outcome::Failed { .. } => Done::Failed { root: job },
            Outcome::Skipped { because } => Done::Failed { root: *because },
            Outcome::Cancelled => Done::Cancelled,
        }
    }
}

/// A one-shot value that threads block on: "this job is done" for its
/// dependents, "the specs arrived" for pending jobs.
struct Completion<T> {
    state: Mutex<Option<T>>,
    cv: Condvar,
}

impl<T: Clone> Completion<T> {
    fn new(initial: Option<T>) -> Self {
        Self {
            state: Mutex::new(initial),
            cv: Condvar::new(),
        }
    }

    /// Sets the state unless already set; wakes every waiter.
    fn set(&self, done: T) {
        let mut st = lock(&self.state);
        if st.is_none() {
            *st = Some(done);
        }
        drop(st);
        self.cv.notify_all();
    }

    fn wait(&self) -> T {
        let mut st = lock(&self.state);
        loop {
            if let Some(done) = &*st {
                return done.clone();
            }
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// At most `limit` build slots; waiting jobs get them highest priority
/// first (ties: lower index first).
struct SlotPool {
    limit: usize,
    priority: Vec<usize>,
    state: Mutex<SlotState>,
    cv: Condvar,
}

struct SlotState {
    running: usize,
    waiting: BinaryHeap<(usize, Reverse<usize>)>,
    queued: Vec<bool>,
}

/// A held build slot; released on drop.
struct Slot<'a>(&'a SlotPool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).running -= 1;
        self.0.cv.notify_all();
    }
}

impl SlotPool {
    fn new(limit: usize, priority: Vec<usize>) -> Self {
        let n = priority.len();
        Self {
            limit,
            priority,
            state: Mutex::new(SlotState {
                running: 0,
                waiting: BinaryHeap::new(),
                queued: vec![false; n],
            }),
            cv: Condvar::new(),
        }
    }

    fn enqueue(&self, st: &mut SlotState, job: usize) {
        if !st.queued[job] {
            st.queued[job] = true;
            st.waiting.push((self.priority[job], Reverse(job)));
        }
    }

    fn remove(st: &mut SlotState, job: usize) -> bool {
        if !st.queued[job] {
            return false;
        }
        st.queued[job] = false;
        st.waiting.retain(|&(_, Reverse(j))| j != job);
        true
    }

    /// `job`'s dependencies are all done: it competes for slots from now
    /// on, even before its own thread gets to [`acquire`](Self::acquire).
    /// `gone` is checked under the pool's lock: a job that already ended
    /// (and so called [`forget`](Self::forget) after setting what `gone`
    /// reads) is not queued, so it can never block the queue's head.
    fn mark_ready(&self, job: usize, gone: impl FnOnce() -> bool) {
        let mut st = lock(&self.state);
        if gone() {
            return;
        }
        self.enqueue(&mut st, job);
        drop(st);
        self.cv.notify_all();
    }

    /// Blocks until `job` is the best waiting job and a slot is free;
    /// `None` if the run was cancelled. No timed polling is needed: when
    /// cancelled, every running build ends and frees its slot, which wakes
    /// the waiters.
    fn acquire(&self, job: usize, cancel: &CancelToken) -> Option<Slot<'_>> {
        let mut st = lock(&self.state);
        self.enqueue(&mut st, job);
        loop {
            if cancel.is_cancelled() {
                Self::remove(&mut st, job);
                drop(st);
                self.cv.notify_all();
                return None;
            }
            let head = st.waiting.peek().map(|&(_, Reverse(j))| j);
            if st.running < self.limit && head == Some(job) {
                st.waiting.pop();
                st.queued[job] = false;
                st.running += 1;
                drop(st);
                // The next waiter may be able to take another free slot.
                self.cv.notify_all();
                return Some(Slot(self));
            }
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// `job` will not ask for a slot (any more); stop waiting for it.
    fn forget(&self, job: usize) {
        let mut st = lock(&self.state);
        let removed = Self::remove(&mut st, job);
        drop(st);
        if removed {
            self.cv.notify_all();
        }
    }
}

/// Everything the stage threads share.
struct Ctx<'a> {
    jobs: &'a [Job],
    graph: Graph,
    cached: Vec<bool>,
    /// Dependencies not yet successfully done (cached ones never count).
    remaining: Vec<AtomicUsize>,
    /// Dependencies not yet finished in any way (cached ones never count):
    /// a job's thread starts when this reaches 0, so only the jobs that can
    /// run (or conclude) hold a thread.
    unfinished: Vec<AtomicUsize>,
    /// Jobs whose thread may start now, for the dispatcher.
    startable: crossbeam::channel::Sender<usize>,
    finished: Vec<AtomicBool>,
    completions: Vec<Completion<Done>>,
    outcomes: Vec<Mutex<Option<Outcome>>>,
    slots: SlotPool,
    /// Per job: whether its spec arrives late (see [`Late`]).
    pending: Vec<bool>,
    /// The pending jobs' specs, once arrived.
    specs: Vec<OnceLock<(String, String)>>,
    /// Open once the pending jobs' specs arrived (or cannot).
    gate: Completion<Result<(), String>>,
    engine: &'a dyn Engine,
    opts: &'a Options,
    events: &'a dyn Reporter,
    cancel: &'a CancelToken,
}

impl Ctx<'_> {
    /// Calls the reporter; a panicking reporter must not take the
    /// scheduler down with it.
    fn report(&self, f: impl FnOnce()) {
        let _ = catch_unwind(AssertUnwindSafe(f));
    }

    /// Marks `job` done (first call wins): queues dependents that became
    /// ready, then releases everyone waiting on it.
    fn finish(&self, job: usize, done: Done) {
        if self.finished[job].swap(true, Ordering::SeqCst) {
            return;
        }
        if done == Done::Ok {
            for &j in self.graph.dag.dependents(job) {
                if self.remaining[j].fetch_sub(1, Ordering::SeqCst) == 1
                    && !self.cached[j]
                    && self.may_queue(j)
                {
                    self.slots
                        .mark_ready(j, || self.finished[j].load(Ordering::SeqCst));
                }
            }
        }
        self.completions[job].set(done);
        for &j in self.graph.dag.dependents(job) {
            if !self.cached[j] && self.unfinished[j].fetch_sub(1, Ordering::SeqCst) == 1 {
                let _ = self.startable.send(j);
            }
        }
    }

    /// Records and reports `outcome`, then releases dependents. The first
    /// outcome of a job stands: a pending job found cached when its spec
    /// arrives keeps that.
    fn conclude(&self, job: usize, outcome: Outcome) {
        let done = Done::of(&outcome, job);
        {
            let mut slot = lock(&self.outcomes[job]);
            if slot.is_some() {
                return;
            }
            *slot = Some(outcome.clone());
        }
        self.report(|| self.events.finished(job, &outcome));
        self.finish(job, done);
    }

    /// Whether `job` may take a place in the slot queue before its thread
    /// asks for a slot: not a pending job whose spec has not come, which
    /// would hold the queue's head while it waits at the gate (it queues
    /// itself in `acquire` once through).
    fn may_queue(&self, job: usize) -> bool {
        !self.pending[job] || lock(&self.gate.state).is_some()
    }

    /// Whether `job` has an outcome already.
    fn concluded(&self, job: usize) -> bool {
        lock(&self.outcomes[job]).is_some()
    }

    /// The pending jobs' specs arrived (or cannot): records them, caches
    /// those whose tags exist, then opens the gate the others wait at.
    fn arrive(&self, arrived: Result<Vec<Spec>, String>) {
        let specs = match arrived {
            Ok(specs) => specs,
            Err(why) => return self.gate.set(Err(why)),
        };
        for spec in specs {
            if let Some(cell) = self.specs.get(spec.job).filter(|_| self.pending[spec.job]) {
                let _ = cell.set((spec.tag, spec.dockerfile));
            }
        }
        let n = self.jobs.len();
        if !self.opts.force {
            let arrived: Vec<usize> = (0..n).filter(|&i| self.specs[i].get().is_some()).collect();
            let tags: Vec<&str> = arrived
                .iter()
                .filter_map(|&i| self.spec(i))
                .map(|(t, _)| t)
                .collect();
            match self.engine.existing_tags(&tags) {
                Ok(existing) => {
                    for i in arrived {
                        let Some((tag, _)) = self.spec(i) else {
                            continue;
                        };
                        if !existing.contains(tag) {
                            continue;
                        }
                        {
                            let mut slot = lock(&self.outcomes[i]);
                            if slot.is_some() {
                                continue;
                            }
                            *slot = Some(Outcome::Cached);
                        }
                        self.report(|| self.events.cached(i, tag));
                        self.finish(i, Done::Ok);
                        // It may have been queued for a slot already (its
                        // dependencies done): it will not ask for one now.
                        self.slots.forget(i);
                    }
                }
                Err(e) => {
                    return self
                        .gate
                        .set(Err(SchedulerError::ExistingTags(e).to_string()))
                }
            }
        }
        self.gate.set(Ok(()));
    }

    /// `job`'s tag and Dockerfile; `None` for a pending job whose spec did
    /// not arrive.
    fn spec(&self, job: usize) -> Option<(&str, &str)> {
        if self.pending[job] {
            self.specs[job].get().map(|(t, d)| (t.as_str(), d.as_str()))
        } else {
            let j = &self.jobs[job];
            Some((j.tag.as_str(), j.dockerfile.as_str()))
        }
    }
}

/// Tells the dispatcher a stage thread has ended (also when it unwinds).
struct EndedOnDrop(crossbeam::channel::Sender<usize>, usize);

impl Drop for EndedOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

/// Releases `job`'s dependents and queue place even if its thread unwinds.
struct ReleaseOnDrop<'c, 'a> {
    ctx: &'c Ctx<'a>,
    job: usize,
}

impl Drop for ReleaseOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.ctx.finish(self.job, Done::Failed { root: self.job });
        self.ctx.slots.forget(self.job);
    }
}

fn job_thread(ctx: &Ctx<'_>, job: usize) {
    if ctx.concluded(job) {
        return; // A pending job found cached: nothing to do.
    }
    let _release = ReleaseOnDrop { ctx, job };
    let mut slot = None;
    let outcome =
        catch_unwind(AssertUnwindSafe(|| run_job(ctx, job, &mut slot))).unwrap_or_else(|panic| {
            internal_failure(&format!(
                "the stage thread panicked: {}",
                panic_message(panic.as_ref())
            ))
        });
    // Dependents are queued before the slot is freed, so they compete for
    // it on priority with the jobs already waiting.
    ctx.conclude(job, outcome);
    drop(slot);
}

fn run_job<'p>(ctx: &'p Ctx<'_>, job: usize, slot: &mut Option<Slot<'p>>) -> Outcome {
    for &d in ctx.graph.dag.deps(job) {
        match ctx.completions[d].wait() {
            Done::Ok => {}
            Done::Failed { root } => return Outcome::Skipped { because: root },
            Done::Cancelled => return Outcome::Cancelled,
        }
    }
    if ctx.pending[job] {
        if let Err(why) = ctx.gate.wait() {
            if ctx.cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            return Outcome::Failed {
                error: why,
                log_tail: Vec::new(),
                elapsed: Duration::ZERO,
            };
        }
        if ctx.concluded(job) {
            // Its image exists: the outcome recorded on arrival stands
            // (this one is dropped by `conclude`).
            return Outcome::Cached;
        }
    }
    if ctx.cancel.is_cancelled() {
        return Outcome::Cancelled;
    }
    match ctx.slots.acquire(job, ctx.cancel) {
        Some(s) => *slot = Some(s),
        None => return Outcome::Cancelled,
    }
    build_one(ctx, job)
}

fn build_one(ctx: &Ctx<'_>, job: usize) -> Outcome {
    let spec = &ctx.jobs[job];
    let Some((tag, dockerfile)) = ctx.spec(job) else {
        return internal_failure("its tag and Dockerfile never arrived");
    };
    let mut log = match &ctx.opts.log_dir {
        None => None,
        Some(dir) => {
            let path = log_path(dir, &spec.stage);
            match create_log(&path) {
                Ok(f) => Some((path, LineWriter::new(f))),
                Err(e) => {
                    return Outcome::Failed {
                        error: format!("could not create log file `{}`: {e}", path.display()),
                        log_tail: Vec::new(),
                        elapsed: Duration::ZERO,
                    }
                }
            }
        }
    };
    ctx.report(|| ctx.events.started(job));
    let start = Instant::now();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(LOG_TAIL_LINES + 1);
    let req = BuildRequest {
        stage: &spec.stage,
        tag,
        dockerfile,
        no_cache: ctx.opts.force,
        build_args: &ctx.opts.build_args,
        timeout: ctx.opts.stage_timeout,
    };
    let result = {
        let mut on_line = |line: &str| {
            write_log(ctx, job, &mut log, line);
            if tail.len() == LOG_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
            ctx.report(|| ctx.events.line(job, line));
        };
        catch_unwind(AssertUnwindSafe(|| {
            ctx.engine.build(&req, &mut on_line, ctx.cancel)
        }))
    };
    let elapsed = start.elapsed();
    let error = match result {
        Ok(Ok(())) => return Outcome::Built { elapsed },
        Ok(Err(EngineError::Cancelled)) => {
            write_log(ctx, job, &mut log, "cancelled");
            return Outcome::Cancelled;
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!(
            "internal error: the engine panicked: {}",
            panic_message(panic.as_ref())
        ),
    };
    write_log(ctx, job, &mut log, &format!("ERROR: {error}"));
    Outcome::Failed {
        error,
        log_tail: tail.into(),
        elapsed,
    }
}

/// Appends `line` to the stage log; on the first write error, says so
/// through the reporter and stops logging this stage.
fn write_log(ctx: &Ctx<'_>, job: usize, log: &mut Option<(PathBuf, LineWriter<File>)>, line: &str) {
    let Some((path, writer)) = log else {
        return;
    };
    if let Err(e) = writeln!(writer, "{line}") {
        let msg = format!(
            "could not write log file `{}`: {e}; no longer logging this stage",
            path.display()
        );
        *log = None;
        ctx.report(|| ctx.events.line(job, &msg));
    }
}

/// Creates (or empties) the log file at `path`, as a regular file only:
/// a symlink there is not followed (`O_NOFOLLOW`), and a FIFO, device or
/// directory is refused before anything is truncated (`O_NONBLOCK`, so a
/// FIFO does not block the open; the file is emptied only after `fstat`
/// says it is a regular file).
fn create_log(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let planted = |what: &str| {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("it is {what}, which is not written to; remove it or use another --log-dir"),
        )
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(planted("a symlink")),
        Ok(m) if !m.is_file() => return Err(planted("not a regular file")),
        _ => {}
    }
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|e| match e {
        // Planted between the look and the open.
        rustix::io::Errno::LOOP => planted("a symlink"),
        rustix::io::Errno::NXIO => planted("not a regular file"),
        e => io::Error::from(e),
    })?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(planted("not a regular file"));
    }
    file.set_len(0)?;
    Ok(file)
}

/// Where `--log-dir DIR` keeps the log of `stage`.
pub fn log_path(dir: &Path, stage: &str) -> PathBuf {
    dir.join(log_file_name(stage))
}

/// `<stage>.log`, with anything but `[A-Za-z0-9._-]` replaced by `_`.
fn log_file_name(stage: &str) -> PathBuf {
    let safe: String = stage
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("{safe}.log"))
}

fn internal_failure(what: &str) -> Outcome {
    Outcome::Failed {
        error: format!("internal error: {what}"),
        log_tail: Vec::new(),
        elapsed: Duration::ZERO,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Locks ignoring poisoning: every critical section here leaves the data
/// consistent, so a panic elsewhere must not cascade.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::engine::fake::{FakeEngine, FakeResult};
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    fn job(stage: &str, deps: &[usize]) -> Job {
        Job {
            stage: stage.to_owned(),
            label: format!("label/{stage}"),
            tag: format!("img:{stage}"),
            dockerfile: format!("FROM scratch # {stage}"),
            deps: deps.to_vec(),
        }
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
        let out = std::thread::scope(|s| {
            let c = cancel.clone();
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(60));
                c.cancel();
            });
            run(&jobs, &engine, &opts(Some(2)), &NullReporter, &cancel)
        })
        .expect("valid");
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
                .filter(|e| matches!(e, Ev::Started(j) | Ev::Line(j, _) | Ev::Finished(j, _) if *j == i))
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
    fn dag_case(
    ) -> impl Strategy<Value = (Vec<Job>, HashSet<String>, HashSet<String>, Option<usize>)> {
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
}
