"""Legal holds on a camera's recording, asked of its edge (docs/design/live-video.md, "Holds").

:meth:`HoldRequests.put` sends a signed ``hold`` VideoCommand and waits (at most
:data:`HOLD_WAIT_S`) for the edge's ``held`` part, which :meth:`HoldRequests.deliver` is
handed by the upload endpoint; an ``error`` part becomes the coded error it names. The edge
keeps the hold (every stream of the camera, until released there); the console's record of
it is its ``video.hold`` audit row on the camera, written once the edge said ``held``, which
:func:`listed` reads back for the camera's timeline. Times are Unix seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import ConsoleError, Invalid
from sitewatch.console.state import AppState
from sitewatch.console.store.models import AuditEntry, User
from sitewatch.console.video import faults
from sitewatch.console.video.ranges import upload_url
from sitewatch.contract import messages as m

HOLD_WAIT_S = 15.0
"""How long :meth:`HoldRequests.put` waits for the edge's answer."""
HOLD_PART_MAX_BYTES = 8192
"""Largest ``held`` or ``error`` part of a hold (a small JSON object)."""
HOLDS_LISTED = 200
"""Most holds one timeline answer lists, the newest kept."""
ACTION = "video.hold"
DETAIL_KEY = "video_hold"


@dataclass(frozen=True)
class Hold:
    """A hold the edge confirmed: ``id`` (the command's request id), wall-clock range."""

    id: str
    start: float
    end: float
    reason: str


@dataclass
class _Pending:
    site_id: str
    camera_id: str
    future: asyncio.Future[Hold] = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)


class HoldRequests:
    """Hold commands waiting for their edge's answer; :meth:`deliver` from any thread."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._by_id: dict[UUID, _Pending] = {}

    def expects(self, request_id: UUID) -> bool:
        """Whether ``request_id`` is a hold waiting for its answer."""
        with self._lock:
            return request_id in self._by_id

    async def put(
        self,
        site_id: str,
        camera_id: str,
        start: float,
        end: float,
        reason: str,
        issued_by: str,
        *,
        fallback_url: str | None = None,
    ) -> Hold:
        """Ask the edge to hold ``[start, end]`` of the camera and wait for its answer; a
        ``video.*`` coded error otherwise (range_invalid 422, edge_offline or broker_down 503,
        camera_offline 503, timeout 504, failed 502)."""
        problem = hold_problem(start, end, reason)
        if problem is not None:
            raise Invalid(problem, code="video.range_invalid", params={"problem": problem})
        loop = asyncio.get_running_loop()
        request_id = uuid4()
        pending = _Pending(site_id, camera_id, loop.create_future(), loop)
        with self._lock:
            self._by_id[request_id] = pending
        try:
            now = datetime.now(UTC)
            command = m.VideoCommand(
                request_id=request_id,
                site_id=site_id,
                camera_id=camera_id,
                action="hold",
                start=datetime.fromtimestamp(start, UTC),
                end=datetime.fromtimestamp(end, UTC),
                reason=reason.strip(),
                upload_url=upload_url(self.state, request_id, fallback_url),
                expires_at=now + timedelta(seconds=HOLD_WAIT_S),
                issued_by=issued_by,
                issued_at=now,
            )
            faults.sender(self.state)(command)
            return await asyncio.wait_for(asyncio.shield(pending.future), HOLD_WAIT_S)
        except TimeoutError:
            raise faults.timeout((site_id, camera_id, "detect"), HOLD_WAIT_S) from None
        finally:
            with self._lock:
                self._by_id.pop(request_id, None)

    def deliver(
        self, request_id: UUID, site_id: str, part: Literal["held", "error"], body: bytes
    ) -> bool:
        """Take the edge's answer to hold ``request_id``; False for one not waited for or of
        another site (the endpoint answers 410)."""
        with self._lock:
            pending = self._by_id.get(request_id)
        if pending is None or pending.site_id != site_id:
            return False
        where = (site_id, pending.camera_id, "detect")
        outcome: Hold | ConsoleError
        try:
            doc = json.loads(body)
            if part == "error":
                outcome = faults.from_edge(where, str(doc["code"]), str(doc.get("detail", "")))
            else:
                outcome = Hold(
                    str(request_id), float(doc["start"]), float(doc["end"]), str(doc["reason"])
                )
        except (ValueError, KeyError, TypeError) as exc:
            outcome = faults.failed(where, f"its {part} part is not the JSON expected ({exc})")

        def settle() -> None:
            if pending.future.done():
                return
            if isinstance(outcome, Hold):
                pending.future.set_result(outcome)
            else:
                pending.future.set_exception(outcome)

        pending.loop.call_soon_threadsafe(settle)
        return True


def hold_problem(start: float, end: float, reason: str) -> str | None:
    """Why a hold of ``[start, end]`` with ``reason`` cannot be asked for, or None."""
    if not 0 < end - start <= m.MAX_HOLD_S:
        return (
            f"expected end after start and at most {m.MAX_HOLD_S:g} s later, got "
            f"{end - start:g} s: hold shorter pieces"
        )
    if not reason.strip() or len(reason.strip()) > 500:
        return "expected a reason of 1 to 500 characters (who asked, the case number)"
    return None


def record(
    s: Session, user: User, site_id: str, camera_id: str, hold: Hold, client: str | None
) -> None:
    """The console's record of a confirmed hold: its ``video.hold`` audit row on the camera
    (the caller commits)."""
    start, end = _iso(hold.start), _iso(hold.end)
    audit.record(
        s, user, ACTION, "camera", f"{site_id}/{camera_id}", site_id=site_id,
        camera_id=camera_id, detail=f"legal hold {hold.id}: {start} to {end} ({hold.reason})",
        client=client, key=DETAIL_KEY,
        params={"hold": hold.id, "start": hold.start, "end": hold.end, "from": start, "to": end,
                "reason": hold.reason},
    )  # fmt: skip


def listed(s: Session, site_id: str, camera_id: str, lo: float, hi: float) -> list[dict[str, Any]]:
    """The camera's holds overlapping ``[lo, hi]``, oldest first (at most
    :data:`HOLDS_LISTED`, the newest): ``{id, start, end, reason, by, at}``."""
    rows = s.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == ACTION,
            AuditEntry.object_type == "camera",
            AuditEntry.object_id == f"{site_id}/{camera_id}",
        )
        .order_by(AuditEntry.at.desc())
    )
    out: list[dict[str, Any]] = []
    for row in rows:
        p = row.detail_params or {}
        try:
            start, end = float(p["start"]), float(p["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if start < hi and lo < end:
            out.append({"id": p.get("hold"), "start": start, "end": end,
                        "reason": p.get("reason"), "by": row.username,
                        "at": row.at.timestamp()})  # fmt: skip
        if len(out) >= HOLDS_LISTED:
            break
    return out[::-1]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()
