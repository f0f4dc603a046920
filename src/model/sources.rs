//! A project root read into memory, once: the listing of `packages.d/`, the
//! bytes of every manifest, `templates/base.toml` and every template file.
//!
//! Owns: every filesystem access of loading a root, including which
//! entries of `packages.d/` are manifests, and the one function that reads
//! a root's file ([`read_root_file`]): a regular file only (a FIFO, a
//! device, a socket or a directory is refused unopened or unread), reached
//! by no symlink that leads out of the root (such a file is listed, never
//! read), at most [`MAX_FILE_BYTES`]; swapping a file's text in memory
//! (`replace`), which is how an edit is checked before it is written.
//! Must not: parse, judge or report what it read (that is `template` and
//! `check`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::template::{
    BASE_FILE, BASE_VARS_FILE, BUILD_TYPES_DIR, BUILD_TYPE_SUFFIX, FINAL_FILE, PACKAGE_FILE,
};

/// The directory of manifests under a root.
pub const PACKAGES_DIR: &str = "packages.d";
/// The directory of templates under a root.
pub const TEMPLATES_DIR: &str = "templates";

/// The largest file of a root that is read (a manifest, base.toml, a
/// template): the shipped ones are under 8 KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads the file at `path` of the root `root` (canonical), as every file
/// of a root is read: `path` must be a regular file inside `root`, also
/// when symlinks (of the file or of a folder on the way) are followed; a
/// FIFO, a device, a socket or a directory is refused
/// before it is opened (and once more on the opened file, in case it was
/// swapped meanwhile), so nothing blocks or reads without end; more than
/// [`MAX_FILE_BYTES`] is refused unread.
pub fn read_root_file(root: &Path, path: &Path) -> io::Result<Vec<u8>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ));
    };
    read_in_dir(root, &canonical_dir(root, dir)?, Path::new(name))
}

/// `dir` with its symlinks resolved, if that is inside `root` (canonical).
fn canonical_dir(root: &Path, dir: &Path) -> io::Result<PathBuf> {
    let dir = std::fs::canonicalize(dir)?;
    if !dir.starts_with(root) {
        return Err(outside(&dir));
    }
    Ok(dir)
}

fn outside(target: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it leads by a symlink to {}, outside the project root: not read",
            target.display()
        ),
    )
}

