//! The one dependency graph of the program: nodes are indexes, edges go
//! from a node to the nodes it depends on.
//!
//! Owns: build order (Kahn's algorithm, stable), cycles (each reported
//! once, as found by a depth-first walk), the longest chain of nodes after
//! each one (the scheduler's priority), and transitive dependents (what a
//! bump rebuilds). Used by check (cycles), render (order), graph and bump
//! (dependents) and the scheduler (order, priority): a leaf under every
//! layer, so that the flow files → model → check → plan → run stays one
//! way. Must not: know what a node is. Pure.

use std::collections::{BTreeSet, VecDeque};

/// A directed graph over `0..len()`: `deps[i]` are the nodes `i` needs.
#[derive(Debug, Clone)]
pub struct Dag {
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl Dag {
    /// The graph of `deps` (each index below `deps.len()`; duplicates and
    /// out-of-range edges are dropped, keeping the first occurrence).
    pub fn new(deps: Vec<Vec<usize>>) -> Dag {
        let n = deps.len();
        let deps: Vec<Vec<usize>> = deps
            .into_iter()
            .map(|list| {
                let mut seen = BTreeSet::new();
                list.into_iter()
                    .filter(|&d| d < n && seen.insert(d))
                    .collect()
            })
            .collect();
        let mut dependents = vec![Vec::new(); n];
        for (i, list) in deps.iter().enumerate() {
            for &d in list {
                dependents[d].push(i);
            }
        }
        Dag { deps, dependents }
    }

    pub fn len(&self) -> usize {
        self.deps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// What `i` depends on (deduplicated, in the given order).
    pub fn deps(&self, i: usize) -> &[usize] {
        &self.deps[i]
    }

    /// What depends on `i` directly.
    pub fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// Every node, dependencies first (among ready nodes, lower index
    /// first); `Err` holds a cycle, in build order, when there is one.
    pub fn order(&self) -> Result<Vec<usize>, Vec<usize>> {
        let n = self.len();
        let mut indegree: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &j in &self.dependents[i] {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    queue.push_back(j);
                }
            }
        }
        if order.len() < n {
            return Err(self.cycle_among(&indegree));
        }
        Ok(order)
    }

    /// A cycle among the nodes Kahn's algorithm could not order (each has a
    /// dependency that is also left over), in build order.
    fn cycle_among(&self, indegree: &[usize]) -> Vec<usize> {
        let left = |i: usize| indegree[i] > 0;
        let Some(start) = (0..self.len()).find(|&i| left(i)) else {
            return Vec::new();
        };
        let mut path = vec![start];
        let mut on_path = vec![None; self.len()];
        on_path[start] = Some(0);
        let mut cur = start;
        while let Some(&next) = self.deps[cur].iter().find(|&&d| left(d)) {
            if let Some(pos) = on_path[next] {
                let mut cycle = path.split_off(pos);
                cycle.push(next);
                // `path` follows "depends on" edges; show it as build order.
                cycle.reverse();
                return cycle;
            }
            on_path[next] = Some(path.len());
            path.push(next);
            cur = next;
        }
        path
    }

    /// Every cycle a depth-first walk from each node in index order meets,
    /// each once (a cycle touching a node already in a reported cycle is
    /// not reported again); each follows "depends on" edges from its first
    /// node. Self-edges are cycles of one.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let n = self.len();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; n];
        let mut in_cycle = vec![false; n];
        let mut found = Vec::new();
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&to) = self.deps[node].get(*next) {
                    *next += 1;
                    match state[to] {
                        0 => {
                            state[to] = 1;
                            stack.push((to, 0));
                        }
                        1 => {
                            let pos = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                            let cycle: Vec<usize> = stack[pos..].iter().map(|(n, _)| *n).collect();
                            if cycle.iter().any(|n| in_cycle[*n]) {
                                continue;
                            }
                            for n in &cycle {
                                in_cycle[*n] = true;
                            }
                            found.push(cycle);
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        found
    }

    /// For each node, the number of nodes on the longest chain from it to
    /// a node nothing depends on, itself included (`order` must be a build
    /// order of this graph).
    pub fn longest_remaining(&self, order: &[usize]) -> Vec<usize> {
        let mut len = vec![1; self.len()];
        for &i in order.iter().rev() {
            len[i] = 1 + self.dependents[i]
                .iter()
                .map(|&j| len[j])
                .max()
                .unwrap_or(0);
        }
        len
    }

    /// As [`longest_remaining`](Self::longest_remaining), with each node
    /// weighing `weight[i]` instead of 1: the longest remaining work.
    pub fn longest_remaining_weighted(&self, order: &[usize], weight: &[u64]) -> Vec<u64> {
        let mut len = weight.to_vec();
        for &i in order.iter().rev() {
            len[i] = weight[i]
                + self.dependents[i]
                    .iter()
                    .map(|&j| len[j])
                    .max()
                    .unwrap_or(0);
        }
        len
    }

    /// Every node that depends on `i`, directly or not.
    pub fn transitive_dependents(&self, i: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![i];
        while let Some(p) = frontier.pop() {
            for &d in &self.dependents[p] {
                if found.insert(d) {
                    frontier.push(d);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 ← 1 ← 2, 0 ← 3; 4 needs 1, 2, 3.
    fn diamond() -> Dag {
        Dag::new(vec![vec![], vec![0], vec![0, 1, 1], vec![0], vec![1, 2, 3]])
    }

    #[test]
    fn order_puts_dependencies_first_and_is_stable() {
        assert_eq!(diamond().order(), Ok(vec![0, 1, 3, 2, 4]));
        assert_eq!(diamond().deps(2), &[0, 1], "duplicates dropped");
    }

    #[test]
    fn cycles_are_found_and_shown_in_build_order() {
        let g = Dag::new(vec![vec![1], vec![2], vec![0], vec![]]);
        let cycle = g.order().expect_err("a cycle");
        assert_eq!(cycle.len(), 4, "closed: {cycle:?}");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(g.cycles(), vec![vec![0, 1, 2]]);
        let selfish = Dag::new(vec![vec![0]]);
        assert_eq!(selfish.cycles(), vec![vec![0]]);
        assert!(diamond().cycles().is_empty());
    }

    #[test]
    fn each_cycle_once() {
        // Two cycles sharing node 1: the second touches a reported node.
        let g = Dag::new(vec![vec![1], vec![0, 2], vec![1]]);
        assert_eq!(g.cycles().len(), 1);
        // Two separate cycles.
        let g = Dag::new(vec![vec![1], vec![0], vec![3], vec![2]]);
        assert_eq!(g.cycles(), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn longest_chains_and_dependents() {
        let g = diamond();
        let order = g.order().expect("acyclic");
        assert_eq!(g.longest_remaining(&order), vec![4, 3, 2, 2, 1]);
        assert_eq!(
            g.longest_remaining_weighted(&order, &[1, 1, 1, 10, 1]),
            vec![12, 3, 2, 11, 1]
        );
        assert_eq!(g.transitive_dependents(1), BTreeSet::from([2, 4]));
        assert_eq!(g.transitive_dependents(0), BTreeSet::from([1, 2, 3, 4]));
        assert!(g.transitive_dependents(4).is_empty());
    }
}
