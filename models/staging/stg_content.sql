-- One row per title in the library.
select
    cast(content_id as bigint) as content_id,
    title,
    genre as genre_name,
    cast(release_year as integer) as release_year,
    cast(duration_minutes as integer) as duration_minutes,
    maturity_rating
from {{ source('synthetic', 'content') }}
