{{ config(materialized='view') }}
select * from {{ ref('customers') }} where orders > 1
