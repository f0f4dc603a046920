//! What this machine knows about the images it made: for each root (and
//! image name and BRANCH setting) the last tag of every stage and how long
//! its last build took, and for each tag the Dockerfile it was built from
//! and when it was last used. `explain` and the build-time priorities read
//! it; `build` writes it.
//!
//! Owns: the one store file (`<cache folder>/store.sqlite`), its schema,
//! its bound, recovering from a corrupt or unusable file. Must not: decide
//! what builds, read the environment (the command layer resolves the
//! folder and passes the key), print (the one warning a run may get is
//! handed to the command layer), or ever fail a build: every error ends in
//! [`Store::warning`] and a run without the store.
//!
//! **Why SQLite** (bundled through `rusqlite`, so the same library
//! everywhere): a run reads only its own stages through the primary keys,
//! O(stages of the plan) whatever else the file holds, instead of walking a
//! folder; writes are transactions, so two builds of the same root at once
//! each land whole (`BEGIN IMMEDIATE` + a busy timeout: the second waits);
//! a torn or foreign file is detected (`SQLITE_NOTADB`/`SQLITE_CORRUPT`)
//! instead of being half read. The rollback journal is used, not WAL: a run
//! that changes nothing then writes nothing at all (WAL makes and removes
//! `-wal`/`-shm` files on every open), and there is no shared-memory file
//! that a network-mounted home folder would break.
//!
//! **Keys.** A stage's record is keyed by (canonical root path, image name,
//! BRANCH, stage): two roots, image names or branches never read each
//! other's entries. Dockerfiles are kept by tag: a tag is named by the hash
//! of its Dockerfile, so one tag's text is the same whichever root made it;
//! `explain` reads another tag only for a stage this root has no record of,
//! and only one the engine still has.
//!
//! **The bound** ([`LIMITS`]): at most 32 MiB of Dockerfiles in all (one
//! larger than 1 MiB is not kept: its tag is, with "not kept"), at most
//! 20,000 stage records and 20,000 tags; past that the least recently used
//! go first (this run's entries last). Freed pages are returned to the file
//! system (`auto_vacuum = INCREMENTAL`), so the file stays under 48 MiB
//! (the text, 800 bytes a record, a few pages; tested with small limits). A tag's "last used" time is refreshed
//! when it is more than an hour old, so repeated no-op runs do not write.
//!
//! **Hardening.** The file and its journals are looked at with `lstat`
//! before SQLite opens them, which it does with `SQLITE_OPEN_NOFOLLOW`: a
//! symlink, FIFO or device planted there is never opened, followed or
//! replaced (one warning names it). Times read back are range-checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

/// The store's file name in the cache folder.
pub const FILE: &str = "store.sqlite";
/// The schema this build reads and writes (`PRAGMA user_version`).
const SCHEMA: i64 = 1;
/// How long a build waits for another one's write.
const BUSY: Duration = Duration::from_secs(10);
/// A tag's or stage's "last used" older than this is refreshed.
pub const FRESH_SECS: i64 = 3600;
/// A recorded build time longer than this is not believed.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// How much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Dockerfile text in all, in bytes.
    pub text_bytes: u64,
    /// The largest Dockerfile kept.
    pub one_text: usize,
    /// Stage records (all roots) and tags, each.
    pub rows: u64,
}

/// What the store keeps on a real machine.
pub const LIMITS: Limits = Limits {
    text_bytes: 32 << 20,
    one_text: 1 << 20,
    rows: 20_000,
};

#[cfg(test)]
/// Room a stage record and a tag (with their index entries and the slack
/// of half-full pages) take at most, besides the text.
const ROW_BYTES: u64 = 800;

#[cfg(test)]
impl Limits {
    /// The most the store file may grow to: the text, the rows, and the
    /// schema's few pages.
    pub fn file_bytes(&self) -> u64 {
        self.text_bytes + self.rows * ROW_BYTES + (64 << 10)
    }
}

/// Whose records a store reads and writes.
#[derive(Debug, Clone)]
pub struct Key {
    /// The root, canonical (the command layer resolves it).
    pub root: String,
    /// The image name (DOCKER_IMAGE_NAME).
    pub image: String,
    /// The BRANCH setting.
    pub branch: String,
}

/// A stage that exists after a run, to record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub stage: &'a str,
    pub tag: &'a str,
    pub dockerfile: &'a str,
    /// How long it took when this run built it; None when it was there.
    pub seconds: Option<f64>,
}

