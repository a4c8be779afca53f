//! The `synthetic:` block of `project.yml`: its settings (checked, with
//! errors at their line), the names of the tables the synthesizer provides,
//! and those tables as the source `synthetic`. `synth` generates and loads
//! the data from these settings; the project only declares it.

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, did_you_mean};
use crate::project::settings::{PROJECT_FILE, Settings};
use crate::project::{Node, Project, SourceInfo};
use crate::resource::ResourceType;

/// The source name models use: `source('synthetic', 'viewing_events')`.
pub const SOURCE_NAME: &str = "synthetic";

/// The synthesizer's tables, in load order.
pub const TABLES: [&str; 3] = ["users", "content", "viewing_events"];

/// The design's plan mix (share of users).
pub const DEFAULT_PLANS: &[(&str, f64)] = &[
    ("Standard", 0.3888),
    ("Basic", 0.2607),
    ("Premium", 0.1832),
    ("Family", 0.0888),
    ("Student", 0.0785),
];

/// The design's device mix (share of events).
pub const DEFAULT_DEVICES: &[(&str, f64)] = &[
    ("Smart TV", 0.2207),
    ("Desktop", 0.1942),
    ("Mobile", 0.2148),
    ("Tablet", 0.1242),
    ("Gaming Console", 0.1131),
    ("Streaming Stick", 0.1330),
];

/// The synthesizer's settings for the streaming dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingSettings {
    pub users: u64,
    pub content: u64,
    pub events: u64,
    pub seed: u64,
    pub start_date: NaiveDate,
    pub days: u32,
    pub plans: Vec<(String, f64)>,
    pub devices: Vec<(String, f64)>,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        Self {
            users: 10_000,
            content: 200,
            events: 100_000,
            seed: 42,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            days: 90,
            plans: DEFAULT_PLANS
                .iter()
                .map(|(n, s)| ((*n).to_owned(), *s))
                .collect(),
            devices: DEFAULT_DEVICES
                .iter()
                .map(|(n, s)| ((*n).to_owned(), *s))
                .collect(),
        }
    }
}

const STREAMING_KEYS: &[&str] = &[
    "users",
    "content",
    "events",
    "seed",
    "start_date",
    "days",
    "plans",
    "devices",
];

/// Command-line overrides of `project.yml` (`sb seed --events N ...`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub users: Option<u64>,
    pub content: Option<u64>,
    pub events: Option<u64>,
    pub seed: Option<u64>,
    pub days: Option<u32>,
}

/// Reads `synthetic:` from `project.yml`; `None` when the project has none.
pub fn settings(
    project: &Settings,
    overrides: &Overrides,
) -> Result<Option<StreamingSettings>, Diagnostic> {
    let file = &project.file;
    let block_line = file.locate_key("synthetic", 1).line;
    let at = |key: &str| file.locate_key(key, block_line);
    let generators =
        match &project.synthetic {
            Value::Null => return Ok(None),
            Value::Object(map) => map,
            _ => {
                return Err(Diagnostic::error("`synthetic` in project.yml must be a mapping")
                .at(at("synthetic"))
                .help("write `synthetic:` with a `streaming:` block below it (see the README)"));
            }
        };
    let mut found = None;
    for (name, value) in generators {
        if name != "streaming" {
            let close = closest_names(name, ["streaming"], 1);
            return Err(Diagnostic::error(format!(
                "unknown synthesizer `{name}` under `synthetic`"
            ))
            .at(at(name))
            .help(
                did_you_mean(&close)
                    .unwrap_or_else(|| "the synthesizer sb ships is `streaming`".to_owned()),
            ));
        }
        found = Some(value);
    }
    let Some(value) = found else {
        return Ok(None);
    };
    let streaming_line = at("streaming").line;
    let at = |key: &str| file.locate_key(key, streaming_line);
    let empty = serde_json::Map::new();
    let map = match value {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            return Err(Diagnostic::error("`synthetic.streaming` must be a mapping")
                .at(at("streaming"))
                .help("give it keys such as `users: 10000` and `events: 100000`"));
        }
    };
    for key in map.keys() {
        if !STREAMING_KEYS.contains(&key.as_str()) {
            let close = closest_names(key, STREAMING_KEYS.iter().copied(), 3);
            return Err(Diagnostic::error(format!(
                "unknown setting `{key}` in `synthetic.streaming`"
            ))
            .at(at(key))
            .help(
                did_you_mean(&close)
                    .unwrap_or_else(|| format!("the settings are: {}", STREAMING_KEYS.join(", "))),
            ));
        }
    }
    let mut out = StreamingSettings::default();
    let count = |key: &str, min: u64, default: u64| -> Result<u64, Diagnostic> {
        match map.get(key) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n >= min => Ok(n),
                _ => Err(Diagnostic::error(format!(
                    "`{key}` in `synthetic.streaming` must be a whole number of at least {min}, not {v}"
                ))
                .at(at(key))
                .help(format!("write e.g. `{key}: {default}`"))),
            },
        }
    };
    out.users = count("users", 1, out.users)?;
    out.content = count("content", 1, out.content)?;
    out.events = count("events", 0, out.events)?;
    out.seed = count("seed", 0, out.seed)?;
    let days = count("days", 1, u64::from(out.days))?;
    out.days = u32::try_from(days)
        .ok()
        .filter(|&d| d <= 36_600)
        .ok_or_else(|| {
            Diagnostic::error(format!(
                "`days` in `synthetic.streaming` is too large ({days})"
            ))
            .at(at("days"))
            .help("use at most 36600 days (a century)")
        })?;
    if let Some(v) = map.get("start_date") {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        out.start_date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
            Diagnostic::error(format!(
                "`start_date` in `synthetic.streaming` must be a date like \"2026-01-01\", not {v}"
            ))
            .at(at("start_date"))
            .help("write the first day of events as YYYY-MM-DD, in quotes")
        })?;
    }
    if let Some(v) = map.get("plans") {
        out.plans = shares("plans", v, &at)?;
    }
    if let Some(v) = map.get("devices") {
        out.devices = shares("devices", v, &at)?;
    }
    if let Some(n) = overrides.users {
        out.users = n.max(1);
    }
    if let Some(n) = overrides.content {
        out.content = n.max(1);
    }
    if let Some(n) = overrides.events {
        out.events = n;
    }
    if let Some(n) = overrides.seed {
        out.seed = n;
    }
    Ok(Some(out))
}

