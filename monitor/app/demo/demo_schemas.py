"""Pandera models of the demo warehouse's tables, named by the quality checks of demon.yml.

`demon demo` writes this file beside demon.yml, whose directory demon puts first on sys.path, so
`schema: demo_schemas:FactOrders` finds it. Built-in checks (ranges, isin, regex, unique, nullable,
dtypes) run in the warehouse as SQL over every row in scope; custom checks (`@pa.check`,
`@pa.dataframe_check`) run in Pandera on a sample of at most `sample:` rows.
"""

from __future__ import annotations

import datetime

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

STATUSES = ["In Process", "On Hold", "Shipped", "Resolved", "Disputed", "Cancelled"]
SCALES = ["1:10", "1:12", "1:18", "1:24", "1:32", "1:50", "1:72", "1:700"]  # the catalog's scales


class FactOrders(pa.DataFrameModel):
    """analytics.fact_orders: one row per order line; (order_number, order_line) is its key."""

    order_number: int = pa.Field(ge=10100)
    order_line: int = pa.Field(in_range={"min_value": 1, "max_value": 19})
    customer_id: int = pa.Field(ge=100)
    product_code: str = pa.Field(str_matches=r"S\d+_\d{4}$")
    quantity: int = pa.Field(in_range={"min_value": 1, "max_value": 1000})
    price_each: float = pa.Field(gt=0)  # DECIMAL(10,2) in the warehouse: float accepts decimal
    order_date: datetime.date
    customer_email: str = pa.Field(str_matches=r"[a-z.]+@[a-z0-9]+\.example$")  # pii: checked, never shown

    class Config:
        unique = ["order_number", "order_line"]

    @pa.check("product_code", name="known_scale")
    def known_scale(cls, code: Series[str]) -> Series[bool]:
        """S18_1234 is a 1:18 model: the code's scale must be one the catalog sells."""
        scale = "1:" + code.str.extract(r"^S(\d+)_", expand=False)
        known: Series[bool] = scale.isin(SCALES)
        return known


class Orders(pa.DataFrameModel):
    """sales.orders: one row per order, straight from the order-entry system."""

    order_number: int = pa.Field(unique=True, ge=10100)
    order_date: datetime.date
    required_date: datetime.date
    shipped_date: datetime.date = pa.Field(nullable=True)  # not shipped yet
    status: str = pa.Field(isin=STATUSES)
    comments: str = pa.Field(nullable=True, str_length={"max_value": 200})
    customer_number: int = pa.Field(in_range={"min_value": 100, "max_value": 999})

    @pa.dataframe_check(name="required_after_ordered")
    def required_after_ordered(cls, orders: pd.DataFrame) -> Series[bool]:
        """A check across columns, which SQL rules per column cannot express."""
        required: Series[bool] = orders["required_date"] > orders["order_date"]
        return required
