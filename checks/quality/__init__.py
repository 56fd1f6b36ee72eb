"""Pandera quality checks: the schema's rules, counted in the warehouse where SQL can express them.

`loader` imports a schema, `plan` splits its rules into those demon compiles (`sql`) and those that
run on a bounded sample with Pandera itself (`frame`); `rules` holds the plain data they exchange.
"""
