//! Data tests as nodes. Generic tests declared in schema YAML (on models,
//! seeds and source tables; on a column or on the whole node; under `tests:`
//! or `data_tests:`) and singular tests (`tests/**/*.sql`) become [`Node`]s of
//! resource type `test`. A generic test's code is a call of its `{% test %}`
//! macro, so built-in and custom tests compile the same way.
//!
//! - `nodes`: YAML test entries and test files -> test nodes.
//! - `naming`: dbt's test names and the hashes in names and ids.
//! - `call`: the Jinja call of a test's macro, argument by argument.
//! - `locate`: where a test, column or argument is written in a schema file.
//! - `check`: the checks that need the macros' signatures (unknown test,
//!   missing or unknown argument, built-in argument shapes).
//! - `thresholds`: severity, `warn_if`/`error_if` and `limit`.
//!
//! [`Node`]: crate::project::Node

mod call;
mod check;
mod locate;
mod naming;
mod nodes;
mod thresholds;

use serde_json::{Map, Value};

use crate::diag::Location;
use crate::resource::NodeId;

pub use call::{argument_call, jinja_literal};
pub use check::{Param, TestSignature, check, test_signatures};
pub use locate::locate_word;
pub use naming::{generic_test_name, hex, md5_hex};
pub use nodes::{add_test_nodes, relation_call};
pub use thresholds::{Condition, TestThresholds};

/// A generic test as declared in schema YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericTest {
    /// The test's name as written (`not_null`); its macro is `test_<name>`.
    pub test_name: String,
    /// The node it tests.
    pub attached: NodeId,
    pub column: Option<String>,
    /// Arguments other than `model` and `column_name`, in YAML order.
    pub args: Map<String, Value>,
    /// Where the test's name is written.
    pub location: Location,
    /// Where its column is declared, for column errors.
    pub column_location: Option<Location>,
}
