//! BigQuery's REST API as sb uses it: jobs (insert, poll, results, cancel),
//! datasets, tables and load-job uploads, with the retries Google's own
//! clients make. Every call answers with JSON; an `errors` field or a
//! `status.errorResult` is a failure whatever the HTTP status says.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
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
    fn new(message: impl Into<String>) -> Self {
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

    fn is_duplicate(&self) -> bool {
        self.status == Some(409) || self.reason.as_deref() == Some("duplicate")
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
}

/// A transport failure in words, without the URL (it may hold a token in
/// a query string on some proxies).
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
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// The connection settings every call needs.
pub struct Api {
    http: reqwest::Client,
    /// Service root, e.g. `https://bigquery.googleapis.com`.
    root: String,
    pub project: String,
    pub location: Option<String>,
    credentials: Credentials,
    pub retry: RetryPolicy,
    /// Longest a job may run before sb cancels it.
    pub job_timeout: Option<Duration>,
    log: Log,
    /// Jobs submitted and not yet finished, for Ctrl-C.
    running: Mutex<HashSet<String>>,
    jitter: AtomicU64,
    counter: AtomicU64,
}

impl Api {
    pub fn new(
        root: &str,
        project: String,
        location: Option<String>,
        credentials: Credentials,
        log: Log,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("sb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot set up HTTPS: {}", describe_transport(&err)))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Ok(Self {
            http,
            root: root.trim_end_matches('/').to_owned(),
            project,
            location,
            credentials,
            retry: RetryPolicy::default(),
            job_timeout: None,
            log,
            running: Mutex::new(HashSet::new()),
            jitter: AtomicU64::new(seed | 1),
            counter: AtomicU64::new(0),
        })
    }

    fn note(&self, message: &str) {
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

    fn upload_url(&self) -> String {
        format!(
            "{}/upload/bigquery/v2/projects/{}/jobs?uploadType=multipart",
            self.root, self.project
        )
    }

    fn location_query(&self) -> String {
        self.location
            .as_deref()
            .map(|l| format!("location={}", encode(l)))
            .unwrap_or_default()
    }

    /// One HTTP exchange, no retries.
    async fn send_once(&self, method: &Method, url: &str, body: &Body) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .timeout(Duration::from_mins(10));
        let token = self
            .credentials
            .token(&self.http)
            .await
            .map_err(|message| {
                let mut error = ApiError::new(message);
                error.retryable = false;
                error
            })?;
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Raw {
                content_type,
                bytes,
            } => request
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(bytes.clone()),
        };
        let transport = |err: &reqwest::Error| ApiError {
            status: None,
            reason: None,
            message: describe_transport(err),
            retryable: true,
        };
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| transport(&e))?;
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
                // A job's own failure is the caller's to judge (it may be
                // retried under a new id); anything else fails the call.
                Some(error) if value.get("status").is_none() => Err(error),
                _ => Ok(value),
            }
        } else {
            Err(
                ApiError::from_body(Some(status), &value).unwrap_or_else(|| ApiError {
                    status: Some(status),
                    reason: None,
                    message: format!("BigQuery answered HTTP {status}"),
                    retryable: RETRYABLE_STATUSES.contains(&status),
                }),
            )
        }
    }

    /// A call retried with backoff while it fails in a retryable way.
    pub async fn send(
        &self,
        what: &str,
        method: Method,
        url: &str,
        body: Body,
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            match self.send_once(&method, url, &body).await {
                Err(error) if error.retryable && attempt < self.retry.retries => {
                    let delay = self.retry.delay(attempt, self.next_jitter());
                    attempt += 1;
                    self.note(&format!(
                        "retrying {what} in {:.1}s ({}; attempt {} of {})",
                        delay.as_secs_f64(),
                        short_reason(&error),
                        attempt + 1,
                        self.retry.retries + 1
                    ));
                    tokio::time::sleep(delay).await;
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
        Fut: std::future::Future<Output = Result<Value, ApiError>>,
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
            async move {
                self.send(
                    &format!("{what} (submitting the job)"),
                    Method::POST,
                    &self.v2("/jobs"),
                    Body::Json(body),
                )
                .await
            }
        })
        .await
    }

    /// Uploads `data` (newline-delimited JSON) with a load job's
    /// configuration, as one multipart request, and waits for the job.
    pub async fn load_job(
        &self,
        what: &str,
        configuration: &Value,
        data: &[u8],
    ) -> Result<Value, ApiError> {
        self.run_job(what, |job_id| {
            let metadata = json!({
                "jobReference": self.job_reference(&job_id),
                "configuration": configuration,
            });
            let (content_type, bytes) = multipart_related(&metadata, data);
            async move {
                self.send(
                    &format!("{what} (uploading)"),
                    Method::POST,
                    &self.upload_url(),
                    Body::Raw {
                        content_type,
                        bytes,
                    },
                )
                .await
            }
        })
        .await
    }

    fn job_reference(&self, job_id: &str) -> Value {
        let mut reference = json!({"projectId": self.project, "jobId": job_id});
        if let Some(location) = &self.location {
            reference["location"] = Value::from(location.as_str());
        }
        reference
    }

    async fn get_job(&self, job_id: &str) -> Result<Value, ApiError> {
        let url = format!(
            "{}?{}",
            self.v2(&format!("/jobs/{}", encode(job_id))),
            self.location_query()
        );
        self.send("reading a job's state", Method::GET, &url, Body::None)
            .await
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

    /// Asks BigQuery to cancel a job; errors are ignored (it may be done).
    pub async fn cancel(&self, job_id: &str) {
        let url = format!(
            "{}?{}",
            self.v2(&format!("/jobs/{}/cancel", encode(job_id))),
            self.location_query()
        );
        let _ = self.send_once(&Method::POST, &url, &Body::None).await;
    }

    /// The rows of a finished query job, in pages, at most `limit`.
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
            let page = self
                .send("reading query results", Method::GET, &url, Body::None)
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
        let url = self.table_url(project, dataset, table);
        match self
            .send("reading a table", Method::GET, &url, Body::None)
            .await
        {
            Ok(table) => Ok(Some(table)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn delete_table(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
    ) -> Result<(), ApiError> {
        let url = self.table_url(project, dataset, table);
        match self
            .send("dropping a table", Method::DELETE, &url, Body::None)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Creates a dataset in the target's location unless it exists.
    pub async fn ensure_dataset(&self, project: &str, dataset: &str) -> Result<bool, ApiError> {
        let url = format!(
            "{}/bigquery/v2/projects/{}/datasets/{}",
            self.root,
            encode(project),
            encode(dataset)
        );
        match self
            .send("reading a dataset", Method::GET, &url, Body::None)
            .await
        {
            Ok(_) => return Ok(false),
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
        let mut body = json!({"datasetReference": {"projectId": project, "datasetId": dataset}});
        if let Some(location) = &self.location {
            body["location"] = Value::from(location.as_str());
        }
        let url = format!(
            "{}/bigquery/v2/projects/{}/datasets",
            self.root,
            encode(project)
        );
        match self
            .send("creating a dataset", Method::POST, &url, Body::Json(body))
            .await
        {
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

/// A `multipart/related` body: the job's JSON, then the data. The boundary
/// holds `=`, which is why the header quotes it.
pub fn multipart_related(metadata: &Value, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "sb_part=boundary=0a8f1c";
    let mut body = Vec::with_capacity(data.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/related; boundary=\"{boundary}\""), body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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

    #[test]
    fn multipart_body_quotes_its_boundary() {
        let (content_type, body) = multipart_related(&json!({"a": 1}), b"{\"x\":1}\n");
        assert!(content_type.starts_with("multipart/related; boundary=\""));
        let boundary = content_type.split('"').nth(1).expect("a quoted boundary");
        assert!(boundary.contains('='));
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("{\"a\":1}"));
        assert!(text.ends_with(&format!("{{\"x\":1}}\n\r\n--{boundary}--\r\n")));
    }

    /// A stand-in BigQuery on loopback: `answer(method, path, body)` makes
    /// each response; every request is recorded.
    #[allow(clippy::type_complexity)]
    pub(crate) fn fake_server(
        answer: impl Fn(&str, &str, &Value) -> (u16, Value) + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<(String, String, Value)>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if first.is_empty() {
                        first.clone_from(&line);
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, reply) = answer(&method, &path, &body);
                log.lock().expect("log").push((method, path, body));
                let reply = reply.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        (url, seen)
    }

    fn api(url: &str) -> Api {
        let mut api = Api::new(
            url,
            "proj".into(),
            Some("US".into()),
            Credentials::none(),
            Arc::new(|_: &str| {}),
        )
        .expect("client");
        api.retry.initial = Duration::from_millis(1);
        api
    }

    fn block<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    }

    fn job_ids(seen: &Mutex<Vec<(String, String, Value)>>) -> Vec<String> {
        seen.lock()
            .expect("log")
            .iter()
            .filter(|(method, path, _)| method == "POST" && path.ends_with("/jobs"))
            .filter_map(|(_, _, body)| {
                body.pointer("/jobReference/jobId")?
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
            .any(|(m, p, _)| m == "GET" && p.contains(&ids[0]));
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
            .any(|(m, p, _)| m == "POST" && p.contains("/cancel"));
        assert!(cancelled);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("sb_job-1.x"), "sb_job-1.x");
    }
}
