//! Dashboards: `dashboards/*.yml` at the project root, one dashboard per
//! file, each a list of charts over models. Reading checks every key, chart
//! type, model and `ref()` against the project; fetching queries the target
//! for each chart's rows and checks the columns a chart names against what
//! the query returns, so a typo fails `sb docs` with file:line:col and the
//! closest names instead of drawing an empty chart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::adapter::{Connection, RelationRef};
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::graph::closest_names;
use crate::project::yaml::YamlFile;
use crate::resource::ResourceType;

/// The folder, below the project root, that holds dashboard files.
pub const DASHBOARD_DIR: &str = "dashboards";
/// Rows a chart embeds unless it sets `limit`.
pub const DEFAULT_LIMIT: usize = 5000;

const DASHBOARD_KEYS: &[&str] = &["title", "description", "charts"];
const CHART_KEYS: &[&str] = &[
    "title",
    "description",
    "type",
    "model",
    "sql",
    "x",
    "y",
    "color",
    "facet",
    "size",
    "z",
    "columns",
    "agg",
    "limit",
    "orientation",
    "stacked",
    "width",
    "height",
];
const CHART_TYPES: &[&str] = &[
    "bar", "line", "area", "pie", "donut", "box", "scatter", "heatmap", "table",
];
const AGGREGATES: &[&str] = &["sum", "avg", "count", "min", "max"];

/// One dashboard file.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The file stem: `streaming` for `dashboards/streaming.yml`.
    pub name: String,
    pub title: String,
    pub description: String,
    /// Project-relative path of the file.
    pub path: String,
    pub charts: Vec<Chart>,
}

/// One chart as declared, checked against the project.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Unique in the site: `dashboard-3`.
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The model (or seed) charted, when the chart names one.
    pub model: Option<String>,
    /// The query's SQL with `ref()`/`source()` resolved, when it has one.
    #[serde(skip)]
    pub sql: Option<String>,
    pub x: Option<String>,
    pub y: Vec<String>,
    pub color: Option<String>,
    pub facet: Option<String>,
    pub size: Option<String>,
    pub z: Option<String>,
    pub columns: Vec<String>,
    pub agg: Option<String>,
    pub limit: usize,
    pub horizontal: bool,
    pub stacked: bool,
    /// `half` or `full` of the dashboard's width.
    pub width: String,
    pub height: u64,
    /// Where the chart sits, for errors found while fetching.
    #[serde(skip)]
    pub place: ChartPlace,
}

/// The file and first line of a chart, and its model's node index.
#[derive(Debug, Clone, Default)]
pub struct ChartPlace {
    pub file: PathBuf,
    pub source: String,
    pub line: usize,
    pub model_index: Option<usize>,
    /// Node indices the chart's SQL reads.
    pub reads: Vec<usize>,
}

/// A chart's rows, as embedded in the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChartData {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// More rows than `limit` matched; only the first `limit` are drawn.
    pub truncated: bool,
    /// Why there is no data (the model is not built yet), when there is none.
    pub missing: Option<String>,
}

/// Reads every `dashboards/*.yml` file of the project, sorted by path.
pub fn load(compiled: &CompiledProject) -> Result<Vec<Dashboard>, Diagnostics> {
    let root = &compiled.project.root;
    let folder = root.join(DASHBOARD_DIR);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&folder)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        })
        .collect();
    files.sort();
    let mut dashboards = Vec::new();
    let mut errors = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                errors.push(Diagnostic::error(format!(
                    "cannot read {}: {error}",
                    relative.display()
                )));
                continue;
            }
        };
        let file = match YamlFile::parse(&relative, text) {
            Ok(file) => file,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        match dashboard(compiled, &file, dashboards.len()) {
            Ok(Some(board)) => {
                if let Some(first) = names.insert(board.name.clone(), board.path.clone()) {
                    errors.push(
                        Diagnostic::error(format!("two dashboards are named `{}`", board.name))
                            .at(Location::file_only(&relative))
                            .note(format!("the other one is {first}"))
                            .help("rename one of the files: a dashboard's name is its file name"),
                    );
                }
                dashboards.push(board);
            }
            Ok(None) => {}
            Err(mut more) => errors.append(&mut more),
        }
    }
    if errors.is_empty() {
        Ok(dashboards)
    } else {
        Err(Diagnostics(errors))
    }
}

