{#- sb's built-in generic tests. Each `{% test %}` block hands its work to
    `adapter.dispatch`, so a project (or a later adapter) overrides one test
    for one warehouse by defining `duckdb__test_<name>` or
    `bigquery__test_<name>`, and overrides it everywhere by defining its own
    `{% test <name> %}` block. Every query returns the failing rows; sb counts
    them. When none of these is overridden, sb evaluates the built-in tests of
    one model together in one query (src/execute/testing/batch.rs) with the same
    counts as these per-test queries. -#}

{#- The tested relation itself (a macro may check that it is one, as
    dbt_utils does), or a subquery of it filtered by the test's `where`. -#}
{% macro get_where_subquery(relation) -%}
{%- set where = config.get('where') -%}
{%- if where -%}
{%- set filtered -%}(select * from {{ relation }} where {{ where }}) as dbt_subquery{%- endset -%}
{%- do return(filtered) -%}
{%- else -%}
{%- do return(relation) -%}
{%- endif -%}
{%- endmacro %}

{% macro sb_string_literal(value) -%}
{{ adapter.dispatch('sb_string_literal')(value) }}
{%- endmacro %}

{% macro default__sb_string_literal(value) -%}
'{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro bigquery__sb_string_literal(value) -%}
'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro sb_cast_string(expression) -%}
{{ adapter.dispatch('sb_cast_string')(expression) }}
{%- endmacro %}

{% macro default__sb_cast_string(expression) -%}
cast({{ expression }} as varchar)
{%- endmacro %}

{% macro bigquery__sb_cast_string(expression) -%}
cast({{ expression }} as string)
{%- endmacro %}

{% test not_null(model, column_name) -%}
{{ adapter.dispatch('test_not_null')(model, column_name) }}
{%- endtest %}

{% macro default__test_not_null(model, column_name) -%}
select *
from {{ model }}
where {{ column_name }} is null
{%- endmacro %}

{% test unique(model, column_name) -%}
{{ adapter.dispatch('test_unique')(model, column_name) }}
{%- endtest %}

{% macro default__test_unique(model, column_name) -%}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{%- endmacro %}

{% test accepted_values(model, column_name, values, quote=true) -%}
{{ adapter.dispatch('test_accepted_values')(model, column_name, values, quote) }}
{%- endtest %}

{% macro default__test_accepted_values(model, column_name, values, quote=true) -%}
with all_values as (
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select *
from all_values
where value_field not in (
    {%- for value in values -%}
    {%- if quote %}{{ sb_string_literal(value) }}{% else %}{{ value }}{% endif %}{% if not loop.last %}, {% endif -%}
    {%- endfor -%}
)
{%- endmacro %}

{% test relationships(model, column_name, to, field) -%}
{{ adapter.dispatch('test_relationships')(model, column_name, to, field) }}
{%- endtest %}

{% macro default__test_relationships(model, column_name, to, field) -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
)
select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{%- endmacro %}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) -%}
{{ adapter.dispatch('test_accepted_range')(model, column_name, min_value, max_value, inclusive) }}
{%- endtest %}

{% macro default__test_accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) -%}
select *
from {{ model }}
where not (true
    {%- if min_value is not none %} and {{ column_name }} >{% if inclusive %}={% endif %} {{ min_value }}{% endif %}
    {%- if max_value is not none %} and {{ column_name }} <{% if inclusive %}={% endif %} {{ max_value }}{% endif -%}
)
{%- endmacro %}

{% test expression_is_true(model, expression, column_name=none) -%}
{{ adapter.dispatch('test_expression_is_true')(model, expression, column_name) }}
{%- endtest %}

{% macro default__test_expression_is_true(model, expression, column_name=none) -%}
select *
from {{ model }}
where not ({% if column_name is not none %}{{ column_name }} {% endif %}{{ expression }})
{%- endmacro %}

{% test row_count(model, min=none, max=none, column_name=none) -%}
{{ adapter.dispatch('test_row_count')(model, min, max) }}
{%- endtest %}

{% macro default__test_row_count(model, min=none, max=none) -%}
select *
from (select count(*) as row_count from {{ model }}) as counted
where false
{%- if min is not none %} or row_count < {{ min }}{% endif %}
{%- if max is not none %} or row_count > {{ max }}{% endif %}
{%- endmacro %}

{% test distribution(model, column_name, expected, tolerance=0.05) -%}
{{ adapter.dispatch('test_distribution')(model, column_name, expected, tolerance) }}
{%- endtest %}

{% macro default__test_distribution(model, column_name, expected, tolerance=0.05) -%}
with counted as (
    select {{ sb_cast_string(column_name) }} as value, count(*) as n
    from {{ model }}
    where {{ column_name }} is not null
    group by 1
),
total as (
    select sum(n) as total from counted
),
expected as (
    {%- for value, share in expected | items %}
    {% if not loop.first %}union all {% endif %}select {{ sb_string_literal(value) }} as value, {{ share }} as expected_share
    {%- endfor %}
),
shares as (
    select
        coalesce(counted.value, expected.value) as value,
        coalesce(coalesce(counted.n, 0) / nullif(total.total, 0), 0) as actual_share,
        coalesce(expected.expected_share, 0) as expected_share
    from counted
    full outer join expected on counted.value = expected.value
    cross join total
)
select *
from shares
where abs(actual_share - expected_share) > {{ tolerance }}
{%- endmacro %}

{% test unique_combination(model, columns, column_name=none) -%}
{{ adapter.dispatch('test_unique_combination')(model, columns) }}
{%- endtest %}

{% macro default__test_unique_combination(model, columns) -%}
select {{ columns | join(', ') }}, count(*) as n_records
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endmacro %}
