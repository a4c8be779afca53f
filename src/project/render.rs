//! The small Jinja renderer for `project.yml` strings (`schema: "{{
//! env_var('SCHEMA', 'dev') }}"`): its own minijinja environment with only
//! `env_var` and `var` in scope, so the project is read before, and without,
//! the environment that renders models.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use super::env::EnvVars;

/// Instructions one render may execute before sb stops it (the same bound
/// as for model templates).
const FUEL: u64 = 50_000_000;

/// A `project.yml` string that does not render; shown as minijinja's
/// detail (an unset variable, a syntax error), which follows "cannot render
/// `<key>` in project.yml: " in the error.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.detail().unwrap_or("cannot render"))]
pub struct RenderError(#[source] Error);

/// The small environment that renders `project.yml` strings: only
/// `env_var` and `var` are in scope.
pub fn render_project_string(
    text: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
    env: &EnvVars,
) -> Result<String, RenderError> {
    let variables = env.clone();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.add_function(
        "env_var",
        move |name: String, default: Option<Value>| match (variables.get(&name), default) {
            (Some(value), _) => Ok(Value::from(value)),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set"),
            )),
        },
    );
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
    env.render_str(text, ()).map_err(RenderError)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_vars_and_defaults_and_names_what_is_missing() {
        let vars = serde_json::json!({"schema": "analytics"});
        let vars = vars.as_object().unwrap();
        assert_eq!(
            render_project_string(
                "{{ var('schema') }}_{{ env_var('SB_UNSET_FOR_TEST', 'dev') }}",
                vars,
                &EnvVars::default()
            )
            .unwrap(),
            "analytics_dev"
        );
        let missing =
            render_project_string("{{ var('nope') }}", vars, &EnvVars::default()).unwrap_err();
        assert_eq!(missing.to_string(), "var `nope` is not set");
        let missing = render_project_string(
            "{{ env_var('SB_UNSET_FOR_TEST') }}",
            vars,
            &EnvVars::default(),
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable `SB_UNSET_FOR_TEST` is not set"
        );
    }
}
