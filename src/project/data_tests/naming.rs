//! dbt's names for generic tests, and the hashes in test names and ids.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// dbt's name for a generic test: the test, the tested node, then every
/// argument's values (arguments sorted by name) joined by `__`, with
/// anything but letters, digits and `_` replaced; a hash keeps long names
/// under 64 characters.
pub fn generic_test_name(
    test: &str,
    target: &str,
    column: Option<&str>,
    args: &Map<String, Value>,
) -> String {
    static UNSAFE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("[^0-9a-zA-Z_]+").expect("valid regex"));
    let mut sorted: BTreeMap<&str, Value> =
        args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    if let Some(column) = column {
        sorted.insert("column_name", Value::from(column));
    }
    let mut flat = Vec::new();
    for value in sorted.values() {
        match value {
            Value::Object(map) => flat.extend(map.values().map(python_str)),
            Value::Array(items) => flat.extend(items.iter().map(python_str)),
            other => flat.push(python_str(other)),
        }
    }
    let clean: Vec<String> = flat
        .iter()
        .map(|part| UNSAFE.replace_all(part, "_").into_owned())
        .collect();
    let identifier = format!("{test}_{target}");
    let full = if clean.is_empty() {
        identifier.clone()
    } else {
        format!("{identifier}_{}", clean.join("__"))
    };
    if full.len() < 64 {
        return full;
    }
    let hash = hex(&Sha256::digest(full.as_bytes()));
    let short: String = identifier.chars().take(30).collect();
    format!("{short}_{}", &hash[..32])
}

/// The hash in a generic test's unique id: the first 10 hex digits of the
/// sha256 of its name, the tested node's id and the declaring file, so a
/// test keeps its id while none of them changes.
pub(super) fn test_id_hash(name: &str, tested_id: &str, yaml_path: &str) -> String {
    let digest = Sha256::digest(format!("{name}\n{tested_id}\n{yaml_path}"));
    hex(&digest)[..10].to_owned()
}

/// Bytes as lower-case hexadecimal, the form of every hash sb writes (test
/// ids and names here, checksums and invocation ids in the artifacts).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_dbt() {
        let none = Map::new();
        assert_eq!(
            generic_test_name("not_null", "orders", Some("order_id"), &none),
            "not_null_orders_order_id"
        );
        let args = json!({"values": ["placed", "shipped"]});
        assert_eq!(
            generic_test_name(
                "accepted_values",
                "orders",
                Some("status"),
                args.as_object().unwrap()
            ),
            "accepted_values_orders_status__placed__shipped"
        );
        let args = json!({"to": "ref('customers')", "field": "id"});
        assert_eq!(
            generic_test_name(
                "relationships",
                "orders",
                Some("customer_id"),
                args.as_object().unwrap()
            ),
            "relationships_orders_customer_id__id__ref_customers_"
        );
        let long =
            json!({"values": ["a_very_long_value_number_one", "and_another_long_value_two"]});
        let name = generic_test_name(
            "accepted_values",
            "orders",
            Some("status"),
            long.as_object().unwrap(),
        );
        assert!(
            name.len() < 64 && name.starts_with("accepted_values_orders_"),
            "{name}"
        );
    }
}
