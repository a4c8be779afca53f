//! dbt's names for generic tests, and the hashes in test names and ids.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use sha2::Digest;

/// dbt's names for a generic test: its name is the test, the tested node,
/// then every argument's values (arguments sorted by name) joined by `__`,
/// with anything but letters, digits and `_` replaced; its file (and
/// relation) name is the same, or for a name of 64 characters or more, its
/// first 30 characters and the md5 of the whole.
pub fn generic_test_name(
    test: &str,
    target: &str,
    column: Option<&str>,
    args: &Map<String, Value>,
) -> (String, String) {
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
        return (full.clone(), full);
    }
    let hash = md5_hex(full.as_bytes());
    let short: String = identifier.chars().take(30).collect();
    (full, format!("{short}_{hash}"))
}

/// The hash in a generic test's unique id, as dbt computes it: the last
/// 10 hex digits of the md5 of its name followed by the Python `repr` of
/// its test metadata (`{'kwargs': ..., 'name': ..., 'namespace': ...}`,
/// keys sorted, every value as its `str`), so sb's ids are dbt's.
pub(super) fn test_id_hash(name: &str, test_name: &str, kwargs: &Map<String, Value>) -> String {
    let (namespace, short_name) = match test_name.split_once('.') {
        Some((namespace, short)) => (Value::from(namespace), short),
        None => (Value::Null, test_name),
    };
    let metadata = serde_json::json!({
        "kwargs": kwargs,
        "name": short_name,
        "namespace": namespace,
    });
    let digest = md5_hex(format!("{name}{}", python_repr(&metadata)).as_bytes());
    digest[digest.len() - 10..].to_owned()
}

/// The hex MD5 digest of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&md5::Md5::digest(bytes))
}

/// Python's `repr` of dbt's hashable form of `value`: dicts with sorted
/// keys, lists, and every other value as the string `str()` makes of it.
fn python_repr(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", python_str_repr(k), python_repr(&map[k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        other => python_str_repr(&python_str(other)),
    }
}

/// Python's `repr` of a string: single quotes, unless it holds a single
/// quote and no double quote.
fn python_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
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

    /// The id dbt-core 1.12 gives jaffle_shop's relationships test
    /// (`test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2`).
    #[test]
    fn test_id_hashes_are_dbts() {
        let kwargs = json!({
            "to": "ref('customers')",
            "field": "customer_id",
            "column_name": "customer_id",
            "model": "{{ get_where_subquery(ref('orders')) }}"
        });
        assert_eq!(
            test_id_hash(
                "relationships_orders_customer_id__customer_id__ref_customers_",
                "relationships",
                kwargs.as_object().unwrap()
            ),
            "c6ec7f58f2"
        );
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a'b\"c"), "'a\\'b\"c'");
    }

    #[test]
    fn names_follow_dbt() {
        let none = Map::new();
        assert_eq!(
            generic_test_name("not_null", "orders", Some("order_id"), &none).0,
            "not_null_orders_order_id"
        );
        let args = json!({"values": ["placed", "shipped"]});
        assert_eq!(
            generic_test_name(
                "accepted_values",
                "orders",
                Some("status"),
                args.as_object().unwrap()
            )
            .0,
            "accepted_values_orders_status__placed__shipped"
        );
        let args = json!({"to": "ref('customers')", "field": "id"});
        assert_eq!(
            generic_test_name(
                "relationships",
                "orders",
                Some("customer_id"),
                args.as_object().unwrap()
            )
            .0,
            "relationships_orders_customer_id__id__ref_customers_"
        );
        let long =
            json!({"values": ["a_very_long_value_number_one", "and_another_long_value_two"]});
        let (name, file_name) = generic_test_name(
            "accepted_values",
            "orders",
            Some("status"),
            long.as_object().unwrap(),
        );
        assert_eq!(
            name,
            "accepted_values_orders_status__a_very_long_value_number_one__and_another_long_value_two"
        );
        // dbt's file name: 30 characters and the md5 of the name.
        assert_eq!(
            file_name,
            format!("accepted_values_orders_{}", md5_hex(name.as_bytes()))
        );
    }
}
