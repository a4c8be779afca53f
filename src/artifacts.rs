//! `target/manifest.json` and `target/run_results.json`, with the top-level
//! shape and field names of dbt's artifacts so existing tooling reads them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::compile::{CompiledProject, compiled_path, write_file};
use crate::diag::Diagnostic;
use crate::execute::NodeResult;
pub use crate::project::data_tests::hex;
use crate::project::definitions::DefinitionKind;
use crate::resource::{Materialized, NodeId, ResourceType};

const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// Facts about this invocation, shared by every artifact.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub command: String,
    pub args: Map<String, Value>,
}

impl Invocation {
    pub fn new(command: &str, args: Map<String, Value>) -> Self {
        let started_at = chrono::Utc::now();
        let mut hasher = Sha256::new();
        hasher.update(started_at.to_rfc3339().as_bytes());
        hasher.update(std::process::id().to_le_bytes());
        let digest = hex(&hasher.finalize());
        let id = format!(
            "{}-{}-{}-{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[12..16],
            &digest[16..20],
            &digest[20..32]
        );
        Self {
            id,
            started_at,
            command: command.to_string(),
            args,
        }
    }

    /// The `metadata` block every dbt artifact starts with.
    pub fn metadata(&self, schema: &str) -> Value {
        json!({
            "dbt_schema_version": schema,
            "dbt_version": concat!("sb-", env!("CARGO_PKG_VERSION")),
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": self.id,
            "env": {},
        })
    }

    /// The manifest's `metadata`: the common block plus the project and
    /// adapter, which only the manifest's schema has.
    fn manifest_metadata(&self, compiled: &CompiledProject) -> Value {
        let mut metadata = self.metadata(MANIFEST_SCHEMA);
        if let Value::Object(map) = &mut metadata {
            map.insert(
                "project_name".into(),
                Value::from(compiled.project.settings.name.as_str()),
            );
            map.insert(
                "adapter_type".into(),
                Value::from(compiled.project.target.kind.as_str()),
            );
        }
        metadata
    }
}

/// sha256 of a node's defining text, as dbt's `checksum`.
pub fn checksum(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

#[derive(Serialize)]
struct Checksum {
    name: &'static str,
    checksum: String,
}

#[derive(Serialize)]
struct ManifestColumn<'a> {
    name: &'a str,
    description: &'a str,
    meta: &'a serde_json::Map<String, Value>,
    data_type: &'a Option<String>,
    constraints: &'a [Value],
    tags: [&'a str; 0],
}

impl<'a> From<&'a crate::project::Column> for ManifestColumn<'a> {
    fn from(column: &'a crate::project::Column) -> Self {
        Self {
            name: &column.name,
            description: &column.description,
            meta: &column.meta,
            data_type: &column.data_type,
            constraints: &column.constraints,
            tags: [],
        }
    }
}

#[derive(Serialize)]
struct ManifestRef<'a> {
    name: &'a str,
    package: Option<&'a str>,
    version: Option<&'a Value>,
}

#[derive(Serialize)]
struct DependsOn<'a> {
    macros: Vec<String>,
    nodes: Vec<&'a str>,
}

/// The manifest ids of the project's (and packages') macros node `index`
/// calls directly; a generic test calls its test macro.
fn called_macros(compiled: &CompiledProject, index: NodeId) -> Vec<String> {
    let project = &compiled.project;
    let node = &project.nodes[index];
    let root = project.settings.name.as_str();
    let package = (node.package_name != root).then_some(node.package_name.as_str());
    let mut text = node.raw_code.clone();
    if let Some(test) = &node.generic_test {
        let call = match test.test_name.split_once('.') {
            Some((namespace, name)) => format!(" {namespace}.test_{name}"),
            None => format!(" test_{}", test.test_name),
        };
        text.push_str(&call);
    }
    compiled.jinja.called_macro_ids(&text, package, root)
}

