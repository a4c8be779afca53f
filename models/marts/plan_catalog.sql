-- Each plan with its price per stream and its share of the published plan mix.
select
    plan_name,
    monthly_price_usd,
    max_streams,
    round({{ safe_divide('monthly_price_usd', 'max_streams') }}, 2) as price_per_stream_usd,
    round(100 * design_share, 2) as design_share_pct
from {{ ref('stg_subscription_plans') }}
order by design_share desc
