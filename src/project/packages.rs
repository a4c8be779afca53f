//! dbt packages: the specification (`packages.yml` or `dependencies.yml`),
//! the lock (`package-lock.yml`), and the packages installed under the
//! project's `packages-install-path` (each a folder holding its own
//! `dbt_project.yml`). Installing is `sb deps` (`commands::deps`); every
//! other command reads what is installed, as it is, offline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Location};
use crate::project::settings::DBT_PROJECT_FILE;
use crate::project::yaml::YamlFile;

pub const PACKAGES_FILES: &[&str] = &["packages.yml", "dependencies.yml"];
pub const LOCK_FILE: &str = "package-lock.yml";

/// One entry of `packages:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSpec {
    /// `local: path`, relative to the project that lists it.
    Local { path: String },
    /// `git: url` with `revision` and `subdirectory`.
    Git {
        url: String,
        revision: Option<String>,
        subdirectory: Option<String>,
    },
    /// `package: owner/name` with `version:` ranges, from the dbt hub;
    /// pre-releases count only with `install-prerelease: true`.
    Hub {
        package: String,
        versions: Vec<String>,
        install_prerelease: bool,
    },
    /// `tarball: url` (a .tar.gz of the package), with the `name:` dbt asks
    /// for beside it.
    Tarball { url: String, name: Option<String> },
}

/// An entry as written, with where it was written.
#[derive(Debug, Clone)]
pub struct Listed {
    pub spec: PackageSpec,
    /// The entry as written, for the lock's hash.
    pub raw: Value,
    pub location: Location,
}

/// The packages a project lists: `None` when it has no packages file.
pub fn read_specs(folder: &Path, shown: &Path) -> Result<Option<Vec<Listed>>, Diagnostic> {
    let Some(name) = PACKAGES_FILES.iter().find(|f| folder.join(f).is_file()) else {
        return Ok(None);
    };
    let path = folder.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| Diagnostic::error(format!("cannot read {}: {error}", path.display())))?;
    let file = YamlFile::parse(&shown.join(name), text)?;
    let entries = match file.value.get("packages") {
        None | Some(Value::Null) => return Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(Diagnostic::error(format!("`packages` in {name} must be a list"))
                .at(file.locate_key("packages", 1))
                .help("write one `- local: ...`, `- git: ...` or `- package: ...` entry per package"));
        }
    };
    let mut listed = Vec::new();
    let mut line = file.locate_key("packages", 1).line;
    for entry in entries {
        let key = ["local", "git", "package", "tarball", "private"]
            .into_iter()
            .find(|k| entry.get(k).is_some())
            .unwrap_or("packages");
        let location = file.locate_key(key, line);
        line = location.line + 1;
        let text = |k: &str| {
            entry.get(k).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let spec = match key {
            "local" => text("local").map(|path| PackageSpec::Local { path }),
            "git" => text("git").map(|url| PackageSpec::Git {
                url,
                revision: text("revision"),
                subdirectory: text("subdirectory"),
            }),
            "package" => text("package").map(|package| PackageSpec::Hub {
                package,
                versions: match entry.get("version") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    _ => text("version").into_iter().collect(),
                },
                install_prerelease: entry
                    .get("install-prerelease")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            "tarball" => text("tarball").map(|url| PackageSpec::Tarball {
                url,
                name: text("name"),
            }),
            "private" => {
                return Err(Diagnostic::error(format!(
                    "sb does not install `{key}:` packages"
                ))
                .at(location)
                .help("install the package into dbt_packages/ yourself, or list it as a `git:`, `tarball:` or `local:` package"));
            }
            _ => None,
        };
        let Some(spec) = spec else {
            return Err(Diagnostic::error(format!("cannot read an entry of {name}"))
                .at(location)
                .help("each entry needs `local: path`, `git: url` or `package: owner/name` (with `version:`)"));
        };
        listed.push(Listed {
            spec,
            raw: entry,
            location,
        });
    }
    Ok(Some(listed))
}

/// One entry of `package-lock.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub name: Option<String>,
    pub spec: PackageSpec,
}

/// The lock under `root`, when there is one and it was written for the
/// packages as they are listed now (its `sha1_hash` matches).
pub fn read_lock(root: &Path, listed: &[Listed]) -> Option<Vec<Locked>> {
    let text = std::fs::read_to_string(root.join(LOCK_FILE)).ok()?;
    let value: Value = yaml_serde::from_str(&text).ok()?;
    if value.get("sha1_hash").and_then(Value::as_str) != Some(&specs_hash(listed)) {
        return None;
    }
    let entries = value.get("packages")?.as_array()?;
    entries
        .iter()
        .map(|entry| {
            let text = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_string);
            let spec = if let Some(path) = text("local") {
                PackageSpec::Local { path }
            } else if let Some(url) = text("git") {
                PackageSpec::Git {
                    url,
                    revision: text("revision"),
                    subdirectory: text("subdirectory"),
                }
            } else if let Some(url) = text("tarball") {
                PackageSpec::Tarball {
                    url,
                    name: text("name"),
                }
            } else {
                PackageSpec::Hub {
                    package: text("package")?,
                    versions: text("version").into_iter().collect(),
                    install_prerelease: false,
                }
            };
            Some(Locked {
                name: text("name"),
                spec,
            })
        })
        .collect()
}

