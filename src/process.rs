//! Running a short-lived child to completion: `git ls-remote`, `curl`.
//!
//! Owns: spawning with a null stdin and piped output read by threads (so
//! neither pipe can fill and stall the child), a deadline enforced by a
//! blocking wait (no polling), TERM then KILL when the deadline passes,
//! reaping on every path, and bounded capture: at most `limit` bytes of each
//! stream are kept, the rest is read and dropped.
//!
//! Must not: interpret what the child printed, or print anything.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel;
use rustix::process::{kill_process, Pid, Signal};

/// How long a child has between TERM and KILL.
const GRACE: Duration = Duration::from_secs(2);

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
    #[error("waiting for it failed: {0}")]
    Wait(#[source] std::io::Error),
}

/// Runs `cmd` (its stdin null, its stdout and stderr captured) until it
/// exits or `timeout` passes; keeps at most `limit` bytes of each stream.
pub fn run(mut cmd: Command, timeout: Duration, limit: usize) -> Result<Finished, ProcessError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ProcessError::Spawn)?;
    let out = child.stdout.take().map(|p| read_head(p, limit));
    let err = child.stderr.take().map(|p| read_tail(p, limit));
    let pid = Pid::from_child(&child);
    // A thread blocks in wait(); this one blocks on its answer, up to the deadline.
    let (tx, rx) = channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(waited) => waited.map_err(ProcessError::Wait)?,
        Err(_) => {
            // TERM first, so the child can clean up; KILL after the grace.
            let _ = kill_process(pid, Signal::TERM);
            if rx.recv_timeout(GRACE).is_err() {
                let _ = kill_process(pid, Signal::KILL);
                let _ = rx.recv();
            }
            // The reader threads are left to end on their own: a grandchild
            // may still hold the pipes.
            return Err(ProcessError::Timeout(timeout));
        }
    };
    let (stdout, stdout_truncated) = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Finished {
        status,
        stdout,
        stdout_truncated,
        stderr,
    })
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

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn captures_both_streams_and_the_status() {
        let f = run(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
            1024,
        )
        .expect("runs");
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert!(!f.stdout_truncated);
    }

    #[test]
    fn keeps_the_head_of_stdout_and_the_tail_of_stderr() {
        let f = run(
            sh("yes a | head -c 100000; yes b | head -c 50000 >&2; printf END >&2"),
            Duration::from_secs(10),
            10,
        )
        .expect("runs");
        assert_eq!(f.stdout, b"a\na\na\na\na\n");
        assert!(f.stdout_truncated);
        assert!(f.stderr.ends_with(b"END"), "{:?}", f.stderr);
        assert_eq!(f.stderr.len(), 10);
    }

    #[test]
    fn a_child_past_its_deadline_is_stopped() {
        let started = std::time::Instant::now();
        let e = run(sh("exec sleep 30"), Duration::from_millis(200), 1024).expect_err("times out");
        assert!(matches!(e, ProcessError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run(
            Command::new("/nonexistent/program"),
            Duration::from_secs(1),
            10,
        )
        .expect_err("fails");
        assert!(matches!(e, ProcessError::Spawn(_)));
    }
}