fn dashboard(
    compiled: &CompiledProject,
    file: &YamlFile,
    position: usize,
) -> Result<Option<Dashboard>, Vec<Diagnostic>> {
    let top = match &file.value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => {
            return Err(vec![
                Diagnostic::error("a dashboard file must be a mapping")
                    .at(Location::from_line_col(&file.path, &file.source, 1, 1, 1))
                    .help("start with `title: ...` and a `charts:` list"),
            ]);
        }
    };
    let mut errors = Vec::new();
    for key in top.keys() {
        if !DASHBOARD_KEYS.contains(&key.as_str()) {
            errors.push(unknown_key(file, key, 1, "a dashboard", DASHBOARD_KEYS));
        }
    }
    let name = file.path.file_stem().map_or_else(
        || format!("dashboard{position}"),
        |s| s.to_string_lossy().into_owned(),
    );
    let charts_value = top.get("charts");
    let items = match charts_value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => {
            errors.push(
                Diagnostic::error("`charts` must be a list")
                    .at(file.locate_key("charts", 1))
                    .help("write `charts:` followed by `- type: bar` entries, one per chart"),
            );
            Vec::new()
        }
    };
    let lines = item_lines(&file.source, "charts");
    let mut charts = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        match chart(compiled, file, item, line, format!("{name}-{}", i + 1)) {
            Ok(chart) => charts.push(chart),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(Dashboard {
        title: text(top.get("title")).unwrap_or_else(|| name.replace('_', " ")),
        description: text(top.get("description")).unwrap_or_default(),
        path: crate::project::slash(&file.path),
        name,
        charts,
    }))
}

