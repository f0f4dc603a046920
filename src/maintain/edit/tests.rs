//! The edits' tests: format-preserving changes, atomic writes, the lock and\n//! full disks.

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
