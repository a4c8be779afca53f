//! Running data tests. Before the run, [`TestPlan`] sorts the selected tests
//! into batches: the built-in generic tests of one node that wait on the same
//! nodes share one aggregate query ([`super::batch`]); every other test
//! (custom, singular, overridden built-ins, `store_failures`) runs its own
//! query, which also returns its first failing rows. The scheduler still
//! sees one job per test: the first test of a batch to run evaluates the
//! batch, the others read its answer. A test's count becomes `pass`, `warn`
//! or `fail` through its severity, `warn_if`, `error_if` and `limit`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Value, json};

use super::batch::{self, BatchTest, Dialect};
use super::{ConnectionPool, NodeResult, SharedConnection, Status, lock, run_sql_path};
use crate::adapter::{AdapterError, Materialization, MaterializeRequest, RelationRef};
use crate::compile::{CompiledProject, write_file};
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::data_tests::{GenericTest, TestThresholds};
use crate::project::{Node, generate_schema_name};
use crate::resource::ResourceType;

/// Failing rows shown for a failed test.
pub const SAMPLE_ROWS: usize = 5;

/// How the selected tests are grouped into queries.
pub struct TestPlan<'a> {
    compiled: &'a CompiledProject,
    batches: Vec<Batch>,
    batch_of: HashMap<usize, usize>,
}

struct Batch {
    id: String,
    attached: usize,
    relation: RelationRef,
    tests: Vec<BatchTest>,
    outcome: OnceLock<BatchOutcome>,
}

/// What evaluating one batch found.
struct BatchOutcome {
    started_at: DateTime<Utc>,
    completed_at: DateTime<Utc>,
    seconds: f64,
    /// Every statement sent, in order.
    statements: Vec<String>,
    /// The query that counted each test.
    served_by: HashMap<usize, String>,
    per_test: HashMap<usize, Counted>,
    /// Tests counted by their own query after the batch's failed.
    alone: HashSet<usize>,
}

/// One test's answer.
#[derive(Clone)]
enum Counted {
    Failures { failures: u64, samples: Vec<String> },
    Error(Diagnostic),
}

impl<'a> TestPlan<'a> {
    /// Plans `selected` (tests among them; other nodes are ignored). With
    /// `batching` off every test runs its own query.
    pub fn new(compiled: &'a CompiledProject, selected: &BTreeSet<usize>, batching: bool) -> Self {
        let mut plan = Self {
            compiled,
            batches: Vec::new(),
            batch_of: HashMap::new(),
        };
        if !batching {
            return plan;
        }
        let overridden = overridden_tests(compiled);
        let mut keys: BTreeMap<(usize, Vec<usize>), usize> = BTreeMap::new();
        for &index in selected {
            let Some((attached, test)) = plan.batch_test(index, &overridden) else {
                continue;
            };
            let waits: Vec<usize> = compiled.nodes[index]
                .depends_on
                .iter()
                .copied()
                .filter(|p| selected.contains(p))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let Some(relation) = compiled.nodes[attached].relation.clone() else {
                continue;
            };
            let batch = *keys.entry((attached, waits)).or_insert_with(|| {
                plan.batches.push(Batch {
                    id: String::new(),
                    attached,
                    relation,
                    tests: Vec::new(),
                    outcome: OnceLock::new(),
                });
                plan.batches.len() - 1
            });
            plan.batches[batch].tests.push(test);
            plan.batch_of.insert(index, batch);
        }
        let mut per_node: HashMap<usize, usize> = HashMap::new();
        for batch in &mut plan.batches {
            let n = per_node.entry(batch.attached).or_default();
            *n += 1;
            let id = &compiled.project.nodes[batch.attached].unique_id;
            batch.id = if *n == 1 {
                format!("batch:{id}")
            } else {
                format!("batch:{id}#{n}")
            };
        }
        plan
    }

