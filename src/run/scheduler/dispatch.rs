//! The dispatcher: one loop that owns all of a run's scheduling state —
//! each job's state, the ready queue (highest priority first, ties by
//! lower index), the running count and the late specs — and the stage
//! threads it starts.
//!
//! How it goes: a job whose dependencies have all finished is looked at
//! once, by the loop: a failed or cancelled dependency ends it as
//! `Skipped`/`Cancelled` there and then, without a thread; a pending job
//! whose spec has not come waits outside the queue (so it never holds a
//! slot or the queue's head); any other job joins the ready queue. While a
//! slot is free (`--jobs`), the loop takes the best ready job and starts
//! one scoped thread for its build. The thread builds, logs, reports
//! `started` and the lines, and sends back [`Ended`]; the loop joins it,
//! records the outcome, reports `finished`, releases the dependents (into
//! the queue before the slot is given again, so they compete for it on
//! priority) and fills the free slots. The same loop hears the specs
//! arriving (see [`super::Late`]). Nothing is shared between threads but
//! the read-only input and the channel, so nothing races on start-up.
//!
//! Owns: the order and concurrency of builds, turning engine results into
//! [`Outcome`]s, containing panics (the engine's, a reporter's, a stage
//! thread's). Must not: print, sleep or poll, or block anywhere but on the
//! channel and the specs (and the one `existing_tags` call when the specs
//! arrive).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use super::logs::StageLog;
use super::{Graph, Job, Options, Outcome, Reporter, SchedulerError, Spec};
use crate::run::engine::{BuildRequest, CancelToken, Engine, EngineError};

/// What [`super::run_late`] hands over once the input is checked.
pub(super) struct Setup<'a> {
    pub jobs: &'a [Job],
    pub graph: &'a Graph,
    /// Per job: its tag existed at the start.
    pub cached: Vec<bool>,
    /// Per job: its spec comes later.
    pub pending: Vec<bool>,
    /// Per job: the work after it, itself included (higher goes first).
    pub priority: Vec<usize>,
    pub engine: &'a dyn Engine,
    pub opts: &'a Options,
    pub events: &'a dyn Reporter,
    pub cancel: &'a CancelToken,
    pub specs: Receiver<Result<Vec<Spec>, String>>,
}

/// A stage thread's last word: job `job`'s build ended so.
struct Ended {
    job: usize,
    outcome: Outcome,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `left` of its dependencies have not finished.
    Waiting { left: usize },
    /// Dependencies done; a pending job whose spec has not come.
    AwaitingSpec,
    /// In the ready queue.
    Ready,
    /// Its thread is building it.
    Running,
    /// Its outcome is recorded.
    Done,
}

/// The pending jobs' specs: not yet come, come, or cannot come (why).
enum Gate {
    Closed,
    Open,
    Failed(String),
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

/// What a stage thread may use: read-only, shared.
#[derive(Clone, Copy)]
struct Shared<'a> {
    engine: &'a dyn Engine,
    opts: &'a Options,
    events: &'a dyn Reporter,
    cancel: &'a CancelToken,
}

/// The loop's state. Only the loop touches it.
struct Dispatcher<'a> {
    jobs: &'a [Job],
    graph: &'a Graph,
    pending: Vec<bool>,
    priority: Vec<usize>,
    /// At most this many builds at once.
    limit: usize,
    shared: Shared<'a>,
    state: Vec<State>,
    outcomes: Vec<Option<Outcome>>,
    /// Ready jobs: (priority, lower index first).
    ready: BinaryHeap<(usize, Reverse<usize>)>,
    running: usize,
    /// Jobs without an outcome yet.
    undone: usize,
    /// Jobs just done whose dependents have not been told (a work list,
    /// not recursion: a failure at the top of a 10,000-stage chain skips
    /// them all without a deep stack).
    settled: Vec<usize>,
    gate: Gate,
    /// The pending jobs' specs, once come; taken by the job's thread.
    specs: Vec<Option<(String, String)>>,
}

