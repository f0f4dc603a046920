//! How a child's command is shown, and why a child gave no answer.
//!
//! Owns: the one rule for showing a command ([`command_line`]: its argv as
//! a shell line, each word quoted where a shell needs it, the credentials
//! of every URL in it masked by [`mask_credentials`]) and [`ProcessError`],
//! which names the command it was given. Must not: run anything, or print.

use std::fmt;
use std::process::Command;
use std::time::Duration;

/// Why a child gave no answer: the command as [`command_line`] shows it,
/// and what happened to it. Its message names the command; the I/O error
/// of a [`Failure::Spawn`] or [`Failure::Wait`] is part of the message,
/// not chained as `source()`, so a report printer does not show it twice.
#[derive(Debug)]
pub struct ProcessError {
    /// The command, as [`command_line`] shows it (credentials masked).
    pub command: String,
    /// What happened to it.
    pub kind: Failure,
}

/// What happened to a child that gave no answer.
#[derive(Debug)]
pub enum Failure {
    /// It could not be started (no such program, not executable), or a
    /// thread that feeds or reads it could not.
    Spawn(std::io::Error),
    /// It ran past its deadline and was stopped, with its process group.
    Timeout(Duration),
    /// Its token was cancelled (SIGINT/SIGTERM, or a part of the run
    /// stopping) and it was stopped.
    Cancelled,
    /// Waiting for it, or supervising it, failed.
    Wait(std::io::Error),
}

impl ProcessError {
    /// `kind` of `cmd`, which names it as [`command_line`] shows it.
    pub fn new(cmd: &Command, kind: Failure) -> Self {
        Self {
            command: command_line(cmd),
            kind,
        }
    }

    /// Whether it was stopped because its token was cancelled: an
    /// interruption, not a failure of the child.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Failure::Cancelled)
    }

    /// Whether it ran past its deadline.
    pub fn timed_out(&self) -> bool {
        matches!(self.kind, Failure::Timeout(_))
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = &self.command;
        match &self.kind {
            Failure::Spawn(e) => write!(f, "could not start `{command}`: {e}"),
            Failure::Wait(e) => write!(f, "waiting for `{command}` failed: {e}"),
            kind @ (Failure::Timeout(_) | Failure::Cancelled) => write!(f, "`{command}` {kind}"),
        }
    }
}

impl std::error::Error for ProcessError {}

/// What happened, without the command: the same for the same failure of
/// two commands (what a report groups by).
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Spawn(e) => write!(f, "could not be started: {e}"),
            Failure::Timeout(after) => write!(
                f,
                "did not finish within {}s and was stopped",
                after.as_secs_f64()
            ),
            Failure::Cancelled => f.write_str("was stopped: interrupted"),
            Failure::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

/// `cmd` as a shell line, for messages: its program and arguments, each
/// quoted where a shell would need it, the credentials of every URL in
/// them masked ([`mask_credentials`]). Its environment is not shown.
pub fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|word| shell_quote(&mask_credentials(&word.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as a shell reads it back: as it is when it is made only of
/// characters no shell treats specially, else in single quotes.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%^{}*~".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `text` with the user info of every URL in it (`scheme://user:pass@host`)
/// replaced by `***` (`scheme://***@host`), so that it can be shown: a
/// repository URL, a proxy in a build argument. What is not a URL with
/// user info (`git@host:path`, an `@` in a path) stays as it is.
pub fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, after) = rest.split_at(i + 3);
        out.push_str(head);
        let authority = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        rest = match after[..authority].rfind('@') {
            Some(at) => {
                out.push_str("***");
                &after[at..]
            }
            None => after,
        };
    }
    out.push_str(rest);
    out
}
