//! Reading `dashboards/*.yml`: every key, chart type, aggregate, model and
//! `ref()` is checked against the project, with file:line:col and the
//! closest names when one is wrong.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use super::locate::{item_lines, value_location};
use super::refs::{chartable_names, find_relation, resolve_sql};
use super::spec::{
    AGGREGATES, CHART_KEYS, CHART_TYPES, Chart, ChartPlace, DASHBOARD_DIR, DASHBOARD_KEYS,
    DEFAULT_LIMIT, Dashboard,
};
use crate::compile::CompiledProject;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::project::yaml::YamlFile;

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
