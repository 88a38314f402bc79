"""MQTT ingest: every site's alerts, evidence, status and stats into the database.

May import: domain, store, the console's root modules, sitewatch.contract, sitewatch.mqtt;
never api, fastapi or starlette.
"""
