//! `bump`, `outdated` and `update`: the maintainer's commands. `outdated`
//! only looks upstream up and prints a table. `bump` and `update` edit, all
//! through one path — format-preserving edit of the text read with the
//! project, whole-project check of the sources with the edit in place (in
//! memory), then an atomic write under the root's lock (or, with
//! --dry-run, a diff: `bump` still takes the lock, `update` does not).
//! What waits on the network comes before the lock: `bump --checksum`
//! downloads and `update` looks upstream up first, then each locks, reads
//! the root again and makes its edits to what it finds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::diag::Problem;
use crate::check::{check, suggest, Project};
use crate::cli::{BumpArgs, OutdatedArgs, TableFormat, UpdateArgs};
use crate::maintain::edit::{set_string, unified_diff, write_atomic};
use crate::maintain::versions;
use crate::model::manifest;
use crate::model::settings::BaseRule;
use crate::model::sources::{Sources, PACKAGES_DIR, TEMPLATES_DIR};
use crate::plan::graph;
use crate::run::{fetch, lsremote, revs};

use super::{CmdError, FileError, Interruption, LookupError, ProjectError, UsageError};

/// One file edit, not yet written.
struct Edit {
    path: PathBuf,
    old: String,
    new: String,
    /// What changed, for the report: (target, old value, new value).
    what: (String, String, String),
    /// Packages whose stages rebuild (None: every stage, a base pin).
    rebuilds: Option<String>,
}

fn out(text: &str) -> Result<(), CmdError> {
    super::print_out(text)
}

/// Finds a package by name (or stage name), or says which one was meant.
fn find_package<'a>(project: &'a Project, wanted: &str) -> Result<&'a str, ProjectError> {
    if let Some((name, _)) = project.packages.get_key_value(wanted) {
        return Ok(name);
    }
    let stage = manifest::stage_name(wanted);
    if let Some(name) = project
        .packages
        .keys()
        .find(|n| manifest::stage_name(n) == stage)
    {
        return Ok(name);
    }
    Err(ProjectError::NoSuchPackage {
        name: wanted.to_owned(),
        suggestion: suggest::closest(wanted, project.packages.keys().map(String::as_str))
            .map(str::to_owned),
    })
}

/// The text of `path` as the project was read (and checked) from it.
fn loaded_text(sources: &Sources, path: &Path) -> Result<String, FileError> {
    sources
        .text(path)
        .map(str::to_owned)
        .ok_or_else(|| FileError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is not a file the project was read from"),
        })
}

/// The package `name` (already found by [`find_package`]): gone only
/// from a project read again, when another edit removed it.
fn package<'a>(
    project: &'a Project,
    name: &str,
) -> Result<&'a crate::check::Package, ProjectError> {
    project
        .package(name)
        .ok_or_else(|| ProjectError::PackageGone {
            name: name.to_owned(),
        })
}

fn package_edit(
    project: &Project,
    sources: &Sources,
    name: &str,
    rev: &str,
    sha256: Option<&str>,
) -> Result<Edit, CmdError> {
    let pkg = package(project, name)?;
    let path = pkg.source.path.clone();
    let old = loaded_text(sources, &path)?;
    let mut new = set_string(&old, "rev", rev, Some("name")).map_err(edit_error(&path))?;
    match (sha256, &pkg.manifest.sha256) {
        (Some(sum), _) => {
            new = set_string(&new, "sha256", sum, Some("rev")).map_err(edit_error(&path))?;
        }
        (None, Some(_)) if pkg.manifest.rev.as_deref() != Some(rev) => {
            return Err(ProjectError::ChecksumWouldNotMatch {
                package: name.to_owned(),
            }
            .into());
        }
        _ => {}
    }
    let current = pkg
        .manifest
        .rev
        .clone()
        .unwrap_or_else(|| "branch head".to_owned());
    Ok(Edit {
        path,
        old,
        new,
        what: (name.to_owned(), current, rev.to_owned()),
        rebuilds: Some(name.to_owned()),
    })
}

