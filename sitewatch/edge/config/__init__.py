"""The edge's config: the pydantic tree, its cross-field checks, errors and the loader.

May import: sitewatch.edge.atomic, sitewatch.contract (no other stage).
"""
