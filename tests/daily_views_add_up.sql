-- The daily rollup accounts for every viewing exactly once.
select d.total_views, e.total_events
from (select sum(views) as total_views from {{ ref('daily_engagement') }}) as d
cross join (select count(*) as total_events from {{ ref('stg_viewing_events') }}) as e
where d.total_views <> e.total_events