fn edit_error(path: &Path) -> impl FnOnce(crate::maintain::edit::EditError) -> FileError + '_ {
    |source| FileError::Edit {
        path: path.to_path_buf(),
        source,
    }
}

fn base_edit(
    project: &Project,
    sources: &Sources,
    key: &str,
    value: &str,
) -> Result<Edit, CmdError> {
    let vars = &project.templates.base_vars;
    let current = match vars.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ProjectError::BasePinIsList {
                key: key.to_owned(),
            }
            .into())
        }
        None => {
            let keys: Vec<String> = vars
                .iter()
                .filter(|(_, v)| v.is_string())
                .map(|(k, _)| format!("base.{k}"))
                .collect();
            return Err(ProjectError::NoSuchPin {
                key: key.to_owned(),
                suggestion: suggest::closest(key, vars.keys().map(String::as_str))
                    .map(str::to_owned),
                pins: keys.join(", "),
            }
            .into());
        }
    };
    let path = sources.templates.base_vars.path.clone();
    let old = loaded_text(sources, &path)?;
    let new = set_string(&old, key, value, None).map_err(edit_error(&path))?;
    Ok(Edit {
        path,
        old,
        new,
        what: (format!("base.{key}"), current, value.to_owned()),
        rebuilds: None,
    })
}

/// Checks the project as it would be after `edits`: the `sources` it was
/// read from, with each edit in place (in memory). Every problem (warnings
/// too) when an edit would make it invalid.
fn check_edits(mut sources: Sources, edits: &[Edit]) -> Result<Project, Vec<Problem>> {
    for e in edits {
        if !sources.replace(&e.path, e.new.as_str()) {
            // Edits are made from the sources' own files: not reached.
            return Err(vec![Problem::error(
                "edit::not-read",
                &e.path,
                "is not a file the project was read from",
            )]);
        }
    }
    let checked = check(&sources);
    let project = checked.project.ok_or(checked.problems)?;
    // What validate would find after the edit: a template that no longer
    // renders with the new value.
    let trial = crate::plan::trial::trial(&project);
    if trial.is_empty() {
        Ok(project)
    } else {
        Err(trial)
    }
}

/// Validates the project as it would be after `edits`, then writes them
/// atomically (or prints diffs). Nothing is written if anything is wrong.
fn apply(
    root: &Path,
    sources: Sources,
    project: &Project,
    edits: &[Edit],
    dry_run: bool,
) -> Result<(), CmdError> {
    if let Err(problems) = check_edits(sources, edits) {
        super::print_problems(&problems);
        return Err(ProjectError::EditWouldInvalidate.into());
    }
    let mut report = String::new();
    for e in edits {
        if dry_run {
            let label = e
                .path
                .strip_prefix(root)
                .unwrap_or(&e.path)
                .display()
                .to_string();
            report.push_str(&unified_diff(&label, &e.old, &e.new));
        } else if let Err(error) = write_atomic(&e.path, &e.new) {
            return Err(FileError::EditNotWritten {
                path: e.path.clone(),
                error,
            }
            .into());
        }
        let (target, from, to) = &e.what;
        let file = e.path.strip_prefix(root).unwrap_or(&e.path).display();
        if from == to {
            // Only the sha256 changed (bump --checksum of the same rev).
            let verb = if dry_run { "would record" } else { "recorded" };
            report.push_str(&format!(
                "{target}: {verb} the sha256 of {to}'s tarball ({file})\n"
            ));
        } else {
            let verb = if dry_run { "would change" } else { "changed" };
            report.push_str(&format!("{target}: {verb} {from} → {to} ({file})\n"));
        }
    }
    report.push_str(&rebuild_line(project, edits, dry_run));
    out(&report)
}

