"""Core: small pure helpers every wing may use (geometry and array aliases).

Imports nothing of sitewatch: only the standard library and numpy.
"""
