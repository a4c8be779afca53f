//! The BigQuery SQL and job configurations sb sends: pure functions, so
//! each statement's shape is tested without a warehouse.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::adapter::AdapterKind;
use crate::adapter::sql_text::strip_trailing;

const KIND: AdapterKind = AdapterKind::Bigquery;

/// A query job's configuration: standard SQL always (unset means legacy
/// SQL on BigQuery), the comment first, labels, priority and the byte cap.
pub fn query_configuration(
    comment: &str,
    sql: &str,
    priority: &str,
    maximum_bytes_billed: Option<u64>,
    labels: &Value,
    dry_run: bool,
) -> Value {
    let mut query = json!({
        "query": format!("{comment}\n{sql}"),
        "useLegacySql": false,
        "priority": priority,
    });
    if let Some(limit) = maximum_bytes_billed {
        query["maximumBytesBilled"] = Value::from(limit.to_string());
    }
    let mut configuration = json!({"query": query, "labels": labels.clone()});
    if dry_run {
        configuration["dryRun"] = Value::from(true);
    }
    configuration
}

/// `/* {"app": "sb", ...} */`: who sent a statement, in the job's SQL.
pub fn query_comment(invocation_id: &str, node: Option<&str>) -> String {
    let mut info = json!({"app": "sb", "invocation_id": invocation_id});
    if let Some(node) = node {
        info["node"] = Value::from(node);
    }
    format!("/* {} */", info.to_string().replace("*/", "* /"))
}

/// Table options from a model's config: `partition_by`, `cluster_by`,
/// `labels`, `require_partition_filter`, `partition_expiration_days`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableOptions {
    pub partition_by: Option<Partition>,
    pub cluster_by: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub require_partition_filter: bool,
    pub partition_expiration_days: Option<u64>,
    /// An enforced contract's column definitions and constraints, written
    /// before `as` (dbt-bigquery's DDL for contracted tables).
    pub columns: Option<String>,
}

/// How a table is partitioned.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub field: String,
    /// `timestamp`, `datetime`, `date` or `int64`.
    pub data_type: String,
    /// `day`, `hour`, `month` or `year`.
    pub granularity: String,
    /// For `int64`: start, end, interval.
    pub range: Option<(i64, i64, i64)>,
}

impl Partition {
    /// The `partition by` expression.
    pub fn expression(&self) -> String {
        let field = KIND.quote(&self.field);
        match (self.data_type.as_str(), self.granularity.as_str()) {
            ("int64", _) => {
                let (start, end, interval) = self.range.unwrap_or((0, 1000, 1));
                format!("range_bucket({field}, generate_array({start}, {end}, {interval}))")
            }
            ("date", "day") => field,
            ("date", g) => format!("date_trunc({field}, {g})"),
            ("timestamp", "day") => format!("date({field})"),
            ("datetime", "day") => format!("datetime_trunc({field}, day)"),
            (kind, g) => format!("{kind}_trunc({field}, {g})"),
        }
    }

    /// The partition a row falls in, as a value comparable with the
    /// `partition by` expression (for `insert_overwrite`).
    fn key(&self, column: &str) -> (String, &'static str) {
        match (self.data_type.as_str(), self.granularity.as_str()) {
            ("int64", _) => (column.to_owned(), "int64"),
            ("timestamp", "day") => (format!("date({column})"), "date"),
            ("date", "day") => (column.to_owned(), "date"),
            ("date", g) => (format!("date_trunc({column}, {g})"), "date"),
            ("datetime", g) => (format!("datetime_trunc({column}, {g})"), "datetime"),
            (_, g) => (format!("timestamp_trunc({column}, {g})"), "timestamp"),
        }
    }
}

/// A `partition_by` or `cluster_by` BigQuery cannot take.
#[derive(Debug, thiserror::Error)]
pub enum TableOptionsError {
    #[error("`partition_by` needs a `field`")]
    PartitionField,
    #[error("`partition_by.data_type` must be date, timestamp, datetime or int64, not `{0}`")]
    PartitionType(String),
    #[error("`partition_by.granularity` must be hour, day, month or year, not `{0}`")]
    Granularity(String),
    #[error("`partition_by` must be a mapping such as {{field: event_date, data_type: date}}")]
    PartitionShape,
    #[error("`cluster_by` takes at most four columns on BigQuery")]
    TooManyClusterColumns,
}

