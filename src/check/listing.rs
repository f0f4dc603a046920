//! Listing `packages.d/` and parsing each manifest file as TOML: the
//! entries that are not manifests, an unreadable directory or file, bytes
//! that are not UTF-8, and TOML that does not parse, each as a problem.
//!
//! Owns: the problems of the listing `Sources` made and of turning a
//! manifest's bytes into a `TomlSource`. Must not: read the filesystem
//! (`Sources` did), or look at what a manifest says (`schema` and
//! `manifest` do).

use std::sync::Arc;

use crate::check::diag::Problem;
use crate::model::source::TomlSource;
use crate::model::sources::{EntryKind, ManifestFile, Skipped, Sources, PACKAGES_DIR};

/// The manifests of the root, after reporting what its listing found:
/// a packages.d/ that cannot be read, entries that are not manifests, and
/// none at all.
pub(super) fn list_manifests<'a>(
    sources: &'a Sources,
    problems: &mut Vec<Problem>,
) -> &'a [ManifestFile] {
    let dir = sources.packages_dir();
    let listing = match &sources.packages {
        Ok(listing) => listing,
        Err(e) => {
            problems.push(
                Problem::error("project::no-packages-dir", &dir, format!("cannot read the manifest directory: {e}"))
                    .help("run in a project root (the directory holding packages.d/ and templates/) or pass --root DIR"),
            );
            return &[];
        }
    };
    for entry in &listing.skipped {
        problems.push(match entry {
            Skipped::EditTemp { path, file_name } => Problem::warning(
                "project::edit-temp-file",
                path,
                format!(
                    "{file_name} is the temporary file of an edit (bump or update) that has not \
                     finished, or was killed: ignored"
                ),
            )
            .help("the next bump or update removes it once its writer is gone; or delete it"),
            Skipped::Hidden { path, file_name } => Problem::warning(
                "project::hidden-manifest",
                path,
                format!("{file_name} is hidden, so it is not read as a manifest"),
            )
            .help(format!(
                "rename it to {} to make it a manifest, or move it out of {PACKAGES_DIR}/",
                file_name.trim_start_matches('.')
            )),
            Skipped::SymlinkOutside { path, target } => Problem::error(
                "project::symlink-outside",
                path,
                format!(
                    "is a symlink to {}, outside the project root; it was not read",
                    target.display()
                ),
            )
            .help("put the manifest itself in packages.d/, or link to a file inside the project"),
            Skipped::BrokenSymlink { path, error } => Problem::error(
                "project::broken-symlink",
                path,
                format!("is a symlink that leads nowhere: {error}"),
            )
            .help("remove it, or point it at a manifest inside the project"),
            Skipped::Stray { path, kind } => {
                let (what, help) = match kind {
                    EntryKind::Directory => (
                        "a directory",
                        format!("manifests are files directly in {PACKAGES_DIR}/: move it out"),
                    ),
                    EntryKind::File => (
                        "a file",
                        format!(
                            "move it out of {PACKAGES_DIR}/, or give a manifest the .toml extension"
                        ),
                    ),
                    EntryKind::Other => ("an entry", format!("move it out of {PACKAGES_DIR}/")),
                };
                Problem::warning(
                    "project::stray-file",
                    path,
                    format!("{what} in {PACKAGES_DIR}/, not a .toml manifest: ignored"),
                )
                .help(help)
            }
        });
    }
    if listing.manifests.is_empty() {
        problems.push(
            Problem::error(
                "project::no-manifests",
                &dir,
                format!("{PACKAGES_DIR}/ holds no manifest"),
            )
            .help("add one <package>.toml per package (see README: \"Adding a package\")"),
        );
    }
    &listing.manifests
}

/// The TOML of one manifest file, or None after reporting why it has none:
/// it could not be read, is not UTF-8, or does not parse.
pub(super) fn parse_manifest(
    file: &ManifestFile,
    problems: &mut Vec<Problem>,
) -> Option<TomlSource> {
    let path = &file.path;
    let bytes = match &file.bytes {
        Ok(b) => b,
        Err(e) => {
            problems.push(Problem::error(
                "toml::unreadable",
                path,
                format!("cannot read manifest: {e}"),
            ));
            return None;
        }
    };
    let text: Arc<str> = match std::str::from_utf8(bytes) {
        Ok(s) => Arc::from(s),
        Err(e) => {
            let at = e.valid_up_to();
            let lossy: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).into_owned());
            // The bytes before `at` are valid UTF-8, so the lossy copy keeps
            // them as they are: the bad byte's U+FFFD starts at `at`.
            let (start, end) = (at, at + char::REPLACEMENT_CHARACTER.len_utf8());
            problems.push(
                Problem::error(
                    "toml::not-utf8",
                    path,
                    format!("manifest is not UTF-8 (invalid byte at offset {at})"),
                )
                .at(&lossy, Some(start..end), "not UTF-8")
                .help("save the file as UTF-8"),
            );
            return None;
        }
    };
    match TomlSource::parse(path, text.clone()) {
        Ok(s) => Some(s),
        Err(e) => {
            let duplicate = e.message.contains("duplicate key");
            let (code, help) = if duplicate {
                (
                    "toml::duplicate-key",
                    "remove one of the two keys: a key may appear once",
                )
            } else {
                ("toml::syntax", "fix the TOML syntax (https://toml.io)")
            };
            let message = e
                .message
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_owned();
            problems.push(
                Problem::error(code, path, format!("invalid TOML: {message}"))
                    .at(
                        &text,
                        e.span,
                        if duplicate {
                            "defined again here"
                        } else {
                            "here"
                        },
                    )
                    .help(help),
            );
            None
        }
    }
}
