//! `sb deps`: installs the packages of `packages.yml` (or
//! `dependencies.yml`) into the project's `packages-install-path`, as dbt
//! does: `local:` packages are copied, `git:` packages are cloned with the
//! `git` binary at their `revision` (from `subdirectory` when given), and
//! hub packages at the highest version inside their ranges (or the lock's
//! pin), downloaded from the hub ([`hub`]) unless that version is already
//! installed, so an installed `dbt_packages/` works offline. Packages those
//! packages list are installed too. Writes `package-lock.yml` with what each
//! one resolved to.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

mod hub;

use super::{Outcome, load_options};
use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::project::packages::{self, LOCK_FILE, Locked, PackageSpec};
use crate::project::version::{Version, VersionRange};
use crate::report::Reporter;
use crate::session::Session;

/// A package to install, and where its `local:` paths are relative to.
struct Pending {
    spec: PackageSpec,
    base: PathBuf,
    location: Option<Location>,
}

pub fn exec(session: &Session, reporter: &Reporter) -> Result<Outcome, Diagnostics> {
    let options = load_options(session)?;
    let settings = crate::project::settings::load_without_target(&options)?;
    let root = options.project_dir.as_path();
    let Some(listed) = packages::read_specs(root, Path::new(""))? else {
        reporter.info("No packages.yml or dependencies.yml: there is nothing to install");
        return Ok(Outcome::Success);
    };
    let lock = packages::read_lock(root, &listed).unwrap_or_default();
    let install_dir = root.join(&settings.packages_install_path);
    std::fs::create_dir_all(&install_dir)
        .map_err(|e| Diagnostic::error(format!("cannot create {}: {e}", install_dir.display())))?;
    let mut queue: VecDeque<Pending> = listed
        .iter()
        .map(|l| Pending {
            spec: pinned(&l.spec, &lock),
            base: root.to_path_buf(),
            location: Some(l.location.clone()),
        })
        .collect();
    let mut installer = Installer {
        install_dir,
        scratch: 0,
        hub: options
            .env
            .get(hub::HUB_URL_VARIABLE)
            .filter(|url| !url.is_empty())
            .map(hub::Hub::new),
    };
    let mut locked = Vec::new();
    let mut done = HashSet::new();
    while let Some(pending) = queue.pop_front() {
        let done_install = installer
            .install(&pending, reporter)
            .map_err(|d| d.at_opt(pending.location.clone()))?;
        if !done.insert(done_install.name.clone()) {
            continue;
        }
        let name = done_install.name;
        reporter.info(&format!(
            "Installed {name}{}",
            describe(&done_install.resolved)
        ));
        // A package's own packages are installed beside it.
        let dest = installer.install_dir.join(&name);
        if let Some(more) = packages::read_specs(&dest, Path::new(""))? {
            queue.extend(more.into_iter().map(|l| Pending {
                spec: pinned(&l.spec, &lock),
                base: done_install.source.clone(),
                location: None,
            }));
        }
        locked.push(Locked {
            name: Some(name),
            spec: done_install.resolved,
        });
    }
    let lock_path = root.join(LOCK_FILE);
    std::fs::write(&lock_path, packages::lock_text(&locked, &listed))
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", lock_path.display())))?;
    reporter.info(&format!(
        "Installed {} package{} into {}/ and wrote {LOCK_FILE}",
        locked.len(),
        if locked.len() == 1 { "" } else { "s" },
        settings.packages_install_path
    ));
    Ok(Outcome::Success)
}

/// The lock's pin for a listed package: a git package's commit, a hub
/// package's version.
fn pinned(spec: &PackageSpec, lock: &[Locked]) -> PackageSpec {
    lock.iter()
        .find_map(|entry| match (spec, &entry.spec) {
            (
                PackageSpec::Git {
                    url, subdirectory, ..
                },
                PackageSpec::Git {
                    url: locked_url,
                    subdirectory: locked_sub,
                    revision: Some(_),
                },
            ) if url == locked_url && subdirectory == locked_sub => Some(entry.spec.clone()),
            (
                PackageSpec::Hub {
                    package,
                    install_prerelease,
                    ..
                },
                PackageSpec::Hub {
                    package: locked,
                    versions,
                    ..
                },
            ) if package == locked => Some(PackageSpec::Hub {
                package: package.clone(),
                versions: versions.clone(),
                install_prerelease: *install_prerelease,
            }),
            _ => None,
        })
        .unwrap_or_else(|| spec.clone())
}

