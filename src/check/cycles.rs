//! Dependency cycles among the manifests that met the schema: each cycle
//! reported once, at the dependency that closes it, starting from its
//! smallest name so the message is stable.
//!
//! Owns: the graph of known, non-self dependencies and the cycle problem.
//! Must not: report an unknown or self dependency (`manifest` does), or
//! find cycles itself (`dag` does).

use std::collections::HashMap;

use crate::check::diag::Problem;
use crate::check::Parsed;

/// Reports each dependency cycle once, at the first edge of the cycle.
pub(super) fn check_cycles(
    parsed: &[Parsed],
    declared: &HashMap<String, usize>,
    problems: &mut Vec<Problem>,
) {
    // Graph over parsed files with a manifest, following known, non-self edges.
    let edges: Vec<Vec<(usize, usize)>> = parsed
        .iter()
        .map(|(_, m)| {
            m.as_ref()
                .map(|m| {
                    m.depends
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| *d != &m.name)
                        .filter_map(|(k, d)| declared.get(d).map(|&j| (j, k)))
                        .filter(|(j, _)| parsed[*j].1.is_some())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let dag = crate::dag::Dag::new(
        edges
            .iter()
            .map(|e| e.iter().map(|&(to, _)| to).collect())
            .collect(),
    );
    for cycle in dag.cycles() {
        problems.push(cycle_problem(parsed, &edges, &cycle));
    }
}

fn cycle_problem(parsed: &[Parsed], edges: &[Vec<(usize, usize)>], cycle: &[usize]) -> Problem {
    let name = |i: usize| parsed[i].1.as_ref().map_or("?", |m| m.name.as_str());
    // Start the cycle at its smallest name so the message is stable.
    let start = (0..cycle.len())
        .min_by_key(|&k| name(cycle[k]))
        .unwrap_or(0);
    let ordered: Vec<usize> = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .copied()
        .collect();
    let mut text: Vec<&str> = ordered.iter().map(|&i| name(i)).collect();
    text.push(name(ordered[0]));
    let (first, second) = (ordered[0], ordered.get(1).copied().unwrap_or(ordered[0]));
    let dep_index = edges[first]
        .iter()
        .find(|(to, _)| *to == second)
        .map_or(0, |(_, k)| *k);
    let source = &parsed[first].0;
    Problem::error("manifest::dependency-cycle", &source.path, format!("dependency cycle: {}", text.join(" → ")))
        .at(&source.text, source.value_span(&format!("/depends/{dep_index}")), "this dependency closes a cycle")
        .help("packages are built in dependency order, so a cycle can never start: remove one of these dependencies")
}
