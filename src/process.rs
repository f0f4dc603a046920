//! The one way this program runs a child: the engine, git, curl.
//!
//! Owns: spawning each child in its own process group (so a hung child's own
//! children are stopped with it), the [`CancelToken`] that stops every
//! registered group (TERM, then KILL after a grace), the SIGINT/SIGTERM
//! handling that cancels the process-wide token ([`interrupted`]), blocking
//! waits with a deadline (no polling), and bounded capture: at most `limit`
//! bytes of each stream are kept, the rest is read and dropped; input fed
//! on stdin ([`run_fed`]), so that a secret is never in a child's argv;
//! and the streaming form ([`stream`]: the engine's builds, curl's
//! download), which hands each line or chunk to the caller as it comes,
//! stdout and stderr each on its own reader.
//!
//! Must not: interpret what a child printed, or print anything.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel;
use rustix::process::{kill_process_group, Pid, Signal};

/// How long a stopped child's group has between TERM and KILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// Exit status of a run ended by SIGINT or SIGTERM.
pub const INTERRUPTED: i32 = 130;

/// A shareable "stop now": cancelling sets the flag and stops the process
/// groups of every child registered with it. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Process group ids of the running children.
    groups: Mutex<HashSet<i32>>,
    /// Tokens made with [`CancelToken::child`]: cancelled with this one.
    children: Mutex<Vec<std::sync::Weak<Inner>>>,
}

impl CancelToken {
    /// A fresh, unset token.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that is cancelled when this one is, and can also be
    /// cancelled alone: one part of the run (a build whose revisions could
    /// not be looked up) stops without the whole process counting as
    /// interrupted.
    pub fn child(&self) -> Self {
        let child = Self::new();
        self.children().push(Arc::downgrade(&child.0));
        // Checked after registering: a `cancel` racing with this call
        // either sees the child or has set the flag read here.
        if self.is_cancelled() {
            child.cancel();
        }
        child
    }

    fn children(&self) -> std::sync::MutexGuard<'_, Vec<std::sync::Weak<Inner>>> {
        self.0
            .children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live children, dropping the references to those gone.
    fn live_children(&self) -> Vec<CancelToken> {
        let mut children = self.children();
        children.retain(|c| c.strong_count() > 0);
        children
            .iter()
            .filter_map(|c| c.upgrade())
            .map(CancelToken)
            .collect()
    }

    /// Sets the token (and its children's): TERM to every registered group
    /// now, KILL to those still registered after [`GRACE`].
    pub fn cancel(&self) {
        if self.0.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        for child in self.live_children() {
            child.cancel();
        }
        self.signal_all(Signal::TERM);
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("cancel-grace".to_owned())
            .spawn(move || {
                std::thread::sleep(GRACE);
                me.signal_all(Signal::KILL);
            });
    }

    /// Whether [`cancel`](Self::cancel) was called (or a signal arrived).
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Sends `sig` to every registered group, its children's too.
    pub fn signal_all(&self, sig: Signal) {
        {
            let groups = self.0.groups.lock().unwrap_or_else(PoisonError::into_inner);
            for &pg in groups.iter() {
                if let Some(pid) = Pid::from_raw(pg) {
                    let _ = kill_process_group(pid, sig);
                }
            }
        }
        for child in self.live_children() {
            child.signal_all(sig);
        }
    }

    /// Registers `child` (a process group leader) until the guard drops.
    /// A child started just as the token was set is stopped at once.
    pub fn register(&self, child: &Child) -> Registered {
        let pg = Pid::from_child(child).as_raw_nonzero().get();
        self.0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pg);
        if self.is_cancelled() {
            if let Some(pid) = Pid::from_raw(pg) {
                let _ = kill_process_group(pid, Signal::TERM);
            }
        }
        Registered {
            token: self.clone(),
            pg,
        }
    }
}

/// A registered child's group; unregistered on drop.
#[derive(Debug)]
pub struct Registered {
    token: CancelToken,
    pg: i32,
}