fn describe(resolved: &PackageSpec) -> String {
    match resolved {
        PackageSpec::Local { path } => format!(" from {path}"),
        PackageSpec::Git { url, revision, .. } => {
            format!(" from {url} at {}", revision.as_deref().unwrap_or("HEAD"))
        }
        PackageSpec::Hub {
            package, versions, ..
        } => {
            let version = versions
                .first()
                .map_or("of an unknown version", String::as_str);
            format!(" ({package} {version})")
        }
        PackageSpec::Tarball { url, .. } => format!(" from {url}"),
    }
}

/// What installing one package did.
struct Done {
    name: String,
    /// The folder its `local:` packages are relative to.
    source: PathBuf,
    /// The entry as the lock records it: a git commit, a hub version.
    resolved: PackageSpec,
}

struct Installer {
    install_dir: PathBuf,
    /// Clones and downloads made so far, for unique scratch folder names.
    scratch: usize,
    /// The package hub, when `DBT_PACKAGE_HUB_URL` names one.
    hub: Option<hub::Hub>,
}

impl Installer {
    /// Installs one package.
    fn install(&mut self, pending: &Pending, reporter: &Reporter) -> Result<Done, Diagnostic> {
        match &pending.spec {
            PackageSpec::Local { path } => {
                let source = pending.base.join(path);
                let name = identity(&source)?.0;
                self.replace(&name, &source)?;
                Ok(Done {
                    name,
                    source,
                    resolved: pending.spec.clone(),
                })
            }
            PackageSpec::Git {
                url,
                revision,
                subdirectory,
            } => {
                self.scratch += 1;
                let clone = self
                    .install_dir
                    .join(format!(".sb-deps-clone-{}", self.scratch));
                let _ = std::fs::remove_dir_all(&clone);
                let installed =
                    self.install_git(url, revision.as_deref(), subdirectory.as_deref(), &clone);
                let _ = std::fs::remove_dir_all(&clone);
                let (name, commit) = installed?;
                if revision.as_deref() != Some(commit.as_str()) {
                    reporter.note(&format!(
                        "{url}: revision {} is commit {commit}",
                        revision.as_deref().unwrap_or("HEAD")
                    ));
                }
                Ok(Done {
                    source: self.install_dir.join(&name),
                    name,
                    resolved: PackageSpec::Git {
                        url: url.clone(),
                        revision: Some(commit),
                        subdirectory: subdirectory.clone(),
                    },
                })
            }
            PackageSpec::Hub {
                package,
                versions,
                install_prerelease,
            } => self.install_hub_package(package, versions, *install_prerelease, reporter),
            PackageSpec::Tarball { url, .. } => {
                self.scratch += 1;
                let scratch = self
                    .install_dir
                    .join(format!(".sb-deps-download-{}", self.scratch));
                let installed = hub::download_tarball(url, &scratch).and_then(|folder| {
                    let name = identity(&folder)?.0;
                    self.replace(&name, &folder)?;
                    Ok(name)
                });
                let _ = std::fs::remove_dir_all(&scratch);
                let name = installed?;
                Ok(Done {
                    source: self.install_dir.join(&name),
                    name,
                    resolved: pending.spec.clone(),
                })
            }
        }
    }

    /// Clones `url` into `clone`, checks out `revision`, and installs the
    /// package found there (or in `subdirectory`): its name and the commit.
    fn install_git(
        &self,
        url: &str,
        revision: Option<&str>,
        subdirectory: Option<&str>,
        clone: &Path,
    ) -> Result<(String, String), Diagnostic> {
        git(
            None,
            &["clone", "--quiet", url, &clone.to_string_lossy()],
            url,
        )?;
        if let Some(revision) = revision {
            git(Some(clone), &["checkout", "--quiet", revision], url)?;
        }
        let commit = git(Some(clone), &["rev-parse", "HEAD"], url)?;
        let source = match subdirectory {
            Some(sub) => clone.join(sub),
            None => clone.to_path_buf(),
        };
        let name = identity(&source)?.0;
        self.replace(&name, &source)?;
        // A tag or branch is recorded as the commit it resolved to, as dbt does.
        Ok((name, commit))
    }

