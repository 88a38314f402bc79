"""Detection: the ONNX model, decoding, letterbox, second looks, detector, batcher.

May import: sitewatch.edge.detections, sitewatch.edge.video (not analysis, evidence).
"""
