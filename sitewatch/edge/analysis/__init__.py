"""Analysis: tracker, zones, rules, alerts and the per-camera pipeline.

May import: sitewatch.edge.config, sitewatch.edge.detections (not detect, evidence;
box_iou still comes from detect.decode until it moves to a core module).
"""
