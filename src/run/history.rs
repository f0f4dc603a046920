//! What was built on this machine: each stage's Dockerfile, kept by tag in
//! the user's cache folder, so `explain` can show why a stage rebuilds.
//!
//! Owns: the folder layout (`<cache>/dockerfiles/<stage>/<tag>.Dockerfile`
//! and `<stage>/last`), recording, reading the last one back, and keeping
//! the folder bounded (the newest few a stage, a total size cap). Must not:
//! decide what builds, or fail a build: recording is best effort.

use std::path::{Path, PathBuf};

/// Dockerfiles kept a stage.
const PER_STAGE: usize = 5;
/// The most the folder may hold; the oldest files go first.
const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The cache folder: BUILD_UNIT_TEST_CACHE_DIR, else $XDG_CACHE_HOME or
/// ~/.cache, plus `build-unit-test-docker`.
pub fn cache_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("BUILD_UNIT_TEST_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let base = env("XDG_CACHE_HOME")
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".cache"))
        })?;
    Some(base.join("build-unit-test-docker"))
}

/// `name` as a file name: letters, digits and `._-` kept, the rest `_`.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn stage_dir(cache: &Path, stage: &str) -> PathBuf {
    cache.join("dockerfiles").join(safe(stage))
}

fn file_of(tag: &str) -> String {
    format!("{}.Dockerfile", safe(tag))
}

/// Records that `stage` exists here as `tag`, built from `dockerfile`.
pub fn record(cache: &Path, stage: &str, tag: &str, dockerfile: &str) -> std::io::Result<()> {
    let dir = stage_dir(cache, stage);
    // Already the last one recorded (every no-op run): nothing to write.
    if std::fs::read_to_string(dir.join("last")).is_ok_and(|t| t.trim() == tag)
        && dir.join(file_of(tag)).is_file()
    {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(file_of(tag));
    if std::fs::read_to_string(&file).ok().as_deref() != Some(dockerfile) {
        crate::maintain::edit::write_atomic(&file, dockerfile)?;
    }
    crate::maintain::edit::write_atomic(&dir.join("last"), &format!("{tag}\n"))?;
    prune_stage(&dir);
    Ok(())
}

/// Records how long the last build of `stage` took.
pub fn record_seconds(cache: &Path, stage: &str, seconds: f64) -> std::io::Result<()> {
    let dir = stage_dir(cache, stage);
    std::fs::create_dir_all(&dir)?;
    crate::maintain::edit::write_atomic(&dir.join("seconds"), &format!("{seconds:.3}\n"))
}

/// How long the last build of `stage` here took, if it was recorded.
pub fn seconds(cache: &Path, stage: &str) -> Option<f64> {
    std::fs::read_to_string(stage_dir(cache, stage).join("seconds"))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
}

/// The last recorded tag and Dockerfile of `stage`.
pub fn last(cache: &Path, stage: &str) -> Option<(String, String)> {
    let dir = stage_dir(cache, stage);
    let tag = std::fs::read_to_string(dir.join("last")).ok()?;
    let tag = tag.trim().to_owned();
    let text = std::fs::read_to_string(dir.join(file_of(&tag))).ok()?;
    Some((tag, text))
}

/// Files of `dir` ending in `.Dockerfile`, newest first.
fn dockerfiles(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".Dockerfile"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.modified().ok()?, m.len()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    files
}

fn prune_stage(dir: &Path) {
    for (path, _, _) in dockerfiles(dir).into_iter().skip(PER_STAGE) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes the oldest Dockerfiles until the folder holds at most
/// `MAX_BYTES` (the last one of each stage stays).
pub fn prune(cache: &Path) {
    prune_to(cache, MAX_BYTES);
}

fn prune_to(cache: &Path, max: u64) {
    let root = cache.join("dockerfiles");
    let mut all: Vec<_> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| dockerfiles(&e.path()))
        .collect();
    let mut total: u64 = all.iter().map(|f| f.2).sum();
    all.sort_by_key(|f| f.1);
    for (path, _, len) in all {
        if total <= max {
            break;
        }
        let stage = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let is_last = std::fs::read_to_string(stage.join("last"))
            .is_ok_and(|t| path.file_name().is_some_and(|f| *f == *file_of(t.trim())));
        if !is_last && std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back_the_last_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(last(dir.path(), "openbmc-sdbusplus").is_none());
        record(
            dir.path(),
            "openbmc-sdbusplus",
            "img-x:2021-W06-aaaa",
            "FROM a\n",
        )
        .expect("rec");
        record(
            dir.path(),
            "openbmc-sdbusplus",
            "img-x:2021-W06-bbbb",
            "FROM b\n",
        )
        .expect("rec");
        assert_eq!(
            last(dir.path(), "openbmc-sdbusplus"),
            Some(("img-x:2021-W06-bbbb".to_owned(), "FROM b\n".to_owned()))
        );
    }

    #[test]
    fn the_folder_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..12 {
            record(dir.path(), "s", &format!("img:{i}"), &"x".repeat(1000)).expect("rec");
        }
        let kept = dockerfiles(&stage_dir(dir.path(), "s"));
        assert_eq!(kept.len(), PER_STAGE);
        for st in ["a", "b", "c"] {
            record(dir.path(), st, "img:1", &"y".repeat(4000)).expect("rec");
        }
        prune_to(dir.path(), 6000);
        // Every stage keeps its last file, whatever the cap.
        for st in ["s", "a", "b", "c"] {
            assert!(last(dir.path(), st).is_some(), "{st}");
        }
    }

    #[test]
    fn the_cache_folder_follows_xdg() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            cache_dir(env(&[("HOME", "/home/a")])),
            Some(PathBuf::from("/home/a/.cache/build-unit-test-docker"))
        );
        assert_eq!(
            cache_dir(env(&[("HOME", "/home/a"), ("XDG_CACHE_HOME", "/c")])),
            Some(PathBuf::from("/c/build-unit-test-docker"))
        );
        assert_eq!(
            cache_dir(env(&[("BUILD_UNIT_TEST_CACHE_DIR", "/x")])),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(cache_dir(env(&[])), None);
    }
}
