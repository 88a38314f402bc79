"""Tests by layer: unit/, component/, e2e/, regression/; support/ holds shared helpers."""
