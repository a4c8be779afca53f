//! A failed call or job as sb reports it: BigQuery's message, its status and
//! reason, and whether another attempt may succeed (a transport failure, a
//! retryable status or reason). Whatever the HTTP status, an answer carrying
//! an `errors` field or a job's `status.errorResult` is a failure.

use gcp_bigquery_client::error::BQError;
use serde_json::{Value, json};

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
    pub(super) fn from_body(status: Option<u16>, body: &Value) -> Option<Self> {
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

pub(super) fn short_reason(error: &ApiError) -> String {
    match (&error.reason, error.status) {
        (Some(reason), Some(status)) => format!("HTTP {status} {reason}"),
        (Some(reason), None) => reason.clone(),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => error.message.lines().next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
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
}
