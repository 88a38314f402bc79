"""Analysis: tracker, zones, the rule registry, rules, alerts and the per-camera pipeline.

May import: sitewatch.core, sitewatch.edge.config, sitewatch.edge.detections (not detect,
evidence).
"""
