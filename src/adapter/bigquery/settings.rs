//! A BigQuery target's settings, read from its fields in `project.yml`:
//! where it is (project, dataset, location, endpoint), who sb is there
//! (`keyfile`), and how jobs and uploads run (priority, byte cap, timeout,
//! labels, retries, upload sizes).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::rest::upload;

/// The environment variable that points sb at another endpoint.
pub const API_URL_ENV: &str = "SB_BIGQUERY_API_URL";
/// Rows of newline-delimited JSON sent per upload.
const DEFAULT_CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// A BigQuery target's settings, read from `project.yml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project: String,
    pub dataset: String,
    pub location: Option<String>,
    pub keyfile: Option<PathBuf>,
    /// Service root of another endpoint (an emulator): no credentials then.
    pub api_url: Option<String>,
    pub priority: String,
    pub maximum_bytes_billed: Option<u64>,
    pub job_timeout: Option<Duration>,
    pub labels: Vec<(String, String)>,
    pub retries: u32,
    pub upload_chunk_bytes: usize,
    /// Uploads larger than this go up in a resumable session.
    pub resumable_threshold_bytes: usize,
    /// The part size of a resumable upload (a multiple of 256 KiB).
    pub resumable_chunk_bytes: usize,
}

impl Settings {
    /// Reads the target's fields; `api_url_env` is `SB_BIGQUERY_API_URL`.
    pub fn from_fields(
        fields: &Map<String, Value>,
        api_url_env: Option<String>,
    ) -> Result<Self, String> {
        let text = |key: &str| {
            fields
                .get(key)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s != "null")
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| format!("`{key}` must be a whole number")),
            }
        };
        let project = text("project")
            .or_else(|| text("database"))
            .ok_or("the BigQuery target has no `project`")?;
        let dataset = text("dataset")
            .or_else(|| text("schema"))
            .ok_or("the BigQuery target has no `dataset`")?;
        let priority = match text("priority").as_deref().map(str::to_ascii_lowercase) {
            None => "INTERACTIVE".to_owned(),
            Some(p) if p == "interactive" => "INTERACTIVE".to_owned(),
            Some(p) if p == "batch" => "BATCH".to_owned(),
            Some(other) => {
                return Err(format!(
                    "`priority` must be `interactive` or `batch`, not `{other}`"
                ));
            }
        };
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
            Some(_) => return Err("`labels` must be a mapping of names to values".to_owned()),
        };
        Ok(Self {
            project,
            dataset,
            location: text("location"),
            keyfile: text("keyfile").map(PathBuf::from),
            api_url: api_url_env
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
        let settings = Settings::from_fields(&target, None).expect("valid");
        assert_eq!(settings.resumable_threshold_bytes, 1000);
        assert_eq!(
            settings.resumable_chunk_bytes,
            2 * upload::RESUMABLE_GRANULE_BYTES
        );
        let defaults =
            Settings::from_fields(&fields(&json!({"project": "p", "dataset": "d"})), None)
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
        let from_env =
            Settings::from_fields(&target, Some("http://127.0.0.1:1234".into())).expect("valid");
        assert_eq!(from_env.api_url.as_deref(), Some("http://127.0.0.1:1234"));

        let no_project = fields(&json!({"type": "bigquery", "dataset": "d"}));
        assert!(
            Settings::from_fields(&no_project, None)
                .expect_err("no project")
                .contains("project")
        );
        let bad_priority = fields(&json!({"project": "p", "dataset": "d", "priority": "now"}));
        assert!(Settings::from_fields(&bad_priority, None).is_err());
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
