//! Unit tests of the selector over a small fixture project: every method,
//! graph operator, `--exclude`, indirect-selection mode and error message.

use super::*;
use crate::graph::tests::model;
use crate::graph::{Dag, GraphNode};
use serde_json::json;

const ALL: [ResourceType; 7] = ResourceType::ALL;

/// A small project:
///
/// ```text
/// source synthetic.users -> stg_users -> dim_users -> report
/// seed raw_orders       -> stg_orders -> orders ----^
///                                   \-> orders_daily (tag nightly_x)
/// tests: not_null_orders_id (orders), rel_orders_users (orders, dim_users)
/// disabled: old_model (under stg_orders)
/// ```
struct Fixture {
    nodes: Vec<GraphNode>,
    dag: Dag,
}

fn fixture() -> Fixture {
    let mut users = model("users", &[]);
    users.unique_id = "source.proj.synthetic.users".into();
    users.resource_type = ResourceType::Source;
    users.source_name = Some("synthetic".into());
    users.original_file_path = "models/staging/sources.yml".into();
    users.fqn = vec![
        "proj".into(),
        "staging".into(),
        "synthetic".into(),
        "users".into(),
    ];

    let mut raw_orders = model("raw_orders", &[]);
    raw_orders.unique_id = "seed.proj.raw_orders".into();
    raw_orders.resource_type = ResourceType::Seed;
    raw_orders.original_file_path = "seeds/raw_orders.csv".into();

    let mut stg_users = model("stg_users", &[]);
    stg_users.depends_on = vec!["source.proj.synthetic.users".into()];
    stg_users.original_file_path = "models/staging/stg_users.sql".into();
    stg_users.fqn = vec!["proj".into(), "staging".into(), "stg_users".into()];
    stg_users
        .config
        .insert("materialized".into(), json!("view"));

    let mut stg_orders = model("stg_orders", &[]);
    stg_orders.depends_on = vec!["seed.proj.raw_orders".into()];
    stg_orders.original_file_path = "models/staging/stg_orders.sql".into();
    stg_orders.fqn = vec!["proj".into(), "staging".into(), "stg_orders".into()];
    stg_orders
        .config
        .insert("materialized".into(), json!("view"));

    let mut dim_users = model("dim_users", &["stg_users"]);
    dim_users.original_file_path = "models/marts/dim_users.sql".into();
    dim_users.fqn = vec!["proj".into(), "marts".into(), "dim_users".into()];
    dim_users.tags = vec!["marts".into()];
    dim_users
        .config
        .insert("materialized".into(), json!("table"));

    let mut orders = model("orders", &["stg_orders"]);
    orders.original_file_path = "models/marts/orders.sql".into();
    orders.fqn = vec!["proj".into(), "marts".into(), "orders".into()];
    orders.tags = vec!["marts".into(), "daily".into()];
    orders.config.insert("materialized".into(), json!("table"));
    orders
        .config
        .insert("tags".into(), json!(["marts", "daily"]));
    orders
        .config
        .insert("meta".into(), json!({"owner": "ana", "pii": false}));

    let mut orders_daily = model("orders_daily", &["stg_orders"]);
    orders_daily.original_file_path = "models/marts/orders_daily.sql".into();
    orders_daily.fqn = vec!["proj".into(), "marts".into(), "orders_daily".into()];
    orders_daily.tags = vec!["nightly_x".into()];
    orders_daily
        .config
        .insert("materialized".into(), json!("incremental"));
    orders_daily.config.insert("enabled".into(), json!(true));

    let mut report = model("report", &["dim_users", "orders"]);
    report.original_file_path = "models/marts/reporting/report.sql".into();
    report.fqn = vec![
        "proj".into(),
        "marts".into(),
        "reporting".into(),
        "report".into(),
    ];

    let mut not_null = model("not_null_orders_id", &["orders"]);
    not_null.unique_id = "test.proj.not_null_orders_id.ab12cd".into();
    not_null.resource_type = ResourceType::Test;
    not_null.original_file_path = "models/marts/schema.yml".into();
    not_null.config.insert("severity".into(), json!("ERROR"));

    let mut rel = model("rel_orders_users", &["orders", "dim_users"]);
    rel.unique_id = "test.proj.rel_orders_users.ef34ab".into();
    rel.resource_type = ResourceType::Test;
    rel.original_file_path = "models/marts/schema.yml".into();
    rel.config.insert("severity".into(), json!("warn"));

    let mut old = model("old_model", &["stg_orders"]);
    old.config.insert("enabled".into(), json!(false));

    let nodes = vec![
        users,
        raw_orders,
        stg_users,
        stg_orders,
        dim_users,
        orders,
        orders_daily,
        report,
        not_null,
        rel,
        old,
    ];
    let dag = Dag::build(&nodes).unwrap();
    Fixture { nodes, dag }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&s| s.to_owned()).collect()
}