/// A stage as this root last had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    pub tag: String,
    /// Its Dockerfile, unless it was too large to keep or went to the bound.
    pub dockerfile: Option<String>,
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create the folder and the file when missing; write what a run made.
    Write,
    /// Only read (`explain`): a missing file is an empty store.
    Read,
}

/// The store of one run. Never fails: an error becomes the run's one
/// [`Store::warning`] and the store is empty from then on.
pub struct Store {
    db: Option<Connection>,
    path: PathBuf,
    key: Key,
    mode: Mode,
    limits: Limits,
    /// This key's id, once looked up (None inside: not in the file yet).
    scope: Option<Option<i64>>,
    warning: Option<String>,
    /// A corrupt file is replaced once a run, not in a loop.
    replaced: bool,
}

impl Store {
    /// Opens the store in `dir` for `key`.
    pub fn open(dir: &Path, key: Key, mode: Mode) -> Store {
        Store::open_with(dir, key, mode, LIMITS)
    }

    /// [`Store::open`] with other limits (tests).
    pub fn open_with(dir: &Path, key: Key, mode: Mode, limits: Limits) -> Store {
        let mut store = Store {
            db: None,
            path: dir.join(FILE),
            key,
            mode,
            limits,
            scope: None,
            warning: None,
            replaced: false,
        };
        if mode == Mode::Write {
            if let Err(e) = std::fs::create_dir_all(dir) {
                store.warn(format!(
                    "the cache folder {} cannot be made ({e}); nothing is recorded in this run",
                    dir.display()
                ));
                return store;
            }
        }
        store.connect();
        store
    }

