//! The checks of generic tests that need the test macros' signatures: the
//! test exists, required arguments are given, no argument is unknown, the
//! built-in tests' arguments have the right shape; and every test's config
//! (severity, thresholds, limit) is readable.

use std::collections::BTreeMap;

use serde_json::Value;

use super::GenericTest;
use super::locate::locate_word;
use super::thresholds::{TestThresholds, plain};
use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, did_you_mean};
use crate::project::{Project, SourceFile, slash};
use crate::resource::ResourceType;
use crate::scan::{self, BlockKind};

/// A parameter of a `{% test %}` macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub required: bool,
}

/// What a generic test macro takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestSignature {
    pub params: Vec<Param>,
    /// The macro reads `kwargs`, so it takes arguments it does not declare.
    pub takes_any: bool,
}

/// The generic tests the given files define, by test name: `{% test
/// name(params) %}` blocks, and dbt's older form, `{% macro
/// test_name(params) %}`.
pub fn test_signatures<'a>(
    files: impl IntoIterator<Item = &'a SourceFile>,
) -> BTreeMap<String, TestSignature> {
    let mut out = BTreeMap::new();
    for file in files {
        for signature in scan::block_signatures(&file.text) {
            let header = &signature.header;
            let test_name = match header.kind {
                BlockKind::Test => header.name.text,
                BlockKind::Macro => match header.name.text.strip_prefix("test_") {
                    Some(name) if !name.is_empty() => name,
                    _ => continue,
                },
            };
            // A package's tests are named `package.test` in YAML.
            let name = match &file.package {
                Some(package) => format!("{package}.{test_name}"),
                None => test_name.to_string(),
            };
            let signature = TestSignature {
                params: parse_params(signature.params.text),
                takes_any: signature.body_reads("kwargs"),
            };
            // A `{% test %}` block wins over a macro of the same name.
            if header.kind == BlockKind::Test || !out.contains_key(&name) {
                out.insert(name, signature);
            }
        }
    }
    out
}

