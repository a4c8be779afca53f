//! Conversions at BigQuery's edge: Arrow schemas to table schemas (nested
//! structs become RECORD fields, lists REPEATED ones), Arrow rows to
//! newline-delimited JSON for load jobs, and query result rows (`f`/`v`
//! cells) to JSON values like the DuckDB adapter returns.

use std::fmt::Write as _;

use duckdb::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, LargeStringArray, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};

/// A BigQuery table schema (`{"fields": [...]}`) for an Arrow schema.
pub fn table_schema(schema: &Schema) -> Value {
    json!({"fields": schema.fields().iter().map(|f| field_schema(f)).collect::<Vec<_>>()})
}

fn field_schema(field: &Field) -> Value {
    let (data_type, mode) = match field.data_type() {
        DataType::List(item) | DataType::LargeList(item) => (item.data_type(), "REPEATED"),
        other => (
            other,
            if field.is_nullable() {
                "NULLABLE"
            } else {
                "REQUIRED"
            },
        ),
    };
    let mut out = json!({"name": field.name(), "type": bigquery_type(data_type), "mode": mode});
    if let DataType::Struct(children) = data_type {
        out["fields"] = Value::Array(children.iter().map(|f| field_schema(f)).collect());
    }
    out
}

/// BigQuery's legacy type name (as load jobs spell it) for an Arrow type.
pub fn bigquery_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => "INTEGER",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "FLOAT",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "NUMERIC",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP",
        DataType::Timestamp(_, None) => "DATETIME",
        DataType::Time32(_) | DataType::Time64(_) => "TIME",
        DataType::Binary | DataType::LargeBinary => "BYTES",
        DataType::Struct(_) => "RECORD",
        _ => "STRING",
    }
}

/// Why a batch could not be written as JSON lines.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A column's array is not the type its schema says (a bug in sb).
    #[error("unexpected array")]
    UnexpectedArray,
    #[error("date out of range")]
    DateOutOfRange,
    #[error("cannot load Arrow {0} columns into BigQuery")]
    Unsupported(String),
}

/// Appends one JSON line per row of `batch` to `out`.
pub fn write_ndjson(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ConvertError> {
    let schema = batch.schema();
    let columns: Vec<(&str, &ArrayRef)> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(batch.columns())
        .collect();
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        line.push('{');
        let mut first = true;
        for (name, column) in &columns {
            if column.is_null(row) {
                continue;
            }
            if !first {
                line.push(',');
            }
            first = false;
            line.push_str(&Value::from(*name).to_string());
            line.push(':');
            write_value(column.as_ref(), row, &mut line)?;
        }
        line.push_str("}\n");
        out.extend_from_slice(line.as_bytes());
    }
    Ok(())
}

