"""One router per resource; ``ROUTERS`` is what :func:`server.app.create_app` mounts."""

from __future__ import annotations

from fastapi import APIRouter

from server.routes import auth

ROUTERS: list[APIRouter] = [auth.router]

from server.routes import alerts, events, evidence, health, sites, stats, users  # noqa: E402

ROUTERS += [users.router, sites.router, alerts.router, evidence.router, stats.router]
ROUTERS += [events.router, health.router]

from server.routes import alert_mask, config  # noqa: E402

ROUTERS += [config.router, alert_mask.router]

from server.routes import training_data  # noqa: E402

ROUTERS += [training_data.router]

from server.routes import metrics  # noqa: E402

ROUTERS += [metrics.router]

from server.routes import audit  # noqa: E402

ROUTERS += [audit.router]
