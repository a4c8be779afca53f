//! BigQuery's REST API as sb uses it, with the retries Google's own clients
//! make: jobs (insert, poll, cancel), datasets and tables go through
//! gcp-bigquery-client's `Client`, on sb's reqwest client and the target's
//! authenticator; this module adds the job ids, the polling, the retries and
//! the attach-on-409, and turns the crate's `BQError` into sb's `ApiError`.
//!
//! Three requests are sb's own, on the same reqwest client and token:
//! - load-job uploads (`upload`): the crate cannot upload local data;
//! - query results (`results`): sb asks for timestamps as integer
//!   microseconds (`formatOptions.useInt64Timestamp`), and the crate sends
//!   its parameters through serde_urlencoded, which cannot write that nested
//!   field (the request fails before it is sent);
//! - clearing a table's expiration (`set_table_expiration`): the crate's
//!   table model leaves unset fields out, so it cannot send a `null`.
//!
//! Whatever the HTTP status, an answer carrying an `errors` field or a job's
//! `status.errorResult` is a failure.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gcp_bigquery_client::Client;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::client_builder::ClientBuilder;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::job::Job;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::table::ListOptions;
use serde_json::{Value, json};

use super::auth::Credentials;

/// Error reasons (`errors[].reason`) worth another attempt.
const RETRYABLE_REASONS: &[&str] = &[
    "rateLimitExceeded",
    "backendError",
    "internalError",
    "badGateway",
    "jobRateLimitExceeded",
    "jobBackendError",
    "jobInternalError",
];

/// HTTP statuses worth another attempt.
const RETRYABLE_STATUSES: &[u16] = &[429, 500, 502, 503, 504];

/// The longest one HTTP exchange may take (an upload's chunk included).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(10);

/// Something to note in the run's log (retries, cancellations).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// How often, and how patiently, failed calls and jobs are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 5,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "full jitter" between half and all of the step.
    fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let step = self
            .initial
            .saturating_mul(1_u32 << attempt.min(16))
            .min(self.max);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A failed call or job.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub message: String,
    /// A transport failure (reset, timeout) or a retryable status or reason.
    pub retryable: bool,
}

impl ApiError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            status: None,
            reason: None,
            message: message.into(),
            retryable: false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || self.reason.as_deref() == Some("notFound")
    }

    pub(super) fn is_duplicate(&self) -> bool {
        self.status == Some(409) || self.reason.as_deref() == Some("duplicate")
    }

    /// An answer with only its status to go by.
    pub(super) fn from_status(status: u16) -> Self {
        Self {
            status: Some(status),
            reason: None,
            message: format!("BigQuery answered HTTP {status}"),
            retryable: RETRYABLE_STATUSES.contains(&status),
        }
    }

    /// Builds an error from an `{"error": {...}}` body, a job's
    /// `status.errorResult` / `status.errors`, or a top-level `errors` list.
    fn from_body(status: Option<u16>, body: &Value) -> Option<Self> {
        let error = body.get("error").filter(|e| e.is_object());
        let job_status = body.get("status").filter(|s| s.is_object());
        let errors: Vec<&Value> = [
            error.and_then(|e| e.get("errors")),
            job_status.and_then(|s| s.get("errors")),
            body.get("errors"),
        ]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .collect();
        let main = job_status
            .and_then(|s| s.get("errorResult"))
            .filter(|e| e.is_object())
            .or_else(|| errors.first().copied());
        if error.is_none() && main.is_none() {
            return None;
        }
        let text = |v: Option<&Value>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let reason = text(main, "reason");
        let mut message = text(main, "message")
            .or_else(|| text(error, "message"))
            .unwrap_or_else(|| "BigQuery reported an error".to_owned());
        for extra in errors.iter().filter_map(|e| text(Some(e), "message")) {
            if !message.contains(&extra) {
                message.push('\n');
                message.push_str(&extra);
            }
        }
        let retryable = status.is_some_and(|s| RETRYABLE_STATUSES.contains(&s))
            || reason
                .as_deref()
                .is_some_and(|r| RETRYABLE_REASONS.contains(&r));
        Some(Self {
            status,
            reason,
            message,
            retryable,
        })
    }

    /// gcp-bigquery-client's error as sb's: BigQuery's error answer keeps
    /// its status and reasons (so the same ones are retried), a transport
    /// failure is retryable, and a token failure is not.
    pub(super) fn from_bq(error: BQError) -> Self {
        match error {
            BQError::ResponseError { error } => {
                let nested = error.error;
                let status = u16::try_from(nested.code).ok();
                let body = json!({"error": {
                    "code": nested.code,
                    "message": nested.message,
                    "errors": nested.errors,
                }});
                Self::from_body(status, &body).unwrap_or_else(|| Self::new("BigQuery failed"))
            }
            BQError::RequestError(err) => Self::transport(&err),
            BQError::YupAuthError(err) => {
                Self::new(format!("cannot get a BigQuery access token: {err}"))
            }
            BQError::AuthError(err) => {
                Self::new(format!("cannot get a BigQuery access token: {err}"))
            }
            BQError::NoToken => {
                Self::new("cannot get a BigQuery access token: the token endpoint sent none")
            }
            other => Self::new(other.to_string()),
        }
    }

    /// A request that failed in transit, or whose answer could not be read.
    /// gcp-bigquery-client reads every answer as JSON of the shape it
    /// expects and drops the HTTP status when that fails, so an error page
    /// in HTML (a proxy's or Google's front end's 502 or 503) arrives as
    /// such a failure: worth another attempt, like a reset or a timeout.
    pub(super) fn transport(err: &reqwest::Error) -> Self {
        if err.is_decode() {
            return Self {
                status: None,
                reason: None,
                message: format!(
                    "BigQuery's answer could not be read ({})",
                    innermost_cause(err)
                ),
                retryable: true,
            };
        }
        Self {
            status: err.status().map(|s| s.as_u16()),
            reason: None,
            message: describe_transport(err),
            retryable: true,
        }
    }
}

