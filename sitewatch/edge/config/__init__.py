"""The edge's config: the pydantic tree, its cross-field checks, errors and the loader.

May import: sitewatch.core, sitewatch.contract, sitewatch.edge.atomic (no other stage). Inside,
one way: rule_specs <- schema <- checks <- errors <- load (the loader runs the checks).
"""
