"""Incidents, routing, channels and root-cause context (built on check results; see issue 7)."""