/// Runs the jobs; one [`Outcome`] per job, in order. Returns when every
/// stage thread has ended and been joined.
pub(super) fn run(setup: Setup<'_>) -> Vec<Outcome> {
    let Setup {
        jobs,
        graph,
        cached,
        pending,
        priority,
        engine,
        opts,
        events,
        cancel,
        specs: specs_rx,
    } = setup;
    let n = jobs.len();
    let shared = Shared {
        engine,
        opts,
        events,
        cancel,
    };
    let gate = if pending.iter().any(|&p| p) {
        Gate::Closed
    } else {
        Gate::Open
    };
    let mut d = Dispatcher {
        jobs,
        graph,
        pending,
        priority,
        limit: opts.jobs.unwrap_or(usize::MAX),
        shared,
        state: vec![State::Done; n],
        outcomes: vec![None; n],
        ready: BinaryHeap::new(),
        running: 0,
        undone: 0,
        settled: Vec::new(),
        gate,
        specs: vec![None; n],
    };
    for i in 0..n {
        if cached[i] {
            d.outcomes[i] = Some(Outcome::Cached);
            report(|| events.cached(i, &jobs[i].tag));
        } else {
            let left = graph.dag.deps(i).iter().filter(|&&j| !cached[j]).count();
            d.state[i] = State::Waiting { left };
            d.undone += 1;
        }
    }
    // Every job ready from the start is queued before any thread starts,
    // so the first slots go by priority.
    for i in 0..n {
        if d.state[i] == (State::Waiting { left: 0 }) {
            d.deps_done(i);
        }
    }
    d.propagate();

    let (ended_tx, ended_rx) = crossbeam::channel::unbounded::<Ended>();
    let never = crossbeam::channel::never();
    // A stage thread's panic is contained in it (see `start`), and
    // each thread is joined when it ends, so the scope's Err is not needed.
    let _ = crossbeam::scope(|scope| {
        let mut threads = HashMap::new();
        d.fill(scope, &ended_tx, &mut threads);
        while d.undone > 0 {
            let waiting_for_specs = matches!(d.gate, Gate::Closed);
            if d.running == 0 && !waiting_for_specs {
                break; // Nothing can change any more (cannot happen).
            }
            let specs = if waiting_for_specs { &specs_rx } else { &never };
            crossbeam::channel::select! {
                recv(specs) -> arrived => {
                    d.arrive(arrived.unwrap_or_else(|_| {
                        Err("the revision lookups ended without an answer".to_owned())
                    }));
                },
                recv(ended_rx) -> ended => {
                    // The loop holds a sender: the channel never closes.
                    let Ok(Ended { job, outcome }) = ended else { break };
                    if let Some(handle) = threads.remove(&job) {
                        let _ = crossbeam::thread::ScopedJoinHandle::join(handle);
                    }
                    if d.state[job] == State::Running {
                        d.running -= 1;
                        d.conclude(job, outcome);
                    }
                },
            }
            d.propagate();
            d.fill(scope, &ended_tx, &mut threads);
        }
    });

    let Dispatcher { outcomes, .. } = d;
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.unwrap_or_else(|| {
                let outcome = internal_failure("the dispatcher ended without an outcome for it");
                report(|| events.finished(i, &outcome));
                outcome
            })
        })
        .collect()
}

type Threads<'scope> = HashMap<usize, crossbeam::thread::ScopedJoinHandle<'scope, ()>>;

impl<'a> Dispatcher<'a> {
    /// Records `outcome` (the first one stands), reports it, and queues
    /// `job` for its dependents to hear of it.
    fn conclude(&mut self, job: usize, outcome: Outcome) {
        if self.state[job] == State::Done {
            return;
        }
        let events = self.shared.events;
        report(|| events.finished(job, &outcome));
        self.settle(job, outcome);
    }

    /// Records `outcome` without reporting it.
    fn settle(&mut self, job: usize, outcome: Outcome) {
        self.state[job] = State::Done;
        self.outcomes[job] = Some(outcome);
        self.undone -= 1;
        self.settled.push(job);
    }

    /// Tells the dependents of every job just done; those whose
    /// dependencies have now all finished are looked at.
    fn propagate(&mut self) {
        let graph = self.graph;
        while let Some(job) = self.settled.pop() {
            for &j in graph.dag.dependents(job) {
                if let State::Waiting { left } = &mut self.state[j] {
                    *left -= 1;
                    if *left == 0 {
                        self.deps_done(j);
                    }
                }
            }
        }
    }

