//! Lists and dicts that change in place, as Python's do: dbt projects build
//! results with `{% do cols.append(c) %}` and `{% do d.update({...}) %}`,
//! while minijinja's own values are immutable. Macro files (and models that
//! call a mutating method) have their `[...]` and `{...}` literals rewritten
//! by [`crate::scan::mutable_literals`] into calls that make these objects.
//! Methods a list or dict does not know here go on to pycompat.

use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// The function a rewritten list literal calls.
pub const LIST_FUNCTION: &str = "__sb_list";
/// The function a rewritten dict literal calls.
pub const DICT_FUNCTION: &str = "__sb_dict";

/// Methods that change a list or a dict in place: a model calling one has
/// its literals rewritten too.
pub const MUTATING_METHODS: [&str; 8] = [
    ".append(",
    ".extend(",
    ".insert(",
    ".update(",
    ".pop(",
    ".setdefault(",
    ".remove(",
    ".clear(",
];

/// `__sb_list(value)`: a list that changes in place.
pub fn list_fn(items: &Value) -> Result<Value, Error> {
    let items: Vec<Value> = items.try_iter()?.collect();
    Ok(MutableList::value(items))
}

/// `__sb_dict(value)`: a dict that changes in place.
pub fn dict_fn(map: &Value) -> Result<Value, Error> {
    let mut entries = IndexMap::new();
    for key in map.try_iter()? {
        let value = map.get_item(&key)?;
        entries.insert(key, value);
    }
    Ok(MutableDict::value(entries))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arg(args: &[Value], index: usize, method: &str) -> Result<Value, Error> {
    args.get(index).cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            format!("{method}() needs an argument"),
        )
    })
}

/// A Python-like list.
#[derive(Debug, Default)]
pub struct MutableList {
    items: Mutex<Vec<Value>>,
}

impl MutableList {
    pub fn value(items: Vec<Value>) -> Value {
        Value::from_object(Self {
            items: Mutex::new(items),
        })
    }

    fn snapshot(&self) -> Vec<Value> {
        lock(&self.items).clone()
    }

    fn position(len: usize, index: &Value) -> Option<usize> {
        let index = i64::try_from(index.clone()).ok()?;
        let len = i64::try_from(len).ok()?;
        let index = if index < 0 { len + index } else { index };
        (0..len).contains(&index).then_some(index as usize)
    }
}

impl Object for MutableList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = lock(&self.items);
        Self::position(items.len(), key).map(|i| items[i].clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.snapshot())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.items).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = lock(&self.items);
        let none = Value::from(());
        match method {
            "append" => items.push(arg(args, 0, method)?),
            "extend" => {
                let more: Vec<Value> = arg(args, 0, method)?.try_iter()?.collect();
                items.extend(more);
            }
            "insert" => {
                let len = items.len() as i64;
                let at = i64::try_from(arg(args, 0, method)?)?;
                let at = if at < 0 {
                    (len + at).max(0)
                } else {
                    at.min(len)
                };
                items.insert(at as usize, arg(args, 1, method)?);
            }
            "pop" => {
                let at = match args.first() {
                    Some(index) => Self::position(items.len(), index),
                    None => items.len().checked_sub(1),
                };
                return at.map(|i| items.remove(i)).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "pop from an empty list or a missing index",
                    )
                });
            }
            "remove" => {
                let value = arg(args, 0, method)?;
                let at = items.iter().position(|v| v == &value).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("list.remove({value}): value not in list"),
                    )
                })?;
                items.remove(at);
            }
            "index" => {
                let value = arg(args, 0, method)?;
                return items
                    .iter()
                    .position(|v| v == &value)
                    .map(Value::from)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{value} is not in list"),
                        )
                    });
            }
            "count" => {
                let value = arg(args, 0, method)?;
                return Ok(Value::from(items.iter().filter(|v| *v == &value).count()));
            }
            "reverse" => items.reverse(),
            "sort" => items.sort(),
            "clear" => items.clear(),
            "copy" => return Ok(Self::value(items.clone())),
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("a list has no method `{method}`"),
                ));
            }
        }
        Ok(none)
    }
}

/// A Python-like dict that keeps insertion order.
#[derive(Debug, Default)]
pub struct MutableDict {
    entries: Mutex<IndexMap<Value, Value>>,
}

impl MutableDict {
    pub fn value(entries: IndexMap<Value, Value>) -> Value {
        Value::from_object(Self {
            entries: Mutex::new(entries),
        })
    }

