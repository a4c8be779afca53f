//! The SQL of dbt's four core generic tests (`not_null`, `unique`,
//! `accepted_values`, `relationships`) written in Rust, for projects that
//! override none of their macros. A test render through minijinja costs an
//! import, three macro calls and a dispatch; these give the same text, byte
//! for byte, as `adapter/macros/generic_tests.sql` (checked by the tests
//! below), without them. Anything unusual (a non-string column, a `where`
//! that is not a string, values of other types) returns `None` and the test
//! renders through Jinja as before. The tests' names and the string-literal
//! spelling come from [`crate::adapter::macros`], which the batched test
//! query shares.

use minijinja::value::Value;

use crate::adapter::AdapterKind;
use crate::adapter::macros::{GenericTestKind, string_literal};

/// The tests rendered here, by macro name.
pub const NATIVE_TESTS: [&str; 4] = [
    GenericTestKind::NotNull.macro_name(),
    GenericTestKind::Unique.macro_name(),
    GenericTestKind::AcceptedValues.macro_name(),
    GenericTestKind::Relationships.macro_name(),
];

/// The macros each native test stands for, besides `test_<name>` and
/// `default__test_<name>`: a project defining any of these (or an
/// adapter-specific `<adapter>__test_<name>`) renders through Jinja.
pub const HELPERS: &[&str] = &[
    "get_where_subquery",
    "sb_string_literal",
    "default__sb_string_literal",
    "bigquery__sb_string_literal",
];

/// The query of test `macro_name` on `model` (the tested relation) with
/// keyword `args`; `where_config` is the test's `where` config; `kind`
/// picks the string literal escaping.
pub fn render(
    macro_name: &str,
    model: &Value,
    args: &Value,
    where_config: Option<&Value>,
    kind: AdapterKind,
) -> Option<String> {
    let model = where_subquery(model, where_config)?;
    let arg = |name: &str| args.get_attr(name).ok().filter(|v| !v.is_undefined());
    let column = arg("column_name")?;
    let column = column.as_str()?;
    match GenericTestKind::of_macro(macro_name)? {
        GenericTestKind::NotNull => Some(format!("select *\nfrom {model}\nwhere {column} is null")),
        GenericTestKind::Unique => Some(format!(
            "select {column} as unique_field, count(*) as n_records\nfrom {model}\nwhere {column} is not null\ngroup by {column}\nhaving count(*) > 1"
        )),
        GenericTestKind::AcceptedValues => {
            let values = arg("values")?;
            let quote = match arg("quote") {
                None => true,
                Some(quote) => quote.is_true(),
            };
            let mut list = Vec::new();
            for value in values.try_iter().ok()? {
                if !(value.as_str().is_some() || value.is_number()) {
                    return None;
                }
                list.push(if quote {
                    string_literal(&value.to_string(), kind)
                } else {
                    value.to_string()
                });
            }
            Some(format!(
                "with all_values as (\n    select {column} as value_field, count(*) as n_records\n    from {model}\n    group by {column}\n)\nselect *\nfrom all_values\nwhere value_field not in ({})",
                list.join(", ")
            ))
        }
        GenericTestKind::Relationships => {
            let to = arg("to")?;
            let field = arg("field")?;
            let field = field.as_str()?;
            Some(format!(
                "with child as (\n    select {column} as from_field\n    from {model}\n    where {column} is not null\n),\nparent as (\n    select {field} as to_field\n    from {to}\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null"
            ))
        }
        _ => None,
    }
}

