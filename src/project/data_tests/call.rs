//! A generic test's code: the call of its `test_<name>` macro with the
//! tested model and the YAML arguments written as Jinja.

use serde_json::{Map, Value};

use crate::scan;

/// The code of a generic test node: `{{ test_<name>(model=..., column_name=..., <args>) }}`,
/// where `model_expr` is the `ref(...)`/`source(...)` of the tested node
/// and the arguments keep their YAML order.
pub(super) fn test_call(
    test_name: &str,
    model_expr: &str,
    column: Option<&str>,
    args: &Map<String, Value>,
) -> String {
    let mut call = format!("{{{{ test_{test_name}(model=get_where_subquery({model_expr})");
    if let Some(column) = column {
        call.push_str(", column_name=");
        call.push_str(&jinja_literal(&Value::from(column)));
    }
    for (key, value) in args {
        call.push_str(", ");
        call.push_str(key);
        call.push('=');
        call.push_str(&argument_code(key, value));
    }
    call.push_str(") }}");
    call
}

/// The Jinja code of an argument: `ref(...)`/`source(...)` strings are
/// calls (dbt's `to: ref('customers')`), everything else a literal.
fn argument_code(key: &str, value: &Value) -> String {
    match argument_call(key, value) {
        Some(_) => value.as_str().unwrap_or_default().trim().to_string(),
        None => jinja_literal(value),
    }
}

/// A `ref(...)`/`source(...)` argument as the function's name and its
/// string arguments, or `None` for a literal argument.
pub fn argument_call(key: &str, value: &Value) -> Option<(&'static str, Vec<String>)> {
    let text = value.as_str().filter(|_| key == "to")?;
    let call = scan::string_call(text)?;
    let names = call.args.iter().map(ToString::to_string).collect();
    Some((call.kind.as_str(), names))
}

/// A JSON value written as a Jinja literal.
pub fn jinja_literal(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(jinja_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    jinja_literal(&Value::from(k.clone())),
                    jinja_literal(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_are_jinja() {
        assert_eq!(
            jinja_literal(&json!({"a": [1, "it's", null, true]})),
            "{'a': [1, 'it\\'s', none, true]}"
        );
    }
}
