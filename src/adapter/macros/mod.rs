//! sb's built-in generic tests. `generic_tests.sql` beside this file holds
//! them as dispatchable Jinja macros: the source of truth, which a project
//! overrides for one test, or one test on one warehouse. This module is
//! their one description in Rust, shared by the two places that write their
//! SQL without Jinja: the native renderer of a single test
//! (`jinja::native_tests`) and the per-model batched query
//! (`execute::testing::batch`). It holds the table of the test kinds and
//! the per-warehouse spellings of the helper macros those queries use
//! (`sb_string_literal`, `sb_cast_string`).

use super::AdapterKind;

/// One of sb's built-in generic tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenericTestKind {
    NotNull,
    Unique,
    AcceptedValues,
    Relationships,
    AcceptedRange,
    ExpressionIsTrue,
    RowCount,
    Distribution,
    UniqueCombination,
}

/// A row of [`GENERIC_TESTS`].
#[derive(Debug)]
pub struct GenericTestInfo {
    pub kind: GenericTestKind,
    /// The name a schema file uses, `{% test <name> %}` in the macros.
    pub name: &'static str,
    /// The macro the test block becomes, `test_<name>`.
    pub macro_name: &'static str,
    /// What one failing row of its query is, and several, in messages.
    pub failing_row: (&'static str, &'static str),
}

/// What a failing row of any other test (not_null, a project's own) is called.
pub const FAILING_ROW: (&str, &str) = ("failing row", "failing rows");

/// Every built-in generic test, in the order of [`GenericTestKind`].
pub const GENERIC_TESTS: [GenericTestInfo; 9] = [
    GenericTestInfo {
        kind: GenericTestKind::NotNull,
        name: "not_null",
        macro_name: "test_not_null",
        failing_row: FAILING_ROW,
    },
    GenericTestInfo {
        kind: GenericTestKind::Unique,
        name: "unique",
        macro_name: "test_unique",
        failing_row: ("duplicated value", "duplicated values"),
    },
    GenericTestInfo {
        kind: GenericTestKind::AcceptedValues,
        name: "accepted_values",
        macro_name: "test_accepted_values",
        failing_row: ("unexpected value", "unexpected values"),
    },
    GenericTestInfo {
        kind: GenericTestKind::Relationships,
        name: "relationships",
        macro_name: "test_relationships",
        failing_row: ("row without a parent", "rows without a parent"),
    },
    GenericTestInfo {
        kind: GenericTestKind::AcceptedRange,
        name: "accepted_range",
        macro_name: "test_accepted_range",
        failing_row: FAILING_ROW,
    },
    GenericTestInfo {
        kind: GenericTestKind::ExpressionIsTrue,
        name: "expression_is_true",
        macro_name: "test_expression_is_true",
        failing_row: FAILING_ROW,
    },
    GenericTestInfo {
        kind: GenericTestKind::RowCount,
        name: "row_count",
        macro_name: "test_row_count",
        failing_row: ("row count out of range", "row counts out of range"),
    },
    GenericTestInfo {
        kind: GenericTestKind::Distribution,
        name: "distribution",
        macro_name: "test_distribution",
        failing_row: (
            "value off its expected share",
            "values off their expected share",
        ),
    },
    GenericTestInfo {
        kind: GenericTestKind::UniqueCombination,
        name: "unique_combination",
        macro_name: "test_unique_combination",
        failing_row: ("duplicated combination", "duplicated combinations"),
    },
];

impl GenericTestKind {
    /// The built-in test a schema file names `name`.
    pub fn named(name: &str) -> Option<Self> {
        GENERIC_TESTS
            .iter()
            .find(|test| test.name == name)
            .map(|test| test.kind)
    }

    /// The built-in test whose macro is `macro_name` (`test_<name>`).
    pub fn of_macro(macro_name: &str) -> Option<Self> {
        GENERIC_TESTS
            .iter()
            .find(|test| test.macro_name == macro_name)
            .map(|test| test.kind)
    }

    /// This test's row of [`GENERIC_TESTS`].
    pub const fn info(self) -> &'static GenericTestInfo {
        &GENERIC_TESTS[self as usize]
    }

    pub const fn macro_name(self) -> &'static str {
        self.info().macro_name
    }
}

// `info` indexes the table by the kind's discriminant.
const _: () = {
    let mut at = 0;
    while at < GENERIC_TESTS.len() {
        assert!(GENERIC_TESTS[at].kind as usize == at);
        at += 1;
    }
};

/// `sb_string_literal`: `text` in single quotes, with quotes doubled
/// (DuckDB), or quotes and backslashes escaped with a backslash (BigQuery).
pub fn string_literal(text: &str, kind: AdapterKind) -> String {
    match kind {
        AdapterKind::Duckdb => format!("'{}'", text.replace('\'', "''")),
        AdapterKind::Bigquery => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

/// `sb_cast_string`: `expression` cast to the warehouse's string type.
pub fn cast_string(expression: &str, kind: AdapterKind) -> String {
    match kind {
        AdapterKind::Duckdb => format!("cast({expression} as varchar)"),
        AdapterKind::Bigquery => format!("cast({expression} as string)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_macros_name_the_same_tests() {
        let macros = include_str!("generic_tests.sql");
        for test in &GENERIC_TESTS {
            assert_eq!(GenericTestKind::named(test.name), Some(test.kind));
            assert_eq!(GenericTestKind::of_macro(test.macro_name), Some(test.kind));
            assert_eq!(test.macro_name, format!("test_{}", test.name));
            assert!(
                macros.contains(&format!("{{% test {}(", test.name)),
                "{}",
                test.name
            );
        }
        let blocks = regex::Regex::new(r"\{% test (\w+)\(").expect("valid regex");
        for block in blocks.captures_iter(macros) {
            assert!(GenericTestKind::named(&block[1]).is_some(), "{}", &block[1]);
        }
    }

    #[test]
    fn literals_follow_the_warehouse() {
        assert_eq!(string_literal("it's", AdapterKind::Duckdb), "'it''s'");
        assert_eq!(string_literal("it's", AdapterKind::Bigquery), "'it\\'s'");
        assert_eq!(
            string_literal("back\\slash", AdapterKind::Bigquery),
            "'back\\\\slash'"
        );
    }
}