    /// The batchable form of test `index`, with the node it tests.
    fn batch_test(&self, index: usize, overridden: &HashSet<String>) -> Option<(usize, BatchTest)> {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let test = node.generic_test.as_ref()?;
        let config = &compiled.nodes[index].config;
        if overridden.contains(&test.test_name)
            || !batch::BATCHABLE.contains(&test.test_name.as_str())
            || stores_failures(config)
            || compiled.nodes[index].render_at_execution
        {
            return None;
        }
        let attached = &compiled.project.nodes[test.attached];
        let real = match attached.resource_type {
            ResourceType::Seed | ResourceType::Source => true,
            ResourceType::Model => {
                compiled.nodes[test.attached].config.materialized() != "ephemeral"
            }
            ResourceType::Test => false,
        };
        if !real {
            return None;
        }
        let check = batch::check_of(test, |to| self.relation_named(to))?;
        let where_clause = config
            .get("where")
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|w| !w.trim().is_empty());
        Some((
            test.attached,
            BatchTest {
                index,
                check,
                where_clause,
            },
        ))
    }

    /// The rendered relation of `ref('x')` or `source('s', 't')`.
    fn relation_named(&self, call: &str) -> Option<String> {
        static REF: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r#"^\s*ref\s*\(\s*['"]([^'"]+)['"]\s*\)\s*$"#).expect("valid regex")
        });
        static SOURCE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r#"^\s*source\s*\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$"#)
                .expect("valid regex")
        });
        let catalog = &self.compiled.catalog;
        let index = if let Some(found) = REF.captures(call) {
            *catalog.refable.get(&found[1])?
        } else {
            let found = SOURCE.captures(call)?;
            *catalog
                .sources
                .get(&(found[1].to_string(), found[2].to_string()))?
        };
        if catalog.ephemeral.get(index).copied().unwrap_or(true) {
            return None;
        }
        let relation = catalog.relations.get(index)?;
        Some(self.compiled.project.target.kind.render_relation(relation))
    }

    /// Runs test `index` (evaluating its batch when it is the first of it).
    pub fn run(&self, index: usize, pool: &ConnectionPool<'_>) -> NodeResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let connection = match pool.take() {
            Ok(connection) => {
                lock(&connection).set_node(Some(&self.compiled.project.nodes[index].unique_id));
                connection
            }
            Err(error) => return NodeResult::cannot_connect(index, &error),
        };
        let mut result = match self.batch_of.get(&index) {
            Some(&b) => {
                let batch = &self.batches[b];
                let outcome = batch
                    .outcome
                    .get_or_init(|| self.evaluate_batch(batch, &connection));
                let mut result = self.result_of(batch, outcome, index);
                result.started_at = outcome.started_at;
                result.completed_at = outcome.completed_at;
                result.seconds = outcome.seconds;
                pool.give_back(connection);
                return result;
            }
            None => self.run_single(index, &connection),
        };
        pool.give_back(connection);
        result.started_at = started_at;
        result.completed_at = Utc::now();
        result.seconds = clock.elapsed().as_secs_f64();
        result
    }

    fn dialect(&self) -> Dialect {
        Dialect(self.compiled.project.target.kind)
    }

    fn evaluate_batch(&self, batch: &Batch, connection: &SharedConnection) -> BatchOutcome {
        let started_at = Utc::now();
        let clock = Instant::now();
        let relation = self
            .compiled
            .project
            .target
            .kind
            .render_relation(&batch.relation);
        let mut statements = Vec::new();
        let mut served_by = HashMap::new();
        let mut per_test = HashMap::new();
        let mut alone = HashSet::new();
        let mut tests: Vec<&BatchTest> = batch.tests.iter().collect();
        let mut checked_columns = false;
        while !tests.is_empty() {
            let owned: Vec<BatchTest> = tests.iter().map(|t| (*t).clone()).collect();
            let sql = batch::batch_sql(self.dialect(), &relation, &owned);
            statements.push(sql.clone());
            let answer = lock(connection).query(&sql, Some(1));
            match answer {
                Ok(answer) => {
                    let row = answer.rows.first().cloned().unwrap_or_default();
                    for (k, test) in tests.iter().enumerate() {
                        let failures = row.get(k).and_then(count_value).unwrap_or(0);
                        served_by.insert(test.index, sql.clone());
                        per_test.insert(
                            test.index,
                            Counted::Failures {
                                failures,
                                samples: Vec::new(),
                            },
                        );
                    }
                    break;
                }
                Err(error) => {
                    // A column that is not there fails the whole query: find
                    // the tests that name one, fail them alone, and go again.
                    let missing = if checked_columns {
                        Vec::new()
                    } else {
                        checked_columns = true;
                        statements.push(format!("-- read the columns of {relation}"));
                        self.missing_columns(&tests, batch, connection)
                    };
                    if missing.is_empty() {
                        // Something else in the batch is wrong (a `where` or
                        // an expression, say): count each test alone, so
                        // only the broken one errors.
                        statements.push(format!("-- the batch failed: {}", short(&error.message)));
                        for test in &tests {
                            alone.insert(test.index);
                            let (counted, own) =
                                self.count_single(test.index, connection, &mut statements);
                            served_by.insert(test.index, own.unwrap_or_else(|| sql.clone()));
                            per_test.insert(test.index, counted);
                        }
                        break;
                    }
                    for (index, diagnostic) in missing {
                        per_test.insert(index, Counted::Error(diagnostic));
                        tests.retain(|t| t.index != index);
                    }
                }
            }
        }
        self.add_samples(&mut per_test, connection, &mut statements);
        let run_text = statements.join(";\n\n") + ";\n";
        for test in &batch.tests {
            let _ = write_file(&run_sql_path(self.compiled, test.index), &run_text);
        }
        BatchOutcome {
            started_at,
            completed_at: Utc::now(),
            seconds: clock.elapsed().as_secs_f64(),
            statements,
            served_by,
            per_test,
            alone,
        }
    }

    /// The first failing rows of every test in `per_test` that found
    /// failures, in one more query.
    fn add_samples(
        &self,
        per_test: &mut HashMap<usize, Counted>,
        connection: &SharedConnection,
        statements: &mut Vec<String>,
    ) {
        let mut failing: Vec<usize> = per_test
            .iter()
            .filter(|(_, c)| {
                matches!(c, Counted::Failures { failures, samples } if *failures > 0 && samples.is_empty())
            })
            .map(|(&i, _)| i)
            .collect();
        failing.sort_unstable();
        let queries: Vec<(&str, &str)> = failing
            .iter()
            .filter_map(|&i| {
                let sql = self.compiled.nodes[i].compiled.as_deref()?;
                Some((self.compiled.project.nodes[i].unique_id.as_str(), sql))
            })
            .collect();
        if queries.is_empty() {
            return;
        }
        let sql = batch::samples_sql(self.dialect(), &queries, SAMPLE_ROWS);
        statements.push(sql.clone());
        let Ok(answer) = lock(connection).query(&sql, None) else {
            return;
        };
        let by_id: HashMap<&str, usize> = failing
            .iter()
            .map(|&i| (self.compiled.project.nodes[i].unique_id.as_str(), i))
            .collect();
        for row in &answer.rows {
            if let (Some(Value::String(id)), Some(text)) = (row.first(), row.get(1))
                && let Some(index) = by_id.get(id.as_str())
                && let Some(Counted::Failures { samples, .. }) = per_test.get_mut(index)
            {
                samples.push(cell_text(text));
            }
        }
        for counted in per_test.values_mut() {
            if let Counted::Failures { samples, .. } = counted {
                samples.sort();
            }
        }
    }

    /// Tests in `tests` that name a column the relation lacks, each with its
    /// diagnostic; empty when the columns cannot be read or all are there.
    fn missing_columns(
        &self,
        tests: &[&BatchTest],
        batch: &Batch,
        connection: &SharedConnection,
    ) -> Vec<(usize, Diagnostic)> {
        let Ok(columns) = lock(connection).columns(&batch.relation) else {
            return Vec::new();
        };
        let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
        tests
            .iter()
            .filter_map(|t| column_diagnostic(self.compiled, t.index, &names).map(|d| (t.index, d)))
            .collect()
    }

    fn result_of(&self, batch: &Batch, outcome: &BatchOutcome, index: usize) -> NodeResult {
        let served: Vec<Value> = outcome
            .served_by
            .iter()
            .filter(|(_, sql)| Some(*sql) == outcome.served_by.get(&index))
            .map(|(&i, _)| self.compiled.project.nodes[i].unique_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(Value::from)
            .collect();
        let sql = outcome.served_by.get(&index).cloned();
        let counted = outcome.per_test.get(&index).cloned().unwrap_or_else(|| {
            Counted::Error(Diagnostic::error("the batch did not answer for this test"))
        });
        let mut result = self.judge(index, counted);
        result.compiled_code = sql;
        let alone = outcome.alone.contains(&index);
        let query_id = if alone {
            format!("test:{}", self.compiled.project.nodes[index].unique_id)
        } else {
            batch.id.clone()
        };
        result
            .extra
            .insert("query_id".into(), Value::from(query_id));
        result.extra.insert("batched".into(), Value::Bool(!alone));
        result
            .extra
            .insert("served_tests".into(), Value::Array(served));
        result
            .extra
            .insert("queries".into(), json!(queries_sent(&outcome.statements)));
        result
    }

    fn run_single(&self, index: usize, connection: &SharedConnection) -> NodeResult {
        let mut statements = Vec::new();
        let (counted, sql) = self.count_single(index, connection, &mut statements);
        let mut result = self.judge(index, counted);
        result.compiled_code = sql;
        let id = self.compiled.project.nodes[index].unique_id.clone();
        result
            .extra
            .insert("query_id".into(), Value::from(format!("test:{id}")));
        result.extra.insert("batched".into(), Value::Bool(false));
        result.extra.insert("served_tests".into(), json!([id]));
        result
            .extra
            .insert("queries".into(), json!(queries_sent(&statements)));
        result
    }

    /// Counts one test with its own query (after keeping its failing rows,
    /// under `store_failures`); returns the count and the query that made it.
    fn count_single(
        &self,
        index: usize,
        connection: &SharedConnection,
        statements: &mut Vec<String>,
    ) -> (Counted, Option<String>) {
        let compiled = self.compiled;
        let config = &compiled.nodes[index].config;
        let query_connection = std::sync::Arc::clone(connection);
        let query: crate::jinja::QueryFn = Box::new(move |sql: &str| {
            lock(&query_connection)
                .query(sql, None)
                .map_err(|e| e.message)
        });
        let sql = match compiled.render_for_execution(index, false, Some(query)) {
            Ok((sql, _)) => sql,
            Err(diagnostic) => return (Counted::Error(diagnostic), None),
        };
        let thresholds = TestThresholds::from_config(config).ok();
        let limit = thresholds.and_then(|t| t.limit);
        let source_sql = if stores_failures(config) {
            let relation = audit_relation(compiled, index);
            let create = MaterializeRequest {
                relation: relation.clone(),
                sql: sql.clone(),
                materialization: Materialization::Table,
                pre_hooks: Vec::new(),
                post_hooks: Vec::new(),
                config: serde_json::Map::new(),
            };
            let built = lock(connection).materialize(&create);
            match built {
                Ok(outcome) => statements.extend(outcome.statements),
                Err(error) => {
                    statements.extend(error.statements.iter().cloned());
                    let _ = write_file(&run_sql_path(compiled, index), &statements.join(";\n\n"));
                    return (Counted::Error(self.error_diagnostic(index, &error)), None);
                }
            }
            format!(
                "select * from {}",
                compiled.project.target.kind.render_relation(&relation)
            )
        } else {
            sql
        };
        let wrapped = batch::single_sql(self.dialect(), &source_sql, limit, SAMPLE_ROWS);
        statements.push(wrapped.clone());
        let _ = write_file(
            &run_sql_path(compiled, index),
            &(statements.join(";\n\n") + ";\n"),
        );
        let answer = lock(connection).query(&wrapped, None);
        let counted = match answer {
            Ok(answer) => Counted::Failures {
                failures: answer
                    .rows
                    .first()
                    .and_then(|row| row.get(1))
                    .and_then(count_value)
                    .unwrap_or(0),
                samples: answer
                    .rows
                    .iter()
                    .filter_map(|row| row.first().map(cell_text))
                    .collect(),
            },
            Err(error) => {
                statements.push("-- read the columns of the tested relation".into());
                let tested = compiled.project.nodes[index]
                    .generic_test
                    .as_ref()
                    .and_then(|t| compiled.nodes[t.attached].relation.clone());
                let names = tested
                    .and_then(|relation| lock(connection).columns(&relation).ok())
                    .map(|c| c.into_iter().map(|c| c.name).collect::<Vec<_>>())
                    .unwrap_or_default();
                Counted::Error(
                    column_diagnostic(compiled, index, &names)
                        .unwrap_or_else(|| self.error_diagnostic(index, &error)),
                )
            }
        };
        (counted, Some(wrapped))
    }

    /// Turns a count into a status, message and diagnostic.
    fn judge(&self, index: usize, counted: Counted) -> NodeResult {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let (failures, samples) = match counted {
            Counted::Error(diagnostic) => {
                let mut result = NodeResult::new(index, Status::Error, short(&diagnostic.message));
                result.diagnostic = Some(diagnostic);
                return result;
            }
            Counted::Failures { failures, samples } => (failures, samples),
        };
        let thresholds = match TestThresholds::from_config(&compiled.nodes[index].config) {
            Ok(thresholds) => thresholds,
            Err((_, message)) => {
                let mut result = NodeResult::new(index, Status::Error, message.clone());
                result.diagnostic =
                    Some(Diagnostic::error(message).at(test_location(compiled, index)));
                return result;
            }
        };
        let failures = thresholds.limit.map_or(failures, |l| failures.min(l));
        let status = if !thresholds.warn_only && thresholds.error_if.holds(failures) {
            Status::Fail
        } else if thresholds.warn_if.holds(failures) {
            Status::Warn
        } else {
            Status::Pass
        };
        let what = failure_noun(node, failures);
        let message = if status == Status::Pass {
            if failures == 0 {
                String::new()
            } else {
                format!("{failures} {what}")
            }
        } else {
            format!("{failures} {what}")
        };
        let mut result = NodeResult::new(index, status, message);
        result.failures = Some(failures);
        if status != Status::Pass {
            let condition = if status == Status::Fail {
                format!("error_if {}", thresholds.error_if)
            } else {
                format!("warn_if {}", thresholds.warn_if)
            };
            let (mut diagnostic, verb) = if status == Status::Fail {
                (Diagnostic::error(String::new()), "failed")
            } else {
                (Diagnostic::warning(String::new()), "warns")
            };
            diagnostic.message = format!(
                "test `{}` {verb}: {failures} {what} ({condition})",
                node.name
            );
            diagnostic = diagnostic.at(test_location(compiled, index));
            if !samples.is_empty() {
                diagnostic = diagnostic.note(format!("first failing rows of `{}`:", node.name));
                for sample in &samples {
                    diagnostic = diagnostic.note(format!("  {sample}"));
                }
            }
            let run = run_sql_path(compiled, index);
            let shown = run.strip_prefix(&compiled.project.root).unwrap_or(&run);
            diagnostic = diagnostic
                .note(format!("the SQL sent is in {}", shown.display()))
                .help(if status == Status::Fail {
                    "fix the data or the model; set `severity: warn` in the test's config to report it without failing"
                } else {
                    "a warning does not fail the run; set `severity: error` to make it fail"
                });
            result.diagnostic = Some(diagnostic);
        }
        result.samples = samples;
        result
    }

    fn error_diagnostic(&self, index: usize, error: &AdapterError) -> Diagnostic {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let first = error.message.lines().next().unwrap_or(&error.message);
        let location = match &node.generic_test {
            Some(_) => Some(test_location(compiled, index)),
            None => super::locate_sql_error(node.file_path(), &node.raw_code, &error.message),
        };
        let mut diagnostic =
            Diagnostic::error(format!("test `{}` could not run: {first}", node.name))
                .at_opt(location);
        for line in error
            .message
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .take(4)
        {
            diagnostic = diagnostic.note(line.trim_end().to_string());
        }
        let run = run_sql_path(compiled, index);
        let shown = run.strip_prefix(&compiled.project.root).unwrap_or(&run);
        diagnostic
            .note(format!("the SQL sent is in {}", shown.display()))
            .help(
                "fix the test's arguments or SQL; the statement sent shows what the warehouse saw",
            )
    }
}

