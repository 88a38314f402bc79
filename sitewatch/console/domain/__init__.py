"""The console's use cases: workflow steps, scope queries, audit, custody, retention,
export, users, config changes, broker identities. No HTTP, no MQTT.

May import: store, the console's root modules, sitewatch.contract; never ingest, api,
fastapi, starlette or paho.
"""
