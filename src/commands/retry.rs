//! `sb retry`: runs again what failed in the last invocation, as dbt's
//! `retry` does: the nodes whose status in `target/run_results.json` is
//! `error`, `fail` or `skipped`, with the command that ran them (`run`,
//! `build`, `test` or `snapshot`). The selection is `result:` selectors
//! against the target folder itself, so `sb retry` and
//! `sb <command> -s result:error+ --state target` pick the same nodes.

use super::{Outcome, build, load_project, run, test};
use crate::cli::TestArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::report::Reporter;
use crate::session::Session;

pub fn exec(
    args: &TestArgs,
    session: &Session,
    reporter: &Reporter,
) -> Result<Outcome, Diagnostics> {
    let project = load_project(session, reporter)?;
    let target = project.target_dir();
    let path = target.join("run_results.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Diagnostics::from(
            Diagnostic::error(format!("nothing to retry: cannot read {}: {e}", path.display()))
                .help("`sb retry` reruns what failed in the last `sb run`, `build`, `test` or `snapshot`; run one first"),
        )
    })?;
    let previous: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Diagnostics::from(Diagnostic::error(format!(
            "{} is not valid run results: {e}",
            path.display()
        )))
    })?;
    let which = previous
        .pointer("/args/which")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let retried = ["error", "fail", "skipped", "runtime error"];
    let failed = previous
        .get("results")
        .and_then(serde_json::Value::as_array)
        .map_or(0, |results| {
            results
                .iter()
                .filter(|r| {
                    r.get("status")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|s| retried.contains(&s))
                })
                .count()
        });
    if failed == 0 {
        reporter.info(&format!(
            "Nothing to retry: every node of the last `sb {which}` succeeded"
        ));
        return Ok(Outcome::Success);
    }
    let mut flags = session.flags.clone();
    flags.select = ["result:error", "result:fail", "result:skipped"]
        .map(str::to_string)
        .to_vec();
    flags.exclude.clear();
    flags.state = Some(target);
    // The retry's run results name the command it repeated, so a second
    // `sb retry` repeats it again.
    let mut invocation = session.invocation.clone();
    invocation
        .args
        .insert("which".into(), serde_json::Value::from(which.clone()));
    let again = Session {
        command: session.command,
        flags,
        env: session.env.clone(),
        invocation,
    };
    reporter.info(&format!(
        "Retrying the {failed} failed or skipped node{} of the last `sb {which}`",
        if failed == 1 { "" } else { "s" }
    ));
    match which.as_str() {
        "run" => run::exec(&again, reporter),
        "snapshot" => run::exec_snapshots(&again, reporter),
        "test" => test::exec(args, &again, reporter),
        "build" => build::exec(args, &again, reporter),
        other => Err(Diagnostics::from(
            Diagnostic::error(format!(
                "the last run was `sb {other}`, which `sb retry` does not repeat"
            ))
            .help("`sb retry` repeats `sb run`, `build`, `test` and `snapshot`"),
        )),
    }
}
