"""What a live viewer is told instead of video, as coded domain errors (``video.*`` codes of
:mod:`sitewatch.console.error_codes`), and the sender that signs a live command and hands it
to the ingest's MQTT client (docs/design/live-video.md, "Faults the viewer sees")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sitewatch.console.domain.errors import ConsoleError, NotFound, Unavailable
from sitewatch.console.state import AppState
from sitewatch.contract import messages as m
from sitewatch.contract.signing import sign

__all__ = ["ConsoleError", "Timeout", "edge_offline", "failed", "from_edge", "sender", "timeout"]


class Timeout(ConsoleError):
    """No video in time (504)."""

    status = 504
    default_code = "video.timeout"


class Failed(ConsoleError):
    """The edge could not send the video (502)."""

    status = 502
    default_code = "video.failed"


def edge_offline(site_id: str, since: datetime | None, why: str) -> Unavailable:
    """503 ``video.edge_offline``; ``since``: when the console last heard from the edge."""
    return Unavailable(
        f"the edge of site {site_id!r} is offline{f' since {since.isoformat()}' if since else ''}"
        f": {why}; live video comes back when it reconnects",
        code="video.edge_offline",
        params={"site": site_id, "since": since.timestamp() if since else None},
    )


def timeout(key: tuple[str, str, str], seconds: float) -> Timeout:
    site_id, camera_id, stream = key
    return Timeout(
        f"expected the first video of camera {camera_id!r} ({stream} stream) from the edge of "
        f"site {site_id!r} within {seconds:g} s, got none: the edge may not reach the console "
        "at its upload address (settings edge_url / console_url), or the camera is slow; try "
        "again",
        params={"site": site_id, "camera": camera_id, "seconds": round(seconds)},
    )


def failed(key: tuple[str, str, str], reason: str) -> Failed:
    return Failed(
        f"the edge of site {key[0]!r} could not stream camera {key[1]!r}: {reason}",
        params={"site": key[0], "camera": key[1], "reason": reason},
    )


def from_edge(key: tuple[str, str, str], code: str, detail: str) -> ConsoleError:
    """The error of an edge's ``error`` part (``camera_offline``, ``busy``, ...)."""
    site_id, camera_id, _ = key
    where = {"site": site_id, "camera": camera_id}
    if code == "camera_offline":
        return Unavailable(
            f"camera {camera_id!r} at site {site_id!r} is offline: {detail}",
            code="video.camera_offline",
            params={**where, "error": detail},
        )
    if code == "busy":
        return Unavailable(
            f"the edge of site {site_id!r} streams as many cameras live as it may ({detail}): "
            "try again when someone stops watching",
            code="video.busy",
            params=where,
        )
    if code == "not_recorded":
        return NotFound(f"{detail}", code="video.not_recorded", params=where)
    return failed(key, f"{code}: {detail}")


def sender(state: AppState) -> Callable[[m.VideoCommand], None]:
    """Signs a command with the console's key and publishes it to its site's edge; an
    ``edge_offline`` (no ingest) or ``broker_down`` error when it cannot go out."""

    def send(command: m.VideoCommand) -> None:
        ingest, key = state.ingest, state.signing_key
        if ingest is None:
            raise edge_offline(
                command.site_id,
                None,
                "this console has no MQTT ingest (SITEWATCH_MQTT_HOST is empty), so it cannot "
                "ask any edge for video",
            )
        if key is None:  # only an app whose start-up did not run
            raise Unavailable(
                "the console has no signing key loaded, and an edge takes only signed "
                "commands: restart the console",
                code="config.no_signing_key",
            )
        try:
            ingest.send_video(sign(command, key))
        except RuntimeError as exc:
            raise Unavailable(str(exc), code="video.broker_down") from None

    return send