fn rebuild_line(project: &Project, edits: &[Edit], dry_run: bool) -> String {
    let will = if dry_run {
        "would rebuild"
    } else {
        "will rebuild"
    };
    if edits.iter().any(|e| e.rebuilds.is_none()) {
        return format!(
            "stages that {will}: all of them (base, {} packages, final)\n",
            project.packages.len()
        );
    }
    let mut stages = std::collections::BTreeSet::new();
    for name in edits.iter().filter_map(|e| e.rebuilds.as_deref()) {
        stages.insert(manifest::stage_name(name));
        stages.extend(
            graph::dependents(project, name)
                .iter()
                .map(|d| manifest::stage_name(d)),
        );
    }
    let mut list: Vec<String> = stages.into_iter().collect();
    list.push("final".to_owned());
    format!("stages that {will}: {}\n", list.join(", "))
}

/// Takes the root's edit lock: the files are read, checked and written
/// under it, so concurrent edits apply one after the other.
fn lock_root(root: &Path) -> Result<Option<crate::maintain::edit::RootLock>, FileError> {
    if !root.is_dir() {
        return Ok(None); // Loading it says what is wrong.
    }
    crate::maintain::edit::RootLock::acquire(
        root,
        Duration::from_secs(120),
        || {
            let _ = writeln!(
                std::io::stderr(),
                "waiting for another edit of {} to finish…",
                root.display()
            );
        },
        || crate::process::interrupted().is_cancelled(),
    )
    .map_err(|source| FileError::LockRoot {
        root: root.to_path_buf(),
        source,
    })
    .map(|lock| {
        // No other edit is writing now: a temporary file of one is stale.
        let dirs = [root.join(PACKAGES_DIR), root.join(TEMPLATES_DIR)];
        for path in crate::maintain::edit::remove_stale_temp_files(&dirs) {
            let _ = writeln!(
                std::io::stderr(),
                "removed {}, left by an edit that was killed",
                path.display()
            );
        }
        Some(lock)
    })
}

pub fn bump(root: &Path, args: &BumpArgs) -> Result<(), CmdError> {
    let base_key = args.target.strip_prefix("base.");
    if base_key.is_some() && args.checksum {
        return Err(UsageError::ChecksumOfBasePin.into());
    }
    // The download comes first, without the lock: another edit of the root
    // need not wait for it. What it was made from is read again under the
    // lock, and the edit made to that.
    let downloaded = if args.checksum {
        let (_, project) = super::load_sources(root)?;
        let name = find_package(&project, &args.target)?.to_owned();
        // The machine the build is for, by the build's own rule: its
        // tarball is the one checksummed.
        let machine = super::machine_from(
            &args.machine,
            crate::model::settings::CpuCount::of(&project.templates),
            &super::Inputs::of_process()?,
        )?;
        let url = tarball_url(&project, &name, &args.value, &machine)?;
        let timeout = Duration::from_secs(args.fetch_timeout);
        let sum = download_sha256(&url, timeout)?;
        let text = package(&project, &name)?.source.text.to_string();
        Some((name, url, sum, text, machine))
    } else {
        None
    };
    let _lock = lock_root(root)?;
    let (sources, project) = if downloaded.is_some() {
        reload(root)?
    } else {
        super::load_sources(root)?
    };
    let edit = if let Some(key) = base_key {
        base_edit(&project, &sources, key, &args.value)?
    } else if let Some((name, url, sum, text, machine)) = downloaded {
        let found = find_package(&project, &name)?;
        let now = tarball_url(&project, found, &args.value, &machine)?;
        if now != url {
            return Err(LookupError::SourceMovedDuringDownload {
                package: name,
                downloaded: url,
                now,
            }
            .into());
        }
        let edit = package_edit(&project, &sources, found, &args.value, Some(&sum))?;
        if edit.old != text {
            let _ = writeln!(
                std::io::stderr(),
                "note: {} changed while the tarball downloaded; the edit is made to its new text",
                edit.path.strip_prefix(root).unwrap_or(&edit.path).display()
            );
        }
        edit
    } else {
        let name = find_package(&project, &args.target)?;
        package_edit(&project, &sources, name, &args.value, None)?
    };
    if edit.old == edit.new {
        out(&format!(
            "{}: already {}; nothing to change\n",
            edit.what.0, edit.what.2
        ))?;
        return Ok(());
    }
    apply(root, sources, &project, &[edit], args.dry_run)
}

