//! Finding a project's files: models, schema YAML, macros, seeds, singular
//! tests and docs (`.md`) under the configured paths, for the root project and for each
//! installed package (whose paths are relative to its own folder). A folder
//! that holds its own `project.yml` or `dbt_project.yml` is another project
//! and is not descended into.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

use crate::diag::Diagnostic;
use crate::project::settings::{DBT_PROJECT_FILE, PROJECT_FILE, Settings};
use crate::project::{SourceFile, slash};

/// A file found under one of the project's folders.
#[derive(Debug, Clone)]
pub struct FoundFile {
    /// Project-relative path.
    pub path: PathBuf,
    /// Path below the configured folder (`marts/orders.sql`).
    pub relative_to_root: PathBuf,
    pub text: String,
}

impl FoundFile {
    /// The file as the root project's source (a package's files are marked
    /// by [`discover_package`]).
    fn into_source(self) -> SourceFile {
        SourceFile {
            path: self.path,
            text: self.text,
            package: None,
        }
    }
}

/// Everything `discover` found, sorted by path so runs are deterministic.
#[derive(Debug, Default)]
pub struct Files {
    pub models: Vec<FoundFile>,
    pub schema_files: Vec<SourceFile>,
    pub macros: Vec<SourceFile>,
    pub seeds: Vec<FoundFile>,
    pub singular_tests: Vec<SourceFile>,
    /// `analyses/**/*.sql`: compiled, never run.
    pub analyses: Vec<FoundFile>,
    /// `snapshots/**/*.sql`: files of `{% snapshot %}` blocks.
    pub snapshots: Vec<FoundFile>,
    /// `.md` files of the docs paths, which hold `{% docs %}` blocks.
    pub docs: Vec<FoundFile>,
}

pub fn discover(root: &Path, settings: &Settings) -> Result<Files, Diagnostic> {
    discover_in(root, None, settings)
}

/// The files of the package `name` installed in `dir` (root-relative):
/// paths stay root-relative, so errors point at them, and every file is
/// marked as the package's.
pub fn discover_package(
    root: &Path,
    dir: &Path,
    name: &str,
    settings: &Settings,
) -> Result<Files, Diagnostic> {
    let mut files = discover_in(root, Some(dir), settings)?;
    for file in files
        .schema_files
        .iter_mut()
        .chain(&mut files.macros)
        .chain(&mut files.singular_tests)
    {
        file.package = Some(name.to_string());
    }
    Ok(files)
}

fn discover_in(root: &Path, base: Option<&Path>, settings: &Settings) -> Result<Files, Diagnostic> {
    let mut files = Files::default();
    let under = |folder: &String| match base {
        Some(base) => slash(&base.join(folder)),
        None => folder.clone(),
    };
    for folder in settings.model_paths.iter().map(under) {
        let found = walk_with_schema(root, &folder, "sql", true, &mut files.schema_files)?;
        files.models.extend(found);
    }
    for folder in settings.macro_paths.iter().map(under) {
        let found = walk(root, &folder, &["sql", "jinja", "j2"], true)?;
        files
            .macros
            .extend(found.into_iter().map(FoundFile::into_source));
    }
    for folder in settings.seed_paths.iter().map(under) {
        let found = walk_with_schema(root, &folder, "csv", false, &mut files.schema_files)?;
        files.seeds.extend(found);
    }
    for folder in settings.test_paths.iter().map(under) {
        for found in walk_with_schema(root, &folder, "sql", true, &mut files.schema_files)? {
            // tests/generic/ holds `{% test %}` blocks, shared like macros.
            if found.relative_to_root.starts_with("generic") {
                files.macros.push(found.into_source());
            } else if found.relative_to_root.starts_with("fixtures") {
                // tests/fixtures/ holds unit tests' `fixture:` files.
            } else {
                files.singular_tests.push(found.into_source());
            }
        }
    }
    for folder in settings.analysis_paths.iter().map(under) {
        let found = walk_with_schema(root, &folder, "sql", true, &mut files.schema_files)?;
        files.analyses.extend(found);
    }
    for folder in settings.snapshot_paths.iter().map(under) {
        let found = walk_with_schema(root, &folder, "sql", true, &mut files.schema_files)?;
        files.snapshots.extend(found);
    }
    // dbt's docs paths default to every folder it reads sources from.
    let docs_paths = if settings.docs_paths.is_empty() {
        let mut all = Vec::new();
        for folder in settings
            .model_paths
            .iter()
            .chain(&settings.seed_paths)
            .chain(&settings.test_paths)
            .chain(&settings.analysis_paths)
            .chain(&settings.macro_paths)
            .chain(&settings.snapshot_paths)
        {
            if !all.contains(folder) {
                all.push(folder.clone());
            }
        }
        all
    } else {
        settings.docs_paths.clone()
    };
    for folder in docs_paths.iter().map(under) {
        files.docs.extend(walk(root, &folder, &["md"], true)?);
    }
    Ok(files)
}

/// The files with `extension` under `root/folder`; the schema YAML beside
/// them goes to `schema_files`.
fn walk_with_schema(
    root: &Path,
    folder: &str,
    extension: &str,
    read_text: bool,
    schema_files: &mut Vec<SourceFile>,
) -> Result<Vec<FoundFile>, Diagnostic> {
    let mut wanted = Vec::new();
    for found in walk(root, folder, &[extension, "yml", "yaml"], read_text)? {
        if has_extension(&found.path, extension) {
            wanted.push(found);
        } else {
            schema_files.push(found.into_source());
        }
    }
    Ok(wanted)
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// Files with one of `extensions` under `root/folder`, sorted. CSV contents
/// are not read here (`read_text` false): seeds can be large.
fn walk(
    root: &Path,
    folder: &str,
    extensions: &[&str],
    read_text: bool,
) -> Result<Vec<FoundFile>, Diagnostic> {
    let base = root.join(folder);
    if !base.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(FoundFile, Option<PathBuf>)> = Vec::new();
    let walker = WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
            let nested_project = entry.depth() > 0
                && entry.file_type().is_dir()
                && (entry.path().join(PROJECT_FILE).is_file()
                    || entry.path().join(DBT_PROJECT_FILE).is_file());
            !hidden && !nested_project
        });
    for entry in walker {
        let entry = entry.map_err(|error| {
            Diagnostic::error(format!("cannot read {}: {error}", base.display()))
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        if !extensions.iter().any(|e| has_extension(path, e)) {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let relative_to_root = path.strip_prefix(&base).unwrap_or(path).to_path_buf();
        let wanted = read_text || !has_extension(path, "csv");
        out.push((
            FoundFile {
                path: PathBuf::from(slash(&relative)),
                relative_to_root,
                text: String::new(),
            },
            wanted.then(|| path.to_path_buf()),
        ));
    }
    // Reading ten thousand small files is mostly system calls: do it on
    // every core.
    out.into_par_iter()
        .map(|(mut found, read_from)| {
            if let Some(path) = read_from {
                found.text = std::fs::read_to_string(&path).map_err(|error| {
                    Diagnostic::error(format!("cannot read {}: {error}", slash(&found.path)))
                        .help("check the file's permissions and that it is UTF-8 text")
                })?;
            }
            Ok(found)
        })
        .collect()
}
