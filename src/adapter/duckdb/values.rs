//! DuckDB values as JSON: numbers where JSON can hold them, text where it
//! cannot, and dates, times, timestamps, intervals and blobs spelled the way
//! DuckDB prints them (the date arithmetic covers DuckDB's whole range,
//! millions of years either side of 1970).

use std::fmt::Write as _;

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::types::{Decimal, TimeUnit, Value};

/// What a value's conversion needs to know about its column's type beyond
/// the value itself: whether a timestamp is zoned, recursively.
pub(super) struct Shape {
    zoned: bool,
    children: Vec<Shape>,
}

impl Shape {
    pub(super) fn of(ty: &LogicalTypeHandle) -> Self {
        let id = ty.id();
        let children = match id {
            LogicalTypeId::List
            | LogicalTypeId::Array
            | LogicalTypeId::Struct
            | LogicalTypeId::Map
            | LogicalTypeId::Union => (0..ty.num_children())
                .map(|idx| Self::of(&ty.child(idx)))
                .collect(),
            _ => Vec::new(),
        };
        Self {
            zoned: id == LogicalTypeId::TimestampTZ,
            children,
        }
    }
}

pub(super) fn to_json(value: &Value, shape: Option<&Shape>) -> serde_json::Value {
    use serde_json::Value as J;
    let child = |idx: usize| shape.and_then(|s| s.children.get(idx));
    match value {
        Value::Boolean(b) => J::Bool(*b),
        Value::TinyInt(n) => J::from(*n),
        Value::SmallInt(n) => J::from(*n),
        Value::Int(n) => J::from(*n),
        Value::BigInt(n) => J::from(*n),
        Value::UTinyInt(n) => J::from(*n),
        Value::USmallInt(n) => J::from(*n),
        Value::UInt(n) => J::from(*n),
        Value::UBigInt(n) => J::from(*n),
        Value::HugeInt(n) => i64::try_from(*n).map_or_else(|_| J::String(n.to_string()), J::from),
        Value::UHugeInt(n) => u64::try_from(*n).map_or_else(|_| J::String(n.to_string()), J::from),
        Value::Float(f) => float_json(f64::from(*f)),
        Value::Double(f) => float_json(*f),
        Value::Decimal(d) => decimal_json(*d),
        Value::Timestamp(unit, v) => {
            J::String(format_timestamp(*unit, *v, shape.is_some_and(|s| s.zoned)))
        }
        Value::Text(s) | Value::Enum(s) => J::String(s.clone()),
        Value::Blob(bytes) | Value::Geometry(bytes) => J::String(escape_blob(bytes)),
        Value::Date32(days) => J::String(format_date(*days)),
        Value::Time64(unit, v) => J::String(format_time(*unit, *v)),
        Value::Interval {
            months,
            days,
            nanos,
        } => J::String(format_interval(*months, *days, *nanos)),
        Value::List(items) | Value::Array(items) => {
            J::Array(items.iter().map(|item| to_json(item, child(0))).collect())
        }
        Value::Struct(fields) => J::Object(
            fields
                .iter()
                .enumerate()
                .map(|(idx, (name, item))| (name.clone(), to_json(item, child(idx))))
                .collect(),
        ),
        Value::Map(entries) => {
            let keys_are_text = entries.keys().all(|k| matches!(k, Value::Text(_)));
            if keys_are_text {
                J::Object(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                Value::Text(s) => s.clone(),
                                _ => String::new(),
                            };
                            (key, to_json(v, child(1)))
                        })
                        .collect(),
                )
            } else {
                J::Array(
                    entries
                        .iter()
                        .map(|(k, v)| serde_json::json!({"key": to_json(k, child(0)), "value": to_json(v, child(1))}))
                        .collect(),
                )
            }
        }
        Value::Union(inner) => to_json(inner, None),
        _ => J::Null,
    }
}

fn float_json(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or_else(
        || serde_json::Value::String(f.to_string()),
        serde_json::Value::Number,
    )
}

fn decimal_json(d: Decimal) -> serde_json::Value {
    if d.scale() == 0
        && let Ok(n) = i64::try_from(d.value())
    {
        return serde_json::Value::from(n);
    }
    let text = d.to_string();
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::String(text), serde_json::Value::Number)
}

/// `(year, month, day)` of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn format_date(days: i32) -> String {
    // DuckDB's infinite dates.
    if days == i32::MAX {
        return "infinity".to_owned();
    }
    if days == -i32::MAX {
        return "-infinity".to_owned();
    }
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

fn nanos_per(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// `.ffffff` without trailing zeros, empty for whole seconds.
fn fraction(nanos: i64) -> String {
    if nanos == 0 {
        return String::new();
    }
    let digits = format!("{nanos:09}");
    format!(".{}", digits.trim_end_matches('0'))
}

fn format_timestamp(unit: TimeUnit, value: i64, zoned: bool) -> String {
    if value == i64::MAX {
        return "infinity".to_owned();
    }
    if value == -i64::MAX {
        return "-infinity".to_owned();
    }
    let per_second = 1_000_000_000 / nanos_per(unit);
    let seconds = value.div_euclid(per_second);
    let nanos = value.rem_euclid(per_second) * nanos_per(unit);
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let zone = if zoned { "Z" } else { "" };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}{zone}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        fraction(nanos)
    )
}

fn format_time(unit: TimeUnit, value: i64) -> String {
    let total = i128::from(value) * i128::from(nanos_per(unit));
    let seconds = (total / 1_000_000_000) as i64;
    let nanos = (total % 1_000_000_000) as i64;
    format!(
        "{:02}:{:02}:{:02}{}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        fraction(nanos)
    )
}

/// An interval as DuckDB prints it: `1 year 2 months 3 days 04:05:06.5`.
fn format_interval(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, "year"), (months, "month"), (days, "day")] {
        if n != 0 {
            let s = if n.abs() == 1 { "" } else { "s" };
            parts.push(format!("{n} {unit}{s}"));
        }
    }
    if nanos != 0 || parts.is_empty() {
        let sign = if nanos < 0 { "-" } else { "" };
        let abs = nanos.unsigned_abs();
        let seconds = abs / 1_000_000_000;
        let frac = (abs % 1_000_000_000) as i64;
        parts.push(format!(
            "{sign}{:02}:{:02}:{:02}{}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60,
            fraction(frac)
        ));
    }
    parts.join(" ")
}

/// A blob as DuckDB prints it: printable ASCII as is, other bytes as `\xNN`.
fn escape_blob(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_times_and_intervals() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(19_723), "2024-01-01");
        assert_eq!(
            format_timestamp(TimeUnit::Microsecond, -1, false),
            "1969-12-31T23:59:59.999999"
        );
        assert_eq!(
            format_timestamp(TimeUnit::Nanosecond, 1_500_000_000, true),
            "1970-01-01T00:00:01.5Z"
        );
        assert_eq!(
            format_time(TimeUnit::Microsecond, 3_723_000_001),
            "01:02:03.000001"
        );
        assert_eq!(format_interval(14, 0, 0), "1 year 2 months");
        assert_eq!(format_interval(0, 0, 0), "00:00:00");
        assert_eq!(format_interval(0, -1, -1_000_000_000), "-1 day -00:00:01");
    }
}
