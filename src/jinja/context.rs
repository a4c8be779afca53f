//! The rest of dbt's Jinja context that projects and packages call: `zip`,
//! `tojson`/`fromjson`, `toyaml`/`fromyaml`, `set`, `local_md5`,
//! `invocation_id`, `run_started_at`, `flags`, `builtins`, and `modules`
//! (`datetime`, `pytz`, `re`, `itertools`; see `pymodules`).

use std::fmt::Write;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Kwargs, Object, Value, from_args};
use minijinja::{Environment, Error, ErrorKind, State};
use sha2::Digest;

use super::mutable::MutableList;
use super::pymodules;

/// When this sb process started, for `run_started_at`.
static STARTED: LazyLock<chrono::DateTime<chrono::Utc>> = LazyLock::new(chrono::Utc::now);

/// A stable id for this invocation (the process).
static INVOCATION_ID: LazyLock<String> = LazyLock::new(|| {
    let seed = format!("{}-{}", STARTED.to_rfc3339(), std::process::id());
    let hash = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
});

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `zip(a, b, ...)`: tuples of the items at the same position.
fn zip_fn(args: &[Value]) -> Result<Value, Error> {
    let lists: Vec<Vec<Value>> = args
        .iter()
        .map(|a| a.try_iter().map(Iterator::collect))
        .collect::<Result<_, _>>()?;
    let len = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..len)
            .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// `tojson(value, sort_keys=false)`.
#[allow(clippy::needless_pass_by_value)] // minijinja hands keyword arguments by value
fn tojson_fn(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let sort: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut json = serde_json::to_value(value).map_err(|e| invalid(format!("tojson: {e}")))?;
    if sort.unwrap_or(false) {
        json.sort_all_objects();
    }
    let mut out = String::new();
    python_json(&json, &mut out);
    Ok(Value::from(out))
}

/// JSON as Python's `json.dumps` writes it: `", "` and `": "` between items.
fn python_json(json: &serde_json::Value, out: &mut String) {
    match json {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                out.push_str(": ");
                python_json(value, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `fromjson(text, default)`.
fn fromjson_fn(text: &str, default: Option<Value>) -> Result<Value, Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Ok(super::to_value(&json)),
        Err(error) => default.ok_or_else(|| invalid(format!("fromjson: {error}"))),
    }
}

/// `toyaml(value)`.
fn toyaml_fn(value: &Value) -> Result<Value, Error> {
    yaml_serde::to_string(value)
        .map(Value::from)
        .map_err(|e| invalid(format!("toyaml: {e}")))
}

/// `fromyaml(text, default)`.
fn fromyaml_fn(text: &str, default: Option<Value>) -> Result<Value, Error> {
    match yaml_serde::from_str::<serde_json::Value>(text) {
        Ok(json) => Ok(super::to_value(&json)),
        Err(error) => default.ok_or_else(|| invalid(format!("fromyaml: {error}"))),
    }
}

/// `set(items)`: the distinct items, sorted, so two sets of the same items
/// compare equal whatever order they were given in (a Python set has no
/// order of its own).
fn set_fn(items: Option<Value>) -> Result<Value, Error> {
    let mut seen: Vec<Value> = Vec::new();
    if let Some(items) = items {
        for item in items.try_iter()? {
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
    }
    seen.sort();
    Ok(MutableList::value(seen))
}

/// `local_md5(text)`: the hex MD5 digest, as dbt computes it locally.
fn local_md5_fn(text: &str) -> String {
    crate::project::data_tests::md5_hex(text.as_bytes())
}

/// `builtins`: dbt's own `ref`, `source` and `config`, reachable even
/// when a project overrides them with macros.
#[derive(Debug)]
struct Builtins;

impl Object for Builtins {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "ref" | "source" | "config" => Some(Value::from_object(BuiltinFunction(
                key.as_str()?.to_string(),
            ))),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        BuiltinFunction(method.to_string()).call_with(state, args)
    }
}

#[derive(Debug)]
struct BuiltinFunction(String);

impl BuiltinFunction {
    fn call_with(&self, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let function = state
            .env()
            .globals()
            .find(|(name, _)| *name == self.0)
            .map(|(_, value)| value)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownFunction,
                    format!("builtins has no `{}`", self.0),
                )
            })?;
        function.call(state, args)
    }
}

