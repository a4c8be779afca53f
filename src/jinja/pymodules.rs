//! `modules`: the parts of Python's `datetime`, `pytz`, `re` and
//! `itertools` that dbt projects reach for. Regular expressions are Rust's
//! (no look-around or back-references), and `pytz` knows only UTC: where
//! that differs from Python, the error says so.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use minijinja::value::{Kwargs, Object, Value, from_args};
use minijinja::{Error, ErrorKind, State};

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn unknown(what: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::UnknownMethod,
        format!("{what} has no method `{method}` in sb"),
    )
}

/// The `modules` global.
pub fn modules_value() -> Value {
    crate::jinja::map_value([
        ("datetime", Value::from_object(Module::Datetime)),
        ("pytz", Value::from_object(Module::Pytz)),
        ("re", Value::from_object(Module::Re)),
        ("itertools", Value::from_object(Module::Itertools)),
    ])
}

/// A datetime value; `utc` marks a timezone-aware one (in UTC).
pub fn datetime_value(at: NaiveDateTime, utc: bool) -> Value {
    Value::from_object(DateTime { at, utc })
}

#[derive(Debug, Clone, Copy)]
enum Module {
    Datetime,
    Pytz,
    Re,
    Itertools,
}

/// A class of the `datetime` module (`datetime.datetime`, `datetime.date`).
#[derive(Debug, Clone, Copy)]
enum Class {
    DateTime,
    Date,
    TimeDelta,
}

impl Object for Module {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (**self, key.as_str()?) {
            (Module::Datetime, "datetime") => Some(Value::from_object(Class::DateTime)),
            (Module::Datetime, "date") => Some(Value::from_object(Class::Date)),
            (Module::Datetime, "timedelta") => Some(Value::from_object(Class::TimeDelta)),
            (Module::Pytz, "utc" | "UTC") => Some(Value::from_object(Utc)),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match **self {
            Module::Pytz if method == "timezone" => {
                let (name,): (String,) = from_args(args)?;
                if matches!(name.as_str(), "UTC" | "utc" | "Etc/UTC" | "GMT" | "Etc/GMT") {
                    Ok(Value::from_object(Utc))
                } else {
                    Err(invalid(format!(
                        "pytz.timezone('{name}'): sb knows only UTC (unlike dbt, which has the whole tz database); convert in SQL instead"
                    )))
                }
            }
            Module::Re => re_function(method, args),
            Module::Itertools => itertools_function(method, args),
            Module::Datetime | Module::Pytz => Err(unknown("this module", method)),
        }
    }
}

/// `pytz.utc`.
#[derive(Debug)]
struct Utc;

impl Object for Utc {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "zone").then(|| Value::from("UTC"))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UTC")
    }
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

fn int(value: Option<&Value>, default: i64) -> Result<i64, Error> {
    value.map_or(Ok(default), |v| i64::try_from(v.clone()))
}

impl Object for Class {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
        match **self {
            Class::TimeDelta => {
                let part = |key: &str| -> Result<f64, Error> {
                    Ok(kwargs.get::<Option<f64>>(key)?.unwrap_or(0.0))
                };
                let days = positional
                    .first()
                    .map_or(Ok(0.0), |v| f64::try_from(v.clone()))?
                    + part("days")?
                    + part("weeks")? * 7.0;
                let seconds = days * 86_400.0
                    + part("hours")? * 3_600.0
                    + part("minutes")? * 60.0
                    + part("seconds")?;
                kwargs.assert_all_used()?;
                Ok(Value::from_object(TimeDelta { seconds }))
            }
            Class::DateTime | Class::Date => {
                let date = NaiveDate::from_ymd_opt(
                    int(positional.first(), 1)? as i32,
                    int(positional.get(1), 1)? as u32,
                    int(positional.get(2), 1)? as u32,
                )
                .ok_or_else(|| invalid("datetime(): no such date"))?;
                let at = date
                    .and_hms_opt(
                        int(positional.get(3), 0)? as u32,
                        int(positional.get(4), 0)? as u32,
                        int(positional.get(5), 0)? as u32,
                    )
                    .ok_or_else(|| invalid("datetime(): no such time"))?;
                let tz: Option<Value> = kwargs.get("tzinfo")?;
                Ok(datetime_value(at, tz.is_some()))
            }
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, **self) {
            ("now" | "utcnow", Class::DateTime) => {
                Ok(datetime_value(now(), method == "now" && !args.is_empty()))
            }
            ("today", _) => Ok(Value::from_object(Date(now().date()))),
            ("strptime", Class::DateTime) => {
                let (text, format): (String, String) = from_args(args)?;
                NaiveDateTime::parse_from_str(&text, &format)
                    .or_else(|_| {
                        NaiveDate::parse_from_str(&text, &format)
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map(|at| datetime_value(at, false))
                    .map_err(|e| invalid(format!("strptime('{text}', '{format}'): {e}")))
            }
            ("fromisoformat", Class::DateTime) => {
                let (text,): (String,) = from_args(args)?;
                parse_iso(&text).map(|at| datetime_value(at, false))
            }
            ("fromisoformat", Class::Date) => {
                let (text,): (String,) = from_args(args)?;
                NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .map(|d| Value::from_object(Date(d)))
                    .map_err(|e| invalid(format!("date.fromisoformat('{text}'): {e}")))
            }
            _ => Err(unknown("this class", method)),
        }
    }
}

fn parse_iso(text: &str) -> Result<NaiveDateTime, Error> {
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(at);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .map_err(|e| invalid(format!("fromisoformat('{text}'): {e}")))
}

/// `datetime.timedelta`.
#[derive(Debug)]
struct TimeDelta {
    seconds: f64,
}

impl Object for TimeDelta {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "days" => Value::from((self.seconds / 86_400.0).floor() as i64),
            "seconds" => Value::from((self.seconds.rem_euclid(86_400.0)) as i64),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(self.seconds)),
            _ => Err(unknown("a timedelta", method)),
        }
    }
}

