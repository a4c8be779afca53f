//! "Did you mean" help: the known names closest to a mistyped one, and the
//! help line that offers them.

use std::collections::BTreeSet;

/// Up to `max` candidates close to `wanted`, best first, ties alphabetical;
/// for "did you mean" hints. Case is ignored; a candidate that contains the
/// wanted text (or is contained in it) counts as close.
pub fn closest_names<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<String> {
    const THRESHOLD: f64 = 0.65;
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = Vec::new();
    let mut seen = BTreeSet::new();
    for candidate in candidates {
        if !seen.insert(candidate) {
            continue;
        }
        let lower = candidate.to_lowercase();
        let mut score = strsim::normalized_damerau_levenshtein(&wanted_lower, &lower);
        let shorter = wanted_lower.chars().count().min(lower.chars().count());
        if shorter >= 3 && (lower.contains(&wanted_lower) || wanted_lower.contains(&lower)) {
            score = score.max(THRESHOLD);
        }
        if score >= THRESHOLD {
            scored.push((score, candidate));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(max)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// Formats "did you mean" help from a list of close names.
pub fn did_you_mean(close: &[String]) -> Option<String> {
    match close {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        many => Some(format!(
            "did you mean one of: {}?",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_suggests_best_first() {
        let candidates = ["orders", "order_items", "customers", "stg_orders", "users"];
        assert_eq!(closest_names("ordrs", candidates, 3), ["orders"]);
        assert_eq!(
            closest_names("order", candidates, 3),
            ["orders", "order_items", "stg_orders"]
        );
        assert_eq!(closest_names("custmers", candidates, 3), ["customers"]);
        assert!(closest_names("zzz", candidates, 3).is_empty());
        assert_eq!(closest_names("tga", ["tag", "path", "fqn"], 3), ["tag"]);
        assert_eq!(closest_names("ab", ["ac", "ab_", "ad"], 1), ["ab_"]);
    }

    #[test]
    fn closest_names_ties_are_alphabetical() {
        assert_eq!(
            closest_names("abc", ["abd", "abe", "abb"], 5),
            ["abb", "abd", "abe"]
        );
    }
}