impl Registered {
    /// Sends `sig` to the child's whole group.
    pub fn signal(&self, sig: Signal) {
        // Under the lock: a group is never signalled after it was
        // unregistered (and its id maybe reused).
        let groups = self
            .token
            .0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if groups.contains(&self.pg) {
            if let Some(pid) = Pid::from_raw(self.pg) {
                let _ = kill_process_group(pid, sig);
            }
        }
    }

    /// TERM to the group, KILL after [`GRACE`] unless `exited` says the
    /// child is gone by then.
    pub fn stop(&self, exited: &channel::Receiver<()>) {
        self.signal(Signal::TERM);
        if exited.recv_timeout(GRACE).is_err() {
            self.signal(Signal::KILL);
        }
    }
}

/// A registered child that has a waiter: on drop (every return, and a
/// panic) its group is killed and the drop waits, up to [`GRACE`], until the
/// child is reaped.
#[derive(Debug)]
pub struct Reaper {
    pub registered: Registered,
    pub exited: channel::Receiver<()>,
}

impl Reaper {
    /// TERM to the group, KILL after [`GRACE`] unless it exited.
    pub fn stop(&self) {
        self.registered.stop(&self.exited);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.registered.signal(Signal::KILL);
        let _ = self.exited.recv_timeout(GRACE);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // Whatever the child left in its group goes with it.
        self.signal(Signal::KILL);
        self.token
            .0
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.pg);
    }
}

/// The process-wide token that SIGINT and SIGTERM cancel.
pub fn interrupted() -> &'static CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(CancelToken::new)
}

/// Makes SIGINT and SIGTERM cancel [`interrupted`] (stopping every
/// registered child) instead of killing this process, and call `on_first`
/// (work that waits on no child stops through it: template rendering); a
/// second signal kills the children's groups and exits with 130 at once.
/// Call once.
pub fn install_signal_handlers(on_first: fn()) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for _ in signals.forever() {
                let token = interrupted();
                if token.is_cancelled() {
                    token.signal_all(Signal::KILL);
                    // A second signal: the children are killed, and nothing
                    // else may run (README, "Interruption").
                    #[allow(clippy::disallowed_methods)]
                    std::process::exit(INTERRUPTED);
                }
                on_first();
                token.cancel();
            }
        })?;
    Ok(())
}

/// `cmd` set up to start in a process group of its own.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.process_group(0);
    cmd
}

/// What a finished child printed, as far as it was kept.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The first `limit` bytes of stdout.
    pub stdout: Vec<u8>,
    /// More than `limit` bytes came on stdout.
    pub stdout_truncated: bool,
    /// The last `limit` bytes of stderr.
    pub stderr: Vec<u8>,
}

/// Why a child gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not start it: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("it did not finish within {}s and was stopped", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("it was stopped: interrupted")]
    Cancelled,
    #[error("waiting for it failed: {0}")]
    Wait(#[source] std::io::Error),
}

/// Runs `cmd` with [`interrupted`] as its token; see [`run_with`].
pub fn run(cmd: Command, timeout: Duration, limit: usize) -> Result<Finished, ProcessError> {
    run_with(cmd, timeout, limit, interrupted())
}

/// Runs `cmd` (in its own process group, stdin null, stdout and stderr
/// captured) until it exits, `timeout` passes or `cancel` is set; keeps at
/// most `limit` bytes of each stream. No process of its group is left.
pub fn run_with(
    cmd: Command,
    timeout: Duration,
    limit: usize,
    cancel: &CancelToken,
) -> Result<Finished, ProcessError> {
    run_inner(cmd, None, timeout, limit, cancel)
}

/// As [`run`], with `input` written to the child's stdin (then closed):
/// how a secret reaches a child without being in its argv (`curl -K -`).
pub fn run_fed(
    cmd: Command,
    input: Vec<u8>,
    timeout: Duration,
    limit: usize,
) -> Result<Finished, ProcessError> {
    run_inner(cmd, Some(input), timeout, limit, interrupted())
}

