-- Each subscriber's viewing, favourite genre, recency and a churn-risk flag.
-- Recency is measured against the last day with any viewing, so results do
-- not depend on when the project is built.
with viewings as (
    select * from {{ ref('int_viewings_enriched') }}
),
as_of as (
    select max(event_date) as as_of_date from viewings
),
per_user as (
    select
        user_id,
        count(*) as views,
        round(sum(watch_minutes) / 60.0, 2) as watch_hours,
        count(distinct content_id) as titles_watched,
        max(event_date) as last_view_date,
        avg(completion_rate) as avg_completion_rate
    from viewings
    group by user_id
),
genre_rank as (
    select
        user_id,
        genre_name,
        row_number() over (partition by user_id order by count(*) desc, genre_name) as genre_position
    from viewings
    group by user_id, genre_name
)
select
    u.user_id,
    u.plan_name,
    u.signup_date,
    u.is_active,
    coalesce(p.views, 0) as views,
    coalesce(p.watch_hours, 0) as watch_hours,
    coalesce(p.titles_watched, 0) as titles_watched,
    g.genre_name as favourite_genre,
    p.last_view_date,
    {{ days_between('p.last_view_date', 'a.as_of_date') }} as days_since_last_view,
    round(p.avg_completion_rate, 4) as avg_completion_rate,
    (
        p.last_view_date is null
        or {{ days_between('p.last_view_date', 'a.as_of_date') }} > 21
        or (coalesce(p.views, 0) < 3 and coalesce(p.avg_completion_rate, 0) < 0.4)
    ) as churn_risk
from {{ ref('stg_users') }} as u
cross join as_of as a
left join per_user as p on p.user_id = u.user_id
left join genre_rank as g on g.user_id = u.user_id and g.genre_position = 1