impl TableOptions {
    pub fn from_config(config: &Map<String, Value>) -> Result<Self, TableOptionsError> {
        let partition_by = match config.get("partition_by") {
            None | Some(Value::Null) => None,
            Some(Value::String(field)) => Some(Partition {
                field: field.clone(),
                data_type: "date".into(),
                granularity: "day".into(),
                range: None,
            }),
            Some(Value::Object(map)) => {
                let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_lowercase);
                let field = map
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or(TableOptionsError::PartitionField)?
                    .to_owned();
                let data_type = text("data_type").unwrap_or_else(|| "date".into());
                if !matches!(
                    data_type.as_str(),
                    "date" | "timestamp" | "datetime" | "int64"
                ) {
                    return Err(TableOptionsError::PartitionType(data_type));
                }
                let granularity = text("granularity").unwrap_or_else(|| "day".into());
                if !matches!(granularity.as_str(), "hour" | "day" | "month" | "year") {
                    return Err(TableOptionsError::Granularity(granularity));
                }
                let range = map.get("range").and_then(Value::as_object).map(|r| {
                    let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
                    (n("start"), n("end"), n("interval").max(1))
                });
                Some(Partition {
                    field,
                    data_type,
                    granularity,
                    range,
                })
            }
            Some(_) => {
                return Err(TableOptionsError::PartitionShape);
            }
        };
        let cluster_by = crate::adapter::as_string_list(config.get("cluster_by"))
            .iter()
            .flat_map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>();
        if cluster_by.len() > 4 {
            return Err(TableOptionsError::TooManyClusterColumns);
        }
        let labels = match config.get("labels") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        super::label_text(k),
                        super::label_text(&v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            partition_by,
            cluster_by,
            labels,
            require_partition_filter: config
                .get("require_partition_filter")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            partition_expiration_days: config
                .get("partition_expiration_days")
                .and_then(Value::as_u64),
            columns: None,
        })
    }
}

pub fn create_view(target: &str, select: &str) -> String {
    format!(
        "create or replace view {target} as\n{}",
        strip_trailing(select)
    )
}

/// `create or replace table ... partition by ... cluster by ... options(...) as`.
pub fn create_table(target: &str, select: &str, options: &TableOptions) -> String {
    let mut sql = format!("create or replace table {target}");
    if let Some(columns) = &options.columns {
        let _ = write!(sql, " (\n    {columns}\n)");
    }
    if let Some(partition) = &options.partition_by {
        let _ = write!(sql, "\npartition by {}", partition.expression());
    }
    if !options.cluster_by.is_empty() {
        let columns: Vec<String> = options.cluster_by.iter().map(|c| KIND.quote(c)).collect();
        let _ = write!(sql, "\ncluster by {}", columns.join(", "));
    }
    let mut settings = Vec::new();
    if !options.labels.is_empty() {
        let labels: Vec<String> = options
            .labels
            .iter()
            .map(|(k, v)| format!("({}, {})", literal(k), literal(v)))
            .collect();
        settings.push(format!("labels=[{}]", labels.join(", ")));
    }
    if options.require_partition_filter && options.partition_by.is_some() {
        settings.push("require_partition_filter=true".into());
    }
    if let Some(days) = options.partition_expiration_days {
        settings.push(format!("partition_expiration_days={days}"));
    }
    if !settings.is_empty() {
        let _ = write!(sql, "\noptions({})", settings.join(", "));
    }
    let _ = write!(sql, "\nas\n{}", strip_trailing(select));
    sql
}

fn quoted(columns: &[String]) -> Vec<String> {
    columns.iter().map(|c| KIND.quote(c)).collect()
}

