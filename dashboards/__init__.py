"""Bundled Grafana dashboards, provisioning files and Prometheus rules (see issue 6)."""
