-- Nobody watches more of a title than its running time.
select event_id, watch_minutes, duration_minutes
from {{ ref('int_viewings_enriched') }}
where watch_minutes > duration_minutes
