//! A BigQuery target's settings, read once from its fields in `project.yml`
//! (or a dbt `profiles.yml` output) when the project loads (so `sb compile` already stops at a bad one):
//! where it is (project, dataset, location, endpoint), who sb is there
//! (`keyfile`), and how jobs and uploads run (priority, byte cap, timeout,
//! labels, retries, upload sizes). A bad key is a diagnostic that points at
//! it. The adapter is opened from the resulting [`TargetConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::rest::upload;
use crate::diag::{Diagnostic, Location};

/// The environment variable that points sb at another endpoint; read by the
/// caller into [`Overrides::api_url`].
pub const API_URL_ENV: &str = "SB_BIGQUERY_API_URL";
/// The environment variable that shortens the first retry's wait (the
/// tests' fault injection); read by the caller into
/// [`Overrides::retry_initial`].
pub const RETRY_INITIAL_MS_ENV: &str = "SB_BIGQUERY_RETRY_INITIAL_MS";
/// Rows of newline-delimited JSON sent per upload.
const DEFAULT_CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// Settings that come from outside `project.yml` (today the environment,
/// read by the caller, never by the adapter) and win over the target's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Service root of another endpoint, over the target's `api_url`.
    pub api_url: Option<String>,
    /// The wait before the first retry, instead of the retry policy's.
    pub retry_initial: Option<Duration>,
    /// Where application default credentials are looked for.
    pub credentials: CredentialPaths,
}

/// The places application default credentials come from, found by the
/// caller in the environment: `GOOGLE_APPLICATION_CREDENTIALS`, and gcloud's
/// configuration folder (`CLOUDSDK_CONFIG`, else `~/.config/gcloud`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialPaths {
    /// `GOOGLE_APPLICATION_CREDENTIALS` as set (it may be empty).
    pub named_key: Option<PathBuf>,
    pub gcloud_config: Option<PathBuf>,
}

/// A BigQuery target's settings, read from `project.yml`.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub project: String,
    pub dataset: String,
    pub location: Option<String>,
    pub keyfile: Option<PathBuf>,
    /// A service-account key given inline (dbt-bigquery's
    /// `method: service-account-json` with `keyfile_json`), as JSON text.
    pub keyfile_json: Option<String>,
    /// Service root of another endpoint (an emulator): no credentials then.
    pub api_url: Option<String>,
    pub priority: String,
    pub maximum_bytes_billed: Option<u64>,
    pub job_timeout: Option<Duration>,
    pub labels: Vec<(String, String)>,
    pub retries: u32,
    /// The wait before the first retry, when [`Overrides`] set one.
    pub retry_initial: Option<Duration>,
    /// Where to look for credentials when there is no `keyfile`.
    pub credentials: CredentialPaths,
    pub upload_chunk_bytes: usize,
    /// Uploads larger than this go up in a resumable session.
    pub resumable_threshold_bytes: usize,
    /// The part size of a resumable upload (a multiple of 256 KiB).
    pub resumable_chunk_bytes: usize,
}

/// What is wrong with a BigQuery target's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The bad key; `None` when a key is missing (the target as a whole).
    pub key: Option<String>,
    pub message: String,
    /// What to write instead.
    pub help: String,
}

impl FieldError {
    fn at(key: &str, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_owned()),
            message: message.into(),
            help: help.into(),
        }
    }

    fn missing(message: &str, help: &str) -> Self {
        Self {
            key: None,
            message: message.to_owned(),
            help: help.to_owned(),
        }
    }
}

impl TargetConfig {
    /// Reads the target `name` for the project loader: a bad key becomes a
    /// diagnostic at `locate(Some(key))`, a missing one at `locate(None)`
    /// (where the target is declared).
    pub fn parse(
        name: &str,
        fields: &Map<String, Value>,
        overrides: &Overrides,
        locate: impl Fn(Option<&str>) -> Location,
    ) -> Result<Self, Diagnostic> {
        Self::from_fields(fields, overrides).map_err(|error| {
            Diagnostic::error(format!("target `{name}`: {}", error.message))
                .at(locate(error.key.as_deref()))
                .help(error.help)
                .note("see SPEC's `prod` target for the BigQuery settings")
        })
    }

