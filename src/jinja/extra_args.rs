//! Jinja2's catch-all macro arguments, which minijinja lacks: a macro whose
//! body reads `kwargs` takes keyword arguments it does not declare (they
//! arrive in the `kwargs` dict), and one that reads `varargs` takes extra
//! positional arguments (in the `varargs` list). dbt packages lean on this,
//! e.g. dbt_utils' `test_not_null_proportion(model, group_by_columns=[])`
//! reads its `column_name` and `at_least` from `kwargs`.
//!
//! sb adds the two parameters to such a macro's header (on the same line,
//! so no line moves) and wraps the macro ([`super::returns`] wraps it
//! anyway); the wrapper sorts each call's arguments into declared ones and
//! extras.

use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind};

use crate::scan::{self, BlockKind};

const KWARGS: &str = "kwargs";
const VARARGS: &str = "varargs";

/// `text` with `kwargs={}` and `varargs=[]` added to the parameters of each
/// macro whose body reads them, and the names of those macros.
pub fn add_catch_all_params(text: &str) -> (String, Vec<String>) {
    let mut insertions = Vec::new();
    let mut names = Vec::new();
    for signature in scan::block_signatures(text) {
        if signature.header.kind != BlockKind::Macro {
            continue;
        }
        let params = &signature.params;
        let declared: Vec<&str> = scan::identifiers(params.text).collect();
        let mut added = Vec::new();
        for (name, default) in [(KWARGS, "{}"), (VARARGS, "[]")] {
            if !declared.contains(&name) && signature.body_reads(name) {
                added.push(format!("{name}={default}"));
            }
        }
        if added.is_empty() {
            continue;
        }
        let separator = if params.text.trim().is_empty() {
            ""
        } else {
            ", "
        };
        insertions.push((params.span.end, format!("{separator}{}", added.join(", "))));
        names.push(signature.header.name.text.to_string());
    }
    let mut out = text.to_string();
    for (at, insertion) in insertions.into_iter().rev() {
        out.insert_str(at, &insertion);
    }
    (out, names)
}

/// How a wrapped macro takes the arguments it does not declare.
#[derive(Debug, Clone, Default)]
pub struct CatchAll {
    /// The declared parameters, in order, without `kwargs` and `varargs`.
    params: Vec<String>,
    kwargs: bool,
    varargs: bool,
}

impl CatchAll {
    /// The catch-all of `inner` (a macro), if it has `kwargs` or `varargs`
    /// parameters.
    pub fn of(inner: &Value) -> Option<Self> {
        let arguments = inner.get_attr("arguments").ok()?;
        let mut spec = Self::default();
        for argument in arguments.try_iter().ok()? {
            match argument.as_str() {
                Some(KWARGS) => spec.kwargs = true,
                Some(VARARGS) => spec.varargs = true,
                Some(name) => spec.params.push(name.to_string()),
                None => spec.params.push(String::new()),
            }
        }
        (spec.kwargs || spec.varargs).then_some(spec)
    }

    /// `args` of a call, sorted: declared arguments as given, extra
    /// positional ones in `varargs`, extra keyword ones in `kwargs`.
    pub fn sort(&self, args: &[Value]) -> Result<Vec<Value>, Error> {
        let (positional, given) = match args.last() {
            Some(last) if !last.is_undefined() => match Kwargs::try_from(last.clone()) {
                Ok(kwargs) => (&args[..args.len() - 1], Some(kwargs)),
                Err(_) => (args, None),
            },
            _ => (args, None),
        };
        let declared = positional.len().min(self.params.len());
        let extra_positional = &positional[declared..];
        if !extra_positional.is_empty() && !self.varargs {
            return Err(Error::from(ErrorKind::TooManyArguments));
        }
        let mut named: Vec<(String, Value)> = Vec::new();
        let mut extra_named: Vec<(String, Value)> = Vec::new();
        if let Some(given) = &given {
            for key in given.args() {
                let value: Value = given.peek(key)?;
                let is_declared = self.params.iter().any(|p| p == key) || key == "caller";
                if is_declared {
                    named.push((key.to_string(), value));
                } else if self.kwargs {
                    extra_named.push((key.to_string(), value));
                } else {
                    return Err(Error::new(
                        ErrorKind::TooManyArguments,
                        format!("unknown keyword argument `{key}`"),
                    ));
                }
            }
        }
        if self.kwargs {
            named.push((KWARGS.to_string(), crate::jinja::map_value(extra_named)));
        }
        if self.varargs {
            named.push((VARARGS.to_string(), Value::from(extra_positional.to_vec())));
        }
        let mut sorted = positional[..declared].to_vec();
        sorted.push(Value::from(Kwargs::from_iter(named)));
        Ok(sorted)
    }
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    use super::*;
    use crate::jinja::returns;