/// [`read_root_file`] of `name` in `dir`, a canonical folder inside `root`
/// (so only the file itself may still be a symlink): one `lstat`, one
/// `open`, one `fstat` and the reads.
fn read_in_dir(root: &Path, dir: &Path, name: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::FileTypeExt;
    let refused = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let kind = |t: std::fs::FileType| {
        if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        }
    };
    let path = dir.join(name);
    let mut meta = std::fs::symlink_metadata(&path)?;
    let mut target = path;
    if meta.file_type().is_symlink() {
        // Where it really is: inside the root, or not read.
        target = std::fs::canonicalize(&target)?;
        if !target.starts_with(root) {
            return Err(outside(&target));
        }
        meta = std::fs::symlink_metadata(&target)?;
    }
    if !meta.is_file() {
        return Err(refused(format!(
            "it is {}, not a regular file: not read",
            kind(meta.file_type())
        )));
    }
    // No symlink is followed here, and a FIFO swapped in does not block.
    let fd = rustix::fs::open(
        &target,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refused(format!(
            "it is {}, not a regular file: not read",
            kind(meta.file_type())
        )));
    }
    let too_big = || {
        refused(format!(
            "it is larger than {} KiB: not read",
            MAX_FILE_BYTES / 1024
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The canonical form of `root`, which symlinks must stay in (`root`
/// itself when it cannot be resolved: reading then fails on its own).
fn canonical(root: &Path) -> PathBuf {
    std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

/// What reading a file gave: its contents, or the I/O error (shared, so
/// that sources can be cloned).
pub type Read<T> = Result<T, Arc<io::Error>>;

/// Every file of a project root that loading it looks at, as read.
#[derive(Debug, Clone)]
pub struct Sources {
    pub root: PathBuf,
    /// Whether the root has a `packages.d/` or a `templates/` directory;
    /// without either, it is not a project root at all.
    pub is_root: bool,
    /// `packages.d/`, or why it could not be listed.
    pub packages: Read<PackagesDir>,
    pub templates: TemplateSources,
}

/// The entries of `packages.d/`.
#[derive(Debug, Clone, Default)]
pub struct PackagesDir {
    /// Entries that are not manifests, or not read, in directory order.
    pub skipped: Vec<Skipped>,
    /// The manifests, sorted by path.
    pub manifests: Vec<ManifestFile>,
}

/// What the temporary files of an edit carry in their names:
/// `.<file>.bud-tmp-<pid>-XXXXXX` (see `maintain::edit::write_atomic`).
pub const EDIT_TEMP_MARK: &str = ".bud-tmp-";

/// An entry of `packages.d/` that is not read as a manifest.
#[derive(Debug, Clone)]
pub enum Skipped {
    /// The temporary file of an edit that has not finished, or was killed.
    EditTemp { path: PathBuf, file_name: String },
    /// A hidden `.toml` file (other hidden entries are not listed).
    Hidden { path: PathBuf, file_name: String },
    /// A `.toml` symlink whose target is outside the root: not read.
    SymlinkOutside { path: PathBuf, target: PathBuf },
    /// A `.toml` symlink that leads nowhere.
    BrokenSymlink {
        path: PathBuf,
        error: Arc<io::Error>,
    },
    /// Anything else that is not a `.toml` file.
    Stray { path: PathBuf, kind: EntryKind },
}

/// What a stray entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File,
    Other,
}

/// One manifest file: its path (as `root/packages.d/<file>`) and bytes.
#[derive(Debug, Clone)]
pub struct ManifestFile {
    pub path: PathBuf,
    pub bytes: Read<Vec<u8>>,
}

/// One text file of `templates/`.
#[derive(Debug, Clone)]
pub struct TextFile {
    pub path: PathBuf,
    /// Its text (read as UTF-8: anything else is a read error).
    pub text: Read<Arc<str>>,
}

/// The files of `templates/`.
#[derive(Debug, Clone)]
pub struct TemplateSources {
    pub dir: PathBuf,
    /// `base.toml`.
    pub base_vars: TextFile,
    pub base: TextFile,
    pub package: TextFile,
    pub final_: TextFile,
    /// `build-types/<name>.sh.j2`, by name, sorted.
    pub build_types: Vec<(String, TextFile)>,
}

impl Sources {
    /// Reads every file of the project at `root` that loading it needs.
    pub fn read(root: &Path) -> Sources {
        let is_root = root.join(PACKAGES_DIR).is_dir() || root.join(TEMPLATES_DIR).is_dir();
        Sources {
            root: root.to_path_buf(),
            is_root,
            packages: read_packages(root),
            templates: TemplateSources::read_in(&canonical(root), &root.join(TEMPLATES_DIR)),
        }
    }

    /// A root held in memory only, as if `files` (paths relative to the
    /// root, e.g. `packages.d/boost.toml`, `templates/base.toml`) were all
    /// it had. Files that are neither manifests nor template files are
    /// stray entries; missing files are "not found".
    pub fn from_files<P: AsRef<Path>>(
        root: &Path,
        files: impl IntoIterator<Item = (P, String)>,
    ) -> Sources {
        let mut sources = Sources {
            root: root.to_path_buf(),
            is_root: false,
            packages: Err(Arc::new(io::Error::from(io::ErrorKind::NotFound))),
            templates: TemplateSources::missing(&root.join(TEMPLATES_DIR)),
        };
        let mut packages: Option<PackagesDir> = None;
        for (rel, text) in files {
            let rel = rel.as_ref();
            let path = root.join(rel);
            if let Ok(file) = rel.strip_prefix(PACKAGES_DIR) {
                let dir = packages.get_or_insert_default();
                if file.extension().is_some_and(|e| e == "toml") {
                    dir.manifests.push(ManifestFile {
                        path,
                        bytes: Ok(text.into_bytes()),
                    });
                } else {
                    dir.skipped.push(Skipped::Stray {
                        path,
                        kind: EntryKind::File,
                    });
                }
                sources.is_root = true;
            } else if let Ok(file) = rel.strip_prefix(TEMPLATES_DIR) {
                sources.is_root = true;
                let name = file
                    .strip_prefix(BUILD_TYPES_DIR)
                    .ok()
                    .and_then(|f| f.to_str()?.strip_suffix(BUILD_TYPE_SUFFIX));
                if let Some(name) = name {
                    let file = TextFile {
                        path,
                        text: Ok(Arc::from(text)),
                    };
                    let types = &mut sources.templates.build_types;
                    match types.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                        Ok(i) => types[i].1 = file,
                        Err(i) => types.insert(i, (name.to_owned(), file)),
                    }
                    continue;
                }
                // Any other file of templates/ is not looked at.
                let _ = sources.replace(&path, text);
            }
        }
        if let Some(mut dir) = packages {
            dir.manifests.sort_by(|a, b| a.path.cmp(&b.path));
            sources.packages = Ok(dir);
        }
        sources
    }

    /// The directory of manifests.
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join(PACKAGES_DIR)
    }

    /// The text of the file at `path` (as read, or as replaced), if it is a
    /// file of this root that was read as UTF-8.
    pub fn text(&self, path: &Path) -> Option<&str> {
        if let Some(m) = self.manifest(path) {
            return std::str::from_utf8(m.bytes.as_ref().ok()?).ok();
        }
        self.templates
            .files()
            .find(|f| f.path == path)
            .and_then(|f| f.text.as_deref().ok())
    }

    /// Puts `text` in place of the file at `path`, in memory: what the
    /// root would be with it written. False (and nothing changed) when
    /// `path` is not a manifest or template file this root read.
    #[must_use]
    pub fn replace(&mut self, path: &Path, text: impl Into<String>) -> bool {
        if let Ok(dir) = &mut self.packages {
            if let Ok(i) = dir
                .manifests
                .binary_search_by(|m| m.path.as_path().cmp(path))
            {
                dir.manifests[i].bytes = Ok(text.into().into_bytes());
                return true;
            }
        }
        match self.templates.files_mut().find(|f| f.path == path) {
            Some(file) => {
                file.text = Ok(Arc::from(text.into()));
                true
            }
            None => false,
        }
    }

    fn manifest(&self, path: &Path) -> Option<&ManifestFile> {
        let dir = self.packages.as_ref().ok()?;
        let i = dir
            .manifests
            .binary_search_by(|m| m.path.as_path().cmp(path))
            .ok()?;
        Some(&dir.manifests[i])
    }
}

impl TemplateSources {
    /// Reads base.toml, the three stage templates and every build type of
    /// `dir`, the `templates/` of the root `root` (canonical), each with
    /// [`read_root_file`].
    fn read_in(root: &Path, dir: &Path) -> TemplateSources {
        let read = |rel: &str| {
            let path = dir.join(rel);
            let text = read_root_file(root, &path)
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text")
                    })
                })
                .map(Arc::from)
                .map_err(Arc::new);
            TextFile { path, text }
        };
        TemplateSources {
            dir: dir.to_path_buf(),
            base_vars: read(BASE_VARS_FILE),
            base: read(BASE_FILE),
            package: read(PACKAGE_FILE),
            final_: read(FINAL_FILE),
            build_types: build_type_names(dir)
                .into_iter()
                .map(|name| {
                    let file = read(&format!("{BUILD_TYPES_DIR}/{name}{BUILD_TYPE_SUFFIX}"));
                    (name, file)
                })
                .collect(),
        }
    }

    /// Sources in which every file is missing.
    fn missing(dir: &Path) -> TemplateSources {
        let missing = |rel: &str| TextFile {
            path: dir.join(rel),
            text: Err(Arc::new(io::Error::from(io::ErrorKind::NotFound))),
        };
        TemplateSources {
            dir: dir.to_path_buf(),
            base_vars: missing(BASE_VARS_FILE),
            base: missing(BASE_FILE),
            package: missing(PACKAGE_FILE),
            final_: missing(FINAL_FILE),
            build_types: Vec::new(),
        }
    }

    /// Names of the build types, sorted.
    pub fn build_type_names(&self) -> Vec<String> {
        self.build_types.iter().map(|(n, _)| n.clone()).collect()
    }

    fn files(&self) -> impl Iterator<Item = &TextFile> {
        [&self.base_vars, &self.base, &self.package, &self.final_]
            .into_iter()
            .chain(self.build_types.iter().map(|(_, f)| f))
    }

    fn files_mut(&mut self) -> impl Iterator<Item = &mut TextFile> {
        [
            &mut self.base_vars,
            &mut self.base,
            &mut self.package,
            &mut self.final_,
        ]
        .into_iter()
        .chain(self.build_types.iter_mut().map(|(_, f)| f))
    }
}