    /// The one warning of this run, if the store could not be used as is.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    fn warn(&mut self, message: String) {
        if self.warning.is_none() {
            self.warning = Some(message);
        }
    }

    /// Opens the file (after checking that it and its journals are plain
    /// files) and makes sure it has this schema.
    fn connect(&mut self) {
        self.db = None;
        self.scope = None;
        for path in self.files() {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if !m.file_type().is_file() => {
                    let what = kind_of(&m.file_type());
                    self.warn(format!(
                        "{} is {what}, not the build store's file; it is left alone and this run \
                         goes on without the store (remove it to start afresh)",
                        path.display()
                    ));
                    return;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if path == self.path && self.mode == Mode::Read {
                        return;
                    }
                }
                Err(e) => {
                    self.warn(format!(
                        "{} cannot be looked at ({e}); this run goes on without the store",
                        path.display()
                    ));
                    return;
                }
            }
        }
        let flags = match self.mode {
            Mode::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            Mode::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let created = !self.path.exists();
        if created && self.mode == Mode::Write {
            // Made here, readable by this user only (a Dockerfile may hold
            // a proxy's password); SQLite gives its journal the same mode.
            use std::os::unix::fs::OpenOptionsExt;
            let made = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&self.path);
            if let Err(e) = made.map(drop) {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    self.warn(format!(
                        "{} cannot be made ({e}); this run goes on without the store",
                        self.path.display()
                    ));
                    return;
                }
            }
        }
        let opened = Connection::open_with_flags(&self.path, flags).and_then(|db| {
            db.busy_timeout(BUSY)?;
            Ok(db)
        });
        match opened {
            Ok(db) => self.db = Some(db),
            Err(e) => return self.fail(e),
        }
        if let Err(e) = self.ensure_schema() {
            return self.fail(e);
        }
        if created && self.mode == Mode::Write {
            self.forget_old_folder();
        }
    }

    /// The file and the journals SQLite may open beside it.
    fn files(&self) -> [PathBuf; 4] {
        let with = |suffix: &str| {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            PathBuf::from(p)
        };
        [
            self.path.clone(),
            with("-journal"),
            with("-wal"),
            with("-shm"),
        ]
    }

    /// Earlier versions kept `<cache>/dockerfiles/<stage>/…`: removed once,
    /// when the store is made, without following a symlink (a symlink
    /// there is left alone).
    fn forget_old_folder(&self) {
        let Some(dir) = self.path.parent().map(|d| d.join("dockerfiles")) else {
            return;
        };
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_dir()) {
            // Best effort: what cannot be removed stays, and is never read.
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    fn ensure_schema(&mut self) -> rusqlite::Result<()> {
        let Some(db) = self.db.as_mut() else {
            return Ok(());
        };
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == SCHEMA {
            return Ok(());
        }
        if version > SCHEMA {
            self.newer_schema(version);
            return Ok(());
        }
        if self.mode == Mode::Read {
            // An empty file (being made by a build now): nothing to read.
            self.db = None;
            return Ok(());
        }
        // Before the first table, or it cannot be set.
        db.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another build may have made it while this one waited.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS scopes(
                     id INTEGER PRIMARY KEY,
                     root TEXT NOT NULL, image TEXT NOT NULL, branch TEXT NOT NULL,
                     UNIQUE(root, image, branch)) STRICT;
                 CREATE TABLE IF NOT EXISTS stages(
                     scope INTEGER NOT NULL, stage TEXT NOT NULL, tag TEXT NOT NULL,
                     seconds REAL, used INTEGER NOT NULL,
                     PRIMARY KEY(scope, stage)) STRICT, WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS dockerfiles(
                     tag TEXT PRIMARY KEY, repo TEXT NOT NULL,
                     used INTEGER NOT NULL, bytes INTEGER NOT NULL) STRICT;
                 CREATE INDEX IF NOT EXISTS dockerfiles_repo ON dockerfiles(repo, used);
                 CREATE TABLE IF NOT EXISTS texts(
                     tag TEXT PRIMARY KEY, text TEXT NOT NULL) STRICT;
                 PRAGMA user_version = 1;",
            )?;
        }
        tx.commit()?;
        if version > SCHEMA {
            // A newer tool made it meanwhile.
            self.newer_schema(version);
        }
        Ok(())
    }

    /// A newer tool's file (schema `version`): left as it is, and this run
    /// goes on without it, saying so.
    fn newer_schema(&mut self, version: i64) {
        self.db = None;
        self.warn(format!(
            "{} was made by a newer version of this tool (schema {version}); this run \
             goes on without it",
            self.path.display()
        ));
    }

    /// An error of the file: a corrupt one is replaced by an empty store
    /// (once a run, and only when writing); any other turns the store off
    /// for the run. Either way, one warning.
    fn fail(&mut self, e: rusqlite::Error) {
        self.db = None;
        self.scope = None;
        let corrupt = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        );
        if corrupt && self.mode == Mode::Write && !self.replaced {
            self.replaced = true;
            let mut removed = true;
            for path in self.files() {
                // Only regular files: connect() refused anything else.
                if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
                    removed &= std::fs::remove_file(&path).is_ok();
                }
            }
            self.warn(format!(
                "{} was not a readable build store ({e}); {}",
                self.path.display(),
                if removed {
                    "it was replaced by an empty one"
                } else {
                    "it could not be removed, and this run goes on without the store"
                }
            ));
            if removed {
                self.connect();
            }
            return;
        }
        self.warn(format!(
            "the build store {}: {e}; this run goes on without it",
            self.path.display()
        ));
    }

    /// Runs `f` on the open file; an error goes to [`Store::fail`] and
    /// the answer is `T::default()`.
    fn with<T: Default>(
        &mut self,
        f: impl FnOnce(&mut Connection, Option<i64>) -> rusqlite::Result<T>,
    ) -> T {
        let scope = match self.scope_id() {
            Ok(s) => s,
            Err(e) => {
                self.fail(e);
                return T::default();
            }
        };
        let Some(db) = self.db.as_mut() else {
            return T::default();
        };
        match f(db, scope) {
            Ok(v) => v,
            Err(e) => {
                self.fail(e);
                T::default()
            }
        }
    }

    fn scope_id(&mut self) -> rusqlite::Result<Option<i64>> {
        if let Some(s) = self.scope {
            return Ok(s);
        }
        let Some(db) = self.db.as_ref() else {
            return Ok(None);
        };
        let id = db
            .prepare_cached("SELECT id FROM scopes WHERE root = ?1 AND image = ?2 AND branch = ?3")?
            .query_row(
                params![self.key.root, self.key.image, self.key.branch],
                |r| r.get(0),
            )
            .optional()?;
        self.scope = Some(id);
        Ok(id)
    }

    /// How long each of `stages` took when this key last built it.
    pub fn seconds(&mut self, stages: &[&str]) -> Vec<Option<f64>> {
        let found = self.with(|db, scope| {
            let Some(scope) = scope else {
                return Ok(Vec::new());
            };
            // One read transaction: SQLite checks for a journal once, not
            // once a stage.
            let tx = db.transaction()?;
            let mut out = Vec::with_capacity(stages.len());
            {
                let mut q = tx
                    .prepare_cached("SELECT seconds FROM stages WHERE scope = ?1 AND stage = ?2")?;
                for stage in stages {
                    let s: Option<Option<f64>> = q
                        .query_row(params![scope, stage], |r| r.get(0))
                        .optional()?;
                    out.push(
                        s.flatten()
                            .filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s)),
                    );
                }
            }
            tx.commit()?;
            Ok(out)
        });
        if found.len() == stages.len() {
            found
        } else {
            vec![None; stages.len()]
        }
    }

    /// What this key last had as `stage`.
    pub fn last(&mut self, stage: &str) -> Option<Last> {
        self.with(|db, scope| {
            let Some(scope) = scope else {
                return Ok(None);
            };
            db.prepare_cached(
                "SELECT s.tag, t.text FROM stages s LEFT JOIN texts t ON t.tag = s.tag
                 WHERE s.scope = ?1 AND s.stage = ?2",
            )?
            .query_row(params![scope, stage], |r| {
                Ok(Last {
                    tag: r.get(0)?,
                    dockerfile: r.get(1)?,
                })
            })
            .optional()
        })
    }

    /// The most recently used tag of `repo` (`{image}-{stage}`) whose
    /// Dockerfile is kept and for which `present` holds, with that text.
    pub fn newest(
        &mut self,
        repo: &str,
        present: impl Fn(&str) -> bool,
    ) -> Option<(String, String)> {
        self.with(|db, _| {
            let mut q = db.prepare_cached(
                "SELECT d.tag, t.text FROM dockerfiles d JOIN texts t ON t.tag = d.tag
                 WHERE d.repo = ?1 ORDER BY d.used DESC",
            )?;
            let mut rows = q.query(params![repo])?;
            while let Some(row) = rows.next()? {
                let tag: String = row.get(0)?;
                if present(&tag) {
                    return Ok(Some((tag, row.get(1)?)));
                }
            }
            Ok(None)
        })
    }

    /// Records the stages that exist after a run, at `now` (Unix seconds).
    /// Writes only what changed (a new tag, a build time, a "last used"
    /// older than [`FRESH_SECS`]), in one transaction, then holds the bound.
    pub fn record(&mut self, entries: &[Entry<'_>], now: i64) {
        if self.mode != Mode::Write || entries.is_empty() {
            return;
        }
        let stale = self.with(|db, scope| stale(db, scope, entries, now));
        if stale.is_empty() || self.db.is_none() {
            return;
        }
        let (key, limits) = (self.key.clone(), self.limits);
        let wrote = self.with(|db, _| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let scope = scope_of(&tx, &key)?;
            write(&tx, scope, &stale, entries, now, &limits)?;
            tx.commit()?;
            Ok(Some(scope))
        });
        if let Some(scope) = wrote {
            self.scope = Some(Some(scope));
        }
    }
}

