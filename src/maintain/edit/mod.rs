//! Format-preserving edits of TOML manifests, atomic file replacement and
//! small unified diffs for `--dry-run` previews.
//!
//! Owns: changing ONE top-level string key of a TOML document while keeping
//! every other byte (comments, key order, spacing, quoting, the edited line's
//! trailing comment) as it was; writing a file so that readers only ever see
//! the old or the new complete contents (and, rewritten in place, keeps the
//! old on any error, a full disk included); naming its temporary files so
//! that those of a killed edit are found and removed; rendering a unified
//! diff.
//!
//! Must not: decide *what* to write (version choice lives in
//! `crate::maintain::versions`, remote lookups in `crate::run::lsremote`), validate manifests
//! against the schema, touch the network, or reformat anything it was not
//! asked to change.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use toml_edit::{Document, DocumentMut, Item, Key, Value};

/// Why a format-preserving edit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The input text is not a valid TOML document.
    #[error("not valid TOML: {message}")]
    NotToml {
        /// The parser's message (includes line/column).
        message: String,
    },
    /// The key exists but holds something other than a string.
    #[error("key `{key}` is a {found}, not a string; refusing to overwrite it")]
    NotAString {
        /// The offending top-level key.
        key: String,
        /// TOML type name of what is there (e.g. "integer", "array", "table").
        found: &'static str,
    },
    /// The edited text did not re-parse to the requested value (a bug).
    #[error("internal error: editing `{key}` produced unexpected TOML: {message}")]
    Verify {
        /// The key being edited.
        key: String,
        /// What went wrong.
        message: String,
    },
}

/// Quote style of a TOML string as it appears in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteStyle {
    Basic,
    Literal,
}

/// Sets the top-level `key` of the TOML document `text` to the string
/// `value`, returning the new text.
///
/// toml_edit parses the document and locates the value; the new value is
/// then spliced into the original text, so every other byte is kept exactly
/// (comments, key order, spacing around `=`, the line's trailing comment,
/// CRLF line endings, other keys). A key written as a literal string (`'x'`)
/// stays literal if the new value can be written as one; otherwise a basic
/// (`"…"`) string is used.
///
/// If `key` is absent it is inserted as `key = "value"` on its own line right
/// after the line of the top-level `insert_after` key (when that exists and
/// is a plain value), else after the last top-level key (i.e. before any
/// `[table]`).
pub fn set_string(
    text: &str,
    key: &str,
    value: &str,
    insert_after: Option<&str>,
) -> Result<String, EditError> {
    let doc = Document::parse(text).map_err(|e| EditError::NotToml {
        message: e.to_string().trim_end().to_owned(),
    })?;
    let root = doc.as_table();

    let out = if let Some(item) = root.get(key) {
        let span = match item {
            Item::Value(v @ Value::String(_)) => v.span(),
            other => {
                return Err(EditError::NotAString {
                    key: key.to_owned(),
                    found: other.type_name(),
                })
            }
        };
        let Some(span) = span.filter(|s| text.get(s.clone()).is_some()) else {
            return fallback_set(text, key, value);
        };
        let raw = &text[span.clone()];
        let style = if raw.starts_with('\'') {
            QuoteStyle::Literal
        } else {
            QuoteStyle::Basic
        };
        let repr = string_repr(value, style);
        if repr == raw {
            return Ok(text.to_owned());
        }
        format!("{}{}{}", &text[..span.start], repr, &text[span.end..])
    } else {
        let anchor_end = insert_after
            .and_then(|a| root.get(a))
            .filter(|i| i.is_value())
            .and_then(Item::span);
        let last_value_end = root
            .iter()
            .filter(|(_, i)| i.is_value())
            .filter_map(|(_, i)| i.span())
            .map(|s| s.end)
            .max();
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let line = format!(
            "{} = {}",
            Key::new(key).display_repr(),
            string_repr(value, QuoteStyle::Basic)
        );
        let after = match anchor_end.map(|s| s.end).or(last_value_end) {
            Some(after) => after,
            // Only comments/whitespace: append at the end.
            None if root.is_empty() => text.len(),
            None => return fallback_set(text, key, value),
        };
        match text[after..].find('\n') {
            Some(i) => {
                let at = after + i + 1;
                format!("{}{line}{nl}{}", &text[..at], &text[at..])
            }
            None => {
                let sep = if text.is_empty() || text.ends_with('\n') {
                    ""
                } else {
                    nl
                };
                format!("{text}{sep}{line}{nl}")
            }
        }
    };
    verify(&out, key, value)?;
    Ok(out)
}

