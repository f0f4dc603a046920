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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MANIFEST: &str = r#"#:schema ../schema/package.schema.json
# version from meta-openembedded/recipes-support/foo
#   (keep in sync with the yocto recipe)

name="leethomason/tinyxml2"
# the pinned release
rev   =   "v1"    # pinned
build_type = 'cmake'   # literal string

# options, with a trailing comma
config_flags = [
    "-DBUILD_TESTING=OFF",   # no tests
    "-DFOO=1",
]
'quoted key' = 'x'
depends = [ "a", "b", ]
count = 3

[env]
CC = "gcc"   # table value
"#;

    fn changed_lines(old: &str, new: &str) -> Vec<(String, String)> {
        let a: Vec<&str> = old.lines().collect();
        let b: Vec<&str> = new.lines().collect();
        assert_eq!(a.len(), b.len(), "line count changed:\n{new}");
        a.iter()
            .zip(&b)
            .filter(|(x, y)| x != y)
            .map(|(x, y)| ((*x).to_owned(), (*y).to_owned()))
            .collect()
    }

    #[test]
    fn bump_changes_exactly_one_line_keeping_spacing_and_comment() {
        let out = set_string(MANIFEST, "rev", "v2.0.1", Some("name")).expect("edit");
        let diff = changed_lines(MANIFEST, &out);
        assert_eq!(
            diff,
            vec![(
                r#"rev   =   "v1"    # pinned"#.to_owned(),
                r#"rev   =   "v2.0.1"    # pinned"#.to_owned()
            )]
        );
    }

    #[test]
    fn literal_string_stays_literal() {
        let out = set_string(MANIFEST, "build_type", "meson", None).expect("edit");
        let diff = changed_lines(MANIFEST, &out);
        assert_eq!(
            diff,
            vec![(
                "build_type = 'cmake'   # literal string".to_owned(),
                "build_type = 'meson'   # literal string".to_owned()
            )]
        );
    }

    #[test]
    fn literal_falls_back_to_basic_when_needed() {
        let out = set_string(MANIFEST, "build_type", "it's", None).expect("edit");
        let diff = changed_lines(MANIFEST, &out);
        assert_eq!(diff[0].1, r#"build_type = "it's"   # literal string"#);
    }

    #[test]
    fn quoted_key_is_editable_and_keeps_its_quotes() {
        let out = set_string(MANIFEST, "quoted key", "y", None).expect("edit");
        let diff = changed_lines(MANIFEST, &out);
        assert_eq!(
            diff,
            vec![("'quoted key' = 'x'".into(), "'quoted key' = 'y'".into())]
        );
    }

    #[test]
    fn value_needing_escapes_round_trips() {
        let v = "a\"b\\c\td\u{1}";
        let out = set_string(MANIFEST, "rev", v, None).expect("edit");
        let doc: DocumentMut = out.parse().expect("valid toml");
        assert_eq!(doc["rev"].as_str(), Some(v));
        assert_eq!(changed_lines(MANIFEST, &out).len(), 1);
    }

    #[test]
    fn unchanged_value_returns_identical_text() {
        let out = set_string(MANIFEST, "rev", "v1", None).expect("edit");
        assert_eq!(out, MANIFEST);
    }

    #[test]
    fn missing_key_is_inserted_after_anchor() {
        let text = "# head\nname = \"a/b\"  # the repo\n# about type\nbuild_type = \"meson\"\n";
        let out = set_string(text, "rev", "1.2", Some("name")).expect("edit");
        assert_eq!(
            out,
            "# head\nname = \"a/b\"  # the repo\nrev = \"1.2\"\n# about type\nbuild_type = \"meson\"\n"
        );
    }

    #[test]
    fn missing_key_and_anchor_appends_before_tables() {
        let text = "name = \"a/b\"\n\n[env]\nX = \"1\"\n";
        let out = set_string(text, "rev", "1.2", Some("nope")).expect("edit");
        let doc: DocumentMut = out.parse().expect("valid");
        assert_eq!(doc["rev"].as_str(), Some("1.2"));
        assert_eq!(doc["env"]["X"].as_str(), Some("1"));
        assert!(out.starts_with("name = \"a/b\"\nrev = \"1.2\"\n"), "{out}");
        // No anchor at all: same.
        let out2 = set_string(text, "rev", "1.2", None).expect("edit");
        assert_eq!(out, out2);
    }

    #[test]
    fn insert_after_the_last_key_and_in_manifest() {
        let out = set_string(MANIFEST, "branch", "main", Some("count")).expect("edit");
        assert!(out.contains("count = 3\nbranch = \"main\"\n"), "{out}");
        let out = set_string(MANIFEST, "branch", "main", Some("name")).expect("edit");
        assert!(out.contains("name=\"leethomason/tinyxml2\"\nbranch = \"main\"\n# the pinned release\nrev   =   \"v1\"    # pinned\n"), "{out}");
        // Everything else survives byte for byte.
        let removed: String = out.replacen("branch = \"main\"\n", "", 1);
        assert_eq!(removed, MANIFEST);
    }

    #[test]
    fn anchor_that_is_a_table_means_append() {
        let text = "a = \"1\"\n[env]\nX = \"1\"\n";
        let out = set_string(text, "rev", "2", Some("env")).expect("edit");
        assert_eq!(out, "a = \"1\"\nrev = \"2\"\n[env]\nX = \"1\"\n");
    }

    #[test]
    fn non_string_key_is_an_error_naming_the_type() {
        let err = set_string(MANIFEST, "count", "4", None).expect_err("must fail");
        assert!(err.to_string().contains("integer"), "{err}");
        let err = set_string(MANIFEST, "depends", "4", None).expect_err("must fail");
        assert!(err.to_string().contains("array"), "{err}");
        let err = set_string(MANIFEST, "env", "4", None).expect_err("must fail");
        assert!(err.to_string().contains("table"), "{err}");
        assert!(matches!(err, EditError::NotAString { found: "table", .. }));
    }

    #[test]
    fn invalid_toml_is_an_error_with_message() {
        let err = set_string("name = \"unterminated\n", "rev", "1", None).expect_err("must fail");
        match err {
            EditError::NotToml { message } => assert!(!message.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn base_template_pins_are_edited_in_place() {
        let base = "# Base image\ndistro = \"ubuntu:focal\"  # LTS\n\n# build tools\nmeson = \"0.54.3\"\ngcc_version = \"10\" # matches yocto\npackages = [\n  \"git\",  # vcs\n  \"cmake\",\n]\n";
        let out = set_string(base, "meson", "1.3.0", None).expect("edit");
        assert_eq!(
            changed_lines(base, &out),
            vec![("meson = \"0.54.3\"".into(), "meson = \"1.3.0\"".into())]
        );
        let out = set_string(&out, "gcc_version", "13", None).expect("edit");
        assert!(out.contains("gcc_version = \"13\" # matches yocto\n"));
        assert!(out.contains("  \"git\",  # vcs\n"));
    }

    #[test]
    fn crlf_line_endings_survive() {
        let text = "name = \"a\"\r\nrev = \"1\" # c\r\n";
        let out = set_string(text, "rev", "2", None).expect("edit");
        assert_eq!(out, "name = \"a\"\r\nrev = \"2\" # c\r\n");
        let out = set_string(text, "branch", "b", Some("name")).expect("edit");
        assert_eq!(
            out,
            "name = \"a\"\r\nbranch = \"b\"\r\nrev = \"2\" # c\r\n".replace('2', "1")
        );
    }

    #[test]
    fn insert_at_end_without_final_newline() {
        let out = set_string("name = \"a\" # x", "rev", "1", Some("name")).expect("edit");
        assert_eq!(out, "name = \"a\" # x\nrev = \"1\"\n");
    }

    #[test]
    fn insert_after_multiline_array_anchor() {
        let text = "deps = [\n  \"a\",\n  \"b\",\n] # end\nx = 1\n";
        let out = set_string(text, "rev", "1", Some("deps")).expect("edit");
        assert_eq!(
            out,
            "deps = [\n  \"a\",\n  \"b\",\n] # end\nrev = \"1\"\nx = 1\n"
        );
    }

    #[test]
    fn insert_into_document_without_values() {
        let out = set_string("# only a comment\n", "rev", "1", Some("name")).expect("edit");
        assert_eq!(out, "# only a comment\nrev = \"1\"\n");
        let out = set_string("", "rev", "1", None).expect("edit");
        assert_eq!(out, "rev = \"1\"\n");
        let out = set_string("[env]\nX = \"1\"\n", "rev", "1", None).expect("edit");
        let doc: DocumentMut = out.parse().expect("valid");
        assert_eq!(doc["rev"].as_str(), Some("1"));
        assert_eq!(doc["env"]["X"].as_str(), Some("1"));
    }

    #[test]
    fn multiline_string_becomes_basic() {
        let text = "rev = \"\"\"\nold\"\"\" # c\nz = 1\n";
        let out = set_string(text, "rev", "new", None).expect("edit");
        assert_eq!(out, "rev = \"new\" # c\nz = 1\n");
    }

    #[test]
    fn new_key_needing_quotes_is_quoted() {
        let out = set_string("a = 1\n", "odd key", "v", None).expect("edit");
        assert_eq!(out, "a = 1\n\"odd key\" = \"v\"\n");
    }

    proptest! {
        #[test]
        fn any_value_round_trips_and_touches_one_line(v in "\\PC{0,20}", literal in any::<bool>()) {
            let text = if literal {
                "# c\nname = 'n'\nrev =  'old'  # keep\nz = 1\n"
            } else {
                "# c\nname = 'n'\nrev =  \"old\"  # keep\nz = 1\n"
            };
            let out = set_string(text, "rev", &v, None).expect("edit");
            let doc: DocumentMut = out.parse().expect("valid");
            prop_assert_eq!(doc["rev"].as_str(), Some(v.as_str()));
            let a: Vec<&str> = text.lines().collect();
            let b: Vec<&str> = out.lines().collect();
            prop_assert_eq!(a.len(), b.len());
            let diffs = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            prop_assert!(diffs <= 1);
            prop_assert!(b[2].starts_with("rev =  ") && b[2].ends_with("  # keep"));
        }
    }

    // ---------------------------------------------------------------- write

    fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect()
    }

    #[test]
    fn write_atomic_replaces_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pkg.toml");
        std::fs::write(&p, "old\n").expect("seed");
        write_atomic(&p, "new contents\n").expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new contents\n");
        assert!(leftovers(dir.path(), &["pkg.toml"]).is_empty());
        // Creating a new file works too.
        let q = dir.path().join("fresh.toml");
        write_atomic(&q, "x").expect("write");
        assert_eq!(std::fs::read_to_string(&q).expect("read"), "x");
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("script.toml");
        std::fs::write(&p, "old").expect("seed");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&p, "new").expect("write");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_through_symlink_keeps_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.toml");
        let link = dir.path().join("link.toml");
        std::fs::write(&real, "old").expect("seed");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        write_atomic(&link, "new").expect("write");
        assert!(std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).expect("read"), "new");
    }

    #[cfg(unix)]
    #[test]
    fn replace_entry_replaces_a_planted_symlink_or_hard_link_not_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "keep").expect("seed");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        let link = out.join("base.Dockerfile");
        std::os::unix::fs::symlink(&precious, &link).expect("symlink");
        replace_entry(&link, "FROM x\n").expect("write");
        assert_eq!(std::fs::read_to_string(&precious).expect("read"), "keep");
        assert!(std::fs::symlink_metadata(&link).expect("meta").is_file());
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "FROM x\n");
        let hard = out.join("tags.txt");
        std::fs::hard_link(&precious, &hard).expect("hard link");
        replace_entry(&hard, "tags\n").expect("write");
        assert_eq!(std::fs::read_to_string(&precious).expect("read"), "keep");
        assert!(leftovers(&out, &["base.Dockerfile", "tags.txt"]).is_empty());
    }

    #[test]
    fn write_atomic_parent_is_a_file_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain");
        std::fs::write(&file, "original").expect("seed");
        let err = write_atomic(&file.join("child.toml"), "data");
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "original");
        assert!(leftovers(dir.path(), &["plain"]).is_empty());
    }

    #[test]
    fn write_atomic_target_is_directory_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("sub");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("inside"), "keep").expect("seed");
        let err = write_atomic(&target, "data").expect_err("must fail");
        assert!(err.to_string().contains("directory"), "{err}");
        assert!(target.is_dir());
        assert_eq!(
            std::fs::read_to_string(target.join("inside")).expect("read"),
            "keep"
        );
        assert!(leftovers(dir.path(), &["sub"]).is_empty());
    }

    #[test]
    fn concurrent_writers_never_tear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("race.toml");
        // Distinct, large-ish versions so a torn write would be visible.
        let versions: Vec<String> = (0..4)
            .map(|i| {
                let line = format!("writer{i} = \"{}\"\n", "x".repeat(64));
                line.repeat(2000)
            })
            .collect();
        write_atomic(&p, &versions[0]).expect("seed");
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let mut writers = Vec::new();
            for v in &versions {
                let p = &p;
                writers.push(s.spawn(move || {
                    for _ in 0..40 {
                        write_atomic(p, v).expect("write");
                    }
                }));
            }
            let reader = s.spawn(|| {
                let mut reads = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    let got = std::fs::read_to_string(&p).expect("read");
                    assert!(versions.contains(&got), "torn read of {} bytes", got.len());
                    reads += 1;
                }
                reads
            });
            for w in writers {
                w.join().expect("writer");
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().expect("reader") > 0);
        });
        let last = std::fs::read_to_string(&p).expect("read");
        assert!(versions.contains(&last));
        assert!(leftovers(dir.path(), &["race.toml"]).is_empty());
    }

    // ----------------------------------------------------------------- diff

    #[test]
    fn diff_of_equal_texts_is_empty() {
        assert_eq!(unified_diff("x", "a\nb\n", "a\nb\n"), "");
    }

    #[test]
    fn a_huge_diff_ends_and_is_still_a_diff() {
        // 1 MiB a side, nearly every line different: quadratic without
        // the deadline (minutes), a second or so with it.
        let side = |tag: &str| -> String {
            (0..50_000)
                .map(|i| {
                    if i % 50 == 0 {
                        "RUN true\n".to_owned()
                    } else {
                        format!("RUN {tag} {i:05} ........\n")
                    }
                })
                .collect()
        };
        let (old, new) = (side("old"), side("new"));
        assert!(old.len() > 1 << 20);
        let diff = unified_diff("big", &old, &new);
        assert!(
            diff.starts_with("--- a/big\n+++ b/big\n@@"),
            "{}",
            &diff[..200]
        );
        assert!(diff.contains("\n-RUN old 00001 ") && diff.contains("\n+RUN new 49999 "));
    }

    #[test]
    fn diff_single_line_change_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
        let d = unified_diff("packages.d/foo.toml", old, new);
        assert_eq!(
            d,
            "--- a/packages.d/foo.toml\n+++ b/packages.d/foo.toml\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn diff_separate_hunks_and_insertions() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_owned(),
                15 => "15\nnew\n".to_owned(),
                i => format!("{i}\n"),
            })
            .collect();
        let d = unified_diff("f", &old, &new);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(
            d.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"),
            "{d}"
        );
        assert!(
            d.contains("@@ -13,6 +13,7 @@\n 13\n 14\n 15\n+new\n 16\n 17\n 18\n"),
            "{d}"
        );
    }

    #[test]
    fn diff_from_and_to_empty() {
        assert_eq!(
            unified_diff("f", "", "a\n"),
            "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+a\n"
        );
        assert_eq!(
            unified_diff("f", "a\nb\n", ""),
            "--- a/f\n+++ b/f\n@@ -1,2 +0,0 @@\n-a\n-b\n"
        );
    }

    #[test]
    fn diff_marks_missing_final_newline() {
        let d = unified_diff("f", "a\nb", "a\nc");
        assert_eq!(
            d,
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        );
    }

    fn split_lines(s: &str) -> Vec<&str> {
        s.split_inclusive('\n').collect()
    }

    /// Applies a unified diff produced above back onto `old`.
    fn apply(old: &str, diff: &str) -> String {
        let a = split_lines(old);
        let mut out = String::new();
        let mut next = 0usize; // next old line (0-based) not yet copied
        let mut lines = diff.split_inclusive('\n').skip(2).peekable();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("@@ -") {
                let old_range = rest.split(' ').next().expect("range");
                let mut parts = old_range.split(',');
                let start: usize = parts.next().expect("start").parse().expect("num");
                let count: usize = parts.next().map_or(1, |c| c.parse().expect("num"));
                let begin = if count == 0 { start } else { start - 1 };
                while next < begin {
                    out.push_str(a[next]);
                    next += 1;
                }
                continue;
            }
            let no_nl = lines.peek().is_some_and(|l| l.starts_with('\\'));
            let body = &line[1..];
            let body = if no_nl {
                body.strip_suffix('\n').expect("nl")
            } else {
                body
            };
            if no_nl {
                lines.next();
            }
            match line.as_bytes()[0] {
                b' ' => {
                    out.push_str(body);
                    next += 1;
                }
                b'-' => next += 1,
                b'+' => out.push_str(body),
                other => panic!("bad line start {other}"),
            }
        }
        while next < a.len() {
            out.push_str(a[next]);
            next += 1;
        }
        out
    }

    proptest! {
        #[test]
        fn diff_applies_back(
            old in proptest::collection::vec("[abc]", 0..15),
            new in proptest::collection::vec("[abc]", 0..15),
            old_nl in any::<bool>(),
            new_nl in any::<bool>(),
        ) {
            let mut o = old.join("\n");
            if old_nl && !o.is_empty() { o.push('\n'); }
            let mut n = new.join("\n");
            if new_nl && !n.is_empty() { n.push('\n'); }
            let d = unified_diff("f", &o, &n);
            if o == n {
                prop_assert!(d.is_empty());
            } else {
                prop_assert_eq!(apply(&o, &d), n);
            }
        }
    }
}
