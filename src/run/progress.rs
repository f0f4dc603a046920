//! Progress on stderr (the edge): prefixed build output, "already exists"
//! notices, the lines a build says while it runs (where its revisions came
//! from: [`StderrReporter::say`]), a live one-line status on a terminal,
//! and the end-of-run summary text.
//!
//! Owns: the wording and layout of everything the build prints while it
//! runs ([`StderrReporter`]) and of the final table ([`summary`]), with
//! one `hint:` line for each host-setup fault a failed build's output shows
//! (the patterns are `crate::run::hints`).
//!
//! Must not: decide anything about the build (it only observes
//! `crate::run::scheduler` events), read the environment, or panic on a write
//! error (a closed stderr is ignored). All writes go through one Mutex, so
//! lines from parallel builds never interleave mid-line.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::run::hints::host_hint;
use crate::run::scheduler::{Job, Outcome, Reporter};

/// Clears the current terminal line.
const CLEAR_LINE: &str = "\r\x1b[2K";
/// Running stage names shown in the status line before "+N more".
const STATUS_NAMES: usize = 3;
/// The status line's width when the terminal does not say its own: it is
/// cut to the terminal's width so that it never wraps (a wrapped line
/// cannot be redrawn with `\r`).
const STATUS_WIDTH: usize = 80;

/// A [`Reporter`] writing to stderr (or any writer, for tests).
pub struct StderrReporter<W: Write + Send> {
    labels: Vec<String>,
    tty: bool,
    /// The status line's width, at most.
    width: usize,
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    /// Jobs building now, in start order.
    running: Vec<usize>,
    done: usize,
    failed: usize,
    status_shown: bool,
}

impl<W: Write + Send> StderrReporter<W> {
    /// `tty`: whether `stderr` is a terminal (then a live status line is
    /// kept at the bottom, as wide as the terminal).
    pub fn new(jobs: &[Job], tty: bool, stderr: W) -> Self {
        let width = if tty { terminal_width() } else { None };
        Self::with_width(jobs, tty, stderr, width.unwrap_or(STATUS_WIDTH))
    }

    /// As [`new`](Self::new), with the status line at most `width` wide.
    pub fn with_width(jobs: &[Job], tty: bool, stderr: W, width: usize) -> Self {
        Self {
            labels: jobs.iter().map(|j| j.label.clone()).collect(),
            tty,
            width: width.max(20),
            state: Mutex::new(State {
                out: stderr,
                running: Vec::new(),
                done: 0,
                failed: 0,
                status_shown: false,
            }),
        }
    }

    /// Clears the status line (if shown) and flushes; call when the run
    /// is over, before printing the summary.
    pub fn finish(&self) {
        let mut st = self.lock();
        if st.status_shown {
            let _ = st.out.write_all(CLEAR_LINE.as_bytes());
            st.status_shown = false;
        }
        let _ = st.out.flush();
    }

    /// Writes `line` (no newline) under the status line: what the run
    /// has to say while the builds go on (where the revisions came from).
    pub fn say(&self, line: &str) {
        let mut st = self.lock();
        self.emit(&mut st, &format!("{line}\n"));
    }

    /// Clears the status line and gives back the writer.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.finish();
        self.state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .out
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn label(&self, job: usize) -> &str {
        self.labels.get(job).map_or("?", String::as_str)
    }

    /// Writes `text` (a full line, newline included) under the status line.
    fn emit(&self, st: &mut State<W>, text: &str) {
        if st.status_shown {
            let _ = st.out.write_all(CLEAR_LINE.as_bytes());
            st.status_shown = false;
        }
        let _ = st.out.write_all(text.as_bytes());
        self.redraw(st);
    }

    fn redraw(&self, st: &mut State<W>) {
        if !self.tty {
            let _ = st.out.flush();
            return;
        }
        let status = self.status_text(st);
        let _ = write!(st.out, "{CLEAR_LINE}{status}");
        let _ = st.out.flush();
        st.status_shown = true;
    }

