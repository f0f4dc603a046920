//! The streaming form of running a child (the engine's builds, curl's
//! download): each line or chunk handed to the caller as it comes, stdout
//! and stderr each on a reader thread of its own, stdin fed, a deadline,
//! the cancel token.
//!
//! Owns: [`stream()`] and its reader threads. Must not: interpret what the
//! child printed, or print.

use std::io::Read;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crossbeam::channel;

use super::cancel::Reaper;
use super::{spawn_piped, stopped, wait_in_thread, CancelToken, Failure, ProcessError};

/// How [`stream()`] hands over one stream of a child.
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

/// What [`stream()`] runs with: stdin, the deadline, the token, and how
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

/// How a streamed child ended: its exit status, and its command as
/// [`super::command_line`] shows it (for the caller's error about the
/// status).
#[derive(Debug)]
pub struct Exited {
    pub command: String,
    pub status: ExitStatus,
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
) -> Result<Exited, ProcessError> {
    if run.cancel.is_cancelled() {
        return Err(ProcessError::new(&cmd, Failure::Cancelled));
    }
    let mut child = spawn_piped(&mut cmd, run.input.is_some())?;
    let registered = run.cancel.register(&child);
    // Bounded: a reader waits for the caller rather than filling the memory.
    let (tx, rx) = channel::bounded::<Msg>(64);
    let mut open = 0;
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, run.stdout, false, tx.clone())
            .map_err(|e| ProcessError::new(&cmd, Failure::Spawn(e)))?;
        open += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Mode::Lines, true, tx.clone())
            .map_err(|e| ProcessError::new(&cmd, Failure::Spawn(e)))?;
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
            .map_err(|e| ProcessError::new(&cmd, Failure::Spawn(e)))?;
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
                    .map_err(|_| std::io::Error::other("the waiter is gone"))
                    .and_then(|waited| waited)
                    .map_err(|e| ProcessError::new(&cmd, Failure::Wait(e)))?;
                status = Some(st);
                drain_until = Some(std::time::Instant::now() + DRAIN_GRACE);
                waited = channel::never();
            },
            recv(timer) -> _ => {
                if status.is_some() {
                    break; // A grandchild holds the pipes: stop reading.
                }
                reaper.stop();
                let after = run.deadline.unwrap_or_default();
                return Err(ProcessError::new(&cmd, stopped(run.cancel, after)));
            },
        }
    }
    drop(reaper);
    if run.cancel.is_cancelled() {
        return Err(ProcessError::new(&cmd, Failure::Cancelled));
    }
    match status {
        Some(status) => Ok(Exited {
            command: super::command_line(&cmd),
            status,
        }),
        None => Err(ProcessError::new(
            &cmd,
            Failure::Wait(std::io::Error::other("no status")),
        )),
    }
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
