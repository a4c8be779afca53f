-- Every viewing happens on or after its subscriber's signup day.
select e.event_id, e.event_date, u.signup_date
from {{ ref('stg_viewing_events') }} as e
join {{ ref('stg_users') }} as u on u.user_id = e.user_id
where e.event_date < u.signup_date