    /// A hub package: the installed copy when its version is inside the
    /// listed ranges (the lock pins one exact version), else the hub's
    /// highest version inside them, downloaded.
    fn install_hub_package(
        &mut self,
        package: &str,
        versions: &[String],
        install_prerelease: bool,
        reporter: &Reporter,
    ) -> Result<Done, Diagnostic> {
        let name = package.rsplit('/').next().unwrap_or(package).to_string();
        let dest = self.install_dir.join(&name);
        let mut range = VersionRange::any();
        for text in versions {
            let part = VersionRange::parse(text).map_err(|message| {
                Diagnostic::error(format!("cannot read the version of `{package}`: {message}"))
                    .help("write versions as dbt does, e.g. `version: [\">=1.0.0\", \"<2.0.0\"]`")
            })?;
            range = range.and(part);
        }
        let installed = packages::project_identity(&dest);
        if let Some((found, version)) = &installed {
            let fits = version
                .as_deref()
                .and_then(Version::parse)
                .is_none_or(|v| range.contains(&v));
            if fits {
                return Ok(Done {
                    name: found.clone(),
                    source: dest,
                    resolved: PackageSpec::Hub {
                        package: package.to_string(),
                        versions: version.clone().into_iter().collect(),
                        install_prerelease,
                    },
                });
            }
        }
        let Some(hub) = &self.hub else {
            let mut error = Diagnostic::error(format!(
                "cannot install `{package}`: no package hub is set"
            ))
            .help(format!(
                "set {} to the hub's address, vendor the package into {}/, or list it as a `git:` package",
                hub::HUB_URL_VARIABLE,
                dest.display()
            ));
            if let Some((_, version)) = installed {
                error = error.note(format!(
                    "{} holds version {}, outside {range}",
                    dest.display(),
                    version.unwrap_or_default()
                ));
            }
            return Err(error);
        };
        let offered = hub.resolve(package, &range, install_prerelease)?;
        self.scratch += 1;
        let scratch = self
            .install_dir
            .join(format!(".sb-deps-download-{}", self.scratch));
        let unpacked = hub::Hub::download(&offered, &scratch);
        let installed = unpacked.and_then(|folder| {
            let name = identity(&folder)?.0;
            self.replace(&name, &folder)?;
            Ok(name)
        });
        let _ = std::fs::remove_dir_all(&scratch);
        let name = installed?;
        reporter.note(&format!(
            "{package}: version {} from {}",
            offered.version, offered.tarball
        ));
        Ok(Done {
            source: self.install_dir.join(&name),
            name,
            resolved: PackageSpec::Hub {
                package: package.to_string(),
                versions: vec![offered.version],
                install_prerelease,
            },
        })
    }

    /// Replaces `install_dir/name` by a copy of `source`.
    fn replace(&self, name: &str, source: &Path) -> Result<(), Diagnostic> {
        let dest = self.install_dir.join(name);
        let same = dest.canonicalize().ok() == source.canonicalize().ok();
        if same {
            return Ok(());
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| Diagnostic::error(format!("cannot remove {}: {e}", dest.display())))?;
        }
        copy_tree(source, &dest, &self.install_dir)
    }
}

/// The name and version of the package in `folder`.
fn identity(folder: &Path) -> Result<(String, Option<String>), Diagnostic> {
    packages::project_identity(folder).ok_or_else(|| {
        Diagnostic::error(format!(
            "{} is not a dbt package: it has no dbt_project.yml with a `name`",
            folder.display()
        ))
        .help("point the entry at the folder that holds the package's dbt_project.yml (for git, `subdirectory:`)")
    })
}

/// Copies `from` into `to`, leaving out `.git` and the install folder
/// itself (a package that lists `local: .`).
fn copy_tree(from: &Path, to: &Path, install_dir: &Path) -> Result<(), Diagnostic> {
    let failed = |path: &Path, e: std::io::Error| {
        Diagnostic::error(format!("cannot copy {}: {e}", path.display()))
    };
    std::fs::create_dir_all(to).map_err(|e| failed(to, e))?;
    let skip = install_dir.canonicalize().ok();
    for entry in std::fs::read_dir(from).map_err(|e| failed(from, e))? {
        let entry = entry.map_err(|e| failed(from, e))?;
        let path = entry.path();
        if entry.file_name() == ".git" || path.canonicalize().ok() == skip {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().map_err(|e| failed(&path, e))?.is_dir() {
            copy_tree(&path, &dest, install_dir)?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| failed(&path, e))?;
        }
    }
    Ok(())
}

/// Runs `git ARGS` (in `dir`), returning its trimmed output.
fn git(dir: Option<&Path>, args: &[&str], url: &str) -> Result<String, Diagnostic> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command.args(args).output().map_err(|e| {
        Diagnostic::error(format!("cannot run git to install {url}: {e}")).help(
            "sb deps installs git packages with the git program: install git and put it on PATH",
        )
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Diagnostic::error(format!(
            "git {} failed for {url}: {}",
            args.first().copied().unwrap_or_default(),
            stderr.trim()
        ))
        .help("check the package's `git:` URL and `revision:` (a tag, branch or commit)"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
