//! The small Jinja renderer for `project.yml` strings (`schema: "{{
//! env_var('SCHEMA', 'dev') }}"`): its own minijinja environment with only
//! `env_var` and `var` in scope, so the project is read before, and without,
//! the environment that renders models.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// Instructions one render may execute before sb stops it (the same bound
/// as for model templates).
const FUEL: u64 = 50_000_000;

/// The small environment that renders `project.yml` strings: only
/// `env_var` and `var` are in scope.
pub fn render_project_string(
    text: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.add_function("env_var", |name: String, default: Option<Value>| {
        match (std::env::var(&name), default) {
            (Ok(value), _) => Ok(Value::from(value)),
            (Err(_), Some(default)) => Ok(default),
            (Err(_), None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set"),
            )),
        }
    });
    let vars = vars.clone();
    env.add_function("var", move |name: String, default: Option<Value>| {
        match (vars.get(&name), default) {
            (Some(value), _) => Ok(Value::from(minijinja::value::Serde(value))),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("var `{name}` is not set"),
            )),
        }
    });
    env.render_str(text, ())
        .map_err(|error| error.detail().unwrap_or("cannot render").to_string())
}
