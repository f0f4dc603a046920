//! The scheduler's API: runs a DAG of image builds on a
//! [`crate::run::engine::Engine`], at most `--jobs` at once, the ready
//! stage with the most work after it first, with cancellation and
//! per-stage logs.
//!
//! Owns: the types callers see ([`Job`], [`Options`], [`Late`], [`Spec`],
//! [`Outcome`], [`Reporter`], [`SchedulerError`]), input validation
//! (dependency indexes, cycles, `--jobs 0`, the pending flags), the
//! "already exists" check at the start (one `existing_tags` call for the
//! jobs whose tags are known), the log directory, and each job's priority.
//! The run itself is [`dispatch`]'s: one loop that owns every job's state
//! and starts a thread per build when a slot is free; [`logs`] keeps the
//! per-stage log files and tails.
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

mod dispatch;
mod logs;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::dag::Dag;
use crate::run::engine::{CancelToken, Engine, EngineError};

pub use logs::log_path;

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
    Ok(dispatch::run(dispatch::Setup {
        jobs,
        graph: &graph,
        cached,
        pending,
        priority,
        engine,
        opts,
        events,
        cancel,
        specs: specs_rx,
    }))
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
