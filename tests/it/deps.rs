//! dbt packages: `sb deps` installs `local:` and `git:` packages (a tag
//! and a subdirectory of a `file://` repository made here) and writes
//! `package-lock.yml`; hub packages are downloaded from a hub (a small HTTP
//! server here) at the highest version in range, taken as installed when the
//! installed version fits, or refused clearly when no hub is set; installed packages load as projects whose
//! models build with their own ids, under their own and the root's config.

use std::path::Path;
use std::process::Command;

use crate::it::harness::Project;

const PROFILES: &str = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/dev.duckdb\n      schema: analytics\n";

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "sb tests")
        .env("GIT_AUTHOR_EMAIL", "tests@example.invalid")
        .env("GIT_COMMITTER_NAME", "sb tests")
        .env("GIT_COMMITTER_EMAIL", "tests@example.invalid")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
    std::fs::write(path, text).expect("write");
}

/// A git repository holding the package `gitpkg` in `pkg/`: tagged `v1.0`
/// when its model selects 2, then changed to select 3. Returns the tagged commit.
fn git_package(repo: &Path) -> String {
    write(
        &repo.join("pkg/dbt_project.yml"),
        "name: gitpkg\nversion: \"1.0.0\"\nconfig-version: 2\nmodels:\n  gitpkg:\n    +materialized: table\n",
    );
    write(&repo.join("pkg/models/git_model.sql"), "select 2 as id\n");
    write(&repo.join("README.md"), "not a package at the top\n");
    git(repo, &["init", "--quiet"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", "first"]);
    git(repo, &["tag", "v1.0"]);
    let tagged = git(repo, &["rev-parse", "HEAD"]);
    write(&repo.join("pkg/models/git_model.sql"), "select 3 as id\n");
    git(repo, &["commit", "--quiet", "-am", "later"]);
    tagged
}

#[test]
fn deps_installs_local_and_git_packages_whose_models_build_with_package_ids() {
    let repo = tempfile::tempdir().expect("a repository folder");
    let tagged = git_package(repo.path());
    let url = format!("file://{}", repo.path().display());
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nconfig-version: 2\nprofile: shop\nvars:\n  gitpkg:\n    pkg_var: scoped\nmodels:\n  gitpkg:\n    +materialized: view\n",
        )
        .file("profiles.yml", PROFILES)
        .file(
            "packages.yml",
            format!("packages:\n  - local: vendor/helpers\n  - git: \"{url}\"\n    revision: v1.0\n    subdirectory: pkg\n"),
        )
        .file(
            "vendor/helpers/dbt_project.yml",
            "name: helpers\nconfig-version: 2\nmodels:\n  helpers:\n    +materialized: table\n",
        )
        .file("vendor/helpers/models/helper_model.sql", "select 1 as id\n")
        .file("vendor/helpers/seeds/helper_seed.csv", "code\na\nb\n")
        .file(
            "vendor/helpers/macros/helpers.sql",
            "{% macro helper_value() %}42{% endmacro %}\n",
        )
        .file(
            "models/combined.sql",
            "select id from {{ ref('helper_model') }} union all select id from {{ ref('git_model') }}",
        );

    project.sb(&["deps"]).success();

    assert!(project.exists("dbt_packages/helpers/models/helper_model.sql"));
    assert!(project.exists("dbt_packages/gitpkg/models/git_model.sql"));
    assert!(!project.exists("dbt_packages/gitpkg/.git"));
    let lock = project.read("package-lock.yml");
    for expected in [
        "name: helpers",
        "local: vendor/helpers",
        "name: gitpkg",
        &format!("git: {url}"),
        &format!("revision: {tagged}"),
        "subdirectory: pkg",
        "sha1_hash: ",
    ] {
        assert!(
            lock.contains(expected),
            "package-lock.yml lacks {expected:?}:\n{lock}"
        );
    }

    project.sb(&["build"]).success();

    assert_eq!(
        project.query("select count(*) from analytics.helper_seed"),
        [["2"]],
        "a package's seeds load too"
    );
    assert_eq!(
        project.query("select id from analytics.combined order by id"),
        [["1"], ["2"]],
        "the tag's commit is installed, not the branch's head"
    );
    assert_eq!(
        project.relation_type("analytics", "git_model").as_deref(),
        Some("VIEW"),
        "the root project's block for a package wins over the package's own"
    );
    assert_eq!(
        project
            .relation_type("analytics", "helper_model")
            .as_deref(),
        Some("BASE TABLE")
    );
    let results = project.read_json("target/run_results.json");
    let ids: Vec<&str> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["unique_id"].as_str())
        .collect();
    for id in [
        "model.gitpkg.git_model",
        "model.helpers.helper_model",
        "model.shop.combined",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    // The lock pins the commit: a second `deps` installs the same one.
    project.sb(&["deps"]).success();
    assert_eq!(
        project.read("dbt_packages/gitpkg/models/git_model.sql"),
        "select 2 as id\n"
    );
}

#[test]
fn package_vars_and_files_are_scoped_to_their_package() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nvars:\n  color: red\n  shop:\n    size: large\n  helpers:\n    size: small\n",
        )
        .file("profiles.yml", PROFILES)
        .file(
            "dbt_packages/helpers/dbt_project.yml",
            "name: helpers\nvars:\n  color: blue\n  shape: round\n",
        )
        .file("dbt_packages/helpers/macros/m.sql", "{% macro helpers_macro() %}1{% endmacro %}")
        .file("models/m.sql", "select 1 as id");
    let options = sb::project::LoadOptions {
        project_dir: project.path().to_path_buf(),
        ..Default::default()
    };
    let loaded = sb::project::Project::load(&options).expect("the project loads");

    let root = loaded.vars_for("shop");
    assert_eq!(root["size"], "large");
    assert_eq!(root["color"], "red");
    let helpers = loaded.vars_for("helpers");
    assert_eq!(helpers["size"], "small", "the root's scope for the package");
    assert_eq!(
        helpers["color"], "red",
        "the root's globals win over the package's"
    );
    assert_eq!(helpers["shape"], "round", "the package's own vars");
    let package_macro = loaded
        .macro_files
        .iter()
        .find(|f| f.path.ends_with("m.sql"))
        .expect("the package's macro file");
    assert_eq!(package_macro.package.as_deref(), Some("helpers"));
}

