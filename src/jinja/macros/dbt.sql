{#- sb's `dbt` namespace macros: the cross-database helpers packages such
    as dbt_utils call (types, string and date functions, set operators),
    each dispatching, so a project or package overrides one for one
    warehouse with `duckdb__<name>` or `bigquery__<name>`; and dbt's small
    config helpers. -#}

{% macro should_store_failures() %}{{ return(config.get('store_failures') or flags.STORE_FAILURES) }}{% endmacro %}
{% macro should_full_refresh() %}{{ return(config.get('full_refresh') or flags.FULL_REFRESH) }}{% endmacro %}

{% macro type_string() %}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{% endmacro %}
{% macro default__type_string() %}{{ return('varchar') }}{% endmacro %}
{% macro bigquery__type_string() %}{{ return('string') }}{% endmacro %}

{% macro type_timestamp() %}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__type_timestamp() %}{{ return('timestamp') }}{% endmacro %}

{% macro type_numeric() %}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{% endmacro %}
{% macro default__type_numeric() %}{{ return('numeric(28,6)') }}{% endmacro %}
{% macro bigquery__type_numeric() %}{{ return('numeric') }}{% endmacro %}

{% macro type_int() %}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{% endmacro %}
{% macro default__type_int() %}{{ return('integer') }}{% endmacro %}
{% macro bigquery__type_int() %}{{ return('int64') }}{% endmacro %}

{% macro type_bigint() %}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{% endmacro %}
{% macro default__type_bigint() %}{{ return('bigint') }}{% endmacro %}
{% macro bigquery__type_bigint() %}{{ return('int64') }}{% endmacro %}

{% macro type_float() %}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{% endmacro %}
{% macro default__type_float() %}{{ return('double') }}{% endmacro %}
{% macro bigquery__type_float() %}{{ return('float64') }}{% endmacro %}

{% macro type_boolean() %}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{% endmacro %}
{% macro default__type_boolean() %}{{ return('boolean') }}{% endmacro %}

{% macro current_timestamp() %}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__current_timestamp() %}current_timestamp{% endmacro %}
{% macro bigquery__current_timestamp() %}current_timestamp(){% endmacro %}

{% macro concat(fields) %}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{% endmacro %}
{% macro default__concat(fields) %}{{ fields | join(' || ') }}{% endmacro %}
{% macro bigquery__concat(fields) %}concat({{ fields | join(', ') }}){% endmacro %}

{% macro hash(field) %}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{% endmacro %}
{% macro default__hash(field) %}md5(cast({{ field }} as {{ type_string() }})){% endmacro %}
{% macro bigquery__hash(field) %}to_hex(md5(cast({{ field }} as {{ type_string() }}))){% endmacro %}

{% macro safe_cast(field, type) %}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{% endmacro %}
{% macro default__safe_cast(field, type) %}try_cast({{ field }} as {{ type }}){% endmacro %}
{% macro bigquery__safe_cast(field, type) %}safe_cast({{ field }} as {{ type }}){% endmacro %}

