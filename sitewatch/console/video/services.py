"""The video relay, range and hold requests of a running app, kept in ``AppState.services`` and read
back typed: AppState names no video type (the video package imports the state, not the other
way round)."""

from __future__ import annotations

from datetime import datetime

from sitewatch.console.state import AppState
from sitewatch.console.store import replicas as replica_rows
from sitewatch.console.video.holds import HoldRequests
from sitewatch.console.video.hub import LiveHub
from sitewatch.console.video.ranges import RangeRequests

HUB = "video.hub"
RANGES = "video.ranges"
HOLDS = "video.holds"


def install(state: AppState, hub: LiveHub, ranges: RangeRequests) -> None:
    """Keep the app's hub and range requests (at start-up)."""
    state.services[HUB] = hub
    state.services[RANGES] = ranges


def hub_or_none(state: AppState) -> LiveHub | None:
    """The live relay, or None in an app whose start-up did not run."""
    got = state.services.get(HUB)
    return got if isinstance(got, LiveHub) else None


def hub(state: AppState) -> LiveHub:
    """The live relay; the app's start-up makes it."""
    got = hub_or_none(state)
    if got is None:
        raise RuntimeError("no live relay: the console's start-up did not run")
    return got


def ranges_or_none(state: AppState) -> RangeRequests | None:
    """The range requests, or None in an app whose start-up did not run."""
    got = state.services.get(RANGES)
    return got if isinstance(got, RangeRequests) else None


def ranges(state: AppState) -> RangeRequests:
    """The range requests; made here for an app whose start-up did not run."""
    got = ranges_or_none(state)
    if got is None:
        got = RangeRequests(state)
        state.services[RANGES] = got
    return got


def holds_or_none(state: AppState) -> HoldRequests | None:
    """The hold requests waiting for their edge, or None before the first was made."""
    got = state.services.get(HOLDS)
    return got if isinstance(got, HoldRequests) else None


def holds(state: AppState) -> HoldRequests:
    """The hold requests; made here the first time."""
    got = holds_or_none(state)
    if got is None:
        got = HoldRequests(state)
        state.services[HOLDS] = got
    return got


def stale_before(state: AppState) -> datetime:
    """Work in memory asked for before this is lost: when this console started, or with
    replicas the longest-running live one (read from the registry)."""
    started = ranges(state).started_at
    registry = state.services.get(replica_rows.SERVICE)
    if isinstance(registry, replica_rows.Registry):
        return min(started, registry.oldest_start())
    return started