fn run_inner(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    limit: usize,
    cancel: &CancelToken,
) -> Result<Finished, ProcessError> {
    if cancel.is_cancelled() {
        return Err(ProcessError::Cancelled);
    }
    let mut child = spawn_piped(&mut cmd, input.is_some())?;
    let registered = cancel.register(&child);
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // A child that exits without reading shows it in its status.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&bytes);
        });
    }
    let out = child.stdout.take().map(|p| read_head(p, limit));
    let err = child.stderr.take().map(|p| read_tail(p, limit));
    let (status, exited) = wait_in_thread(child);
    let status = match status.recv_timeout(timeout) {
        Ok(waited) => waited.map_err(ProcessError::Wait)?,
        Err(_) => {
            registered.stop(&exited);
            return Err(if cancel.is_cancelled() {
                ProcessError::Cancelled
            } else {
                ProcessError::Timeout(timeout)
            });
        }
    };
    // The group goes too: nothing it started may hold the pipes open.
    drop(registered);
    if cancel.is_cancelled() {
        return Err(ProcessError::Cancelled);
    }
    let (stdout, stdout_truncated) = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Finished {
        status,
        stdout,
        stdout_truncated,
        stderr,
    })
}

/// How [`stream`] hands over one stream of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Line by line, each made printable ([`crate::printable`]) and at
    /// most [`MAX_LINE`] bytes (a line without end cannot fill the memory).
    Lines,
    /// As it comes, in chunks of up to 64 KiB (a tarball).
    Bytes,
}

/// Longest line [`Mode::Lines`] hands over; the rest of it comes as the
/// next line.
pub const MAX_LINE: usize = 64 * 1024;

/// How long the output of a child that has exited is still read: a
/// grandchild that keeps the pipes open cannot hold the caller longer.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// One piece of a streamed child's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A line of stdout ([`Mode::Lines`]).
    Out(&'a str),
    /// A chunk of stdout ([`Mode::Bytes`]).
    OutBytes(&'a [u8]),
    /// A line of stderr (always [`Mode::Lines`]).
    Err(&'a str),
}

/// What [`stream`] runs with: stdin, the deadline, the token, and how
/// stdout comes back.
#[derive(Debug)]
pub struct Streamed<'a> {
    /// Written to the child's stdin, which is then closed; None: stdin is
    /// /dev/null. A child that exits without reading it shows that in its
    /// status.
    pub input: Option<Vec<u8>>,
    /// The whole run, exit included; None: no deadline.
    pub deadline: Option<Duration>,
    pub cancel: &'a CancelToken,
    pub stdout: Mode,
}

enum Msg {
    Line(bool, String),
    Bytes(Vec<u8>),
    Eof,
}

/// Runs `cmd` in its own process group, handing each piece of its output
/// to `on_piece` as it comes (stdout and stderr each on a reader thread of
/// its own, so neither pipe can fill while the other is read), until it
/// has exited and both streams ended (or [`DRAIN_GRACE`] after its exit),
/// its deadline passes or the token is set. No process of its group is
/// left on any return, nor on a panic in `on_piece`.
pub fn stream(
    mut cmd: Command,
    run: Streamed<'_>,
    on_piece: &mut dyn FnMut(Piece<'_>),
) -> Result<ExitStatus, ProcessError> {
    if run.cancel.is_cancelled() {
        return Err(ProcessError::Cancelled);
    }
    let mut child = spawn_piped(&mut cmd, run.input.is_some())?;
    let registered = run.cancel.register(&child);
    // Bounded: a reader waits for the caller rather than filling the memory.
    let (tx, rx) = channel::bounded::<Msg>(64);
    let mut open = 0;
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, run.stdout, false, tx.clone()).map_err(ProcessError::Spawn)?;
        open += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Mode::Lines, true, tx.clone()).map_err(ProcessError::Spawn)?;
        open += 1;
    }
    drop(tx);
    if let (Some(bytes), Some(mut stdin)) = (run.input, child.stdin.take()) {
        std::thread::Builder::new()
            .name("child-stdin".to_owned())
            .spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&bytes);
            })
            .map_err(ProcessError::Spawn)?;
    }
    let (mut waited, exited) = wait_in_thread(child);
    let reaper = Reaper { registered, exited };
    let deadline = run.deadline.map(|t| std::time::Instant::now() + t);
    let mut status = None;
    let mut drain_until = None;
    while status.is_none() || open > 0 {
        let timer = match drain_until.or(deadline) {
            Some(t) => channel::at(t),
            None => channel::never(),
        };
        channel::select! {
            recv(rx) -> msg => match msg {
                Ok(Msg::Line(false, line)) => on_piece(Piece::Out(&line)),
                Ok(Msg::Line(true, line)) => on_piece(Piece::Err(&line)),
                Ok(Msg::Bytes(bytes)) => on_piece(Piece::OutBytes(&bytes)),
                Ok(Msg::Eof) => open -= 1,
                Err(_) => open = 0,
            },
            recv(waited) -> st => {
                let st = st
                    .map_err(|_| ProcessError::Wait(std::io::Error::other("the waiter is gone")))?
                    .map_err(ProcessError::Wait)?;
                status = Some(st);
                drain_until = Some(std::time::Instant::now() + DRAIN_GRACE);
                waited = channel::never();
            },
            recv(timer) -> _ => {
                if status.is_some() {
                    break; // A grandchild holds the pipes: stop reading.
                }
                reaper.stop();
                return Err(if run.cancel.is_cancelled() {
                    ProcessError::Cancelled
                } else {
                    ProcessError::Timeout(run.deadline.unwrap_or_default())
                });
            },
        }
    }
    drop(reaper);
    if run.cancel.is_cancelled() {
        return Err(ProcessError::Cancelled);
    }
    status.ok_or_else(|| ProcessError::Wait(std::io::Error::other("no status")))
}

