//! `state:` and `result:` comparison with an earlier run: the `--state DIR`
//! folder's `manifest.json` (and `run_results.json`, when there) against the
//! manifest of the project as it is now, both read through the same
//! [`ManifestRecord`], so each side is judged by the same fields. A node is
//! modified when its body (SQL, a seed's file), config, relation,
//! descriptions, enforced contract or a macro it reaches (through other
//! macros too) differs; new nodes count as modified in every respect.
//!
//! The records are also what `sb diff` compares and what `--defer` resolves
//! unbuilt parents to.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::GraphNode;
use super::selector::{Facet, StateComparator};
use crate::diag::Diagnostic;
use crate::resource::NodeId;

/// A manifest in the fields state comparison, `sb diff` and deferral read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ManifestRecord {
    pub metadata: MetadataRecord,
    pub nodes: HashMap<String, NodeRecord>,
    pub sources: HashMap<String, NodeRecord>,
    pub macros: HashMap<String, MacroRecord>,
    pub unit_tests: HashMap<String, Value>,
}

/// Who wrote a manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MetadataRecord {
    /// `sb-<version>` when sb wrote it, dbt's version when dbt did.
    pub dbt_version: String,
}

/// One node of a manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeRecord {
    pub unique_id: String,
    pub name: String,
    pub resource_type: String,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub alias: Option<String>,
    pub relation_name: Option<String>,
    pub checksum: Option<ChecksumRecord>,
    pub config: Map<String, Value>,
    pub depends_on: DependsOnRecord,
    pub description: String,
    pub columns: BTreeMap<String, ColumnRecord>,
    pub constraints: Vec<Value>,
    pub compiled_code: Option<String>,
    pub original_file_path: String,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ChecksumRecord {
    pub checksum: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DependsOnRecord {
    pub macros: Vec<String>,
    pub nodes: Vec<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ColumnRecord {
    pub description: String,
    pub data_type: Option<String>,
    pub constraints: Vec<Value>,
}

/// One macro of a manifest: its text and the macros it calls.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MacroRecord {
    pub macro_sql: String,
    pub depends_on: DependsOnRecord,
}

impl ManifestRecord {
    /// Reads `dir/manifest.json`, written by sb or dbt.
    pub fn read(dir: &Path) -> Result<Self, Diagnostic> {
        let path = dir.join("manifest.json");
        let text = std::fs::read(&path).map_err(|e| {
            Diagnostic::error(format!("cannot read {}: {e}", path.display()))
                .help("--state must name the target folder of an earlier sb or dbt run (it holds manifest.json)")
        })?;
        Self::parse(&text).map_err(|e| {
            Diagnostic::error(format!("{} is not a valid manifest: {e}", path.display()))
                .help("point --state at a target folder written by sb or dbt")
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A node or source by unique id.
    pub fn node(&self, unique_id: &str) -> Option<&NodeRecord> {
        self.nodes
            .get(unique_id)
            .or_else(|| self.sources.get(unique_id))
    }

    /// Its nodes and sources (by unique id) that `current` lacks, sorted.
    pub fn gone(&self, current: &std::collections::HashSet<&str>) -> Vec<(&String, &NodeRecord)> {
        let mut gone: Vec<(&String, &NodeRecord)> = self
            .nodes
            .iter()
            .chain(&self.sources)
            .filter(|(id, _)| !current.contains(id.as_str()))
            .collect();
        gone.sort_by(|a, b| a.0.cmp(b.0));
        gone
    }

    /// Whether dbt (not sb) wrote the manifest: its configs spell out
    /// every default, and its macros include dbt's own.
    fn written_by_dbt(&self) -> bool {
        !self.metadata.dbt_version.is_empty() && !self.metadata.dbt_version.starts_with("sb-")
    }

    /// Every macro `roots` reach, directly or through other macros, that
    /// `known` holds (the project's and its packages' macros as they are
    /// now: dbt's and sb's own macros come with the tool), with its text,
    /// whitespace made single spaces (dbt and sb cut a block's text a
    /// little differently).
    fn macro_closure(&self, roots: &[String], known: &ManifestRecord) -> BTreeMap<String, String> {
        let mut reached: BTreeMap<String, String> = BTreeMap::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut pending: Vec<&str> = roots.iter().map(String::as_str).collect();
        while let Some(id) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            let found = self.macros.get(id);
            if known.macros.contains_key(id) {
                let text = found.map_or(String::new(), |m| {
                    m.macro_sql.split_whitespace().collect::<Vec<_>>().join(" ")
                });
                reached.insert(id.to_string(), text);
            }
            if let Some(found) = found {
                pending.extend(found.depends_on.macros.iter().map(String::as_str));
            }
        }
        reached
    }
}

/// Whether every key `current` sets has the same value in `old`, objects
/// compared key by key: how sb's config (only what is set) compares with
/// a dbt manifest's (every default spelled out).
fn config_within(current: &Map<String, Value>, old: &Map<String, Value>) -> bool {
    current
        .iter()
        .all(|(key, value)| match (value, old.get(key)) {
            (Value::Object(mine), Some(Value::Object(theirs))) => config_within(mine, theirs),
            (Value::Null, None) => true,
            (mine, Some(theirs)) => mine == theirs,
            (_, None) => false,
        })
}

impl NodeRecord {
    fn contract_enforced(&self) -> bool {
        self.config
            .get("contract")
            .and_then(|c| c.get("enforced"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Its description and its columns'.
    fn descriptions(&self) -> (&str, Vec<(&str, &str)>) {
        let columns = self
            .columns
            .iter()
            .map(|(k, c)| (k.as_str(), c.description.as_str()))
            .collect();
        (&self.description, columns)
    }

    /// What an enforced contract fixes: enforcement, each column's type and
    /// constraints, and the model-level constraints.
    fn contract(&self) -> Contract<'_> {
        let columns = self
            .columns
            .iter()
            .map(|(k, c)| (k.as_str(), c.data_type.as_deref(), c.constraints.as_slice()))
            .collect();
        Contract {
            enforced: self.contract_enforced(),
            columns,
            constraints: &self.constraints,
        }
    }

    /// Where it is configured to be built: its `database`, `schema` and
    /// `alias` config. As in dbt, not the names the target resolves them
    /// to, so a state from production compares with a development target.
    fn configured_relation(&self) -> [Option<&Value>; 3] {
        ["database", "schema", "alias"].map(|key| self.config.get(key).filter(|v| !v.is_null()))
    }
}

/// A node's contract, for comparison.
#[derive(PartialEq)]
struct Contract<'a> {
    enforced: bool,
    columns: Vec<(&'a str, Option<&'a str>, &'a [Value])>,
    constraints: &'a [Value],
}

/// What changed about one node, facet by facet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub body: bool,
    pub configs: bool,
    pub macros: bool,
    pub contract: bool,
    pub descriptions: bool,
    pub relation: bool,
}

impl Changes {
    const ALL: Self = Self {
        body: true,
        configs: true,
        macros: true,
        contract: true,
        descriptions: true,
        relation: true,
    };

    pub fn any(self) -> bool {
        self != Self::default()
    }

    pub fn has(self, facet: Facet) -> bool {
        match facet {
            Facet::Body => self.body,
            Facet::Configs => self.configs,
            Facet::Macros => self.macros,
            Facet::Contract => self.contract,
            Facet::PersistedDescriptions => self.descriptions,
            Facet::Relation => self.relation,
        }
    }

    /// The facets that changed, by their selector names.
    pub fn names(self) -> Vec<&'static str> {
        let facets = [
            Facet::Body,
            Facet::Configs,
            Facet::Macros,
            Facet::Contract,
            Facet::PersistedDescriptions,
            Facet::Relation,
        ];
        facets
            .iter()
            .zip(Facet::NAMES)
            .filter(|(facet, _)| self.has(**facet))
            .map(|(_, name)| name)
            .collect()
    }
}

/// How node `id` differs between `old` and `new` (both hold it).
fn compare(old: &ManifestRecord, new: &ManifestRecord, id: &str) -> Changes {
    if let (Some(before), Some(after)) = (old.unit_tests.get(id), new.unit_tests.get(id)) {
        return Changes {
            body: before != after,
            ..Changes::default()
        };
    }
    let (Some(before), Some(after)) = (old.node(id), new.node(id)) else {
        return Changes::ALL;
    };
    let enforced = before.contract_enforced() || after.contract_enforced();
    Changes {
        body: before.checksum != after.checksum,
        configs: if old.written_by_dbt() {
            !config_within(&after.config, &before.config)
        } else {
            before.config != after.config
        },
        macros: old.macro_closure(&before.depends_on.macros, new)
            != new.macro_closure(&after.depends_on.macros, new),
        contract: enforced && before.contract() != after.contract(),
        descriptions: before.descriptions() != after.descriptions(),
        relation: if old.written_by_dbt() {
            // dbt spells out its defaults (a test's `dbt_test__audit`
            // schema): only what the project sets now is compared.
            before
                .configured_relation()
                .iter()
                .zip(after.configured_relation())
                .any(|(was, now)| now.is_some() && *was != now)
        } else {
            before.configured_relation() != after.configured_relation()
        },
    }
}

/// `state:` and `result:` answers for the current nodes.
pub struct ManifestState {
    /// Per current node: `None` when new, else what changed.
    changes: Vec<Option<Changes>>,
    /// Per current node: its status in the earlier `run_results.json`.
    results: Vec<Option<String>>,
    /// Unique ids of the earlier manifest's nodes that are gone.
    pub deleted: Vec<String>,
}

impl ManifestState {
    /// Compares the current manifest (of `nodes`, made by `current` while
    /// the one in `dir` is read, on another thread) with the one in `dir`,
    /// and reads `dir/run_results.json` when there is one.
    pub fn load(
        dir: &Path,
        nodes: &[GraphNode],
        current: impl FnOnce() -> Result<ManifestRecord, Diagnostic> + Send,
    ) -> Result<Self, Diagnostic> {
        let (old, new) = rayon::join(|| ManifestRecord::read(dir), current);
        let (old, new) = (old?, new?);
        let mut state = Self::compare(&old, &new, nodes);
        state.results = read_results(dir, nodes)?;
        // Freeing two manifests of 10,000 nodes (a million allocations)
        // takes a tenth of a second: it happens off the command's path.
        std::thread::spawn(move || drop((old, new)));
        Ok(state)
    }

    /// The comparison alone (no run results).
    pub fn compare(old: &ManifestRecord, new: &ManifestRecord, nodes: &[GraphNode]) -> Self {
        let known = |id: &str| old.node(id).is_some() || old.unit_tests.contains_key(id);
        let changes = nodes
            .iter()
            .map(|node| known(&node.unique_id).then(|| compare(old, new, &node.unique_id)))
            .collect();
        let current: std::collections::HashSet<&str> =
            nodes.iter().map(|n| n.unique_id.as_str()).collect();
        let mut deleted: Vec<String> = old
            .gone(&current)
            .into_iter()
            .map(|(id, _)| id.clone())
            .chain(
                old.unit_tests
                    .keys()
                    .filter(|id| !current.contains(id.as_str()))
                    .cloned(),
            )
            .collect();
        deleted.sort();
        Self {
            changes,
            results: vec![None; nodes.len()],
            deleted,
        }
    }

    /// What changed about `node`; `None` when it is new.
    pub fn changes(&self, node: NodeId) -> Option<Changes> {
        self.changes.get(node.index()).copied().flatten()
    }
}

/// Each current node's status in `dir/run_results.json` (none when there
/// is no such file).
fn read_results(dir: &Path, nodes: &[GraphNode]) -> Result<Vec<Option<String>>, Diagnostic> {
    #[derive(Deserialize)]
    struct RunResults {
        results: Vec<RunResult>,
    }
    #[derive(Deserialize)]
    struct RunResult {
        unique_id: String,
        status: String,
    }
    let path = dir.join("run_results.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(vec![None; nodes.len()]);
    };
    let parsed: RunResults = serde_json::from_slice(&bytes).map_err(|e| {
        Diagnostic::error(format!("{} is not valid run results: {e}", path.display()))
            .help("point --state at a target folder written by sb or dbt")
    })?;
    let by_id: HashMap<&str, &str> = parsed
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r.status.as_str()))
        .collect();
    Ok(nodes
        .iter()
        .map(|n| by_id.get(n.unique_id.as_str()).map(|s| (*s).to_string()))
        .collect())
}

impl StateComparator for ManifestState {
    fn is_modified(&self, node: NodeId, facet: Option<Facet>) -> bool {
        match (self.changes.get(node.index()), facet) {
            (Some(Some(changes)), None) => changes.any(),
            (Some(Some(changes)), Some(facet)) => changes.has(facet),
            // New, or not a node of the project: modified in every respect.
            _ => true,
        }
    }

    fn is_new(&self, node: NodeId) -> bool {
        self.changes.get(node.index()).is_some_and(Option::is_none)
    }

    fn had_result(&self, node: NodeId, status: &str) -> bool {
        self.results
            .get(node.index())
            .and_then(Option::as_deref)
            .is_some_and(|had| had == status || (status == "error" && had == "runtime error"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::graph::tests::model;

    fn manifest(value: &Value) -> ManifestRecord {
        ManifestRecord::parse(value.to_string().as_bytes()).unwrap()
    }

    fn node(checksum: &str, config: &Value, macros: &[&str]) -> Value {
        json!({
            "checksum": {"name": "sha256", "checksum": checksum},
            "config": config,
            "depends_on": {"macros": macros, "nodes": []},
            "description": "",
            "columns": {},
        })
    }

    /// The earlier manifest: five models and two macros, `helper` calling
    /// `inner`.
    fn old() -> ManifestRecord {
        manifest(&json!({
            "nodes": {
                "model.p.same": node("a", &json!({}), &[]),
                "model.p.edited": node("b", &json!({}), &[]),
                "model.p.reconfigured": node("c", &json!({"materialized": "view"}), &[]),
                "model.p.calls_helper": node("d", &json!({}), &["macro.p.helper"]),
                "model.p.gone": node("e", &json!({}), &[]),
            },
            "macros": {
                "macro.p.helper": {"macro_sql": "{{ inner() }}", "depends_on": {"macros": ["macro.p.inner"]}},
                "macro.p.inner": {"macro_sql": "1"},
            },
        }))
    }

    /// The project now: `edited` has a new body, `reconfigured` a new
    /// config, `inner` (reached through `helper`) new text, `added` is new
    /// and `gone` is deleted.
    fn now() -> (ManifestRecord, Vec<GraphNode>) {
        let record = manifest(&json!({
            "nodes": {
                "model.p.same": node("a", &json!({}), &[]),
                "model.p.edited": node("b2", &json!({}), &[]),
                "model.p.reconfigured": node("c", &json!({"materialized": "table"}), &[]),
                "model.p.calls_helper": node("d", &json!({}), &["macro.p.helper"]),
                "model.p.added": node("f", &json!({}), &[]),
            },
            "macros": {
                "macro.p.helper": {"macro_sql": "{{ inner() }}", "depends_on": {"macros": ["macro.p.inner"]}},
                "macro.p.inner": {"macro_sql": "2"},
            },
        }));
        let names = ["same", "edited", "reconfigured", "calls_helper", "added"];
        let nodes = names
            .iter()
            .map(|name| {
                let mut node = model(name, &[]);
                node.unique_id = format!("model.p.{name}");
                node
            })
            .collect();
        (record, nodes)
    }

    #[test]
    fn each_facet_is_told_apart() {
        let (record, nodes) = now();
        let state = ManifestState::compare(&old(), &record, &nodes);
        let facets = |i: usize| state.changes(NodeId::new(i)).map(Changes::names);
        assert_eq!(facets(0), Some(vec![]));
        assert_eq!(facets(1), Some(vec!["body"]));
        assert_eq!(facets(2), Some(vec!["configs"]));
        assert_eq!(facets(3), Some(vec!["macros"]));
        assert_eq!(facets(4), None);
        assert!(state.is_new(NodeId::new(4)));
        assert!(state.is_modified(NodeId::new(4), Some(Facet::Body)));
        assert!(!state.is_modified(NodeId::new(0), None));
        assert!(state.is_modified(NodeId::new(3), Some(Facet::Macros)));
        assert!(!state.is_modified(NodeId::new(3), Some(Facet::Body)));
        assert_eq!(state.deleted, ["model.p.gone"]);
    }

    #[test]
    fn a_contract_counts_only_when_enforced() {
        let column = |data_type: &str| json!({"c": {"data_type": data_type}});
        let with = |enforced: bool, data_type: &str| {
            let mut n = node("a", &json!({"contract": {"enforced": enforced}}), &[]);
            n["columns"] = column(data_type);
            manifest(&json!({"nodes": {"model.p.m": n}}))
        };
        let nodes = vec![{
            let mut n = model("m", &[]);
            n.unique_id = "model.p.m".into();
            n
        }];
        let changed = |a: &ManifestRecord, b: &ManifestRecord| {
            ManifestState::compare(a, b, &nodes)
                .changes(NodeId::new(0))
                .unwrap()
        };
        assert!(changed(&with(true, "int"), &with(true, "varchar")).contract);
        assert!(!changed(&with(false, "int"), &with(false, "varchar")).contract);
    }

    #[test]
    fn results_of_the_earlier_run_are_read_when_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        let (_, nodes) = now();
        let state = ManifestState::load(dir.path(), &nodes, || Ok(now().0)).unwrap();
        assert!(!state.had_result(NodeId::new(0), "error"));
        std::fs::write(
            dir.path().join("run_results.json"),
            json!({"results": [
                {"unique_id": "model.p.same", "status": "error"},
                {"unique_id": "model.p.edited", "status": "skipped"},
            ]})
            .to_string(),
        )
        .unwrap();
        let state = ManifestState::load(dir.path(), &nodes, || Ok(now().0)).unwrap();
        assert!(state.had_result(NodeId::new(0), "error"));
        assert!(state.had_result(NodeId::new(1), "skipped"));
        assert!(!state.had_result(NodeId::new(1), "error"));
    }

    #[test]
    fn missing_or_invalid_manifest_is_a_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let error = ManifestRecord::read(dir.path()).err().unwrap();
        assert!(error.message.starts_with("cannot read "), "{error:?}");
        assert!(error.message.contains("manifest.json"), "{error:?}");
        assert!(error.help.unwrap().starts_with("--state must name"));
        std::fs::write(dir.path().join("manifest.json"), "{ not json").unwrap();
        let error = ManifestRecord::read(dir.path()).err().unwrap();
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
