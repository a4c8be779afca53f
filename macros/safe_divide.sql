{# Division that returns null instead of failing when the denominator is zero. #}
{% macro safe_divide(numerator, denominator) -%}
    {{ adapter.dispatch('safe_divide')(numerator, denominator) }}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    case when ({{ denominator }}) = 0 then null else ({{ numerator }}) * 1.0 / ({{ denominator }}) end
{%- endmacro %}

{% macro bigquery__safe_divide(numerator, denominator) -%}
    safe_divide({{ numerator }}, {{ denominator }})
{%- endmacro %}
