"""End-to-end tests: processes, the demo, the wheel, real Chromium."""
