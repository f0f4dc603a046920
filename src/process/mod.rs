//! The one way this program runs a child: the engine, git, curl.
//!
//! Owns (here, or in the files named below and re-exported): spawning each
//! child in its own process group (so a hung child's own children are
//! stopped with it), the [`CancelToken`] that stops every registered group
//! (TERM, then KILL after a grace), the SIGINT/SIGTERM handling that
//! cancels the process-wide token ([`interrupted`]), blocking
//! waits with a deadline (no polling), and bounded capture: at most `limit`
//! bytes of each stream are kept, the rest is read and dropped; input fed
//! on stdin ([`run_fed`]), so that a secret is never in a child's argv;
//! and the streaming form ([`stream()`]: the engine's builds, curl's
//! download), which hands each line or chunk to the caller as it comes,
//! stdout and stderr each on its own reader; and why a child gave no
//! answer ([`ProcessError`], which names the command it was given, shown
//! by the one rule for showing a command, [`command_line`]: credentials
//! masked). The starting of a child and the capturing form are here;
//! cancellation and the signals are `cancel.rs`, the streaming form
//! `stream.rs`, the error and the command line `error.rs`.
//!
//! Must not: interpret what a child printed, or print anything.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel;

pub(crate) mod cancel;
mod error;
mod stream;
#[cfg(test)]
mod tests;

pub use cancel::{install_signal_handlers, interrupted, CancelToken, INTERRUPTED};
pub use error::{command_line, mask_credentials, Failure, ProcessError};
pub use stream::{stream, Mode, Piece, Streamed};

/// `cmd` set up to start in a process group of its own.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.process_group(0);
    cmd
}

/// What a finished child printed, as far as it was kept.
#[derive(Debug)]
pub struct Finished {
    /// The command, as [`command_line`] shows it: what a caller's error
    /// about its status or its output names.
    pub command: String,
    pub status: ExitStatus,
    /// The first `limit` bytes of stdout.
    pub stdout: Vec<u8>,
    /// More than `limit` bytes came on stdout.
    pub stdout_truncated: bool,
    /// The last `limit` bytes of stderr.
    pub stderr: Vec<u8>,
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
        return Err(ProcessError::new(&cmd, Failure::Cancelled));
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
        Ok(waited) => waited.map_err(|e| ProcessError::new(&cmd, Failure::Wait(e)))?,
        Err(_) => {
            registered.stop(&exited);
            return Err(ProcessError::new(&cmd, stopped(cancel, timeout)));
        }
    };
    // The group goes too: nothing it started may hold the pipes open.
    drop(registered);
    if cancel.is_cancelled() {
        return Err(ProcessError::new(&cmd, Failure::Cancelled));
    }
    let (stdout, stdout_truncated) = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Finished {
        command: command_line(&cmd),
        status,
        stdout,
        stdout_truncated,
        stderr,
    })
}

/// Why a child that did not exit in time was stopped: its token, else
/// its deadline of `after`.
fn stopped(cancel: &CancelToken, after: Duration) -> Failure {
    if cancel.is_cancelled() {
        Failure::Cancelled
    } else {
        Failure::Timeout(after)
    }
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
        .map_err(|e| ProcessError::new(cmd, Failure::Spawn(e)))
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
