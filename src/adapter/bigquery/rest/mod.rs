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
//!
//! The parts: `jobs` (insert, poll, cancel, result pages), `tables`
//! (tables and datasets), `upload` (load-job uploads), `retry` (the one
//! retry policy every call, job and upload part goes by) and `error` (what
//! a failure says and whether it is worth another attempt).

mod error;
mod jobs;
mod retry;
#[cfg(test)]
pub(crate) mod stand_in;
mod tables;
pub mod upload;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gcp_bigquery_client::Client;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::client_builder::ClientBuilder;
use serde_json::Value;

use super::auth::Credentials;
pub use error::ApiError;
use error::describe_transport;
pub use retry::RetryPolicy;

/// The longest one HTTP exchange may take (an upload's chunk included).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(10);

/// Something to note in the run's log (retries, cancellations).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// A resource of the crate's model as the JSON sb reads.
fn to_json(value: &impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value)
        .map_err(|err| ApiError::new(format!("cannot read BigQuery's answer: {err}")))
}

/// The connection settings every call needs.
pub struct Api {
    bq: Client,
    http: reqwest::Client,
    auth: Arc<dyn Authenticator>,
    /// Service root, e.g. `https://bigquery.googleapis.com`.
    root: String,
    pub project: String,
    pub location: Option<String>,
    pub retry: RetryPolicy,
    /// Longest a job may run before sb cancels it.
    pub job_timeout: Option<Duration>,
    /// When an upload goes up in a resumable session, and in what parts.
    pub upload: upload::UploadPolicy,
    log: Log,
    /// Jobs submitted and not yet finished, for Ctrl-C.
    running: Mutex<HashSet<String>>,
    jitter: AtomicU64,
    counter: AtomicU64,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot set up HTTPS: {0}")]
    Https(String),
    #[error("cannot set up the BigQuery client: {0}")]
    Client(String),
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
    ) -> Result<Self, SetupError> {
        // No redirects: a resumable upload's "308 Resume Incomplete" is an
        // answer to read, not a redirect to follow.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| SetupError::Https(describe_transport(&err)))?;
        let root = root.trim_end_matches('/').to_owned();
        let auth = credentials.authenticator();
        let mut builder = ClientBuilder::new();
        builder
            .with_v2_base_url(format!("{root}/bigquery/v2"))
            .with_client(http.clone());
        let bq = builder
            .build_from_authenticator(Arc::clone(&auth))
            .await
            .map_err(|err| SetupError::Client(ApiError::from_bq(err).message))?;
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
            upload: upload::UploadPolicy::default(),
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
    async fn send_raw(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let token = self.auth.access_token().await.map_err(ApiError::from_bq)?;
        crate::secrets::register(&token);
        request
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| ApiError::transport(&err))
    }

    /// An answer read as JSON: a failure when its status says so, or when a
    /// 2xx answer carries `errors` (a job's own failure is left to the
    /// caller, who may run it again under a new id).
    async fn json_answer(response: reqwest::Response) -> Result<Value, ApiError> {
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
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("sb_job-1.x"), "sb_job-1.x");
    }
}
