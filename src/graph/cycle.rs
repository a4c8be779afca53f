//! Why nodes do not form a DAG: [`GraphError`] with its messages, and the
//! search for the one concrete cycle path that is reported (the cyclic
//! component holding the smallest unique id, the shortest way back to it).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use super::{Dag, GraphNode, by_id};
use crate::resource::NodeId;

/// Why a set of nodes does not form a DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// The whole cycle, first node repeated at the end: `a -> b -> c -> a`.
    /// It starts at the node with the smallest unique id in the cycle.
    Cycle { path: Vec<NodeId> },
    /// `depends_on` of `node` names a unique id that is not in the project.
    UnknownDependency { node: NodeId, missing: String },
}

impl GraphError {
    /// The message with node names filled in, e.g.
    /// `dependency cycle: a -> b -> c -> a`.
    pub fn describe(&self, nodes: &[GraphNode]) -> String {
        let name = |i: NodeId| {
            nodes
                .get(i.index())
                .map_or_else(|| format!("#{i}"), GraphNode::display_name)
        };
        match self {
            Self::Cycle { path } => {
                let names: Vec<String> = path.iter().map(|&i| name(i)).collect();
                format!("dependency cycle: {}", names.join(" -> "))
            }
            Self::UnknownDependency { node, missing } => {
                format!("`{}` depends on unknown node `{missing}`", name(*node))
            }
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cycle { path } => {
                let ids: Vec<String> = path.iter().map(|i| format!("#{i}")).collect();
                write!(f, "dependency cycle: {}", ids.join(" -> "))
            }
            Self::UnknownDependency { node, missing } => {
                write!(f, "node #{node} depends on unknown node `{missing}`")
            }
        }
    }
}

impl std::error::Error for GraphError {}

impl Dag {
    /// A concrete cycle through the cyclic component holding the smallest
    /// unique id, starting and ending at that id.
    pub(super) fn find_cycle(&self) -> Vec<NodeId> {
        let start = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .filter_map(|scc| {
                let members: Vec<NodeId> = scc.iter().map(|n| self.graph[*n]).collect();
                let cyclic = members.len() > 1
                    || members
                        .first()
                        .is_some_and(|&m| self.parents(m).contains(&m));
                if !cyclic {
                    return None;
                }
                let first = members
                    .iter()
                    .copied()
                    .min_by(|&a, &b| by_id(&self.ids, a, b))?;
                Some((members, first))
            })
            .min_by(|a, b| by_id(&self.ids, a.1, b.1));
        let Some((members, start)) = start else {
            return Vec::new();
        };
        let inside: BTreeSet<NodeId> = members.into_iter().collect();
        // Breadth-first from `start` inside the component finds the shortest
        // way back to it; children are visited in unique-id order.
        let mut came_from: HashMap<NodeId, NodeId> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            for &next in self.children(at) {
                if next == start {
                    let mut back = Vec::new();
                    let mut cursor = at;
                    while cursor != start {
                        back.push(cursor);
                        match came_from.get(&cursor) {
                            Some(&prev) => cursor = prev,
                            None => break,
                        }
                    }
                    let mut path = vec![start];
                    path.extend(back.into_iter().rev());
                    path.push(start);
                    return path;
                }
                if inside.contains(&next) && !came_from.contains_key(&next) {
                    came_from.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        vec![start, start]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::tests::{id, ids, model, names};

    #[test]
    fn unknown_dependency_is_reported() {
        let nodes = vec![model("a", &[]), model("b", &["nope"])];
        let err = Dag::build(&nodes).unwrap_err();
        assert_eq!(
            err,
            GraphError::UnknownDependency {
                node: id(1),
                missing: "model.proj.nope".to_owned()
            }
        );
        assert_eq!(
            err.describe(&nodes),
            "`b` depends on unknown node `model.proj.nope`"
        );
    }

    #[test]
    fn cycle_reports_whole_path_from_smallest_id() {
        let nodes = vec![
            model("x", &[]),
            model("c", &["b"]),
            model("b", &["a"]),
            model("a", &["c", "x"]),
            model("z", &["c"]),
        ];
        let err = Dag::build(&nodes).unwrap_err();
        let GraphError::Cycle { path } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(names(&nodes, path.iter().copied()), ["a", "b", "c", "a"]);
        assert_eq!(err.describe(&nodes), "dependency cycle: a -> b -> c -> a");
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let nodes = vec![model("a", &[]), model("s", &["s", "a"])];
        let err = Dag::build(&nodes).unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                path: ids([1, 1]).to_vec()
            }
        );
    }

    #[test]
    fn cycle_picks_the_shortest_way_back() {
        // a -> b -> a and a -> c -> d -> a share a; the short one is reported.
        let nodes = vec![
            model("a", &["b", "d"]),
            model("b", &["a"]),
            model("c", &["a"]),
            model("d", &["c"]),
        ];
        let err = Dag::build(&nodes).unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                path: ids([0, 1, 0]).to_vec()
            }
        );
    }
}
