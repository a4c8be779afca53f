//! The warehouse side of a command: opening the target's adapter, and
//! creating the schemas a run builds into before any worker starts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::adapter::{Adapter, AdapterKind};
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Diagnostics};
use crate::execute::ConnectionPool;
use crate::project::Project;
use crate::project::settings::ProjectFormat;
use crate::report::Reporter;
use crate::resource::NodeId;
use crate::session::Session;

/// Opens the warehouse of the project's target.
pub fn open_adapter(
    project: &Project,
    session: &Session,
    reporter: &Reporter,
) -> Result<Box<dyn Adapter>, Diagnostics> {
    let invocation_id = session.invocation.id.as_str();
    match project.target.kind {
        AdapterKind::Duckdb => {
            let path = project
                .target
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(":memory:"));
            let setup = project.target.duckdb.clone().unwrap_or_default();
            let opened = open_duckdb_waiting(&path, &setup, session, reporter)?;
            if let Ok(adapter) = &opened {
                // Ctrl-C / SIGTERM interrupt the statements running now; the
                // nodes fail (their transactions roll back) and the run ends.
                session.interrupt().on_interrupt(adapter.interrupter());
            }
            let adapter = opened.map_err(|error| {
                Diagnostic::error(format!(
                    "cannot open the DuckDB file {}: {}",
                    path.display(),
                    error.message
                ))
                .help(match project.settings.format {
                    ProjectFormat::Sb => "check the target's `path` in project.yml; another process may hold the file open",
                    ProjectFormat::Dbt => "check the output's `path`, `extensions`, `settings` and `attach` in profiles.yml; another process may hold the file open",
                })
            })?;
            Ok(Box::new(adapter))
        }
        AdapterKind::Bigquery => {
            let target = &project.target;
            let config = target.bigquery.clone().ok_or_else(|| {
                Diagnostic::error(format!(
                    "target `{}` was loaded without its BigQuery settings",
                    target.name
                ))
            })?;
            let notes = reporter.clone();
            let log: crate::adapter::bigquery::rest::Log =
                std::sync::Arc::new(move |message: &str| notes.note(message));
            let opened = crate::adapter::bigquery::BigQueryAdapter::open(
                config,
                invocation_id,
                log,
                &session.interrupt(),
            );
            let adapter = opened.map_err(|error| {
                Diagnostic::error(format!(
                    "cannot connect to BigQuery (target `{}`): {}",
                    target.name, error.message
                ))
                .help("set `keyfile` to a service-account key, or sign in with application default credentials; `api_url` (or SB_BIGQUERY_API_URL) points sb at an emulator")
            })?;
            Ok(Box::new(adapter))
        }
    }
}

/// Opens a DuckDB file. While another process holds it (DuckDB allows one
/// writer), waits for it, saying so every few seconds, up to
/// `SB_DUCKDB_LOCK_TIMEOUT` seconds (60 by default), then fails naming
/// that process; never DuckDB's lock error as it stands.
fn open_duckdb_waiting(
    path: &std::path::Path,
    setup: &crate::adapter::duckdb::Setup,
    session: &Session,
    reporter: &Reporter,
) -> Result<Result<crate::adapter::duckdb::DuckDbAdapter, crate::adapter::AdapterError>, Diagnostics>
{
    let timeout = session.env.duckdb_lock_timeout;
    let started = std::time::Instant::now();
    let mut told = None::<std::time::Instant>;
    loop {
        let opened = crate::adapter::duckdb::DuckDbAdapter::open_with(path, setup);
        let holder = match &opened {
            Err(error) => lock_holder(&error.message),
            Ok(_) => None,
        };
        let Some(holder) = holder else {
            return Ok(opened);
        };
        if started.elapsed() >= timeout || crate::interrupt::requested().is_some() {
            return Err(Diagnostics::from(
                Diagnostic::error(format!(
                    "the DuckDB file {} is in use by another process ({holder}); waited {}s for it",
                    path.display(),
                    started.elapsed().as_secs()
                ))
                .help("wait for the other sb (or DuckDB client) to finish, or stop it; SB_DUCKDB_LOCK_TIMEOUT sets how many seconds sb waits"),
            ));
        }
        if told.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(5)) {
            reporter.warning(&format!(
                "waiting for {holder} to release the DuckDB file {} (up to {}s)",
                path.display(),
                timeout.as_secs()
            ));
            told = Some(std::time::Instant::now());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// From DuckDB's error when a file is locked (`Could not set lock on file
/// ...: Conflicting lock is held in /usr/bin/sb (PID 1234) ...`), the
/// holder as `process 1234 (/usr/bin/sb)`; `None` for any other error.
fn lock_holder(message: &str) -> Option<String> {
    if !message.contains("Could not set lock on file") {
        return None;
    }
    let held = message
        .split_once("Conflicting lock is held in ")
        .map(|(_, rest)| rest);
    let Some(rest) = held else {
        return Some("another process".to_string());
    };
    let (program, after) = rest.split_once(" (PID ").unwrap_or((rest, ""));
    let pid: String = after.chars().take_while(char::is_ascii_digit).collect();
    Some(if pid.is_empty() {
        format!("another process ({})", program.trim())
    } else {
        format!("process {pid} ({})", program.trim())
    })
}

/// Creates, one at a time, every schema the selected nodes build into, so
/// parallel workers never race to create the same one.
pub fn create_schemas(
    compiled: &CompiledProject,
    selected: &BTreeSet<NodeId>,
    pool: &ConnectionPool<'_>,
) -> Result<(), Diagnostics> {
    let schemas: BTreeSet<(Option<String>, String)> = selected
        .iter()
        .filter_map(|&i| compiled.nodes[i].relation.as_ref())
        .map(|r| (r.database.clone(), r.schema.clone()))
        .collect();
    if schemas.is_empty() {
        return Ok(());
    }
    let connection = pool
        .take()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    for (database, schema) in &schemas {
        let created = connection
            .lock()
            .map_err(|_| Diagnostic::error("connection lock poisoned"))?
            .create_schema(database.as_deref(), schema);
        created.map_err(|e| {
            Diagnostic::error(format!("cannot create schema `{schema}`: {}", e.message))
                .help("check that the target's database is writable")
        })?;
    }
    pool.give_back(connection);
    Ok(())
}
