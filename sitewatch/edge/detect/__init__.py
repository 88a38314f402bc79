"""Detection: the ONNX model, decoding, letterbox, the looks, detector, batcher.

May import: sitewatch.edge.detections, sitewatch.edge.video (not analysis, evidence).
"""
