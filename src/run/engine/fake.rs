//! A scriptable in-memory engine for tests: no processes, records calls.
//!
//! Owns: [`FakeEngine`], what it answers and what it was asked. Must not:
//! start a process or sleep longer than a script says.

use super::{BuildRequest, CancelToken, Engine, EngineError, ExitDesc};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How a fake build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeResult {
    /// Still running (only seen while a build is in progress).
    Running,
    Built,
    Failed,
    Cancelled,
}

/// One call of [`Engine::build`] on a [`FakeEngine`].
#[derive(Debug, Clone)]
pub struct BuildRecord {
    pub stage: String,
    pub tag: String,
    pub no_cache: bool,
    pub build_args: Vec<String>,
    pub end: Option<Instant>,
    /// Position of the start in the engine's global event sequence.
    pub start_seq: u64,
    /// Position of the end in the same sequence (`None` while running).
    pub end_seq: Option<u64>,
    pub result: FakeResult,
}

#[derive(Debug, Default)]
struct State {
    existing_tags_calls: Vec<Vec<String>>,
    builds: Vec<BuildRecord>,
    running: usize,
    max_running: usize,
    seq: u64,
}

/// See the module docs. Build with the `with_*` methods.
#[derive(Debug, Default)]
pub struct FakeEngine {
    existing: HashSet<String>,
    failing: HashSet<String>,
    panicking: HashSet<String>,
    durations: HashMap<String, Duration>,
    default_duration: Duration,
    existing_tags_fails: bool,
    state: Mutex<State>,
}

impl FakeEngine {
    /// No existing tags, nothing fails, builds take no time.
    pub fn new() -> Self {
        Self::default()
    }
    /// These tags "exist already".
    pub fn with_existing<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
        self.existing.extend(t.into_iter().map(Into::into));
        self
    }
    /// Builds of these stages fail (after their duration).
    pub fn with_failing<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.failing.extend(s.into_iter().map(Into::into));
        self
    }
    /// Builds of these stages panic (to test panic containment).
    pub fn with_panicking<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.panicking.extend(s.into_iter().map(Into::into));
        self
    }
    /// This stage's build takes `d`.
    pub fn with_duration(mut self, stage: impl Into<String>, d: Duration) -> Self {
        self.durations.insert(stage.into(), d);
        self
    }
    /// Every stage without its own duration takes `d`.
    pub fn with_default_duration(mut self, d: Duration) -> Self {
        self.default_duration = d;
        self
    }
    /// `existing_tags` returns an error.
    pub fn with_existing_tags_error(mut self) -> Self {
        self.existing_tags_fails = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// The `tags` argument of every `existing_tags` call.
    pub fn existing_tags_calls(&self) -> Vec<Vec<String>> {
        self.lock().existing_tags_calls.clone()
    }
    /// Every build, in start order.
    pub fn builds(&self) -> Vec<BuildRecord> {
        self.lock().builds.clone()
    }
    /// Stage names built, in start order.
    pub fn build_order(&self) -> Vec<String> {
        self.lock().builds.iter().map(|b| b.stage.clone()).collect()
    }
    /// The most builds that ran at the same time.
    pub fn max_concurrency(&self) -> usize {
        self.lock().max_running
    }
    /// Builds running right now.
    pub fn running(&self) -> usize {
        self.lock().running
    }
}

impl Engine for FakeEngine {
    fn existing_tags(&self, tags: &[&str]) -> Result<HashSet<String>, EngineError> {
        self.lock()
            .existing_tags_calls
            .push(tags.iter().map(|t| (*t).to_owned()).collect());
        if self.existing_tags_fails {
            return Err(EngineError::ImageList {
                command: "fake image ls".to_owned(),
                exit: ExitDesc::Code(1),
                stderr: "fake: cannot connect to the daemon".to_owned(),
            });
        }
        Ok(super::among(tags, &self.existing))
    }

    fn build(
        &self,
        req: &BuildRequest<'_>,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        let index = {
            let mut st = self.lock();
            st.seq += 1;
            st.running += 1;
            st.max_running = st.max_running.max(st.running);
            let seq = st.seq;
            st.builds.push(BuildRecord {
                stage: req.stage.to_owned(),
                tag: req.tag.to_owned(),
                no_cache: req.no_cache,
                build_args: req.build_args.to_vec(),
                end: None,
                start_seq: seq,
                end_seq: None,
                result: FakeResult::Running,
            });
            st.builds.len() - 1
        };
        let finish = |result| {
            let mut st = self.lock();
            st.seq += 1;
            st.running -= 1;
            let seq = st.seq;
            let rec = &mut st.builds[index];
            rec.end = Some(Instant::now());
            rec.end_seq = Some(seq);
            rec.result = result;
        };
        on_line(&format!("Step 1/2 : FROM something for {}", req.stage));
        let duration = self
            .durations
            .get(req.stage)
            .copied()
            .unwrap_or(self.default_duration);
        let deadline = Instant::now() + duration;
        loop {
            if cancel.is_cancelled() {
                finish(FakeResult::Cancelled);
                return Err(EngineError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
        }
        if self.panicking.contains(req.stage) {
            finish(FakeResult::Failed);
            panic!("fake engine panics for stage {}", req.stage);
        }
        if self.failing.contains(req.stage) {
            on_line("ERROR: fake failure");
            finish(FakeResult::Failed);
            return Err(EngineError::Status {
                command: "fake build".to_owned(),
                exit: ExitDesc::Code(1),
            });
        }
        on_line(&format!("Successfully tagged {}", req.tag));
        finish(FakeResult::Built);
        Ok(())
    }
}
