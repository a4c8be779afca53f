//! `sb source freshness`: for each selected source table with a `freshness`
//! and a `loaded_at_field`, asks the warehouse how long ago its newest row
//! was loaded and compares that with `warn_after` / `error_after`, as dbt
//! does. Writes `target/sources.json` (dbt's `sources` artifact); exits 1
//! when a source is stale past `error_after` or its query fails, as dbt.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Outcome, compile_project, open_adapter, select};
use crate::adapter::AdapterKind;
use crate::cli::FreshnessArgs;
use crate::compile::{CompiledProject, write_file};
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::{Counts, NodeLine, Reporter, Tone};
use crate::resource::{NodeId, ResourceType};
use crate::session::Session;

const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";

/// A `warn_after` or `error_after`: `count` periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Threshold {
    count: u64,
    seconds_per: u64,
}

impl Threshold {
    fn from(value: Option<&Value>) -> Option<Self> {
        let value = value?;
        let count = value.get("count")?.as_u64()?;
        let seconds_per = match value.get("period")?.as_str()? {
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            _ => return None,
        };
        Some(Self { count, seconds_per })
    }

    fn seconds(self) -> f64 {
        (self.count * self.seconds_per) as f64
    }
}

/// One source table's freshness check, from its config.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    loaded_at_field: String,
    warn_after: Option<Threshold>,
    error_after: Option<Threshold>,
    filter: Option<String>,
    criteria: Value,
}

impl Check {
    /// The check a source's config asks for; `None` without a `freshness`
    /// that sets a threshold, or without a `loaded_at_field`.
    fn of(config: &crate::project::NodeConfig) -> Option<Self> {
        let freshness = config.get("freshness")?;
        let warn_after = Threshold::from(freshness.get("warn_after"));
        let error_after = Threshold::from(freshness.get("error_after"));
        if warn_after.is_none() && error_after.is_none() {
            return None;
        }
        let criterion = |key: &str| freshness.get(key).cloned().unwrap_or(Value::Null);
        Some(Self {
            loaded_at_field: config.str("loaded_at_field")?.to_owned(),
            warn_after,
            error_after,
            filter: freshness
                .get("filter")
                .and_then(Value::as_str)
                .map(str::to_owned),
            criteria: json!({
                "warn_after": criterion("warn_after"),
                "error_after": criterion("error_after"),
                "filter": criterion("filter"),
            }),
        })
    }

    /// `pass`, `warn` or `error` for a newest row `age` seconds old.
    fn status(&self, age: f64) -> &'static str {
        if self.error_after.is_some_and(|t| age > t.seconds()) {
            "error"
        } else if self.warn_after.is_some_and(|t| age > t.seconds()) {
            "warn"
        } else {
            "pass"
        }
    }

    /// The query: the newest load time, now, and the age in seconds between
    /// them (naive timestamps read as UTC, as dbt reads them; on DuckDB
    /// through `epoch_us`, which needs no time zone extension).
    fn sql(&self, kind: AdapterKind, relation: &str) -> String {
        let field = &self.loaded_at_field;
        let filter = self
            .filter
            .as_ref()
            .map(|f| format!("\nwhere {f}"))
            .unwrap_or_default();
        match kind {
            AdapterKind::Duckdb => format!(
                "select cast(max({field}) as varchar) as max_loaded_at,\n\
                 cast(current_timestamp as varchar) as snapshotted_at,\n\
                 (epoch_us(now()) - epoch_us(cast(max({field}) as timestamp))) / 1e6 as age_in_s\n\
                 from {relation}{filter}"
            ),
            AdapterKind::Bigquery => format!(
                "select cast(max({field}) as string) as max_loaded_at,\n\
                 cast(current_timestamp() as string) as snapshotted_at,\n\
                 (unix_micros(current_timestamp()) - unix_micros(timestamp(max({field})))) / 1e6 as age_in_s\n\
                 from {relation}{filter}"
            ),
        }
    }
}