/// Reads `r` into `tx` as `mode` says; detached, so a grandchild holding
/// the pipe open cannot block the caller. It ends at EOF or when nobody
/// listens any more.
fn spawn_reader<R: Read + Send + 'static>(
    r: R,
    mode: Mode,
    stderr: bool,
    tx: channel::Sender<Msg>,
) -> std::io::Result<()> {
    use std::io::BufRead;
    std::thread::Builder::new()
        .name(
            if stderr {
                "child-stderr"
            } else {
                "child-stdout"
            }
            .to_owned(),
        )
        .spawn(move || {
            let mut reader = std::io::BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let read = match mode {
                    Mode::Lines => (&mut reader)
                        .take(MAX_LINE as u64)
                        .read_until(b'\n', &mut buf),
                    Mode::Bytes => {
                        buf.resize(64 * 1024, 0);
                        reader.read(&mut buf).inspect(|&n| buf.truncate(n))
                    }
                };
                let msg = match read {
                    Ok(0) => break,
                    Ok(_) if mode == Mode::Bytes => Msg::Bytes(std::mem::take(&mut buf)),
                    Ok(_) => {
                        while matches!(buf.last(), Some(b'\n' | b'\r')) {
                            buf.pop();
                        }
                        Msg::Line(stderr, crate::printable::printable(&buf))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof);
        })
        .map(drop)
}

/// Starts `cmd` in a process group of its own, stdout and stderr piped,
/// stdin piped when there is input for it (else /dev/null): the one place
/// this program starts a child.
fn spawn_piped(cmd: &mut Command, input: bool) -> Result<Child, ProcessError> {
    #[allow(clippy::disallowed_methods)]
    cmd.process_group(0)
        .stdin(if input { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ProcessError::Spawn)
}

/// A thread blocks in `wait()`: the first receiver gets the status, the
/// second is closed when the child has exited.
pub fn wait_in_thread(
    mut child: Child,
) -> (
    channel::Receiver<std::io::Result<ExitStatus>>,
    channel::Receiver<()>,
) {
    let (tx, rx) = channel::bounded(1);
    let (exited_tx, exited_rx) = channel::bounded::<()>(0);
    std::thread::spawn(move || {
        let status = child.wait();
        drop(exited_tx);
        let _ = tx.send(status);
    });
    (rx, exited_rx)
}

/// Keeps the first `limit` bytes; reads (and drops) the rest.
fn read_head(mut pipe: impl Read + Send + 'static, limit: usize) -> JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
            truncated |= n > room;
        }
        (kept, truncated)
    })
}

