//! What schema YAML declares that sb parses and checks but never runs:
//! `exposures`, `semantic_models`, `metrics` and `saved_queries`. Each
//! becomes a [`Definition`] with what it depends on; an unknown `ref`,
//! `source`, measure or metric is an error at its file, line and column,
//! with the closest names. `manifest.json` lists them in dbt's maps.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::Project;
use crate::project::yaml::YamlFile;
use crate::resource::ResourceType;
use crate::scan::{CallKind, string_call};

/// The kinds of parsed-only resources, in the order they are read (a metric
/// names measures of semantic models; a saved query names metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionKind {
    Exposure,
    SemanticModel,
    Metric,
    SavedQuery,
}

impl DefinitionKind {
    pub const ALL: [Self; 4] = [
        Self::Exposure,
        Self::SemanticModel,
        Self::Metric,
        Self::SavedQuery,
    ];

    /// The schema YAML key, which is also the manifest's map.
    pub fn yaml_key(self) -> &'static str {
        match self {
            Self::Exposure => "exposures",
            Self::SemanticModel => "semantic_models",
            Self::Metric => "metrics",
            Self::SavedQuery => "saved_queries",
        }
    }

    /// `resource_type` in the manifest and the first part of `unique_id`.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::Exposure => "exposure",
            Self::SemanticModel => "semantic_model",
            Self::Metric => "metric",
            Self::SavedQuery => "saved_query",
        }
    }
}

/// One exposure, semantic model, metric or saved query.
#[derive(Debug, Clone)]
pub struct Definition {
    pub kind: DefinitionKind,
    pub name: String,
    pub unique_id: String,
    /// The schema file that declares it.
    pub yaml_path: String,
    /// The YAML entry as written.
    pub entry: Map<String, Value>,
    /// `unique_id`s of the nodes and definitions it depends on.
    pub depends_on: Vec<String>,
    /// Model names it `ref`s.
    pub refs: Vec<String>,
    /// `[source, table]` pairs it reads.
    pub sources: Vec<[String; 2]>,
    /// Metric names it uses.
    pub metrics: Vec<String>,
}

impl Definition {
    /// The entry of `manifest.json`'s map for this kind.
    pub fn manifest_entry(&self, project_name: &str) -> Value {
        let mut out = self.entry.clone();
        let path = self.yaml_path.clone();
        let relative = path
            .split_once('/')
            .map_or(path.as_str(), |(_, rest)| rest)
            .to_owned();
        let config = self
            .entry
            .get("config")
            .cloned()
            .unwrap_or_else(|| json!({}));
        for (key, value) in [
            ("name", json!(self.name)),
            ("resource_type", json!(self.kind.resource_type())),
            ("package_name", json!(project_name)),
            ("path", json!(relative)),
            ("original_file_path", json!(path)),
            ("unique_id", json!(self.unique_id)),
            ("fqn", json!([project_name, self.name])),
            (
                "description",
                self.entry.get("description").cloned().unwrap_or(json!("")),
            ),
            ("config", config.clone()),
            ("unrendered_config", config),
            (
                "depends_on",
                json!({"macros": [], "nodes": self.depends_on}),
            ),
            (
                "refs",
                Value::from(
                    self.refs
                        .iter()
                        .map(|name| json!({"name": name, "package": null, "version": null}))
                        .collect::<Vec<_>>(),
                ),
            ),
            ("sources", json!(self.sources)),
            (
                "metrics",
                Value::from(
                    self.metrics
                        .iter()
                        .map(|name| json!([name]))
                        .collect::<Vec<_>>(),
                ),
            ),
        ] {
            out.insert(key.to_owned(), value);
        }
        Value::Object(out)
    }
}

const EXPOSURE_TYPES: &[&str] = &["dashboard", "notebook", "analysis", "ml", "application"];
const METRIC_TYPES: &[&str] = &["simple", "ratio", "cumulative", "derived", "conversion"];

