//! Reading SQL as text, the same way for every adapter: the trailing
//! semicolons that stop a SELECT from being embedded, and SQL that holds no
//! statement at all.

/// A SELECT without the trailing semicolons (and whitespace) that would end
/// the statement it is embedded in.
pub fn strip_trailing(sql: &str) -> &str {
    sql.trim_end().trim_end_matches(';').trim_end()
}

/// Whether some SQL holds no statement at all: only whitespace, `;` and
/// comments (warehouses reject it, so it is skipped).
pub fn only_comments(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            return rest.is_empty();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_go_and_the_rest_stays() {
        assert_eq!(strip_trailing("select 1 ;; \n"), "select 1");
        assert_eq!(strip_trailing("  select ';'"), "  select ';'");
    }

    #[test]
    fn comments_and_semicolons_alone_are_no_statement() {
        assert!(only_comments(" -- a\n/* b */ ;\n"));
        assert!(only_comments("/* unterminated"));
        assert!(!only_comments("-- a\nselect 1"));
    }
}