/// `package-lock.yml` as dbt writes it: each package with its name and
/// what pins it (a git commit, a hub version), and the hash of the
/// packages as listed.
pub fn lock_text(locked: &[Locked], listed: &[Listed]) -> String {
    let packages: Vec<Value> = locked
        .iter()
        .map(|entry| {
            let mut map = Map::new();
            if let Some(name) = &entry.name {
                map.insert("name".into(), Value::from(name.clone()));
            }
            match &entry.spec {
                PackageSpec::Local { path } => {
                    map.insert("local".into(), Value::from(path.clone()));
                }
                PackageSpec::Git {
                    url,
                    revision,
                    subdirectory,
                } => {
                    map.insert("git".into(), Value::from(url.clone()));
                    if let Some(revision) = revision {
                        map.insert("revision".into(), Value::from(revision.clone()));
                    }
                    if let Some(subdirectory) = subdirectory {
                        map.insert("subdirectory".into(), Value::from(subdirectory.clone()));
                    }
                }
                PackageSpec::Hub {
                    package, versions, ..
                } => {
                    map.insert("package".into(), Value::from(package.clone()));
                    map.insert("version".into(), Value::from(versions.join(",")));
                }
                PackageSpec::Tarball { url, .. } => {
                    map.insert("tarball".into(), Value::from(url.clone()));
                }
            }
            Value::Object(map)
        })
        .collect();
    let mut lock = Map::new();
    lock.insert("packages".into(), Value::Array(packages));
    lock.insert("sha1_hash".into(), Value::from(specs_hash(listed)));
    yaml_serde::to_string(&Value::Object(lock)).unwrap_or_default()
}

/// dbt's hash of the listed packages: each entry as JSON with sorted keys,
/// the lines sorted and joined, SHA-1 in hex.
pub fn specs_hash(listed: &[Listed]) -> String {
    let mut lines: Vec<String> = listed.iter().map(|l| python_json(&l.raw)).collect();
    lines.sort();
    let digest = sha1(lines.join("\n").as_bytes());
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// JSON as Python's `json.dumps(value, sort_keys=True)` writes it.
fn python_json(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            let _ = write!(out, "\\u{unit:04x}");
                        }
                    }
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        python_json(&Value::from(k.clone())),
                        python_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// SHA-1 (FIPS 180-4), only for the lock's hash, which dbt defines with
/// it. The one-letter names are the standard's.
#[allow(clippy::many_single_char_names)]
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
        }
        for (slot, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// A package folder under the install path.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The folder's name (dbt names it after the package).
    pub folder: String,
    /// Root-relative path of the folder.
    pub dir: PathBuf,
}

/// The packages installed under `root/install_path`: every folder holding
/// a `dbt_project.yml`, sorted by name.
pub fn installed(root: &Path, install_path: &str) -> Result<Vec<Installed>, Diagnostic> {
    let base = root.join(install_path);
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| {
            Diagnostic::error(format!("cannot read {}: {error}", base.display()))
        })?;
        let path = entry.path();
        if path.join(DBT_PROJECT_FILE).is_file() {
            let folder = entry.file_name().to_string_lossy().into_owned();
            found.push(Installed {
                dir: Path::new(install_path).join(&folder),
                folder,
            });
        }
    }
    found.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(found)
}

/// The `name:` and `version:` of the project in `folder`, read without
/// rendering (enough to install and to match a hub version).
pub fn project_identity(folder: &Path) -> Option<(String, Option<String>)> {
    let text = std::fs::read_to_string(folder.join(DBT_PROJECT_FILE)).ok()?;
    let value: Value = yaml_serde::from_str(&text).ok()?;
    let name = value.get("name")?.as_str()?.to_string();
    let version = value.get("version").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Some((name, version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn python_json_sorts_keys_and_spaces_like_json_dumps() {
        let value = serde_json::json!({"version": ["<2", ">=1"], "package": "a/b"});
        assert_eq!(
            python_json(&value),
            r#"{"package": "a/b", "version": ["<2", ">=1"]}"#
        );
    }

    #[test]
    fn specs_and_lock_read_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("packages.yml"),
            "packages:\n  - local: ../helpers\n  - git: file:///tmp/repo.git\n    revision: v1\n    subdirectory: pkg\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
        )
        .unwrap();
        let listed = read_specs(dir.path(), Path::new("")).unwrap().unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[1].location.line, 3);
        let locked: Vec<Locked> = listed
            .iter()
            .map(|l| Locked {
                name: Some("x".into()),
                spec: l.spec.clone(),
            })
            .collect();
        std::fs::write(dir.path().join(LOCK_FILE), lock_text(&locked, &listed)).unwrap();
        let back = read_lock(dir.path(), &listed).unwrap();
        assert_eq!(back[1], locked[1]);
        assert_eq!(back.len(), 3);
    }
}