/// A node's code checksum as dbt 1.12 takes it: of the code with every run
/// of whitespace made one space, so a change of layout alone is no change
/// (and a manifest dbt wrote compares body for body).
fn code_checksum(code: &str) -> String {
    checksum(&code.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A seed's checksum is its file's, as dbt's: of its text read with
/// universal newlines (`\r\n` and `\r` as `\n`), without leading and
/// trailing whitespace (the data is its body).
fn seed_checksum(compiled: &CompiledProject, index: NodeId) -> String {
    let node = &compiled.project.nodes[index];
    let path = compiled.project.root.join(&node.original_file_path);
    match std::fs::read(&path) {
        Ok(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) => checksum(text.replace("\r\n", "\n").replace('\r', "\n").trim()),
            Err(_) => hex(&Sha256::digest(&bytes)),
        },
        Err(_) => checksum(""),
    }
}

/// One node of `manifest.json`, serialized straight from the compiled
/// project: no intermediate JSON tree.
struct ManifestNode<'a> {
    compiled: &'a CompiledProject,
    index: NodeId,
}

impl Serialize for ManifestNode<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;

        let project = &self.compiled.project;
        let node = &project.nodes[self.index];
        let state = &self.compiled.nodes[self.index];
        let computed;
        let relation = if let Some(relation) = &state.relation {
            relation
        } else {
            computed = project.relation_of(node);
            &computed
        };
        let config = &state.config;
        let parents = || state.depends_on.iter().map(|&p| &project.nodes[p]);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("database", &relation.database)?;
        map.serialize_entry("schema", &relation.schema)?;
        map.serialize_entry("name", &node.name)?;
        map.serialize_entry("resource_type", node.resource_type.as_str())?;
        map.serialize_entry("package_name", &node.package_name)?;
        map.serialize_entry("path", &node.path)?;
        map.serialize_entry("original_file_path", &node.original_file_path)?;
        map.serialize_entry("unique_id", &node.unique_id)?;
        map.serialize_entry("fqn", &node.fqn)?;
        if node.source.is_none() {
            map.serialize_entry("alias", &relation.identifier)?;
        }
        // dbt's sources have no checksum (no code of their own); its generic
        // tests have the empty one (their YAML entry is what they are: a
        // change of it makes another test).
        if node.source.is_none() {
            let checksum = if node.generic_test.is_some() {
                Checksum {
                    name: "none",
                    checksum: String::new(),
                }
            } else if node.resource_type == ResourceType::Seed {
                Checksum {
                    name: "sha256",
                    checksum: seed_checksum(self.compiled, self.index),
                }
            } else {
                Checksum {
                    name: "sha256",
                    checksum: code_checksum(&node.raw_code),
                }
            };
            map.serialize_entry("checksum", &checksum)?;
        }
        map.serialize_entry("config", &config.0)?;
        map.serialize_entry("tags", &config.tags())?;
        if node.resource_type == ResourceType::Model {
            let version = node.version.as_ref();
            map.serialize_entry("version", &version.map(|v| &v.v))?;
            map.serialize_entry("latest_version", &version.map(|v| &v.latest))?;
            map.serialize_entry("constraints", &node.constraints)?;
        }
        map.serialize_entry("description", &node.description)?;
        let columns: IndexMap<&str, ManifestColumn<'_>> = node
            .columns
            .values()
            .map(|c| (c.name.as_str(), ManifestColumn::from(c)))
            .collect();
        map.serialize_entry("columns", &columns)?;
        map.serialize_entry("meta", config.get("meta").unwrap_or(&json!({})))?;
        map.serialize_entry(
            "patch_path",
            &node
                .yaml_path
                .as_ref()
                .map(|p| format!("{}://{p}", node.package_name)),
        )?;
        let relation_name = match config.materialized() {
            _ if node.resource_type == ResourceType::Analysis => None,
            Materialized::Ephemeral | Materialized::Test => None,
            _ => Some(project.target.kind.render_relation(relation)),
        };
        map.serialize_entry("relation_name", &relation_name)?;
        if node.resource_type == ResourceType::Seed {
            // A seed is data, not code: dbt gives it macro dependencies only.
            map.serialize_entry("raw_code", &node.raw_code)?;
            map.serialize_entry("depends_on", &json!({"macros": []}))?;
        } else if node.source.is_none() {
            map.serialize_entry("raw_code", &node.raw_code)?;
            map.serialize_entry("language", "sql")?;
            let refs: Vec<ManifestRef<'_>> = parents()
                .filter(|p| matches!(p.resource_type, ResourceType::Model | ResourceType::Seed))
                .map(|p| ManifestRef {
                    name: &p.name,
                    package: None,
                    // A ref to an older or newer version than the latest
                    // must have pinned it.
                    version: p.version.as_ref().filter(|v| !v.is_latest()).map(|v| &v.v),
                })
                .collect();
            map.serialize_entry("refs", &refs)?;
            let sources: Vec<[&str; 2]> = parents()
                .filter_map(|p| p.source.as_ref().map(|s| [s.source_name.as_str(), &p.name]))
                .collect();
            map.serialize_entry("sources", &sources)?;
            let nodes: Vec<&str> = parents().map(|p| p.unique_id.as_str()).collect();
            let macros = called_macros(self.compiled, self.index);
            map.serialize_entry("depends_on", &DependsOn { macros, nodes })?;
        }
        if let Some(sql) = &state.compiled {
            let path = compiled_path(
                Path::new(&project.settings.target_path),
                &project.settings.name,
                &node.compiled_file(),
            );
            map.serialize_entry("compiled_path", &crate::project::slash(&path))?;
            map.serialize_entry("compiled", &true)?;
            map.serialize_entry("compiled_code", sql)?;
            map.serialize_entry("extra_ctes_injected", &true)?;
            map.serialize_entry("extra_ctes", &[(); 0])?;
        }
        if let Some(test) = &node.generic_test {
            let attached = &project.nodes[test.attached];
            let mut kwargs = test.args.clone();
            if let Some(column) = &test.column {
                kwargs.insert("column_name".into(), Value::from(column.clone()));
            }
            let target = crate::project::data_tests::relation_call(attached);
            kwargs.insert(
                "model".into(),
                Value::from(format!("{{{{ get_where_subquery({target}) }}}}")),
            );
            map.serialize_entry(
                "test_metadata",
                &json!({"name": test.test_name, "kwargs": kwargs, "namespace": null}),
            )?;
            map.serialize_entry("column_name", &test.column)?;
            map.serialize_entry("attached_node", &attached.unique_id)?;
        }
        if let Some(source) = &node.source {
            map.serialize_entry("source_name", &source.source_name)?;
            map.serialize_entry("source_description", &source.source_description)?;
            map.serialize_entry("loader", &source.loader)?;
            map.serialize_entry("identifier", &source.identifier)?;
        }
        map.end()
    }
}

