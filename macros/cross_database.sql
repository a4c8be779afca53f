{#
  Cross-database helpers: every macro dispatches to a `duckdb__` or
  `bigquery__` variant (or `default__`), so the same models compile for the
  dev (DuckDB) and prod (BigQuery) targets.
#}

{# The calendar day of a timestamp, as a DATE. #}
{% macro to_day(timestamp) -%}
    {{ adapter.dispatch('to_day')(timestamp) }}
{%- endmacro %}
{% macro default__to_day(timestamp) -%} cast({{ timestamp }} as date) {%- endmacro %}
{% macro bigquery__to_day(timestamp) -%} date({{ timestamp }}) {%- endmacro %}

{# Truncates a date or timestamp to `part` (day, week, month). #}
{% macro truncate_date(part, value) -%}
    {{ adapter.dispatch('truncate_date')(part, value) }}
{%- endmacro %}
{% macro default__truncate_date(part, value) -%} date_trunc('{{ part }}', {{ value }}) {%- endmacro %}
{% macro bigquery__truncate_date(part, value) -%} date_trunc({{ value }}, {{ part }}) {%- endmacro %}

{# Whole days from `start` to `end` (dates). #}
{% macro days_between(start, end) -%}
    {{ adapter.dispatch('days_between')(start, end) }}
{%- endmacro %}
{% macro default__days_between(start, end) -%} date_diff('day', {{ start }}, {{ end }}) {%- endmacro %}
{% macro bigquery__days_between(start, end) -%} date_diff({{ end }}, {{ start }}, day) {%- endmacro %}

{# Rows where `condition` holds. #}
{% macro count_if(condition) -%}
    {{ adapter.dispatch('count_if')(condition) }}
{%- endmacro %}
{% macro default__count_if(condition) -%} count(*) filter (where {{ condition }}) {%- endmacro %}
{% macro bigquery__count_if(condition) -%} countif({{ condition }}) {%- endmacro %}

{# The `fraction` percentile (0 to 1) of `expression` in the group. #}
{% macro percentile(expression, fraction) -%}
    {{ adapter.dispatch('percentile')(expression, fraction) }}
{%- endmacro %}
{% macro default__percentile(expression, fraction) -%}
    quantile_cont(cast({{ expression }} as double), {{ fraction }})
{%- endmacro %}
{% macro bigquery__percentile(expression, fraction) -%}
    approx_quantiles(cast({{ expression }} as float64), 100)[offset({{ (fraction * 100) | int }})]
{%- endmacro %}

{# A field of a STRUCT (DuckDB) or RECORD (BigQuery) column. #}
{% macro struct_field(column, field) -%}
    {{ adapter.dispatch('struct_field')(column, field) }}
{%- endmacro %}
{% macro default__struct_field(column, field) -%} {{ column }}.{{ field }} {%- endmacro %}
{% macro duckdb__struct_field(column, field) -%} struct_extract({{ column }}, '{{ field }}') {%- endmacro %}

{#
  A measure as an exact decimal of `scale` places (the synthesizer rounds
  each to its places), so that a sum or an average of it is the same
  whatever order the warehouse adds the rows in.
#}
{% macro exact(expression, scale) -%}
    {{ adapter.dispatch('exact')(expression, scale) }}
{%- endmacro %}
{% macro default__exact(expression, scale) -%} cast({{ expression }} as decimal(18, {{ scale }})) {%- endmacro %}
{% macro bigquery__exact(expression, scale) -%} cast({{ expression }} as bignumeric) {%- endmacro %}
