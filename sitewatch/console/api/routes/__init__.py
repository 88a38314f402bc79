"""One router per resource; ``ROUTERS`` is what :func:`sitewatch.console.app.create_app` mounts."""

from __future__ import annotations

from fastapi import APIRouter

from sitewatch.console.api.routes import auth

ROUTERS: list[APIRouter] = [auth.router]

# before alerts: its /api/alerts/overdue must not be read as an alert id
from sitewatch.console.api.routes import notifications  # noqa: E402

ROUTERS += [notifications.router]

from sitewatch.console.api.routes import alerts, events, evidence, health, sites, stats, users  # noqa: E402

ROUTERS += [users.router, sites.router, alerts.router, evidence.router, stats.router]
ROUTERS += [events.router, health.router]

from sitewatch.console.api.routes import alert_mask, config  # noqa: E402

ROUTERS += [config.router, alert_mask.router]

from sitewatch.console.api.routes import training_data  # noqa: E402

ROUTERS += [training_data.router]

from sitewatch.console.api.routes import metrics  # noqa: E402

ROUTERS += [metrics.router]

from sitewatch.console.api.routes import audit  # noqa: E402

ROUTERS += [audit.router]

from sitewatch.console.api.routes import reports  # noqa: E402

ROUTERS += [reports.router]

from sitewatch.console.api.routes import push  # noqa: E402

ROUTERS += [push.router]

from sitewatch.console.api.routes import video_live, video_playback  # noqa: E402

ROUTERS += [video_live.router, video_playback.router]

from sitewatch.console.api.routes import evidence_upload  # noqa: E402

ROUTERS += [evidence_upload.router]
