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
}

impl ResourceType {
    pub const ALL: [ResourceType; 4] = [Self::Model, Self::Seed, Self::Source, Self::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Seed => "seed",
            Self::Source => "source",
            Self::Test => "test",
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
}

impl Materialized {
    /// What a model may ask for in `config(materialized=...)`.
    pub const FOR_MODELS: [Materialized; 4] =
        [Self::View, Self::Table, Self::Incremental, Self::Ephemeral];

    pub const ALL: [Materialized; 6] = [
        Self::View,
        Self::Table,
        Self::Incremental,
        Self::Ephemeral,
        Self::Seed,
        Self::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Table => "table",
            Self::Incremental => "incremental",
            Self::Ephemeral => "ephemeral",
            Self::Seed => "seed",
            Self::Test => "test",
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
