{{ config(materialized='incremental', unique_key='event_date') }}
-- Viewing per day. Incremental: a later run only reprocesses the last loaded
-- day (it may have been partial) and the days after it.
select
    event_date,
    count(*) as views,
    count(distinct user_id) as active_viewers,
    round(sum(watch_minutes) / 60.0, 1) as watch_hours,
    round(avg(completion_rate), 4) as avg_completion_rate,
    round(avg(bandwidth_mbps), 2) as avg_bandwidth_mbps
from {{ ref('stg_viewing_events') }}
{% if is_incremental() %}
where event_date >= (select max(event_date) from {{ this }})
{% endif %}
group by event_date
order by event_date
