-- One row per viewing, with the nested quality and engagement records flattened.
select
    cast(event_id as bigint) as event_id,
    {{ adapter.quote("timestamp") }} as viewed_at,
    {{ to_day(adapter.quote("timestamp")) }} as event_date,
    cast(user_id as bigint) as user_id,
    cast(content_id as bigint) as content_id,
    device_type,
    watch_minutes,
    {{ struct_field('quality_metrics', 'buffering_events') }} as buffering_events,
    {{ struct_field('quality_metrics', 'bandwidth_mbps') }} as bandwidth_mbps,
    {{ struct_field('quality_metrics', 'frames_dropped') }} as frames_dropped_pct,
    {{ struct_field('engagement_signals', 'completion_rate') }} as completion_rate,
    {{ struct_field('engagement_signals', 'rating') }} as rating
from {{ source('synthetic', 'viewing_events') }}