/// Whether a test keeps its failing rows in a table.
fn stores_failures(config: &crate::project::NodeConfig) -> bool {
    matches!(config.get("store_failures"), Some(Value::Bool(true)))
        || config
            .get("store_failures_as")
            .and_then(Value::as_str)
            .is_some_and(|s| s == "table")
}

/// Where a test keeps its failing rows: a table named after the test in the
/// audit schema (`<target schema>_dbt_test__audit`, or the test's `schema`).
pub fn audit_relation(compiled: &CompiledProject, index: usize) -> RelationRef {
    let node = &compiled.project.nodes[index];
    let config = &compiled.nodes[index].config;
    RelationRef {
        database: config
            .str("database")
            .map(str::to_string)
            .or_else(|| compiled.project.target.database.clone()),
        schema: generate_schema_name(
            Some(config.str("schema").unwrap_or("dbt_test__audit")),
            &compiled.project.target.schema,
        ),
        identifier: config
            .str("alias")
            .map_or_else(|| node.name.clone(), str::to_string),
    }
}

/// The test's place in the project: its YAML entry or its SQL file.
pub fn test_location(compiled: &CompiledProject, index: usize) -> Location {
    let node = &compiled.project.nodes[index];
    match &node.generic_test {
        Some(test) => test.location.clone(),
        None => Location::from_line_col(
            node.file_path(),
            &node.raw_code,
            super::first_sql_line(&node.raw_code),
            1,
            1,
        ),
    }
}