fn innermost_cause(err: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    detail
}

/// A transport failure in words, without the URL (an upload session's URL
/// is itself a credential for that upload).
pub fn describe_transport(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "the connection broke while reading the answer"
    } else {
        "the connection failed"
    };
    let detail = innermost_cause(err);
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// A resource of the crate's model as the JSON sb reads.
fn to_json(value: &impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value)
        .map_err(|err| ApiError::new(format!("cannot read BigQuery's answer: {err}")))
}

/// The connection settings every call needs.
pub struct Api {
    bq: Client,
    pub(super) http: reqwest::Client,
    auth: Arc<dyn Authenticator>,
    /// Service root, e.g. `https://bigquery.googleapis.com`.
    pub(super) root: String,
    pub project: String,
    pub location: Option<String>,
    pub retry: RetryPolicy,
    /// Longest a job may run before sb cancels it.
    pub job_timeout: Option<Duration>,
    /// When an upload goes up in a resumable session, and in what parts.
    pub upload: super::upload::UploadPolicy,
    log: Log,
    /// Jobs submitted and not yet finished, for Ctrl-C.
    running: Mutex<HashSet<String>>,
    jitter: AtomicU64,
    counter: AtomicU64,
}

impl Api {
    /// Sets up the client for the service root `root`: gcp-bigquery-client
    /// on `{root}/bigquery/v2`, uploads on `{root}/upload/bigquery/v2`.
    pub async fn new(
        root: &str,
        project: String,
        location: Option<String>,
        credentials: &Credentials,
        log: Log,
    ) -> Result<Self, String> {
        // No redirects: a resumable upload's "308 Resume Incomplete" is an
        // answer to read, not a redirect to follow.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot set up HTTPS: {}", describe_transport(&err)))?;
        let root = root.trim_end_matches('/').to_owned();
        let auth = credentials.authenticator();
        let mut builder = ClientBuilder::new();
        builder
            .with_v2_base_url(format!("{root}/bigquery/v2"))
            .with_client(http.clone());
        let bq = builder
            .build_from_authenticator(Arc::clone(&auth))
            .await
            .map_err(|err| {
                format!(
                    "cannot set up the BigQuery client: {}",
                    ApiError::from_bq(err).message
                )
            })?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Ok(Self {
            bq,
            http,
            auth,
            root,
            project,
            location,
            retry: RetryPolicy::default(),
            job_timeout: None,
            upload: super::upload::UploadPolicy::default(),
            log,
            running: Mutex::new(HashSet::new()),
            jitter: AtomicU64::new(seed | 1),
            counter: AtomicU64::new(0),
        })
    }

