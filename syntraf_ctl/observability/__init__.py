"""The observability pack: Grafana dashboards, alert and recording rules, compiled from the plan.

A pure core (thresholds, queries, rules, dashboards, provisioning: plan in, file contents out) and one thin
writer (`pack.write_pack`). docs/observability.md describes what is generated.
"""
