"""Test helpers: real services (mosquitto, RTSP, PostgreSQL, Chromium), composed clips."""
