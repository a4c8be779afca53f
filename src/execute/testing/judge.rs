//! Judging a test's count: its `severity`, `warn_if`, `error_if` and
//! `limit` make it `pass`, `warn` or `fail`, with a diagnostic that shows
//! the first failing rows and where the SQL sent is.

use super::{Counted, TestPlan, short};
use crate::adapter::macros::{FAILING_ROW, GenericTestKind};
use crate::compile::CompiledProject;
use crate::diag::{Diagnostic, Location};
use crate::execute::sql_error::first_sql_line;
use crate::execute::{NodeResult, Status, run_sql_path};
use crate::project::Node;
use crate::project::data_tests::TestThresholds;
use crate::resource::NodeId;

impl TestPlan<'_> {
    /// Turns a count into a status, message and diagnostic.
    pub(super) fn judge(&self, index: NodeId, counted: Counted) -> NodeResult {
        let compiled = self.compiled;
        let node = &compiled.project.nodes[index];
        let (failures, samples) = match counted {
            Counted::Error(diagnostic) => {
                let mut result = NodeResult::new(index, Status::Error, short(&diagnostic.message));
                result.diagnostic = Some(diagnostic);
                return result;
            }
            Counted::Failures { failures, samples } => (failures, samples),
        };
        let thresholds = match TestThresholds::from_config(&compiled.nodes[index].config) {
            Ok(thresholds) => thresholds,
            Err((_, message)) => {
                let mut result = NodeResult::new(index, Status::Error, message.clone());
                result.diagnostic =
                    Some(Diagnostic::error(message).at(test_location(compiled, index)));
                return result;
            }
        };
        let failures = thresholds.limit.map_or(failures, |l| failures.min(l));
        let status = if !thresholds.warn_only && thresholds.error_if.holds(failures) {
            Status::Fail
        } else if thresholds.warn_if.holds(failures) {
            Status::Warn
        } else {
            Status::Pass
        };
        let what = failure_noun(node, failures);
        let message = if status == Status::Pass {
            if failures == 0 {
                String::new()
            } else {
                format!("{failures} {what}")
            }
        } else {
            format!("{failures} {what}")
        };
        let mut result = NodeResult::new(index, status, message);
        result.failures = Some(failures);
        if status != Status::Pass {
            let condition = if status == Status::Fail {
                format!("error_if {}", thresholds.error_if)
            } else {
                format!("warn_if {}", thresholds.warn_if)
            };
            let (mut diagnostic, verb) = if status == Status::Fail {
                (Diagnostic::error(String::new()), "failed")
            } else {
                (Diagnostic::warning(String::new()), "warns")
            };
            diagnostic.message = format!(
                "test `{}` {verb}: {failures} {what} ({condition})",
                node.name
            );
            diagnostic = diagnostic.at(test_location(compiled, index));
            if !samples.is_empty() {
                diagnostic = diagnostic.note(format!("first failing rows of `{}`:", node.name));
                for sample in &samples {
                    diagnostic = diagnostic.note(format!("  {sample}"));
                }
            }
            let run = run_sql_path(compiled, index);
            let shown = run.strip_prefix(&compiled.project.root).unwrap_or(&run);
            diagnostic = diagnostic
                .note(format!("the SQL sent is in {}", shown.display()))
                .help(if status == Status::Fail {
                    "fix the data or the model; set `severity: warn` in the test's config to report it without failing"
                } else {
                    "a warning does not fail the run; set `severity: error` to make it fail"
                });
            result.diagnostic = Some(diagnostic);
        }
        result.samples = samples;
        result
    }
}

/// The test's place in the project: its YAML entry or its SQL file.
pub fn test_location(compiled: &CompiledProject, index: NodeId) -> Location {
    let node = &compiled.project.nodes[index];
    match &node.generic_test {
        Some(test) => test.location.clone(),
        None => Location::from_line_col(
            node.file_path(),
            &node.raw_code,
            first_sql_line(&node.raw_code),
            1,
            1,
        ),
    }
}

/// "duplicated values", "unexpected values", "failing rows" (dbt's counts).
fn failure_noun(node: &Node, failures: u64) -> String {
    let one = failures == 1;
    let (singular, plural) = node
        .generic_test
        .as_ref()
        .and_then(|t| GenericTestKind::named(&t.test_name))
        .map_or(FAILING_ROW, |kind| kind.info().failing_row);
    (if one { singular } else { plural }).to_string()
}
