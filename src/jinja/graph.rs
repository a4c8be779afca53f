//! `graph`: the project's nodes and sources as dbt's context shows them
//! (`graph.nodes[unique_id]` with `config`, `refs`, `sources`,
//! `depends_on.nodes`, `columns`, ...). Built once per run, after the parse
//! render knows each node's dependencies, and only for projects whose
//! templates mention `graph`.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use serde_json::{Map, json};

use super::map_value;
use crate::adapter::RelationRef;
use crate::project::{NodeConfig, Project};
use crate::resource::{NodeId, ResourceType};

/// What the graph shows of each node, by node index.
pub struct GraphInput<'a> {
    pub configs: &'a [NodeConfig],
    pub depends_on: &'a [Vec<NodeId>],
    pub relations: &'a [RelationRef],
}

/// `graph`: reading it marks the render (`Captured::used_graph`), so the
/// compiler renders the node again once dependencies are known.
#[derive(Debug)]
struct GraphObject(Value);

impl Object for GraphObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        super::scope::read_graph();
        self.0.get_item(key).ok().filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["nodes", "sources", "exposures", "metrics"])
    }
}

/// The `graph` value.
pub fn graph_value(project: &Project, input: &GraphInput<'_>) -> Value {
    let mut nodes = Map::new();
    let mut sources = Map::new();
    for (index, node) in project.nodes.iter().enumerate() {
        let config = input.configs.get(index).unwrap_or(&node.config);
        let parents = input.depends_on.get(index).map_or(&[][..], Vec::as_slice);
        let relation = input.relations.get(index);
        let columns: Map<String, serde_json::Value> = node
            .columns
            .values()
            .map(|c| {
                (
                    c.name.clone(),
                    json!({"name": c.name, "description": c.description, "data_type": c.data_type, "meta": c.meta}),
                )
            })
            .collect();
        let parent_ids: Vec<&str> = parents
            .iter()
            .map(|&p| project.nodes[p].unique_id.as_str())
            .collect();
        let refs: Vec<serde_json::Value> = parents
            .iter()
            .map(|&p| &project.nodes[p])
            .filter(|p| p.source.is_none())
            .map(|p| json!({"name": p.name, "package": null, "version": null}))
            .collect();
        let source_refs: Vec<serde_json::Value> = parents
            .iter()
            .filter_map(|&p| {
                let parent = &project.nodes[p];
                parent
                    .source
                    .as_ref()
                    .map(|s| json!([s.source_name, parent.name]))
            })
            .collect();
        let mut entry = json!({
            "unique_id": node.unique_id,
            "name": node.name,
            "resource_type": node.resource_type.as_str(),
            "package_name": node.package_name,
            "original_file_path": node.original_file_path,
            "path": node.path,
            "fqn": node.fqn,
            "description": node.description,
            "raw_code": node.raw_code,
            "config": with_defaults(config),
            "tags": config.tags(),
            "columns": columns,
            "refs": refs,
            "sources": source_refs,
            "depends_on": {"nodes": parent_ids, "macros": []},
            "database": relation.and_then(|r| r.database.clone()),
            "schema": relation.map(|r| r.schema.clone()),
            "alias": relation.map(|r| r.identifier.clone()),
        });
        if let Some(source) = &node.source {
            entry["source_name"] = json!(source.source_name);
            entry["identifier"] = json!(source.identifier);
            entry["loader"] = json!(source.loader);
            entry["source_description"] = json!(source.source_description);
        }
        match node.resource_type {
            ResourceType::Source => sources.insert(node.unique_id.clone(), entry),
            _ => nodes.insert(node.unique_id.clone(), entry),
        };
    }
    with_parts(super::to_value(&nodes), super::to_value(&sources))
}

/// A node's config with the keys dbt always fills (`tags`, `materialized`,
/// `enabled`), so templates can read them without a default.
fn with_defaults(config: &NodeConfig) -> serde_json::Value {
    let mut map = config.0.clone();
    map.insert("tags".into(), json!(config.tags()));
    map.entry("materialized")
        .or_insert_with(|| json!(config.materialized_name()));
    map.entry("enabled").or_insert(json!(true));
    serde_json::Value::Object(map)
}

/// The graph before the compiler knows it: no nodes.
pub fn empty_graph() -> Value {
    with_parts(empty(), empty())
}

fn empty() -> Value {
    Value::from(BTreeMap::<String, Value>::new())
}

fn with_parts(nodes: Value, sources: Value) -> Value {
    Value::from_object(GraphObject(map_value([
        ("nodes", nodes),
        ("sources", sources),
        ("exposures", empty()),
        ("metrics", empty()),
        ("groups", empty()),
        ("semantic_models", empty()),
        ("saved_queries", empty()),
        ("unit_tests", empty()),
    ])))
}