/// Writes an artifact at `path` through `<path>.partial`, renamed into
/// place, so no reader (a second sb, dbt's tooling) ever sees half a file.
pub fn write_artifact(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), Diagnostic> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let failed =
        |e: std::io::Error| Diagnostic::error(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let file = std::fs::File::create(&partial).map_err(failed)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    write(&mut out).map_err(failed)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    drop(file);
    // Secret values never reach target/: masked in the written file (read
    // back only when there are secrets).
    if crate::secrets::any() {
        let written = std::fs::read(&partial).map_err(failed)?;
        if let std::borrow::Cow::Owned(masked) = crate::secrets::redact_bytes(&written) {
            std::fs::write(&partial, masked).map_err(failed)?;
        }
    }
    std::fs::rename(&partial, path).map_err(failed)
}

/// Writes `target/manifest.json` in dbt's top-level shape, streaming the
/// nodes.
pub fn write_manifest(
    compiled: &CompiledProject,
    invocation: &Invocation,
) -> Result<(), Diagnostic> {
    let path = compiled.project.target_dir().join("manifest.json");
    write_artifact(&path, |out| write_manifest_to(out, compiled, invocation))
}

fn write_manifest_to(
    out: &mut impl std::io::Write,
    compiled: &CompiledProject,
    invocation: &Invocation,
) -> std::io::Result<()> {
    let (nodes, sources, disabled) = node_sections(compiled);
    out.write_all(b"{\"metadata\":")?;
    out.write_all(&json(&invocation.manifest_metadata(compiled)))?;
    out.write_all(b",\"nodes\":")?;
    write_node_map(out, compiled, &nodes, false)?;
    out.write_all(b",\"sources\":")?;
    write_node_map(out, compiled, &sources, false)?;
    out.write_all(b",\"macros\":")?;
    out.write_all(&json(&macros_map(compiled)))?;
    out.write_all(b",\"docs\":")?;
    out.write_all(&json(&docs_map(&compiled.project)))?;
    write_definitions(out, compiled, DefinitionKind::Exposure)?;
    write_definitions(out, compiled, DefinitionKind::Metric)?;
    for empty in ["groups", "selectors"] {
        write!(out, ",\"{empty}\":{{}}")?;
    }
    // dbt lists each disabled node's versions: a list of one here.
    out.write_all(b",\"disabled\":")?;
    write_node_map(out, compiled, &disabled, true)?;
    let (parent_map, child_map) = lineage_maps(compiled);
    out.write_all(b",\"parent_map\":")?;
    out.write_all(&json(&parent_map))?;
    out.write_all(b",\"child_map\":")?;
    out.write_all(&json(&child_map))?;
    out.write_all(b",\"group_map\":{}")?;
    write_definitions(out, compiled, DefinitionKind::SavedQuery)?;
    write_definitions(out, compiled, DefinitionKind::SemanticModel)?;
    out.write_all(b",\"unit_tests\":")?;
    out.write_all(&json(&unit_tests_map(compiled)))?;
    out.write_all(b"}")
}