fn chart(
    compiled: &CompiledProject,
    file: &YamlFile,
    item: &Value,
    line: usize,
    id: String,
) -> Result<Chart, Diagnostic> {
    let Value::Object(map) = item else {
        return Err(Diagnostic::error("a chart must be a mapping")
            .at(Location::from_line_col(
                &file.path,
                &file.source,
                line,
                1,
                1,
            ))
            .help("write each chart as `- type: bar` followed by `model:`, `x:` and `y:`"));
    };
    let title = text(map.get("title")).unwrap_or_default();
    let label = if title.is_empty() {
        format!("#{}", id.rsplit('-').next().unwrap_or_default())
    } else {
        format!("`{title}`")
    };
    for key in map.keys() {
        if !CHART_KEYS.contains(&key.as_str()) {
            return Err(unknown_key(
                file,
                key,
                line,
                &format!("chart {label}"),
                CHART_KEYS,
            ));
        }
    }
    let kind = match map.get("type") {
        Some(Value::String(kind)) if CHART_TYPES.contains(&kind.as_str()) => kind.clone(),
        Some(other) => {
            let shown = text(Some(other)).unwrap_or_default();
            let close = closest_names(&shown, CHART_TYPES.iter().copied(), 3);
            return Err(
                Diagnostic::error(format!("chart {label} has unknown type `{shown}`"))
                    .at(value_location(file, "type", line, &shown))
                    .help(
                        did_you_mean(&close)
                            .unwrap_or_else(|| format!("use one of: {}", CHART_TYPES.join(", "))),
                    ),
            );
        }
        None => {
            return Err(Diagnostic::error(format!("chart {label} has no `type`"))
                .at(Location::from_line_col(
                    &file.path,
                    &file.source,
                    line,
                    1,
                    1,
                ))
                .help(format!(
                    "add `type:` with one of: {}",
                    CHART_TYPES.join(", ")
                )));
        }
    };
    let field = |key: &str| -> Result<Option<String>, Diagnostic> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Diagnostic::error(format!(
                "`{key}` of chart {label} must be a column name"
            ))
            .at(file.locate_key(key, line))
            .help(format!("write `{key}: column_name`"))),
        }
    };
    let list = |key: &str| -> Result<Vec<String>, Diagnostic> {
        match map.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        Diagnostic::error(format!(
                            "`{key}` of chart {label} must list column names"
                        ))
                        .at(file.locate_key(key, line))
                        .help(format!("write `{key}: [a, b]`"))
                    })
                })
                .collect(),
            _ => Ok(field(key)?.into_iter().collect()),
        }
    };
    let x = field("x")?;
    let y = list("y")?;
    let z = field("z")?;
    let needs = |what: &str, present: bool, hint: &str| -> Result<(), Diagnostic> {
        if present {
            Ok(())
        } else {
            Err(
                Diagnostic::error(format!("a {kind} chart needs `{what}` (chart {label})"))
                    .at(value_location(file, "type", line, &kind))
                    .help(hint.to_owned()),
            )
        }
    };
    match kind.as_str() {
        "bar" | "line" | "area" | "scatter" => {
            needs(
                "x",
                x.is_some(),
                "name the column of the x axis: `x: column`",
            )?;
            needs(
                "y",
                !y.is_empty(),
                "name the column(s) to plot: `y: column`",
            )?;
        }
        "pie" | "donut" => {
            needs(
                "x",
                x.is_some(),
                "`x` names the slices: `x: category_column`",
            )?;
            needs("y", y.len() == 1, "`y` is one column, the slice sizes")?;
        }
        "box" => needs("y", !y.is_empty(), "`y` names the values to summarise")?,
        "heatmap" => {
            needs(
                "x",
                x.is_some(),
                "name the column of the x axis: `x: column`",
            )?;
            needs("y", y.len() == 1, "`y` is one column, the rows of the grid")?;
            needs("z", z.is_some(), "`z` names the cell values: `z: column`")?;
        }
        _ => {}
    }
    let agg = match field("agg")? {
        None => None,
        Some(agg) if AGGREGATES.contains(&agg.as_str()) => Some(agg),
        Some(agg) => {
            let close = closest_names(&agg, AGGREGATES.iter().copied(), 2);
            return Err(
                Diagnostic::error(format!("chart {label} has unknown aggregate `{agg}`"))
                    .at(value_location(file, "agg", line, &agg))
                    .help(
                        did_you_mean(&close)
                            .unwrap_or_else(|| format!("use one of: {}", AGGREGATES.join(", "))),
                    ),
            );
        }
    };
    let limit = match map.get("limit") {
        None => DEFAULT_LIMIT,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
            n.as_u64().map_or(DEFAULT_LIMIT, |n| n as usize)
        }
        Some(_) => {
            return Err(Diagnostic::error(format!(
                "`limit` of chart {label} must be a positive number of rows"
            ))
            .at(file.locate_key("limit", line))
            .help("write for example `limit: 1000`"));
        }
    };
    let mut place = ChartPlace {
        file: file.path.clone(),
        source: file.source.clone(),
        line,
        model_index: None,
        reads: Vec::new(),
    };
    let (model, sql) = match (field("model")?, map.get("sql")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Diagnostic::error(format!(
                "chart {label} needs exactly one of `model` and `sql`"
            ))
            .at(Location::from_line_col(&file.path, &file.source, line, 1, 1))
            .help("chart a model with `model: name`, or a query with `sql: select ... from {{ ref('name') }}`"));
        }
        (Some(model), None) => {
            let index = find_relation(compiled, &model).ok_or_else(|| {
                let close = closest_names(&model, chartable_names(compiled), 3);
                Diagnostic::error(format!("chart {label} reads unknown model `{model}`"))
                    .at(value_location(file, "model", line, &model))
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        "name a model or seed of the project (see `sb ls`)".to_owned()
                    }))
            })?;
            place.model_index = Some(index);
            place.reads.push(index);
            (Some(model), None)
        }
        (None, Some(Value::String(sql))) => {
            let (resolved, reads) = resolve_sql(compiled, file, line, sql, &label)?;
            place.reads = reads;
            (None, Some(resolved))
        }
        (None, Some(_)) => {
            return Err(Diagnostic::error(format!(
                "`sql` of chart {label} must be a query"
            ))
            .at(file.locate_key("sql", line))
            .help("write `sql: select ... from {{ ref('model') }}` (a `|` block for several lines)"));
        }
    };
    let width = match field("width")?.as_deref() {
        None => if kind == "table" { "full" } else { "half" }.to_owned(),
        Some(w @ ("half" | "full")) => w.to_owned(),
        Some(other) => {
            return Err(Diagnostic::error(format!(
                "`width` of chart {label} must be `half` or `full`, got `{other}`"
            ))
            .at(value_location(file, "width", line, other))
            .help("write `width: full` for a chart across the dashboard"));
        }
    };
    let horizontal = match field("orientation")?.as_deref() {
        None | Some("vertical" | "v") => false,
        Some("horizontal" | "h") => true,
        Some(other) => {
            return Err(Diagnostic::error(format!(
                "`orientation` of chart {label} must be `vertical` or `horizontal`, got `{other}`"
            ))
            .at(value_location(file, "orientation", line, other))
            .help("write `orientation: horizontal` for bars along the x axis"));
        }
    };
    let height = map
        .get("height")
        .and_then(Value::as_u64)
        .unwrap_or(380)
        .clamp(160, 2000);
    Ok(Chart {
        id,
        title,
        description: text(map.get("description")).unwrap_or_default(),
        kind,
        model,
        sql,
        x,
        y,
        color: field("color")?,
        facet: field("facet")?,
        size: field("size")?,
        z,
        columns: list("columns")?,
        agg,
        limit,
        horizontal,
        stacked: map.get("stacked").and_then(Value::as_bool).unwrap_or(false),
        width,
        height,
        place,
    })
}

