-- The genre distribution of the library and of viewing, side by side.
with library as (
    select genre_name, count(*) as titles
    from {{ ref('stg_content') }}
    group by genre_name
),
viewing as (
    select
        genre_name,
        count(*) as views,
        round(sum(watch_minutes) / 60.0, 1) as watch_hours,
        round(avg(completion_rate), 4) as avg_completion_rate
    from {{ ref('int_viewings_enriched') }}
    group by genre_name
)
select
    l.genre_name,
    l.titles,
    round(100.0 * l.titles / sum(l.titles) over (), 2) as library_share_pct,
    coalesce(v.views, 0) as views,
    round(100.0 * coalesce(v.views, 0) / sum(coalesce(v.views, 0)) over (), 2) as viewing_share_pct,
    v.watch_hours,
    v.avg_completion_rate,
    round({{ safe_divide('coalesce(v.views, 0)', 'l.titles') }}, 1) as views_per_title
from library as l
left join viewing as v on v.genre_name = l.genre_name
order by views desc, l.genre_name