/// The manifest's `macros`: the project's and its packages' macros (sb's
/// own come with sb and are left out), each with its text and the macros
/// it calls, so a later `state:modified` sees a changed macro.
fn macros_map(compiled: &CompiledProject) -> Map<String, Value> {
    let root = &compiled.project.settings.name;
    compiled
        .jinja
        .manifest_macros(root)
        .into_iter()
        .map(|entry| {
            let path = crate::project::slash(&entry.path);
            let value = json!({
                "name": entry.name,
                "resource_type": "macro",
                "package_name": entry.package,
                "path": path,
                "original_file_path": path,
                "unique_id": entry.unique_id,
                "macro_sql": entry.sql,
                "depends_on": {"macros": entry.calls},
                "description": "",
                "meta": {},
                "docs": {"show": true, "node_color": null},
                "patch_path": null,
                "arguments": [],
                "created_at": 0.0,
                "supported_languages": null,
            });
            (entry.unique_id, value)
        })
        .collect()
}

/// The enabled nodes, the enabled sources and the disabled ones, as the
/// manifest's `nodes`, `sources` and `disabled` hold them (unit tests have
/// their own section).
fn node_sections(compiled: &CompiledProject) -> (Vec<NodeId>, Vec<NodeId>, Vec<NodeId>) {
    let (mut nodes, mut sources, mut disabled) = (Vec::new(), Vec::new(), Vec::new());
    for (index, node) in NodeId::enumerate(&compiled.project.nodes) {
        if node.resource_type == ResourceType::UnitTest {
            continue;
        }
        if !compiled.nodes[index].config.enabled() {
            disabled.push(index);
        } else if node.resource_type == ResourceType::Source {
            sources.push(index);
        } else {
            nodes.push(index);
        }
    }
    (nodes, sources, disabled)
}

