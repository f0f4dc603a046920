//! The check of whole roots: a valid root, a partial view, a cycle reported
//! once, an in-memory root, and the same problems twice.

use super::*;

/// The repository's default root with `file` in packages.d/ reading `text`.
fn check_one(file: &str, text: &str) -> Checked {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Sources::read(root);
    assert!(sources.replace(&root.join("packages.d").join(file), text));
    check(&sources)
}

/// The shipped templates and `manifests`, held in memory only, under a
/// root that does not exist: nothing is read from disk.
fn in_memory(manifests: &[(&str, &str)]) -> Sources {
    let mut files = crate::model::sources::shipped_templates();
    files.extend(
        manifests
            .iter()
            .map(|(file, text)| (format!("{PACKAGES_DIR}/{file}"), (*text).to_owned())),
    );
    Sources::from_files(Path::new("/nonexistent/root"), files)
}

fn codes(checked: &Checked) -> Vec<String> {
    checked
        .problems
        .iter()
        .map(|p| p.code.to_string())
        .collect()
}

#[test]
fn the_default_root_is_valid() {
    let checked = check_root(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(checked.project.is_some(), "{:?}", codes(&checked));
    assert_eq!(checked.project.map(|p| p.packages.len()), Some(25));
}

#[test]
fn a_rule_failure_names_its_code_and_keeps_a_partial_view() {
    let checked = check_one(
        "fmtlib-fmt.toml",
        "name = \"fmtlib/fmt\"\nrev = \"1 2\"\nbuild_type = \"cmake\"\n",
    );
    assert!(checked.project.is_none());
    assert!(
        codes(&checked).iter().any(|c| c.contains("rev")),
        "{:?}",
        codes(&checked)
    );
    assert!(checked.partial.is_some(), "views can still show the tree");
}

#[test]
fn a_cycle_is_reported_once() {
    let checked = check_one(
        "openbmc-sdbusplus.toml",
        "name = \"openbmc/sdbusplus\"\ndepends = [\"openbmc/phosphor-logging\"]\nbuild_type = \"meson\"\n",
    );
    let cycles: Vec<String> = codes(&checked)
        .into_iter()
        .filter(|c| c.contains("cycle"))
        .collect();
    assert_eq!(cycles.len(), 1, "{:?}", codes(&checked));
}

#[test]
fn an_in_memory_root_is_checked_without_the_filesystem() {
    let good = in_memory(&[
        (
            "acme-lib.toml",
            "name = \"acme/lib\"\nrev = \"v1\"\nbuild_type = \"cmake\"\n",
        ),
        (
            "acme-app.toml",
            "name = \"acme/app\"\nrev = \"v2\"\ndepends = [\"acme/lib\"]\nbuild_type = \"make\"\n",
        ),
    ]);
    let checked = check(&good);
    assert_eq!(codes(&checked), Vec::<String>::new());
    let project = checked.project.expect("valid");
    assert_eq!(
        project.packages.keys().collect::<Vec<_>>(),
        ["acme/app", "acme/lib"]
    );
    assert_eq!(project.root, Path::new("/nonexistent/root"));

    let mut bad = good.clone();
    let path = Path::new("/nonexistent/root/packages.d/acme-app.toml");
    assert!(bad.replace(
        path,
        "name = \"acme/app\"\nrev = \"v2\"\ndepends = [\"acme/lbi\"]\nbuild_type = \"make\"\n",
    ));
    let checked = check(&bad);
    assert!(checked.project.is_none());
    assert_eq!(codes(&checked), ["manifest::unknown-dependency"]);
    let problem = &checked.problems[0];
    assert_eq!(problem.file, path);
    assert_eq!(problem.line_col(), Some((3, 12)));
    assert_eq!(problem.help.as_deref(), Some("did you mean `acme/lib`?"));
}

#[test]
fn checking_the_same_sources_twice_gives_the_same_problems() {
    let sources = in_memory(&[("a-b.toml", "name = \"a/b\"\nrev = \"1 2\"\n")]);
    let once: Vec<String> = check(&sources)
        .problems
        .iter()
        .map(|p| p.message.clone())
        .collect();
    let again: Vec<String> = check(&sources)
        .problems
        .iter()
        .map(|p| p.message.clone())
        .collect();
    assert!(!once.is_empty());
    assert_eq!(once, again);
}
