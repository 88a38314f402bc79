"""Regression tests: committed figures (tests/regression/expected/) a change must not lower."""
