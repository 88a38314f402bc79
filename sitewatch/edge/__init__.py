"""SiteWatch edge: cameras in, detections, rules and alerts out."""