    /// Reads the target's fields (as `project.yml` resolved them); the
    /// endpoint in `overrides` wins over the target's `api_url`.
    pub fn from_fields(
        fields: &Map<String, Value>,
        overrides: &Overrides,
    ) -> Result<Self, FieldError> {
        let text = |key: &str| {
            fields
                .get(key)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s != "null")
        };
        let number = |key: &str| -> Result<Option<u64>, FieldError> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| {
                        FieldError::at(
                            key,
                            format!("`{key}` must be a whole number"),
                            format!("write `{key}` as a whole number, e.g. `{key}: 100`"),
                        )
                    }),
            }
        };
        let project = text("project")
            .or_else(|| text("database"))
            .ok_or_else(|| {
                FieldError::missing(
                    "the BigQuery target has no `project`",
                    "add `project: <Google Cloud project id>` to the target",
                )
            })?;
        let dataset = text("dataset").or_else(|| text("schema")).ok_or_else(|| {
            FieldError::missing(
                "the BigQuery target has no `dataset`",
                "add `dataset: <dataset name>` to the target",
            )
        })?;
        let priority = match text("priority").as_deref().map(str::to_ascii_lowercase) {
            None => "INTERACTIVE".to_owned(),
            Some(p) if p == "interactive" => "INTERACTIVE".to_owned(),
            Some(p) if p == "batch" => "BATCH".to_owned(),
            Some(other) => {
                return Err(FieldError::at(
                    "priority",
                    format!("`priority` must be `interactive` or `batch`, not `{other}`"),
                    "write `priority: interactive` (the default) or `priority: batch`",
                ));
            }
        };
        let (keyfile, keyfile_json) = credentials_of(fields, &text)?;
        if fields.contains_key("impersonate_service_account") {
            return Err(FieldError::at(
                "impersonate_service_account",
                "sb cannot impersonate a service account",
                "remove `impersonate_service_account` and give that service account's key itself (`method: service-account` with `keyfile`)",
            ));
        }
        let labels = match fields.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        label_text(k),
                        label_text(&v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                    )
                })
                .collect(),
            Some(_) => {
                return Err(FieldError::at(
                    "labels",
                    "`labels` must be a mapping of names to values",
                    "write `labels:` as a mapping, e.g. `labels: {team: analytics}`",
                ));
            }
        };
        Ok(Self {
            project,
            dataset,
            location: text("location"),
            keyfile,
            keyfile_json,
            api_url: overrides
                .api_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .or_else(|| text("api_url")),
            priority,
            maximum_bytes_billed: number("maximum_bytes_billed")?,
            // dbt-bigquery's spelling is accepted too.
            job_timeout: number("job_timeout")?
                .or(number("job_timeout_seconds")?)
                .or(number("job_execution_timeout_seconds")?)
                .map(Duration::from_secs),
            labels,
            retries: number("retries")?
                .or(number("job_retries")?)
                .map_or(5, |n| n.min(20) as u32),
            retry_initial: overrides.retry_initial,
            credentials: overrides.credentials.clone(),
            upload_chunk_bytes: number("upload_chunk_bytes")?
                .map_or(DEFAULT_CHUNK_BYTES, |n| n.max(1) as usize),
            resumable_threshold_bytes: number("resumable_threshold_bytes")?
                .map_or(upload::RESUMABLE_THRESHOLD_BYTES, |n| n as usize),
            resumable_chunk_bytes: number("resumable_chunk_bytes")?
                .map_or(upload::RESUMABLE_CHUNK_BYTES, |n| {
                    upload::chunk_bytes(n as usize)
                }),
        })
    }
}

/// The credentials dbt-bigquery's `method` names: `oauth` (application
/// default credentials), `service-account` (`keyfile`), or
/// `service-account-json` (`keyfile_json`). With no `method`, a `keyfile`
/// when one is given (sb's own form).
fn credentials_of(
    fields: &Map<String, Value>,
    text: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<PathBuf>, Option<String>), FieldError> {
    let keyfile = text("keyfile").map(PathBuf::from);
    let inline = match fields.get("keyfile_json") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(Value::Object(map.clone()).to_string()),
        Some(Value::String(json)) if !json.trim().is_empty() => Some(json.clone()),
        Some(_) => {
            return Err(FieldError::at(
                "keyfile_json",
                "`keyfile_json` must be the service-account key as a mapping",
                "paste the key file's fields under `keyfile_json:` (type, project_id, private_key, client_email, ...)",
            ));
        }
    };
    match text("method").as_deref() {
        None => Ok((keyfile, inline)),
        Some("oauth") => Ok((None, None)),
        Some("service-account") => match keyfile {
            Some(path) => Ok((Some(path), None)),
            None => Err(FieldError::at(
                "method",
                "`method: service-account` needs a `keyfile`",
                "add `keyfile: /path/to/key.json`",
            )),
        },
        Some("service-account-json") => match inline {
            Some(json) => Ok((None, Some(json))),
            None => Err(FieldError::at(
                "method",
                "`method: service-account-json` needs `keyfile_json`",
                "add the key's fields under `keyfile_json:`",
            )),
        },
        Some("oauth-secrets") => Err(FieldError::at(
            "method",
            "sb does not support `method: oauth-secrets`",
            "use `method: oauth` (application default credentials) or a service account",
        )),
        Some(other) => Err(FieldError::at(
            "method",
            format!("unknown BigQuery `method` `{other}`"),
            "use `oauth`, `service-account` or `service-account-json`",
        )),
    }
}

