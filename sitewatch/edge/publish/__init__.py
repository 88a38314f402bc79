"""Publishing: alert delivery, the outbox, the MQTT transport, the console feed.

May import: every edge stage and sitewatch.contract; no stage imports it.
"""