/// A `datetime.datetime`.
#[derive(Debug)]
struct DateTime {
    at: NaiveDateTime,
    utc: bool,
}

fn shifted(at: NaiveDateTime, delta: &Value, sign: f64) -> Result<NaiveDateTime, Error> {
    let delta = delta
        .downcast_object_ref::<TimeDelta>()
        .ok_or_else(|| invalid("a datetime can only be shifted by a timedelta"))?;
    let millis = (delta.seconds * 1000.0 * sign) as i64;
    at.checked_add_signed(chrono::TimeDelta::milliseconds(millis))
        .ok_or_else(|| invalid("datetime out of range"))
}

impl Object for DateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let at = &self.at;
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(at.year()),
            "month" => i64::from(at.month()),
            "day" => i64::from(at.day()),
            "hour" => i64::from(at.hour()),
            "minute" => i64::from(at.minute()),
            "second" => i64::from(at.second()),
            "microsecond" => i64::from(at.nanosecond() / 1000),
            "tzinfo" => {
                return Some(if self.utc {
                    Value::from_object(Utc)
                } else {
                    Value::from(())
                });
            }
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (format,): (String,) = from_args(args)?;
                Ok(Value::from(self.at.format(&format).to_string()))
            }
            "isoformat" => {
                let (sep,): (Option<String>,) = from_args(args)?;
                let sep = sep.unwrap_or_else(|| "T".into());
                Ok(Value::from(format!(
                    "{}{}",
                    self.at.format(&format!("%Y-%m-%d{sep}%H:%M:%S%.6f")),
                    if self.utc { "+00:00" } else { "" }
                )))
            }
            "date" => Ok(Value::from_object(Date(self.at.date()))),
            "timestamp" => Ok(Value::from(self.at.and_utc().timestamp() as f64)),
            "astimezone" | "replace" => {
                Ok(datetime_value(self.at, self.utc || method == "astimezone"))
            }
            "add" => Ok(datetime_value(
                shifted(self.at, args.first().unwrap_or(&Value::UNDEFINED), 1.0)?,
                self.utc,
            )),
            "subtract" => Ok(datetime_value(
                shifted(self.at, args.first().unwrap_or(&Value::UNDEFINED), -1.0)?,
                self.utc,
            )),
            _ => Err(unknown("a datetime", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}",
            self.at.format("%Y-%m-%d %H:%M:%S%.6f"),
            if self.utc { "+00:00" } else { "" }
        )
    }
}

/// A `datetime.date`.
#[derive(Debug)]
struct Date(NaiveDate);

impl Object for Date {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(self.0.year()),
            "month" => i64::from(self.0.month()),
            "day" => i64::from(self.0.day()),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (format,): (String,) = from_args(args)?;
                Ok(Value::from(self.0.format(&format).to_string()))
            }
            "isoformat" => Ok(Value::from(self.0.format("%Y-%m-%d").to_string())),
            "weekday" => Ok(Value::from(self.0.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.0.weekday().number_from_monday())),
            _ => Err(unknown("a date", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(pattern).map_err(|e| {
        invalid(format!(
            "modules.re: sb uses Rust's regular expressions (no look-around or back-references, unlike Python's): {e}"
        ))
    })
}

/// `re.match`, `re.search`, `re.sub`, `re.findall`, `re.split`, `re.compile`.
fn re_function(method: &str, args: &[Value]) -> Result<Value, Error> {
    if method == "compile" {
        let (pattern, _flags): (String, Option<Value>) = from_args(args)?;
        return Ok(Value::from_object(Pattern(regex(&pattern)?)));
    }
    let (pattern, rest) = args.split_first().ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            format!("re.{method}() needs a pattern"),
        )
    })?;
    let pattern = match pattern.downcast_object_ref::<Pattern>() {
        Some(compiled) => compiled.0.clone(),
        None => regex(&pattern.to_string())?,
    };
    pattern_method(&pattern, method, rest)
}

