//! dbt's package hub as `sb deps` reads it: the package's index
//! (`<hub>/api/v1/<owner>/<name>.json`, which lists each version with its
//! tarball), the highest version inside the listed ranges (pre-releases
//! only when `install-prerelease: true`), and the tarball unpacked into the
//! install folder under the package's name. The hub's address comes from
//! `DBT_PACKAGE_HUB_URL`, the variable dbt reads; sb has none built in.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::diag::Diagnostic;
use crate::project::version::{Version, VersionRange};

/// The environment variable that names the hub.
pub const HUB_URL_VARIABLE: &str = "DBT_PACKAGE_HUB_URL";

/// How long one request to the hub may take.
const TIMEOUT: Duration = Duration::from_mins(1);

/// A version of a package that the hub offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// As the hub spells it (`1.3.0`).
    pub version: String,
    pub tarball: String,
}

/// A package hub at `base` (no trailing slash).
pub struct Hub {
    base: String,
}

impl Hub {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The highest version of `package` (`owner/name`) inside `range`.
    pub fn resolve(
        &self,
        package: &str,
        range: &VersionRange,
        prerelease: bool,
    ) -> Result<Offered, Diagnostic> {
        let url = format!("{}/api/v1/{package}.json", self.base);
        let body = get(&url)?;
        let index: Value = serde_json::from_slice(&body).map_err(|e| {
            Diagnostic::error(format!("the hub's index of `{package}` is not JSON: {e}"))
                .note(format!("read from {url}"))
        })?;
        let offered = best_version(&index, range, prerelease);
        offered.ok_or_else(|| {
            let listed: Vec<&str> = index
                .get("versions")
                .and_then(Value::as_object)
                .map(|v| v.keys().map(String::as_str).collect())
                .unwrap_or_default();
            Diagnostic::error(format!("no version of `{package}` fits {range}"))
                .note(format!("the hub offers: {}", listed.join(", ")))
                .help("widen the `version:` range in packages.yml")
        })
    }

    /// Downloads `offered` and unpacks its one top-level folder into
    /// `scratch`, returning that folder.
    pub fn download(offered: &Offered, scratch: &Path) -> Result<PathBuf, Diagnostic> {
        download_tarball(&offered.tarball, scratch)
    }
}

/// Downloads the .tar.gz at `url` (a hub version's, or a `tarball:`
/// package's) and unpacks it into `scratch`: its one top-level folder, or
/// `scratch` itself when the package's files are at the top.
pub fn download_tarball(url: &str, scratch: &Path) -> Result<PathBuf, Diagnostic> {
    let body = get(url)?;
    let _ = std::fs::remove_dir_all(scratch);
    let failed = |e: std::io::Error| {
        Diagnostic::error(format!("cannot unpack {url}: {e}"))
            .help("the tarball should be a .tar.gz of the package's folder")
    };
    std::fs::create_dir_all(scratch).map_err(failed)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&body[..]));
    archive.unpack(scratch).map_err(failed)?;
    let folders: Vec<PathBuf> = std::fs::read_dir(scratch)
        .map_err(failed)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match folders.as_slice() {
        [one] => Ok(one.clone()),
        _ if scratch.join("dbt_project.yml").is_file() => Ok(scratch.to_path_buf()),
        _ => Err(Diagnostic::error(format!("{url} holds no package folder"))
            .help("the tarball should hold one folder with the package's dbt_project.yml")),
    }
}

/// The highest version in the hub's `index` that `range` admits.
fn best_version(index: &Value, range: &VersionRange, prerelease: bool) -> Option<Offered> {
    let versions = index.get("versions")?.as_object()?;
    versions
        .iter()
        .filter(|(text, _)| prerelease || !is_prerelease(text))
        .filter_map(|(text, entry)| {
            let version = Version::parse(text)?;
            let tarball = entry.get("downloads")?.get("tarball")?.as_str()?;
            range.contains(&version).then(|| {
                (
                    version,
                    Offered {
                        version: text.clone(),
                        tarball: tarball.to_string(),
                    },
                )
            })
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, offered)| offered)
}

/// `1.0.0-b1`, `1.0.0rc1`: anything but digits and dots.
fn is_prerelease(version: &str) -> bool {
    !version
        .trim_start_matches('v')
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
}

/// The body of `url`, with an error naming it.
fn get(url: &str) -> Result<Vec<u8>, Diagnostic> {
    let failed = |detail: String| {
        Diagnostic::error(format!("cannot fetch {url}: {detail}")).help(format!(
            "check {HUB_URL_VARIABLE} and the network, or vendor the package into the install folder"
        ))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("the server answered {status}")));
        }
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        let mut body = Vec::with_capacity(bytes.len());
        bytes
            .as_ref()
            .read_to_end(&mut body)
            .map_err(|e| failed(e.to_string()))?;
        Ok(body)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn index() -> Value {
        serde_json::json!({
            "name": "dbt_utils",
            "versions": {
                "0.9.6": {"downloads": {"tarball": "t/0.9.6.tgz"}},
                "1.1.1": {"downloads": {"tarball": "t/1.1.1.tgz"}},
                "1.3.0": {"downloads": {"tarball": "t/1.3.0.tgz"}},
                "2.0.0-b1": {"downloads": {"tarball": "t/2.0.0-b1.tgz"}},
                "2.0.0": {"downloads": {"tarball": "t/2.0.0.tgz"}}
            }
        })
    }

    fn range(parts: &[&str]) -> VersionRange {
        parts.iter().fold(VersionRange::any(), |r, p| {
            r.and(VersionRange::parse(p).unwrap())
        })
    }

    #[test]
    fn the_highest_version_inside_every_range_wins() {
        let best =
            |parts: &[&str], pre| best_version(&index(), &range(parts), pre).map(|o| o.version);
        assert_eq!(
            best(&[">=1.0.0", "<2.0.0"], false).as_deref(),
            Some("1.3.0")
        );
        assert_eq!(best(&["<1.2.0"], false).as_deref(), Some("1.1.1"));
        assert_eq!(best(&[], false).as_deref(), Some("2.0.0"));
        assert_eq!(best(&["0.9.6"], false).as_deref(), Some("0.9.6"));
        assert_eq!(best(&[">=3.0.0"], false), None);
    }

    #[test]
    fn pre_releases_count_only_when_asked_for() {
        assert!(is_prerelease("2.0.0-b1"));
        assert!(is_prerelease("1.0.0rc1"));
        assert!(!is_prerelease("1.3.0"));
        let only_pre =
            serde_json::json!({"versions": {"2.0.0-b1": {"downloads": {"tarball": "x"}}}});
        assert_eq!(best_version(&only_pre, &VersionRange::any(), false), None);
        assert!(best_version(&only_pre, &VersionRange::any(), true).is_some());
    }
}
