select
    genre as genre_name,
    design_title_count
from {{ ref('genres') }}
