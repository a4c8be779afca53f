//! The page: the JSON document it draws (node facts, the lineage graph's
//! layout, each chart with its rows, the last run's results), and the files
//! written under `target/docs/`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::catalog::{ColumnCatalog, catalog_key, relation};
use super::{dashboards, layout};
use crate::compile::CompiledProject;
use crate::diag::Diagnostic;
use crate::resource::{NodeId, ResourceType};

/// plotly.js, the minified bundle from npm (`plotly.js-dist-min`), MIT licensed.
const PLOTLY_JS: &str = include_str!("../../assets/plotly.min.js");
const PLOTLY_LICENSE: &str = include_str!("../../assets/plotly.LICENSE");
const SITE_JS: &str = include_str!("site.js");
const SITE_CSS: &str = include_str!("site.css");
const INDEX_HTML: &str = include_str!("index.html");

/// The last run's result of each node, from `run_results.json` when it exists.
pub(super) struct Runs {
    generated_at: Option<String>,
    command: Option<String>,
    by_id: HashMap<String, Value>,
}

pub(super) fn read_run_results(target: &Path) -> Runs {
    let mut runs = Runs {
        generated_at: None,
        command: None,
        by_id: HashMap::new(),
    };
    let Ok(text) = std::fs::read_to_string(target.join("run_results.json")) else {
        return runs;
    };
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return runs;
    };
    runs.generated_at = value
        .pointer("/metadata/generated_at")
        .and_then(Value::as_str)
        .map(str::to_owned);
    runs.command = value
        .pointer("/args/which")
        .or_else(|| value.pointer("/args/command"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    for result in value
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = result.get("unique_id").and_then(Value::as_str) else {
            continue;
        };
        let completed = result
            .get("timing")
            .and_then(Value::as_array)
            .and_then(|t| t.last())
            .and_then(|t| t.get("completed_at"))
            .cloned()
            .unwrap_or(Value::Null);
        runs.by_id.insert(
            id.to_owned(),
            json!({
                "status": result.get("status").cloned().unwrap_or(Value::Null),
                "seconds": result.get("execution_time").cloned().unwrap_or(Value::Null),
                "message": result.get("message").cloned().unwrap_or(Value::Null),
                "failures": result.get("failures").cloned().unwrap_or(Value::Null),
                "completed_at": completed,
            }),
        );
    }
    runs
}

