//! Version numbers and the ranges dbt writes them in (`>=1.5.0`,
//! `[">=1.0.0", "<2.0.0"]`, `>=0.9.0,<1.0.0`, or an exact version): for
//! `require-dbt-version` and for the `version:` of hub packages.

use std::fmt;

/// The dbt version sb reads projects like.
pub const DBT_VERSION: Version = Version {
    major: 1,
    minor: 11,
    patch: 0,
};

/// `major.minor.patch`; a pre-release or build suffix is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// Reads `1`, `1.5`, `1.5.2`, `v1.5.2` or `1.5.2-rc1`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next().unwrap_or(text);
        let mut parts = core.split('.');
        let mut next = || -> Option<u64> {
            match parts.next() {
                None => Some(0),
                Some(part) => part.trim().parse().ok(),
            }
        };
        let version = Self {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// Every comparison must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionRange(Vec<(Op, Version)>);

impl VersionRange {
    /// The range that holds every version.
    pub fn any() -> Self {
        Self::default()
    }

    /// Reads comma-separated comparisons; a bare version is an exact one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut range = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(prefix, op)| part.strip_prefix(prefix).map(|rest| (*op, rest)))
            .unwrap_or((Op::Eq, part));
            let version = Version::parse(rest)
                .ok_or_else(|| format!("`{part}` is not a version comparison"))?;
            range.push((op, version));
        }
        Ok(Self(range))
    }

    /// Both ranges at once.
    #[must_use]
    pub fn and(mut self, other: Self) -> Self {
        self.0.extend(other.0);
        self
    }

    pub fn contains(&self, version: &Version) -> bool {
        self.0.iter().all(|(op, bound)| match op {
            Op::Eq => version == bound,
            Op::Lt => version < bound,
            Op::Le => version <= bound,
            Op::Gt => version > bound,
            Op::Ge => version >= bound,
        })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any version");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(op, v)| format!("{}{v}", op.as_str()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_as_dbt_reads_them() {
        let v = |t| Version::parse(t).unwrap();
        assert!(
            VersionRange::parse(">=1.3.0")
                .unwrap()
                .contains(&DBT_VERSION)
        );
        assert!(
            !VersionRange::parse(">=1.0.0,<1.5.0")
                .unwrap()
                .contains(&DBT_VERSION)
        );
        assert!(VersionRange::parse("1.1.0").unwrap().contains(&v("1.1")));
        assert!(VersionRange::parse(">1.1").unwrap().contains(&v("v1.1.1")));
        assert!(
            VersionRange::parse("<=2.0.0-b1")
                .unwrap()
                .contains(&v("2.0.0"))
        );
        assert!(VersionRange::parse("bogus").is_err());
        assert_eq!(
            VersionRange::parse(">=1.0.0, <2.0.0").unwrap().to_string(),
            ">=1.0.0, <2.0.0"
        );
    }
}
