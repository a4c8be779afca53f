//! Node selection as dbt does it: the `--select` / `--exclude` grammar
//! (whitespace-separated terms are a union, comma-joined parts an
//! intersection, `+`/`N+`/`+N`/`@` graph operators around `method:value`),
//! the selector methods, and the indirect selection of tests that follow the
//! models they test.
//!
//! This module holds the public types and the parsed form of a selector that
//! the three stages share: `parse.rs` reads the grammar, `eval.rs` does the
//! set logic and graph operators, `methods.rs` decides what each
//! `method:value` matches.

mod eval;
mod methods;
mod parse;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use crate::resource::{NodeId, ResourceType};

pub use methods::glob;
pub use parse::parse;

/// Answers `state:` and `result:` selectors by comparing against an
/// earlier run's `manifest.json` and `run_results.json`.
pub trait StateComparator {
    /// The node differs from (or is absent in) the earlier manifest; with
    /// a facet, in that respect only (new nodes count for every facet).
    fn is_modified(&self, node: NodeId, facet: Option<Facet>) -> bool;
    /// The node is absent in the earlier manifest.
    fn is_new(&self, node: NodeId) -> bool;
    /// The earlier run's result for the node had `status` (`error`,
    /// `fail`, `skipped`, `success`, `pass`, `warn`).
    fn had_result(&self, node: NodeId, status: &str) -> bool;
}

/// What about a node changed, as dbt's `state:modified.<facet>` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    /// Its SQL (a seed: its file's contents).
    Body,
    /// Its config.
    Configs,
    /// A macro it calls, directly or through other macros.
    Macros,
    /// Its enforced contract: columns, types, constraints.
    Contract,
    /// Its description or its columns' (schema YAML).
    PersistedDescriptions,
    /// Where it is configured to be built: `database`, `schema`, `alias`.
    Relation,
}

impl Facet {
    pub const NAMES: [&'static str; 6] = [
        "body",
        "configs",
        "macros",
        "contract",
        "persisted_descriptions",
        "relation",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "body" => Self::Body,
            "configs" => Self::Configs,
            "macros" => Self::Macros,
            "contract" => Self::Contract,
            "persisted_descriptions" => Self::PersistedDescriptions,
            "relation" => Self::Relation,
            _ => return None,
        })
    }
}

/// How tests are pulled in by the nodes they test (dbt's `--indirect-selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any of its parents is.
    #[default]
    Eager,
    /// A test is selected when all of its parents are.
    Cautious,
    /// A test is selected when each parent is selected or an ancestor of the
    /// selection (or a source), and at least one parent is selected.
    Buildable,
    /// Tests are selected only directly.
    Empty,
}

/// A selector the user wrote wrongly; `help` says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
    pub help: Option<String>,
}

impl SelectorError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SelectorError {}

/// The outcome of a selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// The selected nodes.
    pub nodes: BTreeSet<NodeId>,
    /// Terms (as written, from `--select` or `--exclude`) that matched no
    /// enabled node; the caller warns about them.
    pub unmatched_terms: Vec<String>,
}

/// A parsed `--select` / `--exclude` pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// Empty: no `--select` given, so everything is selected.
    select: Vec<Term>,
    exclude: Vec<Term>,
}

/// Comma-joined parts, intersected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    method: Method,
    value: String,
    /// `@`: the node, its descendants and all their ancestors.
    at: bool,
    /// `None`: no `+` on that side.
    parents: Option<Depth>,
    children: Option<Depth>,
}

/// How far a `+` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// A bare `+`.
    All,
    /// `N+` or `+N`.
    Generations(usize),
}

impl Depth {
    fn limit(self) -> Option<usize> {
        match self {
            Self::All => None,
            Self::Generations(n) => Some(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    /// A bare value: name, fqn, or `source.table`.
    Default,
    Fqn,
    Tag,
    Path,
    File,
    Config(Vec<String>),
    Source,
    ResourceType(ResourceType),
    Package,
    State(StateKind),
    /// `result:error|fail|skipped|...` of the earlier run.
    Result(String),
    /// `version:latest|old|prerelease|none`: `None` selects unversioned nodes.
    Version(Option<crate::graph::VersionRank>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateKind {
    Modified(Option<Facet>),
    New,
    Deleted,
}