    fn status_text(&self, st: &State<W>) -> String {
        let mut s = format!(
            "[{}/{} built, {} running",
            st.done,
            self.labels.len(),
            st.running.len()
        );
        if !st.running.is_empty() {
            s.push_str(": ");
            let names: Vec<&str> = st
                .running
                .iter()
                .take(STATUS_NAMES)
                .map(|&j| self.label(j))
                .collect();
            s.push_str(&names.join(", "));
            if st.running.len() > STATUS_NAMES {
                let _ = write!(s, " +{} more", st.running.len() - STATUS_NAMES);
            }
        }
        if st.failed > 0 {
            let _ = write!(s, ", {} failed", st.failed);
        }
        // With the closing `]`, one column short of the width: a line that
        // fills the last column wraps on some terminals.
        if s.chars().count() > self.width - 2 {
            s = s.chars().take(self.width - 3).collect();
            s.push('…');
        }
        s.push(']');
        s
    }
}

impl<W: Write + Send> Reporter for StderrReporter<W> {
    fn cached(&self, _job: usize, tag: &str) {
        let mut st = self.lock();
        st.done += 1;
        self.emit(
            &mut st,
            &format!("Image {tag} already exists.  Skipping.\n"),
        );
    }

    fn started(&self, job: usize) {
        let mut st = self.lock();
        st.running.push(job);
        self.redraw(&mut st);
    }

    fn line(&self, job: usize, line: &str) {
        let text = format!("{}: {line}\n", self.label(job));
        let mut st = self.lock();
        self.emit(&mut st, &text);
    }

    fn finished(&self, job: usize, outcome: &Outcome) {
        let mut st = self.lock();
        st.running.retain(|&j| j != job);
        match outcome {
            Outcome::Built { .. } | Outcome::Cached | Outcome::Pulled | Outcome::NotNeeded => {
                st.done += 1
            }
            Outcome::Failed { .. } => st.failed += 1,
            Outcome::Skipped { .. } | Outcome::Cancelled => {}
        }
        self.redraw(&mut st);
    }
}

