"""In-process fan-out of live events to the web console's SSE streams.

Ingest runs on the MQTT client's thread; :meth:`EventHub.publish` is thread-safe and hands
each event to every subscriber's asyncio queue on the app's loop. A slow browser never slows
ingest: its queue is bounded and the oldest event is dropped (the page re-reads on reconnect).

Replicas on one PostgreSQL database: a relay (:mod:`sitewatch.console.store.pg_events`) is
attached with :meth:`EventHub.relay_to`; every event published here goes to this replica's
streams and to the relay, which hands it to the other replicas' hubs by :meth:`deliver`
(their streams only, never back to a relay): each stream on each replica sees each event once.
Ingest hands its events to the relay inside the transaction that stored them
(:meth:`EventHub.publish_in`): the other replicas get them at that commit or never, so a replica
killed after a commit cannot take its events with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # "alert", "camera", "site", "config"
    site_id: str
    data: dict[str, Any]


class EventHub:
    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self._lock = threading.Lock()
        self._relay: Callable[[LiveEvent], None] | None = None
        self._relay_in: Callable[[Any, list[LiveEvent]], None] | None = None
        # origins of the relays ever attached here: their NOTIFYs are this hub's own events
        self.origins: set[str] = set()

    def relay_to(
        self,
        relay: Callable[[LiveEvent], None] | None,
        in_transaction: Callable[[Any, list[LiveEvent]], None] | None = None,
    ) -> None:
        """Also hand every event published from now on to ``relay`` (None: stop); it must not
        block (it is called on ingest's thread). ``in_transaction(session, events)`` sends
        events within a database session's transaction (:meth:`publish_in`)."""
        self._relay, self._relay_in = relay, in_transaction

    def publish_in(self, session: Any, events: list[LiveEvent]) -> bool:
        """Send ``events`` to the other replicas within ``session``'s transaction (delivered at
        its commit, dropped with its rollback). True if done: then :meth:`deliver` them here
        after the commit; False (no such relay): :meth:`publish` them after the commit."""
        relay_in = self._relay_in
        if relay_in is None or not events:
            return relay_in is not None
        relay_in(session, events)
        return True

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called at app start-up with the loop the SSE streams run on."""
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[LiveEvent]:
        q: asyncio.Queue[LiveEvent] = asyncio.Queue(self.queue_size)
        with self._lock:
            self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[LiveEvent]) -> None:
        with self._lock:
            self._queues.discard(q)

    def publish(self, event: LiveEvent) -> None:
        """To this replica's streams and the relay, if any. Thread-safe."""
        relay = self._relay
        if relay is not None:
            relay(event)
        self.deliver(event)

    def deliver(self, event: LiveEvent) -> None:
        """To this replica's streams only (an event from another replica). Thread-safe; a
        no-op before :meth:`bind` (no page can be listening then)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            loop.call_soon_threadsafe(_put_latest, q, event)


def _put_latest(q: asyncio.Queue[LiveEvent], event: LiveEvent) -> None:
    if q.full():
        q.get_nowait()
    q.put_nowait(event)
