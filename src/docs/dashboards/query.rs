//! Fetching each chart's rows from the target, after checking the columns
//! the chart names against the model's columns or its query's.

use super::locate::{locate_column, locate_value_key};
use super::spec::{Chart, ChartData, Dashboard};
use crate::adapter::{Connection, RelationRef};
use crate::compile::CompiledProject;
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::docs::catalog::{ColumnCatalog, catalog_key, relation};
use crate::docs::sql;

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
            sql::model_rows(kind, &relation)
        }
        (None, Some(sql)) => sql.trim().trim_end_matches(';').to_owned(),
        (None, None) => String::new(),
    };
    // The query's own columns, for checking the chart's names against them.
    let probe = sql::query_columns(kind, &base);
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
            sql::aggregated_chart_rows(kind, &base, &keys_unique, agg, &chart.y, chart.limit + 1)
        }
        _ => sql::chart_rows(kind, &base, &wanted_unique, chart.limit + 1),
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
