//! `target/manifest.json` and `target/run_results.json`, with the top-level
//! shape and field names of dbt's artifacts so existing tooling reads them.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::compile::{CompiledProject, compiled_path, write_file};
use crate::diag::Diagnostic;
use crate::execute::NodeResult;
use crate::resource::ResourceType;

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

    fn metadata(&self, schema: &str, compiled: &CompiledProject) -> Value {
        json!({
            "dbt_schema_version": schema,
            "dbt_version": concat!("sb-", env!("CARGO_PKG_VERSION")),
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": self.id,
            "env": {},
            "project_name": compiled.project.settings.name,
            "adapter_type": compiled.project.target.kind.as_str(),
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// sha256 of a node's defining text, as dbt's `checksum`.
pub fn checksum(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn node_json(compiled: &CompiledProject, index: usize) -> Value {
    let project = &compiled.project;
    let node = &project.nodes[index];
    let state = &compiled.nodes[index];
    let relation = state
        .relation
        .clone()
        .unwrap_or_else(|| project.relation_of(node));
    let config = &state.config;
    let columns: Map<String, Value> = node
        .columns
        .values()
        .map(|c| {
            (
                c.name.clone(),
                json!({
                    "name": c.name,
                    "description": c.description,
                    "meta": c.meta,
                    "data_type": c.data_type,
                    "tags": [],
                }),
            )
        })
        .collect();
    let refs: Vec<Value> = state
        .depends_on
        .iter()
        .filter(|&&p| {
            matches!(
                project.nodes[p].resource_type,
                ResourceType::Model | ResourceType::Seed
            )
        })
        .map(|&p| json!({"name": project.nodes[p].name, "package": null, "version": null}))
        .collect();
    let sources: Vec<Value> = state
        .depends_on
        .iter()
        .filter_map(|&p| {
            project.nodes[p]
                .source
                .as_ref()
                .map(|s| json!([s.source_name, project.nodes[p].name]))
        })
        .collect();
    let relation_name = match config.materialized() {
        "ephemeral" | "test" => Value::Null,
        _ => Value::from(project.target.kind.render_relation(&relation)),
    };
    let mut out = json!({
        "database": relation.database,
        "schema": relation.schema,
        "name": node.name,
        "resource_type": node.resource_type.as_str(),
        "package_name": node.package_name,
        "path": node.path,
        "original_file_path": node.original_file_path,
        "unique_id": node.unique_id,
        "fqn": node.fqn,
        "alias": relation.identifier,
        "checksum": {"name": "sha256", "checksum": checksum(&node.raw_code)},
        "config": Value::Object(config.0.clone()),
        "tags": config.tags(),
        "description": node.description,
        "columns": columns,
        "meta": config.get("meta").cloned().unwrap_or(json!({})),
        "patch_path": node.yaml_path.as_ref().map(|p| format!("{}://{p}", node.package_name)),
        "relation_name": relation_name,
        "raw_code": node.raw_code,
        "language": "sql",
        "refs": refs,
        "sources": sources,
        "depends_on": {
            "macros": [],
            "nodes": state.depends_on.iter().map(|&p| project.nodes[p].unique_id.clone()).collect::<Vec<_>>(),
        },
    });
    if let (Some(map), Some(sql)) = (out.as_object_mut(), &state.compiled) {
        let path = compiled_path(
            Path::new(&project.settings.target_path),
            &project.settings.name,
            &node.compiled_file(),
        );
        map.insert(
            "compiled_path".into(),
            Value::from(crate::project::slash(&path)),
        );
        map.insert("compiled".into(), Value::from(true));
        map.insert("compiled_code".into(), Value::from(sql.as_str()));
        map.insert("extra_ctes_injected".into(), Value::from(true));
        map.insert("extra_ctes".into(), json!([]));
    }
    if let (Some(map), Some(test)) = (out.as_object_mut(), &node.generic_test) {
        let attached = &project.nodes[test.attached];
        let mut kwargs = test.args.clone();
        if let Some(column) = &test.column {
            kwargs.insert("column_name".into(), Value::from(column.clone()));
        }
        let target = match &attached.source {
            Some(s) => format!("source('{}', '{}')", s.source_name, attached.name),
            None => format!("ref('{}')", attached.name),
        };
        kwargs.insert(
            "model".into(),
            Value::from(format!("{{{{ get_where_subquery({target}) }}}}")),
        );
        map.insert(
            "test_metadata".into(),
            json!({"name": test.test_name, "kwargs": kwargs, "namespace": null}),
        );
        map.insert("column_name".into(), json!(test.column));
        map.insert(
            "attached_node".into(),
            Value::from(attached.unique_id.clone()),
        );
    }
    if let (Some(map), Some(source)) = (out.as_object_mut(), &node.source) {
        map.insert(
            "source_name".into(),
            Value::from(source.source_name.clone()),
        );
        map.insert(
            "source_description".into(),
            Value::from(source.source_description.clone()),
        );
        map.insert("loader".into(), Value::from(source.loader.clone()));
        map.insert("identifier".into(), Value::from(source.identifier.clone()));
        map.remove("alias");
        map.remove("raw_code");
        map.remove("language");
        map.remove("refs");
        map.remove("sources");
        map.remove("depends_on");
    }
    out
}

/// A node already serialized, so nodes can be written in parallel.
type RawJson = Box<serde_json::value::RawValue>;

/// `manifest.json`, in dbt's top-level shape.
#[derive(Serialize)]
struct Manifest {
    metadata: Value,
    nodes: IndexMap<String, RawJson>,
    sources: IndexMap<String, RawJson>,
    macros: Value,
    docs: Value,
    exposures: Value,
    metrics: Value,
    groups: Value,
    selectors: Value,
    disabled: IndexMap<String, Vec<RawJson>>,
    parent_map: BTreeMap<String, Vec<String>>,
    child_map: BTreeMap<String, Vec<String>>,
    group_map: Value,
    saved_queries: Value,
    semantic_models: Value,
    unit_tests: Value,
}

fn manifest(compiled: &CompiledProject, invocation: &Invocation) -> Manifest {
    let project = &compiled.project;
    let serialized: Vec<RawJson> = (0..project.nodes.len())
        .into_par_iter()
        .map(|index| {
            serde_json::value::to_raw_value(&node_json(compiled, index))
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
        })
        .collect();
    let mut nodes = IndexMap::new();
    let mut sources = IndexMap::new();
    let mut disabled = IndexMap::new();
    for ((index, node), value) in project.nodes.iter().enumerate().zip(serialized) {
        if !compiled.nodes[index].config.enabled() {
            disabled.insert(node.unique_id.clone(), vec![value]);
        } else if node.resource_type == ResourceType::Source {
            sources.insert(node.unique_id.clone(), value);
        } else {
            nodes.insert(node.unique_id.clone(), value);
        }
    }
    let mut parent_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut child_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (index, node) in project.nodes.iter().enumerate() {
        if !compiled.nodes[index].config.enabled() {
            continue;
        }
        child_map.entry(node.unique_id.clone()).or_default();
        let parents = parent_map.entry(node.unique_id.clone()).or_default();
        for &parent in &compiled.nodes[index].depends_on {
            let parent_id = project.nodes[parent].unique_id.clone();
            parents.push(parent_id.clone());
            child_map
                .entry(parent_id)
                .or_default()
                .push(node.unique_id.clone());
        }
    }
    for children in child_map.values_mut() {
        children.sort();
    }
    let empty = || json!({});
    Manifest {
        metadata: invocation.metadata(MANIFEST_SCHEMA, compiled),
        nodes,
        sources,
        macros: empty(),
        docs: empty(),
        exposures: empty(),
        metrics: empty(),
        groups: empty(),
        selectors: empty(),
        disabled,
        parent_map,
        child_map,
        group_map: empty(),
        saved_queries: empty(),
        semantic_models: empty(),
        unit_tests: empty(),
    }
}

/// Builds `manifest.json` as a JSON value.
pub fn manifest_value(compiled: &CompiledProject, invocation: &Invocation) -> Value {
    serde_json::to_value(manifest(compiled, invocation)).unwrap_or(Value::Null)
}

pub fn write_manifest(
    compiled: &CompiledProject,
    invocation: &Invocation,
) -> Result<(), Diagnostic> {
    let path = compiled.project.target_dir().join("manifest.json");
    let text = serde_json::to_string(&manifest(compiled, invocation)).unwrap_or_default();
    write_file(&path, &text)
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
            let mut adapter_response = Map::new();
            if let Some(rows) = r.rows_affected {
                adapter_response.insert("rows_affected".into(), Value::from(rows));
            }
            adapter_response.insert("_message".into(), Value::from(r.message.clone()));
            for (k, v) in &r.extra {
                adapter_response.insert(k.clone(), v.clone());
            }
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
        "metadata": invocation.metadata(RUN_RESULTS_SCHEMA, compiled),
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
    let text = serde_json::to_string_pretty(&run_results(compiled, invocation, results, elapsed))
        .unwrap_or_default();
    write_file(&path, &text)
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
        .filter(|r| compiled.project.nodes[r.index].resource_type == ResourceType::Test)
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