/// A label key or value as BigQuery accepts it: lower-case letters,
/// digits, `_` and `-`, at most 63 characters.
pub fn label_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn fields(value: &Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn settings_read_the_target_and_the_environment_wins_for_the_endpoint() {
        let target = fields(&json!({
            "type": "bigquery", "project": "acme", "dataset": "analytics", "location": "EU",
            "priority": "batch", "maximum_bytes_billed": "1000", "job_timeout": 60,
            "labels": {"Team": "Growth Analytics"}, "api_url": "http://127.0.0.1:9050",
            "resumable_threshold_bytes": 1000, "resumable_chunk_bytes": 300_000,
        }));
        let none = Overrides::default();
        let settings = TargetConfig::from_fields(&target, &none).expect("valid");
        assert_eq!(settings.resumable_threshold_bytes, 1000);
        assert_eq!(
            settings.resumable_chunk_bytes,
            2 * upload::RESUMABLE_GRANULE_BYTES
        );
        let defaults =
            TargetConfig::from_fields(&fields(&json!({"project": "p", "dataset": "d"})), &none)
                .expect("valid");
        assert_eq!(
            defaults.resumable_threshold_bytes,
            upload::RESUMABLE_THRESHOLD_BYTES
        );
        assert_eq!(
            defaults.resumable_chunk_bytes,
            upload::RESUMABLE_CHUNK_BYTES
        );
        assert_eq!(settings.project, "acme");
        assert_eq!(settings.location.as_deref(), Some("EU"));
        assert_eq!(settings.priority, "BATCH");
        assert_eq!(settings.maximum_bytes_billed, Some(1000));
        assert_eq!(settings.job_timeout, Some(Duration::from_mins(1)));
        assert_eq!(
            settings.labels,
            [("team".to_owned(), "growth_analytics".to_owned())]
        );
        assert_eq!(settings.api_url.as_deref(), Some("http://127.0.0.1:9050"));
        let from_env = TargetConfig::from_fields(
            &target,
            &Overrides {
                api_url: Some("http://127.0.0.1:1234".into()),
                retry_initial: Some(Duration::from_millis(5)),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(from_env.retry_initial, Some(Duration::from_millis(5)));
        assert_eq!(from_env.api_url.as_deref(), Some("http://127.0.0.1:1234"));

        let no_project = fields(&json!({"type": "bigquery", "dataset": "d"}));
        let error = TargetConfig::from_fields(&no_project, &none).expect_err("no project");
        assert!(error.message.contains("project"));
        assert_eq!(error.key, None);
        let bad_priority = fields(&json!({"project": "p", "dataset": "d", "priority": "now"}));
        let error = TargetConfig::from_fields(&bad_priority, &none).expect_err("bad priority");
        assert_eq!(error.key.as_deref(), Some("priority"));
        assert_eq!(
            error.message,
            "`priority` must be `interactive` or `batch`, not `now`"
        );
    }

    #[test]
    fn dbt_methods_pick_the_credentials_and_impersonation_is_refused() {
        let none = Overrides::default();
        let read = |extra: Value| {
            let mut target = fields(&json!({"project": "p", "dataset": "d"}));
            target.extend(fields(&extra));
            TargetConfig::from_fields(&target, &none)
        };
        let oauth = read(json!({"method": "oauth", "keyfile": "/k.json"})).expect("valid");
        assert_eq!(oauth.keyfile, None);
        let service = read(json!({"method": "service-account", "keyfile": "/k.json"}));
        assert_eq!(
            service.expect("valid").keyfile,
            Some(PathBuf::from("/k.json"))
        );
        let inline = read(
            json!({"method": "service-account-json", "keyfile_json": {"type": "service_account"}}),
        );
        assert_eq!(
            inline.expect("valid").keyfile_json.as_deref(),
            Some(r#"{"type":"service_account"}"#)
        );
        let missing = read(json!({"method": "service-account"})).expect_err("no keyfile");
        assert_eq!(missing.key.as_deref(), Some("method"));
        let unknown = read(json!({"method": "magic"})).expect_err("unknown");
        assert_eq!(unknown.message, "unknown BigQuery `method` `magic`");
        let impersonate = read(json!({"impersonate_service_account": "a@b"})).expect_err("refused");
        assert_eq!(
            impersonate.key.as_deref(),
            Some("impersonate_service_account")
        );
    }

    #[test]
    fn label_values_follow_bigquerys_rules() {
        assert_eq!(
            label_text("model.Streaming.plan_catalog"),
            "model_streaming_plan_catalog"
        );
        assert_eq!(label_text(&"x".repeat(80)).len(), 63);
    }
}
