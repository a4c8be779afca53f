//! The relations and schemas sb knows to exist in the DuckDB database: read
//! from the catalog once per adapter, then kept current by the builds, and
//! dropped whenever something may have changed the catalog behind sb's back.

use std::collections::{HashMap, HashSet};
use std::sync::MutexGuard;

use super::DuckDbConnection;
use super::errors::statement_error_message;
use super::query::read_query;
use crate::adapter::{AdapterError, RelationKind, RelationRef};

/// The relations and schemas of the database as sb last saw them, shared by
/// every connection of one adapter. Read from DuckDB's catalog once, then kept
/// up to date by the builds themselves, so a build asks no catalog query:
/// listing `duckdb_tables()` costs time in proportion to the number of
/// relations, and a project of a thousand models would pay it a thousand times.
/// Anything that may change the catalog behind sb's back (hooks, statements
/// run through `execute`, `run_query` with DDL) drops it, and it is read again
/// on the next lookup.
pub(super) struct KnownRelations {
    default_database: String,
    relations: HashMap<RelationKey, RelationKind>,
    pub(super) schemas: HashSet<(String, String)>,
}

/// Database, schema and name, lower-cased: DuckDB's identifiers ignore case.
type RelationKey = (String, String, String);

impl KnownRelations {
    fn read(conn: &duckdb::Connection) -> Result<Self, AdapterError> {
        let sql = "select current_database(), null, null, null \
             union all select database_name, schema_name, null, null from duckdb_schemas() where not internal or schema_name = 'main' \
             union all select database_name, schema_name, table_name, 'table' from duckdb_tables() where not temporary \
             union all select database_name, schema_name, view_name, 'view' from duckdb_views() where not internal and not temporary";
        let result = read_query(conn, sql, None)
            .map_err(|message| statement_error_message(&message.to_string(), sql, Vec::new()))?;
        let mut known = Self {
            default_database: String::new(),
            relations: HashMap::new(),
            schemas: HashSet::new(),
        };
        for row in &result.rows {
            let text = |i: usize| {
                row.get(i)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_lowercase)
            };
            match (text(0), text(1), text(2), text(3).as_deref()) {
                (Some(database), None, None, None) => known.default_database = database,
                (Some(database), Some(schema), None, None) => {
                    known.schemas.insert((database, schema));
                }
                (Some(database), Some(schema), Some(name), Some(kind)) => {
                    let kind = if kind == "view" {
                        RelationKind::View
                    } else {
                        RelationKind::Table
                    };
                    known.relations.insert((database, schema, name), kind);
                }
                _ => {}
            }
        }
        Ok(known)
    }

    fn key(&self, relation: &RelationRef) -> RelationKey {
        (
            relation
                .database
                .as_deref()
                .map_or_else(|| self.default_database.clone(), str::to_lowercase),
            relation.schema.to_lowercase(),
            relation.identifier.to_lowercase(),
        )
    }

    pub(super) fn schema_key(&self, relation: &RelationRef) -> (String, String) {
        let (database, schema, _) = self.key(relation);
        (database, schema)
    }
}

impl DuckDbConnection {
    pub(super) fn lock_known(&self) -> MutexGuard<'_, Option<KnownRelations>> {
        // The cache is rebuilt from the catalog when in doubt: a poisoned
        // lock is cleared rather than trusted.
        self.known.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    /// Runs `look` over the known relations, reading them first if needed.
    pub(super) fn with_known<T>(
        &self,
        look: impl FnOnce(&mut KnownRelations) -> T,
    ) -> Result<T, AdapterError> {
        let mut guard = self.lock_known();
        let known = match guard.take() {
            Some(known) => known,
            None => KnownRelations::read(&self.conn)?,
        };
        Ok(look(guard.insert(known)))
    }

    pub(super) fn known_kind(
        &self,
        relation: &RelationRef,
    ) -> Result<Option<RelationKind>, AdapterError> {
        self.with_known(|known| known.relations.get(&known.key(relation)).copied())
    }

    /// Records what a build left at `relation` (when the cache is loaded).
    pub(super) fn remember(&self, relation: &RelationRef, kind: RelationKind) {
        if let Some(known) = self.lock_known().as_mut() {
            let key = known.key(relation);
            known.relations.insert(key, kind);
        }
    }

    /// Forgets the cache: the catalog may have changed in ways sb cannot see.
    pub(super) fn forget_known(&self) {
        *self.lock_known() = None;
    }
}
