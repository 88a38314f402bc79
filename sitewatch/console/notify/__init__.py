"""Notifications: channel senders, the durable outbox, routing, escalation and the worker.

A layer beside the api and the ingest (it may import domain and store, never the api): the
worker thread that :func:`sitewatch.console.app.create_app` starts turns each new incident
into outbox rows (:mod:`.routing`, :mod:`.leads`), escalates incidents still ``new`` after N
minutes, enqueues the scheduled reports (:mod:`.schedule`), and sends the due rows through
:mod:`.channels` within each route's rate limit (:mod:`.outbox`).
"""