/// The indices of `entries` that need writing.
fn stale(
    db: &mut Connection,
    scope: Option<i64>,
    entries: &[Entry<'_>],
    now: i64,
) -> rusqlite::Result<Vec<usize>> {
    let Some(scope) = scope else {
        return Ok((0..entries.len()).collect());
    };
    let fresh = |used: i64| used <= now && now - used < FRESH_SECS;
    // One read transaction (see `Store::seconds`); it writes nothing.
    let tx = db.transaction()?;
    let mut q = tx.prepare_cached(
        "SELECT s.tag, s.used, d.used FROM stages s LEFT JOIN dockerfiles d ON d.tag = s.tag
         WHERE s.scope = ?1 AND s.stage = ?2",
    )?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let row: Option<(String, i64, Option<i64>)> = q
            .query_row(params![scope, e.stage], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let same = row.is_some_and(|(tag, used, tag_used)| {
            tag == e.tag && fresh(used) && tag_used.is_some_and(fresh)
        });
        if !same || e.seconds.is_some() {
            out.push(i);
        }
    }
    drop(q);
    tx.commit()?;
    Ok(out)
}

fn scope_of(tx: &rusqlite::Transaction<'_>, key: &Key) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO scopes(root, image, branch) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![key.root, key.image, key.branch],
    )?;
    tx.query_row(
        "SELECT id FROM scopes WHERE root = ?1 AND image = ?2 AND branch = ?3",
        params![key.root, key.image, key.branch],
        |r| r.get(0),
    )
}

