//! One stage's build output as the scheduler keeps it: the file
//! `--log-dir DIR/<stage>.log` (when asked for) and the last
//! [`LOG_TAIL_LINES`] lines that a failed [`Outcome`](super::Outcome)
//! carries.
//!
//! Owns: the log file's name (the stage name made safe for a file name),
//! creating it as a regular file only (a symlink, FIFO or device planted at
//! `<stage>.log` is never followed, opened for writing or truncated) and
//! writing it, and giving up on it (once, said through the
//! caller's warning) when a write fails; the bounded tail. Must not: call
//! the reporter or the engine itself, or fail a build because a log line
//! could not be written.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};

use super::LOG_TAIL_LINES;

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

/// The log of one build: its file, if any, and its tail.
pub(super) struct StageLog {
    file: Option<(PathBuf, LineWriter<File>)>,
    tail: VecDeque<String>,
}

impl StageLog {
    /// Creates `dir/<stage>.log` (truncating an old one) when `dir` is
    /// given; the error is the message a failed outcome carries.
    pub(super) fn open(dir: Option<&Path>, stage: &str) -> Result<Self, String> {
        let file = match dir {
            None => None,
            Some(dir) => {
                let path = log_path(dir, stage);
                match create_log(&path) {
                    Ok(f) => Some((path, LineWriter::new(f))),
                    Err(e) => {
                        return Err(format!(
                            "could not create log file `{}`: {e}",
                            path.display()
                        ))
                    }
                }
            }
        };
        Ok(Self {
            file,
            tail: VecDeque::with_capacity(LOG_TAIL_LINES + 1),
        })
    }

    /// One line of the build's output: to the file, then to the tail.
    pub(super) fn line(&mut self, line: &str, warn: impl FnOnce(&str)) {
        self.note(line, warn);
        if self.tail.len() == LOG_TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    /// A line of the scheduler's own (`cancelled`, `ERROR: …`): to the
    /// file only. On the first write error, `warn` gets the message and
    /// the file is no longer written.
    pub(super) fn note(&mut self, line: &str, warn: impl FnOnce(&str)) {
        let Some((path, writer)) = &mut self.file else {
            return;
        };
        if let Err(e) = writeln!(writer, "{line}") {
            let msg = format!(
                "could not write log file `{}`: {e}; no longer logging this stage",
                path.display()
            );
            self.file = None;
            warn(&msg);
        }
    }

    /// The last [`LOG_TAIL_LINES`] output lines, oldest first.
    pub(super) fn into_tail(self) -> Vec<String> {
        self.tail.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_are_safe_file_names() {
        let dir = Path::new("/logs");
        assert_eq!(
            log_path(dir, "openbmc-sdbusplus"),
            Path::new("/logs/openbmc-sdbusplus.log")
        );
        assert_eq!(
            log_path(dir, "../up/and away"),
            Path::new("/logs/.._up_and_away.log")
        );
    }

    #[test]
    fn the_tail_keeps_only_output_lines_and_the_last_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = StageLog::open(Some(dir.path()), "s").expect("created");
        for i in 0..LOG_TAIL_LINES + 5 {
            log.line(&format!("line {i}"), |_| panic!("no write error"));
        }
        log.note("ERROR: it failed", |_| panic!("no write error"));
        let tail = log.into_tail();
        assert_eq!(tail.len(), LOG_TAIL_LINES);
        assert_eq!(tail[0], "line 5");
        assert_eq!(tail.last().map(String::as_str), Some("line 24"));
        let text = std::fs::read_to_string(dir.path().join("s.log")).expect("log");
        assert!(text.starts_with("line 0\n") && text.ends_with("line 24\nERROR: it failed\n"));
    }

    #[test]
    fn a_log_that_cannot_be_written_warns_once_and_stops() {
        let Ok(full) = File::options().write(true).open("/dev/full") else {
            return; // no /dev/full here: nothing to inject the error with
        };
        let mut log = StageLog {
            file: Some((PathBuf::from("/dev/full"), LineWriter::new(full))),
            tail: VecDeque::new(),
        };
        let mut warnings = Vec::new();
        log.line("one", |w| warnings.push(w.to_owned()));
        log.line("two", |w| warnings.push(w.to_owned()));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("could not write log file `/dev/full`")
                && warnings[0].contains("no longer logging this stage"),
            "{warnings:?}"
        );
        assert_eq!(log.into_tail(), ["one", "two"], "the tail is kept");
    }

    #[test]
    fn an_unusable_log_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let Err(e) = StageLog::open(Some(&missing), "s") else {
            panic!("created a log in a folder that does not exist");
        };
        assert!(
            e.contains("could not create log file") && e.contains("s.log"),
            "{e}"
        );
    }
}
