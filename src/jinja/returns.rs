//! dbt's `return(x)`: a macro call evaluates to `x` (a list, a dict, a
//! relation, ...) instead of the text the macro printed, and the macro stops
//! there. minijinja has no early return, so `return` stores the value and
//! raises a marker error; every macro that can return is wrapped (by a
//! `{% set %}` at the end of its module, which rebinds the name for the
//! module's other macros and for importers) in [`ReturningMacro`], which
//! turns the marker back into the value.

use std::cell::RefCell;
use std::fmt::Write;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, ErrorKind, State};

use super::extra_args::CatchAll;

/// The detail of the error `return()` raises on its way to the macro call.
pub const RETURN_MARKER: &str = "return() called outside of a macro";

/// The global function that wraps a macro in [`ReturningMacro`].
pub const WRAP_FUNCTION: &str = "__sb_returning";

thread_local! {
    /// The value of the `return()` being unwound, if any.
    static PENDING: RefCell<Option<Value>> = const { RefCell::new(None) };
}

/// `return(value)`: ends the current macro with `value` as its result.
pub fn return_fn(value: Option<Value>) -> Result<Value, Error> {
    PENDING.with(|p| *p.borrow_mut() = Some(value.unwrap_or(Value::from(""))));
    Err(Error::new(ErrorKind::InvalidOperation, RETURN_MARKER))
}

/// Whether `error` is a `return()` unwinding (possibly out of a template
/// where no macro caught it).
pub fn is_return(error: &Error) -> bool {
    error.kind() == ErrorKind::InvalidOperation && error.detail() == Some(RETURN_MARKER)
}

/// Forgets a `return()` no macro caught (a render ended with it).
pub fn clear() {
    PENDING.with(|p| p.borrow_mut().take());
}

/// `__sb_returning(macro)`.
pub fn wrap_fn(inner: Value) -> Value {
    if inner.downcast_object_ref::<ReturningMacro>().is_some() || inner.is_undefined() {
        return inner;
    }
    let catch_all = CatchAll::of(&inner);
    Value::from_object(ReturningMacro { inner, catch_all })
}

/// A macro whose `return()` gives the value of its call, and whose
/// undeclared arguments, when it reads `kwargs` or `varargs`, arrive there.
#[derive(Debug)]
pub struct ReturningMacro {
    inner: Value,
    catch_all: Option<CatchAll>,
}

impl Object for ReturningMacro {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let sorted;
        let args = match &self.catch_all {
            Some(catch_all) => {
                sorted = catch_all.sort(args)?;
                &sorted[..]
            }
            None => args,
        };
        match self.inner.call(state, args) {
            Err(error) if is_return(&error) => match PENDING.with(|p| p.borrow_mut().take()) {
                Some(value) => Ok(value),
                None => Err(error),
            },
            other => other,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.inner.get_item(key).ok().filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "arguments", "caller"])
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner)
    }
}

/// The statements that wrap `names` at the end of a module, all on one
/// line so no line of the module moves.
pub fn wrap_statements<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for name in names {
        let _ = write!(out, "{{% set {name} = {WRAP_FUNCTION}({name}) %}}");
    }
    out
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    use super::*;

    fn env_with(template: &str, names: &[&str]) -> Environment<'static> {
        let mut env = Environment::new();
        env.add_function("return", return_fn);
        env.add_function(WRAP_FUNCTION, wrap_fn);
        let source = format!("{template}\n{}", wrap_statements(names.iter().copied()));
        env.add_template_owned("m", source).expect("compiles");
        env
    }

    #[test]
    fn a_macro_call_evaluates_to_what_it_returns() {
        let env = env_with(
            "{% macro cols() %}ignored{{ return(['a', 'b']) }}never{% endmacro %}\
             {% macro flag(x) %}{% if x %}{% do return(true) %}{% endif %}{{ return(false) }}{% endmacro %}\
             {% macro outer() %}{% set c = cols() %}{{ return(c | length + (1 if flag(1) else 0)) }}{% endmacro %}",
            &["cols", "flag", "outer"],
        );
        let rendered = env
            .render_str(
                "{% from 'm' import cols, flag, outer %}{{ cols() | join(',') }} {{ flag(0) }} {{ flag(1) }} {{ outer() }}",
                (),
            )
            .expect("renders");
        assert_eq!(rendered, "a,b False True 3");
    }

    #[test]
    fn a_return_inside_a_loop_stops_the_macro() {
        let env = env_with(
            "{% macro first_big(xs) %}{% for x in xs %}{% if x > 2 %}{{ return(x) }}{% endif %}{% endfor %}{{ return('none') }}{% endmacro %}",
            &["first_big"],
        );
        let rendered = env
            .render_str(
                "{% from 'm' import first_big %}{{ first_big([1, 5, 9]) }}/{{ first_big([1]) }}",
                (),
            )
            .expect("renders");
        assert_eq!(rendered, "5/none");
    }

    #[test]
    fn a_return_outside_a_macro_is_reported() {
        let env = env_with("", &[]);
        let error = env.render_str("{{ return(1) }}", ()).expect_err("fails");
        assert!(is_return(&error));
        clear();
    }
}