/// Models and seeds a chart may read, by name.
fn find_relation(compiled: &CompiledProject, name: &str) -> Option<usize> {
    [ResourceType::Model, ResourceType::Seed]
        .into_iter()
        .find_map(|kind| compiled.find(kind, name))
}

fn chartable_names(compiled: &CompiledProject) -> impl Iterator<Item = &str> {
    compiled
        .project
        .nodes
        .iter()
        .filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Seed))
        .map(|n| n.name.as_str())
}

static REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{\{\s*(ref|source)\(\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)")\s*)?\)\s*\}\}"#)
        .expect("valid regex")
});

/// Replaces `{{ ref('m') }}` and `{{ source('s', 't') }}` in a chart's SQL
/// with the relations they name; any other Jinja is an error.
fn resolve_sql(
    compiled: &CompiledProject,
    file: &YamlFile,
    line: usize,
    sql: &str,
    label: &str,
) -> Result<(String, Vec<usize>), Diagnostic> {
    let kind = compiled.project.target.kind;
    let mut reads = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for captures in REF.captures_iter(sql) {
        let Some(whole) = captures.get(0) else {
            continue;
        };
        let first = captures
            .get(2)
            .or_else(|| captures.get(3))
            .map_or("", |m| m.as_str());
        let second = captures
            .get(4)
            .or_else(|| captures.get(5))
            .map(|m| m.as_str());
        let is_ref = captures.get(1).is_some_and(|m| m.as_str() == "ref");
        let index = if is_ref {
            let name = second.unwrap_or(first);
            find_relation(compiled, name).ok_or_else(|| {
                let close = closest_names(name, chartable_names(compiled), 3);
                Diagnostic::error(format!("chart {label} refs unknown model `{name}`"))
                    .at(inside_quotes(file, name, line))
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        "name a model or seed of the project (see `sb ls`)".to_owned()
                    }))
            })?
        } else {
            let table = second.unwrap_or_default();
            compiled
                .project
                .nodes
                .iter()
                .position(|n| {
                    n.resource_type == ResourceType::Source
                        && n.name == table
                        && n.source.as_ref().is_some_and(|s| s.source_name == first)
                })
                .ok_or_else(|| {
                    let wanted = format!("{first}.{table}");
                    let names: Vec<String> = compiled
                        .project
                        .nodes
                        .iter()
                        .filter_map(|n| {
                            n.source
                                .as_ref()
                                .map(|s| format!("{}.{}", s.source_name, n.name))
                        })
                        .collect();
                    let close = closest_names(&wanted, names.iter().map(String::as_str), 3);
                    Diagnostic::error(format!("chart {label} reads unknown source `{wanted}`"))
                        .at(inside_quotes(file, table, line))
                        .help(did_you_mean(&close).unwrap_or_else(|| {
                            "declare the source in schema YAML (`sources:`)".to_owned()
                        }))
                })?
        };
        let relation = relation(compiled, index).ok_or_else(|| {
            Diagnostic::error(format!(
                "chart {label} reads `{}`, which has no relation in the warehouse (ephemeral)",
                compiled.project.nodes[index].name
            ))
            .at(file.locate_key("sql", line))
            .help("chart a model materialized as a view or table")
        })?;
        out.push_str(&sql[last..whole.start()]);
        out.push_str(&kind.render_relation(&relation));
        last = whole.end();
        reads.push(index);
    }
    out.push_str(&sql[last..]);
    if out.contains("{{") || out.contains("{%") {
        return Err(Diagnostic::error(format!(
            "the SQL of chart {label} holds Jinja other than `ref()` and `source()`"
        ))
        .at(file.locate_key("sql", line))
        .help("chart SQL may use `{{ ref('model') }}` and `{{ source('name', 'table') }}` only; put other logic in a model"));
    }
    Ok((out, reads))
}

