//! The Jinja context real dbt projects use, through the `sb` binary:
//! `return()` values, lists and dicts that change in place, `statement` /
//! `load_result`, `run_query` tables, `adapter.get_relation` and
//! `get_columns_in_relation`, `execute`, the cross-database `dbt.*` macros,
//! `modules`, and the helpers (`zip`, `tojson`, `fromyaml`, ...).

use crate::assert_stderr_snapshot;
use crate::it::harness::{Project, rows};

#[test]
fn return_gives_a_macro_call_its_value() {
    let project = Project::new()
        .file(
            "macros/values.sql",
            "{% macro columns_of() %}ignored text{{ return(['id', 'amount']) }}never printed{% endmacro %}
{% macro settings() %}{% do return({'scale': 2, 'on': true}) %}{% endmacro %}
{% macro is_big(x) %}{% if x > 10 %}{{ return(true) }}{% endif %}{{ return(false) }}{% endmacro %}
{% macro summary() %}
  {%- set cols = columns_of() -%}
  {%- set conf = settings() -%}
  {{ return(cols | join('+') ~ ' / ' ~ conf.scale ~ ' / ' ~ is_big(11) ~ ' ' ~ is_big(1)) }}
{% endmacro %}
",
        )
        .file(
            "models/m.sql",
            "select '{{ summary() }}' as summary, {{ columns_of() | length }} as n",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select summary, n from m"),
        rows(&[["id+amount / 2 / True False", "2"]])
    );
}

#[test]
fn lists_and_dicts_change_in_place_in_macros_and_models() {
    let project = Project::new()
        .file(
            "macros/build.sql",
            "{% macro picked(names, skip) %}
  {%- set kept = [] -%}
  {%- set seen = {} -%}
  {%- for name in names if name not in skip -%}
    {%- do kept.append(name) -%}
    {%- do seen.update({name: loop.index}) -%}
  {%- endfor -%}
  {%- do kept.extend(['z']) -%}
  {{ return(kept | join(',') ~ ';' ~ seen.items() | map('join', '=') | join(',')) }}
{% endmacro %}
",
        )
        .file(
            "models/m.sql",
            "{% set parts = [] %}{% do parts.append('a') %}{% do parts.append('b') %}
select '{{ picked(['x', 'y', 'w'], ['y']) }}' as picked, '{{ parts | join('') }}' as parts",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select picked, parts from m"),
        rows(&[["x,w,z;x=1,w=2", "ab"]])
    );
}

#[test]
fn statements_and_queries_answer_when_the_model_runs() {
    let project = Project::new()
        .file("models/numbers.sql", "select 1 as n, 'one' as word union all select 2, 'two'")
        .file(
            "models/m.sql",
            "{% call statement('total', fetch_result=True) %}select sum(n) as s from {{ ref('numbers') }}{% endcall %}
{% set total = load_result('total') %}
{% set table = run_query('select n, word from ' ~ ref('numbers') ~ ' order by n') %}
{% if execute %}
select {{ total['data'][0][0] }} as total,
       {{ total.table.rows[0][0] }} as again,
       '{{ table.column_names | join(',') }}' as names,
       '{{ table.columns[1].values() | join(',') }}' as words,
       '{% for row in table %}{{ row['word'] }}{{ row[0] }}{% endfor %}' as each_row,
       {{ table.rows | length }} as row_count
{% else %}
select 0 as total, 0 as again, '' as names, '' as words, '' as each_row, 0 as row_count
{% endif %}",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select total, again, names, words, each_row, row_count from m"),
        rows(&[["3", "3", "n,word", "one,two", "one1two2", "2"]])
    );
}

#[test]
fn the_adapter_finds_relations_and_their_columns() {
    let project = Project::new()
        .file("models/base.sql", "select 1 as id, 'x' as label, 2.5 as amount")
        .file(
            "models/m.sql",
            "{% set base = ref('base') %}
{% set cols = adapter.get_columns_in_relation(base) %}
{% set found = adapter.get_relation(database=base.database, schema=base.schema, identifier='base') %}
{% set missing = adapter.get_relation(database=base.database, schema=base.schema, identifier='nowhere') %}
{% set made = api.Relation.create(database=base.database, schema=base.schema, identifier='base') %}
select '{% for c in cols %}{{ c.name }}:{{ c.data_type | lower }}{% if not loop.last %},{% endif %}{% endfor %}' as cols,
       '{{ found is not none }} {{ missing is none }} {{ load_relation(made) is not none }}' as found,
       '{{ adapter.quote('odd name') }}' as quoted
from {{ made }}",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select cols, found, quoted from m"),
        rows(&[[
            "id:integer,label:varchar,amount:decimal(2,1)",
            "True True True",
            "\"odd name\""
        ]])
    );
}

