//! One query for many tests. The built-in generic tests of one node are
//! evaluated together: a single aggregate query over the node's relation
//! counts, for every test at once, what that test's own query
//! (`src/adapter/macros/generic_tests.sql`) would return as failing rows.
//! Tests that need a value's count (unique, distribution) or a whole group
//! (unique_combination) get a window over the rows; relationships gets an
//! `exists` flag per row. Each test keeps its own `where`. The SQL differs
//! between warehouses only in its string literals and string casts
//! (written as `sb_string_literal` and `sb_cast_string` write them, by
//! [`crate::adapter::macros`]) and in how a sampled row becomes text. The
//! tests it knows are that module's table of built-in tests.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::adapter::AdapterKind;
use crate::adapter::macros::{GenericTestKind, cast_string, string_literal};
use crate::adapter::sql_text::strip_trailing;
use crate::project::data_tests::GenericTest;
use crate::resource::NodeId;

/// A whole row of `alias` as one readable string.
fn row_text(alias: &str, kind: AdapterKind) -> String {
    match kind {
        AdapterKind::Duckdb => format!("cast({alias} as varchar)"),
        AdapterKind::Bigquery => format!("to_json_string({alias})"),
    }
}

/// What one batched test counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    NotNull {
        column: String,
    },
    Unique {
        column: String,
    },
    AcceptedValues {
        column: String,
        values: Vec<Value>,
        quote: bool,
    },
    AcceptedRange {
        column: String,
        min: Option<String>,
        max: Option<String>,
        inclusive: bool,
    },
    ExpressionIsTrue {
        expression: String,
    },
    RowCount {
        min: Option<String>,
        max: Option<String>,
    },
    Distribution {
        column: String,
        expected: Vec<(String, String)>,
        tolerance: String,
    },
    UniqueCombination {
        columns: Vec<String>,
    },
    Relationships {
        column: String,
        /// The rendered parent relation.
        to: String,
        field: String,
    },
}

/// A test as Jinja renders a value with `{{ value }}`.
fn rendered(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn is_identifier(text: &str) -> bool {
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
    IDENT.is_match(text)
}

/// Reads a built-in generic test into a [`Check`]. `relation_of` renders the
/// relation a `to: ref(...)`/`source(...)` argument names. `None` when the
/// test is not a built-in one, or has arguments sb does not batch.
pub fn check_of(test: &GenericTest, relation_of: impl Fn(&str) -> Option<String>) -> Option<Check> {
    let arg = |name: &str| test.args.get(name).filter(|v| !v.is_null());
    let column = test.column.clone();
    Some(match GenericTestKind::named(&test.test_name)? {
        GenericTestKind::NotNull => Check::NotNull { column: column? },
        GenericTestKind::Unique => Check::Unique { column: column? },
        GenericTestKind::AcceptedValues => Check::AcceptedValues {
            column: column?,
            values: arg("values")?.as_array()?.clone(),
            quote: arg("quote").is_none_or(|q| q.as_bool().unwrap_or(true)),
        },
        GenericTestKind::AcceptedRange => Check::AcceptedRange {
            column: column?,
            min: arg("min_value").map(rendered),
            max: arg("max_value").map(rendered),
            inclusive: arg("inclusive").is_none_or(|q| q.as_bool().unwrap_or(true)),
        },
        GenericTestKind::ExpressionIsTrue => {
            let expression = rendered(arg("expression")?);
            Check::ExpressionIsTrue {
                expression: match column {
                    Some(column) => format!("{column} {expression}"),
                    None => expression,
                },
            }
        }
        GenericTestKind::RowCount => Check::RowCount {
            min: arg("min").map(rendered),
            max: arg("max").map(rendered),
        },
        GenericTestKind::Distribution => Check::Distribution {
            column: column?,
            expected: arg("expected")?
                .as_object()?
                .iter()
                .map(|(value, share)| (value.clone(), rendered(share)))
                .collect(),
            tolerance: arg("tolerance").map_or_else(|| "0.05".to_string(), rendered),
        },
        GenericTestKind::UniqueCombination => Check::UniqueCombination {
            columns: arg("columns")?
                .as_array()?
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
        },
        GenericTestKind::Relationships => {
            let column = column?;
            let field = arg("field")?.as_str()?.to_string();
            if !is_identifier(&column) || !is_identifier(&field) {
                return None;
            }
            Check::Relationships {
                column,
                to: relation_of(arg("to")?.as_str()?)?,
                field,
            }
        }
    })
}

/// One test in a batch: its node index, what it counts and its `where`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTest {
    pub index: NodeId,
    pub check: Check,
    pub where_clause: Option<String>,
}

