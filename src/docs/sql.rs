//! Every SQL text `sb docs` sends to the warehouse for its charts, one
//! function per query, each taking the target's adapter kind (the catalog
//! query is the dialect's: `Dialect::catalog_columns_sql`).

use crate::adapter::{AdapterKind, RelationRef};

/// Every row of a model: the base query of a chart that names `model:`.
pub fn model_rows(kind: AdapterKind, relation: &RelationRef) -> String {
    format!("select * from {}", kind.render_relation(relation))
}

/// No rows of a chart's base query, only its columns (the same on every
/// adapter today).
pub fn query_columns(_kind: AdapterKind, base: &str) -> String {
    format!("select * from (\n{base}\n) as sb_chart limit 0")
}

/// The `columns` of a chart's base query, at most `limit` rows.
pub fn chart_rows(kind: AdapterKind, base: &str, columns: &[String], limit: usize) -> String {
    let quote = |c: &str| kind.quote(c);
    format!(
        "select {} from (\n{base}\n) as sb_chart limit {}",
        columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", "),
        limit
    )
}

/// A chart's base query aggregated with `agg` over each `values` column,
/// grouped and ordered by the `keys`, at most `limit` rows.
pub fn aggregated_chart_rows(
    kind: AdapterKind,
    base: &str,
    keys: &[&String],
    agg: &str,
    values: &[String],
    limit: usize,
) -> String {
    let quote = |c: &str| kind.quote(c);
    let mut select: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    for y in values {
        select.push(format!("{agg}({}) as {}", quote(y), quote(y)));
    }
    let group: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
    let group_by = if group.is_empty() {
        String::new()
    } else {
        format!(" group by {0} order by {0}", group.join(", "))
    };
    format!(
        "select {} from (\n{base}\n) as sb_chart{group_by} limit {}",
        select.join(", "),
        limit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts as `sb docs` has always sent them; a move into a dialect
    /// table must keep them byte for byte.
    #[test]
    fn chart_and_catalog_queries_keep_their_text() {
        let duckdb = AdapterKind::Duckdb;
        assert_eq!(
            duckdb.dialect().catalog_columns_sql(),
            Some(
                "select table_schema, table_name, column_name, data_type from information_schema.columns where table_catalog = current_database() order by table_schema, table_name, ordinal_position"
            )
        );
        assert_eq!(AdapterKind::Bigquery.dialect().catalog_columns_sql(), None);
        let relation = RelationRef {
            database: None,
            schema: "analytics".to_owned(),
            identifier: "daily".to_owned(),
        };
        let base = model_rows(duckdb, &relation);
        assert_eq!(base, "select * from \"analytics\".\"daily\"");
        assert_eq!(
            query_columns(duckdb, &base),
            "select * from (\nselect * from \"analytics\".\"daily\"\n) as sb_chart limit 0"
        );
        assert_eq!(
            chart_rows(duckdb, "q", &["a".to_owned(), "b".to_owned()], 11),
            "select \"a\", \"b\" from (\nq\n) as sb_chart limit 11"
        );
        let (day, genre) = ("day".to_owned(), "genre".to_owned());
        assert_eq!(
            aggregated_chart_rows(
                duckdb,
                "q",
                &[&day, &genre],
                "sum",
                &["views".to_owned()],
                6
            ),
            "select \"day\", \"genre\", sum(\"views\") as \"views\" from (\nq\n) as sb_chart group by 1, 2 order by 1, 2 limit 6"
        );
        assert_eq!(
            aggregated_chart_rows(duckdb, "q", &[], "count", &["views".to_owned()], 6),
            "select count(\"views\") as \"views\" from (\nq\n) as sb_chart limit 6"
        );
    }
}