/// Keeps the last `limit` bytes.
fn read_tail(mut pipe: impl Read + Send + 'static, limit: usize) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend(&buf[..n]);
            let excess = kept.len().saturating_sub(limit);
            kept.drain(..excess);
        }
        kept.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    /// Whether a process with this pid is alive (not a zombie).
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    #[test]
    fn captures_both_streams_and_the_status() {
        let f = run_with(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
            1024,
            &CancelToken::new(),
        )
        .expect("runs");
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert!(!f.stdout_truncated);
    }

    #[test]
    fn keeps_the_head_of_stdout_and_the_tail_of_stderr() {
        let f = run_with(
            sh("yes a | head -c 100000; yes b | head -c 50000 >&2; printf END >&2"),
            Duration::from_secs(10),
            10,
            &CancelToken::new(),
        )
        .expect("runs");
        assert_eq!(f.stdout, b"a\na\na\na\na\n");
        assert!(f.stdout_truncated);
        assert!(f.stderr.ends_with(b"END"), "{:?}", f.stderr);
        assert_eq!(f.stderr.len(), 10);
    }

    #[test]
    fn a_child_past_its_deadline_is_stopped_with_its_own_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let started = Instant::now();
        let e = run_with(
            sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
            Duration::from_millis(300),
            1024,
            &CancelToken::new(),
        )
        .expect_err("times out");
        assert!(matches!(e, ProcessError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let grandchild = std::fs::read_to_string(&pidfile).expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild.trim()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild.trim()), "the grandchild was stopped too");
    }

    #[test]
    fn cancelling_stops_a_running_child_at_once() {
        let token = CancelToken::new();
        let t = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            t.cancel();
        });
        let started = Instant::now();
        let e =
            run_with(sh("sleep 60"), Duration::from_secs(60), 1024, &token).expect_err("cancelled");
        assert!(matches!(e, ProcessError::Cancelled), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        canceller.join().expect("join");
        // A cancelled token starts nothing more.
        let e = run_with(sh("true"), Duration::from_secs(1), 10, &token).expect_err("no start");
        assert!(matches!(e, ProcessError::Cancelled));
    }

    #[test]
    fn input_reaches_the_childs_stdin() {
        let f = run_fed(
            sh("tr a-z A-Z"),
            b"secret header\n".to_vec(),
            Duration::from_secs(10),
            1024,
        )
        .expect("runs");
        assert_eq!(f.stdout, b"SECRET HEADER\n");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run_with(
            Command::new("/nonexistent/program"),
            Duration::from_secs(1),
            10,
            &CancelToken::new(),
        )
        .expect_err("fails");
        assert!(matches!(e, ProcessError::Spawn(_)));
    }

    #[test]
    fn a_child_token_stops_with_its_parent_and_alone() {
        let parent = CancelToken::new();
        let child = parent.child();
        let started = Instant::now();
        let c = child.clone();
        let sleeper =
            std::thread::spawn(move || run_with(sh("sleep 60"), Duration::from_secs(60), 10, &c));
        std::thread::sleep(Duration::from_millis(200));
        parent.cancel();
        let e = sleeper.join().expect("join").expect_err("cancelled");
        assert!(matches!(e, ProcessError::Cancelled), "{e}");
        assert!(child.is_cancelled() && started.elapsed() < Duration::from_secs(5));
        assert!(
            parent.child().is_cancelled(),
            "born cancelled after the parent"
        );

        // Cancelling a child leaves the parent and its siblings running.
        let parent = CancelToken::new();
        let (a, b) = (parent.child(), parent.child());
        a.cancel();
        assert!(!parent.is_cancelled() && !b.is_cancelled());
    }

    fn streamed(cancel: &CancelToken, deadline: Option<Duration>, stdout: Mode) -> Streamed<'_> {
        Streamed {
            input: None,
            deadline,
            cancel,
            stdout,
        }
    }

    #[test]
    fn stream_reads_a_flooded_stderr_beside_stdout() {
        // 1 MiB on stderr before a byte of stdout: far more than a pipe holds.
        let cancel = CancelToken::new();
        let (mut out, mut err_lines) = (Vec::new(), 0usize);
        let status = stream(
            sh("head -c 1048576 /dev/zero | tr '\\0' 'e' | fold -w 1000 >&2; printf 'the tarball'"),
            streamed(&cancel, Some(Duration::from_secs(20)), Mode::Bytes),
            &mut |piece| match piece {
                Piece::OutBytes(b) => out.extend_from_slice(b),
                Piece::Err(_) => err_lines += 1,
                Piece::Out(_) => panic!("stdout is in bytes"),
            },
        )
        .expect("runs");
        assert!(status.success());
        assert_eq!(out, b"the tarball");
        assert_eq!(err_lines, 1_048_576_usize.div_ceil(1000));
    }

    #[test]
    fn stream_hands_over_the_lines_of_both_streams_printable_and_bounded() {
        let cancel = CancelToken::new();
        let mut seen = Vec::new();
        let status = stream(
            sh("echo out1; echo err1 >&2; printf 'red \\033[31mtext\\033[0m\\n'; head -c 70000 /dev/zero | tr '\\0' x; echo; exit 3"),
            streamed(&cancel, None, Mode::Lines),
            &mut |piece| match piece {
                Piece::Out(l) => seen.push(format!("out:{}", &l[..l.len().min(20)])),
                Piece::Err(l) => seen.push(format!("err:{l}")),
                Piece::OutBytes(_) => panic!("lines asked for"),
            },
        )
        .expect("runs");
        assert_eq!(status.code(), Some(3));
        assert!(seen.contains(&"err:err1".to_owned()), "{seen:?}");
        let out: Vec<&String> = seen.iter().filter(|l| l.starts_with("out:")).collect();
        // A 70,000-byte line comes as a MAX_LINE piece and the rest.
        assert_eq!(
            out,
            [
                "out:out1",
                "out:red text",
                "out:xxxxxxxxxxxxxxxxxxxx",
                "out:xxxxxxxxxxxxxxxxxxxx"
            ]
        );
    }

    #[test]
    fn stream_deadline_stops_the_whole_group() {
        let cancel = CancelToken::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let started = Instant::now();
        let e = stream(
            sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
            streamed(&cancel, Some(Duration::from_millis(500)), Mode::Lines),
            &mut |_| {},
        )
        .expect_err("past its deadline");
        assert!(matches!(e, ProcessError::Timeout(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&pidfile).expect("pid");
        std::thread::sleep(Duration::from_millis(200));
        assert!(!alive(pid.trim()), "the grandchild sleep is gone");
    }

    #[test]
    fn stream_feeds_stdin_and_survives_a_child_that_does_not_read_it() {
        let cancel = CancelToken::new();
        let mut lines = Vec::new();
        let fed = Streamed {
            input: Some(b"FROM x\nRUN y\n".to_vec()),
            ..streamed(&cancel, Some(Duration::from_secs(20)), Mode::Lines)
        };
        let status = stream(sh("cat"), fed, &mut |p| {
            if let Piece::Out(l) = p {
                lines.push(l.to_owned());
            }
        })
        .expect("runs");
        assert!(status.success());
        assert_eq!(lines, ["FROM x", "RUN y"]);
        // 8 MiB offered to a child that exits at once: no panic, its status.
        let ignored = Streamed {
            input: Some(vec![b'x'; 8 << 20]),
            ..streamed(&cancel, Some(Duration::from_secs(20)), Mode::Lines)
        };
        let status = stream(sh("exit 4"), ignored, &mut |_| {}).expect("runs");
        assert_eq!(status.code(), Some(4));
    }

    #[test]
    fn stream_stops_at_once_when_cancelled() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let e = stream(
            sh("echo never"),
            streamed(&cancel, None, Mode::Lines),
            &mut |_| panic!("not started"),
        )
        .expect_err("cancelled");
        assert!(matches!(e, ProcessError::Cancelled));
    }
}