/// The whole-document route, for the rare shapes the splice cannot handle
/// (no top-level values to anchor on, value without a source span).
fn fallback_set(text: &str, key: &str, value: &str) -> Result<String, EditError> {
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| EditError::NotToml {
                message: e.to_string().trim_end().to_owned(),
            })?;
    doc.insert(key, Item::Value(Value::from(value)));
    let out = doc.to_string();
    verify(&out, key, value)?;
    Ok(out)
}

/// Re-parses the edited text and checks the key now holds `value`.
fn verify(out: &str, key: &str, value: &str) -> Result<(), EditError> {
    let doc: DocumentMut = out
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Verify {
            key: key.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
    match doc.get(key).and_then(Item::as_str) {
        Some(v) if v == value => Ok(()),
        _ => Err(EditError::Verify {
            key: key.to_owned(),
            message: "the key does not hold the new value".to_owned(),
        }),
    }
}

/// `value` as TOML source with the requested quoting (a basic string when a
/// literal string cannot hold it).
fn string_repr(value: &str, style: QuoteStyle) -> String {
    let can_be_literal = !value
        .chars()
        .any(|c| c == '\'' || (c.is_control() && c != '\t'));
    if style == QuoteStyle::Literal && can_be_literal {
        format!("'{value}'")
    } else {
        basic_repr(value)
    }
}

/// `value` as a TOML basic string, quotes included (toml_edit's escaping).
fn basic_repr(value: &str) -> String {
    toml_edit::Value::from(value).to_string().trim().to_owned()
}

/// Replaces the file at `path` with `contents`, keeping its owner, group
/// and mode.
///
/// Normally the data goes to a temporary file in the same directory, is
/// flushed and `fsync`ed, given the original file's mode, owner and group,
/// and then renamed over the target, so concurrent readers see either the
/// old or the new complete contents, never a mix. On any error the temporary
/// file is removed and the original is left untouched. If `path` is a
/// symlink, the file it points to is replaced (the link itself is kept).
///
/// A rename would break hard links, and would change the owner when this
/// process may not give the new file the old one's: in those two cases the
/// file is rewritten in place instead (same inode; callers serialise their
/// edits with [`RootLock`]), never truncated before the new text has its
/// space: see [`write_in_place`].
///
/// The temporary file is named `.<file>.bud-tmp-<pid>-XXXXXX`, so one left
/// by a killed edit is recognised and removed by the next edit of the root
/// ([`remove_stale_temp_files`]).
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let target = resolve_symlink(path)?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = match std::fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if existing.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(std::io::Error::other(format!(
            "{} is a directory, not a file",
            target.display()
        )));
    }
    if existing.as_ref().is_some_and(|m| m.nlink() > 1) {
        return write_in_place(&target, contents);
    }

    // From here on, dropping `tmp` (on any early return) deletes the file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&target))
        .tempfile_in(&dir)?;
    tmp.write_all(contents.as_bytes())?;
    tmp.flush()?;
    if let Some(meta) = &existing {
        tmp.as_file().set_permissions(meta.permissions())?;
        let owner = (
            rustix::fs::Uid::from_raw(meta.uid()),
            rustix::fs::Gid::from_raw(meta.gid()),
        );
        if rustix::fs::fchown(tmp.as_file(), Some(owner.0), Some(owner.1)).is_err() {
            // Not allowed to hand the file to its owner: keep the inode.
            drop(tmp);
            return write_in_place(&target, contents);
        }
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;

    // Make the rename itself durable; best effort (not all platforms allow
    // opening a directory for sync).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a file the tool makes (`render --out`, `man --out`) at `path`:
/// `contents` go to a temporary file in the same folder, are `fsync`ed and
/// renamed over `path`, so the entry itself is replaced. Unlike
/// [`write_atomic`] (for the root's own files, whose links are kept),
/// nothing found at `path` is followed or written through: a symlink or a
/// hard link planted there is replaced, its target keeps its text.
pub fn replace_entry(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(std::io::Error::other(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .tempfile_in(&dir)?;
    tmp.write_all(contents.as_bytes())?;
    tmp.flush()?;
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile makes 0600; an output file is for everyone to read.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What the temporary files of [`write_atomic`] are called, between the
/// leading `.<file>` and the pid (`validate` knows them by it too).
use crate::model::sources::EDIT_TEMP_MARK as TEMP_MARK;

/// `.<file>.bud-tmp-<pid>-`: the start of a temporary file's name for
/// `target`.
fn temp_prefix(target: &Path) -> String {
    let file = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{file}{TEMP_MARK}{}-", std::process::id())
}

/// Removes the temporary files that killed edits left in `dirs`: those
/// named by [`write_atomic`] whose writer is gone or that are older than a
/// minute. Call it holding the root's [`RootLock`] (every edit writes
/// under it, so none of them is being written). The names removed.
pub fn remove_stale_temp_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix('.')
                .and_then(|n| n.split_once(TEMP_MARK))
                .and_then(|(_, rest)| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let writer_gone = rustix::process::Pid::from_raw(pid)
                .is_none_or(|p| rustix::process::test_kill_process(p).is_err());
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60));
            let mine = pid == i32::try_from(std::process::id()).unwrap_or(0);
            if (writer_gone || old) && !mine && std::fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

/// Rewrites `target` in place (same inode, so owner, mode and hard links
/// stay), then `fsync`s it, so that on any error it still holds its old
/// text: the space the new text needs is reserved first (`fallocate`, where
/// the filesystem has it; a full disk fails here, before anything was
/// written), the part past the old end is written next (a failure there is
/// undone by cutting the file back to its old length), and only then are
/// the old bytes overwritten and the file cut to the new length. A failure
/// in that last step writes the old text back.
fn write_in_place(target: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Read as _;
    use std::os::unix::fs::FileExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(target)?;
    let mut old = Vec::new();
    f.read_to_end(&mut old)?;
    let new = contents.as_bytes();
    let (old_len, new_len) = (old.len() as u64, new.len() as u64);
    if new_len > 0 {
        match rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::KEEP_SIZE, 0, new_len) {
            Ok(()) => {}
            // Not every filesystem can reserve: the steps below still keep
            // the old text on a full disk.
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if new.len() > old.len() {
        let grown = f
            .write_all_at(&new[old.len()..], old_len)
            .and_then(|()| f.sync_data());
        if let Err(e) = grown {
            let _ = f.set_len(old_len);
            let _ = f.sync_all();
            return Err(e);
        }
    }
    let shared = new.len().min(old.len());
    let replaced = f
        .write_all_at(&new[..shared], 0)
        .and_then(|()| f.set_len(new_len))
        .and_then(|()| f.sync_all());
    if let Err(e) = replaced {
        let _ = f
            .write_all_at(&old, 0)
            .and_then(|()| f.set_len(old_len))
            .and_then(|()| f.sync_all());
        return Err(e);
    }
    Ok(())
}

/// An exclusive lock on a project root, held while an edit reads, checks
/// and writes its files, so that concurrent edits (two `bump`s) apply one
/// after the other, each to what the other wrote. Released on drop.
#[derive(Debug)]
pub struct RootLock {
    _dir: std::fs::File,
}

impl RootLock {
    /// Takes the lock on `root` (flock on the directory); `on_wait` is
    /// called once if another edit holds it, then this waits for it for at
    /// most `timeout`, giving up early when `give_up` says so.
    pub fn acquire(
        root: &Path,
        timeout: std::time::Duration,
        on_wait: impl FnOnce(),
        give_up: impl Fn() -> bool,
    ) -> std::io::Result<RootLock> {
        use rustix::fs::{flock, FlockOperation};
        let dir = std::fs::File::open(root)?;
        if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_ok() {
            return Ok(RootLock { _dir: dir });
        }
        on_wait();
        let deadline = std::time::Instant::now() + timeout;
        // Contention only: another edit holds the lock for a moment.
        while std::time::Instant::now() < deadline && !give_up() {
            std::thread::sleep(std::time::Duration::from_millis(25));
            if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_ok() {
                return Ok(RootLock { _dir: dir });
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!(
                "another edit of {} held its lock for {}s",
                root.display(),
                timeout.as_secs()
            ),
        ))
    }
}

/// Follows `path` if it is a symlink (so the link survives the rename).
fn resolve_symlink(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

/// Lines of context around each change in [`unified_diff`].
const CONTEXT: usize = 3;
/// The most time [`unified_diff`] spends looking for the shortest diff.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// Renders a unified diff of `old` → `new` (`--- a/<label>`, `+++ b/<label>`,
/// `@@` hunks with up to 3 lines of context), or an empty string when the
/// texts are equal. A last line without a newline is marked
/// `\ No newline at end of file`.
pub fn unified_diff(path_label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    // A deadline keeps a huge input from taking quadratic time: past it
    // the diff is still right, only less minimal.
    similar::TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .header(&format!("a/{path_label}"), &format!("b/{path_label}"))
        .to_string()
}

#[cfg(test)]
mod tests;
