//! The project graph: nodes joined by their `ref()`/`source()` dependencies,
//! a deterministic build order, ancestor and descendant walks, the whole path
//! of a dependency cycle (`cycle.rs`, with [`GraphError`]), and the "did you
//! mean" name matcher that every stage uses for hints. Node selection lives
//! in [`selector`], the `state:` comparison with an earlier manifest in
//! [`state`].

mod cycle;
pub mod selector;
pub mod state;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};

use crate::resource::{NodeId, ResourceType};

pub use cycle::GraphError;

/// One node of the project as the graph sees it: identity, location, config
/// and the unique ids it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// dbt-style id: `model.proj.orders`, `source.proj.synthetic.users`.
    pub unique_id: String,
    /// `orders`; for sources the table name.
    pub name: String,
    pub resource_type: ResourceType,
    /// Project-relative with forward slashes: `models/marts/orders.sql`.
    pub original_file_path: String,
    /// `["proj", "marts", "orders"]`.
    pub fqn: Vec<String>,
    pub tags: Vec<String>,
    /// The effective config (`materialized`, `schema`, `tags`, `enabled`, ...).
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Unique ids of the parents.
    pub depends_on: Vec<String>,
    /// For sources: the source's name (`synthetic`).
    pub source_name: Option<String>,
    pub package_name: String,
    /// Of a versioned model: where this version stands.
    pub version: Option<VersionRank>,
}

/// Where a version of a model stands against its latest version, as the
/// `version:` selector method names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRank {
    Latest,
    /// Older than the latest.
    Old,
    /// Newer than the latest: reached only by a pinned `ref`.
    Prerelease,
}

impl GraphNode {
    /// False only when the effective config says `enabled: false`.
    pub fn is_enabled(&self) -> bool {
        !matches!(
            self.config.get("enabled"),
            Some(serde_json::Value::Bool(false))
        )
    }

    /// How a person names the node: `orders`, `synthetic.users` for a
    /// source, `dim_customers.v2` for a version of a model.
    pub fn display_name(&self) -> String {
        match &self.source_name {
            Some(source) if self.resource_type == ResourceType::Source => {
                format!("{source}.{}", self.name)
            }
            _ => match (self.version, self.fqn.last()) {
                (Some(_), Some(version)) => format!("{}.{version}", self.name),
                _ => self.name.clone(),
            },
        }
    }
}

/// The dependency graph over a slice of [`GraphNode`]s; node `i` of the graph
/// is `nodes[i]`, edges point from parent to child.
#[derive(Debug, Clone)]
pub struct Dag {
    graph: DiGraph<NodeId, ()>,
    ids: Vec<String>,
    kinds: Vec<ResourceType>,
    index: HashMap<String, NodeId>,
    parents: Vec<Vec<NodeId>>,
    children: Vec<Vec<NodeId>>,
    order: Vec<NodeId>,
}

