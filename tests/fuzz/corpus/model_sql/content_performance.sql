-- Each title's audience and engagement, ranked within its genre by views.
with per_title as (
    select
        content_id,
        count(*) as views,
        count(distinct user_id) as unique_viewers,
        round(sum(watch_minutes) / 60.0, 1) as watch_hours,
        round(avg(completion_rate), 4) as avg_completion_rate,
        round(avg(rating), 2) as avg_rating
    from {{ ref('stg_viewing_events') }}
    group by content_id
)
select
    c.content_id,
    c.title,
    c.genre_name,
    c.release_year,
    c.duration_minutes,
    coalesce(p.views, 0) as views,
    coalesce(p.unique_viewers, 0) as unique_viewers,
    coalesce(p.watch_hours, 0) as watch_hours,
    p.avg_completion_rate,
    p.avg_rating,
    rank() over (partition by c.genre_name order by coalesce(p.views, 0) desc) as rank_in_genre
from {{ ref('stg_content') }} as c
left join per_title as p on p.content_id = c.content_id
order by c.genre_name, rank_in_genre, c.content_id
