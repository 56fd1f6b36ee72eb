"""The top layer: the command line, the runner, the daemon, metrics and reports.

The only place that wires the parts together: it picks sources and check kinds from their registries, hands
results to the state store and to alerting, and renders them.
"""