/// Names of the build types present in `templates_dir` (the files
/// `build-types/<name>.sh.j2`), sorted.
pub fn build_type_names(templates_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(templates_dir.join(BUILD_TYPES_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(BUILD_TYPE_SUFFIX)
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The repository's own `templates/`, as `from_files` takes them: for
/// tests that hold a root in memory.
#[cfg(test)]
pub(crate) fn shipped_templates() -> Vec<(String, String)> {
    macro_rules! files {
        ($($rel:literal),*) => {
            vec![$((
                format!("{TEMPLATES_DIR}/{}", $rel),
                include_str!(concat!("../../templates/", $rel)).to_owned(),
            )),*]
        };
    }
    files!(
        "base.toml",
        "base.Dockerfile.j2",
        "package.Dockerfile.j2",
        "final.Dockerfile.j2",
        "build-types/autoconf.sh.j2",
        "build-types/autogen.sh.j2",
        "build-types/cmake.sh.j2",
        "build-types/custom.sh.j2",
        "build-types/make.sh.j2",
        "build-types/meson.sh.j2"
    )
}

/// Lists `root/packages.d/` and reads its manifests.
fn read_packages(root: &Path) -> Read<PackagesDir> {
    let dir = root.join(PACKAGES_DIR);
    let entries = std::fs::read_dir(&dir).map_err(Arc::new)?;
    // Symlinks may point anywhere inside the project root, never outside
    // it: a manifest's text is quoted in diagnostics.
    let canonical_root = canonical(root);
    let mut listing = PackagesDir::default();
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // Hidden files (.gitkeep, editor state) are not manifests and not
        // strays; a hidden .toml looks like one, so it is listed.
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            if file_name.contains(EDIT_TEMP_MARK) {
                listing.skipped.push(Skipped::EditTemp { path, file_name });
            } else if file_name.ends_with(".toml") && path.is_file() {
                listing.skipped.push(Skipped::Hidden { path, file_name });
            }
            continue;
        }
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if is_link && is_toml {
            match std::fs::canonicalize(&path) {
                Ok(target) if !target.starts_with(&canonical_root) => {
                    listing
                        .skipped
                        .push(Skipped::SymlinkOutside { path, target });
                    continue;
                }
                Err(e) => {
                    listing.skipped.push(Skipped::BrokenSymlink {
                        path,
                        error: Arc::new(e),
                    });
                    continue;
                }
                Ok(_) => {}
            }
        }
        let is_file = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
        if is_file && is_toml {
            files.push(path);
        } else {
            let kind = if path.is_dir() {
                EntryKind::Directory
            } else if is_file {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            listing.skipped.push(Skipped::Stray { path, kind });
        }
    }
    files.sort();
    // The folder resolved once; each file then costs one lstat more than a
    // plain read.
    let real_dir = canonical_dir(&canonical_root, &dir);
    listing.manifests = files
        .into_iter()
        .map(|path| {
            let bytes = match (&real_dir, path.file_name()) {
                (Ok(real), Some(name)) => read_in_dir(&canonical_root, real, Path::new(name)),
                _ => read_root_file(&canonical_root, &path),
            }
            .map_err(Arc::new);
            ManifestFile { path, bytes }
        })
        .collect();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_files_sorts_manifests_and_build_types() {
        let root = Path::new("/nowhere");
        let sources = Sources::from_files(
            root,
            [
                ("packages.d/b.toml", "b".to_owned()),
                ("packages.d/a.toml", "a".to_owned()),
                ("packages.d/notes.txt", String::new()),
                ("templates/build-types/make.sh.j2", "make".to_owned()),
                ("templates/build-types/cmake.sh.j2", "cmake".to_owned()),
                ("templates/base.toml", "prefix = \"/usr\"".to_owned()),
            ],
        );
        assert!(sources.is_root);
        let dir = sources.packages.as_ref().expect("listed");
        let names: Vec<&Path> = dir.manifests.iter().map(|m| m.path.as_path()).collect();
        assert_eq!(
            names,
            [
                root.join("packages.d/a.toml"),
                root.join("packages.d/b.toml")
            ]
        );
        assert_eq!(dir.skipped.len(), 1);
        assert_eq!(sources.templates.build_type_names(), ["cmake", "make"]);
        assert_eq!(
            sources.text(&root.join("templates/base.toml")),
            Some("prefix = \"/usr\"")
        );
        assert!(sources.templates.base.text.is_err());
    }

    #[test]
    fn replace_changes_known_files_only() {
        let root = Path::new("/nowhere");
        let mut sources = Sources::from_files(root, [("packages.d/a.toml", "old".to_owned())]);
        let path = root.join("packages.d/a.toml");
        assert!(sources.replace(&path, "new"));
        assert_eq!(sources.text(&path), Some("new"));
        assert!(!sources.replace(&root.join("packages.d/b.toml"), "x"));
        assert_eq!(sources.text(&root.join("packages.d/b.toml")), None);
    }

    #[test]
    fn reading_the_shipped_root_finds_every_file() {
        let sources = Sources::read(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(sources.is_root);
        let dir = sources.packages.as_ref().expect("packages.d is listed");
        assert_eq!(dir.manifests.len(), 25);
        assert!(dir.manifests.iter().all(|m| m.bytes.is_ok()));
        assert!(dir.manifests.windows(2).all(|w| w[0].path < w[1].path));
        assert_eq!(sources.templates.build_types.len(), 6);
        assert!(sources.templates.base_vars.text.is_ok());
    }
}