/// `merge` on the unique key: matched rows updated, new rows inserted.
pub fn merge(target: &str, select: &str, columns: &[String], key: &[String]) -> String {
    let on = key
        .iter()
        .map(|k| {
            let k = KIND.quote(k);
            format!("sb_dst.{k} = sb_src.{k}")
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .map(|c| {
            let c = KIND.quote(c);
            format!("{c} = sb_src.{c}")
        })
        .collect();
    let mut sql = format!(
        "merge into {target} as sb_dst\nusing (\n{}\n) as sb_src\non ({on})",
        strip_trailing(select)
    );
    if !updates.is_empty() {
        let _ = write!(sql, "\nwhen matched then update set {}", updates.join(", "));
    }
    let names = quoted(columns);
    let values: Vec<String> = names.iter().map(|c| format!("sb_src.{c}")).collect();
    let _ = write!(
        sql,
        "\nwhen not matched then insert ({}) values ({})",
        names.join(", "),
        values.join(", ")
    );
    sql
}

/// `insert into ... select`: the new rows added.
pub fn append(target: &str, select: &str, columns: &[String]) -> String {
    let names = quoted(columns).join(", ");
    format!(
        "insert into {target} ({names})\nselect {names} from (\n{}\n)",
        strip_trailing(select)
    )
}

/// Rows with a key in the new rows deleted, then the new rows inserted, in
/// one transaction.
pub fn delete_insert(target: &str, select: &str, columns: &[String], key: &[String]) -> String {
    let matches = key
        .iter()
        .map(|k| {
            let k = KIND.quote(k);
            format!("sb_src.{k} = sb_dst.{k}")
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let select = strip_trailing(select);
    format!(
        "begin transaction;\ndelete from {target} as sb_dst where exists (select 1 from (\n{select}\n) as sb_src where {matches});\n{};\ncommit transaction",
        append(target, select, columns)
    )
}

/// The partitions the new rows fall in are replaced by them: one `merge`
/// that deletes those partitions' rows and inserts the new ones.
pub fn insert_overwrite(
    target: &str,
    select: &str,
    columns: &[String],
    partition: &Partition,
) -> String {
    let field = KIND.quote(&partition.field);
    let (source_key, key_type) = partition.key(&format!("sb_new.{field}"));
    let (target_key, _) = partition.key(&format!("sb_dst.{field}"));
    let select = strip_trailing(select);
    let names = quoted(columns);
    let values: Vec<String> = names.iter().map(|c| format!("sb_src.{c}")).collect();
    format!(
        "declare sb_partitions array<{key_type}>;\nset sb_partitions = (select array_agg(distinct {source_key}) from (\n{select}\n) as sb_new);\nmerge into {target} as sb_dst\nusing (\n{select}\n) as sb_src\non false\nwhen not matched by source and {target_key} in unnest(sb_partitions) then delete\nwhen not matched then insert ({}) values ({})",
        names.join(", "),
        values.join(", ")
    )
}

/// Whether BigQuery refused `create or replace table` because the new
/// table's partitioning or clustering differs from the old one's.
pub fn must_drop_to_replace(message: &str) -> bool {
    message.contains("Cannot replace a table with a different")
}

/// A BigQuery string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Standard SQL's name for a schema field's type (`INT64`, `STRUCT<...>`).
pub fn standard_type(field: &Value) -> String {
    let base = match field
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("STRING")
    {
        "INTEGER" => "INT64".to_owned(),
        "FLOAT" => "FLOAT64".to_owned(),
        "BOOLEAN" => "BOOL".to_owned(),
        "RECORD" | "STRUCT" => {
            let children: Vec<String> = field
                .get("fields")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|f| {
                            format!(
                                "{} {}",
                                f.get("name").and_then(Value::as_str).unwrap_or_default(),
                                standard_type(f)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("STRUCT<{}>", children.join(", "))
        }
        other => other.to_owned(),
    };
    if field.get("mode").and_then(Value::as_str) == Some("REPEATED") {
        format!("ARRAY<{base}>")
    } else {
        base
    }
}

/// A load job's name for a type written in SQL (`int64` -> `INTEGER`).
pub fn legacy_type(sql_type: &str) -> String {
    let upper = sql_type.trim().to_ascii_uppercase();
    // Parameters (`DECIMAL(6,2)`, `VARCHAR(10)`) do not exist in a load
    // job's schema: the base type is what BigQuery parses values as.
    let base = upper.split('(').next().unwrap_or_default().trim();
    match base {
        "INT64" | "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" => {
            "INTEGER".into()
        }
        "FLOAT64" | "FLOAT" | "DOUBLE" | "REAL" => "FLOAT".into(),
        "BOOL" | "BOOLEAN" => "BOOLEAN".into(),
        "STRING" | "VARCHAR" | "TEXT" => "STRING".into(),
        "DECIMAL" | "NUMERIC" => "NUMERIC".into(),
        "BIGDECIMAL" | "BIGNUMERIC" => "BIGNUMERIC".into(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::needless_pass_by_value)]
    fn config(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn tables_carry_partitioning_clustering_and_labels() {
        let options = TableOptions::from_config(&config(json!({
            "partition_by": {"field": "watched_at", "data_type": "timestamp"},
            "cluster_by": ["user_id", "title_id"],
            "labels": {"team": "Growth"},
        })))
        .expect("valid");
        assert_eq!(
            create_table("`p`.`d`.`t`", "select 1;\n", &options),
            "create or replace table `p`.`d`.`t`\npartition by date(`watched_at`)\ncluster by `user_id`, `title_id`\noptions(labels=[('team', 'growth')])\nas\nselect 1"
        );
        let contracted = TableOptions {
            columns: Some("`id` INT64 not null primary key not enforced".into()),
            ..TableOptions::default()
        };
        assert_eq!(
            create_table("`p`.`d`.`t`", "select 1 as id", &contracted),
            "create or replace table `p`.`d`.`t` (\n    `id` INT64 not null primary key not enforced\n)\nas\nselect 1 as id"
        );
        let monthly = TableOptions::from_config(&config(json!({
            "partition_by": {"field": "d", "data_type": "date", "granularity": "month"},
        })))
        .expect("valid");
        assert_eq!(
            monthly.partition_by.expect("a partition").expression(),
            "date_trunc(`d`, month)"
        );
        let ranged = TableOptions::from_config(&config(json!({
            "partition_by": {"field": "n", "data_type": "int64", "range": {"start": 0, "end": 100, "interval": 10}},
        })))
        .expect("valid");
        assert_eq!(
            ranged.partition_by.expect("a partition").expression(),
            "range_bucket(`n`, generate_array(0, 100, 10))"
        );
        assert!(
            TableOptions::from_config(&config(
                json!({"partition_by": {"field": "x", "data_type": "string"}})
            ))
            .is_err()
        );
    }

    #[test]
    fn merge_updates_all_but_the_key() {
        let sql = merge(
            "`p`.`d`.`t`",
            "select 1 as id, 2 as v",
            &["id".into(), "v".into()],
            &["id".into()],
        );
        assert_eq!(
            sql,
            "merge into `p`.`d`.`t` as sb_dst\nusing (\nselect 1 as id, 2 as v\n) as sb_src\non (sb_dst.`id` = sb_src.`id`)\nwhen matched then update set `v` = sb_src.`v`\nwhen not matched then insert (`id`, `v`) values (sb_src.`id`, sb_src.`v`)"
        );
    }

    #[test]
    fn insert_overwrite_replaces_the_new_rows_partitions() {
        let partition = Partition {
            field: "day".into(),
            data_type: "timestamp".into(),
            granularity: "day".into(),
            range: None,
        };
        let sql = insert_overwrite("`t`", "select 1", &["day".into()], &partition);
        assert!(
            sql.starts_with("declare sb_partitions array<date>;"),
            "{sql}"
        );
        assert!(
            sql.contains("array_agg(distinct date(sb_new.`day`))"),
            "{sql}"
        );
        assert!(
            sql.contains("when not matched by source and date(sb_dst.`day`) in unnest(sb_partitions) then delete"),
            "{sql}"
        );
    }

    #[test]
    fn every_query_is_standard_sql_with_labels_and_a_byte_cap() {
        let configuration = query_configuration(
            &query_comment("abc", Some("orders")),
            "select 1",
            "BATCH",
            Some(1000),
            &json!({"sb_node": "orders"}),
            true,
        );
        assert_eq!(
            configuration,
            json!({
                "query": {
                    "query": "/* {\"app\":\"sb\",\"invocation_id\":\"abc\",\"node\":\"orders\"} */\nselect 1",
                    "useLegacySql": false,
                    "priority": "BATCH",
                    "maximumBytesBilled": "1000",
                },
                "labels": {"sb_node": "orders"},
                "dryRun": true,
            })
        );
    }

    #[test]
    fn schema_types_read_as_standard_sql() {
        let field = json!({"name": "d", "type": "RECORD", "mode": "REPEATED", "fields": [
            {"name": "a", "type": "INTEGER"}, {"name": "b", "type": "STRING"}
        ]});
        assert_eq!(standard_type(&field), "ARRAY<STRUCT<a INT64, b STRING>>");
    }

    #[test]
    fn seed_column_types_become_load_job_types() {
        assert_eq!(legacy_type("decimal(6,2)"), "NUMERIC");
        assert_eq!(legacy_type("varchar(10)"), "STRING");
        assert_eq!(legacy_type("int64"), "INTEGER");
        assert_eq!(legacy_type("date"), "DATE");
    }
}
