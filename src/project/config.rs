//! Node configuration: the keys sb knows, how folder, YAML and in-file
//! `config()` levels merge (later wins; `tags`, hooks and `meta` accumulate),
//! and typed accessors over the merged map.

use serde_json::{Map, Value};

use crate::adapter::IncrementalStrategy;
pub use crate::adapter::as_string_list;
use crate::resource::Materialized;

/// Every config key sb accepts on models, seeds, sources and tests.
pub const KNOWN_KEYS: &[&str] = &[
    "materialized",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "schema",
    "database",
    "alias",
    "tags",
    "enabled",
    "partition_by",
    "cluster_by",
    "pre_hook",
    "post_hook",
    "full_refresh",
    "meta",
    "docs",
    "persist_docs",
    "labels",
    "column_types",
    "quote_columns",
    "delimiter",
    "grants",
    "contract",
    "sql_header",
    "group",
    "access",
    "require_partition_filter",
    "partition_expiration_days",
    "hours_to_expiration",
    "kms_key_name",
    "event_time",
    "quoting",
    "freshness",
    "loaded_at_field",
    "identifier",
    // dbt-duckdb sources read from files
    "external_location",
    // snapshots
    "strategy",
    "updated_at",
    "check_cols",
    "target_schema",
    "target_database",
    "invalidate_hard_deletes",
    "hard_deletes",
    "dbt_valid_to_current",
    "snapshot_meta_column_names",
    "formatter",
    // tests
    "severity",
    "where",
    "warn_if",
    "error_if",
    "limit",
    "store_failures",
    "store_failures_as",
    "fail_calc",
];

/// dbt spells some keys with dashes; sb stores them with underscores.
pub fn normalize_key(key: &str) -> String {
    key.trim_start_matches('+').replace('-', "_")
}

pub fn is_known_key(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
}

/// Keys whose values accumulate across levels instead of being replaced.
fn accumulates(key: &str) -> bool {
    matches!(key, "tags" | "pre_hook" | "post_hook")
}

/// Merges `overlay` into `base`: later levels win, lists of tags and hooks
/// are extended, `meta` maps are merged key by key.
pub fn merge_into(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        if accumulates(key) {
            let mut items = as_string_list(base.get(key));
            for item in as_string_list(Some(value)) {
                if key != "tags" || !items.contains(&item) {
                    items.push(item);
                }
            }
            base.insert(key.clone(), Value::from(items));
        } else if key == "meta"
            && let (Some(Value::Object(existing)), Value::Object(new)) = (base.get_mut(key), value)
        {
            for (k, v) in new {
                existing.insert(k.clone(), v.clone());
            }
        } else {
            base.insert(key.clone(), value.clone());
        }
    }
}

/// Typed view over a merged config map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeConfig(pub Map<String, Value>);

impl NodeConfig {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// `materialized` as written (`view` when unset), for messages.
    pub fn materialized_name(&self) -> &str {
        self.str("materialized").unwrap_or("view")
    }

    /// The materialization; a name sb does not know (an error at compile
    /// time for models) reads as a view.
    pub fn materialized(&self) -> Materialized {
        Materialized::parse(self.materialized_name()).unwrap_or(Materialized::View)
    }

    pub fn enabled(&self) -> bool {
        match self.get("enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                !matches!(s.to_ascii_lowercase().as_str(), "false" | "0" | "no")
            }
            _ => true,
        }
    }

    pub fn tags(&self) -> Vec<String> {
        as_string_list(self.get("tags"))
    }

    pub fn unique_key(&self) -> Vec<String> {
        as_string_list(self.get("unique_key"))
            .iter()
            .flat_map(|k| {
                k.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn incremental_strategy(&self) -> Option<IncrementalStrategy> {
        self.str("incremental_strategy")
            .and_then(IncrementalStrategy::parse)
    }

    pub fn pre_hooks(&self) -> Vec<String> {
        hooks(self.get("pre_hook"))
    }

    pub fn post_hooks(&self) -> Vec<String> {
        hooks(self.get("post_hook"))
    }

    pub fn full_refresh(&self) -> Option<bool> {
        self.get("full_refresh").and_then(Value::as_bool)
    }
}

/// Hooks are strings, or `{sql: ...}` objects as dbt allows.
fn hooks(value: Option<&Value>) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().flat_map(|v| hooks(Some(v))).collect(),
        Some(Value::Object(map)) => map
            .get("sql")
            .and_then(Value::as_str)
            .map(str::to_string)
            .into_iter()
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => vec![other.to_string()],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_levels_win_and_tags_accumulate() {
        let mut base = json!({"materialized": "view", "tags": ["a"], "meta": {"x": 1}})
            .as_object()
            .unwrap()
            .clone();
        let overlay = json!({"materialized": "table", "tags": "b", "meta": {"y": 2}});
        merge_into(&mut base, overlay.as_object().unwrap());
        let config = NodeConfig(base);
        assert_eq!(config.materialized(), Materialized::Table);
        assert_eq!(config.tags(), ["a", "b"]);
        assert_eq!(config.get("meta"), Some(&json!({"x": 1, "y": 2})));
    }

    #[test]
    fn unique_key_accepts_list_or_comma_string() {
        let config = NodeConfig(json!({"unique_key": "a, b"}).as_object().unwrap().clone());
        assert_eq!(config.unique_key(), ["a", "b"]);
        let config = NodeConfig(
            json!({"unique_key": ["a", "b"]})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(config.unique_key(), ["a", "b"]);
    }
}
