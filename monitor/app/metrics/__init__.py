"""The Prometheus side of demon: metric families built from check results, their exposition, the push."""