pub fn exec(
    args: &FreshnessArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let started = Instant::now();
    let compiled = compile_project(session, reporter)?;
    let selected = select(&compiled, session, &[ResourceType::Source], reporter)?;
    let checks: Vec<(NodeId, Check)> = selected
        .into_iter()
        .filter_map(|index| Check::of(&compiled.nodes[index].config).map(|check| (index, check)))
        .collect();
    if checks.is_empty() {
        reporter.warning(
            "no selected source has a `freshness` with `warn_after` or `error_after` and a `loaded_at_field`: nothing to check",
        );
    }
    let adapter = open_adapter(&compiled.project, session, reporter)?;
    let mut connection = adapter
        .connect()
        .map_err(|e| Diagnostic::error(format!("cannot connect: {}", e.message)))?;
    let kind = compiled.project.target.kind;
    let mut counts = Counts::default();
    let mut results = Vec::new();
    for (position, (index, check)) in checks.iter().enumerate() {
        let node = &compiled.project.nodes[*index];
        let Some(relation) = &compiled.nodes[*index].relation else {
            continue;
        };
        let sql = check.sql(kind, &kind.render_relation(relation));
        let began = Instant::now();
        let answer = connection.query(&sql, Some(1));
        let seconds = began.elapsed().as_secs_f64();
        let source_name = node
            .source
            .as_ref()
            .map_or("", |source| source.source_name.as_str());
        let name = format!("{source_name}.{}", node.name);
        let (status, detail, result) = match answer {
            Ok(answer) => {
                let row = answer.rows.first().cloned().unwrap_or_default();
                let cell = |i: usize| row.get(i).cloned().unwrap_or(Value::Null);
                let age = cell(2).as_f64();
                let status = age.map_or("error", |age| check.status(age));
                let detail = age.map_or_else(
                    || "no rows: nothing was ever loaded".to_owned(),
                    |age| format!("newest row {} old", human_age(age)),
                );
                let result = json!({
                    "unique_id": node.unique_id,
                    "max_loaded_at": cell(0),
                    "snapshotted_at": cell(1),
                    "max_loaded_at_time_ago_in_s": age,
                    "status": status,
                    "criteria": check.criteria,
                    "adapter_response": {},
                    "timing": [],
                    "thread_id": "Thread-1",
                    "execution_time": seconds,
                });
                (status, detail, result)
            }
            Err(error) => {
                let result = json!({
                    "unique_id": node.unique_id,
                    "status": "runtime error",
                    "error": error.message,
                    "criteria": check.criteria,
                    "adapter_response": {},
                    "timing": [],
                    "thread_id": "Thread-1",
                    "execution_time": seconds,
                });
                ("runtime error", error.message.clone(), result)
            }
        };
        let (label, tone) = match status {
            "pass" => {
                counts.pass += 1;
                ("PASS", Tone::Good)
            }
            "warn" => {
                counts.warn += 1;
                ("WARN", Tone::Warn)
            }
            "error" => {
                counts.error += 1;
                ("STALE", Tone::Bad)
            }
            _ => {
                counts.error += 1;
                ("ERROR", Tone::Bad)
            }
        };
        reporter.node(&NodeLine {
            index: position + 1,
            total: checks.len(),
            status: label,
            result_status: status,
            tone,
            resource_type: "freshness",
            unique_id: &node.unique_id,
            name: &name,
            detail: &detail,
            seconds,
            failures: None,
        });
        results.push(result);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // `--output` is read from the project folder, as dbt reads it from where it runs.
    let path = args.output.as_ref().map_or_else(
        || compiled.project.target_dir().join("sources.json"),
        |output| compiled.project.root.join(output),
    );
    let artifact = json!({
        "metadata": metadata(&compiled, session),
        "results": results,
        "elapsed_time": elapsed,
    });
    let text = serde_json::to_string_pretty(&artifact)
        .map_err(|e| Diagnostic::error(format!("cannot write sources.json: {e}")))?;
    write_file(&path, &text)?;
    reporter.summary(counts, elapsed, "sources");
    Ok(if counts.error > 0 {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn metadata(compiled: &CompiledProject, session: &Session) -> Value {
    json!({
        "dbt_schema_version": SOURCES_SCHEMA,
        "dbt_version": concat!("sb-", env!("CARGO_PKG_VERSION")),
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "invocation_id": session.invocation.id,
        "env": {},
        "project_name": compiled.project.settings.name,
    })
}

/// `3d 4h`, `2h 5m`, `40s`: the two largest units of an age.
fn human_age(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::project::NodeConfig;

    #[allow(clippy::needless_pass_by_value)]
    fn config(value: Value) -> NodeConfig {
        NodeConfig(value.as_object().unwrap().clone())
    }

    #[test]
    fn a_check_needs_a_threshold_and_a_loaded_at_field() {
        let freshness = json!({"warn_after": {"count": 12, "period": "hour"}});
        assert!(Check::of(&config(json!({"freshness": freshness}))).is_none());
        assert!(
            Check::of(&config(
                json!({"freshness": {"filter": "x"}, "loaded_at_field": "at"})
            ))
            .is_none()
        );
        assert!(Check::of(&config(json!({"freshness": null, "loaded_at_field": "at"}))).is_none());
        let check = Check::of(&config(
            json!({"freshness": freshness, "loaded_at_field": "at"}),
        ))
        .unwrap();
        assert_eq!(check.loaded_at_field, "at");
        assert_eq!(check.criteria["error_after"], Value::Null);
    }

    #[test]
    fn status_is_error_past_error_after_then_warn_past_warn_after() {
        let check = Check::of(&config(json!({
            "loaded_at_field": "at",
            "freshness": {
                "warn_after": {"count": 1, "period": "hour"},
                "error_after": {"count": 1, "period": "day"},
                "filter": "at > '2020-01-01'",
            },
        })))
        .unwrap();
        assert_eq!(check.status(10.0), "pass");
        assert_eq!(check.status(3600.0), "pass");
        assert_eq!(check.status(3601.0), "warn");
        assert_eq!(check.status(86_401.0), "error");
        let sql = check.sql(AdapterKind::Duckdb, "\"raw\".\"orders\"");
        assert!(sql.contains("max(at)"), "{sql}");
        assert!(
            sql.ends_with("from \"raw\".\"orders\"\nwhere at > '2020-01-01'"),
            "{sql}"
        );
    }

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(human_age(40.2), "40s");
        assert_eq!(human_age(125.0), "2m 5s");
        assert_eq!(human_age(7500.0), "2h 5m");
        assert_eq!(human_age(100_000.0), "1d 3h");
    }
}