fn parse_params(text: &str) -> Vec<Param> {
    let mut params = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(',')) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth <= 0 {
            let item = current.trim();
            if !item.is_empty() {
                let (name, required) = match item.split_once('=') {
                    Some((name, _)) => (name.trim(), false),
                    None => (item, true),
                };
                params.push(Param {
                    name: name.to_string(),
                    required,
                });
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    params
}

/// Checks every enabled generic test against the test macros' signatures:
/// the test exists, required arguments are given, no argument is unknown;
/// and every test's config (severity, thresholds, limit) is readable.
pub fn check(project: &Project, signatures: &BTreeMap<String, TestSignature>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for node in &project.nodes {
        if node.resource_type != ResourceType::Test || !node.config.enabled() {
            continue;
        }
        if let Err((key, message)) = TestThresholds::from_config(&node.config) {
            let location = match &node.generic_test {
                Some(test) => {
                    let file = project
                        .schema_files
                        .iter()
                        .find(|f| slash(&f.path) == node.original_file_path);
                    file.map_or_else(
                        || test.location.clone(),
                        |f| locate_word(&f.path, &f.source, &key, test.location.line),
                    )
                }
                None => locate_word(node.file_path(), &node.raw_code, &key, 1),
            };
            errors.push(
                Diagnostic::error(format!("invalid config of test `{}`: {message}", node.name))
                    .at(location)
                    .help("severity takes error or warn; warn_if and error_if take a comparison such as \">10\"; limit a number"),
            );
        }
        let Some(test) = &node.generic_test else {
            continue;
        };
        let Some(signature) = signatures.get(&test.test_name) else {
            let close = closest_names(&test.test_name, signatures.keys().map(String::as_str), 3);
            errors.push(
                Diagnostic::error(format!("unknown test `{}`", test.test_name))
                    .at(test.location.clone())
                    .help(did_you_mean(&close).unwrap_or_else(|| {
                        format!(
                            "use a built-in test (not_null, unique, accepted_values, relationships, ...) or define `{{% test {}(model, column_name) %}}` in macros/ or tests/generic/",
                            test.test_name
                        )
                    })),
            );
            continue;
        };
        let before = errors.len();
        let params = &signature.params;
        for param in params {
            let given = match param.name.as_str() {
                "model" => true,
                "column_name" => test.column.is_some(),
                name => test.args.contains_key(name),
            };
            if param.required && !given {
                let (message, help) = if param.name == "column_name" {
                    (
                        format!("test `{}` needs a column", test.test_name),
                        "declare it under a column's `tests:`, or give `column_name:`".to_string(),
                    )
                } else {
                    (
                        format!(
                            "test `{}` is missing its required argument `{}`",
                            test.test_name, param.name
                        ),
                        format!(
                            "add `{}: ...` under the test, e.g. `- {}: {{{}: ...}}`",
                            param.name, test.test_name, param.name
                        ),
                    )
                };
                errors.push(
                    Diagnostic::error(message)
                        .at(test.location.clone())
                        .help(help),
                );
            }
        }
        for key in test.args.keys() {
            if !signature.takes_any && !params.iter().any(|p| &p.name == key) {
                let close = closest_names(
                    key,
                    params
                        .iter()
                        .map(|p| p.name.as_str())
                        .filter(|n| *n != "model" && *n != "column_name"),
                    2,
                );
                let file = project
                    .schema_files
                    .iter()
                    .find(|f| slash(&f.path) == node.original_file_path);
                let location = file.map_or_else(
                    || test.location.clone(),
                    |f| locate_word(&f.path, &f.source, key, test.location.line),
                );
                errors.push(
                    Diagnostic::error(format!("test `{}` has no argument `{key}`", test.test_name))
                        .at(location)
                        .help(did_you_mean(&close).unwrap_or_else(|| {
                            format!(
                                "its arguments are: {}",
                                params
                                    .iter()
                                    .map(|p| p.name.as_str())
                                    .filter(|n| *n != "model" && *n != "column_name")
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })),
                );
            }
        }
        if errors.len() > before {
            continue;
        }
        if let Err(message) = check_builtin_args(test) {
            errors.push(
                Diagnostic::error(format!(
                    "test `{}` on `{}`: {message}",
                    test.test_name, project.nodes[test.attached].name
                ))
                .at(test.location.clone())
                .help("see SPEC \"Schema YAML and tests\" for the arguments of each built-in test"),
            );
        }
    }
    errors
}

/// Why a built-in test's arguments have the wrong shape; the text follows
/// "test `<test>` on `<node>`: " in the error.
#[derive(Debug, PartialEq, thiserror::Error)]
enum BuiltinArgError {
    #[error("`values` must be a non-empty list")]
    Values,
    #[error("give `min_value`, `max_value` or both")]
    RangeBounds,
    #[error("give `min`, `max` or both")]
    RowCountBounds,
    #[error("`{key}` must be a number, got `{got}`")]
    NotANumber { key: &'static str, got: String },
    #[error("`expected` must map each value to its expected share, e.g. {{US: 0.5, DE: 0.5}}")]
    ExpectedShares,
    #[error("`expected` lists no values")]
    NoExpectedValues,
    #[error("the share of `{value}` must be a number between 0 and 1, got `{got}`")]
    Share { value: String, got: String },
    #[error("`tolerance` must be a number of at least 0, got `{got}`")]
    Tolerance { got: String },
    #[error("`columns` must be a non-empty list of column names")]
    Columns,
}

/// Checks that the built-in tests' arguments have the right shape.
fn check_builtin_args(test: &GenericTest) -> Result<(), BuiltinArgError> {
    let arg = |name: &str| test.args.get(name).filter(|v| !v.is_null());
    match test.test_name.as_str() {
        "accepted_values" => match arg("values") {
            Some(Value::Array(items)) if !items.is_empty() => Ok(()),
            _ => Err(BuiltinArgError::Values),
        },
        "accepted_range" if arg("min_value").is_none() && arg("max_value").is_none() => {
            Err(BuiltinArgError::RangeBounds)
        }
        "row_count" => {
            if arg("min").is_none() && arg("max").is_none() {
                return Err(BuiltinArgError::RowCountBounds);
            }
            for key in ["min", "max"] {
                if let Some(value) = arg(key)
                    && !value.is_number()
                {
                    return Err(BuiltinArgError::NotANumber {
                        key,
                        got: plain(value),
                    });
                }
            }
            Ok(())
        }
        "distribution" => {
            let Some(Value::Object(expected)) = arg("expected") else {
                return Err(BuiltinArgError::ExpectedShares);
            };
            if expected.is_empty() {
                return Err(BuiltinArgError::NoExpectedValues);
            }
            for (value, share) in expected {
                if !share.as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)) {
                    return Err(BuiltinArgError::Share {
                        value: value.clone(),
                        got: plain(share),
                    });
                }
            }
            if let Some(tolerance) = arg("tolerance")
                && !tolerance.as_f64().is_some_and(|t| t >= 0.0)
            {
                return Err(BuiltinArgError::Tolerance {
                    got: plain(tolerance),
                });
            }
            Ok(())
        }
        "unique_combination" => match arg("columns") {
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_string) =>
            {
                Ok(())
            }
            _ => Err(BuiltinArgError::Columns),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::diag::Location;
    use serde_json::json;

    #[test]
    fn signatures_mark_required_params() {
        let file = SourceFile {
            path: "macros/t.sql".into(),
            text: "{% test in_set(model, column_name, values, quote=true, pairs={'a': [1, 2]}) %}x{% endtest %}".into(),
            package: None,
        };
        let found = test_signatures([&file]);
        let params = &found["in_set"].params;
        let required: Vec<(&str, bool)> = params
            .iter()
            .map(|p| (p.name.as_str(), p.required))
            .collect();
        assert_eq!(
            required,
            [
                ("model", true),
                ("column_name", true),
                ("values", true),
                ("quote", false),
                ("pairs", false)
            ]
        );
    }

    #[test]
    fn test_macros_of_the_older_form_are_tests_and_may_take_any_argument() {
        let file = SourceFile {
            path: "macros/p.sql".into(),
            text: "{% macro test_not_null_share(model, group_by=[]) %}{{ kwargs.get('at_least') }}{% endmacro %}\n\
                   {% macro test_(model) %}{% endmacro %}{% macro helper(model) %}{% endmacro %}\n\
                   {% test strict(model) %}x{% endtest %}"
                .into(),
            package: Some("pkg".into()),
        };
        let found = test_signatures([&file]);
        assert_eq!(
            found.keys().collect::<Vec<_>>(),
            ["pkg.not_null_share", "pkg.strict"]
        );
        assert!(found["pkg.not_null_share"].takes_any);
        assert!(!found["pkg.strict"].takes_any);
        assert_eq!(found["pkg.not_null_share"].params[1].name, "group_by");
    }

    #[test]
    fn builtin_argument_errors_keep_their_texts() {
        let with = |test_name: &str, args: Value| GenericTest {
            test_name: test_name.to_string(),
            attached: crate::resource::NodeId::new(0),
            column: None,
            args: args.as_object().unwrap().clone(),
            location: Location::file_only(std::path::Path::new("models/schema.yml")),
            column_location: None,
        };
        let message = |test: GenericTest| check_builtin_args(&test).unwrap_err().to_string();
        assert_eq!(
            message(with("accepted_values", json!({"values": []}))),
            "`values` must be a non-empty list"
        );
        assert_eq!(
            message(with("row_count", json!({"min": "ten"}))),
            "`min` must be a number, got `ten`"
        );
        assert_eq!(
            message(with("distribution", json!({}))),
            "`expected` must map each value to its expected share, e.g. {US: 0.5, DE: 0.5}"
        );
        assert_eq!(
            message(with("distribution", json!({"expected": {"US": 2}}))),
            "the share of `US` must be a number between 0 and 1, got `2`"
        );
        assert_eq!(
            message(with(
                "distribution",
                json!({"expected": {"US": 1.0}, "tolerance": -1})
            )),
            "`tolerance` must be a number of at least 0, got `-1`"
        );
        assert!(check_builtin_args(&with("accepted_range", json!({"min_value": 1}))).is_ok());
    }
}