/// The columns of the terminal on stderr, if it says.
fn terminal_width() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    Some(usize::from(size.ws_col)).filter(|&w| w > 0)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The end-of-run table: built, cached, failed (with error and log tail),
/// skipped (naming the failed stage) and cancelled stages, then a count
/// line like `27 stages: 3 built, 22 cached, 1 failed, 1 skipped`, then a
/// `hint:` line for each known host-setup fault in the failed builds'
/// errors and output (each once).
pub fn summary(jobs: &[Job], outcomes: &[Outcome]) -> String {
    let label = |i: usize| {
        jobs.get(i)
            .map_or_else(|| format!("#{i}"), |j| j.label.clone())
    };
    let width = jobs
        .iter()
        .map(|j| j.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut hints: Vec<&str> = Vec::new();
    let mut counts = [0usize; 7];
    const KINDS: [&str; 7] = [
        "built",
        "cached",
        "failed",
        "skipped",
        "cancelled",
        "pulled",
        "not needed",
    ];
    for (kind, name) in KINDS.iter().enumerate() {
        for (i, outcome) in outcomes.iter().enumerate() {
            let this_kind = match outcome {
                Outcome::Built { .. } => 0,
                Outcome::Cached => 1,
                Outcome::Failed { .. } => 2,
                Outcome::Skipped { .. } => 3,
                Outcome::Cancelled => 4,
                Outcome::Pulled => 5,
                Outcome::NotNeeded => 6,
            };
            if this_kind != kind {
                continue;
            }
            counts[kind] += 1;
            let l = label(i);
            let _ = match outcome {
                Outcome::Built { elapsed } => {
                    writeln!(out, "  {name:<9}  {l:<width$}  {:>8}", secs(*elapsed))
                }
                Outcome::Cached | Outcome::Cancelled | Outcome::Pulled | Outcome::NotNeeded => {
                    writeln!(out, "  {name:<9}  {l}")
                }
                Outcome::Failed {
                    error,
                    log_tail,
                    elapsed,
                } => {
                    let _ = writeln!(out, "  {name:<9}  {l:<width$}  {:>8}", secs(*elapsed));
                    let _ = writeln!(out, "      error: {error}");
                    if !log_tail.is_empty() {
                        let _ = writeln!(out, "      last {} lines of output:", log_tail.len());
                    }
                    for line in log_tail {
                        let _ = writeln!(out, "        | {line}");
                    }
                    let said =
                        std::iter::once(error.as_str()).chain(log_tail.iter().map(String::as_str));
                    if let Some(hint) = host_hint(said).filter(|h| !hints.contains(h)) {
                        hints.push(hint);
                    }
                    Ok(())
                }
                Outcome::Skipped { because } => {
                    writeln!(
                        out,
                        "  {name:<9}  {l:<width$}  (because {} failed)",
                        label(*because)
                    )
                }
            };
        }
    }
    let mut parts = vec![
        format!("{} built", counts[0]),
        format!("{} cached", counts[1]),
    ];
    for kind in 2..KINDS.len() {
        if counts[kind] > 0 {
            parts.push(format!("{} {}", counts[kind], KINDS[kind]));
        }
    }
    let total = outcomes.len();
    let noun = if total == 1 { "stage" } else { "stages" };
    let _ = writeln!(out, "{total} {noun}: {}", parts.join(", "));
    for hint in hints {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(label: &str, tag: &str) -> Job {
        Job {
            stage: label.replace('/', "-"),
            label: label.to_owned(),
            tag: tag.to_owned(),
            dockerfile: String::new(),
            deps: Vec::new(),
        }
    }

    fn jobs() -> Vec<Job> {
        vec![
            job("base", "img:base"),
            job("fmtlib/fmt", "img:fmt"),
            job("boost", "img:boost"),
            job("openbmc/sdbusplus", "img:sdbusplus"),
            job("final", "img:final"),
        ]
    }

    fn text(r: StderrReporter<Vec<u8>>) -> String {
        String::from_utf8(r.into_inner()).expect("utf-8")
    }

    #[test]
    fn plain_output_has_prefixed_lines_and_no_escapes() {
        let jobs = jobs();
        let r = StderrReporter::new(&jobs, false, Vec::new());
        r.cached(0, "img:base");
        r.started(1);
        r.line(1, "Step 1/3 : FROM ubuntu");
        r.started(2);
        r.line(2, "");
        r.finished(
            1,
            &Outcome::Built {
                elapsed: Duration::from_secs(1),
            },
        );
        assert_eq!(
            text(r),
            "Image img:base already exists.  Skipping.\n\
             fmtlib/fmt: Step 1/3 : FROM ubuntu\n\
             boost: \n"
        );
    }

    #[test]
    fn tty_output_redraws_a_status_line() {
        let jobs = jobs();
        let r = StderrReporter::new(&jobs, true, Vec::new());
        r.cached(0, "img:base");
        r.started(1);
        r.started(2);
        r.line(1, "compiling");
        r.finished(
            2,
            &Outcome::Failed {
                error: "x".to_owned(),
                log_tail: Vec::new(),
                elapsed: Duration::ZERO,
            },
        );
        let out = text(r);
        assert!(
            out.starts_with("Image img:base already exists.  Skipping.\n"),
            "{out:?}"
        );
        assert!(
            out.contains(
                "\r\x1b[2K[1/5 built, 2 running: fmtlib/fmt, boost]\r\x1b[2Kfmtlib/fmt: compiling\n"
            ),
            "{out:?}"
        );
        assert!(
            out.contains("[1/5 built, 1 running: fmtlib/fmt, 1 failed]"),
            "{out:?}"
        );
        assert!(
            out.ends_with("\r\x1b[2K"),
            "status cleared at the end: {out:?}"
        );
    }

    #[test]
    fn status_line_stays_short() {
        let many: Vec<Job> = (0..40)
            .map(|i| job(&format!("some-very-long-organisation/package-{i}"), "t"))
            .collect();
        for width in [STATUS_WIDTH, 40, 132] {
            let r = StderrReporter::with_width(&many, true, Vec::new(), width);
            for i in 0..40 {
                r.started(i);
            }
            let st = r.lock();
            let s = r.status_text(&st);
            assert!(s.chars().count() < width, "{width}: {s}");
            assert!(s.ends_with(']'));
        }
    }

    #[test]
    fn summary_lists_every_stage_and_counts() {
        let jobs = jobs();
        let outcomes = vec![
            Outcome::Cached,
            Outcome::Failed {
                error: "`docker build` exited with status 1".to_owned(),
                log_tail: vec!["step 7".to_owned(), "error: no".to_owned()],
                elapsed: Duration::from_millis(3140),
            },
            Outcome::Built {
                elapsed: Duration::from_millis(42_260),
            },
            Outcome::Skipped { because: 1 },
            Outcome::Cancelled,
        ];
        let s = summary(&jobs, &outcomes);
        let expected = "  built      boost                 42.3s\n\
                        \x20 cached     base\n\
                        \x20 failed     fmtlib/fmt             3.1s\n\
                        \x20     error: `docker build` exited with status 1\n\
                        \x20     last 2 lines of output:\n\
                        \x20       | step 7\n\
                        \x20       | error: no\n\
                        \x20 skipped    openbmc/sdbusplus  (because fmtlib/fmt failed)\n\
                        \x20 cancelled  final\n\
                        5 stages: 1 built, 1 cached, 1 failed, 1 skipped, 1 cancelled\n";
        assert_eq!(s, expected, "\n{s}");
    }

    #[test]
    fn a_host_setup_fault_adds_one_hint_line() {
        let jobs = jobs();
        let crun = |stage: &str| Outcome::Failed {
            error: "`podman build` exited with status 125".to_owned(),
            log_tail: vec![
                format!("STEP 2/4: RUN make # {stage}"),
                "Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop \
                 all controllers from cgroupv2"
                    .to_owned(),
            ],
            elapsed: Duration::from_millis(900),
        };
        // Two stages failing alike: one line, after the counts.
        let outcomes = vec![
            Outcome::Cached,
            crun("fmt"),
            crun("boost"),
            Outcome::Skipped { because: 1 },
            Outcome::Skipped { because: 1 },
        ];
        let s = summary(&jobs, &outcomes);
        let hints: Vec<&str> = s.lines().filter(|l| l.starts_with("hint: ")).collect();
        assert_eq!(hints.len(), 1, "{s}");
        assert!(
            hints[0].contains("`runtime = \"runc\"` under `[engine]` in containers.conf"),
            "{s}"
        );
        assert!(
            s.ends_with(&format!("2 failed, 2 skipped\n{}\n", hints[0])),
            "{s}"
        );

        // The engine's error line is read too (a socket it may not use).
        let denied = Outcome::Failed {
            error: "permission denied while trying to connect to the Docker daemon socket at \
                    unix:///var/run/docker.sock"
                .to_owned(),
            log_tail: Vec::new(),
            elapsed: Duration::ZERO,
        };
        let s = summary(&jobs[..2], &[Outcome::Cached, denied]);
        assert!(s.contains("\nhint: this user may not use the Docker daemon's socket: add it to the `docker` group"), "{s}");
    }

    #[test]
    fn an_ordinary_failure_has_no_hint() {
        let jobs = jobs();
        let outcomes = vec![
            Outcome::Cached,
            Outcome::Failed {
                error: "`docker build` exited with status 1".to_owned(),
                log_tail: vec!["curl: (22) The requested URL returned error: 404".to_owned()],
                elapsed: Duration::ZERO,
            },
        ];
        assert!(!summary(&jobs[..2], &outcomes).contains("hint:"));
    }

    #[test]
    fn summary_count_line_omits_zero_failures() {
        let jobs = jobs();
        let outcomes = vec![Outcome::Cached; 5];
        assert!(summary(&jobs, &outcomes).ends_with("\n5 stages: 0 built, 5 cached\n"));
    }
}
