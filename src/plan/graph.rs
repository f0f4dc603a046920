//! The stage graph as text: an indented tree, Graphviz dot, or Mermaid.
//!
//! Owns: the three renderings and the dependents query `bump` uses. Pure.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::manifest::stage_name;
use crate::model::project::Project;

/// Every package that (transitively) depends on `package`, in byte order.
pub fn dependents(project: &Project, package: &str) -> BTreeSet<String> {
    let Some(i) = project.packages.get_index_of(package) else {
        return BTreeSet::new();
    };
    project
        .dag()
        .transitive_dependents(i)
        .into_iter()
        .filter_map(|j| project.packages.get_index(j).map(|(n, _)| n.clone()))
        .collect()
}

fn sorted_deps(project: &Project, name: &str) -> Vec<String> {
    let mut deps = project
        .package(name)
        .map(|p| p.manifest.depends.clone())
        .unwrap_or_default();
    deps.sort();
    deps
}

/// An indented tree rooted at the final image: the packages nothing else
/// depends on, each with its dependencies; a subtree shown before is
/// marked `(*)`.
pub fn text(project: &Project) -> String {
    let needed: BTreeSet<&String> = project
        .packages
        .values()
        .flat_map(|p| &p.manifest.depends)
        .collect();
    let tops: Vec<String> = project
        .packages
        .keys()
        .filter(|n| !needed.contains(n))
        .cloned()
        .collect();
    let mut out = String::from("final\n");
    let mut shown = BTreeSet::new();
    for (i, top) in tops.iter().enumerate() {
        tree(project, top, "", i + 1 == tops.len(), &mut shown, &mut out);
    }
    out.push_str("(every package stage starts FROM base; final copies them all)\n");
    out
}

fn tree(
    project: &Project,
    name: &str,
    indent: &str,
    last: bool,
    shown: &mut BTreeSet<String>,
    out: &mut String,
) {
    let deps = sorted_deps(project, name);
    let repeated = !deps.is_empty() && !shown.insert(name.to_owned());
    let _ = writeln!(
        out,
        "{indent}{}{name}{}",
        if last { "└── " } else { "├── " },
        if repeated { " (*)" } else { "" }
    );
    if repeated {
        return;
    }
    let child_indent = format!("{indent}{}", if last { "    " } else { "│   " });
    for (i, dep) in deps.iter().enumerate() {
        tree(project, dep, &child_indent, i + 1 == deps.len(), shown, out);
    }
}

/// Graphviz: an edge from each stage to the stages built on it.
pub fn dot(project: &Project) -> String {
    let mut out = String::from(
        "digraph stages {\n  rankdir=LR;\n  \"base\" [shape=box];\n  \"final\" [shape=box];\n",
    );
    for (name, pkg) in &project.packages {
        let _ = writeln!(out, "  \"{name}\";");
        if pkg.manifest.depends.is_empty() {
            let _ = writeln!(out, "  \"base\" -> \"{name}\";");
        }
        for dep in sorted_deps(project, name) {
            let _ = writeln!(out, "  \"{dep}\" -> \"{name}\";");
        }
        let _ = writeln!(out, "  \"{name}\" -> \"final\";");
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart, node ids are stage names.
pub fn mermaid(project: &Project) -> String {
    let mut out = String::from("flowchart LR\n  base[base]\n  final[final]\n");
    for (name, pkg) in &project.packages {
        let id = stage_name(name);
        let _ = writeln!(out, "  {id}[\"{name}\"]");
        if pkg.manifest.depends.is_empty() {
            let _ = writeln!(out, "  base --> {id}");
        }
        for dep in sorted_deps(project, name) {
            let _ = writeln!(out, "  {} --> {id}", stage_name(&dep));
        }
        let _ = writeln!(out, "  {id} --> final");
    }
    out
}