/// The aggregate query over `relation` whose column `sb_t<k>` is the number
/// of failures of `tests[k]`.
pub fn batch_sql(kind: AdapterKind, relation: &str, tests: &[BatchTest]) -> String {
    let mut extra = Vec::new();
    let mut counts = Vec::new();
    for (k, test) in tests.iter().enumerate() {
        let w = test
            .where_clause
            .as_deref()
            .map_or_else(|| "true".to_string(), |w| format!("({w})"));
        let count = |condition: &str| format!("count(case when {w} and ({condition}) then 1 end)");
        // Per value (or group) of `keys`: how many rows pass `where`, and
        // one row to count the value by, a passing one when there is one.
        let mut windows = |keys: &str| {
            extra.push(format!(
                "count(case when {w} then 1 end) over (partition by {keys}) as sb_n_{k}"
            ));
            extra.push(format!(
                "row_number() over (partition by {keys} order by case when {w} then 0 else 1 end) as sb_r_{k}"
            ));
        };
        let expression = match &test.check {
            Check::NotNull { column } => count(&format!("{column} is null")),
            Check::Unique { column } => {
                windows(column);
                count(&format!(
                    "{column} is not null and sb_n_{k} > 1 and sb_r_{k} = 1"
                ))
            }
            Check::AcceptedValues {
                column,
                values,
                quote,
            } => {
                let list = values
                    .iter()
                    .map(|v| {
                        if *quote {
                            string_literal(&rendered(v), kind)
                        } else {
                            rendered(v)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "count(distinct case when {w} and ({column} not in ({list})) then {column} end)"
                )
            }
            Check::AcceptedRange {
                column,
                min,
                max,
                inclusive,
            } => {
                let eq = if *inclusive { "=" } else { "" };
                let mut within = String::from("true");
                if let Some(min) = min {
                    let _ = write!(within, " and {column} >{eq} {min}");
                }
                if let Some(max) = max {
                    let _ = write!(within, " and {column} <{eq} {max}");
                }
                count(&format!("not ({within})"))
            }
            Check::ExpressionIsTrue { expression } => count(&format!("not ({expression})")),
            Check::RowCount { min, max } => {
                let rows = format!("count(case when {w} then 1 end)");
                let mut outside = String::from("false");
                if let Some(min) = min {
                    let _ = write!(outside, " or {rows} < {min}");
                }
                if let Some(max) = max {
                    let _ = write!(outside, " or {rows} > {max}");
                }
                format!("case when {outside} then 1 else 0 end")
            }
            Check::Distribution {
                column,
                expected,
                tolerance,
            } => {
                let text = cast_string(column, kind);
                let total = count(&format!("{column} is not null"));
                let mut parts = Vec::new();
                for (value, share) in expected {
                    let n = count(&format!("{text} = {}", string_literal(value, kind)));
                    parts.push(format!(
                        "case when abs(coalesce({n} / nullif({total}, 0), 0) - {share}) > {tolerance} then 1 else 0 end"
                    ));
                }
                windows(column);
                extra.push(format!(
                    "count(case when {w} and {column} is not null then 1 end) over () as sb_total_{k}"
                ));
                let keys = expected
                    .iter()
                    .map(|(value, _)| string_literal(value, kind))
                    .collect::<Vec<_>>()
                    .join(", ");
                parts.push(count(&format!(
                    "{column} is not null and {text} not in ({keys}) and sb_r_{k} = 1 \
                     and abs(coalesce(sb_n_{k} / nullif(sb_total_{k}, 0), 0) - 0) > {tolerance}"
                )));
                parts.join("\n        + ")
            }
            Check::UniqueCombination { columns } => {
                windows(&columns.join(", "));
                count(&format!("sb_n_{k} > 1 and sb_r_{k} = 1"))
            }
            Check::Relationships { column, to, field } => {
                extra.push(format!(
                    "case when exists (select 1 from {to} as sb_parent where sb_parent.{field} = sb_base.{column}) then 1 else 0 end as sb_m_{k}"
                ));
                count(&format!("{column} is not null and sb_m_{k} = 0"))
            }
        };
        counts.push(format!("    {expression} as sb_t{k}"));
    }
    let mut sql = String::from("with sb_rows as (\n    select\n        sb_base.*");
    for column in &extra {
        let _ = write!(sql, ",\n        {column}");
    }
    let _ = write!(
        sql,
        "\n    from {relation} as sb_base\n)\nselect\n{}\nfrom sb_rows",
        counts.join(",\n")
    );
    sql
}

/// One query that returns the first `per_test` failing rows of each test,
/// as `(sb_test, sb_row)` pairs; `tests` are `(unique id, test SQL)`.
pub fn samples_sql(kind: AdapterKind, tests: &[(&str, &str)], per_test: usize) -> String {
    tests
        .iter()
        .map(|(id, sql)| {
            format!(
                "(select {} as sb_test, {} as sb_row\nfrom (\n{}\n) as sb_failing_row\norder by sb_row\nlimit {per_test})",
                string_literal(id, kind),
                row_text("sb_failing_row", kind),
                strip_trailing(sql.trim_start())
            )
        })
        .collect::<Vec<_>>()
        .join("\nunion all\n")
}

/// One test's own query, wrapped to return its failure count (capped at
/// `limit`) on every row and the first `per_test` failing rows as text.
pub fn single_sql(kind: AdapterKind, sql: &str, limit: Option<u64>, per_test: usize) -> String {
    let inner = match limit {
        Some(limit) => format!(
            "select * from (\n{}\n) as sb_limited limit {limit}",
            strip_trailing(sql.trim_start())
        ),
        None => strip_trailing(sql.trim_start()).to_string(),
    };
    format!(
        "select {} as sb_row, count(*) over () as sb_failures\nfrom (\n{inner}\n) as sb_failing_row\norder by sb_row\nlimit {per_test}",
        row_text("sb_failing_row", kind)
    )
}

/// One test's own query with dbt's `fail_calc` (e.g. `sum(diff_count)`)
/// as its failure count instead of its number of rows: the count on every
/// row, and the first `per_test` rows as text.
pub fn fail_calc_sql(kind: AdapterKind, sql: &str, fail_calc: &str, per_test: usize) -> String {
    let inner = strip_trailing(sql.trim_start());
    let integer = match kind {
        AdapterKind::Duckdb => "bigint",
        AdapterKind::Bigquery => "int64",
    };
    format!(
        "select {} as sb_row, (select coalesce(cast(({fail_calc}) as {integer}), 0) from (\n{inner}\n) as sb_calc) as sb_failures\nfrom (\n{inner}\n) as sb_failing_row\norder by sb_row\nlimit {per_test}",
        row_text("sb_failing_row", kind)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_query_holds_every_test() {
        let tests = vec![
            BatchTest {
                index: NodeId::new(0),
                check: Check::NotNull {
                    column: "id".into(),
                },
                where_clause: None,
            },
            BatchTest {
                index: NodeId::new(1),
                check: Check::Unique {
                    column: "id".into(),
                },
                where_clause: Some("day > 1".into()),
            },
        ];
        let sql = batch_sql(AdapterKind::Duckdb, "\"main\".\"t\"", &tests);
        assert!(
            sql.contains("count(case when true and (id is null) then 1 end) as sb_t0"),
            "{sql}"
        );
        assert!(sql.contains("over (partition by id) as sb_n_1"), "{sql}");
        assert!(
            sql.contains("(day > 1) and (id is not null and sb_n_1 > 1 and sb_r_1 = 1)"),
            "{sql}"
        );
        assert_eq!(sql.matches("from \"main\".\"t\"").count(), 1);
    }

    /// A test of `name` on `column` with YAML `args`, as `check_of` reads it.
    fn declared(
        name: &str,
        column: Option<&str>,
        args: Value,
        where_clause: Option<&str>,
    ) -> BatchTest {
        let test = GenericTest {
            test_name: name.into(),
            attached: NodeId::new(0),
            column: column.map(str::to_string),
            args: match args {
                Value::Object(args) => args,
                _ => serde_json::Map::new(),
            },
            location: crate::diag::Location::from_line_col(
                std::path::Path::new("models/schema.yml"),
                "",
                1,
                1,
                1,
            ),
            column_location: None,
        };
        let check = check_of(&test, |to| {
            (to == "ref('customers')").then(|| "\"main\".\"customers\"".to_string())
        })
        .unwrap();
        BatchTest {
            index: NodeId::new(0),
            check,
            where_clause: where_clause.map(str::to_string),
        }
    }

    /// A test of every kind sb batches, several ways each.
    fn every_kind() -> Vec<BatchTest> {
        use serde_json::json;
        vec![
            declared("not_null", Some("id"), json!({}), None),
            declared("unique", Some("id"), json!({}), Some("day > 1")),
            declared(
                "accepted_values",
                Some("status"),
                json!({"values": ["a", "it's", "back\\slash"]}),
                None,
            ),
            declared(
                "accepted_values",
                Some("amount"),
                json!({"values": [1, 2, 3], "quote": false}),
                Some("amount > 0"),
            ),
            declared(
                "accepted_range",
                Some("amount"),
                json!({"min_value": 0, "max_value": 100}),
                None,
            ),
            declared(
                "accepted_range",
                Some("amount"),
                json!({"min_value": "0", "inclusive": false}),
                Some("day > 1"),
            ),
            declared(
                "expression_is_true",
                Some("amount"),
                json!({"expression": "> 0"}),
                None,
            ),
            declared(
                "expression_is_true",
                None,
                json!({"expression": "a + b = c"}),
                Some("day > 1"),
            ),
            declared("row_count", None, json!({"min": 1, "max": 1000}), None),
            declared("row_count", None, json!({"max": 5}), Some("day > 1")),
            declared(
                "distribution",
                Some("status"),
                json!({"expected": {"a": 0.5, "it's": 0.5}}),
                None,
            ),
            declared(
                "distribution",
                Some("status"),
                json!({"expected": {"a": 1}, "tolerance": 0.1}),
                Some("day > 1"),
            ),
            declared(
                "unique_combination",
                None,
                json!({"columns": ["a", "b"]}),
                None,
            ),
            declared(
                "relationships",
                Some("customer_id"),
                json!({"to": "ref('customers')", "field": "id"}),
                Some("day > 1"),
            ),
        ]
    }

    /// The batched, samples and single-test SQL of every kind on both
    /// warehouses, byte for byte as the snapshots recorded it.
    #[test]
    fn batched_sql_is_unchanged() {
        let tests = every_kind();
        for kind in [AdapterKind::Duckdb, AdapterKind::Bigquery] {
            let relation = kind.render_relation(&crate::adapter::RelationRef {
                database: None,
                schema: "main".into(),
                identifier: "orders".into(),
            });
            let samples = samples_sql(
                kind,
                &[
                    (
                        "test.p.not_null_orders_id",
                        "select * from t where id is null\n",
                    ),
                    ("test.p.it's", "  select 1;"),
                ],
                5,
            );
            let single = [None, Some(10)]
                .map(|limit| single_sql(kind, "select * from t where id is null;", limit, 5))
                .join("\n\n");
            let sql = format!(
                "{}\n\n-- samples\n{samples}\n\n-- single\n{single}",
                batch_sql(kind, &relation, &tests)
            );
            insta::assert_snapshot!(format!("batch_sql_{}", kind.as_str()), sql);
        }
    }

    #[test]
    fn unusual_tests_are_not_batched() {
        let test = |name: &str, column: &str, args: Value| GenericTest {
            test_name: name.into(),
            attached: NodeId::new(0),
            column: Some(column.into()),
            args: match args {
                Value::Object(args) => args,
                _ => serde_json::Map::new(),
            },
            location: crate::diag::Location::from_line_col(
                std::path::Path::new("models/schema.yml"),
                "",
                1,
                1,
                1,
            ),
            column_location: None,
        };
        let relation_of = |_: &str| Some("\"main\".\"customers\"".to_string());
        for unusual in [
            test("my_own_test", "id", serde_json::json!({})),
            test("accepted_values", "id", serde_json::json!({})),
            test(
                "relationships",
                "lower(id)",
                serde_json::json!({"to": "ref('customers')", "field": "id"}),
            ),
            test(
                "unique_combination",
                "id",
                serde_json::json!({"columns": ["a", 1]}),
            ),
        ] {
            assert_eq!(check_of(&unusual, relation_of), None, "{unusual:?}");
        }
    }
}
