//! The names the manifests declare: each package name, and the stage name
//! made of it, may be claimed by one manifest only.
//!
//! Owns: the claim (who holds a name when two files declare it) and the
//! duplicate-package and duplicate-stage problems. Must not: judge a name
//! itself (`manifest` does), or skip a file with other problems: a name is
//! declared by whatever file says it, so that its dependents are not also
//! reported.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::check::diag::Problem;
use crate::check::Parsed;
use crate::model::manifest;
use crate::model::source::TomlSource;

/// Every name declared, even by files with other problems, with the index
/// in `parsed` of the file that holds it; each second claim of a package or
/// stage name is reported.
pub(super) fn claim(parsed: &[Parsed], problems: &mut Vec<Problem>) -> HashMap<String, usize> {
    let mut declared: HashMap<String, usize> = HashMap::new();
    let mut stages: HashMap<String, usize> = HashMap::new();
    // Files named after their package claim their name first, so that the
    // copy with the wrong file name is the one reported.
    let name_of = |source: &TomlSource| {
        source
            .json
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut claim_order: Vec<usize> = (0..parsed.len()).collect();
    claim_order.sort_by_key(|&i| {
        let source = &parsed[i].0;
        let named_right =
            name_of(source).is_some_and(|n| file_label(&source.path) == manifest::file_name(&n));
        (!named_right, i)
    });
    for i in claim_order {
        let source = &parsed[i].0;
        let Some(name) = name_of(source) else {
            continue;
        };
        if let Some(&first) = declared.get(&name) {
            problems.push(duplicate(&parsed[first].0, source, &name, Same::Package));
            continue;
        }
        declared.insert(name.clone(), i);
        let stage = manifest::stage_name(&name);
        if let Some(&first) = stages.get(&stage) {
            problems.push(duplicate(&parsed[first].0, source, &name, Same::Stage));
        }
        stages.entry(stage).or_insert(i);
    }
    declared
}

/// What a second manifest claims again.
#[derive(Clone, Copy)]
enum Same {
    Package,
    Stage,
}

fn duplicate(first: &TomlSource, again: &TomlSource, name: &str, same: Same) -> Problem {
    let (code, what, message) = match same {
        Same::Package => (
            "manifest::duplicate-package",
            "package",
            format!(
                "package `{name}` is already defined in {}",
                first.path.display()
            ),
        ),
        Same::Stage => (
            "manifest::duplicate-stage",
            "stage name",
            format!(
                "`{name}` has the same stage name as the package of {}",
                first.path.display()
            ),
        ),
    };
    Problem::error(code, &again.path, message)
        .at(
            &again.text,
            again.value_span("/name"),
            format!("same {what} as in {}", file_label(&first.path)),
        )
        .help("each package has exactly one manifest: merge the two files or rename one package")
}

/// The file name of `path`, as problems name a manifest.
pub(super) fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}
