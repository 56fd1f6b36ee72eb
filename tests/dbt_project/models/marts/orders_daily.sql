select order_day, count(*) as orders, sum(amount) as revenue
from {{ ref('int_order_amounts') }}
group by order_day