    pub(super) fn note(&self, message: &str) {
        (self.log)(message);
    }

    /// A number in [0, 1) from a shared xorshift generator.
    fn next_jitter(&self) -> f64 {
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A fresh job id: `sb_<prefix>_<time>_<counter>_<random>`.
    pub fn new_job_id(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let random = (self.next_jitter() * 1e12) as u64;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("sb_{prefix}_{millis}_{n}_{random:x}")
    }

    pub fn v2(&self, path: &str) -> String {
        format!("{}/bigquery/v2/projects/{}{path}", self.root, self.project)
    }

    fn table_url(&self, project: &str, dataset: &str, table: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/datasets/{}/tables/{}",
            self.root,
            encode(project),
            encode(dataset),
            encode(table)
        )
    }

    fn location_query(&self) -> String {
        self.location
            .as_deref()
            .map(|l| format!("location={}", encode(l)))
            .unwrap_or_default()
    }

    /// Sends a request of sb's own (no retries) with the target's token.
    pub(super) async fn send_raw(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let token = self.auth.access_token().await.map_err(ApiError::from_bq)?;
        request
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| ApiError::transport(&err))
    }

    /// An answer read as JSON: a failure when its status says so, or when a
    /// 2xx answer carries `errors` (a job's own failure is left to the
    /// caller, who may run it again under a new id).
    pub(super) async fn json_answer(response: reqwest::Response) -> Result<Value, ApiError> {
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| ApiError::transport(&err))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(value) => value,
                Err(_) if (200..300).contains(&status) => {
                    return Err(ApiError {
                        status: Some(status),
                        reason: None,
                        message: "BigQuery answered with something that is not JSON".into(),
                        retryable: true,
                    });
                }
                Err(_) => Value::Null,
            }
        };
        if (200..300).contains(&status) {
            match ApiError::from_body(Some(status), &value) {
                Some(error) if value.get("status").is_none() => Err(error),
                _ => Ok(value),
            }
        } else {
            Err(ApiError::from_body(Some(status), &value)
                .unwrap_or_else(|| ApiError::from_status(status)))
        }
    }

    /// Waits before another attempt of `what`, saying so in the log.
    pub(super) async fn back_off(&self, what: &str, error: &ApiError, attempt: u32) {
        let delay = self.retry.delay(attempt, self.next_jitter());
        self.note(&format!(
            "retrying {what} in {:.1}s ({}; attempt {} of {})",
            delay.as_secs_f64(),
            short_reason(error),
            attempt + 2,
            self.retry.retries + 1
        ));
        tokio::time::sleep(delay).await;
    }

    /// A call made again, with backoff, while it fails in a retryable way.
    pub(super) async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error) if error.retryable && attempt < self.retry.retries => {
                    self.back_off(what, &error, attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

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

fn short_reason(error: &ApiError) -> String {
    match (&error.reason, error.status) {
        (Some(reason), Some(status)) => format!("HTTP {status} {reason}"),
        (Some(reason), None) => reason.clone(),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => error.message.lines().next().unwrap_or_default().to_owned(),
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gcp_bigquery_client::error::{NestedResponseError, ResponseError};

    #[test]
    fn job_errors_in_a_200_answer_are_failures() {
        let job = json!({"status": {"state": "DONE", "errorResult": {"reason": "invalidQuery", "message": "Syntax error: Unexpected keyword FROM at [3:1]"}}});
        let error = ApiError::from_body(Some(200), &job).expect("an error");
        assert_eq!(error.reason.as_deref(), Some("invalidQuery"));
        assert!(error.message.contains("at [3:1]"));
        assert!(!error.retryable);

        let listed = json!({"errors": [{"reason": "backendError", "message": "try again"}]});
        let error = ApiError::from_body(Some(200), &listed).expect("an error");
        assert!(error.retryable);

        assert!(ApiError::from_body(Some(200), &json!({"status": {"state": "DONE"}})).is_none());
    }

    #[test]
    fn retryable_statuses_and_reasons() {
        for status in [429, 500, 502, 503] {
            let error = ApiError::from_body(
                Some(status),
                &json!({"error": {"code": status, "message": "x"}}),
            )
            .expect("an error");
            assert!(error.retryable, "{status}");
        }
        let error = ApiError::from_body(
            Some(403),
            &json!({"error": {"errors": [{"reason": "rateLimitExceeded", "message": "slow down"}]}}),
        )
        .expect("an error");
        assert!(error.retryable);
        let error = ApiError::from_body(
            Some(403),
            &json!({"error": {"errors": [{"reason": "accessDenied", "message": "no"}]}}),
        )
        .expect("an error");
        assert!(!error.retryable);
    }

    fn crate_error(code: i64, reason: &str, message: &str) -> BQError {
        BQError::ResponseError {
            error: ResponseError {
                error: NestedResponseError {
                    code,
                    errors: vec![
                        [
                            ("reason".to_owned(), reason.to_owned()),
                            ("message".to_owned(), message.to_owned()),
                        ]
                        .into_iter()
                        .collect(),
                    ],
                    message: message.to_owned(),
                    status: String::new(),
                },
            },
        }
    }

    #[test]
    fn the_crates_errors_keep_their_status_and_reason() {
        let error = ApiError::from_bq(crate_error(403, "rateLimitExceeded", "slow down"));
        assert_eq!(error.status, Some(403));
        assert_eq!(error.reason.as_deref(), Some("rateLimitExceeded"));
        assert!(error.retryable);
        assert_eq!(short_reason(&error), "HTTP 403 rateLimitExceeded");

        let error = ApiError::from_bq(crate_error(404, "notFound", "Not found: Table p:d.t"));
        assert!(error.is_not_found() && !error.retryable);
        assert_eq!(error.message, "Not found: Table p:d.t");

        let error = ApiError::from_bq(crate_error(409, "duplicate", "Already Exists"));
        assert!(error.is_duplicate());

        let error = ApiError::from_bq(BQError::NoToken);
        assert!(!error.retryable);
        assert!(error.message.contains("access token"), "{}", error.message);
    }

    #[test]
    fn jobs_keep_every_field_sb_sets_through_the_crates_model() {
        let labels = json!({"sb_invocation_id": "abc", "sb_node": "model_x"});
        let query = super::super::sql::query_configuration(
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

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let policy = RetryPolicy {
            retries: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(policy.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(policy.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(policy.delay(9, 1.0), Duration::from_secs(1));
    }

    /// One request as the stand-in server saw it.
    #[derive(Debug, Clone)]
    pub(crate) struct Seen {
        pub method: String,
        pub path: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// What the stand-in server answers: a status, headers, a JSON body.
    pub(crate) struct Answer {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Value,
    }

    impl From<(u16, Value)> for Answer {
        fn from((status, body): (u16, Value)) -> Self {
            Self {
                status,
                headers: Vec::new(),
                body,
            }
        }
    }

    /// A stand-in BigQuery on loopback: `answer(request)` makes each
    /// response; every request is recorded.
    #[allow(clippy::type_complexity)]
    pub(crate) fn fake_server_with(
        answer: impl Fn(&Seen) -> Answer + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                let mut headers = Vec::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if first.is_empty() {
                        first.clone_from(&line);
                        continue;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        headers.push((name.trim().to_owned(), value.trim().to_owned()));
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut parts = first.split_whitespace();
                let request = Seen {
                    method: parts.next().unwrap_or_default().to_owned(),
                    path: parts.next().unwrap_or_default().to_owned(),
                    headers,
                    body,
                };
                let reply = answer(&request);
                log.lock().expect("log").push(request);
                let text = if reply.body.is_null() {
                    String::new()
                } else {
                    reply.body.to_string()
                };
                let mut extra = String::new();
                for (name, value) in &reply.headers {
                    let _ = write!(extra, "{name}: {value}\r\n");
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    reply.status,
                    text.len()
                );
            }
        });
        (url, seen)
    }

    /// `fake_server_with` for JSON-only exchanges: `answer(method, path,
    /// body)`.
    pub(crate) fn fake_server(
        answer: impl Fn(&str, &str, &Value) -> (u16, Value) + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        fake_server_with(move |r: &Seen| answer(&r.method, &r.path, &r.json()).into())
    }

    pub(crate) fn block<T>(work: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    }

    pub(crate) fn api(url: &str) -> Api {
        let mut api = block(Api::new(
            url,
            "proj".into(),
            Some("US".into()),
            &Credentials::none(),
            Arc::new(|_: &str| {}),
        ))
        .expect("client");
        api.retry.initial = Duration::from_millis(1);
        api
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

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("sb_job-1.x"), "sb_job-1.x");
    }
}
