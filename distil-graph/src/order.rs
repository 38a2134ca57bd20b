//! The execution order of the steps.

use crate::model::{Graph, Site};
use crate::problem::Problem;

/// Kahn's algorithm, stable in declaration order; one cycle if there is any.
pub(crate) fn topological_order(
    graph: &Graph,
    preds: &[Vec<usize>],
    succs: &[Vec<usize>],
) -> Result<Vec<usize>, Box<Problem>> {
    let n = graph.steps.len();
    let mut indegree: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut order = Vec::with_capacity(n);
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&s| indegree[s] == 0).collect();
    while let Some(s) = ready.pop_first() {
        order.push(s);
        for &t in &succs[s] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.insert(t);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk predecessors inside the remaining subgraph until a step repeats.
    let start = (0..n).find(|&s| indegree[s] > 0).expect("a step is left");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = *preds[current]
            .iter()
            .find(|&&p| indegree[p] > 0)
            .expect("cycle continues");
        if let Some(at) = path.iter().position(|&s| s == next) {
            // `path[at..]` walks predecessors: reversed, it is the cycle in edge direction.
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.reverse();
            let len = cycle.len();
            let edge_index = |from: usize, to: usize| {
                graph
                    .edges
                    .iter()
                    .rposition(|e| e.from == from && e.to == to)
                    .unwrap_or(0)
            };
            // Report the cycle on the connection written last, and spell it out so that it
            // ends with that connection: most likely the one that closed it.
            let (closing, k) = (0..len)
                .map(|k| (edge_index(cycle[k], cycle[(k + 1) % len]), k))
                .max()
                .expect("a cycle has an edge");
            cycle.rotate_left((k + 1) % len);
            cycle.push(cycle[0]);
            return Err(Box::new(Problem::Cycle {
                path: cycle.iter().map(|&s| graph.steps[s].name.clone()).collect(),
                site: Site::Edge(closing),
            }));
        }
        path.push(next);
        current = next;
    }
}
