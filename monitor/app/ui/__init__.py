"""The read-only web UI of `demon run` and the one-file report of `demon report` (see README, "Web UI and
report"): the same views, rendered from one snapshot of the state store."""
