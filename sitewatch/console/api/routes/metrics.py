"""Prometheus metrics at ``/metrics`` for the people who run the console: ingest, open alerts,
cameras and each edge's health (what they are: :mod:`sitewatch.console.domain.metrics`).
Off unless ``SITEWATCH_METRICS_TOKEN`` is set; the scraper sends it as ``Authorization:
Bearer <token>``. Text format 0.0.4, or OpenMetrics when the scraper's Accept asks for it."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.exposition import choose_encoder

from sitewatch.console.api.deps import app_state
from sitewatch.console.api.errors import refuse
from sitewatch.console.domain.metrics import registry
from sitewatch.console.state import AppState

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "the metrics"},
        401: {"description": "wrong or missing token (code metrics.token)"},
        404: {"description": "metrics are off (code metrics.off)"},
    },
)
def metrics(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Every metric, read afresh (Prometheus text format 0.0.4, or OpenMetrics 1.0)."""
    token = state.settings.metrics_token
    if token is None:
        raise refuse(
            404,
            "metrics.off",
            "metrics are off: set SITEWATCH_METRICS_TOKEN to turn them on",
            variable="SITEWATCH_METRICS_TOKEN",
        )
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise refuse(
            401,
            "metrics.token",
            "expected Authorization: Bearer <SITEWATCH_METRICS_TOKEN>, got a missing or "
            "different token: give the scraper the token the console was started with",
            headers={"WWW-Authenticate": "Bearer"},
            header="Authorization: Bearer <SITEWATCH_METRICS_TOKEN>",
        )
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry(state)), media_type=content_type)
