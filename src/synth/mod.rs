//! The seed stage's synthesizer: `synthetic:` settings in `project.yml`
//! (checked, with errors at their line), the tables it provides as the source
//! `synthetic`, and the load itself: the tables are offered to the adapter as
//! independent slices that it pulls (DuckDB on all its threads), each slice
//! drawn when asked for, so memory stays flat whatever the number of events.
//!
//! This module owns the load and its tables; the `synthetic:` settings are
//! read with the project (`project::synthetic`), the slices handed to the
//! warehouse live in `slices`.

pub mod sample;
mod slices;
pub mod streaming;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::adapter::{AdapterError, BatchLoad, BuildOutcome, Connection, RelationRef, SliceSource};
pub use crate::project::synthetic::{Overrides, SOURCE_NAME, StreamingSettings, TABLES, settings};
use slices::{EventSlices, Prebuilt};
use streaming::Universe;

/// Days of events `sb seed --append` adds unless `--days` says otherwise.
pub const DEFAULT_APPEND_DAYS: u32 = 7;

/// Where each table goes.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The warehouse, for quoting in `--append`'s look at what is loaded.
    pub kind: crate::adapter::AdapterKind,
    pub users: RelationRef,
    pub content: RelationRef,
    pub events: RelationRef,
}

/// What to load.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Replace all three tables with `days` days of events.
    Fresh,
    /// Keep users and titles; add `days` days of events after the last loaded one.
    Append { days: u32 },
}

/// One table's outcome.
pub struct TableLoad {
    pub table: &'static str,
    pub result: Result<BuildOutcome, AdapterError>,
    pub seconds: f64,
}

/// Generates the dataset and loads it through `connection`. `progress` is
/// called with the number of events loaded so far and the total.
pub fn load(
    connection: &mut dyn Connection,
    targets: &Targets,
    settings: &StreamingSettings,
    mode: Mode,
    threads: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Vec<TableLoad> {
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool,
        Err(err) => {
            return vec![TableLoad {
                table: TABLES[0],
                result: Err(AdapterError::new(format!(
                    "cannot start the generator threads: {err}"
                ))),
                seconds: 0.0,
            }];
        }
    };
    let universe = Arc::new(Universe::new(settings, &pool));
    let mut loads = Vec::new();
    let timed = |table: &'static str,
                 work: &mut dyn FnMut() -> Result<BuildOutcome, AdapterError>| {
        let clock = std::time::Instant::now();
        let result = work();
        TableLoad {
            table,
            result,
            seconds: clock.elapsed().as_secs_f64(),
        }
    };

    let chunks = match mode {
        Mode::Fresh => {
            for (table, relation, batches) in [
                (TABLES[0], &targets.users, universe.user_batches()),
                (TABLES[1], &targets.content, universe.content_batches()),
            ] {
                let source = Arc::new(Prebuilt::new(batches));
                let load = BatchLoad {
                    relation: relation.clone(),
                    schema: source.schema(),
                    append: false,
                };
                let done = timed(table, &mut || connection.load_slices(&load, source.clone()));
                let failed = done.result.is_err();
                loads.push(done);
                if failed {
                    return loads;
                }
            }
            universe.event_plan(0, settings.days, settings.events, 1)
        }
        Mode::Append { days } => match last_loaded(connection, targets, settings) {
            Ok((last_day, last_id)) => {
                let per_day = settings.events as f64 / f64::from(settings.days.max(1));
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let total = (per_day * f64::from(days)).round() as u64;
                universe.event_plan(last_day + 1, days, total, last_id + 1)
            }
            Err(err) => {
                loads.push(TableLoad {
                    table: TABLES[2],
                    result: Err(err),
                    seconds: 0.0,
                });
                return loads;
            }
        },
    };

    let total: u64 = chunks.iter().map(|c| c.rows).sum();
    let source = Arc::new(EventSlices {
        universe,
        chunks,
        loaded: AtomicU64::new(0),
    });
    let load = BatchLoad {
        relation: targets.events.clone(),
        schema: streaming::events_schema(),
        append: matches!(mode, Mode::Append { .. }),
    };
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    let done = std::thread::scope(|scope| {
        // The warehouse pulls slices on its own threads; this one reports
        // every tenth of a second until the load ends (the sender drops).
        let source = &source;
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                wait.recv_timeout(std::time::Duration::from_millis(100))
            {
                progress(source.loaded.load(Ordering::Relaxed), total);
            }
        });
        let done = timed(TABLES[2], &mut || {
            connection.load_slices(&load, source.clone())
        });
        drop(finished);
        done
    });
    progress(source.loaded.load(Ordering::Relaxed), total);
    loads.push(done);
    loads
}

/// The last day (counted from `start_date`) and the largest id of the events
/// already loaded, for `--append`.
fn last_loaded(
    connection: &mut dyn Connection,
    targets: &Targets,
    settings: &StreamingSettings,
) -> Result<(i64, i64), AdapterError> {
    let events = &targets.events;
    if connection.relation_kind(events)?.is_none() {
        return Err(AdapterError::new(
            "there are no viewing events to append to yet: run `sb seed` without --append first",
        ));
    }
    // Portable SQL (the day count is taken in Rust): DuckDB and BigQuery
    // differ in date arithmetic, not in `cast(... as date)`.
    let kind = targets.kind;
    let sql = format!(
        "select cast(max({}) as date), max(event_id) from {}",
        kind.quote("timestamp"),
        kind.render_relation(events)
    );
    let result = connection.query(&sql, Some(1))?;
    let row = result.rows.first();
    let day = row
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .and_then(|text| chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok())
        .map(|last| (last - settings.start_date).num_days());
    let id = row.and_then(|r| r.get(1)).and_then(Value::as_i64);
    match (day, id) {
        (Some(day), Some(id)) => Ok((day, id)),
        _ => Ok((-1, 0)),
    }
}
