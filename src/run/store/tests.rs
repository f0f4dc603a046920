//! The store's tests: real SQLite files in temporary folders, their bounds,\n//! corruption and the files that are not files.

use super::*;

fn key(root: &str) -> Key {
    Key {
        root: root.to_owned(),
        image: "img".to_owned(),
        branch: String::new(),
    }
}

fn entry<'a>(stage: &'a str, tag: &'a str, text: &'a str) -> Entry<'a> {
    Entry {
        stage,
        tag,
        dockerfile: text,
        seconds: None,
    }
}

fn open(dir: &Path, root: &str) -> Store {
    Store::open(dir, key(root), Mode::Write)
}

fn file_size(dir: &Path) -> u64 {
    ["", "-journal", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(dir.join(format!("{FILE}{s}"))).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn reads_back_what_was_recorded_and_only_for_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = open(dir.path(), "/a");
    assert_eq!(a.last("base"), None);
    a.record(
        &[Entry {
            seconds: Some(12.5),
            ..entry("base", "img-base:2021-W06-aaaa", "FROM a\n")
        }],
        1000,
    );
    a.record(&[entry("base", "img-base:2021-W06-bbbb", "FROM b\n")], 1001);
    assert_eq!(a.warning(), None);
    // Its own user's only: a Dockerfile may carry a proxy's password.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(FILE))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut again = open(dir.path(), "/a");
    assert_eq!(
        again.last("base"),
        Some(Last {
            tag: "img-base:2021-W06-bbbb".to_owned(),
            dockerfile: Some("FROM b\n".to_owned())
        })
    );
    // A cached stage keeps the time of its last build.
    assert_eq!(again.seconds(&["base", "other"]), [Some(12.5), None]);

    // Another root, image name or branch: nothing of /a's.
    let others = [
        key("/b"),
        Key {
            image: "other".to_owned(),
            ..key("/a")
        },
        Key {
            branch: "main".to_owned(),
            ..key("/a")
        },
    ];
    for k in others {
        let mut s = Store::open(dir.path(), k.clone(), Mode::Write);
        assert_eq!(s.last("base"), None, "{k:?}");
        assert_eq!(s.seconds(&["base"]), [None], "{k:?}");
        s.record(&[entry("base", "img-base:2021-W06-cccc", "FROM c\n")], 1002);
    }
    assert_eq!(
        open(dir.path(), "/a").last("base").map(|l| l.tag),
        Some("img-base:2021-W06-bbbb".to_owned())
    );
}

#[test]
fn a_run_that_changes_nothing_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = [
        entry("base", "img-base:w-1", "FROM a\n"),
        entry("pkg", "img-pkg:w-1", "FROM img-base:w-1\n"),
    ];
    open(dir.path(), "/a").record(&entries, 1000);
    let file = dir.path().join(FILE);
    let before = (
        std::fs::read(&file).expect("read"),
        std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime"),
    );
    std::thread::sleep(Duration::from_millis(20));
    open(dir.path(), "/a").record(&entries, 1000 + FRESH_SECS - 1);
    let after = (
        std::fs::read(&file).expect("read"),
        std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime"),
    );
    assert!(before == after, "a no-op record changed the file");
    // An hour later, "last used" is refreshed.
    open(dir.path(), "/a").record(&entries, 1000 + FRESH_SECS);
    assert_ne!(std::fs::read(&file).expect("read"), before.0);
}

#[test]
fn times_out_of_range_are_never_believed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open(dir.path(), "/a");
    s.record(
        &[
            Entry {
                seconds: Some(f64::NAN),
                ..entry("a", "t:a", "A")
            },
            Entry {
                seconds: Some(1e300),
                ..entry("b", "t:b", "B")
            },
            Entry {
                seconds: Some(-3.0),
                ..entry("c", "t:c", "C")
            },
            Entry {
                seconds: Some(3.0),
                ..entry("d", "t:d", "D")
            },
        ],
        1000,
    );
    assert_eq!(
        s.seconds(&["a", "b", "c", "d"]),
        [None, None, None, Some(3.0)]
    );
    // Written behind the tool's back.
    let db = Connection::open(dir.path().join(FILE)).expect("open");
    for (stage, v) in [("a", 1e300), ("b", -1.0), ("c", f64::INFINITY)] {
        db.execute(
            "UPDATE stages SET seconds = ?2 WHERE stage = ?1",
            params![stage, v],
        )
        .expect("update");
    }
    drop(db);
    let mut s = open(dir.path(), "/a");
    assert_eq!(
        s.seconds(&["a", "b", "c", "d"]),
        [None, None, None, Some(3.0)]
    );
    assert_eq!(s.warning(), None);
}