impl Dag {
    /// Builds the graph; fails on a dependency that is not in `nodes` or on a
    /// cycle. A unique id that appears twice resolves to its first occurrence
    /// (the project loader reports duplicates with their files).
    pub fn build(nodes: &[GraphNode]) -> Result<Dag, GraphError> {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, node) in NodeId::enumerate(nodes) {
            index.entry(node.unique_id.clone()).or_insert(i);
        }
        let ids: Vec<String> = nodes.iter().map(|n| n.unique_id.clone()).collect();
        let mut parents: Vec<Vec<NodeId>> = Vec::with_capacity(nodes.len());
        for (i, node) in NodeId::enumerate(nodes) {
            let mut mine = Vec::with_capacity(node.depends_on.len());
            for dep in &node.depends_on {
                match index.get(dep) {
                    Some(&p) => mine.push(p),
                    None => {
                        return Err(GraphError::UnknownDependency {
                            node: i,
                            missing: dep.clone(),
                        });
                    }
                }
            }
            mine.sort_by(|&a, &b| by_id(&ids, a, b));
            mine.dedup();
            parents.push(mine);
        }
        let mut children: Vec<Vec<NodeId>> = vec![Vec::new(); nodes.len()];
        let mut graph = DiGraph::with_capacity(nodes.len(), 0);
        for i in NodeId::all(nodes.len()) {
            graph.add_node(i);
        }
        for (child, mine) in NodeId::enumerate(&parents) {
            for &parent in mine {
                if let Some(list) = children.get_mut(parent.index()) {
                    list.push(child);
                }
                graph.add_edge(
                    NodeIndex::new(parent.index()),
                    NodeIndex::new(child.index()),
                    (),
                );
            }
        }
        for list in &mut children {
            list.sort_by(|&a, &b| by_id(&ids, a, b));
        }
        let mut dag = Dag {
            graph,
            ids,
            kinds: nodes.iter().map(|n| n.resource_type).collect(),
            index,
            parents,
            children,
            order: Vec::new(),
        };
        dag.order = dag.kahn();
        if dag.order.len() < nodes.len() {
            return Err(GraphError::Cycle {
                path: dag.find_cycle(),
            });
        }
        Ok(dag)
    }

    /// Kahn's algorithm; among ready nodes the smallest unique id goes first.
    fn kahn(&self) -> Vec<NodeId> {
        let mut waiting: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<(&str, NodeId)>> = NodeId::enumerate(&waiting)
            .filter(|&(_, &count)| count == 0)
            .map(|(i, _)| Reverse((self.id(i), i)))
            .collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(Reverse((_, i))) = ready.pop() {
            order.push(i);
            for &child in self.children(i) {
                if let Some(count) = waiting.get_mut(child.index()) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        ready.push(Reverse((self.id(child), child)));
                    }
                }
            }
        }
        order
    }

    fn id(&self, i: NodeId) -> &str {
        self.ids.get(i.index()).map_or("", String::as_str)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The node index of a unique id.
    pub fn index_of(&self, unique_id: &str) -> Option<NodeId> {
        self.index.get(unique_id).copied()
    }

    pub fn unique_id(&self, i: NodeId) -> Option<&str> {
        self.ids.get(i.index()).map(String::as_str)
    }

    pub fn resource_type(&self, i: NodeId) -> Option<ResourceType> {
        self.kinds.get(i.index()).copied()
    }

    /// The underlying petgraph graph; node weights are indices into the slice.
    pub fn graph(&self) -> &DiGraph<NodeId, ()> {
        &self.graph
    }

    /// Every node, parents before children; ties broken by unique id.
    pub fn topological_order(&self) -> &[NodeId] {
        &self.order
    }

    /// Direct parents, sorted by unique id; empty for an unknown index.
    pub fn parents(&self, i: NodeId) -> &[NodeId] {
        self.parents.get(i.index()).map_or(&[], Vec::as_slice)
    }

    /// Direct children, sorted by unique id; empty for an unknown index.
    pub fn children(&self, i: NodeId) -> &[NodeId] {
        self.children.get(i.index()).map_or(&[], Vec::as_slice)
    }

    /// Ancestors of `i` up to `depth` generations (all when `None`), without `i`.
    pub fn ancestors(&self, i: NodeId, depth: Option<usize>) -> BTreeSet<NodeId> {
        walk(&self.parents, i, depth)
    }

    /// Descendants of `i` up to `depth` generations (all when `None`), without `i`.
    pub fn descendants(&self, i: NodeId, depth: Option<usize>) -> BTreeSet<NodeId> {
        walk(&self.children, i, depth)
    }

    /// dbt's manifest `parent_map`: every unique id to its parents' ids.
    pub fn parent_map(&self) -> BTreeMap<String, Vec<String>> {
        self.id_map(&self.parents)
    }

    /// dbt's manifest `child_map`: every unique id to its children's ids.
    pub fn child_map(&self) -> BTreeMap<String, Vec<String>> {
        self.id_map(&self.children)
    }

    fn id_map(&self, edges: &[Vec<NodeId>]) -> BTreeMap<String, Vec<String>> {
        self.ids
            .iter()
            .zip(edges)
            .map(|(id, list)| {
                let ids = list.iter().map(|&j| self.id(j).to_owned()).collect();
                (id.clone(), ids)
            })
            .collect()
    }
}

fn by_id(ids: &[String], a: NodeId, b: NodeId) -> std::cmp::Ordering {
    let key = |i: NodeId| ids.get(i.index()).map_or("", String::as_str);
    key(a).cmp(key(b)).then(a.cmp(&b))
}

