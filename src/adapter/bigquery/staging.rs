//! Staging tables of loads too large for one upload: their names
//! (`<table>__sb_load_sb_t_<millis>_<n>_<hex>`, the suffix being a fresh
//! `Api::new_job_id("t")`), their resource (they expire by themselves
//! `STAGING_LIFETIME` after creation, so a crash leaves nothing behind for
//! long), and which tables a later load of the same table may delete as
//! left over from an interrupted one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// How long a staging table lives if nothing deletes it.
pub const STAGING_LIFETIME: Duration = Duration::from_hours(24);

const MARK: &str = "__sb_load_";
/// The prefix of `Api::new_job_id("t")`.
const ID_PREFIX: &str = "sb_t_";

/// The staging table of `identifier`; `unique` is `Api::new_job_id("t")`.
pub fn staging_name(identifier: &str, unique: &str) -> String {
    format!("{identifier}{MARK}{unique}")
}

/// Whether `candidate` is a staging table sb made for the table
/// `identifier`: the table's name, the mark, then exactly the shape of a
/// staging id (so `orders__sb_load_sb_t_...` is never taken for a staging
/// table of `orders_daily`, nor a table a person named by hand).
pub fn is_staging_of(identifier: &str, candidate: &str) -> bool {
    let Some(id) = candidate
        .strip_prefix(identifier)
        .and_then(|rest| rest.strip_prefix(MARK))
        .and_then(|rest| rest.strip_prefix(ID_PREFIX))
    else {
        return false;
    };
    let parts: Vec<&str> = id.split('_').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 3
        && digits(parts[0])
        && digits(parts[1])
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `expirationTime` `STAGING_LIFETIME` after `now`: milliseconds since the
/// epoch, as text (BigQuery's int64 form).
pub fn expiration_after(now: SystemTime) -> String {
    let millis = (now + STAGING_LIFETIME)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    millis.to_string()
}

/// The resource a staging table is created with.
pub fn resource(
    reference: &Value,
    schema: &Value,
    labels: &Value,
    target: &str,
    now: SystemTime,
) -> Value {
    json!({
        "tableReference": reference,
        "schema": schema,
        "expirationTime": expiration_after(now),
        "labels": labels,
        "description": format!("sb: rows on their way into {target}; deleted when they are in, expires by itself otherwise"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_recognised_for_their_own_table_only() {
        let name = staging_name("plans", "sb_t_1767225600000_3_1f2e");
        assert_eq!(name, "plans__sb_load_sb_t_1767225600000_3_1f2e");
        assert!(is_staging_of("plans", &name));
        assert!(!is_staging_of("plan", &name));
        assert!(!is_staging_of("plans_daily", &name));
        assert!(!is_staging_of(
            "plans",
            "plans_daily__sb_load_sb_t_1767225600000_3_1f2e"
        ));
        assert!(!is_staging_of("plans", "plans"));
        assert!(!is_staging_of("plans", "plans__sb_load_by_hand"));
        assert!(!is_staging_of("plans", "plans__sb_load_sb_t_1_2"));
        assert!(!is_staging_of("plans", "plans__sb_load_sb_t_1_2_xyz"));
        assert!(!is_staging_of("plans", "plans__sb_load_sb_t_1_2_ab_c"));
    }

    #[test]
    fn staging_tables_expire_a_day_after_creation() {
        let now = UNIX_EPOCH + Duration::from_hours(490_896);
        assert_eq!(expiration_after(now), "1767312000000");
        let table = resource(
            &json!({"projectId": "p", "datasetId": "d", "tableId": "t__sb_load_x"}),
            &json!({"fields": [{"name": "id", "type": "INTEGER", "mode": "NULLABLE"}]}),
            &json!({"sb_node": "seed_x"}),
            "`d`.`t`",
            now,
        );
        assert_eq!(table["expirationTime"], "1767312000000");
        assert_eq!(table["tableReference"]["tableId"], "t__sb_load_x");
        assert_eq!(table["labels"]["sb_node"], "seed_x");
    }
}
