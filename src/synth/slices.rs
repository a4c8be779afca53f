//! The tables as slices the warehouse pulls: users and titles cut from
//! batches already in memory, viewing events drawn slice by slice when asked
//! for, counting what has been loaded for the progress bar.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::arrow::datatypes::SchemaRef;
use duckdb::arrow::record_batch::RecordBatch;

use super::streaming::{self, EventChunk, Universe};
use crate::adapter::{MAX_SLICE_ROWS, SliceSource};

/// Batches already in memory (users, titles), cut into slices without copying.
pub(super) struct Prebuilt {
    schema: SchemaRef,
    /// (batch, first row) of every slice.
    slices: Vec<(usize, usize)>,
    batches: Vec<RecordBatch>,
}

impl Prebuilt {
    pub(super) fn new(batches: Vec<RecordBatch>) -> Self {
        let schema = batches.first().map_or_else(
            || Arc::new(duckdb::arrow::datatypes::Schema::empty()),
            RecordBatch::schema,
        );
        let slices = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                (0..batch.num_rows())
                    .step_by(MAX_SLICE_ROWS)
                    .map(move |row| (b, row))
            })
            .collect();
        Self {
            schema,
            slices,
            batches,
        }
    }
}

impl SliceSource for Prebuilt {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn slice_count(&self) -> usize {
        self.slices.len()
    }

    fn slice(&self, index: usize) -> RecordBatch {
        let (batch, row) = self.slices[index];
        let batch = &self.batches[batch];
        batch.slice(row, MAX_SLICE_ROWS.min(batch.num_rows() - row))
    }
}

/// Viewing events, drawn slice by slice as the warehouse asks for them.
pub(super) struct EventSlices {
    pub(super) universe: Arc<Universe>,
    pub(super) chunks: Vec<EventChunk>,
    pub(super) loaded: AtomicU64,
}

impl SliceSource for EventSlices {
    fn schema(&self) -> SchemaRef {
        streaming::events_schema()
    }

    fn slice_count(&self) -> usize {
        self.chunks.len()
    }

    fn slice(&self, index: usize) -> RecordBatch {
        let batch = self.universe.event_batch(&self.chunks[index]);
        self.loaded
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        batch
    }
}