/// The project's manifest as state comparison reads it: the sections of
/// `manifest.json` it reads (`nodes`, `sources`, `macros`, `unit_tests`),
/// each node serialized by the same code as for the file and read back
/// (in parallel), so both sides of a comparison have one form.
pub fn manifest_record(
    compiled: &CompiledProject,
) -> Result<crate::graph::state::ManifestRecord, Diagnostic> {
    use crate::graph::state::{ManifestRecord, NodeRecord};
    let records = |members: &[NodeId]| -> Result<HashMap<String, NodeRecord>, serde_json::Error> {
        members
            .par_iter()
            .map(|&index| {
                let bytes = serde_json::to_vec(&ManifestNode { compiled, index })?;
                let record: NodeRecord = serde_json::from_slice(&bytes)?;
                Ok((compiled.project.nodes[index].unique_id.clone(), record))
            })
            .collect()
    };
    let (nodes, sources, _) = node_sections(compiled);
    let made = (|| -> Result<ManifestRecord, serde_json::Error> {
        Ok(ManifestRecord {
            metadata: crate::graph::state::MetadataRecord {
                dbt_version: concat!("sb-", env!("CARGO_PKG_VERSION")).to_string(),
            },
            nodes: records(&nodes)?,
            sources: records(&sources)?,
            macros: serde_json::from_value(Value::Object(macros_map(compiled)))?,
            unit_tests: unit_tests_map(compiled).into_iter().collect(),
        })
    })();
    made.map_err(|e| {
        Diagnostic::error(format!("cannot make the manifest: {e}")).help("report this")
    })
}

/// The manifest's `unit_tests`: each unit test's definition, by unique id.
fn unit_tests_map(compiled: &CompiledProject) -> Map<String, Value> {
    let project = &compiled.project;
    let mut out = Map::new();
    for (index, node) in NodeId::enumerate(&project.nodes) {
        let Some(spec) = project.unit_tests.get(&node.unique_id) else {
            continue;
        };
        let state = &compiled.nodes[index];
        let depends_on: Vec<&str> = state
            .depends_on
            .iter()
            .map(|&p| project.nodes[p].unique_id.as_str())
            .collect();
        let overrides = spec.overrides.manifest_value();
        out.insert(
            node.unique_id.clone(),
            json!({
                "model": spec.model,
                "given": spec.given.iter().map(crate::project::unit_tests::Fixture::manifest_value).collect::<Vec<_>>(),
                "expect": spec.expect.manifest_value(),
                "name": node.name,
                "resource_type": "unit_test",
                "package_name": node.package_name,
                "path": node.path,
                "original_file_path": node.original_file_path,
                "unique_id": node.unique_id,
                "fqn": node.fqn,
                "description": node.description,
                "overrides": overrides,
                "depends_on": {"macros": [], "nodes": depends_on},
                "config": {"tags": state.config.tags(), "meta": state.config.get("meta").cloned().unwrap_or_else(|| json!({})), "enabled": state.config.enabled()},
                "schema": state.relation.as_ref().map(|r| r.schema.clone()),
            }),
        );
    }
    out
}

/// The manifest's `docs`: every `{% docs %}` block, by unique id.
fn docs_map(project: &crate::project::Project) -> serde_json::Map<String, Value> {
    project
        .docs
        .iter()
        .map(|doc| {
            let entry = serde_json::json!({
                "name": doc.name,
                "resource_type": "doc",
                "package_name": doc.package,
                "path": doc.path,
                "original_file_path": doc.original_file_path,
                "unique_id": doc.unique_id(),
                "block_contents": doc.contents,
            });
            (doc.unique_id(), entry)
        })
        .collect()
}