#[test]
fn the_same_model_name_in_two_packages_keeps_two_ids() {
    let project = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shop\n")
        .file("profiles.yml", PROFILES)
        .file("dbt_packages/one/dbt_project.yml", "name: one\n")
        .file("dbt_packages/one/models/shared.sql", "select 1 as id")
        .file("dbt_packages/two/dbt_project.yml", "name: two\n")
        .file("dbt_packages/two/models/shared.sql", "select 2 as id");

    project.sb(&["compile"]).success();

    let manifest = project.read_json("target/manifest.json");
    assert!(manifest["nodes"]["model.one.shared"].is_object());
    assert!(manifest["nodes"]["model.two.shared"].is_object());
    project.write("dbt_packages/one/models/again/shared.sql", "select 3 as id");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("two models are named `shared`");
}

#[test]
fn hub_packages_are_taken_as_installed_or_refused_when_no_hub_is_set() {
    let project = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shop\n")
        .file("profiles.yml", PROFILES)
        .file(
            "packages.yml",
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
        );

    project
        .sb(&["deps"])
        .code(2)
        .stderr_contains("cannot install `dbt-labs/dbt_utils`: no package hub is set")
        .stderr_contains("set DBT_PACKAGE_HUB_URL")
        .stderr_contains("packages.yml:2:5");
    project
        .sb(&["compile"])
        .code(2)
        .stderr_contains("1 package is listed, but 0 installed in dbt_packages/")
        .stderr_contains("run `sb deps` to install them");

    project.write(
        "dbt_packages/dbt_utils/dbt_project.yml",
        "name: dbt_utils\nversion: \"1.1.1\"\n",
    );
    project.sb(&["deps"]).success();
    let lock = project.read("package-lock.yml");
    assert!(lock.contains("package: dbt-labs/dbt_utils"), "{lock}");
    assert!(lock.contains("version: 1.1.1"), "{lock}");
    assert!(project.exists("dbt_packages/dbt_utils/dbt_project.yml"));
}