/// A `name: share` mapping whose shares are in [0, 1] and sum to 1.
fn shares(
    key: &str,
    value: &Value,
    at: &dyn Fn(&str) -> crate::diag::Location,
) -> Result<Vec<(String, f64)>, Diagnostic> {
    let Value::Object(map) = value else {
        return Err(Diagnostic::error(format!(
            "`{key}` in `synthetic.streaming` must map each name to its share"
        ))
        .at(at(key))
        .help(format!("write e.g. `{key}: {{Basic: 0.4, Premium: 0.6}}`")));
    };
    let mut out = Vec::new();
    for (name, share) in map {
        match share.as_f64() {
            Some(s) if (0.0..=1.0).contains(&s) => out.push((name.clone(), s)),
            _ => {
                return Err(Diagnostic::error(format!(
                    "the share of `{name}` in `{key}` must be a number between 0 and 1, not {share}"
                ))
                .at(at(name))
                .help("write shares as fractions, e.g. 0.25 for a quarter"));
            }
        }
    }
    let total: f64 = out.iter().map(|(_, s)| s).sum();
    if out.is_empty() || (total - 1.0).abs() > 0.001 {
        return Err(Diagnostic::error(format!(
            "the shares in `{key}` add up to {total:.4}, not 1"
        ))
        .at(at(key))
        .help("adjust the shares so that they sum to 1 (within 0.001)"));
    }
    Ok(out)
}

impl Project {
    /// With `synthetic:` in project.yml, the synthesizer's tables are the
    /// source `synthetic`. Schema YAML may declare it (to describe and test
    /// the tables, or to put them in another schema); tables it leaves out
    /// are added here, in the declared schema or one named `synthetic`.
    pub(super) fn add_synthetic_sources(&mut self) -> Result<(), Diagnostic> {
        if settings(&self.settings, &Overrides::default())?.is_none() {
            return Ok(());
        }
        let declared: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| {
                n.source
                    .as_ref()
                    .is_some_and(|s| s.source_name == SOURCE_NAME)
            })
            .collect();
        let mut config = declared
            .first()
            .map(|n| n.config.clone())
            .unwrap_or_default();
        if declared.is_empty() {
            config.0.insert("schema".into(), Value::from(SOURCE_NAME));
        }
        let missing: Vec<&str> = TABLES
            .into_iter()
            .filter(|table| !declared.iter().any(|n| n.name == *table))
            .collect();
        for table in missing {
            self.nodes.push(Node {
                unique_id: format!("source.{}.{}.{table}", self.settings.name, SOURCE_NAME),
                name: table.to_owned(),
                resource_type: ResourceType::Source,
                package_name: self.settings.name.clone(),
                original_file_path: PROJECT_FILE.to_owned(),
                path: PROJECT_FILE.to_owned(),
                fqn: vec![
                    self.settings.name.clone(),
                    SOURCE_NAME.to_owned(),
                    table.to_owned(),
                ],
                raw_code: String::new(),
                description: format!("Synthetic `{table}` table generated by `sb seed`."),
                columns: IndexMap::new(),
                config: config.clone(),
                yaml_path: None,
                source: Some(SourceInfo {
                    source_name: SOURCE_NAME.to_owned(),
                    identifier: table.to_owned(),
                    loader: "sb seed".to_owned(),
                    source_description: "Streaming-service data from sb's synthesizer.".to_owned(),
                }),
                tests: Vec::new(),
                version: None,
                constraints: Vec::new(),
                generic_test: None,
            });
        }
        Ok(())
    }
}
