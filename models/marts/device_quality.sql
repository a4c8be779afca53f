-- Streaming quality and completion per device type.
select
    device_type,
    count(*) as events,
    round(100.0 * count(*) / sum(count(*)) over (), 2) as share_pct,
    round(avg(bandwidth_mbps), 2) as avg_bandwidth_mbps,
    round({{ percentile('bandwidth_mbps', 0.1) }}, 2) as p10_bandwidth_mbps,
    round({{ percentile('bandwidth_mbps', 0.5) }}, 2) as median_bandwidth_mbps,
    round({{ percentile('bandwidth_mbps', 0.9) }}, 2) as p90_bandwidth_mbps,
    round(avg(buffering_events), 3) as avg_buffering_events,
    round(100.0 * {{ count_if('buffering_events > 0') }} / count(*), 2) as buffered_views_pct,
    round(avg(frames_dropped_pct), 3) as avg_frames_dropped_pct,
    round(avg(completion_rate), 4) as avg_completion_rate
from {{ ref('stg_viewing_events') }}
group by device_type
order by events desc
