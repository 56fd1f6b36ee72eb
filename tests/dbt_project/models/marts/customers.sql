select c.id as customer_id, c.name, c.email, count(o.order_id) as orders
from {{ ref('raw_customers') }} as c
left join {{ ref('stg_orders') }} as o on o.customer_id = c.id
group by all