impl Fixture {
    fn try_run(
        &self,
        select: &[&str],
        exclude: &[&str],
        indirect: IndirectSelection,
        types: &[ResourceType],
    ) -> Result<Selection, SelectorError> {
        parse(&strings(select), &strings(exclude))?.select(
            &self.nodes,
            &self.dag,
            None,
            indirect,
            types,
        )
    }

    fn names(&self, selection: &Selection) -> Vec<&str> {
        let mut names: Vec<&str> = selection
            .nodes
            .iter()
            .map(|&i| self.nodes[i].name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Models, seeds and sources only (no tests), eager.
    fn sel(&self, select: &[&str]) -> Vec<&str> {
        let types = [
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Source,
        ];
        let selection = self
            .try_run(select, &[], IndirectSelection::Eager, &types)
            .unwrap();
        self.names(&selection)
    }

    fn with_tests(&self, select: &[&str], exclude: &[&str], mode: IndirectSelection) -> Vec<&str> {
        let selection = self.try_run(select, exclude, mode, &ALL).unwrap();
        self.names(&selection)
    }

    fn err(&self, select: &str) -> SelectorError {
        self.try_run(&[select], &[], IndirectSelection::Eager, &ALL)
            .unwrap_err()
    }
}

#[test]
fn no_select_means_every_enabled_node_of_the_types() {
    let f = fixture();
    assert_eq!(
        f.sel(&[]),
        [
            "dim_users",
            "orders",
            "orders_daily",
            "raw_orders",
            "report",
            "stg_orders",
            "stg_users",
            "users"
        ]
    );
    let selection = f
        .try_run(&[], &[], IndirectSelection::Eager, &[ResourceType::Test])
        .unwrap();
    assert_eq!(
        f.names(&selection),
        ["not_null_orders_id", "rel_orders_users"]
    );
}

#[test]
fn bare_name_selects_the_node() {
    let f = fixture();
    assert_eq!(f.sel(&["orders"]), ["orders"]);
    assert_eq!(f.sel(&["old_model"]), Vec::<&str>::new());
}

#[test]
fn bare_source_name_and_table() {
    let f = fixture();
    assert_eq!(f.sel(&["synthetic.users"]), ["users"]);
    assert_eq!(f.sel(&["users"]), ["users"]);
}

#[test]
fn bare_fqn_prefix_selects_a_folder() {
    let f = fixture();
    assert_eq!(f.sel(&["proj.marts.reporting"]), ["report"]);
    assert_eq!(
        f.sel(&["fqn:proj.staging.*"]),
        ["stg_orders", "stg_users", "users"]
    );
    assert_eq!(f.sel(&["fqn:orders"]), ["orders"]);
}

#[test]
fn plus_prefix_selects_all_ancestors() {
    let f = fixture();
    assert_eq!(f.sel(&["+orders"]), ["orders", "raw_orders", "stg_orders"]);
}

#[test]
fn plus_suffix_selects_all_descendants() {
    let f = fixture();
    assert_eq!(
        f.sel(&["stg_orders+"]),
        ["orders", "orders_daily", "report", "stg_orders"]
    );
}

#[test]
fn depth_limits_generations() {
    let f = fixture();
    assert_eq!(f.sel(&["1+orders"]), ["orders", "stg_orders"]);
    assert_eq!(f.sel(&["2+orders"]), ["orders", "raw_orders", "stg_orders"]);
    assert_eq!(f.sel(&["raw_orders+1"]), ["raw_orders", "stg_orders"]);
    assert_eq!(
        f.sel(&["1+stg_orders+1"]),
        ["orders", "orders_daily", "raw_orders", "stg_orders"]
    );
}

#[test]
fn at_selects_descendants_and_their_ancestors() {
    let f = fixture();
    assert_eq!(
        f.sel(&["@stg_users"]),
        [
            "dim_users",
            "orders",
            "raw_orders",
            "report",
            "stg_orders",
            "stg_users",
            "users"
        ]
    );
}

#[test]
fn whitespace_terms_are_a_union() {
    let f = fixture();
    assert_eq!(f.sel(&["orders dim_users"]), ["dim_users", "orders"]);
    assert_eq!(f.sel(&["orders", "dim_users"]), ["dim_users", "orders"]);
}

#[test]
fn comma_parts_are_an_intersection() {
    let f = fixture();
    assert_eq!(f.sel(&["+report,tag:marts"]), ["dim_users", "orders"]);
    assert_eq!(
        f.sel(&["path:models/marts,config.materialized:table"]),
        ["dim_users", "orders"]
    );
}

#[test]
fn exclude_removes_nodes() {
    let f = fixture();
    let types = [ResourceType::Model];
    let selection = f
        .try_run(
            &["+report"],
            &["stg_users dim_users"],
            IndirectSelection::Eager,
            &types,
        )
        .unwrap();
    assert_eq!(f.names(&selection), ["orders", "report", "stg_orders"]);
}

#[test]
fn exclude_also_excludes_the_excluded_models_tests() {
    let f = fixture();
    assert!(
        !f.with_tests(&[], &["orders"], IndirectSelection::Eager)
            .contains(&"not_null_orders_id")
    );
    let cautious = f.with_tests(&[], &["dim_users"], IndirectSelection::Cautious);
    assert!(cautious.contains(&"rel_orders_users"));
    let eager = f.with_tests(&[], &["dim_users"], IndirectSelection::Eager);
    assert!(!eager.contains(&"rel_orders_users"));
}

#[test]
fn tag_method_with_wildcards() {
    let f = fixture();
    assert_eq!(f.sel(&["tag:marts"]), ["dim_users", "orders"]);
    assert_eq!(f.sel(&["tag:nightly*"]), ["orders_daily"]);
    assert_eq!(f.sel(&["tag:dail?"]), ["orders"]);
}

#[test]
fn name_wildcards() {
    let f = fixture();
    assert_eq!(f.sel(&["stg_*"]), ["stg_orders", "stg_users"]);
    assert_eq!(f.sel(&["orders*"]), ["orders", "orders_daily"]);
    assert_eq!(f.sel(&["*"]).len(), 8);
}

#[test]
fn path_method_matches_folders_files_and_globs() {
    let f = fixture();
    assert_eq!(
        f.sel(&["path:models/marts"]),
        ["dim_users", "orders", "orders_daily", "report"]
    );
    assert_eq!(f.sel(&["path:models/marts/"]).len(), 4);
    assert_eq!(f.sel(&["path:./models/marts/orders.sql"]), ["orders"]);
    assert_eq!(f.sel(&["models/marts/orders.sql"]), ["orders"]);
    assert_eq!(
        f.sel(&["models/staging"]),
        ["stg_orders", "stg_users", "users"]
    );
    assert_eq!(f.sel(&["path:models/*/stg_u*"]), ["stg_users"]);
    assert_eq!(f.sel(&["path:**/report.sql"]), ["report"]);
    assert_eq!(f.sel(&["path:models/mart"]), Vec::<&str>::new());
    assert_eq!(f.sel(&["path:seeds"]), ["raw_orders"]);
}

#[test]
fn file_method_matches_file_name_or_stem() {
    let f = fixture();
    assert_eq!(f.sel(&["orders.sql"]), ["orders"]);
    assert_eq!(f.sel(&["file:raw_orders.csv"]), ["raw_orders"]);
    assert_eq!(f.sel(&["file:report"]), ["report"]);
}

#[test]
fn config_method_compares_strings_lists_booleans_and_nested_keys() {
    let f = fixture();
    assert_eq!(
        f.sel(&["config.materialized:view"]),
        ["stg_orders", "stg_users"]
    );
    assert_eq!(f.sel(&["config.tags:daily"]), ["orders"]);
    assert_eq!(f.sel(&["config.enabled:true"]), ["orders_daily"]);
    assert_eq!(f.sel(&["config.meta.owner:ana"]), ["orders"]);
    assert_eq!(f.sel(&["config.meta.pii:False"]), ["orders"]);
    assert_eq!(f.sel(&["config.nope:x"]), Vec::<&str>::new());
    let tests = f.with_tests(&["config.severity:error"], &[], IndirectSelection::Empty);
    assert_eq!(tests, ["not_null_orders_id"]);
}

#[test]
fn source_method() {
    let f = fixture();
    assert_eq!(f.sel(&["source:synthetic"]), ["users"]);
    assert_eq!(f.sel(&["source:synthetic.users"]), ["users"]);
    assert_eq!(f.sel(&["source:proj.synthetic.*"]), ["users"]);
    assert_eq!(f.sel(&["source:synthetic.nope"]), Vec::<&str>::new());
    assert_eq!(
        f.sel(&["source:synthetic+"]),
        ["dim_users", "report", "stg_users", "users"]
    );
    assert_eq!(f.sel(&["source:stg_users"]), Vec::<&str>::new());
}

#[test]
fn resource_type_and_package_methods() {
    let f = fixture();
    assert_eq!(f.sel(&["resource_type:seed"]), ["raw_orders"]);
    assert_eq!(
        f.with_tests(&["resource_type:test"], &[], IndirectSelection::Eager),
        ["not_null_orders_id", "rel_orders_users"]
    );
    assert_eq!(f.sel(&["package:proj"]).len(), 8);
    assert_eq!(f.sel(&["package:other"]), Vec::<&str>::new());
}

struct Changed;
impl StateComparator for Changed {
    fn is_modified(&self, node: NodeId, facet: Option<Facet>) -> bool {
        match facet {
            None => node.index() == 3 || node.index() == 4,
            Some(Facet::Configs) => node.index() == 4,
            Some(_) => false,
        }
    }
    fn is_new(&self, node: NodeId) -> bool {
        node.index() == 4
    }
    fn had_result(&self, node: NodeId, status: &str) -> bool {
        node.index() == 3 && status == "error"
    }
}

#[test]
fn state_method_uses_the_comparator() {
    let f = fixture();
    let types = [ResourceType::Model];
    let run = |select: &str| {
        let selection = parse(&strings(&[select]), &[])
            .unwrap()
            .select(
                &f.nodes,
                &f.dag,
                Some(&Changed),
                IndirectSelection::Eager,
                &types,
            )
            .unwrap();
        f.names(&selection)
    };
    assert_eq!(run("state:modified"), ["dim_users", "stg_orders"]);
    assert_eq!(run("state:new"), ["dim_users"]);
    assert_eq!(run("state:modified.configs"), ["dim_users"]);
    assert_eq!(run("state:modified.body"), Vec::<&str>::new());
    assert_eq!(run("result:error"), ["stg_orders"]);
    assert_eq!(
        run("result:error+"),
        ["orders", "orders_daily", "report", "stg_orders"]
    );
    assert_eq!(
        run("state:modified+"),
        [
            "dim_users",
            "orders",
            "orders_daily",
            "report",
            "stg_orders"
        ]
    );
}

#[test]
fn state_method_without_state_is_an_error() {
    let f = fixture();
    let err = f.err("state:modified");
    assert_eq!(
        err.message,
        "--state DIR is required for state: and result: selectors"
    );
    assert!(f.err("result:error").message.contains("--state"));
    assert!(f.err("result:eror").help.unwrap().contains("`error`"));
    assert!(
        f.err("state:modified.bdy")
            .help
            .unwrap()
            .contains("`modified.body`")
    );
    let err = f
        .try_run(&["orders"], &["state:new"], IndirectSelection::Eager, &ALL)
        .unwrap_err();
    assert!(err.message.contains("--state"));
    assert!(f.err("state:modifed").help.unwrap().contains("`modified`"));
}

#[test]
fn eager_tests_follow_any_selected_parent() {
    let f = fixture();
    assert_eq!(
        f.with_tests(&["orders"], &[], IndirectSelection::Eager),
        ["not_null_orders_id", "orders", "rel_orders_users"]
    );
}

#[test]
fn cautious_tests_need_all_parents() {
    let f = fixture();
    assert_eq!(
        f.with_tests(&["orders"], &[], IndirectSelection::Cautious),
        ["not_null_orders_id", "orders"]
    );
    // Parents selected by different terms still count.
    assert_eq!(
        f.with_tests(&["orders dim_users"], &[], IndirectSelection::Cautious),
        [
            "dim_users",
            "not_null_orders_id",
            "orders",
            "rel_orders_users"
        ]
    );
}

#[test]
fn buildable_tests_allow_ancestor_parents() {
    let f = fixture();
    assert_eq!(
        f.with_tests(&["report"], &[], IndirectSelection::Buildable),
        ["report"]
    );
    assert_eq!(
        f.with_tests(&["orders"], &[], IndirectSelection::Buildable),
        ["not_null_orders_id", "orders"]
    );
}

#[test]
fn empty_indirect_selection_adds_no_tests() {
    let f = fixture();
    assert_eq!(
        f.with_tests(&["orders"], &[], IndirectSelection::Empty),
        ["orders"]
    );
}

#[test]
fn model_with_test_intersection_selects_its_tests() {
    let f = fixture();
    assert_eq!(
        f.with_tests(
            &["orders,resource_type:test"],
            &[],
            IndirectSelection::Eager
        ),
        ["not_null_orders_id", "rel_orders_users"]
    );
    assert_eq!(
        f.with_tests(
            &["orders,resource_type:test"],
            &[],
            IndirectSelection::Cautious
        ),
        ["not_null_orders_id"]
    );
}

#[test]
fn descendant_operator_includes_tests() {
    let f = fixture();
    assert_eq!(
        f.with_tests(&["dim_users+"], &[], IndirectSelection::Cautious),
        ["dim_users", "rel_orders_users", "report"]
    );
}

#[test]
fn unmatched_terms_are_reported_not_errors() {
    let f = fixture();
    let selection = f
        .try_run(
            &["orders nope tag:zzz", "tag:marts,stg_users"],
            &["ghost"],
            IndirectSelection::Eager,
            &ALL,
        )
        .unwrap();
    assert_eq!(
        selection.unmatched_terms,
        ["nope", "tag:zzz", "tag:marts,stg_users", "ghost"]
    );
    assert_eq!(
        f.names(&selection),
        ["not_null_orders_id", "orders", "rel_orders_users"]
    );
    let only_disabled = f
        .try_run(&["old_model"], &[], IndirectSelection::Eager, &ALL)
        .unwrap();
    assert_eq!(only_disabled.unmatched_terms, ["old_model"]);
}

#[test]
fn unknown_method_suggests_the_closest() {
    let f = fixture();
    let err = f.err("tga:nightly");
    assert_eq!(
        err.message,
        "unknown selector method `tga` in `tga:nightly`"
    );
    assert!(err.help.unwrap().starts_with("did you mean `tag`?"));
    let err = f.err("resource_typ:model");
    assert!(err.help.unwrap().contains("`resource_type`"));
    let err = f.err("resource_type:modle");
    assert!(err.help.unwrap().contains("`model`"));
    let err = f.err("config:table");
    assert!(err.help.unwrap().contains("config.materialized:table"));
}

#[test]
fn malformed_selectors_are_errors() {
    let f = fixture();
    for bad in [
        "+",
        "3+",
        "@",
        "tag:",
        "fqn:+",
        "a,,b",
        ",",
        "orders,",
        "@+orders",
        "@orders+",
        "config.:x",
        "source:a.b.c.d",
        "99999999999999999999999+orders",
    ] {
        let err = f.err(bad);
        assert!(err.help.is_some(), "{bad}: {err:?}");
    }
    assert!(f.err("").message.contains("empty"));
    assert!(f.err("   ").message.contains("empty"));
    let err = f
        .try_run(&["orders"], &[""], IndirectSelection::Eager, &ALL)
        .unwrap_err();
    assert!(err.message.contains("--exclude"));
}

#[test]
fn parse_reads_operators() {
    let selector = parse(&strings(&["2+tag:a+3"]), &[]).unwrap();
    let part = &selector.select[0].parts[0];
    assert_eq!(part.method, Method::Tag);
    assert_eq!(part.value, "a");
    assert_eq!(part.parents, Some(Depth::Generations(2)));
    assert_eq!(part.children, Some(Depth::Generations(3)));
    assert!(!part.at);
    assert!(parse(&[], &[]).unwrap().selects_everything());
}

#[test]
fn glob_handles_stars_and_question_marks() {
    assert!(glob("stg_*", "stg_orders"));
    assert!(glob("*", ""));
    assert!(glob("a*b*c", "axxbyyc"));
    assert!(!glob("a*b*c", "axxbyy"));
    assert!(glob("o?ders", "orders"));
    assert!(!glob("orders", "orders2"));
    assert!(glob("**x", "abx"));
    assert!(glob("é?", "éa"));
}

#[test]
fn mismatched_slices_do_not_panic() {
    let f = fixture();
    let selection = parse(&strings(&["+report+"]), &[])
        .unwrap()
        .select(&f.nodes[..3], &f.dag, None, IndirectSelection::Eager, &ALL)
        .unwrap();
    assert!(selection.nodes.iter().all(|&i| i.index() < 3));
}
