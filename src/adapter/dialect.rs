//! What differs between the warehouses' SQL, in one table: a [`Dialect`] is
//! a list of capabilities with DuckDB-flavoured defaults, and each warehouse
//! overrides only what differs (in the spirit of sqlparser-rs's `Dialect`).
//! Quoting, string literals and casts used by sb's generated SQL, the
//! materializations and incremental strategies a target can build, and the
//! partition/cluster options it understands. Project config is validated
//! against this table at compile time, so an unsupported option fails with
//! the config's location before anything runs.

use super::{AdapterKind, IncrementalStrategy};

/// One warehouse's SQL capabilities.
pub trait Dialect: Send + Sync {
    fn kind(&self) -> AdapterKind;

    /// The target keys that name the schema (BigQuery's dataset), first wins.
    fn schema_keys(&self) -> &'static [&'static str] {
        &["schema"]
    }

    /// The schema of a target that names none.
    fn default_schema(&self) -> &'static str {
        "main"
    }

    /// The target keys that name the database (BigQuery's project), first wins.
    fn database_keys(&self) -> &'static [&'static str] {
        &["database"]
    }

    /// Quotes one identifier.
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// A string literal, escaped as the `sb_string_literal` macro escapes it.
    fn string_literal(&self, text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    /// `expression` cast to the string type, as `sb_cast_string` casts it.
    fn cast_string(&self, expression: &str) -> String {
        format!("cast({expression} as varchar)")
    }

    /// A whole row of the relation aliased `alias`, as one readable string.
    fn row_text(&self, alias: &str) -> String {
        format!("cast({alias} as varchar)")
    }

    /// The time a snapshot records (dbt's `snapshot_get_time`).
    fn snapshot_time(&self) -> String {
        "now()::timestamp".to_string()
    }

    /// dbt's `snapshot_hash_arguments`: the md5 of the parts as text,
    /// nulls as empty, joined by `|`.
    fn hash_parts(&self, parts: &[String]) -> String {
        let texts: Vec<String> = parts
            .iter()
            .map(|part| format!("coalesce(cast({part} as varchar), '')"))
            .collect();
        format!("md5({})", texts.join(" || '|' || "))
    }

    /// The incremental strategies this warehouse can run.
    fn incremental_strategies(&self) -> &'static [IncrementalStrategy] {
        &[
            IncrementalStrategy::Merge,
            IncrementalStrategy::Append,
            IncrementalStrategy::DeleteInsert,
        ]
    }

    /// Whether tables can be partitioned with `partition_by`.
    fn supports_partition_by(&self) -> bool {
        false
    }

    /// Whether tables can be clustered with `cluster_by`.
    fn supports_cluster_by(&self) -> bool {
        false
    }

    /// The query that lists every column of the target's database as rows
    /// of `(schema, table, column, type)` in column order, for the docs'
    /// catalog; `None` where columns are read relation by relation instead.
    fn catalog_columns_sql(&self) -> Option<&'static str> {
        Some(
            "select table_schema, table_name, column_name, data_type \
                   from information_schema.columns \
                   where table_catalog = current_database() \
                   order by table_schema, table_name, ordinal_position",
        )
    }

    /// Whether `strategy` can run here.
    fn supports_strategy(&self, strategy: IncrementalStrategy) -> bool {
        self.incremental_strategies().contains(&strategy)
    }
}

/// The embedded DuckDB file: the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDbDialect;

impl Dialect for DuckDbDialect {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Duckdb
    }
}

/// Google BigQuery: backquoted names, backslash escapes, partitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct BigQueryDialect;

impl Dialect for BigQueryDialect {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Bigquery
    }

    fn schema_keys(&self) -> &'static [&'static str] {
        &["dataset", "schema"]
    }

    fn default_schema(&self) -> &'static str {
        "analytics"
    }

    fn database_keys(&self) -> &'static [&'static str] {
        &["project", "database"]
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "\\`"))
    }

    fn string_literal(&self, text: &str) -> String {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    fn cast_string(&self, expression: &str) -> String {
        format!("cast({expression} as string)")
    }

    fn row_text(&self, alias: &str) -> String {
        format!("to_json_string({alias})")
    }

    fn snapshot_time(&self) -> String {
        "current_timestamp()".to_string()
    }

    fn hash_parts(&self, parts: &[String]) -> String {
        let texts: Vec<String> = parts
            .iter()
            .map(|part| format!("coalesce(cast({part} as string), '')"))
            .collect();
        format!("to_hex(md5(concat({})))", texts.join(", '|', "))
    }

    fn incremental_strategies(&self) -> &'static [IncrementalStrategy] {
        &[
            IncrementalStrategy::Merge,
            IncrementalStrategy::Append,
            IncrementalStrategy::DeleteInsert,
            IncrementalStrategy::InsertOverwrite,
        ]
    }

    fn supports_partition_by(&self) -> bool {
        true
    }

    fn supports_cluster_by(&self) -> bool {
        true
    }

    fn catalog_columns_sql(&self) -> Option<&'static str> {
        None
    }
}

impl AdapterKind {
    /// This warehouse's row of the capability table.
    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            Self::Duckdb => &DuckDbDialect,
            Self::Bigquery => &BigQueryDialect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_each_warehouse_quote() {
        assert_eq!(AdapterKind::Duckdb.dialect().quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(AdapterKind::Bigquery.dialect().quote("a`b"), "`a\\`b`");
    }

    #[test]
    fn string_literals_escape_as_the_macros_do() {
        assert_eq!(
            AdapterKind::Duckdb.dialect().string_literal("it's"),
            "'it''s'"
        );
        assert_eq!(
            AdapterKind::Bigquery.dialect().string_literal("it's \\"),
            "'it\\'s \\\\'"
        );
    }

    #[test]
    fn only_bigquery_overwrites_partitions() {
        let strategy = IncrementalStrategy::InsertOverwrite;
        assert!(!AdapterKind::Duckdb.dialect().supports_strategy(strategy));
        assert!(AdapterKind::Bigquery.dialect().supports_strategy(strategy));
        assert!(!AdapterKind::Duckdb.dialect().supports_partition_by());
        assert!(AdapterKind::Bigquery.dialect().supports_partition_by());
    }
}
