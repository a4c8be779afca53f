-- One row per viewing, with the nested quality and engagement records flattened;
-- measures are exact decimals, so the marts' sums are the same in every build.
select
    cast(event_id as bigint) as event_id,
    {{ adapter.quote("timestamp") }} as viewed_at,
    {{ to_day(adapter.quote("timestamp")) }} as event_date,
    cast(user_id as bigint) as user_id,
    cast(content_id as bigint) as content_id,
    device_type,
    {{ exact('watch_minutes', 1) }} as watch_minutes,
    {{ struct_field('quality_metrics', 'buffering_events') }} as buffering_events,
    {{ exact(struct_field('quality_metrics', 'bandwidth_mbps'), 2) }} as bandwidth_mbps,
    {{ exact(struct_field('quality_metrics', 'frames_dropped'), 3) }} as frames_dropped_pct,
    {{ exact(struct_field('engagement_signals', 'completion_rate'), 4) }} as completion_rate,
    {{ struct_field('engagement_signals', 'rating') }} as rating
from {{ source('synthetic', 'viewing_events') }}
