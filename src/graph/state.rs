//! `state:` comparison: reads the `manifest.json` of an earlier run (the
//! `--state DIR` folder) and answers, per current node, whether it is new or
//! modified since then. The caller passes the code checksum as a function, so
//! the manifest's checksum format stays with the artifacts that write it.

use std::path::Path;

use serde_json::Value;

use super::GraphNode;
use super::selector::StateComparator;
use crate::diag::Diagnostic;
use crate::resource::{NodeId, ResourceType};

/// `state:` selection against the `manifest.json` of an earlier run: a node
/// is new when its id is absent there, modified when its code or config differ.
pub struct ManifestState {
    /// Per current node: `None` when new, else whether it changed.
    changed: Vec<Option<bool>>,
}

impl ManifestState {
    /// Compares `nodes` with `dir/manifest.json`; `code_checksum(i)` is the
    /// manifest checksum of node `i`'s raw code, as the manifest writes it.
    pub fn load(
        dir: &Path,
        nodes: &[GraphNode],
        code_checksum: impl Fn(NodeId) -> String,
    ) -> Result<Self, Diagnostic> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostic::error(format!("cannot read {}: {e}", path.display()))
                .help("--state must name the target folder of an earlier sb or dbt run (it holds manifest.json)")
        })?;
        let old: Value = serde_json::from_str(&text).map_err(|e| {
            Diagnostic::error(format!("{} is not a valid manifest: {e}", path.display()))
                .help("point --state at a target folder written by sb or dbt")
        })?;
        let changed = NodeId::enumerate(nodes)
            .map(|(index, node)| {
                let previous = old
                    .get("nodes")
                    .and_then(|n| n.get(&node.unique_id))
                    .or_else(|| old.get("sources").and_then(|n| n.get(&node.unique_id)))?;
                let old_checksum = previous
                    .pointer("/checksum/checksum")
                    .and_then(Value::as_str);
                let same_code = old_checksum == Some(code_checksum(index).as_str())
                    || node.resource_type == ResourceType::Source;
                let same_config =
                    previous.get("config") == Some(&Value::Object(node.config.clone()));
                Some(!(same_code && same_config))
            })
            .collect();
        Ok(Self { changed })
    }
}

impl StateComparator for ManifestState {
    fn is_modified(&self, node: NodeId) -> bool {
        self.changed
            .get(node.index())
            .copied()
            .flatten()
            .unwrap_or(true)
    }

    fn is_new(&self, node: NodeId) -> bool {
        self.changed.get(node.index()).is_some_and(Option::is_none)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::graph::tests::model;

    /// The current project: `same`, `edited` (new body), `reconfigured` (new
    /// config), `added` (not in the old manifest) and the source `raw.users`
    /// (sources carry no code, so only their config counts).
    fn current() -> (Vec<GraphNode>, Vec<&'static str>) {
        let mut reconfigured = model("reconfigured", &[]);
        reconfigured
            .config
            .insert("materialized".into(), json!("table"));
        let mut users = model("users", &[]);
        users.unique_id = "source.proj.raw.users".into();
        users.resource_type = ResourceType::Source;
        users.source_name = Some("raw".into());
        let nodes = vec![
            model("same", &[]),
            model("edited", &[]),
            reconfigured,
            model("added", &[]),
            users,
        ];
        let codes = vec!["select 1", "select 2 -- edited", "select 3", "select 4", ""];
        (nodes, codes)
    }

    fn old_manifest() -> Value {
        json!({
            "nodes": {
                "model.proj.same": {"checksum": {"name": "sha256", "checksum": "select 1"}, "config": {}},
                "model.proj.edited": {"checksum": {"name": "sha256", "checksum": "select 2"}, "config": {}},
                "model.proj.reconfigured": {
                    "checksum": {"name": "sha256", "checksum": "select 3"},
                    "config": {"materialized": "view"}
                },
            },
            "sources": {
                "source.proj.raw.users": {"checksum": {"name": "sha256", "checksum": "other"}, "config": {}},
            },
        })
    }

    /// Loads the state from a folder holding `manifest`; the test checksum
    /// is the code itself.
    fn load(manifest: &str) -> Result<ManifestState, Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), manifest).unwrap();
        let (nodes, codes) = current();
        ManifestState::load(dir.path(), &nodes, |i| codes[i].to_owned())
    }

    #[test]
    fn unchanged_node_is_neither_modified_nor_new() {
        let state = load(&old_manifest().to_string()).unwrap();
        assert!(!state.is_modified(NodeId::new(0)));
        assert!(!state.is_new(NodeId::new(0)));
    }

    #[test]
    fn modified_body_or_config_is_modified_but_not_new() {
        let state = load(&old_manifest().to_string()).unwrap();
        assert!(state.is_modified(NodeId::new(1)));
        assert!(!state.is_new(NodeId::new(1)));
        assert!(state.is_modified(NodeId::new(2)));
        assert!(!state.is_new(NodeId::new(2)));
    }

    #[test]
    fn node_absent_from_the_old_manifest_is_new_and_modified() {
        let state = load(&old_manifest().to_string()).unwrap();
        assert!(state.is_new(NodeId::new(3)));
        assert!(state.is_modified(NodeId::new(3)));
    }

    #[test]
    fn source_compares_config_only() {
        let state = load(&old_manifest().to_string()).unwrap();
        assert!(!state.is_modified(NodeId::new(4)));
        assert!(!state.is_new(NodeId::new(4)));
    }

    #[test]
    fn index_past_the_nodes_counts_as_modified_not_new() {
        let state = load(&old_manifest().to_string()).unwrap();
        assert!(state.is_modified(NodeId::new(99)));
        assert!(!state.is_new(NodeId::new(99)));
    }

    #[test]
    fn missing_or_invalid_manifest_is_a_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let error = ManifestState::load(dir.path(), &[], |_| String::new())
            .err()
            .unwrap();
        assert!(error.message.starts_with("cannot read "), "{error:?}");
        assert!(error.message.contains("manifest.json"), "{error:?}");
        assert!(error.help.unwrap().starts_with("--state must name"));
        let error = load("{ not json").err().unwrap();
        assert!(
            error.message.contains("is not a valid manifest: "),
            "{error:?}"
        );
        assert_eq!(
            error.help.as_deref(),
            Some("point --state at a target folder written by sb or dbt")
        );
    }
}
