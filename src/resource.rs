//! The kinds of node a project holds, shared by every stage of the pipeline.

use serde::Serialize;

/// What a node in the project graph is; spelled as dbt spells it in artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Source,
    Test,
    /// dbt's analyses: SQL that is compiled, never run.
    Analysis,
    /// dbt's snapshots: the history of a query's rows.
    Snapshot,
    /// dbt's unit tests: a model's SQL run on given rows, its output
    /// compared with the expected rows.
    UnitTest,
}

impl ResourceType {
    pub const ALL: [ResourceType; 7] = [
        Self::Model,
        Self::Seed,
        Self::Source,
        Self::Test,
        Self::Analysis,
        Self::Snapshot,
        Self::UnitTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Seed => "seed",
            Self::Source => "source",
            Self::Test => "test",
            Self::Analysis => "analysis",
            Self::Snapshot => "snapshot",
            Self::UnitTest => "unit_test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a node becomes a relation: a model's `materialized` config, and the
/// fixed kinds of seeds and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialized {
    View,
    Table,
    Incremental,
    Ephemeral,
    Seed,
    Test,
    Snapshot,
}

impl Materialized {
    /// What a model may ask for in `config(materialized=...)`.
    pub const FOR_MODELS: [Materialized; 4] =
        [Self::View, Self::Table, Self::Incremental, Self::Ephemeral];

    pub const ALL: [Materialized; 7] = [
        Self::View,
        Self::Table,
        Self::Incremental,
        Self::Ephemeral,
        Self::Seed,
        Self::Test,
        Self::Snapshot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Table => "table",
            Self::Incremental => "incremental",
            Self::Ephemeral => "ephemeral",
            Self::Seed => "seed",
            Self::Test => "test",
            Self::Snapshot => "snapshot",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl std::fmt::Display for Materialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's place in the project: its index in `Project::nodes`, and in
/// every list kept beside it (compiled nodes, graph nodes, catalog
/// relations). Lists are indexed with it directly: `nodes[id]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct NodeId(usize);

impl NodeId {
    /// No node (a project hook's render): every lookup by it finds nothing.
    pub const NONE: NodeId = NodeId(usize::MAX);

    pub const fn new(index: usize) -> Self {
        Self(index)
    }

    pub const fn index(self) -> usize {
        self.0
    }

    /// Every id of a list of `len` nodes, in order.
    pub fn all(len: usize) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator {
        (0..len).map(Self)
    }

    /// Each node of `nodes` with its id.
    pub fn enumerate<T>(nodes: &[T]) -> impl DoubleEndedIterator<Item = (NodeId, &T)> {
        nodes.iter().enumerate().map(|(i, node)| (Self(i), node))
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> std::ops::Index<NodeId> for [T] {
    type Output = T;

    fn index(&self, id: NodeId) -> &T {
        &self[id.0]
    }
}

impl<T> std::ops::IndexMut<NodeId> for [T] {
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        &mut self[id.0]
    }
}

impl<T> std::ops::Index<NodeId> for Vec<T> {
    type Output = T;

    fn index(&self, id: NodeId) -> &T {
        &self[id.0]
    }
}

impl<T> std::ops::IndexMut<NodeId> for Vec<T> {
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        &mut self[id.0]
    }
}
