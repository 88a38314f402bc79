"""The message contract between edge and console: versioned pydantic models.

May import: no other part of sitewatch.
"""
