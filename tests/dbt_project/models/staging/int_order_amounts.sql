{{ config(materialized='ephemeral') }}
select cast(ordered_at as date) as order_day, amount from {{ ref('stg_orders') }}
