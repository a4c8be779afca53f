-- The plan mix of subscribers, with each plan's share and engagement.
with users as (
    select plan_name, count(*) as subscribers, {{ count_if('is_active') }} as active_subscribers
    from {{ ref('stg_users') }}
    group by plan_name
),
viewing as (
    select
        plan_name,
        count(*) as views,
        sum(watch_minutes) as watch_minutes,
        avg(completion_rate) as avg_completion_rate
    from {{ ref('int_viewings_enriched') }}
    group by plan_name
)
select
    u.plan_name,
    u.subscribers,
    round(100.0 * u.subscribers / sum(u.subscribers) over (), 2) as share_pct,
    round(100 * p.design_share, 2) as design_share_pct,
    u.active_subscribers,
    coalesce(v.views, 0) as views,
    round({{ safe_divide('coalesce(v.views, 0)', 'u.subscribers') }}, 2) as views_per_subscriber,
    round({{ safe_divide('coalesce(v.watch_minutes, 0)', 'u.subscribers') }} / 60.0, 2) as watch_hours_per_subscriber,
    round(v.avg_completion_rate, 4) as avg_completion_rate,
    p.monthly_price_usd
from users as u
left join viewing as v on v.plan_name = u.plan_name
left join {{ ref('stg_subscription_plans') }} as p on p.plan_name = u.plan_name
order by u.subscribers desc