/// `,"exposures":{...}` (or metrics, ...): the project's definitions of `kind`.
fn write_definitions(
    out: &mut impl std::io::Write,
    compiled: &CompiledProject,
    kind: DefinitionKind,
) -> std::io::Result<()> {
    let map: Map<String, Value> = compiled
        .project
        .definitions
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| {
            (
                d.unique_id.clone(),
                d.manifest_entry(&compiled.project.settings.name),
            )
        })
        .collect();
    write!(out, ",\"{}\":", kind.yaml_key())?;
    out.write_all(&json(&map))
}

/// Nodes serialized per chunk in parallel, then written in order: memory
/// holds one chunk of JSON at a time, never the whole manifest.
const MANIFEST_CHUNK: usize = 512;

/// `{"unique_id": node, ...}` for `members`, each node (or, `in_list`, a
/// one-node list) serialized in parallel a chunk at a time.
fn write_node_map(
    out: &mut impl std::io::Write,
    compiled: &CompiledProject,
    members: &[NodeId],
    in_list: bool,
) -> std::io::Result<()> {
    out.write_all(b"{")?;
    for (n, chunk) in members.chunks(MANIFEST_CHUNK).enumerate() {
        let parts: Vec<Vec<u8>> = chunk
            .par_iter()
            .map(|&index| {
                let mut part = json(&compiled.project.nodes[index].unique_id);
                part.push(b':');
                let node = ManifestNode { compiled, index };
                if in_list {
                    part.push(b'[');
                    let _ = serde_json::to_writer(&mut part, &node);
                    part.push(b']');
                } else {
                    let _ = serde_json::to_writer(&mut part, &node);
                }
                part
            })
            .collect();
        for (i, part) in parts.iter().enumerate() {
            if n > 0 || i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(part)?;
        }
    }
    out.write_all(b"}")
}

/// A value as JSON bytes (sb's own values always serialize).
fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Unique ids by unique id, as `parent_map` and `child_map` hold them.
type IdsById<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Parents and children by unique id, over enabled nodes, children sorted.
fn lineage_maps(compiled: &CompiledProject) -> (IdsById<'_>, IdsById<'_>) {
    let project = &compiled.project;
    let mut parent_map = IdsById::new();
    let mut child_map = IdsById::new();
    for (index, node) in project.nodes.iter().enumerate() {
        if !compiled.nodes[index].config.enabled() {
            continue;
        }
        child_map.entry(&node.unique_id).or_default();
        let parents = parent_map.entry(&node.unique_id).or_default();
        for &parent in &compiled.nodes[index].depends_on {
            let parent_id = project.nodes[parent].unique_id.as_str();
            parents.push(parent_id);
            child_map
                .entry(parent_id)
                .or_default()
                .push(&node.unique_id);
        }
    }
    for children in child_map.values_mut() {
        children.sort_unstable();
    }
    (parent_map, child_map)
}

/// A result's `adapter_response`: rows affected, the warehouse's message,
/// and what the adapter added.
pub fn adapter_response(result: &NodeResult) -> Map<String, Value> {
    let mut response = Map::new();
    if let Some(rows) = result.rows_affected {
        response.insert("rows_affected".into(), Value::from(rows));
    }
    response.insert("_message".into(), Value::from(result.message.clone()));
    for (key, value) in &result.extra {
        response.insert(key.clone(), value.clone());
    }
    response
}

