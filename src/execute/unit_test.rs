//! Running one unit test (dbt 1.8 `unit_tests:`): the model's SQL, with
//! every `ref()`/`source()` it reads (and `this`) replaced by a CTE of the
//! given rows, runs on an in-memory DuckDB, so no parent needs to be built
//! and no warehouse is touched; its output is compared with the expected
//! rows as multisets, on the columns the expectation names, and a failure
//! shows the rows only expected (`-`) and only produced (`+`).
//!
//! Given rows are typed as a seed's CSV would be (sb's own CSV inference);
//! a column a parent declares (a seed's header, YAML `columns:` with a
//! `data_type`) that the rows leave out is null. Expected values are cast
//! to the type the model produced, so `2` equals `2.0`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

use serde_json::Value;

use super::{NodeResult, Status};
use crate::adapter::csv_types::{self, SeedType};
use crate::adapter::duckdb::DuckDbAdapter;
use crate::adapter::{Adapter, AdapterKind};
use crate::compile::CompiledProject;
use crate::diag::Diagnostic;
use crate::jinja::scope::reference_text;
use crate::project::unit_tests::{Fixture, FixtureFormat, Input, UnitTestSpec};
use crate::resource::{NodeId, ResourceType};

/// Runs unit test `index` and judges it.
pub fn run_unit_test(compiled: &CompiledProject, index: NodeId) -> NodeResult {
    let clock = Instant::now();
    let started_at = chrono::Utc::now();
    let node = &compiled.project.nodes[index];
    let mut result = match compiled.project.unit_tests.get(&node.unique_id) {
        Some(spec) => match judge(compiled, index, spec) {
            Ok(None) => NodeResult::new(index, Status::Pass, ""),
            Ok(Some(failure)) => {
                let mut result = NodeResult::new(index, Status::Fail, failure.summary.clone());
                result.failures = Some(failure.rows);
                result.samples = failure.diff.lines().map(str::to_owned).collect();
                result.diagnostic = Some(
                    Diagnostic::error(format!("unit test `{}` failed: {}", node.name, failure.summary))
                        .at(spec.location.clone())
                        .note(failure.diff)
                        .help(format!(
                            "`-` rows are expected and missing, `+` rows are produced and not expected; fix `{}` or the test's rows",
                            spec.model
                        )),
                );
                result.compiled_code = Some(failure.sql);
                result
            }
            Err(diagnostic) => {
                let mut result = NodeResult::new(index, Status::Error, diagnostic.message.clone());
                result.diagnostic = Some(diagnostic);
                result
            }
        },
        None => NodeResult::new(index, Status::Error, "unit test without a definition"),
    };
    result.started_at = started_at;
    result.completed_at = chrono::Utc::now();
    result.seconds = clock.elapsed().as_secs_f64();
    result
}

struct Failure {
    summary: String,
    diff: String,
    rows: u64,
    sql: String,
}

