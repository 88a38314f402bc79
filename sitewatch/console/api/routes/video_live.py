"""Video routes (docs/design/live-video.md, "Console API"): being built for issue 15."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