#[test]
fn a_packages_own_packages_and_hooks_come_along() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nprofile: shop\non-run-start: \"insert into main.hook_log values ('shop')\"\n",
        )
        .file("profiles.yml", PROFILES)
        .file("packages.yml", "packages:\n  - local: vendor/outer\n")
        .file(
            "vendor/outer/dbt_project.yml",
            "name: outer\nrequire-dbt-version: \"<1.0.0\"\non-run-start:\n  - \"create table if not exists main.hook_log (who varchar)\"\n  - \"insert into main.hook_log values ('outer')\"\n",
        )
        .file("vendor/outer/packages.yml", "packages:\n  - local: ../inner\n")
        .file("vendor/inner/dbt_project.yml", "name: inner\n")
        .file("vendor/inner/models/inner_model.sql", "select 7 as id\n");

    project.sb(&["deps"]).success();
    assert!(project.exists("dbt_packages/inner/models/inner_model.sql"));
    assert!(project.read("package-lock.yml").contains("name: inner"));

    project
        .sb(&["run"])
        .success()
        .stderr_contains("warning: this project requires dbt <1.0.0");

    assert_eq!(
        project.query("select id from analytics.inner_model"),
        [["7"]]
    );
    assert_eq!(
        project.query("select who from main.hook_log"),
        [["outer"], ["shop"]],
        "packages' hooks run first, the root project's last"
    );
}

#[test]
fn a_package_config_rendered_from_a_var_the_root_project_sets_disables_its_models() {
    let project = Project::bare()
        .file(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nvars:\n  helpers_enabled: false\n",
        )
        .file("profiles.yml", PROFILES)
        .file(
            "dbt_packages/helpers/dbt_project.yml",
            "name: helpers\nmodels:\n  helpers:\n    +enabled: \"{{ var('helpers_enabled', true) }}\"\n",
        )
        .file("dbt_packages/helpers/models/helper_model.sql", "select 1 as id")
        .file("models/m.sql", "select 1 as id");

    project.sb(&["run"]).success();

    assert_eq!(project.relations(), ["analytics.m"]);
}

