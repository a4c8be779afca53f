//! The warehouse connections of a run: a pool that hands one to each worker
//! thread and takes it back after each node, and the helper that runs one
//! node's work on a pooled connection and times it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;

use super::NodeResult;
use crate::adapter::{Adapter, AdapterError, Connection};
use crate::compile::CompiledProject;
use crate::resource::NodeId;

/// A worker's connection, shared with `run_query` while a node renders.
pub type SharedConnection = Arc<Mutex<Box<dyn Connection>>>;

/// Connections handed out to worker threads and returned after each node.
pub struct ConnectionPool<'a> {
    adapter: &'a dyn Adapter,
    idle: Mutex<Vec<SharedConnection>>,
}

impl<'a> ConnectionPool<'a> {
    pub fn new(adapter: &'a dyn Adapter) -> Self {
        Self {
            adapter,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn take(&self) -> Result<SharedConnection, AdapterError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None => Ok(Arc::new(Mutex::new(self.adapter.connect()?))),
        }
    }

    pub fn give_back(&self, connection: SharedConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
    }
}

/// Runs `work` for node `index` on a connection from the pool, marked with
/// the node, and times it; with no connection the node is an error.
pub(super) fn on_connection(
    compiled: &CompiledProject,
    index: NodeId,
    pool: &ConnectionPool<'_>,
    work: impl FnOnce(&SharedConnection) -> NodeResult,
) -> NodeResult {
    let started_at = Utc::now();
    let clock = Instant::now();
    let mut result = match pool.take() {
        Ok(connection) => {
            lock(&connection).set_node(Some(&compiled.project.nodes[index].unique_id));
            let result = work(&connection);
            pool.give_back(connection);
            result
        }
        Err(error) => NodeResult::cannot_connect(index, &error),
    };
    result.started_at = started_at;
    result.completed_at = Utc::now();
    result.seconds = clock.elapsed().as_secs_f64();
    result
}

/// Locks a connection; one a panicking worker left poisoned is still usable.
pub(super) fn lock(
    connection: &SharedConnection,
) -> std::sync::MutexGuard<'_, Box<dyn Connection>> {
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