/// "duplicated values", "unexpected values", "failing rows" (dbt's counts).
fn failure_noun(node: &Node, failures: u64) -> String {
    let one = failures == 1;
    let (singular, plural) = match node.generic_test.as_ref().map(|t| t.test_name.as_str()) {
        Some("unique") => ("duplicated value", "duplicated values"),
        Some("unique_combination") => ("duplicated combination", "duplicated combinations"),
        Some("accepted_values") => ("unexpected value", "unexpected values"),
        Some("distribution") => (
            "value off its expected share",
            "values off their expected share",
        ),
        Some("relationships") => ("row without a parent", "rows without a parent"),
        Some("row_count") => ("row count out of range", "row counts out of range"),
        _ => ("failing row", "failing rows"),
    };
    (if one { singular } else { plural }).to_string()
}

/// The calls to the warehouse among `statements` (comments that only
/// explain the run file are not calls; a catalog read is).
fn queries_sent(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|s| !s.starts_with("-- the batch failed"))
        .count()
}

fn short(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

fn count_value(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Null => Some(0),
        _ => None,
    }
}

/// The built-in tests a project redefines: its own `{% test name %}`, or a
/// `default__`/adapter-specific `test_name` macro. sb's batched SQL would
/// not match them, so they run their own queries.
fn overridden_tests(compiled: &CompiledProject) -> HashSet<String> {
    static DEFINED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)").expect("valid regex")
    });
    let kind = compiled.project.target.kind.as_str();
    let mut out = HashSet::new();
    for file in &compiled.project.macro_files {
        for found in DEFINED.captures_iter(&file.text) {
            let name = &found[2];
            if &found[1] == "test" {
                out.insert(name.to_string());
                continue;
            }
            for prefix in [
                "test_".to_string(),
                "default__test_".to_string(),
                format!("{kind}__test_"),
            ] {
                if let Some(test) = name.strip_prefix(&prefix) {
                    out.insert(test.to_string());
                }
            }
        }
    }
    out
}

