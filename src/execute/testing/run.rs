//! Running a planned test: the first test of a batch to run evaluates the
//! batch's aggregate query (falling back to single queries when it fails),
//! the others read its answer; any other test runs its own query, which
//! also returns its first failing rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;
use serde_json::{Value, json};

use super::batch::{self, BatchTest};
use super::columns::column_diagnostic;
use super::judge::test_location;
use super::plan::stores_failures;
use super::{Batch, BatchOutcome, Counted, SAMPLE_ROWS, TestPlan, short};
use crate::adapter::{AdapterError, AdapterKind, Materialization, MaterializeRequest, RelationRef};
use crate::compile::{CompiledProject, write_file};
use crate::diag::Diagnostic;
use crate::execute::pool::{ConnectionPool, SharedConnection, lock};
use crate::execute::sql_error::locate_sql_error;
use crate::execute::{NodeResult, run_sql_path};
use crate::project::data_tests::TestThresholds;
use crate::project::generate_schema_name;
use crate::resource::NodeId;

impl TestPlan<'_> {
    /// Runs test `index` (evaluating its batch when it is the first of it).
    pub fn run(&self, index: NodeId, pool: &ConnectionPool<'_>) -> NodeResult {
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

    /// The warehouse the tests run on.
    fn kind(&self) -> AdapterKind {
        self.compiled.project.target.kind
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
            let sql = batch::batch_sql(self.kind(), &relation, &owned);
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
        per_test: &mut HashMap<NodeId, Counted>,
        connection: &SharedConnection,
        statements: &mut Vec<String>,
    ) {
        let mut failing: Vec<NodeId> = per_test
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
        let sql = batch::samples_sql(self.kind(), &queries, SAMPLE_ROWS);
        statements.push(sql.clone());
        let Ok(answer) = lock(connection).query(&sql, None) else {
            return;
        };
        let by_id: HashMap<&str, NodeId> = failing
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
    ) -> Vec<(NodeId, Diagnostic)> {
        let Ok(columns) = lock(connection).columns(&batch.relation) else {
            return Vec::new();
        };
        let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
        tests
            .iter()
            .filter_map(|t| column_diagnostic(self.compiled, t.index, &names).map(|d| (t.index, d)))
            .collect()
    }

    fn result_of(&self, batch: &Batch, outcome: &BatchOutcome, index: NodeId) -> NodeResult {
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

    fn run_single(&self, index: NodeId, connection: &SharedConnection) -> NodeResult {
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
        index: NodeId,
        connection: &SharedConnection,
        statements: &mut Vec<String>,
    ) -> (Counted, Option<String>) {
        let compiled = self.compiled;
        let config = &compiled.nodes[index].config;
        let query_connection = std::sync::Arc::clone(connection);
        let query: crate::jinja::QueryFn =
            Box::new(move |sql: &str| lock(&query_connection).query(sql, None));
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
                columns_ddl: None,
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
        let fail_calc = config
            .str("fail_calc")
            .map(str::trim)
            .filter(|calc| !calc.eq_ignore_ascii_case("count(*)"));
        let wrapped = match fail_calc {
            Some(calc) => batch::fail_calc_sql(self.kind(), &source_sql, calc, SAMPLE_ROWS),
            None => batch::single_sql(self.kind(), &source_sql, limit, SAMPLE_ROWS),
        };
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

    fn error_diagnostic(&self, index: NodeId, error: &AdapterError) -> Diagnostic {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let first = error.message.lines().next().unwrap_or(&error.message);
        let location = match &node.generic_test {
            Some(_) => Some(test_location(compiled, index)),
            None => locate_sql_error(node.file_path(), &node.raw_code, &error.message),
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

/// Where a test keeps its failing rows: a table named after the test in the
/// audit schema (`<target schema>_dbt_test__audit`, or the test's `schema`).
pub fn audit_relation(compiled: &CompiledProject, index: NodeId) -> RelationRef {
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

/// The calls to the warehouse among `statements` (comments that only
/// explain the run file are not calls; a catalog read is).
fn queries_sent(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|s| !s.starts_with("-- the batch failed"))
        .count()
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