    fn pairs(other: &Value) -> Result<Vec<(Value, Value)>, Error> {
        if let Some(kwargs) = other.downcast_object_ref::<Kwargs>() {
            return kwargs
                .args()
                .map(|key| Ok((Value::from(key), kwargs.get::<Value>(key)?)))
                .collect();
        }
        match other.kind() {
            ValueKind::Map => other
                .try_iter()?
                .map(|key| {
                    let value = other.get_item(&key)?;
                    Ok((key, value))
                })
                .collect(),
            ValueKind::None | ValueKind::Undefined => Ok(Vec::new()),
            _ => other
                .try_iter()?
                .map(|pair| Ok((pair.get_item_by_index(0)?, pair.get_item_by_index(1)?)))
                .collect(),
        }
    }
}

impl Object for MutableDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        lock(&self.entries).get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.entries).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.entries).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let none = Value::from(());
        match method {
            "update" => {
                let mut pairs = Vec::new();
                for other in args {
                    pairs.extend(Self::pairs(other)?);
                }
                lock(&self.entries).extend(pairs);
                Ok(none)
            }
            "get" => {
                let key = arg(args, 0, method)?;
                Ok(lock(&self.entries)
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| args.get(1).cloned().unwrap_or(none)))
            }
            "pop" => {
                let key = arg(args, 0, method)?;
                match (lock(&self.entries).shift_remove(&key), args.get(1)) {
                    (Some(value), _) => Ok(value),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("dict.pop: key {key} not found"),
                    )),
                }
            }
            "setdefault" => {
                let key = arg(args, 0, method)?;
                let default = args.get(1).cloned().unwrap_or(none);
                Ok(lock(&self.entries).entry(key).or_insert(default).clone())
            }
            "items" => Ok(Value::from(
                lock(&self.entries)
                    .iter()
                    .map(|(k, v)| Value::from(vec![k.clone(), v.clone()]))
                    .collect::<Vec<_>>(),
            )),
            "keys" => Ok(Value::from(
                lock(&self.entries).keys().cloned().collect::<Vec<_>>(),
            )),
            "values" => Ok(Value::from(
                lock(&self.entries).values().cloned().collect::<Vec<_>>(),
            )),
            "copy" => Ok(Self::value(lock(&self.entries).clone())),
            "clear" => {
                lock(&self.entries).clear();
                Ok(none)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a dict has no method `{method}`"),
            )),
        }
    }
}

/// Methods on values pycompat does not cover, then pycompat. A mutating
/// method on an immutable list says why it cannot work in sb.
pub fn unknown_method(
    state: &mut State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let mutating = MUTATING_METHODS
        .iter()
        .any(|m| &m[1..m.len() - 1] == method);
    if mutating && matches!(value.kind(), ValueKind::Seq | ValueKind::Map) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "sb cannot change this value in place with `{method}`: only lists and dicts written as literals (`[]`, `{{}}`) in macros, or in a model that calls `{method}`, can change (unlike dbt); build a new one with `+` or `list()` instead"
            ),
        ));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    use super::*;

    fn render(template: &str) -> String {
        let mut env = Environment::new();
        env.add_function(LIST_FUNCTION, list_fn);
        env.add_function(DICT_FUNCTION, dict_fn);
        env.set_unknown_method_callback(unknown_method);
        let source = crate::scan::mutable_literals(template, LIST_FUNCTION, DICT_FUNCTION)
            .unwrap_or_else(|| template.to_string());
        env.render_str(&source, ()).expect("renders")
    }

    #[test]
    fn lists_change_in_place() {
        assert_eq!(
            render(
                "{% set xs = [] %}{% do xs.append(1) %}{% do xs.extend([2, 3]) %}{% do xs.insert(0, 0) %}\
                 {{ xs | join(',') }} {{ xs | length }} {{ xs[-1] }} {{ xs.pop() }} {{ xs }} {{ 2 in xs }} {{ xs[1:] | list }}"
            ),
            "0,1,2,3 4 3 3 [0, 1, 2] True [1, 2]"
        );
        assert_eq!(render("{% if [] %}full{% else %}empty{% endif %}"), "empty");
        assert_eq!(render("{{ ([1] + [2]) | join }}"), "12");
        assert_eq!(render("{{ [1, 2] | tojson }}"), "[1, 2]");
    }

    #[test]
    fn dicts_change_in_place() {
        assert_eq!(
            render(
                "{% set d = {'a': 1} %}{% do d.update({'b': 2}) %}{% do d.update(c=3) %}\
                 {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.get('z', 'none') }} {{ d.pop('a') }} {{ d.keys() | join }} {{ d['b'] }} {{ d.b }}"
            ),
            "a=1;b=2;c=3; none 1 bc 2 2"
        );
        assert_eq!(render("{{ {'a': [1]} | tojson }}"), "{\"a\": [1]}");
    }

    #[test]
    fn an_immutable_list_says_why_it_cannot_change() {
        let mut env = Environment::new();
        env.set_unknown_method_callback(unknown_method);
        let error = env
            .render_str("{% do 'a,b'.split(',').append('c') %}", ())
            .expect_err("fails");
        assert!(error.to_string().contains("unlike dbt"), "{error}");
    }
}