fn write_value(array: &dyn Array, row: usize, out: &mut String) -> Result<(), ConvertError> {
    macro_rules! number {
        ($ty:ty) => {{
            let value = array
                .as_any()
                .downcast_ref::<$ty>()
                .ok_or(ConvertError::UnexpectedArray)?
                .value(row);
            let _ = write!(out, "{value}");
        }};
    }
    match array.data_type() {
        DataType::Boolean => {
            let value = array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or(ConvertError::UnexpectedArray)?
                .value(row);
            out.push_str(if value { "true" } else { "false" });
        }
        DataType::Int8 => number!(Int8Array),
        DataType::Int16 => number!(Int16Array),
        DataType::Int32 => number!(Int32Array),
        DataType::Int64 => number!(Int64Array),
        DataType::UInt8 => number!(UInt8Array),
        DataType::UInt16 => number!(UInt16Array),
        DataType::UInt32 => number!(UInt32Array),
        DataType::UInt64 => number!(UInt64Array),
        DataType::Float32 | DataType::Float64 => {
            let value = if let Some(a) = array.as_any().downcast_ref::<Float64Array>() {
                a.value(row)
            } else {
                f64::from(
                    array
                        .as_any()
                        .downcast_ref::<Float32Array>()
                        .ok_or(ConvertError::UnexpectedArray)?
                        .value(row),
                )
            };
            if value.is_finite() {
                out.push_str(&Value::from(value).to_string());
            } else {
                // JSON has no NaN or infinity; BigQuery reads them as strings.
                let _ = write!(out, "\"{value}\"");
            }
        }
        DataType::Utf8 => {
            let value = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or(ConvertError::UnexpectedArray)?
                .value(row);
            out.push_str(&Value::from(value).to_string());
        }
        DataType::LargeUtf8 => {
            let value = array
                .as_any()
                .downcast_ref::<LargeStringArray>()
                .ok_or(ConvertError::UnexpectedArray)?
                .value(row);
            out.push_str(&Value::from(value).to_string());
        }
        DataType::Date32 => {
            let days = array
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or(ConvertError::UnexpectedArray)?
                .value(row);
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days.into())))
                .ok_or(ConvertError::DateOutOfRange)?;
            let _ = write!(out, "\"{}\"", date.format("%Y-%m-%d"));
        }
        DataType::Timestamp(unit, _) => {
            let micros = match unit {
                TimeUnit::Second => array
                    .as_any()
                    .downcast_ref::<TimestampSecondArray>()
                    .map(|a| a.value(row).saturating_mul(1_000_000)),
                TimeUnit::Millisecond => array
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .map(|a| a.value(row).saturating_mul(1_000)),
                TimeUnit::Microsecond => array
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .map(|a| a.value(row)),
                TimeUnit::Nanosecond => array
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .map(|a| a.value(row) / 1_000),
            }
            .ok_or(ConvertError::UnexpectedArray)?;
            let _ = write!(out, "\"{}\"", format_micros(micros));
        }
        DataType::Struct(_) => {
            let array: &StructArray = array.as_struct();
            out.push('{');
            let mut first = true;
            for (field, child) in array.fields().iter().zip(array.columns()) {
                if child.is_null(row) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&Value::from(field.name().as_str()).to_string());
                out.push(':');
                write_value(child.as_ref(), row, out)?;
            }
            out.push('}');
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            out.push('[');
            for i in 0..list.len() {
                if i > 0 {
                    out.push(',');
                }
                if list.is_null(i) {
                    out.push_str("null");
                } else {
                    write_value(list.as_ref(), i, out)?;
                }
            }
            out.push(']');
        }
        other => return Err(ConvertError::Unsupported(other.to_string())),
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` for microseconds since the epoch (UTC).
pub fn format_micros(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let time = chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || micros.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    );
    if fraction == 0 {
        time
    } else {
        format!("{time}.{fraction:06}")
    }
}

/// Turns query result rows into JSON values by the result schema: numbers
/// from their string form, timestamps (integer microseconds, or float
/// seconds from older endpoints) as `YYYY-MM-DD HH:MM:SS[.ffffff]`,
/// records as objects and repeated fields as arrays.
pub fn rows_to_json(fields: &[Value], rows: &[Value]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|row| {
            let cells = row.get("f").and_then(Value::as_array);
            fields
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    cells
                        .and_then(|c| c.get(i))
                        .and_then(|cell| cell.get("v"))
                        .map_or(Value::Null, |v| cell_value(field, v))
                })
                .collect()
        })
        .collect()
}

fn cell_value(field: &Value, value: &Value) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    if field.get("mode").and_then(Value::as_str) == Some("REPEATED") {
        let mut single = field.clone();
        single["mode"] = Value::from("NULLABLE");
        return Value::Array(
            value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| cell_value(&single, item.get("v").unwrap_or(&Value::Null)))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    let text = value.as_str();
    match field
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("STRING")
    {
        "INTEGER" | "INT64" => text
            .and_then(|t| t.parse::<i64>().ok())
            .map_or_else(|| value.clone(), Value::from),
        "FLOAT" | "FLOAT64" => text
            .and_then(|t| t.parse::<f64>().ok())
            .map_or_else(|| value.clone(), Value::from),
        "NUMERIC" | "BIGNUMERIC" => text
            .and_then(|t| t.parse::<f64>().ok())
            .map_or_else(|| value.clone(), Value::from),
        "BOOLEAN" | "BOOL" => text.map_or_else(|| value.clone(), |t| Value::from(t == "true")),
        "TIMESTAMP" => text
            .and_then(timestamp_micros)
            .map_or_else(|| value.clone(), |m| Value::from(format_micros(m))),
        "RECORD" | "STRUCT" => {
            let children = field
                .get("fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let cells = value.get("f").and_then(Value::as_array);
            let mut object = Map::new();
            for (i, child) in children.iter().enumerate() {
                let name = child
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let cell = cells
                    .and_then(|c| c.get(i))
                    .and_then(|c| c.get("v"))
                    .map_or(Value::Null, |v| cell_value(child, v));
                object.insert(name.to_owned(), cell);
            }
            Value::Object(object)
        }
        _ => value.clone(),
    }
}

/// Microseconds from a TIMESTAMP cell: an integer (microseconds, as
/// `useInt64Timestamp` asks and the emulator answers) or a float in
/// seconds (`1.7672256E9`, BigQuery's older form).
pub fn timestamp_micros(text: &str) -> Option<i64> {
    if let Ok(micros) = text.parse::<i64>() {
        return Some(micros);
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .map(|seconds| (seconds * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use duckdb::arrow::array::{Int64Array, StringArray, StructArray, TimestampMicrosecondArray};
    use duckdb::arrow::datatypes::Fields;

    use super::*;

    fn nested_batch() -> RecordBatch {
        let device_fields = Fields::from(vec![
            Field::new("kind", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]);
        let device = StructArray::new(
            device_fields.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("tv"), None])) as ArrayRef,
                Arc::new(Float64Array::from(vec![Some(0.5), Some(2.0)])) as ArrayRef,
            ],
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("device", DataType::Struct(device_fields), true),
            Field::new("note", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_767_225_600_000_001), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(device),
                Arc::new(StringArray::from(vec![Some("say \"hi\"\n"), None])),
            ],
        )
        .expect("a batch")
    }

    #[test]
    fn nested_structs_become_record_fields() {
        let batch = nested_batch();
        let schema = table_schema(&batch.schema());
        assert_eq!(
            schema,
            json!({"fields": [
                {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
                {"name": "at", "type": "TIMESTAMP", "mode": "NULLABLE"},
                {"name": "device", "type": "RECORD", "mode": "NULLABLE", "fields": [
                    {"name": "kind", "type": "STRING", "mode": "NULLABLE"},
                    {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
                ]},
                {"name": "note", "type": "STRING", "mode": "NULLABLE"},
            ]})
        );
    }

    #[test]
    fn rows_become_json_lines() {
        let mut out = Vec::new();
        write_ndjson(&nested_batch(), &mut out).expect("converts");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({"id": 1, "at": "2026-01-01 00:00:00.000001", "device": {"kind": "tv", "score": 0.5}, "note": "say \"hi\"\n"}),
                json!({"id": 2, "device": {"score": 2.0}}),
            ]
        );
    }

    #[test]
    fn result_rows_parse_both_timestamp_forms_and_records() {
        let fields = vec![
            json!({"name": "n", "type": "INTEGER"}),
            json!({"name": "t", "type": "TIMESTAMP"}),
            json!({"name": "t2", "type": "TIMESTAMP"}),
            json!({"name": "r", "type": "RECORD", "fields": [{"name": "a", "type": "FLOAT"}, {"name": "b", "type": "BOOLEAN"}]}),
            json!({"name": "xs", "type": "STRING", "mode": "REPEATED"}),
        ];
        let rows = vec![json!({"f": [
            {"v": "42"},
            {"v": "1767225600000000"},
            {"v": "1.7672256E9"},
            {"v": {"f": [{"v": "1.5"}, {"v": "true"}]}},
            {"v": [{"v": "a"}, {"v": "b"}]},
        ]})];
        assert_eq!(
            rows_to_json(&fields, &rows),
            vec![vec![
                json!(42),
                json!("2026-01-01 00:00:00"),
                json!("2026-01-01 00:00:00"),
                json!({"a": 1.5, "b": true}),
                json!(["a", "b"]),
            ]]
        );
    }
}
