-- The library's genre distribution as the design published it.
select
    genre_name,
    design_title_count,
    round(100.0 * design_title_count / sum(design_title_count) over (), 2) as share_pct
from {{ ref('stg_genres') }}
order by design_title_count desc, genre_name