impl Object for BuiltinFunction {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        self.call_with(state, args)
    }
}

/// `flags`: the command line as dbt exposes it. sb does not hand its flags
/// to templates yet, so these are dbt's defaults.
fn flags_value() -> Value {
    crate::jinja::map_value([
        ("FULL_REFRESH", Value::from(false)),
        ("STORE_FAILURES", Value::from(false)),
        ("WHICH", Value::from("run")),
        ("USE_COLORS", Value::from(true)),
        ("FAIL_FAST", Value::from(false)),
        ("DEBUG", Value::from(false)),
        ("LOG_FORMAT", Value::from("text")),
        ("EMPTY", Value::from(false)),
    ])
}

/// Adds the functions and values of this module to `env`.
pub fn add_to(env: &mut Environment<'static>) {
    env.add_function("zip", |args: minijinja::value::Rest<Value>| zip_fn(&args));
    env.add_function("tojson", tojson_fn);
    env.add_function("fromjson", |text: String, default: Option<Value>| {
        fromjson_fn(&text, default)
    });
    env.add_function("toyaml", |value: Value| toyaml_fn(&value));
    env.add_function("fromyaml", |text: String, default: Option<Value>| {
        fromyaml_fn(&text, default)
    });
    env.add_function("set", set_fn);
    env.add_function("local_md5", |text: String| local_md5_fn(&text));
    env.add_function("print", |args: &[Value]| -> Result<Value, Error> {
        let (values,): (&[Value],) = from_args(args)?;
        let text: Vec<String> = values.iter().map(ToString::to_string).collect();
        super::scope::log(text.join(" "));
        Ok(Value::from(""))
    });
    env.add_global("invocation_id", Value::from(INVOCATION_ID.as_str()));
    env.add_global(
        "run_started_at",
        pymodules::datetime_value(STARTED.naive_utc(), true),
    );
    env.add_global("flags", flags_value());
    env.add_global("builtins", Value::from_object(Builtins));
    env.add_global("modules", pymodules::modules_value());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        let mut env = Environment::new();
        add_to(&mut env);
        env.add_function("ref", |name: String| format!("ref:{name}"));
        env.set_unknown_method_callback(super::super::mutable::unknown_method);
        env.render_str(template, ()).expect("renders")
    }

    #[test]
    fn md5_matches_known_digests() {
        assert_eq!(local_md5_fn(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            local_md5_fn("The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    #[test]
    fn helpers_behave_as_in_dbt() {
        assert_eq!(
            render("{% for a, b in zip([1, 2, 3], ['x', 'y']) %}{{ a }}{{ b }} {% endfor %}"),
            "1x 2y "
        );
        assert_eq!(
            render("{{ tojson({'b': 1, 'a': [true]}) }}"),
            "{\"b\": 1, \"a\": [true]}"
        );
        assert_eq!(render("{{ fromjson('{\"a\": [1, 2]}').a[1] }}"), "2");
        assert_eq!(render("{{ fromyaml('a: [x, y]').a | join('-') }}"), "x-y");
        assert_eq!(render("{{ toyaml({'a': 1}) | trim }}"), "a: 1");
        assert_eq!(render("{{ set([1, 2, 1, 3]) | list }}"), "[1, 2, 3]");
        assert_eq!(render("{{ builtins.ref('orders') }}"), "ref:orders");
        assert_eq!(
            render("{{ flags.FULL_REFRESH }} {{ invocation_id | length }}"),
            "False 36"
        );
    }
}