/// The repository part of a tag (`{image}-{stage}` of `…:2026-W48-…`).
pub fn repo_of(tag: &str) -> &str {
    match tag.rsplit_once(':') {
        Some((repo, t)) if !t.contains('/') => repo,
        _ => tag,
    }
}

fn write(
    tx: &rusqlite::Transaction<'_>,
    scope: i64,
    stale: &[usize],
    entries: &[Entry<'_>],
    now: i64,
    limits: &Limits,
) -> rusqlite::Result<()> {
    let mut new_texts = Vec::new();
    for e in stale.iter().map(|&i| &entries[i]) {
        let seconds = e
            .seconds
            .filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s));
        tx.prepare_cached(
            "INSERT INTO stages(scope, stage, tag, seconds, used) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(scope, stage) DO UPDATE SET tag = excluded.tag, used = excluded.used,
                 seconds = coalesce(excluded.seconds, stages.seconds)",
        )?
        .execute(params![scope, e.stage, e.tag, seconds, now])?;
        let known = tx
            .prepare_cached("UPDATE dockerfiles SET used = ?2 WHERE tag = ?1")?
            .execute(params![e.tag, now])?;
        if known == 0 && !new_texts.iter().any(|t: &&Entry<'_>| t.tag == e.tag) {
            new_texts.push(e);
        }
    }
    // Room first, then the new texts: the file never holds both.
    let max = i64::try_from(limits.text_bytes).unwrap_or(i64::MAX);
    let size = |text: &str| i64::try_from(text.len()).unwrap_or(i64::MAX);
    let incoming: i64 = new_texts
        .iter()
        .filter(|e| e.dockerfile.len() <= limits.one_text)
        .map(|e| size(e.dockerfile))
        .sum();
    let mut total: i64 =
        tx.query_row("SELECT coalesce(sum(bytes), 0) FROM dockerfiles", [], |r| {
            r.get(0)
        })?;
    let mut freed = false;
    if total + incoming > max {
        let want = max - incoming.min(max);
        let oldest: Vec<(String, i64)> = tx
            .prepare(
                "SELECT tag, bytes FROM dockerfiles WHERE bytes > 0 AND used < ?1 ORDER BY used",
            )?
            .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (tag, bytes) in oldest {
            if total <= want {
                break;
            }
            tx.execute("DELETE FROM texts WHERE tag = ?1", params![tag])?;
            tx.execute(
                "UPDATE dockerfiles SET bytes = 0 WHERE tag = ?1",
                params![tag],
            )?;
            total -= bytes;
            freed = true;
        }
    }
    for e in new_texts {
        let len = size(e.dockerfile);
        let keep = e.dockerfile.len() <= limits.one_text && total + len <= max;
        if keep {
            tx.prepare_cached("INSERT OR REPLACE INTO texts(tag, text) VALUES (?1, ?2)")?
                .execute(params![e.tag, e.dockerfile])?;
            total += len;
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO dockerfiles(tag, repo, used, bytes) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            e.tag,
            repo_of(e.tag),
            now,
            if keep { len } else { 0 }
        ])?;
    }
    // The row bounds: the least recently used go.
    let limit = i64::try_from(limits.rows).unwrap_or(i64::MAX);
    let over = |table: &str| -> rusqlite::Result<i64> {
        let n: i64 = tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        Ok((n - limit).max(0))
    };
    let n = over("stages")?;
    if n > 0 {
        tx.execute(
            "DELETE FROM stages WHERE (scope, stage) IN
                 (SELECT scope, stage FROM stages ORDER BY used LIMIT ?1)",
            params![n],
        )?;
        tx.execute(
            "DELETE FROM scopes WHERE id NOT IN (SELECT DISTINCT scope FROM stages)",
            [],
        )?;
        freed = true;
    }
    let n = over("dockerfiles")?;
    if n > 0 {
        tx.execute(
            "DELETE FROM texts WHERE tag IN (SELECT tag FROM dockerfiles ORDER BY used LIMIT ?1)",
            params![n],
        )?;
        tx.execute(
            "DELETE FROM dockerfiles WHERE tag IN (SELECT tag FROM dockerfiles ORDER BY used LIMIT ?1)",
            params![n],
        )?;
        freed = true;
    }
    if freed {
        tx.execute_batch("PRAGMA incremental_vacuum")?;
    }
    Ok(())
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests;