/// Serves the files `files_at(base)` gives (path -> body) over HTTP on a
/// local port until the test ends; returns the base URL.
fn serve(files_at: impl FnOnce(&str) -> Vec<(String, Vec<u8>)>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let files = files_at(&base);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let found = files.iter().find(|(p, _)| *p == path);
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

/// A .tar.gz of the package `hubpkg` at `version`, in a `hubpkg-<version>/` folder.
fn package_tarball(version: &str, selects: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a folder");
    let top = format!("hubpkg-{version}");
    write(
        &dir.path().join(&top).join("dbt_project.yml"),
        &format!("name: hubpkg\nversion: \"{version}\"\nconfig-version: 2\n"),
    );
    write(
        &dir.path().join(&top).join("models/hub_model.sql"),
        &format!("select {selects} as id\n"),
    );
    let archive = dir.path().join("out.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .arg(&top)
        .status()
        .expect("run tar");
    assert!(status.success());
    std::fs::read(archive).expect("read the tarball")
}

#[test]
fn hub_packages_download_the_highest_version_in_range_and_the_lock_pins_it() {
    let base = serve(|base| {
        let mut files = Vec::new();
        let mut versions = serde_json::Map::new();
        for (version, selects) in [("1.1.0", 1), ("1.2.0", 2), ("1.3.0-rc1", 5), ("2.0.0", 3)] {
            let path = format!("/tarballs/{version}.tgz");
            versions.insert(
                version.to_string(),
                serde_json::json!({"downloads": {"tarball": format!("{base}{path}")}}),
            );
            files.push((path, package_tarball(version, selects)));
        }
        let index = serde_json::json!({"name": "hubpkg", "versions": versions});
        files.push((
            "/api/v1/acme/hubpkg.json".to_string(),
            index.to_string().into_bytes(),
        ));
        files
    });
    let project = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shop\n")
        .file("profiles.yml", PROFILES)
        .file(
            "packages.yml",
            "packages:\n  - package: acme/hubpkg\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
        );
    let env = [("DBT_PACKAGE_HUB_URL", base.as_str())];

    project
        .sb_with_env(&["deps"], &env)
        .success()
        .stdout_contains("Installed hubpkg (acme/hubpkg 1.2.0)");
    assert!(project.read("package-lock.yml").contains("version: 1.2.0"));
    project.sb(&["run"]).success();
    assert_eq!(
        project.query("select id from analytics.hub_model"),
        crate::it::harness::rows(&[["2"]])
    );

    // The lock pins 1.2.0 even when the installed copy is gone; an
    // installed copy of the pinned version needs no hub at all.
    std::fs::remove_dir_all(project.path().join("dbt_packages")).expect("remove");
    project.sb_with_env(&["deps"], &env).success();
    assert!(
        project
            .read("dbt_packages/hubpkg/dbt_project.yml")
            .contains("1.2.0")
    );
    project.sb(&["deps"]).success();

    // With `install-prerelease: true` the release candidate inside the
    // range wins, and the lock pins it.
    let eager = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shop\n")
        .file("profiles.yml", PROFILES)
        .file(
            "packages.yml",
            "packages:\n  - package: acme/hubpkg\n    version: [\">=1.0.0\", \"<2.0.0\"]\n    install-prerelease: true\n",
        );
    eager
        .sb_with_env(&["deps"], &env)
        .success()
        .stdout_contains("Installed hubpkg (acme/hubpkg 1.3.0-rc1)");
    std::fs::remove_dir_all(eager.path().join("dbt_packages")).expect("remove");
    eager
        .sb_with_env(&["deps"], &env)
        .success()
        .stdout_contains("Installed hubpkg (acme/hubpkg 1.3.0-rc1)");
}

/// `tarball:` packages (dbt 1.6+): downloaded, unpacked into
/// dbt_packages/ under the package's own name, and locked by their URL.
#[test]
fn tarball_packages_are_downloaded_and_locked() {
    let base = serve(|_| vec![("/hubpkg.tar.gz".to_string(), package_tarball("0.3.0", 7))]);
    let project = Project::bare()
        .file("dbt_project.yml", "name: shop\nprofile: shop\n")
        .file("profiles.yml", PROFILES)
        .file(
            "packages.yml",
            format!("packages:\n  - tarball: {base}/hubpkg.tar.gz\n    name: hubpkg\n"),
        );
    project
        .sb(&["deps"])
        .success()
        .stdout_contains(&format!("Installed hubpkg from {base}/hubpkg.tar.gz"));
    assert!(
        project
            .read("package-lock.yml")
            .contains(&format!("tarball: {base}/hubpkg.tar.gz"))
    );
    project.sb(&["run"]).success();
    assert_eq!(
        project.query("select id from analytics.hub_model"),
        crate::it::harness::rows(&[["7"]])
    );
    // A tarball that is not there is an error naming it.
    project.write(
        "packages.yml",
        format!("packages:\n  - tarball: {base}/missing.tar.gz\n    name: missing\n"),
    );
    project
        .sb(&["deps"])
        .code(2)
        .stderr_contains("missing.tar.gz");
}