/// Where `'name'` (or `"name"`) is written in a chart's SQL, without the quotes.
fn inside_quotes(file: &YamlFile, name: &str, line: usize) -> Location {
    let single = format!("'{name}'");
    let quoted = if file.source.contains(&single) {
        single
    } else {
        format!("\"{name}\"")
    };
    let mut location = Location::find(&file.path, &file.source, &quoted, line);
    if location
        .source_line
        .as_deref()
        .is_some_and(|text| text.contains(&quoted))
    {
        location.column += 1;
        location.len = name.chars().count().max(1);
    }
    location
}

/// The relation a model, seed or source reads from; `None` for ephemerals.
pub fn relation(compiled: &CompiledProject, index: usize) -> Option<RelationRef> {
    let compiled_node = compiled.nodes.get(index)?;
    if compiled_node.config.materialized() == "ephemeral" {
        return None;
    }
    compiled_node.relation.clone()
}

/// Columns of every relation in the warehouse, by lower-cased
/// `(schema, identifier)`.
pub type ColumnCatalog = HashMap<(String, String), Vec<crate::adapter::ColumnInfo>>;

pub fn catalog_key(relation: &RelationRef) -> (String, String) {
    (
        relation.schema.to_lowercase(),
        relation.identifier.to_lowercase(),
    )
}

