//! A test's severity, `warn_if`/`error_if` conditions and `limit`, read
//! from its config: `check` reports the invalid ones at load time, `execute`
//! judges the failure count with them.

use serde_json::Value;

use crate::project::NodeConfig;

/// `warn_if`/`error_if`: a comparison of the failure count with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    op: &'static str,
    value: u64,
}

impl Condition {
    pub const DEFAULT: Condition = Condition { op: "!=", value: 0 };

    /// Reads `">10"`, `"!= 0"`, `">= 5"`, `"=0"`, `"<3"`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        for op in ["!=", "<>", ">=", "<=", "==", ">", "<", "="] {
            if let Some(rest) = text.strip_prefix(op) {
                let value = rest.trim().parse::<u64>().ok()?;
                let op = match op {
                    "<>" => "!=",
                    "==" => "=",
                    other => other,
                };
                return Some(Self { op, value });
            }
        }
        None
    }

    pub fn holds(self, failures: u64) -> bool {
        match self.op {
            "!=" => failures != self.value,
            ">=" => failures >= self.value,
            "<=" => failures <= self.value,
            ">" => failures > self.value,
            "<" => failures < self.value,
            _ => failures == self.value,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.value)
    }
}

/// A test's severity, thresholds and limit, read from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestThresholds {
    pub warn_only: bool,
    pub warn_if: Condition,
    pub error_if: Condition,
    pub limit: Option<u64>,
}

impl TestThresholds {
    /// Reads the config; `Err` names the key that is invalid and why.
    pub fn from_config(config: &NodeConfig) -> Result<Self, (String, String)> {
        let warn_only = match config.get("severity") {
            None => false,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("error") => false,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("warn") => true,
            Some(other) => {
                return Err((
                    "severity".into(),
                    format!(
                        "`severity` must be `error` or `warn`, got `{}`",
                        plain(other)
                    ),
                ));
            }
        };
        let condition = |key: &str| -> Result<Condition, (String, String)> {
            match config.get(key) {
                None => Ok(Condition::DEFAULT),
                Some(value) => Condition::parse(&plain(value)).ok_or_else(|| {
                    (
                        key.to_string(),
                        format!(
                            "`{key}` must compare the failure count with a number, like \">10\" or \"!= 0\", got `{}`",
                            plain(value)
                        ),
                    )
                }),
            }
        };
        let limit = match config.get("limit") {
            None => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                (
                    "limit".to_string(),
                    format!("`limit` must be a whole number, got `{}`", plain(value)),
                )
            })?),
        };
        Ok(Self {
            warn_only,
            warn_if: condition("warn_if")?,
            error_if: condition("error_if")?,
            limit,
        })
    }
}

pub(super) fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_dbt_spellings() {
        assert!(Condition::parse(">10").unwrap().holds(11));
        assert!(!Condition::parse("> 10").unwrap().holds(10));
        assert!(Condition::parse("!= 0").unwrap().holds(1));
        assert!(Condition::parse("=0").unwrap().holds(0));
        assert!(Condition::parse(">=5").unwrap().holds(5));
        assert!(Condition::parse("ten").is_none());
    }
}