/// The root read and checked again (under the lock, after a download):
/// its problems are printed only when it is no longer valid, since the
/// first load printed its warnings.
fn reload(root: &Path) -> Result<(Sources, Project), CmdError> {
    let sources = Sources::read(root);
    let checked = check(&sources);
    super::unless_interrupted()?;
    match checked.project {
        Some(project) => Ok((sources, project)),
        None => {
            super::print_problems(&checked.problems);
            Err(super::invalid(root, &checked.problems))
        }
    }
}

/// Downloads `url` and returns its SHA-256.
fn download_sha256(url: &str, timeout: Duration) -> Result<String, LookupError> {
    let _ = writeln!(
        std::io::stderr(),
        "downloading {} …",
        crate::process::mask_credentials(url)
    );
    fetch::sha256_of_url(url, timeout).map_err(LookupError::Download)
}

/// The tarball URL of `name` at `rev` for `machine` (arch, jobs).
fn tarball_url(
    project: &Project,
    name: &str,
    rev: &str,
    (arch, jobs): &(String, usize),
) -> Result<String, ProjectError> {
    crate::check::shell::check_rev(rev).map_err(|why| ProjectError::UnsafeRev {
        rev: rev.to_owned(),
        why,
    })?;
    let pkg = package(project, name)?;
    let ctx = crate::model::template::ManifestVars {
        name,
        rev,
        prefix: project.templates.prefix(),
        jobs: *jobs,
        arch,
    }
    .context();
    project
        .templates
        .render_str(
            pkg.manifest.url.as_deref().unwrap_or(manifest::DEFAULT_URL),
            &ctx,
        )
        .map_err(|source| ProjectError::UrlTemplate {
            package: name.to_owned(),
            source,
        })
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    package: String,
    current: String,
    /// `release` (newest tag) or `commit` (head of the default branch).
    kind: &'static str,
    latest: Option<String>,
    outdated: bool,
    error: Option<String>,
}

fn lookup(args: &OutdatedArgs, name: &str, current: &str) -> Row {
    let url = revs::repo_url(&args.git.git_base_url, name);
    // How the messages below name the repository: without its password.
    let shown = crate::process::mask_credentials(&url);
    let git = Path::new("git");
    let timeout = Duration::from_secs(args.timeout.max(1));
    let kind = if manifest::is_commit_id(current) {
        "commit"
    } else {
        "release"
    };
    // An answer with nothing usable in it is a failed lookup, not "no
    // newer release": git printed garbage, or nothing.
    let nothing = |o: &str, what: &str| {
        let first = o.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if first.is_empty() {
            format!("`git ls-remote` of {shown} printed no {what}")
        } else {
            format!(
                "`git ls-remote` of {shown} printed no {what}, but: {}",
                crate::printable::printable_str(&first.chars().take(80).collect::<String>())
            )
        }
    };
    let result = if manifest::is_commit_id(current) {
        lsremote::ls_remote(git, &url, &["HEAD"], timeout)
            .map_err(|e| e.to_string())
            .and_then(|o| {
                lsremote::parse(&o)
                    .into_iter()
                    .find(|r| r.name == "HEAD")
                    .map(|r| Some(r.sha))
                    .ok_or_else(|| nothing(&o, "HEAD"))
            })
    } else {
        lsremote::ls_remote(git, &url, &["--tags"], timeout)
            .map_err(|e| e.to_string())
            .and_then(|o| {
                let tags = lsremote::tags(&lsremote::parse(&o));
                if tags.is_empty() {
                    return Err(nothing(&o, "tags"));
                }
                let names: Vec<&str> = tags.iter().map(|(n, _)| n.as_str()).collect();
                Ok(versions::newest_release(current, &names, args.pre).map(str::to_owned))
            })
    };
    match result {
        Ok(latest) => {
            let outdated = latest.as_deref().is_some_and(|l| l != current);
            Row {
                package: name.to_owned(),
                current: current.to_owned(),
                kind,
                latest,
                outdated,
                error: None,
            }
        }
        Err(e) => Row {
            package: name.to_owned(),
            current: current.to_owned(),
            kind,
            latest: None,
            outdated: false,
            error: Some(e),
        },
    }
}