    /// Every dependency of `job` has finished: skip or cancel it (the
    /// first dependency, in order, that did not succeed says which), park
    /// it for its spec, or queue it.
    fn deps_done(&mut self, job: usize) {
        for &d in self.graph.dag.deps(job) {
            let done = self.outcomes[d]
                .as_ref()
                .map_or(Done::Failed { root: d }, |o| Done::of(o, d));
            match done {
                Done::Ok => {}
                Done::Failed { root } => {
                    return self.conclude(job, Outcome::Skipped { because: root })
                }
                Done::Cancelled => return self.conclude(job, Outcome::Cancelled),
            }
        }
        if self.pending[job] {
            match &self.gate {
                Gate::Closed => {
                    self.state[job] = State::AwaitingSpec;
                    return;
                }
                Gate::Failed(why) => {
                    let outcome = self.no_spec(why.clone());
                    return self.conclude(job, outcome);
                }
                Gate::Open => {}
            }
        }
        self.state[job] = State::Ready;
        self.ready.push((self.priority[job], Reverse(job)));
    }

    /// How a pending job ends when its spec cannot come.
    fn no_spec(&self, why: String) -> Outcome {
        if self.shared.cancel.is_cancelled() {
            return Outcome::Cancelled;
        }
        Outcome::Failed {
            error: why,
            log_tail: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Starts the best ready jobs while slots are free; once cancelled,
    /// ends every ready job as cancelled instead.
    fn fill<'scope, 'env>(
        &mut self,
        scope: &'scope crossbeam::thread::Scope<'env>,
        ended: &Sender<Ended>,
        threads: &mut Threads<'scope>,
    ) where
        'a: 'env,
    {
        loop {
            let cancelled = self.shared.cancel.is_cancelled();
            if !cancelled && self.running >= self.limit {
                return;
            }
            let Some((_, Reverse(job))) = self.ready.pop() else {
                return;
            };
            if cancelled {
                self.conclude(job, Outcome::Cancelled);
            } else {
                self.start(scope, ended, threads, job);
            }
            self.propagate();
        }
    }

    /// Starts `job`'s build on a thread of its own.
    fn start<'scope, 'env>(
        &mut self,
        scope: &'scope crossbeam::thread::Scope<'env>,
        ended: &Sender<Ended>,
        threads: &mut Threads<'scope>,
        job: usize,
    ) where
        'a: 'env,
    {
        let spec: &'a Job = &self.jobs[job];
        let (tag, dockerfile): (Cow<'a, str>, Cow<'a, str>) = if self.pending[job] {
            match self.specs[job].take() {
                Some((t, d)) => (Cow::Owned(t), Cow::Owned(d)),
                None => {
                    let outcome = internal_failure("its tag and Dockerfile never arrived");
                    return self.conclude(job, outcome);
                }
            }
        } else {
            (Cow::Borrowed(&spec.tag), Cow::Borrowed(&spec.dockerfile))
        };
        let shared = self.shared;
        let tx = ended.clone();
        let spawned = scope
            .builder()
            .name(format!("stage {}", spec.stage.replace('\0', "")))
            .spawn(move |_| {
                let mut guard = EndedOnDrop {
                    tx,
                    job,
                    outcome: None,
                };
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    build_one(shared, job, spec, &tag, &dockerfile)
                }))
                .unwrap_or_else(|panic| {
                    internal_failure(&format!(
                        "the stage thread panicked: {}",
                        panic_message(panic.as_ref())
                    ))
                });
                guard.outcome = Some(outcome);
            });
        match spawned {
            Ok(handle) => {
                self.state[job] = State::Running;
                self.running += 1;
                threads.insert(job, handle);
            }
            Err(e) => {
                // The closure is dropped without having run: no `Ended`.
                let outcome = Outcome::Failed {
                    error: format!("could not start a thread for this stage: {e}"),
                    log_tail: Vec::new(),
                    elapsed: Duration::ZERO,
                };
                self.conclude(job, outcome);
            }
        }
    }

    /// The pending jobs' specs came (or cannot): records them, caches
    /// those whose tags exist (one `existing_tags` call), then queues the
    /// pending jobs that were waiting for them — or ends them with the
    /// reason.
    fn arrive(&mut self, arrived: Result<Vec<Spec>, String>) {
        self.gate = match self.record_specs(arrived) {
            Ok(()) => Gate::Open,
            Err(why) => Gate::Failed(why),
        };
        for job in 0..self.jobs.len() {
            if self.state[job] == State::AwaitingSpec {
                // With the gate open or failed, this queues or ends it.
                self.deps_done(job);
            }
        }
    }

    fn record_specs(&mut self, arrived: Result<Vec<Spec>, String>) -> Result<(), String> {
        for spec in arrived? {
            if self.pending.get(spec.job) == Some(&true) && self.specs[spec.job].is_none() {
                self.specs[spec.job] = Some((spec.tag, spec.dockerfile));
            }
        }
        if self.shared.opts.force {
            return Ok(());
        }
        let existing = {
            let tags: Vec<&str> = self
                .specs
                .iter()
                .flatten()
                .map(|(t, _)| t.as_str())
                .collect();
            self.shared
                .engine
                .existing_tags(&tags)
                .map_err(|e| SchedulerError::ExistingTags(e).to_string())?
        };
        let events = self.shared.events;
        for job in 0..self.jobs.len() {
            let Some((tag, _)) = &self.specs[job] else {
                continue;
            };
            if self.state[job] == State::Done || !existing.contains(tag) {
                continue;
            }
            // Waiting for its dependencies or for this spec: its image is
            // here, so it needs neither. A cached job gets only `cached`.
            report(|| events.cached(job, tag));
            self.settle(job, Outcome::Cached);
        }
        Ok(())
    }
}

