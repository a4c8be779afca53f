//! Loading a [`SliceSource`] through `sb_slices`, a table function that
//! DuckDB calls on all its threads: the source is registered under a token
//! while the insert that scans it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};

use super::DuckDbConnection;
use crate::adapter::{AdapterError, BatchLoad, BuildOutcome, SliceSource};

impl DuckDbConnection {
    /// DuckDB pulls the slices itself, through a table function, on all its
    /// threads: generating, converting and compressing run in parallel,
    /// where the appender of `load_batches` converts on one thread.
    pub(super) fn load_slices_by_scan(
        &self,
        load: &BatchLoad,
        source: Arc<dyn SliceSource>,
    ) -> Result<BuildOutcome, AdapterError> {
        // A function registered twice on one connection is an error: the
        // first registration stays and serves every later load.
        let _ = self
            .conn
            .register_table_function::<SliceScan>(SLICE_SCAN_FUNCTION);
        let token = slice_sources::register(source);
        let loaded = self.load_rows(load, |session, target| {
            // Slices land in whatever order the threads finish them (the
            // rows are the same): keeping the scan order would serialise
            // the insert.
            session.run("set preserve_insertion_order = false".to_owned())?;
            let inserted = session.run(format!(
                "insert into {target} select * from {SLICE_SCAN_FUNCTION}({token})"
            ));
            session.quiet("reset preserve_insertion_order");
            Ok(inserted?.unwrap_or(0))
        });
        slice_sources::unregister(token);
        loaded
    }
}

/// The table function through which DuckDB pulls a [`SliceSource`].
const SLICE_SCAN_FUNCTION: &str = "sb_slices";

/// Slice sources being loaded, by the token their scan is called with: the
/// table function's bind step finds its source here (a plain number crosses
/// DuckDB's C interface; a Rust reference cannot).
mod slice_sources {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};

    use super::SliceSource;

    static SOURCES: LazyLock<Mutex<HashMap<u64, Arc<dyn SliceSource>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    static NEXT: AtomicU64 = AtomicU64::new(1);

    pub fn register(source: Arc<dyn SliceSource>) -> u64 {
        let token = NEXT.fetch_add(1, Ordering::Relaxed);
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, source);
        token
    }

    pub fn get(token: u64) -> Option<Arc<dyn SliceSource>> {
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
            .cloned()
    }

    pub fn unregister(token: u64) {
        SOURCES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
    }
}

/// `sb_slices(token)`: a parallel scan of a registered [`SliceSource`], one
/// slice per call, slices handed out by an atomic counter.
struct SliceScan;

struct SliceScanBind {
    source: Arc<dyn SliceSource>,
}

struct SliceScanState {
    next: AtomicU64,
}

impl duckdb::vtab::VTab for SliceScan {
    type InitData = SliceScanState;
    type BindData = SliceScanBind;

    fn bind(bind: &duckdb::vtab::BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let token = bind.get_parameter(0).to_int64();
        let source = u64::try_from(token)
            .ok()
            .and_then(slice_sources::get)
            .ok_or_else(|| format!("no slice source is registered as {token}"))?;
        for field in source.schema().fields() {
            bind.add_result_column(
                field.name(),
                duckdb::vtab::to_duckdb_logical_type_for_field(field)?,
            );
        }
        Ok(SliceScanBind { source })
    }

    fn init(init: &duckdb::vtab::InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        init.set_max_threads(u64::MAX / 2);
        Ok(SliceScanState {
            next: AtomicU64::new(0),
        })
    }

    fn func(
        function: &duckdb::vtab::TableFunctionInfo<Self>,
        output: &mut duckdb::core::DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let source = &function.get_bind_data().source;
        let index = function
            .get_init_data()
            .next
            .fetch_add(1, Ordering::Relaxed);
        match usize::try_from(index) {
            Ok(index) if index < source.slice_count() => {
                duckdb::vtab::record_batch_to_duckdb_data_chunk(&source.slice(index), output)?;
            }
            _ => output.set_len(0),
        }
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)])
    }
}
