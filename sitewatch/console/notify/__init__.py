"""Notifications: channel senders, the durable outbox, routing, escalation and the worker.

A layer beside the api and the ingest (it may import domain and store, never the api): the
worker thread that :func:`sitewatch.console.app.create_app` starts turns new alerts into
outbox rows (:mod:`.routing`), escalates alerts still ``new`` after N minutes, and sends the
due rows through :mod:`.channels` within each route's rate limit (:mod:`.outbox`).
"""
