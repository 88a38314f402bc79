"""The console: ``create_app(settings)`` builds the FastAPI app (API, live events, web pages)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sitewatch.console.api import docs as api_docs
from sitewatch.console.api import errors as api_errors
from sitewatch.console.api import headers as security_headers
from sitewatch.console.api import routes
from sitewatch.console.api.routes import incidents
from sitewatch.console.api.routes.evidence_upload import INTAKE as EVIDENCE_INTAKE
from sitewatch.console.api.routes.video_live import UPLOAD_PREFIX
from sitewatch.console.domain.security import LoginLimiter
from sitewatch.console.settings import Settings
from sitewatch.console.state import AppState
from sitewatch.console.store.db import Database, migrate
from sitewatch.console.video import faults
from sitewatch.console.video import forward as video_forward
from sitewatch.console.video import services as video_services
from sitewatch.console.video.hub import HubTiming, LiveHub
from sitewatch.console.video.ranges import RangeRequests
from sitewatch.contract.signing import load_or_create_key

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
RELAY = "live.relay"  # state.services key of the PostgreSQL live relay (replicas)


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False) -> FastAPI:
    """The console app for ``settings`` (default: from ``SITEWATCH_*`` environment variables).

    Start-up migrates the database to the newest schema, loads the console's signing key
    (``signing_key_file``, made on first start) and, when ``mqtt_host`` is set, starts MQTT
    ingest from every site's edge; with ``notify_poll_s`` above 0, the notification worker
    (:mod:`sitewatch.console.notify`). Every response carries the security headers of
    :mod:`sitewatch.console.api.headers`; request bodies are bounded by ``max_request_bytes``,
    the edges' video uploads by ``video_upload_max_bytes``. The live relay
    (:mod:`sitewatch.console.video.hub`) and the range requests are made at start. On
    PostgreSQL, live events also go to and come from the other replicas on the database
    (:mod:`sitewatch.console.store.pg_events`) and the login limits count in it. With
    ``freeze_gc`` (the server process, not tests: they start many apps in one process), what
    start-up made is frozen out of the garbage collector's full passes, which otherwise stall a
    request (bench/RESULTS.md, "Database at county size").
    """
    settings = settings or Settings()
    db = Database(settings.database_url)
    state = AppState(
        settings=settings,
        db=db,
        limiter=LoginLimiter.from_settings(settings, db),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(db.engine)
        state.signing_key = load_or_create_key(settings.signing_key_file)
        settings.evidence_dir.mkdir(parents=True, exist_ok=True)
        state.hub.bind(asyncio.get_running_loop())
        relay = None
        if db.shared:  # replicas on one PostgreSQL database: live events to every one
            from sitewatch.console.store.pg_events import PgEventRelay

            relay = PgEventRelay(db, state.hub)
            relay.start()
            state.services[RELAY] = relay
        timing = HubTiming(
            grace_s=settings.video_live_grace_s, viewer_bytes=settings.video_viewer_buffer_bytes
        )
        live = LiveHub(faults.sender(state), timing)
        video_services.install(state, live, RangeRequests(state))
        video_forward.start(state)  # PostgreSQL with replica_url: uploads to the one that asked
        ingest = None
        if settings.mqtt_host:
            from sitewatch.console.ingest.service import Ingest

            ingest = Ingest(settings, db, state.hub)
            ingest.start()
            state.ingest = ingest
        from sitewatch.console.ingest.evidence_http import EvidenceIntake  # evidence over HTTP

        state.services[EVIDENCE_INTAKE] = EvidenceIntake(state)
        notify = None
        if settings.notify_poll_s > 0:
            from sitewatch.console.notify.worker import NotifyWorker

            notify = NotifyWorker(db, settings)
            notify.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await live.close()
            await video_forward.stop(state)
            if notify is not None:
                notify.stop()
            if ingest is not None:
                ingest.stop()
            if relay is not None:
                relay.stop()
            db.close()

    app = FastAPI(
        title="SiteWatch console",
        version="1",
        summary="Alerts, evidence, cameras and zones of every SiteWatch site.",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py, from the installed bundle (no CDN)
        redoc_url=None,
    )
    app.state.sitewatch = state
    video_uploads = {UPLOAD_PREFIX: settings.video_upload_max_bytes}
    security_headers.install(app, settings.max_request_bytes, video_uploads)
    api_errors.install(app)  # one error shape with codes (api/errors.py)
    for router in routes.ROUTERS:
        app.include_router(router)
    app.include_router(incidents.router)
    api_docs.install(app)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="console")
    return app
