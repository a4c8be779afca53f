//! Jobs: inserted through gcp-bigquery-client under ids sb chooses, polled
//! until done (cancelled at `job_timeout`), attached to after a 409, run
//! again under a new id after a retryable failure, tracked while running so
//! an interrupt can cancel them; and the pages of a query's results, sb's
//! own request (timestamps as integer microseconds).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use gcp_bigquery_client::model::job::Job;
use serde_json::{Value, json};

use super::error::short_reason;
use super::{Api, ApiError, encode, to_json};

impl Api {
    /// Runs a job to completion. `submit` sends the job under a given id
    /// (an `insert` or an upload). A call that fails in transit is repeated
    /// under the same id, and a 409 then means BigQuery had accepted it: sb
    /// attaches to that job instead of running it twice. A job that failed
    /// for a retryable reason runs again under a new id.
    pub async fn run_job<F, Fut>(&self, what: &str, mut submit: F) -> Result<Value, ApiError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<Value, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            let job_id = self.new_job_id("job");
            let submitted = submit(job_id.clone()).await;
            let job = match submitted {
                Ok(job) => job,
                Err(error) if error.is_duplicate() => {
                    self.note(&format!(
                        "{what}: job {job_id} was already accepted; waiting for it"
                    ));
                    self.get_job(&job_id).await?
                }
                Err(error) => return Err(error),
            };
            // BigQuery keeps the id sb chose; follow the one it reports.
            let job_id = job
                .pointer("/jobReference/jobId")
                .and_then(Value::as_str)
                .map_or(job_id, str::to_owned);
            let done = self.wait(&job_id, job).await?;
            match ApiError::from_body(None, &done) {
                None => return Ok(done),
                Some(error) if error.retryable && attempt < self.retry.retries => {
                    let delay = self.retry.delay(attempt, self.next_jitter());
                    attempt += 1;
                    self.note(&format!(
                        "retrying {what} as a new job in {:.1}s (job {job_id} failed: {}; attempt {} of {})",
                        delay.as_secs_f64(),
                        short_reason(&error),
                        attempt + 1,
                        self.retry.retries + 1
                    ));
                    tokio::time::sleep(delay).await;
                }
                Some(error) => return Err(error),
            }
        }
    }

    /// Inserts a job with this configuration and waits for it.
    pub async fn query_job(&self, what: &str, configuration: &Value) -> Result<Value, ApiError> {
        self.run_job(what, |job_id| {
            let body = json!({
                "jobReference": self.job_reference(&job_id),
                "configuration": configuration,
            });
            // Boxed: the crate's `Job` makes this future some 20 KB.
            async move { Box::pin(self.insert_job(what, body)).await }
        })
        .await
    }

    /// `jobs.insert` through the crate: sb's job JSON becomes the crate's
    /// `Job` (every field sb sets has a place there; a unit test holds
    /// that), and the answer comes back as JSON.
    async fn insert_job(&self, what: &str, body: Value) -> Result<Value, ApiError> {
        let job: Job = serde_json::from_value(body)
            .map_err(|err| ApiError::new(format!("cannot describe the job to BigQuery: {err}")))?;
        let inserted = self
            .retrying(&format!("{what} (submitting the job)"), || {
                let job = job.clone();
                async move {
                    self.bq
                        .job()
                        .insert(&self.project, job)
                        .await
                        .map_err(ApiError::from_bq)
                }
            })
            .await?;
        to_json(&inserted)
    }

    pub(super) fn job_reference(&self, job_id: &str) -> Value {
        let mut reference = json!({"projectId": self.project, "jobId": job_id});
        if let Some(location) = &self.location {
            reference["location"] = Value::from(location.as_str());
        }
        reference
    }

    async fn get_job(&self, job_id: &str) -> Result<Value, ApiError> {
        let job = self
            .retrying("reading a job's state", || async move {
                self.bq
                    .job()
                    .get_job(&self.project, job_id, self.location.as_deref())
                    .await
                    .map_err(ApiError::from_bq)
            })
            .await?;
        to_json(&job)
    }

    /// Polls a job until it is done (or cancels it at `job_timeout`).
    async fn wait(&self, job_id: &str, mut job: Value) -> Result<Value, ApiError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        self.track(job_id, true);
        let outcome = loop {
            if job.pointer("/status/state").and_then(Value::as_str) == Some("DONE") {
                break Ok(job);
            }
            // The interrupt's hook has cancelled the running jobs: a job
            // the warehouse still reports as running is given up on.
            if crate::interrupt::cancelled() {
                break Err(ApiError::new(format!(
                    "job {job_id} was cancelled: the run was interrupted"
                )));
            }
            if let Some(limit) = self.job_timeout
                && started.elapsed() > limit
            {
                self.cancel(job_id).await;
                break Err(ApiError::new(format!(
                    "job {job_id} ran longer than job_timeout ({}s) and was cancelled",
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            job = match self.get_job(job_id).await {
                Ok(job) => job,
                Err(error) => break Err(error),
            };
        };
        self.track(job_id, false);
        outcome
    }

    fn track(&self, job_id: &str, running: bool) {
        if let Ok(mut set) = self.running.lock() {
            if running {
                set.insert(job_id.to_owned());
            } else {
                set.remove(job_id);
            }
        }
    }

    /// Jobs submitted and not finished.
    pub fn running_jobs(&self) -> Vec<String> {
        self.running
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Asks BigQuery to cancel a job, once; errors are ignored (it may be
    /// done already).
    pub async fn cancel(&self, job_id: &str) {
        let _ = self
            .bq
            .job()
            .cancel_job(&self.project, job_id, self.location.as_deref())
            .await;
    }

    /// The rows of a finished query job, in pages, at most `limit`. sb's own
    /// request (see the module's notes): timestamps as integer microseconds.
    pub async fn results(
        &self,
        job_id: &str,
        limit: Option<usize>,
    ) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        let mut rows: Vec<Value> = Vec::new();
        let mut fields = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}?{}&formatOptions.useInt64Timestamp=true",
                self.v2(&format!("/queries/{}", encode(job_id))),
                self.location_query()
            );
            if let Some(limit) = limit {
                let _ = write!(url, "&maxResults={}", limit.saturating_sub(rows.len()));
            }
            if let Some(token) = &page_token {
                let _ = write!(url, "&pageToken={}", encode(token));
            }
            let url = &url;
            let page = self
                .retrying("reading query results", || async move {
                    let response = self.send_raw(self.http.get(url)).await?;
                    Self::json_answer(response).await
                })
                .await?;
            if page.get("jobComplete").and_then(Value::as_bool) == Some(false) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            if fields.is_empty()
                && let Some(list) = page.pointer("/schema/fields").and_then(Value::as_array)
            {
                fields.clone_from(list);
            }
            if let Some(list) = page.get("rows").and_then(Value::as_array) {
                rows.extend(list.iter().cloned());
            }
            page_token = page
                .get("pageToken")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let full = limit.is_some_and(|l| rows.len() >= l);
            if page_token.is_none() || full {
                if let Some(limit) = limit {
                    rows.truncate(limit);
                }
                return Ok((fields, rows));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::super::stand_in::{Seen, api, block, fake_server};
    use super::*;

    #[test]
    fn jobs_keep_every_field_sb_sets_through_the_crates_model() {
        let labels = json!({"sb_invocation_id": "abc", "sb_node": "model_x"});
        let query = crate::adapter::bigquery::sql::query_configuration(
            "/* {\"app\":\"sb\"} */",
            "select 1",
            "BATCH",
            Some(1000),
            &labels,
            true,
        );
        let copy = json!({
            "copy": {
                "sourceTable": {"projectId": "p", "datasetId": "d", "tableId": "t__sb_load_x"},
                "destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"},
                "writeDisposition": "WRITE_TRUNCATE",
                "createDisposition": "CREATE_IF_NEEDED",
            },
            "labels": labels,
        });
        for configuration in [query, copy] {
            let body = json!({
                "jobReference": {"projectId": "p", "jobId": "sb_job_1", "location": "EU"},
                "configuration": configuration,
            });
            let job: Job = serde_json::from_value(body.clone()).expect("fits the model");
            assert_eq!(serde_json::to_value(&job).expect("JSON"), body);
        }
    }

    fn job_ids(seen: &Mutex<Vec<Seen>>) -> Vec<String> {
        seen.lock()
            .expect("log")
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/jobs"))
            .filter_map(|r| {
                r.json()
                    .pointer("/jobReference/jobId")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn a_job_that_failed_for_a_retryable_reason_runs_again_under_a_new_id() {
        let calls = AtomicU64::new(0);
        let (url, seen) = fake_server(move |_, _, body| {
            let mut job =
                json!({"jobReference": body["jobReference"], "status": {"state": "DONE"}});
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                job["status"]["errorResult"] =
                    json!({"reason": "backendError", "message": "try again"});
            }
            (200, job)
        });
        let done = block(api(&url).query_job("a query", &json!({"query": {"query": "select 1"}})))
            .expect("the second job succeeds");
        assert_eq!(done.pointer("/status/state"), Some(&json!("DONE")));
        let ids = job_ids(&seen);
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_ne!(ids[0], ids[1], "a new job id for the new attempt");
    }

    #[test]
    fn a_job_that_failed_for_good_is_not_run_again() {
        let (url, seen) = fake_server(|_, _, body| {
            (
                200,
                json!({"jobReference": body["jobReference"], "status": {"state": "DONE", "errorResult": {"reason": "invalidQuery", "message": "Unrecognized name: x at [1:8]"}}}),
            )
        });
        let error = block(api(&url).query_job("a query", &json!({"query": {"query": "select x"}})))
            .expect_err("a failure");
        assert_eq!(error.message, "Unrecognized name: x at [1:8]");
        assert_eq!(job_ids(&seen).len(), 1);
    }

    #[test]
    fn a_resubmitted_job_that_already_exists_is_attached_to() {
        // The first insert's answer is a 503 although the job was accepted:
        // the retry under the same id meets a 409, and sb waits for that job.
        let inserts = AtomicU64::new(0);
        let (url, seen) = fake_server(move |method, _, body| match method {
            "POST" if inserts.fetch_add(1, Ordering::SeqCst) == 0 => (503, json!({})),
            "POST" => (
                409,
                json!({"error": {"code": 409, "message": "Already Exists", "errors": [{"reason": "duplicate", "message": "Already Exists"}]}}),
            ),
            _ => (
                200,
                json!({"jobReference": body["jobReference"], "status": {"state": "DONE"}}),
            ),
        });
        block(api(&url).query_job("a query", &json!({"query": {"query": "insert ..."}})))
            .expect("attached");
        let ids = job_ids(&seen);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], ids[1], "the same job id both times");
        let polled = seen
            .lock()
            .expect("log")
            .iter()
            .any(|r| r.method == "GET" && r.path.contains(&ids[0]));
        assert!(polled, "sb read the accepted job's state");
    }

    #[test]
    fn a_job_over_its_timeout_is_cancelled() {
        let (url, seen) = fake_server(|_, path, body| {
            if path.contains("/cancel") {
                (200, json!({}))
            } else {
                (
                    200,
                    json!({"jobReference": body.get("jobReference").cloned().unwrap_or(json!({"jobId": "x"})), "status": {"state": "RUNNING"}}),
                )
            }
        });
        let mut api = api(&url);
        api.job_timeout = Some(Duration::from_millis(300));
        let error = block(api.query_job("a query", &json!({"query": {"query": "select 1"}})))
            .expect_err("timed out");
        assert!(error.message.contains("job_timeout"), "{}", error.message);
        let cancelled = seen
            .lock()
            .expect("log")
            .iter()
            .any(|r| r.method == "POST" && r.path.contains("/cancel"));
        assert!(cancelled);
    }
}