/// `get_where_subquery`: the relation, or a subquery of it filtered by the
/// test's `where` config.
fn where_subquery(relation: &Value, where_config: Option<&Value>) -> Option<String> {
    match where_config {
        None => Some(relation.to_string()),
        Some(value) if value.is_none() || value.is_undefined() => Some(relation.to_string()),
        Some(value) => {
            let text = value.as_str()?;
            Some(if text.is_empty() {
                relation.to_string()
            } else {
                format!("(select * from {relation} where {text}) as dbt_subquery")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use minijinja::value::{Object, Value};
    use minijinja::{Environment, Error, State};

    use super::*;
    use crate::jinja::objects::AdapterObject;

    /// `config.get('where')` answering with a fixed value.
    #[derive(Debug)]
    struct WhereConfig(Value);

    impl Object for WhereConfig {
        fn call_method(
            self: &Arc<Self>,
            _state: &mut State<'_, '_>,
            _method: &str,
            args: &[Value],
        ) -> Result<Value, Error> {
            Ok(if self.0.is_none() {
                args.get(1).cloned().unwrap_or(Value::from(()))
            } else {
                self.0.clone()
            })
        }
    }

    /// The test's SQL as sb's Jinja macros write it.
    fn through_jinja(
        kind: AdapterKind,
        macro_name: &str,
        args: &Value,
        where_config: &Value,
    ) -> String {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let macros =
            crate::jinja::rewrite_test_blocks(include_str!("../adapter/macros/generic_tests.sql"));
        // `get_where_subquery` returns its relation, as sb's modules let it.
        env.add_function("return", crate::jinja::returns::return_fn);
        env.add_function(
            crate::jinja::returns::WRAP_FUNCTION,
            crate::jinja::returns::wrap_fn,
        );
        let macros = format!(
            "{macros}\n{}",
            crate::jinja::returns::wrap_statements(std::iter::once("get_where_subquery"))
        );
        env.add_template_owned("macros", macros)
            .expect("macros compile");
        env.add_global("adapter", Value::from_object(AdapterObject::new(kind)));
        env.add_global(
            "config",
            Value::from_object(WhereConfig(where_config.clone())),
        );
        let source = format!(
            "{{% from 'macros' import {macro_name}, get_where_subquery %}}{{{{ {macro_name}(model=get_where_subquery(relation), **args) }}}}"
        );
        env.render_str(
            &source,
            minijinja::context! { relation => RELATION, args => args.clone() },
        )
        .expect("renders")
    }

    const RELATION: &str = "\"main\".\"orders\"";

    fn args(pairs: &[(&str, Value)]) -> Value {
        Value::from(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn native_sql_is_the_macros_sql_byte_for_byte() {
        let column = ("column_name", Value::from("status"));
        let cases = [
            ("test_not_null", args(std::slice::from_ref(&column))),
            ("test_unique", args(std::slice::from_ref(&column))),
            (
                "test_accepted_values",
                args(&[
                    column.clone(),
                    ("values", Value::from(vec!["a", "it's", "back\\slash"])),
                ]),
            ),
            (
                "test_accepted_values",
                args(&[
                    column.clone(),
                    ("values", Value::from(vec![1, 2, 3])),
                    ("quote", Value::from(false)),
                ]),
            ),
            (
                "test_accepted_values",
                args(&[
                    column.clone(),
                    ("values", Value::from(vec![7])),
                    ("quote", Value::from(true)),
                ]),
            ),
            (
                "test_relationships",
                args(&[
                    column.clone(),
                    ("to", Value::from("\"main\".\"customers\"")),
                    ("field", Value::from("id")),
                ]),
            ),
        ];
        let wheres = [Value::from(()), Value::from("amount > 0"), Value::from("")];
        for kind in [AdapterKind::Duckdb, AdapterKind::Bigquery] {
            for (macro_name, args) in &cases {
                for where_config in &wheres {
                    let native = render(
                        macro_name,
                        &Value::from(RELATION),
                        args,
                        Some(where_config),
                        kind,
                    )
                    .expect("handled natively");
                    let jinja = through_jinja(kind, macro_name, args, where_config);
                    assert_eq!(
                        native, jinja,
                        "{macro_name} {args} where={where_config} on {kind:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unusual_arguments_are_left_to_jinja() {
        let model = Value::from(RELATION);
        let numeric_column = args(&[("column_name", Value::from(3))]);
        assert_eq!(
            render(
                "test_not_null",
                &model,
                &numeric_column,
                None,
                AdapterKind::Duckdb
            ),
            None
        );
        let column = ("column_name", Value::from("c"));
        let nested = args(&[column.clone(), ("values", Value::from(vec![vec!["a"]]))]);
        assert_eq!(
            render(
                "test_accepted_values",
                &model,
                &nested,
                None,
                AdapterKind::Duckdb
            ),
            None
        );
        let where_number = Value::from(1);
        assert_eq!(
            render(
                "test_unique",
                &model,
                &args(&[column]),
                Some(&where_number),
                AdapterKind::Duckdb
            ),
            None
        );
    }
}