{% macro cast_bool_to_text(field) %}{{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}{% endmacro %}
{% macro default__cast_bool_to_text(field) %}cast({{ field }} as {{ type_string() }}){% endmacro %}

{% macro replace(field, old_chars, new_chars) %}{{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}{% endmacro %}
{% macro default__replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}

{% macro length(expression) %}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{% endmacro %}
{% macro default__length(expression) %}length({{ expression }}){% endmacro %}

{% macro position(substring_text, string_text) %}{{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}{% endmacro %}
{% macro default__position(substring_text, string_text) %}position({{ substring_text }} in {{ string_text }}){% endmacro %}
{% macro bigquery__position(substring_text, string_text) %}strpos({{ string_text }}, {{ substring_text }}){% endmacro %}

{% macro right(string_text, length_expression) %}{{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}{% endmacro %}
{% macro default__right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}
{% macro bigquery__right(string_text, length_expression) %}case when {{ length_expression }} = 0 then '' else substr({{ string_text }}, -1 * ({{ length_expression }})) end{% endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) %}{{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}{% endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){% endmacro %}
{% macro bigquery__split_part(string_text, delimiter_text, part_number) %}{% if part_number >= 0 %}split({{ string_text }}, {{ delimiter_text }})[safe_offset({{ part_number - 1 }})]{% else %}split({{ string_text }}, {{ delimiter_text }})[safe_offset(array_length(split({{ string_text }}, {{ delimiter_text }})) {{ part_number }})]{% endif %}{% endmacro %}

{% macro string_literal(value) %}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{% endmacro %}
{% macro default__string_literal(value) %}'{{ value }}'{% endmacro %}

{% macro escape_single_quotes(expression) %}{{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}{% endmacro %}
{% macro default__escape_single_quotes(expression) %}{{ expression | replace("'", "''") }}{% endmacro %}
{% macro bigquery__escape_single_quotes(expression) %}{{ expression | replace("\\", "\\\\") | replace("'", "\\'") }}{% endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) %}{{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}{% endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) %}({{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))){% endmacro %}
{% macro bigquery__dateadd(datepart, interval, from_date_or_timestamp) %}datetime_add(cast({{ from_date_or_timestamp }} as datetime), interval {{ interval }} {{ datepart }}){% endmacro %}

{% macro datediff(first_date, second_date, datepart) %}{{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}{% endmacro %}
{% macro default__datediff(first_date, second_date, datepart) %}date_diff('{{ datepart }}', cast({{ first_date }} as timestamp), cast({{ second_date }} as timestamp)){% endmacro %}
{% macro bigquery__datediff(first_date, second_date, datepart) %}datetime_diff(cast({{ second_date }} as datetime), cast({{ first_date }} as datetime), {{ datepart }}){% endmacro %}

{% macro date_trunc(datepart, date) %}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{% endmacro %}
{% macro default__date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro bigquery__date_trunc(datepart, date) %}timestamp_trunc(cast({{ date }} as timestamp), {{ datepart }}){% endmacro %}

{% macro last_day(date, datepart) %}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{% endmacro %}
{% macro default__last_day(date, datepart) %}cast({{ dateadd('day', '-1', dateadd(datepart, '1', date_trunc(datepart, date))) }} as date){% endmacro %}

{% macro any_value(expression) %}{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}{% endmacro %}
{% macro default__any_value(expression) %}any_value({{ expression }}){% endmacro %}

{% macro bool_or(expression) %}{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}{% endmacro %}
{% macro default__bool_or(expression) %}bool_or({{ expression }}){% endmacro %}
{% macro bigquery__bool_or(expression) %}logical_or({{ expression }}){% endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}{{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}{% endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) %}string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}){% endmacro %}

{% macro except() %}{{ return(adapter.dispatch('except', 'dbt')()) }}{% endmacro %}
{% macro default__except() %}except{% endmacro %}
{% macro bigquery__except() %}except distinct{% endmacro %}

{% macro intersect() %}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{% endmacro %}
{% macro default__intersect() %}intersect{% endmacro %}
{% macro bigquery__intersect() %}intersect distinct{% endmacro %}

{#- How dbt names relations. sb computes these defaults in Rust
    (project::generate_schema_name and relation naming) and renders a
    project's own `generate_schema_name`, `generate_alias_name` or
    `generate_database_name` instead when it defines one. -#}
{% macro generate_schema_name(custom_schema_name=none, node=none) %}{{ return(default__generate_schema_name(custom_schema_name, node)) }}{% endmacro %}
{% macro default__generate_schema_name(custom_schema_name=none, node=none) -%}
{%- set default_schema = target.get('schema') or target.get('dataset') -%}
{%- if custom_schema_name is none or custom_schema_name | trim == '' -%}{{ default_schema }}{%- else -%}{{ default_schema }}_{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
{% macro generate_schema_name_for_env(custom_schema_name=none, node=none) -%}
{%- if target.name == 'prod' and custom_schema_name is not none -%}{{ custom_schema_name | trim }}{%- else -%}{{ target.get('schema') or target.get('dataset') }}{%- endif -%}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) %}{{ return(default__generate_alias_name(custom_alias_name, node)) }}{% endmacro %}
{% macro default__generate_alias_name(custom_alias_name=none, node=none) -%}
{%- if custom_alias_name -%}{{ custom_alias_name | trim }}{%- elif node.version -%}{{ node.name ~ "_v" ~ (node.version | string | replace(".", "_")) }}{%- else -%}{{ node.name }}{%- endif -%}
{%- endmacro %}
{% macro generate_database_name(custom_database_name=none, node=none) %}{{ return(default__generate_database_name(custom_database_name, node)) }}{% endmacro %}
{% macro default__generate_database_name(custom_database_name=none, node=none) -%}
{%- if custom_database_name is none -%}{{ target.database }}{%- else -%}{{ custom_database_name | trim }}{%- endif -%}
{%- endmacro %}
