""" "Ignore this spot": the route that turns a false positive into a mask zone in one step
(the use case is :mod:`sitewatch.console.domain.masks`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, status

from sitewatch.console.api.deps import DB, app_state, client_address, require
from sitewatch.console.domain.config_changes import SENDING
from sitewatch.console.domain.masks import mask_alert_spot
from sitewatch.console.domain.queries import get_alert
from sitewatch.console.schemas import ConfigRequestOut, MaskIn
from sitewatch.console.state import AppState
from sitewatch.console.store.models import User

router = APIRouter(prefix="/api/alerts", tags=["config"])
Writer = Annotated[User, Depends(require("config.write"))]
State = Annotated[AppState, Depends(app_state)]
OptionalMask = Annotated[MaskIn | None, Body(description="Leave out for the defaults.")]


@router.post(
    "/{alert_id}/mask",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "no such alert among the user's sites and cameras"},
        409: {
            "description": "the alert has no usable box, the edge has not reported the "
            "camera's zones yet, or a change to them is still waiting for the edge's answer"
        },
        **SENDING,
    },
)
def mask_from_alert(
    alert_id: str, request: Request, user: Writer, s: DB, state: State, body: OptionalMask = None
) -> ConfigRequestOut:
    """Ignore this spot: append a ``mask`` zone covering the alert's box (plus ``margin``) to
    its camera's current zones and send the change to the edge, as the zone editor does; the
    answer (applied with the new version, or refused) arrives later on
    ``/api/config-requests/{id}`` and the live ``config`` event."""
    options = body or MaskIn()
    alert = get_alert(s, user, alert_id)
    row = mask_alert_spot(
        s, state, user, client_address(request), alert, margin=options.margin, name=options.name
    )
    return ConfigRequestOut.model_validate(row)