/// Builds `run_results.json` as a JSON value.
pub fn run_results(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    elapsed: f64,
) -> Value {
    let format_time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            let node = &compiled.project.nodes[r.index];
            let relation_name = compiled.nodes[r.index]
                .relation
                .as_ref()
                .filter(|_| node.resource_type != ResourceType::Test)
                .map(|rel| compiled.project.target.kind.render_relation(rel));
            let adapter_response = adapter_response(r);
            json!({
                "status": r.status.as_str(),
                "timing": [
                    {"name": "compile", "started_at": format_time(&r.started_at), "completed_at": format_time(&r.started_at)},
                    {"name": "execute", "started_at": format_time(&r.started_at), "completed_at": format_time(&r.completed_at)},
                ],
                "thread_id": r.thread_id,
                "execution_time": r.seconds,
                "adapter_response": adapter_response,
                "message": r.message,
                "failures": r.failures,
                "unique_id": node.unique_id,
                "compiled": r.compiled_code.is_some(),
                "compiled_code": r.compiled_code,
                "relation_name": relation_name,
            })
        })
        .collect();
    json!({
        "metadata": invocation.metadata(RUN_RESULTS_SCHEMA),
        "results": entries,
        "elapsed_time": elapsed,
        "args": Value::Object(invocation.args.clone()),
    })
}

pub fn write_run_results(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    elapsed: f64,
) -> Result<(), Diagnostic> {
    let path = compiled.project.target_dir().join("run_results.json");
    let value = run_results(compiled, invocation, results, elapsed);
    write_artifact(&path, |out| {
        serde_json::to_writer_pretty(out, &value).map_err(std::io::Error::from)
    })
}

/// `target/junit.xml`: one `<testcase>` per test that was selected, for CI
/// systems. A failed test carries `<failure>` with its message and first
/// failing rows, a test that could not run `<error>`, a skipped one
/// `<skipped>`; a warning passes with the warning as `<system-out>`.
pub fn junit_xml(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    elapsed: f64,
) -> String {
    use crate::execute::Status;
    use std::fmt::Write as _;
    let tests: Vec<&NodeResult> = results
        .iter()
        .filter(|r| {
            matches!(
                compiled.project.nodes[r.index].resource_type,
                ResourceType::Test | ResourceType::UnitTest
            )
        })
        .collect();
    let count = |status: Status| tests.iter().filter(|r| r.status == status).count();
    let name = xml_escape(&compiled.project.settings.name);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{elapsed:.3}\"",
        tests.len(),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Skipped),
    );
    let _ = writeln!(out, "<testsuites name=\"{name}\" {totals}>");
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}.{}\" {totals} timestamp=\"{}\">",
        xml_escape(&invocation.command),
        invocation.started_at.format("%Y-%m-%dT%H:%M:%S")
    );
    for result in tests {
        let node = &compiled.project.nodes[result.index];
        let classname = node.generic_test.as_ref().map_or_else(
            || node.original_file_path.clone(),
            |t| compiled.project.nodes[t.attached].unique_id.clone(),
        );
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            xml_escape(&node.name),
            xml_escape(&classname),
            result.seconds
        );
        let detail = result
            .diagnostic
            .as_ref()
            .map_or_else(|| result.message.clone(), Diagnostic::render);
        let body = match result.status {
            Status::Fail => Some(format!(
                "<failure message=\"{}\" type=\"fail\">{}</failure>",
                xml_escape(&result.message),
                xml_escape(&detail)
            )),
            Status::Error => Some(format!(
                "<error message=\"{}\" type=\"error\">{}</error>",
                xml_escape(&result.message),
                xml_escape(&detail)
            )),
            Status::Skipped => Some(format!(
                "<skipped message=\"{}\"/>",
                xml_escape(&result.message)
            )),
            Status::Warn => Some(format!("<system-out>{}</system-out>", xml_escape(&detail))),
            _ => None,
        };
        match body {
            Some(body) => {
                let _ = writeln!(out, ">\n      {body}\n    </testcase>");
            }
            None => {
                let _ = writeln!(out, "/>");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

pub fn write_junit(
    compiled: &CompiledProject,
    invocation: &Invocation,
    results: &[NodeResult],
    elapsed: f64,
) -> Result<(), Diagnostic> {
    let path = compiled.project.target_dir().join("junit.xml");
    write_file(&path, &junit_xml(compiled, invocation, results, elapsed))
}

/// Text escaped for XML content and attribute values; characters XML 1.0
/// cannot hold at all are dropped.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}