/// Reads every schema file's parsed-only resources into `project.definitions`.
pub fn collect(project: &mut Project) -> Result<(), Vec<Diagnostic>> {
    let mut reader = Reader {
        project,
        measures: Vec::new(),
        errors: Vec::new(),
        definitions: Vec::new(),
    };
    for kind in DefinitionKind::ALL {
        for file in &project.schema_files {
            let Some(Value::Array(entries)) = file.value.get(kind.yaml_key()) else {
                continue;
            };
            for entry in entries {
                reader.read(kind, file, entry);
            }
        }
    }
    let Reader {
        mut errors,
        definitions,
        ..
    } = reader;
    project.definitions = definitions;
    if let Err(mut more) = link_metrics(project) {
        errors.append(&mut more);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

struct Reader<'a> {
    project: &'a Project,
    /// `(measure, unique_id of its semantic model)`, for the models read so far.
    measures: Vec<(String, String)>,
    errors: Vec<Diagnostic>,
    definitions: Vec<Definition>,
}

impl Reader<'_> {
    fn read(&mut self, kind: DefinitionKind, file: &YamlFile, entry: &Value) {
        let Some(map) = entry.as_object() else {
            return;
        };
        let Some(name) = map.get("name").and_then(Value::as_str) else {
            self.errors.push(
                Diagnostic::error(format!("an entry of `{}` has no `name`", kind.yaml_key()))
                    .at(file.locate_key(kind.yaml_key(), 1))
                    .help("give every entry a `name:`"),
            );
            return;
        };
        let mut definition = Definition {
            kind,
            name: name.to_owned(),
            unique_id: format!(
                "{}.{}.{name}",
                kind.resource_type(),
                self.project.settings.name
            ),
            yaml_path: crate::project::slash(&file.path),
            entry: map.clone(),
            depends_on: Vec::new(),
            refs: Vec::new(),
            sources: Vec::new(),
            metrics: Vec::new(),
        };
        let at = file.locate_named(name).line;
        match kind {
            DefinitionKind::Exposure => self.exposure(&mut definition, file, at),
            DefinitionKind::SemanticModel => self.semantic_model(&mut definition, file, at),
            DefinitionKind::Metric => self.metric(&mut definition, file, at),
            DefinitionKind::SavedQuery => Self::saved_query(&mut definition),
        }
        self.definitions.push(definition);
    }

    fn exposure(&mut self, definition: &mut Definition, file: &YamlFile, at: usize) {
        let entry = definition.entry.clone();
        match entry.get("type").and_then(Value::as_str) {
            Some(kind) if EXPOSURE_TYPES.contains(&kind) => {}
            other => self.errors.push(
                Diagnostic::error(format!(
                    "exposure `{}` has type {}, not one dbt knows",
                    definition.name,
                    other.map_or_else(|| "none".to_owned(), |t| format!("`{t}`"))
                ))
                .at(file.locate_key("type", at))
                .help(format!("use one of: {}", EXPOSURE_TYPES.join(", "))),
            ),
        }
        let owner_named = entry
            .get("owner")
            .is_some_and(|owner| owner.get("name").is_some() || owner.get("email").is_some());
        if !owner_named {
            self.errors.push(
                Diagnostic::error(format!("exposure `{}` has no owner", definition.name))
                    .at(file.locate_named(&definition.name))
                    .help("add `owner: {name: ..., email: ...}` (one of the two at least)"),
            );
        }
        for item in entry
            .get("depends_on")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(text) = item.as_str() else { continue };
            self.relation(definition, file, at, text);
        }
    }

    fn semantic_model(&mut self, definition: &mut Definition, file: &YamlFile, at: usize) {
        match definition
            .entry
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned)
        {
            Some(text) => self.relation(definition, file, at, &text),
            None => self.errors.push(
                Diagnostic::error(format!(
                    "semantic model `{}` names no `model`",
                    definition.name
                ))
                .at(file.locate_named(&definition.name))
                .help("add `model: ref('the_model')`"),
            ),
        }
        for measure in names(definition.entry.get("measures")) {
            self.measures.push((measure, definition.unique_id.clone()));
        }
        let _ = at;
    }

    fn metric(&mut self, definition: &mut Definition, file: &YamlFile, at: usize) {
        let entry = definition.entry.clone();
        let kind = entry.get("type").and_then(Value::as_str).unwrap_or("");
        if !METRIC_TYPES.contains(&kind) {
            self.errors.push(
                Diagnostic::error(format!(
                    "metric `{}` has type `{kind}`, not one dbt knows",
                    definition.name
                ))
                .at(file.locate_key("type", at))
                .help(format!("use one of: {}", METRIC_TYPES.join(", "))),
            );
            return;
        }
        let params = entry.get("type_params").cloned().unwrap_or(Value::Null);
        let mut measures = Vec::new();
        for key in ["measure", "numerator_measure", "denominator_measure"] {
            measures.extend(name_of(params.get(key)));
        }
        if let Some(conversion) = params.get("conversion_type_params") {
            measures.extend(name_of(conversion.get("base_measure")));
            measures.extend(name_of(conversion.get("conversion_measure")));
        }
        for measure in measures {
            if let Some((_, model)) = self.measures.iter().find(|(known, _)| *known == measure) {
                push_unique(&mut definition.depends_on, model);
            } else {
                let known: Vec<String> = self.measures.iter().map(|(m, _)| m.clone()).collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                self.unknown(file, at, "measure", &measure, &known);
            }
        }
        let mut metrics: Vec<String> = ["numerator", "denominator", "metric"]
            .iter()
            .filter_map(|key| name_of(params.get(*key)))
            .collect();
        metrics.extend(names(params.get("metrics")));
        definition.metrics = metrics;
    }

    fn saved_query(definition: &mut Definition) {
        let metrics = definition
            .entry
            .get("query_params")
            .and_then(|q| q.get("metrics"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        definition.metrics = metrics;
    }

    /// Resolves a `ref(...)`/`source(...)` string of `definition`.
    fn relation(&mut self, definition: &mut Definition, file: &YamlFile, at: usize, text: &str) {
        let Some(call) = string_call(text) else {
            self.errors.push(
                Diagnostic::error(format!(
                    "`{text}` in {} `{}` is not a `ref(...)` or `source(...)` call",
                    definition.kind.resource_type(),
                    definition.name
                ))
                .at(locate_text(file, at, text))
                .help("write `ref('model')` or `source('source', 'table')`"),
            );
            return;
        };
        match (call.kind, call.args.as_slice()) {
            (CallKind::Ref, [.., model]) => {
                let found = self
                    .project
                    .nodes
                    .iter()
                    .find(|n| {
                        matches!(n.resource_type, ResourceType::Model | ResourceType::Seed)
                            && n.name == *model
                    })
                    .map(|n| n.unique_id.clone());
                if let Some(id) = found {
                    push_unique(&mut definition.depends_on, &id);
                    push_unique(&mut definition.refs, model);
                } else {
                    let known: Vec<String> = self
                        .project
                        .nodes
                        .iter()
                        .filter(|n| {
                            matches!(n.resource_type, ResourceType::Model | ResourceType::Seed)
                        })
                        .map(|n| n.name.clone())
                        .collect();
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    self.unknown_at(locate_text(file, at, model), "ref", model, &known);
                }
            }
            (CallKind::Source, [source, table]) => {
                let found = self
                    .project
                    .nodes
                    .iter()
                    .find(|n| {
                        n.name == *table
                            && n.source.as_ref().is_some_and(|s| s.source_name == *source)
                    })
                    .map(|n| n.unique_id.clone());
                if let Some(id) = found {
                    push_unique(&mut definition.depends_on, &id);
                    definition
                        .sources
                        .push([(*source).to_owned(), (*table).to_owned()]);
                } else {
                    let known: Vec<String> = self
                        .project
                        .nodes
                        .iter()
                        .filter_map(|n| {
                            n.source
                                .as_ref()
                                .map(|s| format!("{}.{}", s.source_name, n.name))
                        })
                        .collect();
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    let wanted = format!("{source}.{table}");
                    self.unknown_at(locate_text(file, at, table), "source", &wanted, &known);
                }
            }
            _ => self.errors.push(
                Diagnostic::error(format!("`{text}` has the wrong number of arguments"))
                    .at(locate_text(file, at, text))
                    .help("write `ref('model')` or `source('source', 'table')`"),
            ),
        }
    }

    fn unknown(&mut self, file: &YamlFile, at: usize, what: &str, name: &str, known: &[&str]) {
        self.unknown_at(locate_text(file, at, name), what, name, known);
    }

    fn unknown_at(&mut self, location: Location, what: &str, name: &str, known: &[&str]) {
        let close = closest_names(name, known.iter().copied(), 3);
        self.errors.push(
            Diagnostic::error(format!("unknown {what} `{name}`"))
                .at(location)
                .help(did_you_mean(&close).unwrap_or_else(|| match what {
                    "measure" => "declare it under a semantic model's `measures:`".to_owned(),
                    "source" => "declare the table under `sources:` in a schema file".to_owned(),
                    _ => "check the name against the project's models and seeds".to_owned(),
                })),
        );
    }
}

/// Checks what only the whole set can tell: every metric a metric or saved
/// query names exists; records it as a dependency.
fn link_metrics(project: &mut Project) -> Result<(), Vec<Diagnostic>> {
    let metric_ids: Vec<(String, String)> = project
        .definitions
        .iter()
        .filter(|d| d.kind == DefinitionKind::Metric)
        .map(|d| (d.name.clone(), d.unique_id.clone()))
        .collect();
    let known: Vec<&str> = metric_ids.iter().map(|(n, _)| n.as_str()).collect();
    let mut errors = Vec::new();
    for definition in &mut project.definitions {
        let wanted: BTreeSet<String> = definition.metrics.iter().cloned().collect();
        for metric in wanted {
            if let Some((_, id)) = metric_ids.iter().find(|(name, _)| *name == metric) {
                push_unique(&mut definition.depends_on, id);
            } else {
                let file = project
                    .schema_files
                    .iter()
                    .find(|f| crate::project::slash(&f.path) == definition.yaml_path);
                let close = closest_names(&metric, known.iter().copied(), 3);
                let mut diagnostic = Diagnostic::error(format!("unknown metric `{metric}`")).help(
                    did_you_mean(&close).unwrap_or_else(|| {
                        "declare it under `metrics:` in a schema file".to_owned()
                    }),
                );
                if let Some(file) = file {
                    let at = file.locate_named(&definition.name).line;
                    diagnostic = diagnostic.at(locate_text(file, at, &metric));
                }
                errors.push(diagnostic);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Where `text` first appears in `file` at or after line `from_line`.
fn locate_text(file: &YamlFile, from_line: usize, text: &str) -> Location {
    let start = file
        .source
        .split_inclusive('\n')
        .take(from_line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let offset = file.source[start..]
        .find(text)
        .map_or(start, |found| start + found);
    Location::from_offset(&file.path, &file.source, offset, text.len().max(1))
}

/// A name given as a string or as `{name: ...}`.
fn name_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(name) => Some(name.clone()),
        Value::Object(map) => map.get("name").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The names of a list of strings or `{name: ...}` mappings.
fn names(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| name_of(Some(item)))
        .collect()
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|known| known == item) {
        list.push(item.to_owned());
    }
}