fn pattern_method(pattern: &regex::Regex, method: &str, args: &[Value]) -> Result<Value, Error> {
    match method {
        "match" | "search" | "fullmatch" => {
            let (text, _flags): (String, Option<Value>) = from_args(args)?;
            let found = pattern.captures(&text).filter(|c| {
                let whole = c.get(0).map_or(0..0, |m| m.range());
                match method {
                    "match" => whole.start == 0,
                    "fullmatch" => whole.start == 0 && whole.end == text.len(),
                    _ => true,
                }
            });
            Ok(found.map_or(Value::from(()), |c| {
                let groups: Vec<Option<String>> = c
                    .iter()
                    .map(|g| g.map(|m| m.as_str().to_string()))
                    .collect();
                let whole = c.get(0).map_or(0..0, |m| m.range());
                Value::from_object(Match {
                    groups,
                    start: whole.start,
                    end: whole.end,
                })
            }))
        }
        "sub" => {
            let (replacement, text): (String, String) = from_args(&args[..args.len().min(2)])?;
            let replacement = replacement.replace("\\g<", "${").replace('>', "}");
            Ok(Value::from(
                pattern
                    .replace_all(&text, replacement.as_str())
                    .into_owned(),
            ))
        }
        "findall" => {
            let (text,): (String,) = from_args(&args[..args.len().min(1)])?;
            Ok(Value::from(
                pattern
                    .captures_iter(&text)
                    .map(|c| {
                        let m = c.get(1).or_else(|| c.get(0));
                        Value::from(m.map_or("", |m| m.as_str()))
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        "split" => {
            let (text,): (String,) = from_args(&args[..args.len().min(1)])?;
            Ok(Value::from(
                pattern.split(&text).map(Value::from).collect::<Vec<_>>(),
            ))
        }
        _ => Err(unknown("modules.re", method)),
    }
}

/// A compiled pattern.
#[derive(Debug)]
struct Pattern(regex::Regex);

impl Object for Pattern {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        pattern_method(&self.0, method, args)
    }
}

/// A match: `group(n)`, `groups()`, `start()`, `end()`.
#[derive(Debug)]
struct Match {
    groups: Vec<Option<String>>,
    start: usize,
    end: usize,
}

impl Object for Match {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let group = |i: usize| Value::from(self.groups.get(i).cloned().flatten());
        match method {
            "group" => {
                let index = args.first().map_or(Ok(0), |v| usize::try_from(v.clone()))?;
                Ok(group(index))
            }
            "groups" => Ok(Value::from(
                (1..self.groups.len()).map(group).collect::<Vec<_>>(),
            )),
            "start" => Ok(Value::from(self.start)),
            "end" => Ok(Value::from(self.end)),
            _ => Err(unknown("a match", method)),
        }
    }
}

/// `itertools.chain`, `product`, `combinations`.
fn itertools_function(method: &str, args: &[Value]) -> Result<Value, Error> {
    let lists: Vec<Vec<Value>> = args
        .iter()
        .filter(|a| a.kind() != minijinja::value::ValueKind::Number)
        .map(|a| a.try_iter().map(Iterator::collect))
        .collect::<Result<_, _>>()?;
    match method {
        "chain" => Ok(Value::from(lists.concat())),
        "product" => {
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for list in &lists {
                out = out
                    .iter()
                    .flat_map(|prefix| {
                        list.iter().map(move |item| {
                            let mut next = prefix.clone();
                            next.push(item.clone());
                            next
                        })
                    })
                    .collect();
            }
            Ok(Value::from(
                out.into_iter().map(Value::from).collect::<Vec<_>>(),
            ))
        }
        "combinations" => {
            let items = lists.first().cloned().unwrap_or_default();
            let r = args.get(1).map_or(Ok(2), |v| usize::try_from(v.clone()))?;
            let mut out = Vec::new();
            combinations(&items, r, 0, &mut Vec::new(), &mut out);
            Ok(Value::from(out))
        }
        _ => Err(unknown("modules.itertools", method)),
    }
}

fn combinations(
    items: &[Value],
    r: usize,
    from: usize,
    current: &mut Vec<Value>,
    out: &mut Vec<Value>,
) {
    if current.len() == r {
        out.push(Value::from(current.clone()));
        return;
    }
    for i in from..items.len() {
        current.push(items[i].clone());
        combinations(items, r, i + 1, current, out);
        current.pop();
    }
}
