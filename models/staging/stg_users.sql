-- One row per subscriber, from the synthesizer's users table.
select
    cast(user_id as bigint) as user_id,
    cast(signup_date as date) as signup_date,
    plan as plan_name,
    country as country_code,
    age_group,
    gender,
    is_active
from {{ source('synthetic', 'users') }}
