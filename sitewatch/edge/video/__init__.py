"""Video in: camera capture, the segment recorder, the motion gate, URL redaction.

May import: sitewatch.edge.config, sitewatch.edge.atomic (no other stage).
"""