/// `Ok(None)` when the model gives exactly the expected rows.
fn judge(
    compiled: &CompiledProject,
    index: NodeId,
    spec: &UnitTestSpec,
) -> Result<Option<Failure>, Diagnostic> {
    let test = &compiled.project.nodes[index];
    let problem = |message: String, help: &str| {
        Diagnostic::error(format!("unit test `{}`: {message}", test.name))
            .at(spec.location.clone())
            .help(help.to_string())
    };
    let Some(&model) = compiled.nodes[index].depends_on.first() else {
        return Err(problem(
            format!("`{}` is not a model", spec.model),
            "set `model:` to a model's name",
        ));
    };
    let mut sql = compiled.render_for_unit_test(model, &spec.overrides)?;
    let mut ctes = Vec::new();
    let mut given_for = BTreeSet::new();
    for (i, fixture) in spec.given.iter().enumerate() {
        let parent = match &fixture.input {
            Input::Ref(name) => compiled.catalog.resolve_ref(
                None,
                name,
                None,
                compiled.catalog.package_index_of(model),
            ),
            Input::Source(source, table) => compiled
                .catalog
                .sources
                .get(&(source.clone(), table.clone()))
                .copied(),
            Input::This => Some(model),
            Input::Expected => None,
        };
        let Some(parent) = parent else {
            return Err(Diagnostic::error(format!(
                "unit test `{}`: `{}` names no model, seed or source of the project",
                test.name, fixture.input
            ))
            .at(fixture.location.clone())
            .help("give rows for the refs and sources the model reads, by the names it uses"));
        };
        given_for.insert(parent);
        let name = format!("sb_unit_given_{i}");
        let select = given_sql(compiled, parent, fixture)
            .map_err(|message| problem(message, "fix the rows of this input"))?;
        let reference = reference_text(&compiled.catalog, parent);
        sql = sql.replace(&reference, &name);
        ctes.push(format!("{name} as (\n{select}\n)"));
    }
    let missing: Vec<String> = compiled.nodes[model]
        .depends_on
        .iter()
        .filter(|p| !given_for.contains(p))
        .map(|&p| describe_parent(compiled, p))
        .collect();
    if !missing.is_empty() {
        return Err(problem(
            format!(
                "`{}` reads {}, which the test gives no rows for",
                spec.model,
                missing.join(", ")
            ),
            "add a `- input: ...` entry to `given:` for each (with `rows: []` when the test needs none)",
        ));
    }
    let query = if ctes.is_empty() {
        sql
    } else {
        format!(
            "with {}\nselect * from (\n{sql}\n) as sb_unit_actual",
            ctes.join(",\n")
        )
    };
    let adapter = DuckDbAdapter::open_in_memory()
        .map_err(|e| problem(format!("cannot open DuckDB: {}", e.message), "report this"))?;
    let mut connection = adapter
        .connect()
        .map_err(|e| problem(format!("cannot open DuckDB: {}", e.message), "report this"))?;
    if let Err(error) = connection.execute(&format!("create temp table sb_actual as\n{query}")) {
        let portable = if compiled.project.target.kind == AdapterKind::Duckdb {
            String::new()
        } else {
            format!(
                " (unit tests run on sb's embedded DuckDB; `{}` is written for {} and its SQL is not portable)",
                spec.model,
                compiled.project.target.kind.as_str()
            )
        };
        return Err(problem(
            format!(
                "`{}` failed on the given rows: {}{portable}",
                spec.model, error.message
            ),
            "the SQL run is the model's with each input as a CTE; check the inputs' columns and types",
        ));
    }
    let actual = connection
        .query("select * from sb_actual limit 0", None)
        .map_err(|e| problem(e.message, "report this"))?
        .columns;
    let expected = typed_rows(&spec.expect).map_err(|m| problem(m, "fix `expect:`"))?;
    let mut columns = Vec::new();
    for (name, _) in &expected.columns {
        let Some(column) = actual.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
            let names: Vec<&str> = actual.iter().map(|c| c.name.as_str()).collect();
            return Err(problem(
                format!(
                    "`expect` names the column `{name}`, which `{}` does not produce (it gives {})",
                    spec.model,
                    names.join(", ")
                ),
                "expect only columns the model selects",
            ));
        };
        columns.push((name.clone(), column.data_type.clone()));
    }
    let expected_sql = match &spec.expect.format {
        FixtureFormat::Sql => spec.expect.rows.as_str().unwrap_or_default().to_string(),
        _ => values_sql(&expected, Some(&columns)),
    };
    connection
        .execute(&format!("create temp table sb_expected as\n{expected_sql}"))
        .map_err(|e| {
            problem(
                format!("cannot read `expect`: {}", e.message),
                "fix `expect:`",
            )
        })?;
    let list = |alias: &str| {
        columns
            .iter()
            .map(|(c, t)| format!("cast({alias}.{name} as {t}) as {name}", name = quote(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let as_text = columns
        .iter()
        .map(|(c, _)| format!("coalesce(cast({} as varchar), 'NULL')", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let diff_sql = format!(
        "with expected as (select {e} from sb_expected as e),\n\
         actual as (select {a} from sb_actual as a),\n\
         only_expected as (select * from expected except all select * from actual),\n\
         only_actual as (select * from actual except all select * from expected)\n\
         select {as_text}, '-' as sb_side from only_expected\n\
         union all select {as_text}, '+' from only_actual\n\
         order by all",
        e = list("e"),
        a = list("a"),
    );
    let diff = connection.query(&diff_sql, None).map_err(|e| {
        problem(
            format!("cannot compare the rows: {}", e.message),
            "report this",
        )
    })?;
    if diff.rows.is_empty() {
        return Ok(None);
    }
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let header: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
    let mut lines = vec![header];
    let mut sides = vec![String::new()];
    for row in &diff.rows {
        sides.push(row.last().map(cell).unwrap_or_default());
        lines.push(row.iter().take(columns.len()).map(cell).collect());
    }
    let mut out = String::new();
    for (side, line) in sides.iter().zip(crate::table::aligned_lines(&lines)) {
        let side = if side.is_empty() { " " } else { side };
        let _ = writeln!(out, "{side} {line}");
    }
    let missing = sides.iter().filter(|s| *s == "-").count();
    let extra = sides.iter().filter(|s| *s == "+").count();
    Ok(Some(Failure {
        summary: format!(
            "{missing} expected row{} missing, {extra} row{} not expected",
            if missing == 1 { "" } else { "s" },
            if extra == 1 { "" } else { "s" }
        ),
        diff: out.trim_end().to_string(),
        rows: u64::try_from(missing + extra).unwrap_or(u64::MAX),
        sql: query,
    }))
}

fn describe_parent(compiled: &CompiledProject, parent: NodeId) -> String {
    let node = &compiled.project.nodes[parent];
    match (&node.resource_type, &node.source) {
        (ResourceType::Source, Some(source)) => {
            format!("source('{}', '{}')", source.source_name, node.name)
        }
        _ => format!("ref('{}')", node.name),
    }
}

/// Rows of a fixture with their columns' types.
struct TypedRows {
    columns: Vec<(String, String)>,
    rows: Vec<Vec<Option<String>>>,
}

/// The rows of a dict or csv fixture as text, typed as sb types a seed.
fn typed_rows(fixture: &Fixture) -> Result<TypedRows, String> {
    let csv_text = match fixture.format {
        FixtureFormat::Csv => fixture.rows.as_str().unwrap_or_default().to_string(),
        FixtureFormat::Sql => {
            return Ok(TypedRows {
                columns: Vec::new(),
                rows: Vec::new(),
            });
        }
        FixtureFormat::Dict => dict_csv(&fixture.rows)?,
    };
    if csv_text.trim().is_empty() {
        return Ok(TypedRows {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    }
    let inferred = csv_types::infer(csv_text.as_bytes(), b',')?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("the rows are not CSV: {e}"))?;
        rows.push(
            record
                .iter()
                .map(|v| (!v.is_empty()).then(|| v.to_string()))
                .collect(),
        );
    }
    Ok(TypedRows {
        columns: inferred
            .columns
            .into_iter()
            .map(|(name, kind)| (name, kind.duckdb().to_string()))
            .collect(),
        rows,
    })
}

/// A list of dicts as a CSV text: every key any row has is a column.
fn dict_csv(rows: &Value) -> Result<String, String> {
    let items = rows.as_array().cloned().unwrap_or_default();
    let mut columns: Vec<String> = Vec::new();
    for item in &items {
        for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    if columns.is_empty() {
        return Ok(String::new());
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&columns).map_err(|e| e.to_string())?;
    for item in &items {
        let record: Vec<String> = columns
            .iter()
            .map(|c| match item.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            })
            .collect();
        writer.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The SELECT of one given input: its rows, typed, plus as nulls the
/// columns the parent is known to have that the rows leave out.
fn given_sql(
    compiled: &CompiledProject,
    parent: NodeId,
    fixture: &Fixture,
) -> Result<String, String> {
    if fixture.format == FixtureFormat::Sql {
        return Ok(fixture
            .rows
            .as_str()
            .unwrap_or_default()
            .trim()
            .trim_end_matches(';')
            .to_string());
    }
    let mut typed = typed_rows(fixture)?;
    for (name, data_type) in known_columns(compiled, parent) {
        if !typed
            .columns
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(&name))
        {
            typed.columns.push((name, data_type));
            for row in &mut typed.rows {
                row.push(None);
            }
        }
    }
    if typed.columns.is_empty() {
        return Err(format!(
            "no columns for `{}`: its rows are empty and sb knows none of its columns; give one row, or `format: sql` with a typed `select ... where false`",
            compiled.project.nodes[parent].name
        ));
    }
    Ok(values_sql(&typed, None))
}

/// The columns sb knows `parent` has without a warehouse: a seed's CSV
/// header and types, or YAML columns with a `data_type`.
fn known_columns(compiled: &CompiledProject, parent: NodeId) -> Vec<(String, String)> {
    let node = &compiled.project.nodes[parent];
    if node.resource_type == ResourceType::Seed
        && let Ok(seed) =
            csv_types::infer_file(&compiled.project.root.join(&node.original_file_path), b',')
    {
        return seed
            .columns
            .into_iter()
            .map(|(name, kind): (String, SeedType)| (name, kind.duckdb().to_string()))
            .collect();
    }
    node.columns
        .iter()
        .filter_map(|(name, column)| {
            let data_type = column.data_type.as_deref()?;
            Some((name.clone(), data_type.to_string()))
        })
        .collect()
}

/// `select` of typed rows (every value cast from its text); with `types`,
/// those types instead of the inferred ones.
fn values_sql(typed: &TypedRows, cast_to: Option<&[(String, String)]>) -> String {
    let type_of = |i: usize| -> String {
        let name = &typed.columns[i].0;
        cast_to
            .and_then(|t| t.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)))
            .map_or_else(|| typed.columns[i].1.clone(), |(_, t)| t.clone())
    };
    let names: Vec<String> = typed.columns.iter().map(|(c, _)| quote(c)).collect();
    if typed.rows.is_empty() {
        let nulls: Vec<String> = (0..typed.columns.len())
            .map(|i| format!("cast(null as {}) as {}", type_of(i), names[i]))
            .collect();
        return format!("select {} where false", nulls.join(", "));
    }
    let rows: Vec<String> = typed
        .rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = (0..typed.columns.len())
                .map(|i| match row.get(i).cloned().flatten() {
                    Some(text) => format!("cast('{}' as {})", text.replace('\'', "''"), type_of(i)),
                    None => format!("cast(null as {})", type_of(i)),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!(
        "select * from (values\n    {}\n) as sb_rows({})",
        rows.join(",\n    "),
        names.join(", ")
    )
}

/// A column name in DuckDB's SQL, where unit tests run.
fn quote(name: &str) -> String {
    AdapterKind::Duckdb.quote(name)
}
