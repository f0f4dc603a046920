//! A checked project: the templates and the packages of a root, by name
//! in byte order. Only `check` makes one, and only when every rule holds
//! (or, for views, from what parsed).

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::model::manifest::Manifest;
use crate::model::source::TomlSource;
use crate::model::template::Templates;

/// One checked package: its manifest and the file it came from.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: Manifest,
    pub source: TomlSource,
}

/// A checked project: templates and packages, sorted by name (byte order).
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub templates: Templates,
    pub packages: IndexMap<String, Package>,
}

impl Project {
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.get(name)
    }

    /// The packages without a `rev`: their revision is looked up at run
    /// time (branch head, Gerrit), in byte order of name.
    pub fn unpinned(&self) -> impl Iterator<Item = &str> {
        self.packages
            .iter()
            .filter(|(_, p)| p.manifest.rev.is_none())
            .map(|(name, _)| name.as_str())
    }

    /// The packages' dependency graph, by index in `packages` (dependencies
    /// that name no package are left out).
    pub fn dag(&self) -> crate::dag::Dag {
        crate::dag::Dag::new(
            self.packages
                .values()
                .map(|p| {
                    p.manifest
                        .depends
                        .iter()
                        .filter_map(|d| self.packages.get_index_of(d))
                        .collect()
                })
                .collect(),
        )
    }
}
