"""Evidence: snapshots and disk budget, the evidence index, clips, annotation.

May import: sitewatch.edge.video, sitewatch.edge.detections (not analysis, detect).
"""
