"""Component tests: one real part each (mosquitto, SQLite/PostgreSQL, ffmpeg, the ONNX model, an
RTSP server)."""