/// Queries the rows of every chart. Without a connection, or when a chart's
/// model is not built, the chart is drawn empty with the reason.
pub fn fetch(
    compiled: &CompiledProject,
    dashboards: &[Dashboard],
    mut connection: Option<&mut Box<dyn Connection>>,
    catalog: Option<&ColumnCatalog>,
) -> Result<Vec<ChartData>, Diagnostics> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for chart in dashboards.iter().flat_map(|d| &d.charts) {
        let result = match (connection.as_deref_mut(), catalog) {
            (Some(connection), Some(catalog)) => fetch_one(compiled, chart, connection, catalog),
            _ => Ok(ChartData {
                missing: Some(
                    "the target has no database yet: run `sb build`, then `sb docs`".to_owned(),
                ),
                ..ChartData::default()
            }),
        };
        match result {
            Ok(data) => out.push(data),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

fn fetch_one(
    compiled: &CompiledProject,
    chart: &Chart,
    connection: &mut Box<dyn Connection>,
    catalog: &ColumnCatalog,
) -> Result<ChartData, Diagnostic> {
    let place = &chart.place;
    let kind = compiled.project.target.kind;
    let label = if chart.title.is_empty() {
        format!("`{}`", chart.id)
    } else {
        format!("`{}`", chart.title)
    };
    for &index in &place.reads {
        let built =
            relation(compiled, index).is_some_and(|r| catalog.contains_key(&catalog_key(&r)));
        if !built {
            return Ok(ChartData {
                missing: Some(format!(
                    "`{}` is not built in target `{}`: run `sb build`, then `sb docs`",
                    compiled.project.nodes[index].name, compiled.project.target.name
                )),
                ..ChartData::default()
            });
        }
    }
    let named = chart_columns(chart);
    let base = match (&place.model_index, &chart.sql) {
        (Some(index), _) => {
            let relation = relation(compiled, *index).unwrap_or_else(|| RelationRef {
                database: None,
                schema: String::new(),
                identifier: String::new(),
            });
            let columns: Vec<&str> = catalog
                .get(&catalog_key(&relation))
                .map(|c| c.iter().map(|c| c.name.as_str()).collect())
                .unwrap_or_default();
            check_columns(
                chart,
                &label,
                &named,
                &columns,
                &format!("model `{}`", chart.model.as_deref().unwrap_or_default()),
            )?;
            format!("select * from {}", kind.render_relation(&relation))
        }
        (None, Some(sql)) => sql.trim().trim_end_matches(';').to_owned(),
        (None, None) => String::new(),
    };
    // The query's own columns, for checking the chart's names against them.
    let probe = format!("select * from (\n{base}\n) as sb_chart limit 0");
    let shape = connection.query(&probe, Some(0)).map_err(|error| {
        Diagnostic::error(format!(
            "the query of chart {label} failed: {}",
            error.message.lines().next().unwrap_or_default()
        ))
        .at(locate_value_key(
            place,
            if chart.sql.is_some() { "sql" } else { "model" },
        ))
        .help("fix the SQL; it runs against the target as written, with ref() resolved")
    })?;
    let available: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
    if chart.sql.is_some() {
        check_columns(chart, &label, &named, &available, "its query")?;
    }
    let wanted: Vec<String> = if named.is_empty() {
        available.iter().map(|s| (*s).to_owned()).collect()
    } else {
        named.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>()
    };
    let mut wanted_unique: Vec<String> = Vec::new();
    for column in wanted {
        if !wanted_unique.contains(&column) {
            wanted_unique.push(column);
        }
    }
    let quote = |c: &str| kind.quote(c);
    let sql = match &chart.agg {
        Some(agg) if !chart.y.is_empty() && chart.kind != "table" && chart.kind != "box" => {
            let keys: Vec<&String> = [&chart.x, &chart.color, &chart.facet, &chart.z]
                .into_iter()
                .flatten()
                .filter(|c| !chart.y.contains(c))
                .collect();
            let mut keys_unique: Vec<&String> = Vec::new();
            for key in keys {
                if !keys_unique.contains(&key) {
                    keys_unique.push(key);
                }
            }
            let mut select: Vec<String> = keys_unique.iter().map(|k| quote(k)).collect();
            for y in &chart.y {
                select.push(format!("{agg}({}) as {}", quote(y), quote(y)));
            }
            let group: Vec<String> = (1..=keys_unique.len()).map(|i| i.to_string()).collect();
            let group_by = if group.is_empty() {
                String::new()
            } else {
                format!(" group by {0} order by {0}", group.join(", "))
            };
            format!(
                "select {} from (\n{base}\n) as sb_chart{group_by} limit {}",
                select.join(", "),
                chart.limit + 1
            )
        }
        _ => format!(
            "select {} from (\n{base}\n) as sb_chart limit {}",
            wanted_unique
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", "),
            chart.limit + 1
        ),
    };
    let mut result = connection
        .query(&sql, Some(chart.limit + 1))
        .map_err(|error| {
            Diagnostic::error(format!(
                "the query of chart {label} failed: {}",
                error.message.lines().next().unwrap_or_default()
            ))
            .at(locate_value_key(
                place,
                if chart.sql.is_some() { "sql" } else { "model" },
            ))
            .help("check the chart's columns and `agg`; the query runs against the target")
        })?;
    let truncated = result.rows.len() > chart.limit;
    result.rows.truncate(chart.limit);
    Ok(ChartData {
        columns: result.columns.iter().map(|c| c.name.clone()).collect(),
        types: result.columns.iter().map(|c| c.data_type.clone()).collect(),
        rows: result.rows,
        truncated,
        missing: None,
    })
}

/// The columns a chart names, with the key that names each.
fn chart_columns(chart: &Chart) -> Vec<(&'static str, String)> {
    let mut named: Vec<(&'static str, String)> = Vec::new();
    if let Some(x) = &chart.x {
        named.push(("x", x.clone()));
    }
    for y in &chart.y {
        named.push(("y", y.clone()));
    }
    for (key, value) in [
        ("color", &chart.color),
        ("facet", &chart.facet),
        ("size", &chart.size),
        ("z", &chart.z),
    ] {
        if let Some(value) = value {
            named.push((key, value.clone()));
        }
    }
    for column in &chart.columns {
        named.push(("columns", column.clone()));
    }
    named
}

fn check_columns(
    chart: &Chart,
    label: &str,
    named: &[(&'static str, String)],
    available: &[&str],
    what: &str,
) -> Result<(), Diagnostic> {
    for (key, column) in named {
        if !available.iter().any(|a| a == column) {
            let close = closest_names(column, available.iter().copied(), 3);
            return Err(Diagnostic::error(format!(
                "chart {label}: {what} has no column `{column}`"
            ))
            .at(locate_column(&chart.place, key, column))
            .help(
                did_you_mean(&close)
                    .unwrap_or_else(|| format!("its columns are: {}", available.join(", "))),
            ));
        }
    }
    Ok(())
}

fn locate_value_key(place: &ChartPlace, key: &str) -> Location {
    crate::project::yaml::locate_key(&place.file, &place.source, key, place.line)
}

fn locate_column(place: &ChartPlace, key: &str, column: &str) -> Location {
    let at_key = locate_value_key(place, key);
    value_on_line(&place.file, &place.source, &at_key, column).unwrap_or(at_key)
}

/// Where `value` is written after `key:` in the chart starting at `line`.
fn value_location(file: &YamlFile, key: &str, line: usize, value: &str) -> Location {
    let at_key = file.locate_key(key, line);
    value_on_line(&file.path, &file.source, &at_key, value).unwrap_or(at_key)
}

fn value_on_line(path: &Path, source: &str, at_key: &Location, value: &str) -> Option<Location> {
    let text = at_key.source_line.as_deref()?;
    let after_key = text
        .char_indices()
        .nth(at_key.column.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    // Search after the colon, so `x: x` finds the value, not the key.
    let after_colon = text
        .get(after_key..)?
        .find(':')
        .map_or(after_key, |i| after_key + i + 1);
    let found = text.get(after_colon..)?.find(value)? + after_colon;
    let column = text.get(..found)?.chars().count() + 1;
    Some(Location::from_line_col(
        path,
        source,
        at_key.line,
        column,
        value.chars().count(),
    ))
}

/// 1-based lines where the items of the list under `key:` start.
fn item_lines(source: &str, key: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut key_indent = None;
    let mut item_indent = None;
    for (number, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        match key_indent {
            None => {
                if indent == 0 && trimmed.starts_with(&format!("{key}:")) {
                    key_indent = Some(indent);
                }
            }
            Some(base) => {
                let is_item = trimmed.starts_with("- ") || trimmed == "-";
                match item_indent {
                    None if is_item && indent >= base => {
                        item_indent = Some(indent);
                        lines.push(number + 1);
                    }
                    None => break,
                    Some(at) if indent < at || (indent == at && !is_item) => break,
                    Some(at) if indent == at => lines.push(number + 1),
                    Some(_) => {}
                }
            }
        }
    }
    lines
}

fn unknown_key(file: &YamlFile, key: &str, line: usize, what: &str, known: &[&str]) -> Diagnostic {
    let close = closest_names(key, known.iter().copied(), 3);
    Diagnostic::error(format!("unknown key `{key}` in {what}"))
        .at(file.locate_key(key, line))
        .help(did_you_mean(&close).unwrap_or_else(|| format!("use one of: {}", known.join(", "))))
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_after_its_key() {
        let source = "charts:\n  - x: x\n";
        let at_key = crate::project::yaml::locate_key(Path::new("d.yml"), source, "x", 2);
        let found = value_on_line(Path::new("d.yml"), source, &at_key, "x").unwrap();
        assert_eq!((found.line, found.column), (2, 8));
    }

    #[test]
    fn finds_the_first_line_of_every_chart() {
        let source = "title: x\ncharts:\n  - type: bar\n    x: a\n\n  # note\n  - type: pie\n    x: b\nother: 1\n";
        assert_eq!(item_lines(source, "charts"), [3, 7]);
        let flush = "charts:\n- type: bar\n  x: a\n- type: line\n";
        assert_eq!(item_lines(flush, "charts"), [2, 4]);
    }

    #[test]
    fn ref_pattern_reads_both_quotings_and_two_argument_sources() {
        let sql = "select * from {{ ref('a') }} join {{ source(\"s\", 't') }}";
        let found: Vec<(String, String)> = REF
            .captures_iter(sql)
            .map(|c| {
                let first = c.get(2).or_else(|| c.get(3)).unwrap().as_str().to_owned();
                let second = c
                    .get(4)
                    .or_else(|| c.get(5))
                    .map_or(String::new(), |m| m.as_str().to_owned());
                (first, second)
            })
            .collect();
        assert_eq!(
            found,
            [("a".into(), String::new()), ("s".into(), "t".into())]
        );
    }
}