/// The JSON document the page draws.
pub(super) fn site_document(
    compiled: &CompiledProject,
    boards: &[dashboards::Dashboard],
    data: &[dashboards::ChartData],
    catalog: Option<&ColumnCatalog>,
    runs: &Runs,
) -> Value {
    let project = &compiled.project;
    let kind = project.target.kind;
    let count = project.nodes.len();
    let mut nodes = Vec::with_capacity(count);
    for index in NodeId::all(count) {
        let node = &project.nodes[index];
        let state = &compiled.nodes[index];
        // A test's relation is where `store_failures` would keep its rows,
        // not something it builds; its page leaves it out.
        let relation =
            relation(compiled, index).filter(|_| node.resource_type != ResourceType::Test);
        let warehouse_columns = relation
            .as_ref()
            .and_then(|r| catalog.and_then(|c| c.get(&catalog_key(r))));
        let mut columns: Vec<Value> = Vec::new();
        let mut documented: Vec<&str> = Vec::new();
        for info in warehouse_columns.into_iter().flatten() {
            let doc = node
                .columns
                .values()
                .find(|c| c.name.eq_ignore_ascii_case(&info.name));
            if let Some(doc) = doc {
                documented.push(doc.name.as_str());
            }
            columns.push(json!({
                "name": info.name,
                "type": info.data_type,
                "description": doc.map_or("", |d| d.description.as_str()),
                "tests": doc.map_or(&[][..], |d| d.tests.as_slice()),
            }));
        }
        for doc in node.columns.values() {
            if !documented.contains(&doc.name.as_str()) {
                columns.push(json!({
                    "name": doc.name,
                    "type": doc.data_type,
                    "description": doc.description,
                    "tests": doc.tests,
                    "undeclared": warehouse_columns.is_some(),
                }));
            }
        }
        let parents: Vec<NodeId> = compiled.dag.parents(index).to_vec();
        let (tests, children): (Vec<NodeId>, Vec<NodeId>) = compiled
            .dag
            .children(index)
            .iter()
            .partition(|&&c| project.nodes[c].resource_type == ResourceType::Test);
        let label = match (&node.source, node.resource_type) {
            (Some(source), ResourceType::Source) => format!("{}.{}", source.source_name, node.name),
            _ => node.name.clone(),
        };
        let compiled_sql = match node.resource_type {
            ResourceType::Model | ResourceType::Test => state.compiled.clone(),
            _ => None,
        };
        nodes.push(json!({
            "id": node.unique_id,
            "name": node.name,
            "label": label,
            "type": node.resource_type.as_str(),
            "path": node.original_file_path,
            "yaml_path": node.yaml_path,
            "description": node.description,
            "source_description": node.source.as_ref().map(|s| s.source_description.clone()),
            "materialized": state.config.materialized().as_str(),
            "enabled": state.config.enabled(),
            "relation": relation.as_ref().map(|r| kind.render_relation(r)),
            "built": relation.as_ref().map(|r| catalog.is_some_and(|c| c.contains_key(&catalog_key(r)))),
            "tags": state.config.tags(),
            "config": Value::Object(state.config.0.clone()),
            "columns": columns,
            "node_tests": node.tests,
            "raw": node.raw_code,
            "compiled": compiled_sql,
            "parents": parents,
            "children": children,
            "tests": tests,
            "run": runs.by_id.get(&node.unique_id),
        }));
    }
    // The graph: models, seeds and sources that are enabled; tests are
    // listed on their model's page instead of crowding the drawing.
    let drawn: Vec<NodeId> = NodeId::all(count)
        .filter(|&i| {
            project.nodes[i].resource_type != ResourceType::Test
                && compiled.nodes[i].config.enabled()
        })
        .collect();
    let mut slot = vec![usize::MAX; count];
    for (position, &index) in drawn.iter().enumerate() {
        slot[index] = position;
    }
    let mut edges = Vec::new();
    for &child in &drawn {
        for &parent in compiled.dag.parents(child) {
            if slot[parent] != usize::MAX {
                edges.push((slot[parent], slot[child]));
            }
        }
    }
    let order: Vec<usize> = compiled
        .dag
        .topological_order()
        .iter()
        .filter(|&&i| slot.get(i.index()).is_some_and(|&s| s != usize::MAX))
        .map(|&i| slot[i])
        .collect();
    let placed = layout::layout(drawn.len(), &edges, &order);
    let graph_nodes: Vec<Value> = drawn
        .iter()
        .zip(&placed.positions)
        .map(|(&index, p)| json!([index, p.x, p.y, p.layer]))
        .collect();
    let graph_edges: Vec<Value> = edges
        .iter()
        .map(|&(a, b)| json!([drawn[a], drawn[b]]))
        .collect();
    let mut charts_data = data.iter();
    let dashboards: Vec<Value> = boards
        .iter()
        .map(|board| {
            let charts: Vec<Value> = board
                .charts
                .iter()
                .map(|chart| {
                    let mut value = serde_json::to_value(chart).unwrap_or(Value::Null);
                    if let Value::Object(map) = &mut value {
                        map.insert(
                            "data".into(),
                            charts_data
                                .next()
                                .and_then(|d| serde_json::to_value(d).ok())
                                .unwrap_or(Value::Null),
                        );
                        map.insert("reads".into(), json!(chart.place.reads));
                    }
                    value
                })
                .collect();
            json!({
                "name": board.name,
                "title": board.title,
                "description": board.description,
                "path": board.path,
                "charts": charts,
            })
        })
        .collect();
    let mut meta = Map::new();
    meta.insert("name".into(), Value::from(project.settings.name.clone()));
    meta.insert("target".into(), Value::from(project.target.name.clone()));
    meta.insert("adapter".into(), Value::from(kind.as_str()));
    meta.insert(
        "generated_at".into(),
        Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    meta.insert("sb_version".into(), Value::from(env!("CARGO_PKG_VERSION")));
    meta.insert("warehouse".into(), Value::from(catalog.is_some()));
    meta.insert(
        "run_generated_at".into(),
        runs.generated_at.clone().map_or(Value::Null, Value::from),
    );
    meta.insert(
        "run_command".into(),
        runs.command.clone().map_or(Value::Null, Value::from),
    );
    json!({
        "project": Value::Object(meta),
        "nodes": nodes,
        "graph": {
            "nodes": graph_nodes,
            "edges": graph_edges,
            "width": placed.width,
            "height": placed.height,
        },
        "dashboards": dashboards,
    })
}

/// Writes `index.html` with the document inside, the page's script and
/// style, and plotly.js (only when the copy there differs).
pub(super) fn write_site(
    dir: &Path,
    project_name: &str,
    document: &Value,
) -> Result<(), Diagnostic> {
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets)
        .map_err(|e| Diagnostic::error(format!("cannot create {}: {e}", assets.display())))?;
    // `<` only occurs inside JSON strings, where `\u003c` means the same and
    // no `</script>` in a description can end the script element early.
    let json = serde_json::to_string(document)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c");
    let html = INDEX_HTML
        .replace("{{TITLE}}", &escape_html(project_name))
        .replace("{{DATA}}", &json);
    write_if_changed(&dir.join("index.html"), html.as_bytes())?;
    write_if_changed(&assets.join("site.js"), SITE_JS.as_bytes())?;
    write_if_changed(&assets.join("site.css"), SITE_CSS.as_bytes())?;
    write_if_changed(&assets.join("plotly.min.js"), PLOTLY_JS.as_bytes())?;
    write_if_changed(
        &assets.join("plotly.LICENSE.txt"),
        PLOTLY_LICENSE.as_bytes(),
    )?;
    Ok(())
}

fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), Diagnostic> {
    let contents = crate::secrets::redact_bytes(contents);
    let contents = contents.as_ref();
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents)
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", path.display())))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
