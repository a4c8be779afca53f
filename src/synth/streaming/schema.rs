//! The Arrow schemas of the three tables (`users`, `content`,
//! `viewing_events` with its nested quality and engagement structs), the
//! batches built against them, and Arrow's day count.

use std::sync::Arc;

use chrono::NaiveDate;
use duckdb::arrow::array::ArrayRef;
use duckdb::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;

/// Days from 1970-01-01 (Arrow's Date32).
pub fn days_from_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(0)
}

pub(super) fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    // The columns are built to match the schemas below; a mismatch is a bug
    // in this module, caught by its tests.
    RecordBatch::try_new(schema, columns).unwrap_or_else(|err| panic!("synthesizer batch: {err}"))
}

pub fn users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("age_group", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("is_active", DataType::Boolean, false),
    ]))
}

pub fn content_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("content_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("genre", DataType::Utf8, false),
        Field::new("release_year", DataType::Int32, false),
        Field::new("duration_minutes", DataType::Int32, false),
        Field::new("maturity_rating", DataType::Utf8, false),
    ]))
}

pub(super) fn quality_fields() -> Fields {
    Fields::from(vec![
        Field::new("buffering_events", DataType::Int32, false),
        Field::new("bandwidth_mbps", DataType::Float64, false),
        Field::new("frames_dropped", DataType::Float64, false),
    ])
}

pub(super) fn engagement_fields() -> Fields {
    Fields::from(vec![
        Field::new("completion_rate", DataType::Float64, false),
        Field::new("rating", DataType::Int32, true),
    ])
}

pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("content_id", DataType::Int64, false),
        Field::new("device_type", DataType::Utf8, false),
        Field::new("watch_minutes", DataType::Float64, false),
        Field::new("quality_metrics", DataType::Struct(quality_fields()), false),
        Field::new(
            "engagement_signals",
            DataType::Struct(engagement_fields()),
            false,
        ),
    ]))
}
