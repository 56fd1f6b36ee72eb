"""`demon run`: the long-running monitor. Imported only by that command (APScheduler, prometheus-client).

Data flows one way: config -> schedule (triggers) -> dataset jobs (runner) -> results -> state store,
health and metrics; the HTTP endpoint only reads what the jobs left.
"""
