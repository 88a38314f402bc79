"""BoundedQueue.get_batch, the ingest worker's way to take messages: the oldest item, waiting
for one, then those already queued behind it while they join, never more than asked for."""

from __future__ import annotations

import threading

import pytest

from sitewatch.console.ingest.queue import BoundedQueue


def is_message(item: object) -> bool:
    return isinstance(item, int)  # ints stand for messages, strings for jobs and the stop mark


def test_a_batch_takes_what_is_queued_up_to_its_size_and_stops_at_what_does_not_join() -> None:
    q: BoundedQueue[object] = BoundedQueue(1000, 100)
    for item, size in [(1, 10), (2, 20), (3, 30), ("job", 0), (4, 40), ("stop", 0)]:
        q.put(item, size)
    assert q.get_batch(2, is_message) == [1, 2]
    assert q.bytes == 70
    assert q.get_batch(64, is_message) == [3]  # the job ends it
    assert q.get_batch(64, is_message) == ["job"]  # comes alone
    assert q.get_batch(64, is_message) == [4]
    assert q.get_batch(64, is_message) == ["stop"]
    assert (len(q), q.bytes) == (0, 0)


def test_a_batch_waits_for_the_first_item_only() -> None:
    q: BoundedQueue[object] = BoundedQueue(1000, 100)
    got: list[list[object]] = []
    taker = threading.Thread(target=lambda: got.append(q.get_batch(64, is_message)))
    taker.start()
    taker.join(0.2)
    assert taker.is_alive()  # nothing queued yet: it waits
    q.put(7, 1)
    taker.join(5.0)
    assert got == [[7]]


def test_a_batch_of_no_items_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 item, got max_items=0"):
        BoundedQueue[object](1000, 100).get_batch(0, is_message)