#[test]
fn cross_database_macros_are_in_the_dbt_namespace() {
    let project = Project::new().file(
        "models/m.sql",
        "select {{ dbt.hash(dbt.concat([\"'a'\", \"'b'\"])) }} as hashed,
       cast({{ dbt.dateadd('day', 2, \"date '2026-01-30'\") }} as date) as later,
       {{ dbt.datediff(\"date '2026-01-01'\", \"date '2026-03-01'\", 'month') }} as months,
       {{ dbt.safe_cast(\"'12'\", dbt.type_int()) }} as twelve,
       {{ dbt.split_part(\"'a-b-c'\", \"'-'\", 2) }} as part,
       {{ dbt.current_timestamp() }} is not null as now_known",
    );

    project.sb(&["run"]).success();

    assert_eq!(
        project
            .query("select hashed, cast(later as varchar), months, twelve, part, now_known from m"),
        rows(&[[
            "187ef4436122d1cc2f40dc2b92f0eba0",
            "2026-02-01",
            "2",
            "12",
            "b",
            "true"
        ]])
    );
}

#[test]
fn python_modules_and_helpers_are_in_scope() {
    let project = Project::new().file(
        "models/m.sql",
        "{% set d = modules.datetime.datetime.strptime('2026-03-04', '%Y-%m-%d') %}
{% set m = modules.re.match('(\\w+)-(\\d+)', 'ab-12') %}
select '{{ d.strftime('%d/%m/%Y') }}' as day,
       '{{ m.group(2) }} {{ modules.re.sub('[aeiou]', '_', 'banana') }} {{ modules.re.findall('\\d', 'a1b2') | join }}' as re,
       '{{ modules.pytz.utc }} {{ run_started_at.strftime('%Y') | length }}' as tz,
       '{% for a, b in zip([1, 2], ['x', 'y']) %}{{ a }}{{ b }}{% endfor %}' as zipped,
       '{{ fromjson('{\"k\": [1, 2]}').k | sum }} {{ fromyaml('a: b').a }} {{ set([1, 1, 2]) | length }}' as parsed,
       '{{ local_md5('abc') }}' as md5,
       '{{ \"a,b\".split(\",\") | join(\"|\") }} {{ \"Hi\".lower() }} {{ \"x\".startswith(\"x\") }} {{ \"{}-{}\".format(1, 2) }}' as strings,
       '{{ project_name }} {{ flags.FULL_REFRESH }} {{ invocation_id | length }}' as run_facts",
    );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select day, re, tz, zipped, parsed, md5, strings, run_facts from m"),
        rows(&[[
            "04/03/2026",
            "12 b_n_n_ 12",
            "UTC 4",
            "1x2y",
            "3 b 2",
            "900150983cd24fb0d6963f7d28e17f72",
            "a|b hi True 1-2",
            "sb_test False 36"
        ]])
    );
}

#[test]
fn return_outside_a_macro_says_where() {
    let project = Project::new().file("models/m.sql", "select 1 as id\n-- {{ return(1) }}\n");

    let output = project.sb(&["compile"]);

    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn a_list_that_cannot_change_says_how_sb_differs() {
    let project = Project::new().file(
        "models/m.sql",
        "{% set parts = 'a,b'.split(',') %}\n{% do parts.append('c') %}\nselect 1 as id\n",
    );

    let output = project.sb(&["compile"]);

    output.code(2);
    assert_stderr_snapshot!(output);
}

#[test]
fn a_projects_naming_macros_decide_where_models_go() {
    let project = Project::new()
        .file(
            "macros/naming.sql",
            "{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {{ custom_alias_name or (node.name ~ '_v1') }}
{%- endmacro %}
",
        )
        .file("models/a.sql", "{{ config(schema='marts') }}\nselect 1 as id")
        .file("models/b.sql", "select id + 1 as id from {{ ref('a') }}")
        .file("models/c.sql", "{{ config(alias='see') }}\nselect 3 as id");

    project.sb(&["run"]).success();

    assert_eq!(project.relations(), ["main.b_v1", "main.see", "marts.a_v1"]);
    assert_eq!(project.query("select id from main.b_v1"), [["2"]]);
}

#[test]
fn call_blocks_hand_their_body_to_caller() {
    let project = Project::new()
        .file(
            "macros/wrap.sql",
            "{% macro wrapped(label) %}select '{{ label }}' as label, ({{ caller() }}) as inner_value{% endmacro %}",
        )
        .file(
            "models/m.sql",
            "{% call wrapped('x') %}select 41 + 1{% endcall %}",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select label, inner_value from m"),
        rows(&[["x", "42"]])
    );
}

#[test]
fn graph_shows_nodes_with_their_config_and_dependencies() {
    let project = Project::new()
        .file("models/base.sql", "{{ config(tags=['core']) }}\nselect 1 as id")
        .file(
            "models/report.sql",
            "{% set me = graph.nodes['model.sb_test.report'] %}
{% set base = graph.nodes.values() | selectattr('name', 'equalto', 'base') | first %}
select '{{ me.depends_on.nodes | join(',') }}' as parents,
       '{{ me.refs | map(attribute='name') | join(',') }}' as refs,
       '{{ base.config.tags | join(',') }} {{ base.resource_type }} {{ base.package_name }}' as base_facts,
       {{ graph.nodes | length }} as node_count,
       {{ graph.sources | length }} as source_count
from {{ ref('base') }}",
        );

    project.sb(&["run"]).success();

    assert_eq!(
        project.query("select parents, refs, base_facts, node_count, source_count from report"),
        rows(&[["model.sb_test.base", "base", "core model sb_test", "2", "0"]])
    );
}
