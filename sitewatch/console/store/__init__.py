"""The console's storage: database engine and migrations, tables, the evidence files.

May import: sitewatch.contract and the console's root modules (settings, workflow, ids);
never domain, ingest or api.
"""