/// Sends the stage thread's [`Ended`] — also if the thread unwinds, with
/// an internal failure then — so the loop always hears back.
struct EndedOnDrop {
    tx: Sender<Ended>,
    job: usize,
    outcome: Option<Outcome>,
}

impl Drop for EndedOnDrop {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| internal_failure("the stage thread ended without an outcome"));
        let _ = self.tx.send(Ended {
            job: self.job,
            outcome,
        });
    }
}

/// One build, on its stage thread: the log file, `started`, the engine
/// call with each line logged and reported, the outcome.
fn build_one(shared: Shared<'_>, job: usize, spec: &Job, tag: &str, dockerfile: &str) -> Outcome {
    let Shared {
        engine,
        opts,
        events,
        cancel,
    } = shared;
    let mut log = match StageLog::open(opts.log_dir.as_deref(), &spec.stage) {
        Ok(log) => log,
        Err(error) => {
            return Outcome::Failed {
                error,
                log_tail: Vec::new(),
                elapsed: Duration::ZERO,
            }
        }
    };
    report(|| events.started(job));
    let start = Instant::now();
    let req = BuildRequest {
        stage: &spec.stage,
        tag,
        dockerfile,
        no_cache: opts.force,
        build_args: &opts.build_args,
        timeout: opts.stage_timeout,
    };
    let warn = |msg: &str| report(|| events.line(job, msg));
    let result = {
        let mut on_line = |line: &str| {
            log.line(line, warn);
            report(|| events.line(job, line));
        };
        catch_unwind(AssertUnwindSafe(|| {
            engine.build(&req, &mut on_line, cancel)
        }))
    };
    let elapsed = start.elapsed();
    let error = match result {
        Ok(Ok(())) => return Outcome::Built { elapsed },
        Ok(Err(EngineError::Cancelled)) => {
            log.note("cancelled", warn);
            return Outcome::Cancelled;
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!(
            "internal error: the engine panicked: {}",
            panic_message(panic.as_ref())
        ),
    };
    log.note(&format!("ERROR: {error}"), warn);
    Outcome::Failed {
        error,
        log_tail: log.into_tail(),
        elapsed,
    }
}

/// Calls the reporter; a panicking reporter must not take the scheduler
/// down with it.
fn report(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
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