/// The columns a test names that `columns` (the relation's) lacks.
fn missing_of(test: &GenericTest, columns: &[String]) -> Vec<String> {
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
    let lower: HashSet<String> = columns.iter().map(|c| c.to_lowercase()).collect();
    let mut named: Vec<String> = test.column.iter().cloned().collect();
    if test.test_name == "unique_combination"
        && let Some(Value::Array(items)) = test.args.get("columns")
    {
        named.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
    }
    named
        .into_iter()
        .filter(|c| IDENT.is_match(c) && !lower.contains(&c.to_lowercase()))
        .collect()
}

/// The error for a test on a column its node does not have, when it is one.
pub fn column_diagnostic(
    compiled: &CompiledProject,
    index: usize,
    columns: &[String],
) -> Option<Diagnostic> {
    let node = &compiled.project.nodes[index];
    let test = node.generic_test.as_ref()?;
    if columns.is_empty() {
        return None;
    }
    let missing = missing_of(test, columns);
    let column = missing.first()?;
    let attached = &compiled.project.nodes[test.attached];
    let close = crate::graph::closest_names(column, columns.iter().map(String::as_str), 3);
    let location = match (
        &test.column_location,
        test.column.as_deref() == Some(column.as_str()),
    ) {
        (Some(location), true) => location.clone(),
        _ => test.location.clone(),
    };
    Some(
        Diagnostic::error(format!(
            "test `{}` is on column `{column}`, which {} `{}` does not have",
            node.name,
            attached.resource_type,
            attached.source.as_ref().map_or_else(
                || attached.name.clone(),
                |s| format!("{}.{}", s.source_name, attached.name)
            )
        ))
        .at(location)
        .help(
            did_you_mean(&close)
                .unwrap_or_else(|| format!("its columns are: {}", columns.join(", "))),
        ),
    )
}