#[test]
fn a_corrupt_file_is_one_warning_then_a_fresh_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(FILE);
    std::fs::write(
        &file,
        "this is not a database, just some garbage bytes ".repeat(200),
    )
    .expect("write");
    let mut s = open(dir.path(), "/a");
    let w = s.warning().expect("a warning").to_owned();
    assert!(
        w.contains("not a readable build store") && w.contains("replaced by an empty one"),
        "{w}"
    );
    assert_eq!(s.last("base"), None);
    s.record(&[entry("base", "t:1", "FROM a\n")], 1000);
    assert_eq!(s.warning(), Some(w.as_str()), "still the one warning");
    let mut s = open(dir.path(), "/a");
    assert_eq!(s.warning(), None);
    assert_eq!(s.last("base").map(|l| l.tag), Some("t:1".to_owned()));

    // A store cut short: also a warning and a fresh start, never a panic.
    let texts: Vec<String> = (0..200)
        .map(|i| format!("FROM x\nRUN {}\n", "y".repeat(i * 50)))
        .collect();
    let tags: Vec<String> = (0..200).map(|i| format!("t:{i}")).collect();
    let stages: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
    let entries: Vec<Entry<'_>> = (0..200)
        .map(|i| entry(&stages[i], &tags[i], &texts[i]))
        .collect();
    s.record(&entries, 2000);
    drop(s);
    let len = std::fs::metadata(&file).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 3))
        .expect("truncate");
    let mut s = open(dir.path(), "/a");
    for e in &entries {
        let _ = s.last(e.stage);
    }
    let _ = s.seconds(&["s1", "s199"]);
    s.record(&entries[..3], 3000);
    let w = s.warning().expect("a warning for the cut file");
    assert!(w.contains("malformed") && w.contains("replaced"), "{w}");
    let mut s = open(dir.path(), "/a");
    assert_eq!(s.warning(), None);
    assert!(s.last("s1").is_some());
}

#[test]
fn an_unusable_folder_is_one_warning_and_nothing_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A folder that cannot be made (as root too): under a regular file.
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").expect("write");
    let mut s = open(&file.join("cache"), "/a");
    let w = s.warning().expect("a warning").to_owned();
    assert!(w.contains("cannot be made"), "{w}");
    s.record(&[entry("base", "t:1", "FROM a\n")], 1000);
    assert_eq!(s.last("base"), None);
    assert_eq!(s.seconds(&["base"]), [None]);
    assert_eq!(s.warning(), Some(w.as_str()));
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    if rustix::process::geteuid().is_root() {
        // Root writes anyway; the folder-under-a-file case covers it.
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut s = open(&ro, "/a");
    s.record(&[entry("base", "t:1", "FROM a\n")], 1000);
    assert!(s.warning().is_some());
}

#[cfg(unix)]
#[test]
fn planted_links_fifos_and_devices_are_never_opened_or_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("precious");
    std::fs::write(&target, "keep me").expect("write");
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    let store = cache.join(FILE);
    let journal = cache.join(format!("{FILE}-journal"));
    type Plant<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Plant<'_>)> = vec![
        (
            "a symbolic link",
            Box::new(|| std::os::unix::fs::symlink(&target, &store).expect("symlink")),
        ),
        (
            "a symbolic link",
            Box::new(|| std::os::unix::fs::symlink(&target, &journal).expect("symlink")),
        ),
        (
            "a FIFO",
            Box::new(|| {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &store,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )
                .expect("mkfifo");
            }),
        ),
        (
            "a device",
            Box::new(|| {
                // /dev/null's numbers (1, 3): root may make it, others skip.
                let _ = rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &store,
                    rustix::fs::FileType::CharacterDevice,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    rustix::fs::makedev(1, 3),
                );
            }),
        ),
    ];
    for (what, plant) in cases {
        for p in [&store, &journal] {
            let _ = std::fs::remove_file(p);
        }
        plant();
        if std::fs::symlink_metadata(&store).is_err()
            && std::fs::symlink_metadata(&journal).is_err()
        {
            continue;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let c = cache.clone();
        std::thread::spawn(move || {
            let mut s = open(&c, "/a");
            s.record(&[entry("base", "t:1", "FROM a\n")], 1000);
            let _ = tx.send(s.warning().map(str::to_owned));
        });
        let w = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the store must not block on what was planted")
            .expect("a warning");
        assert!(w.contains(what) && w.contains("left alone"), "{what}: {w}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    }
}

#[cfg(unix)]
#[test]
fn the_old_folder_goes_once_without_following_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("keep"), "x").expect("write");
    let cache = dir.path().join("cache");
    let old = cache.join("dockerfiles").join("base");
    std::fs::create_dir_all(&old).expect("mkdir");
    std::fs::write(old.join("img.Dockerfile"), "FROM a\n").expect("write");
    std::os::unix::fs::symlink(&outside, old.join("link")).expect("symlink");
    open(&cache, "/a").record(&[entry("base", "t:1", "FROM a\n")], 1000);
    assert!(!cache.join("dockerfiles").exists());
    assert!(outside.join("keep").exists());

    // A symlink named dockerfiles is not ours: left alone.
    let cache2 = dir.path().join("cache2");
    std::fs::create_dir(&cache2).expect("mkdir");
    std::os::unix::fs::symlink(&outside, cache2.join("dockerfiles")).expect("symlink");
    open(&cache2, "/a");
    assert!(outside.join("keep").exists());
    assert!(std::fs::symlink_metadata(cache2.join("dockerfiles")).is_ok());
}

