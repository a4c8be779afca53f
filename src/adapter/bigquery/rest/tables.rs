//! Tables and datasets: read, listed page by page, created, dropped through
//! gcp-bigquery-client, and a table's expiration set or cleared by sb's own
//! `tables.patch` (the crate's table model cannot send a `null`).

use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::table::ListOptions;
use serde_json::{Value, json};

use super::{Api, ApiError, to_json};

impl Api {
    /// A table's resource, `None` when it does not exist.
    pub async fn get_table(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
    ) -> Result<Option<Value>, ApiError> {
        let got = self
            .retrying("reading a table", || async move {
                self.bq
                    .table()
                    .get(project, dataset, table, None)
                    .await
                    .map_err(ApiError::from_bq)
            })
            .await;
        match got {
            Ok(table) => to_json(&table).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The tables of a dataset (their list entries), every page; none when
    /// the dataset does not exist.
    pub async fn list_tables(&self, project: &str, dataset: &str) -> Result<Vec<Value>, ApiError> {
        let mut tables = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let listed = self
                .retrying("listing tables", || {
                    let options = page_token
                        .clone()
                        .map_or_else(ListOptions::default, |token| {
                            ListOptions::default().page_token(token)
                        });
                    async move {
                        self.bq
                            .table()
                            .list(project, dataset, options)
                            .await
                            .map_err(ApiError::from_bq)
                    }
                })
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(error) if error.is_not_found() => return Ok(tables),
                Err(error) => return Err(error),
            };
            for table in page.tables.unwrap_or_default() {
                tables.push(to_json(&table)?);
            }
            // Some servers (the emulator) leave the token out on the last
            // page; one that repeats itself ends the listing too.
            match page.next_page_token {
                Some(token) if !token.is_empty() && page_token.as_ref() != Some(&token) => {
                    page_token = Some(token);
                }
                _ => return Ok(tables),
            }
        }
    }

    /// Creates a table from its resource (`tableReference`, `schema`,
    /// `expirationTime`, ...). A 409 after a retry is the earlier attempt's
    /// table.
    pub async fn create_table(&self, resource: &Value) -> Result<(), ApiError> {
        let table: Table = serde_json::from_value(resource.clone()).map_err(|err| {
            ApiError::new(format!("cannot describe the table to BigQuery: {err}"))
        })?;
        let mut attempts = 0;
        let created = self
            .retrying("creating a table", || {
                attempts += 1;
                let table = table.clone();
                async move {
                    self.bq
                        .table()
                        .create(table)
                        .await
                        .map_err(ApiError::from_bq)
                }
            })
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error) if error.is_duplicate() && attempts > 1 => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn delete_table(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
    ) -> Result<(), ApiError> {
        let deleted = self
            .retrying("dropping a table", || async move {
                self.bq
                    .table()
                    .delete(project, dataset, table)
                    .await
                    .map_err(ApiError::from_bq)
            })
            .await;
        match deleted {
            Ok(()) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Sets a table's `expirationTime` (milliseconds since the epoch as
    /// text), or clears it with `None`: sb's own `tables.patch`, since only
    /// a `null` clears it.
    pub async fn set_table_expiration(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
        expiration: Option<&str>,
    ) -> Result<(), ApiError> {
        let url = &self.table_url(project, dataset, table);
        let body = &json!({ "expirationTime": expiration });
        self.retrying("setting a table's expiration", || async move {
            let response = self.send_raw(self.http.patch(url).json(body)).await?;
            Self::json_answer(response).await.map(|_| ())
        })
        .await
    }

    /// Creates a dataset in the target's location unless it exists.
    pub async fn ensure_dataset(&self, project: &str, dataset: &str) -> Result<bool, ApiError> {
        let found = self
            .retrying("reading a dataset", || async move {
                self.bq
                    .dataset()
                    .get(project, dataset)
                    .await
                    .map_err(ApiError::from_bq)
            })
            .await;
        match found {
            Ok(_) => return Ok(false),
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
        let mut resource = Dataset::new(project, dataset);
        if let Some(location) = &self.location {
            resource = resource.location(location);
        }
        let created = self
            .retrying("creating a dataset", || {
                let resource = resource.clone();
                async move {
                    self.bq
                        .dataset()
                        .create(resource)
                        .await
                        .map_err(ApiError::from_bq)
                }
            })
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(error) if error.is_duplicate() => Ok(false),
            Err(error) => Err(error),
        }
    }
}