/// Before anything runs: the selected generic tests whose columns are
/// missing from a relation that already exists (seeds, sources, and models
/// that this run does not rebuild). `rebuilt` are the nodes this run builds.
pub fn check_columns(
    compiled: &CompiledProject,
    selected: &BTreeSet<usize>,
    rebuilt: &BTreeSet<usize>,
    pool: &ConnectionPool<'_>,
) -> Vec<Diagnostic> {
    let mut by_node: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in selected {
        if let Some(test) = &compiled.project.nodes[index].generic_test
            && (test.column.is_some() || test.test_name == "unique_combination")
        {
            by_node.entry(test.attached).or_default().push(index);
        }
    }
    let mut errors = Vec::new();
    let Ok(connection) = pool.take() else {
        return errors;
    };
    for (attached, tests) in by_node {
        let node = &compiled.project.nodes[attached];
        let columns: Vec<String> = if node.resource_type == ResourceType::Seed {
            csv_header(compiled, attached)
        } else if rebuilt.contains(&attached) {
            continue;
        } else {
            let Some(relation) = &compiled.nodes[attached].relation else {
                continue;
            };
            lock(&connection)
                .columns(relation)
                .map(|c| c.into_iter().map(|c| c.name).collect())
                .unwrap_or_default()
        };
        for index in tests {
            if let Some(diagnostic) = column_diagnostic(compiled, index, &columns) {
                errors.push(diagnostic);
            }
        }
    }
    pool.give_back(connection);
    errors
}

/// The column names in a seed's header line.
fn csv_header(compiled: &CompiledProject, index: usize) -> Vec<String> {
    let path = compiled
        .project
        .root
        .join(&compiled.project.nodes[index].original_file_path);
    let delimiter = compiled.nodes[index]
        .config
        .str("delimiter")
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .ok()
        .and_then(|mut reader| reader.headers().ok().cloned())
        .map(|headers| headers.iter().map(|h| h.trim().to_string()).collect())
        .unwrap_or_default()
}