/// Looks up every selected pinned package in parallel.
fn find_outdated(project: &Project, args: &OutdatedArgs) -> Result<Vec<Row>, CmdError> {
    let mut selected = Vec::new();
    if args.packages.is_empty() {
        selected.extend(project.packages.keys().cloned());
    } else {
        for wanted in &args.packages {
            selected.push(find_package(project, wanted)?.to_owned());
        }
    }
    // Named packages without a rev get a row saying so; unnamed ones are
    // just not checked.
    let named = !args.packages.is_empty();
    let jobs: Vec<(String, Option<String>)> = selected
        .into_iter()
        .filter_map(|n| {
            let rev = project.package(&n)?.manifest.rev.clone();
            (rev.is_some() || named).then_some((n, rev))
        })
        .collect();
    if jobs.is_empty() {
        return Err(ProjectError::NothingPinned.into());
    }
    Ok(lsremote::run_bounded(
        jobs,
        usize::from(args.parallel),
        |(name, rev)| match rev {
            Some(rev) => lookup(args, &name, &rev),
            None => Row {
                package: name,
                current: "-".to_owned(),
                kind: "unpinned",
                latest: None,
                outdated: false,
                error: None,
            },
        },
    ))
}

/// A multi-line error on one table line: its first line, and the last line
/// of what the command said (`… failed (exit status: 128): fatal: …`).
fn one_line(e: &str) -> String {
    let mut lines = e.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) => format!("{first} {last}"),
        None => first.to_owned(),
    }
}

fn print_rows(rows: &[Row], format: TableFormat) -> Result<(), CmdError> {
    match format {
        TableFormat::Json => {
            let mut s = serde_json::to_string_pretty(rows).unwrap_or_default();
            s.push('\n');
            out(&s)
        }
        TableFormat::Table => {
            let cells: Vec<[String; 4]> = rows
                .iter()
                .map(|r| {
                    // A tag name is the server's text: shown, it drives nothing.
                    let latest = r
                        .latest
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), crate::printable::printable_str);
                    let status = match (&r.error, r.outdated, r.kind) {
                        (Some(e), _, _) => format!("lookup failed: {}", one_line(e)),
                        (None, _, "unpinned") => "not pinned: builds its branch head".to_owned(),
                        (None, true, "commit") => "newer commit".to_owned(),
                        (None, true, _) => "newer release".to_owned(),
                        (None, false, _) if r.latest.is_none() => "no newer release".to_owned(),
                        _ => "up to date".to_owned(),
                    };
                    [r.package.clone(), r.current.clone(), latest, status]
                })
                .collect();
            out(&super::list::table(
                &["PACKAGE", "CURRENT", "LATEST", "STATUS"],
                &cells,
            ))
        }
    }
}

pub fn outdated(root: &Path, args: &OutdatedArgs) -> Result<(), CmdError> {
    let project = super::load(root)?;
    let found = find_outdated(&project, args);
    if crate::process::interrupted().is_cancelled() {
        return Err(CmdError::Interrupted(Interruption::UpstreamLookups));
    }
    let rows = found?;
    print_rows(&rows, args.format)?;
    if rows.iter().any(|r| r.error.is_some()) {
        return Err(LookupError::UpstreamLookupsFailed.into());
    }
    Ok(())
}

