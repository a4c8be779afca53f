//! `profiles.yml`: where a dbt project's targets live. Found as dbt finds
//! it (`--profiles-dir`, then `DBT_PROFILES_DIR`, then the project folder,
//! then `~/.dbt/`); the profile is the one `dbt_project.yml` names, the
//! output is `--target` or the profile's `target:`, and only that output is
//! rendered (`env_var`, `var`) and read into a [`Target`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::suggest::closest_names;
use crate::diag::{Diagnostic, Location, did_you_mean};
use crate::project::LoadOptions;
use crate::project::settings::{Settings, Target};
use crate::project::target::{Renderer, TargetFlavor, TargetSource, build_target};
use crate::project::yaml::YamlFile;

pub const PROFILES_FILE: &str = "profiles.yml";

/// Where `profiles.yml` may be, as the session found them.
#[derive(Debug, Clone, Default)]
pub struct ProfileSearch {
    /// `--profiles-dir DIR`.
    pub flag_dir: Option<PathBuf>,
    /// `DBT_PROFILES_DIR`.
    pub env_dir: Option<PathBuf>,
    /// `HOME`, for `~/.dbt/`.
    pub home: Option<PathBuf>,
}

impl ProfileSearch {
    /// The folders to look in, in order, each with why it is looked in.
    /// A folder the user named is the only one looked in, as in dbt.
    fn folders(&self, project_dir: &Path) -> Vec<(PathBuf, &'static str)> {
        if let Some(dir) = &self.flag_dir {
            return vec![(project_dir.join(dir), "--profiles-dir")];
        }
        if let Some(dir) = &self.env_dir {
            return vec![(project_dir.join(dir), "DBT_PROFILES_DIR")];
        }
        let mut folders = vec![(project_dir.to_path_buf(), "the project folder")];
        if let Some(home) = &self.home {
            folders.push((home.join(".dbt"), "~/.dbt"));
        }
        folders
    }
}

/// The target of the dbt project `settings` at `root`.
pub fn resolve(
    root: &Path,
    settings: &Settings,
    options: &LoadOptions,
) -> Result<Target, Diagnostic> {
    let project_file = &settings.file;
    let Some(profile) = settings.profile.clone() else {
        return Err(Diagnostic::error("dbt_project.yml names no `profile`")
            .at(Location::from_line_col(
                &project_file.path,
                &project_file.source,
                1,
                1,
                1,
            ))
            .help("add `profile: <name>`, the entry of profiles.yml that holds the targets"));
    };
    let folders = options.profiles.folders(root);
    let Some(found) = folders
        .iter()
        .map(|(dir, _)| dir.join(PROFILES_FILE))
        .find(|path| path.is_file())
    else {
        let looked: Vec<String> = folders
            .iter()
            .map(|(dir, why)| format!("{} ({why})", dir.join(PROFILES_FILE).display()))
            .collect();
        return Err(Diagnostic::error(format!(
            "no profiles.yml found for profile `{profile}`"
        ))
        .note(format!("looked in: {}", looked.join(", ")))
        .help("write a profiles.yml in the project folder or ~/.dbt/, or pass --profiles-dir DIR"));
    };
    let text = std::fs::read_to_string(&found).map_err(|error| {
        Diagnostic::error(format!("cannot read {}: {error}", found.display()))
            .help("check the file's permissions and that it is UTF-8 text")
    })?;
    // Errors name the file as the user knows it: relative inside the project.
    let shown = found
        .strip_prefix(root)
        .map_or_else(|_| found.clone(), Path::to_path_buf);
    let file = YamlFile::parse(&shown, text)?;
    let profiles = file.value.as_object().cloned().unwrap_or_default();
    let names = || {
        profiles
            .keys()
            .filter(|k| k.as_str() != "config")
            .cloned()
            .collect::<Vec<_>>()
    };
    let Some(entry) = profiles.get(&profile).filter(|_| profile != "config") else {
        let known = names();
        let close = closest_names(&profile, known.iter().map(String::as_str), 3);
        return Err(Diagnostic::error(format!(
            "no profile named `{profile}` in {}",
            shown.display()
        ))
        .at(project_file.locate_key("profile", 1))
        .note(if known.is_empty() {
            "the file defines no profiles".to_string()
        } else {
            format!("profiles there: {}", known.join(", "))
        })
        .help(did_you_mean(&close).unwrap_or_else(|| {
            format!("add a `{profile}:` entry with `target:` and `outputs:` to that file, or change `profile:`")
        })));
    };
    let profile_line = file.locate_key(&profile, 1).line;
    let renderer = Renderer::new(&file, &options.env);
    let outputs = entry.get("outputs").and_then(Value::as_object);
    let Some(outputs) = outputs.filter(|o| !o.is_empty()) else {
        return Err(
            Diagnostic::error(format!("profile `{profile}` has no `outputs`"))
                .at(file.locate_key(&profile, 1))
                .help("add `outputs:` with one mapping per target, e.g. `dev: {type: duckdb, path: dev.duckdb}`"),
        );
    };
    let default = match entry.get("target") {
        None | Some(Value::Null) => None,
        Some(value) => match renderer.render_value(value, &settings.vars, "target")? {
            Value::String(name) => Some(name),
            other => Some(other.to_string()),
        },
    };
    let requested = options.target.clone();
    let name = requested
        .clone()
        .or(default)
        .unwrap_or_else(|| "default".into());
    let outputs_line = file.locate_key("outputs", profile_line).line;
    let Some(Value::Object(raw)) = outputs.get(&name) else {
        let known: Vec<&str> = outputs.keys().map(String::as_str).collect();
        let close = closest_names(&name, known.iter().copied(), 3);
        let mut diagnostic =
            Diagnostic::error(format!("profile `{profile}` has no target `{name}`")).note(format!(
                "targets in {}: {}",
                shown.display(),
                known.join(", ")
            ));
        if requested.is_none() {
            diagnostic = diagnostic.at(file.locate_key("target", profile_line));
        }
        return Err(diagnostic.help(
            did_you_mean(&close).unwrap_or_else(|| format!("choose one of: {}", known.join(", "))),
        ));
    };
    let source = TargetSource {
        file: &file,
        name: &name,
        raw,
        line: file.locate_key(&name, outputs_line).line,
        flavor: TargetFlavor::Dbt,
    };
    let mut target = build_target(root, settings, &source, &renderer, &options.bigquery)?;
    target.profiles_file = Some(found);
    Ok(target)
}