#[test]
fn the_file_stays_within_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        text_bytes: 256 << 10,
        one_text: 16 << 10,
        rows: 300,
    };
    let bound = limits.file_bytes();
    let mut written = 0u64;
    let mut last_batch = Vec::new();
    // 40 runs of 60 stages of up to 12 KiB each (and some over the
    // one-text limit): about 20 times the bound, in small and large runs.
    for run in 0..40i64 {
        let n = if run % 10 == 9 { 300 } else { 60 };
        let texts: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "FROM r{run}\n{}",
                    "x".repeat(
                        ((i * 977 + run as usize * 31) % 12_000)
                            + if i % 17 == 0 { 20_000 } else { 0 }
                    )
                )
            })
            .collect();
        let tags: Vec<String> = (0..n).map(|i| format!("img-s{i}:w-{run}")).collect();
        let stages: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let entries: Vec<Entry<'_>> = (0..n)
            .map(|i| Entry {
                seconds: Some(1.0),
                ..entry(&stages[i], &tags[i], &texts[i])
            })
            .collect();
        let mut s = Store::open_with(
            dir.path(),
            key(&format!("/root{}", run % 7)),
            Mode::Write,
            limits,
        );
        s.record(&entries, 1000 + run * 10_000);
        assert_eq!(s.warning(), None);
        written += texts.iter().map(|t| t.len() as u64).sum::<u64>();
        let size = file_size(dir.path());
        assert!(size <= bound, "run {run}: {size} bytes > the bound {bound}");
        last_batch = stages.into_iter().zip(tags).zip(texts).collect::<Vec<_>>();
    }
    assert!(written > 20 * limits.text_bytes, "{written}");
    // The newest run is kept (those texts that fit).
    let mut s = Store::open_with(dir.path(), key("/root4"), Mode::Write, limits);
    let ((stage, tag), text) = &last_batch[1];
    assert_eq!(
        s.last(stage),
        Some(Last {
            tag: tag.clone(),
            dockerfile: Some(text.clone())
        })
    );
    let ((stage, tag), _) = &last_batch[0];
    assert_eq!(
        s.last(stage),
        Some(Last {
            tag: tag.clone(),
            dockerfile: None
        }),
        "over one_text"
    );
    let db = Connection::open(dir.path().join(FILE)).expect("open");
    for table in ["stages", "dockerfiles"] {
        let n: i64 = db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count");
        assert!(n as u64 <= limits.rows, "{table}: {n}");
    }
}

#[test]
fn concurrent_writers_each_land_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                for run in 0..20i64 {
                    // Fresh each time, as a process would be.
                    let mut s = open(&dir, if t % 2 == 0 { "/same" } else { "/other" });
                    let stages: Vec<String> = (0..27).map(|i| format!("t{t}-s{i}")).collect();
                    let tags: Vec<String> = (0..27).map(|i| format!("img-s{i}:r{run}")).collect();
                    let entries: Vec<Entry<'_>> = (0..27)
                        .map(|i| Entry {
                            seconds: Some(run as f64),
                            ..entry(&stages[i], &tags[i], "FROM x\n")
                        })
                        .collect();
                    s.record(&entries, 1000 + run * FRESH_SECS);
                    assert_eq!(s.warning(), None, "thread {t}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a writer panicked");
    }
    for t in 0..6 {
        let mut s = open(dir.path(), if t % 2 == 0 { "/same" } else { "/other" });
        for i in 0..27 {
            let stage = format!("t{t}-s{i}");
            assert_eq!(s.last(&stage).map(|l| l.tag), Some(format!("img-s{i}:r19")));
            assert_eq!(s.seconds(&[&stage]), [Some(19.0)]);
        }
    }
}

#[test]
fn the_newest_present_image_of_a_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut other = open(dir.path(), "/other");
    other.record(&[entry("base", "img-base:w-1", "FROM one\n")], 1000);
    other.record(&[entry("base", "img-base:w-2", "FROM two\n")], 2000);
    let mut s = Store::open(dir.path(), key("/a"), Mode::Read);
    assert_eq!(s.last("base"), None);
    assert_eq!(
        s.newest("img-base", |t| t == "img-base:w-1"),
        Some(("img-base:w-1".to_owned(), "FROM one\n".to_owned()))
    );
    assert_eq!(
        s.newest("img-base", |_| true).map(|n| n.0),
        Some("img-base:w-2".to_owned())
    );
    assert_eq!(s.newest("img-base", |_| false), None);
    assert_eq!(
        repo_of("localhost:5000/img-base:w-1"),
        "localhost:5000/img-base"
    );
    assert_eq!(
        repo_of("localhost:5000/img-base"),
        "localhost:5000/img-base"
    );
}

#[test]
fn reading_a_missing_store_makes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let mut s = Store::open(&cache, key("/a"), Mode::Read);
    assert_eq!(s.last("base"), None);
    assert_eq!(s.warning(), None);
    assert!(!cache.exists());
}
