//! Loads into BigQuery: Arrow batches as chunks of newline-delimited JSON,
//! one load job each. One chunk goes straight to the table; more go to a
//! self-expiring staging table that one copy job swaps in, and staging
//! tables an interrupted load left behind are dropped first.

use std::time::SystemTime;

use duckdb::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::{BigQueryConnection, KIND, Sent, convert, kind_of_resource, plural_rows, staging};
use crate::adapter::{AdapterError, BuildOutcome, RelationKind, RelationRef};

impl BigQueryConnection {
    /// Sends one chunk of rows as a load job into `destination`.
    fn load_chunk(
        &self,
        sent: &mut Sent,
        destination: &RelationRef,
        schema: &Value,
        write_disposition: &str,
        data: &[u8],
        rows: u64,
    ) -> Result<(), AdapterError> {
        let configuration = json!({
            "load": {
                "destinationTable": self.table_reference(destination),
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "schema": schema,
                "writeDisposition": write_disposition,
                "createDisposition": "CREATE_IF_NEEDED",
                "ignoreUnknownValues": false,
                "maxBadRecords": 0,
            },
            "labels": self.labels(),
        });
        sent.0.push(format!(
            "-- load job: {rows} rows ({} bytes of newline-delimited JSON) into {} ({write_disposition})",
            data.len(),
            KIND.render_relation(destination)
        ));
        self.block(self.api().load_job("a load job", &configuration, data))
            .map(|_| ())
            .map_err(|error| Self::api_error(&error, sent))
    }

    fn copy_table(
        &self,
        sent: &mut Sent,
        from: &RelationRef,
        to: &RelationRef,
        write_disposition: &str,
    ) -> Result<(), AdapterError> {
        let configuration = json!({
            "copy": {
                "sourceTable": self.table_reference(from),
                "destinationTable": self.table_reference(to),
                "writeDisposition": write_disposition,
                "createDisposition": "CREATE_IF_NEEDED",
            },
            "labels": self.labels(),
        });
        sent.0.push(format!(
            "-- copy job: {} into {} ({write_disposition})",
            KIND.render_relation(from),
            KIND.render_relation(to)
        ));
        self.block(self.api().query_job("a copy job", &configuration))
            .map(|_| ())
            .map_err(|error| Self::api_error(&error, sent))
    }

    fn table_reference(&self, relation: &RelationRef) -> Value {
        json!({
            "projectId": self.project_of(relation),
            "datasetId": relation.schema,
            "tableId": relation.identifier,
        })
    }

    /// Deletes the staging tables of `relation` an earlier load left
    /// behind (it was interrupted before it could drop them). Any such
    /// table is stale: a load creates its own, under a new name. Failing to
    /// look is noted, not fatal: the tables expire by themselves.
    fn remove_stale_staging(&self, relation: &RelationRef, sent: &mut Sent) {
        let project = self.project_of(relation);
        let dataset = &relation.schema;
        let tables = match self.block(self.api().list_tables(project, dataset)) {
            Ok(tables) => tables,
            Err(error) => {
                self.api().note(&format!(
                    "cannot look for staging tables left in `{project}.{dataset}`: {}",
                    error.message
                ));
                return;
            }
        };
        for table in tables {
            let Some(name) = table
                .pointer("/tableReference/tableId")
                .and_then(Value::as_str)
            else {
                continue;
            };
            if !staging::is_staging_of(&relation.identifier, name) {
                continue;
            }
            let stale = RelationRef {
                database: relation.database.clone(),
                schema: relation.schema.clone(),
                identifier: name.to_owned(),
            };
            let shown = KIND.render_relation(&stale);
            match self.block(self.api().delete_table(project, dataset, name)) {
                Ok(()) => {
                    sent.0.push(format!(
                        "-- drop stale staging table {shown} (tables.delete)"
                    ));
                    self.api().note(&format!(
                        "dropped {shown}, a staging table an interrupted load left behind"
                    ));
                }
                Err(error) => self.api().note(&format!(
                    "cannot drop {shown}, a staging table an interrupted load left behind: {}",
                    error.message
                )),
            }
        }
    }

