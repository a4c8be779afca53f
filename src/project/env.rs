//! The process environment as the project sees it: a snapshot of the
//! variables taken once by the session, read by `env_var()` in project.yml
//! and in templates. Nothing below the session reads the environment itself.

use std::collections::HashMap;
use std::sync::Arc;

/// Environment variables by name; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EnvVars(Arc<HashMap<String, String>>);

impl EnvVars {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(Arc::new(vars.into_iter().collect()))
    }

    /// Every variable, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `name`, when it is set (to valid Unicode).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}
