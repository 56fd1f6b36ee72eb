-- A singular test: reported on the first dataset it reads.
select order_id from {{ ref('stg_orders') }} where amount < 0