    /// Creates the staging table, expiring by itself a day later.
    fn create_staging(
        &self,
        sent: &mut Sent,
        staging: &RelationRef,
        target: &RelationRef,
        schema: &Value,
    ) -> Result<(), AdapterError> {
        let resource = staging::resource(
            &self.table_reference(staging),
            schema,
            &self.labels(),
            &KIND.render_relation(target),
            SystemTime::now(),
        );
        sent.0.push(format!(
            "-- create {} (tables.insert, expires by itself in {} h)",
            KIND.render_relation(staging),
            staging::STAGING_LIFETIME.as_secs() / 3600
        ));
        self.block(self.api().create_table(&resource))
            .map_err(|error| Self::api_error(&error, sent))
    }

    /// After the swap, the table keeps the expiration it had (none, as a
    /// rule), whatever the copy job did with the staging table's.
    fn keep_expiration(
        &self,
        sent: &mut Sent,
        relation: &RelationRef,
        before: Option<&str>,
    ) -> Result<(), AdapterError> {
        let after = self.table(relation)?.and_then(|t| {
            t.get("expirationTime")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if after.as_deref() == before {
            return Ok(());
        }
        sent.0.push(format!(
            "-- keep the expiration of {} ({}; tables.patch)",
            KIND.render_relation(relation),
            before.map_or_else(|| "none".to_owned(), |ms| format!("{ms} ms")),
        ));
        self.block(self.api().set_table_expiration(
            self.project_of(relation),
            &relation.schema,
            &relation.identifier,
            before,
        ))
        .map_err(|error| Self::api_error(&error, sent))
    }

    /// Loads Arrow batches: chunks of newline-delimited JSON, one load job
    /// each. One chunk goes straight to the table (a load job is atomic);
    /// more go to a staging table first, copied over the table in one job
    /// once all have landed, so a failure midway changes nothing.
    pub(super) fn load_arrow(
        &self,
        relation: &RelationRef,
        schema: &Value,
        append: bool,
        batches: &mut dyn Iterator<Item = RecordBatch>,
    ) -> Result<BuildOutcome, AdapterError> {
        let mut sent = Sent::default();
        self.ensure_dataset(relation)?;
        self.remove_stale_staging(relation, &mut sent);
        let existing_table = self.table(relation)?;
        let existing = existing_table.as_ref().map(kind_of_resource);
        if append && existing != Some(RelationKind::Table) {
            return Err(AdapterError::new(format!(
                "cannot append to {}: it does not exist as a table yet",
                KIND.render_relation(relation)
            )));
        }
        let expiration_before = existing_table
            .as_ref()
            .filter(|_| existing == Some(RelationKind::Table))
            .and_then(|t| t.get("expirationTime").and_then(Value::as_str))
            .map(str::to_owned);
        let final_disposition = if append {
            "WRITE_APPEND"
        } else {
            "WRITE_TRUNCATE"
        };
        let chunk_bytes = self.shared.config.upload_chunk_bytes;
        let staging = RelationRef {
            database: relation.database.clone(),
            schema: relation.schema.clone(),
            identifier: staging::staging_name(&relation.identifier, &self.api().new_job_id("t")),
        };
        let mut buffer: Vec<u8> = Vec::new();
        let mut buffered_rows = 0_u64;
        let mut total_rows = 0_u64;
        // Set once the staging table may exist: it is dropped at the end
        // whatever happened.
        let mut staged = false;
        let outcome = (|| -> Result<(), AdapterError> {
            for batch in batches {
                convert::write_ndjson(&batch, &mut buffer)
                    .map_err(|error| AdapterError::new(error.to_string()))?;
                buffered_rows += batch.num_rows() as u64;
                total_rows += batch.num_rows() as u64;
                if buffer.len() >= chunk_bytes {
                    if !staged {
                        staged = true;
                        self.create_staging(&mut sent, &staging, relation, schema)?;
                    }
                    self.load_chunk(
                        &mut sent,
                        &staging,
                        schema,
                        "WRITE_APPEND",
                        &buffer,
                        buffered_rows,
                    )?;
                    buffer.clear();
                    buffered_rows = 0;
                }
            }
            if staged {
                if !buffer.is_empty() {
                    self.load_chunk(
                        &mut sent,
                        &staging,
                        schema,
                        "WRITE_APPEND",
                        &buffer,
                        buffered_rows,
                    )?;
                }
                if existing == Some(RelationKind::View) {
                    self.drop_relation(relation, RelationKind::View, &mut sent)?;
                }
                self.copy_table(&mut sent, &staging, relation, final_disposition)?;
                self.keep_expiration(&mut sent, relation, expiration_before.as_deref())
            } else {
                if existing == Some(RelationKind::View) {
                    self.drop_relation(relation, RelationKind::View, &mut sent)?;
                }
                self.load_chunk(
                    &mut sent,
                    relation,
                    schema,
                    final_disposition,
                    &buffer,
                    buffered_rows,
                )
            }
        })();
        if staged {
            let _ = self.block(self.api().delete_table(
                self.project_of(&staging),
                &staging.schema,
                &staging.identifier,
            ));
            sent.0.push(format!(
                "-- drop {} (tables.delete)",
                KIND.render_relation(&staging)
            ));
        }
        outcome?;
        let verb = if append { "APPEND" } else { "LOAD" };
        Ok(BuildOutcome {
            statements: sent.0,
            rows_affected: Some(total_rows),
            message: format!("{verb} ({})", plural_rows(total_rows)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::super::rest::stand_in::{Answer, Seen, fake_server_with};
    use super::super::settings::tests::fields;
    use super::super::settings::{Overrides, TargetConfig};
    use super::super::{BigQueryAdapter, Connection};
    use super::*;
    use crate::adapter::BatchLoad;
    use crate::interrupt::Interrupt;

    /// Loads `batches` of `id`s into `raw.plans` through the stand-in at
    /// `url`, in upload parts of 10 bytes so every load is resumable.
    fn load_ids_into_raw_plans(url: String, batches: &[Vec<i64>]) -> BuildOutcome {
        use duckdb::arrow::array::Int64Array;
        use duckdb::arrow::datatypes::{DataType, Field, Schema};

        let target =
            fields(&json!({"project": "acme", "dataset": "analytics", "upload_chunk_bytes": 10}));
        let overrides = Overrides {
            api_url: Some(url),
            ..Overrides::default()
        };
        let config = TargetConfig::from_fields(&target, &overrides).expect("settings");
        let adapter =
            BigQueryAdapter::open(config, "inv", Arc::new(|_: &str| {}), &Interrupt::new())
                .expect("adapter");
        let mut connection = adapter.connect_bigquery();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut batches = batches.iter().map(|ids| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(ids.clone()))],
            )
            .expect("a batch")
        });
        connection
            .load_batches(
                &BatchLoad {
                    relation: RelationRef {
                        database: None,
                        schema: "raw".into(),
                        identifier: "plans".into(),
                    },
                    schema: Arc::clone(&schema),
                    append: false,
                },
                &mut batches,
            )
            .expect("loaded")
    }

    #[test]
    fn a_large_load_stages_in_a_self_expiring_table_and_drops_stale_ones() {
        let (url, seen) = fake_server_with(|request| {
            let path = request.path.split('?').next().unwrap_or_default();
            let done = json!({"jobReference": {"projectId": "acme", "jobId": "j1"}, "status": {"state": "DONE"}});
            let answer = match (request.method.as_str(), path) {
                ("GET", "/bigquery/v2/projects/acme/datasets/raw") => {
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "raw"}})
                }
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables") => json!({"tables": [
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans__sb_load_sb_t_1767225600000_0_ab12"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans__sb_load_by_hand"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans_daily__sb_load_sb_t_1767225600000_0_ab12"}},
                    {"tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans"}},
                ]}),
                ("GET", _) => {
                    return Answer::from((
                        404,
                        json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}}),
                    ));
                }
                ("DELETE", _) => Value::Null,
                ("POST", "/bigquery/v2/projects/acme/datasets/raw/tables") => request.json(),
                _ => done,
            };
            Answer::from((200, answer))
        });
        let started = SystemTime::now();
        let outcome = load_ids_into_raw_plans(url, &[vec![0, 1], vec![2, 3], vec![4, 5]]);
        assert_eq!(outcome.message, "LOAD (6 rows)");

        let requests = seen.lock().expect("log").clone();
        let deleted: Vec<&str> = requests
            .iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.path.rsplit('/').next().unwrap_or_default())
            .collect();
        assert_eq!(deleted.len(), 2, "{deleted:?}");
        assert_eq!(deleted[0], "plans__sb_load_sb_t_1767225600000_0_ab12");
        let staging = deleted[1];
        assert!(staging::is_staging_of("plans", staging), "{staging}");

        let created = requests
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/datasets/raw/tables"))
            .expect("the staging table was created")
            .json();
        assert_eq!(created["tableReference"]["tableId"], staging);
        assert_eq!(created["schema"]["fields"][0]["name"], "id");
        assert_eq!(created["labels"]["sb_invocation_id"], "inv");
        let expires: u128 = created["expirationTime"]
            .as_str()
            .and_then(|ms| ms.parse().ok())
            .expect("an expiration time");
        let day_later = (started + staging::STAGING_LIFETIME)
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis();
        assert!(
            expires >= day_later && expires < day_later + 60_000,
            "{expires} vs {day_later}"
        );

        // Three uploads into the staging table, then one copy over `plans`.
        let uploads: Vec<String> = requests
            .iter()
            .filter(|r| r.path.starts_with("/upload/"))
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        assert_eq!(uploads.len(), 3);
        assert!(uploads.iter().all(|u| u.contains(staging)));
        let copy = requests
            .iter()
            .map(Seen::json)
            .find(|job| job.pointer("/configuration/copy").is_some())
            .expect("a copy job");
        assert_eq!(
            copy["configuration"]["copy"]["sourceTable"]["tableId"],
            staging
        );
        assert_eq!(
            copy["configuration"]["copy"]["destinationTable"]["tableId"],
            "plans"
        );
        assert!(
            outcome.statements.iter().any(|s| s.starts_with(
                "-- drop stale staging table `raw`.`plans__sb_load_sb_t_1767225600000_0_ab12`"
            )),
            "{:?}",
            outcome.statements
        );
    }

    /// Should a copy job carry the staging table's expiration over (the
    /// emulator keeps none, so this is shown against a stand-in), the table
    /// gets back the expiration it had: none.
    #[test]
    fn a_swapped_in_table_keeps_its_own_expiration() {
        let copied = Mutex::new(false);
        let (url, seen) = fake_server_with(move |request| {
            let path = request.path.split('?').next().unwrap_or_default();
            let mut copied = copied.lock().expect("state");
            let not_found = json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}});
            let answer = match (request.method.as_str(), path) {
                ("GET", "/bigquery/v2/projects/acme/datasets/raw") => {
                    json!({"datasetReference": {"projectId": "acme", "datasetId": "raw"}})
                }
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables") => json!({}),
                ("GET", "/bigquery/v2/projects/acme/datasets/raw/tables/plans") if *copied => {
                    json!({
                        "tableReference": {"projectId": "acme", "datasetId": "raw", "tableId": "plans"},
                        "schema": {"fields": [{"name": "id", "type": "INTEGER"}]},
                        "expirationTime": "1767312000000",
                    })
                }
                ("GET", _) => return Answer::from((404, not_found)),
                ("POST", "/bigquery/v2/projects/acme/datasets/raw/tables") | ("PATCH", _) => {
                    request.json()
                }
                ("DELETE", _) => Value::Null,
                _ => {
                    if request.json().pointer("/configuration/copy").is_some() {
                        *copied = true;
                    }
                    json!({"jobReference": {"projectId": "acme", "jobId": "j1"}, "status": {"state": "DONE"}})
                }
            };
            Answer::from((200, answer))
        });
        let outcome = load_ids_into_raw_plans(url, &[vec![0], vec![1]]);
        let patched = seen
            .lock()
            .expect("log")
            .iter()
            .find(|r| r.method == "PATCH")
            .cloned()
            .expect("the table's expiration was set back");
        assert!(
            patched.path.ends_with("/datasets/raw/tables/plans"),
            "{}",
            patched.path
        );
        assert_eq!(patched.json(), json!({"expirationTime": null}));
        assert!(
            outcome
                .statements
                .iter()
                .any(|s| s == "-- keep the expiration of `raw`.`plans` (none; tables.patch)"),
            "{:?}",
            outcome.statements
        );
    }
}