fn walk(edges: &[Vec<NodeId>], start: NodeId, depth: Option<usize>) -> BTreeSet<NodeId> {
    let mut seen = BTreeSet::new();
    let mut frontier = vec![start];
    let mut generation = 0usize;
    while !frontier.is_empty() && depth.is_none_or(|d| generation < d) {
        generation += 1;
        let mut next = Vec::new();
        for at in frontier {
            for &j in edges.get(at.index()).map_or(&[][..], Vec::as_slice) {
                if j != start && seen.insert(j) {
                    next.push(j);
                }
            }
        }
        frontier = next;
    }
    seen
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A model node named `name` that depends on the named models.
    pub(crate) fn model(name: &str, deps: &[&str]) -> GraphNode {
        GraphNode {
            unique_id: format!("model.proj.{name}"),
            name: name.to_owned(),
            resource_type: ResourceType::Model,
            original_file_path: format!("models/{name}.sql"),
            fqn: vec!["proj".to_owned(), name.to_owned()],
            tags: Vec::new(),
            config: serde_json::Map::new(),
            depends_on: deps.iter().map(|d| format!("model.proj.{d}")).collect(),
            source_name: None,
            package_name: "proj".to_owned(),
            version: None,
        }
    }

    pub(crate) fn names(nodes: &[GraphNode], idx: impl IntoIterator<Item = NodeId>) -> Vec<String> {
        idx.into_iter().map(|i| nodes[i].name.clone()).collect()
    }

    /// The ids of the given indices.
    pub(crate) fn ids<const N: usize>(indices: [usize; N]) -> [NodeId; N] {
        indices.map(NodeId::new)
    }

    pub(crate) fn id(index: usize) -> NodeId {
        NodeId::new(index)
    }

    #[test]
    fn topological_order_breaks_ties_by_unique_id() {
        let nodes = vec![
            model("d", &["b", "c"]),
            model("c", &["a"]),
            model("b", &["a"]),
            model("a", &[]),
            model("e", &[]),
        ];
        let dag = Dag::build(&nodes).unwrap();
        assert_eq!(
            names(&nodes, dag.topological_order().iter().copied()),
            ["a", "b", "c", "d", "e"]
        );
    }

    #[test]
    fn parents_children_and_walks() {
        let nodes = vec![
            model("a", &[]),
            model("b", &["a"]),
            model("c", &["b"]),
            model("d", &["c", "a"]),
        ];
        let dag = Dag::build(&nodes).unwrap();
        assert_eq!(dag.parents(id(3)), &ids([0, 2]));
        assert_eq!(dag.children(id(0)), &ids([1, 3]));
        assert_eq!(dag.ancestors(id(3), None), BTreeSet::from(ids([0, 1, 2])));
        assert_eq!(dag.ancestors(id(3), Some(1)), BTreeSet::from(ids([0, 2])));
        assert_eq!(dag.ancestors(id(3), Some(0)), BTreeSet::new());
        assert_eq!(dag.descendants(id(0), None), BTreeSet::from(ids([1, 2, 3])));
        assert_eq!(dag.descendants(id(0), Some(1)), BTreeSet::from(ids([1, 3])));
        assert!(dag.parents(id(99)).is_empty());
        assert!(dag.ancestors(id(99), None).is_empty());
        assert_eq!(dag.index_of("model.proj.c"), Some(id(2)));
        assert_eq!(dag.resource_type(id(2)), Some(ResourceType::Model));
    }

    #[test]
    fn parent_and_child_maps_are_keyed_by_unique_id() {
        let nodes = vec![model("a", &[]), model("b", &["a", "a"])];
        let dag = Dag::build(&nodes).unwrap();
        let parents = dag.parent_map();
        assert_eq!(parents["model.proj.b"], ["model.proj.a"]);
        assert!(parents["model.proj.a"].is_empty());
        assert_eq!(dag.child_map()["model.proj.a"], ["model.proj.b"]);
    }

    #[test]
    fn empty_graph_is_fine() {
        let dag = Dag::build(&[]).unwrap();
        assert!(dag.is_empty());
        assert!(dag.topological_order().is_empty());
    }
}
