"""The queue between paho's network thread and the ingest worker, bounded in bytes and count.

What may be dropped (QoS 0: the sender asked for at most once) is queued only while the queue
holds less than ``max_bytes`` payload bytes and ``max_items`` items; beyond that it is refused
and the caller counts the drop. What may not be dropped (QoS 1 messages) waits for room under
the same bounds (:meth:`BoundedQueue.put_when_room`), blocking its producer, paho's network
thread, so the backlog waits at the broker (TCP), not here. The broker's in-flight window is
not relied on: mosquitto 2.0.11 (Debian 12) sends every queued QoS 1 message once the client
has acknowledged one (bench/RESULTS.md, "The console's memory under a backlog"). Worker jobs
and the stop mark are always queued (:meth:`BoundedQueue.put`).

So the queue's payload bytes stay under ``max_bytes`` + the largest message (one that does not
fit is queued alone, once the queue is empty). The worker takes what is queued in batches
(:meth:`BoundedQueue.get_batch`, at most ``ingest_batch`` items), no longer counted here.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """FIFO of items with a size in bytes; thread-safe, one or more producers and consumers."""

    def __init__(self, max_bytes: int, max_items: int) -> None:
        if max_bytes < 1 or max_items < 1:
            raise ValueError(
                f"expected a queue bound of at least 1 byte and 1 item, got {max_bytes} bytes "
                f"and {max_items} items"
            )
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._peak_bytes = 0
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # an item queued
        self._room = threading.Condition(lock)  # an item taken

    def offer(self, item: T, size: int) -> bool:
        """Queue a droppable item if it fits under both bounds; False (nothing queued) if not."""
        with self._changed:
            if len(self._items) >= self.max_items or self._bytes + size > self.max_bytes:
                return False
            self._append(item, size)
            return True

    def put_when_room(
        self, item: T, size: int, cancelled: threading.Event, poll_s: float = 0.5
    ) -> bool:
        """Queue an item that must not be dropped once it fits under both bounds (or the queue
        is empty: one larger than ``max_bytes`` comes alone), waiting for the consumer to take
        items; False (nothing queued) if ``cancelled`` is set first (checked every ``poll_s``
        seconds)."""
        with self._changed:
            while not self._fits(size):
                if cancelled.is_set():
                    return False
                self._room.wait(poll_s)
            self._append(item, size)
            return True

    def _fits(self, size: int) -> bool:
        if not self._items:
            return True
        return len(self._items) < self.max_items and self._bytes + size <= self.max_bytes

    def put(self, item: T, size: int = 0) -> None:
        """Queue an item whatever the bounds (a worker job, the stop mark: few and small)."""
        with self._changed:
            self._append(item, size)

    def _append(self, item: T, size: int) -> None:
        self._items.append((item, size))
        self._bytes += size
        self._peak_bytes = max(self._peak_bytes, self._bytes)
        self._changed.notify()

    def get(self) -> T:
        """The oldest item, waiting for one."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._items))
            return self._take()

    def get_batch(self, max_items: int, joins: Callable[[T], bool]) -> list[T]:
        """The oldest item, waiting for one, and after it up to ``max_items`` - 1 more of those
        already queued, oldest first, while the first and each next one ``joins`` (a batch
        never waits for more, and an item that does not join is left for the next call, so
        one that does not join comes alone)."""
        if max_items < 1:
            raise ValueError(f"expected a batch of at least 1 item, got max_items={max_items}")
        with self._changed:
            self._changed.wait_for(lambda: bool(self._items))
            batch = [self._take()]
            if not joins(batch[0]):
                return batch
            while self._items and len(batch) < max_items and joins(self._items[0][0]):
                batch.append(self._take())
            return batch

    def _take(self) -> T:
        item, size = self._items.popleft()
        self._bytes -= size
        self._room.notify_all()
        return item

    @property
    def bytes(self) -> int:
        """Payload bytes queued now."""
        return self._bytes

    @property
    def peak_bytes(self) -> int:
        """The most payload bytes ever queued at once."""
        return self._peak_bytes

    def __len__(self) -> int:
        return len(self._items)
