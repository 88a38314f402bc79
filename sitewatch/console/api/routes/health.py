"""Health: answers without login, for load balancers and monitoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sitewatch.console.api.deps import app_state
from sitewatch.console.schemas import HealthOut
from sitewatch.console.state import AppState

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def health(state: Annotated[AppState, Depends(app_state)]) -> HealthOut:
    """Always ``ok`` while the app answers; plus whether MQTT ingest is connected and how many
    messages it took and refused."""
    ingest = state.ingest
    return HealthOut(
        status="ok",
        ingest_connected=bool(ingest and ingest.connected),
        messages_received=ingest.received if ingest else 0,
        messages_rejected=ingest.rejected if ingest else 0,
    )