    fn render(macros: &str, template: &str) -> Result<String, Error> {
        let (rewritten, names) = add_catch_all_params(macros);
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("return", returns::return_fn);
        env.add_function(returns::WRAP_FUNCTION, returns::wrap_fn);
        let source = format!(
            "{rewritten}\n{}",
            returns::wrap_statements(names.iter().map(String::as_str))
        );
        env.add_template_owned("m", source)?;
        env.render_str(template, ())
    }

    #[test]
    fn only_macros_that_read_kwargs_or_varargs_get_the_parameters() {
        let (text, names) = add_catch_all_params(
            "{% macro a(x) %}{{ kwargs.get('y') }}{% endmacro %}\n\
             {% macro b() %}{{ varargs | length }}{% endmacro %}\n\
             {% macro c(kwargs) %}{{ kwargs }}{% endmacro %}\n\
             {% macro d(x) %}{{ x }}{% endmacro %}",
        );
        assert_eq!(
            text,
            "{% macro a(x, kwargs={}) %}{{ kwargs.get('y') }}{% endmacro %}\n\
             {% macro b(varargs=[]) %}{{ varargs | length }}{% endmacro %}\n\
             {% macro c(kwargs) %}{{ kwargs }}{% endmacro %}\n\
             {% macro d(x) %}{{ x }}{% endmacro %}"
        );
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn extra_keyword_arguments_arrive_in_kwargs_and_pass_on_with_a_splat() {
        let rendered = render(
            "{% macro outer(model, by=[]) %}{{ inner(model, by, **kwargs) }}{% endmacro %}\
             {% macro inner(model, by) %}{{ model }}:{{ by | length }}:{{ kwargs.get('column_name') }}:{{ kwargs.get('at_least', 0) }}{% endmacro %}",
            "{% from 'm' import outer %}{{ outer('t', column_name='c') }}|{{ outer(model='u', by=[1], at_least=0.9, column_name='d') }}",
        )
        .expect("renders");
        assert_eq!(rendered, "t:0:c:0|u:1:d:0.9");
    }

    #[test]
    fn extra_positional_arguments_arrive_in_varargs() {
        let rendered = render(
            "{% macro cols(first) %}{{ first }}+{{ varargs | join(',') }}{% endmacro %}",
            "{% from 'm' import cols %}{{ cols('a', 'b', 'c') }}|{{ cols('a') }}",
        )
        .expect("renders");
        assert_eq!(rendered, "a+b,c|a+");
    }

    #[test]
    fn a_macro_without_kwargs_still_rejects_unknown_keywords() {
        let error = render(
            "{% macro m(x) %}{{ kwargs }}{% endmacro %}{% macro n(x) %}{{ x }}{% endmacro %}",
            "{% from 'm' import n %}{{ n(1, y=2) }}",
        )
        .expect_err("fails");
        assert_eq!(error.kind(), ErrorKind::TooManyArguments);
    }

    #[test]
    fn caller_passes_through_to_a_macro_with_kwargs() {
        let rendered = render(
            "{% macro wrap(tag) %}<{{ tag }}{{ kwargs.get('x', '') }}>{{ caller() }}</{{ tag }}>{% endmacro %}",
            "{% from 'm' import wrap %}{% call wrap('b', x='!') %}hi{% endcall %}",
        )
        .expect("renders");
        assert_eq!(rendered, "<b!>hi</b>");
    }
}