/// Edits every outdated package that can be edited; the failed lookups
/// and skipped edits are the errors, after what was done.
pub fn update(root: &Path, args: &UpdateArgs) -> Result<(), CmdError> {
    // The lookups first, without the lock (as `bump --checksum`'s
    // download): another edit need not wait for them.
    let (sources, project) = super::load_sources(root)?;
    let found = find_outdated(&project, &args.outdated);
    if crate::process::interrupted().is_cancelled() {
        return Err(CmdError::Interrupted(Interruption::Update));
    }
    let rows = found?;
    let _lock = if args.dry_run { None } else { lock_root(root)? };
    let (sources, project) = if args.dry_run {
        (sources, project)
    } else {
        reload(root)?
    };
    let mut failures: Vec<CmdError> = rows
        .iter()
        .filter_map(|r| {
            r.error.as_ref().map(|why| {
                LookupError::UpstreamLookup {
                    package: r.package.clone(),
                    why: why.clone(),
                }
                .into()
            })
        })
        .collect();
    let mut edits = Vec::new();
    for r in rows.iter().filter(|r| r.outdated) {
        let Some(latest) = &r.latest else { continue };
        let now = project
            .package(&r.package)
            .and_then(|p| p.manifest.rev.clone())
            .unwrap_or_else(|| "-".to_owned());
        if now != r.current {
            failures.push(
                LookupError::RevMovedDuringLookup {
                    package: r.package.clone(),
                    looked_up: r.current.clone(),
                    now,
                }
                .into(),
            );
            continue;
        }
        match package_edit(&project, &sources, &r.package, latest, None) {
            Ok(e) => edits.push(e),
            Err(e) => failures.push(CmdError::Skipped(Box::new(e))),
        }
    }
    if edits.is_empty() {
        if let Err(e) = out("everything is up to date\n") {
            failures.push(e);
        }
    } else if let Err(e) = apply(root, sources, &project, &edits, args.dry_run) {
        failures.push(e);
    }
    CmdError::all(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "name = \"acme/lib\"\nrev = \"v1\"\nbuild_type = \"cmake\"\n";
    const APP: &str =
        "name = \"acme/app\"\nrev = \"v2\"\ndepends = [\"acme/lib\"]\nbuild_type = \"make\"\n";

    fn files() -> Vec<(String, String)> {
        let mut files = crate::model::sources::shipped_templates();
        files.push(("packages.d/acme-lib.toml".to_owned(), LIB.to_owned()));
        files.push(("packages.d/acme-app.toml".to_owned(), APP.to_owned()));
        files
    }

    fn codes(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.code).collect()
    }

    #[test]
    fn edits_are_checked_in_memory_before_anything_is_written() {
        let sources = Sources::from_files(Path::new("/nonexistent/root"), files());
        let project = check(&sources).project.expect("valid");

        let good = package_edit(&project, &sources, "acme/lib", "v1.1", None).expect("edit");
        assert_eq!(good.old, LIB);
        assert_eq!(good.new, LIB.replace("v1", "v1.1"));
        let edited = check_edits(sources.clone(), &[good]).expect("still valid");
        assert_eq!(
            edited.packages["acme/lib"].manifest.rev.as_deref(),
            Some("v1.1")
        );

        let bad = package_edit(&project, &sources, "acme/lib", "v1 2", None).expect("edit");
        let problems = check_edits(sources.clone(), &[bad]).expect_err("refused");
        assert_eq!(codes(&problems), ["manifest::bad-rev"]);

        let pin = base_edit(&project, &sources, "distro", "ubuntu:noble; rm -rf /").expect("edit");
        let problems = check_edits(sources, &[pin]).expect_err("refused");
        assert_eq!(codes(&problems), ["template::unsafe-base-var"]);
    }

    #[test]
    fn a_bump_that_would_make_the_project_invalid_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (rel, text) in files() {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let sources = Sources::read(dir.path());
        let project = check(&sources).project.expect("valid");
        let lib = dir.path().join("packages.d/acme-lib.toml");

        let bad = package_edit(&project, &sources, "acme/lib", "v1 2", None).expect("edit");
        let refused = apply(dir.path(), sources.clone(), &project, &[bad], false);
        assert!(
            matches!(
                refused,
                Err(CmdError::Project(ProjectError::EditWouldInvalidate))
            ),
            "{refused:?}"
        );
        assert_eq!(std::fs::read_to_string(&lib).expect("read"), LIB);

        let good = package_edit(&project, &sources, "acme/lib", "v1.1", None).expect("edit");
        apply(dir.path(), sources, &project, &[good], false).expect("written");
        assert_eq!(
            std::fs::read_to_string(&lib).expect("read"),
            LIB.replace("v1", "v1.1")
        );
    }
}
