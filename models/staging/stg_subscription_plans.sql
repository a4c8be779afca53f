select
    plan as plan_name,
    cast(monthly_price_usd as decimal(6, 2)) as monthly_price_usd,
    max_streams,
    max_quality,
    design_share
from {{ ref('subscription_plans') }}
