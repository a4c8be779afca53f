{{ config(materialized='ephemeral') }}
-- Each viewing with its title's genre and length and its viewer's plan:
-- inlined as a CTE into the marts that need it.
select
    e.*,
    c.title,
    c.genre_name,
    c.duration_minutes,
    u.plan_name
from {{ ref('stg_viewing_events') }} as e
join {{ ref('stg_content') }} as c on c.content_id = e.content_id
join {{ ref('stg_users') }} as u on u.user_id = e.user_id
