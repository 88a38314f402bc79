"""Open-alert pins and legal holds in the file beside a ring (real files in a tmp folder)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from sitewatch.edge.video.holds import (
    HOLDS_FILE,
    PIN_MAX_AGE_S,
    RECHECK_S,
    HoldsFileError,
    HoldStore,
)


def test_pins_and_holds_survive_a_new_store_on_the_folder(tmp_path: Path) -> None:
    store = HoldStore(tmp_path)
    assert not (tmp_path / HOLDS_FILE).exists() and store.spans() == []
    store.pin("alert-1", 100.0, 130.0)
    store.hold("case-17", 200.0, 260.0, "police request 17")
    again = HoldStore(tmp_path)
    assert sorted((h.id, h.kind, h.start, h.end) for h in again.spans()) == [
        ("alert-1", "pin", 100.0, 130.0),
        ("case-17", "legal", 200.0, 260.0),
    ]
    # segments [start, end] that overlap a hold, and those that only touch one
    assert again.covers(128.0, 130.0) and again.covers(250.0, 300.0)
    assert not again.covers(130.0, 132.0) and not again.covers(90.0, 100.0)
    again.unpin("alert-1")
    store.unpin("alert-1")  # already gone: nothing to do
    assert [h.id for h in store.spans()] == ["case-17"]  # one store sees the other's change
    store.release("case-17")
    assert HoldStore(tmp_path).spans() == []
    assert json.loads((tmp_path / HOLDS_FILE).read_text()) == {"holds": []}


def test_unpin_never_ends_a_legal_hold_of_the_same_id(tmp_path: Path) -> None:
    store = HoldStore(tmp_path)
    store.hold("x", 0.0, 10.0, "court order 3")
    store.unpin("x")
    assert [h.kind for h in store.spans()] == ["legal"]


@pytest.mark.parametrize(
    ("start", "end", "reason", "said"),
    [(10.0, 10.0, "order", "end > start"), (0.0, 10.0, "  ", "needs a reason")],
)
def test_a_hold_needs_a_range_and_a_reason(
    tmp_path: Path, start: float, end: float, reason: str, said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        HoldStore(tmp_path).hold("h", start, end, reason)


def test_releasing_an_unknown_hold_names_those_there_are(tmp_path: Path) -> None:
    store = HoldStore(tmp_path)
    store.hold("case-1", 0.0, 1.0, "order 1")
    store.pin("alert-9", 0.0, 1.0)
    with pytest.raises(KeyError, match=r"no legal hold 'alert-9' .*holds: \['case-1'\]"):
        store.release("alert-9")


def test_old_pins_expire_holds_never(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = HoldStore(tmp_path)
    store.pin("alert-1", 0.0, 10.0)
    store.hold("case-1", 0.0, 10.0, "order 1")
    now = time.time()
    assert store.expire(now) == []
    with caplog.at_level(logging.WARNING):
        gone = store.expire(now + PIN_MAX_AGE_S + 1.0)
    assert [h.id for h in gone] == ["alert-1"] and "never cut" in caplog.text
    assert [h.id for h in HoldStore(tmp_path).spans()] == ["case-1"]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"holds": [{"id": "x"}]}',
        '{"holds": [{"id": "x", "kind": "y", "start": 0, "end": 1}]}',
    ],
)
def test_an_unreadable_file_holds_everything_until_repaired(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / HOLDS_FILE).write_text(text)
    with caplog.at_level(logging.ERROR):
        store = HoldStore(tmp_path)
    assert "deletes no segment until it is repaired or removed" in caplog.text
    assert store.broken and store.covers(0.0, 1.0) and store.covers(1e12, 1e12 + 1)
    store.pin("alert-1", 0.0, 1.0)  # an alert's start never fails: all is kept anyway
    with pytest.raises(HoldsFileError, match="repair or remove it"):
        store.hold("case-1", 0.0, 1.0, "order 1")
    assert (tmp_path / HOLDS_FILE).read_text() == text  # never overwritten
    (tmp_path / HOLDS_FILE).unlink()
    assert not store.broken and not store.covers(0.0, 1.0)


def test_a_hold_written_by_another_process_is_seen_within_a_recheck(tmp_path: Path) -> None:
    store = HoldStore(tmp_path)
    assert not store.covers(0.0, 1.0)
    hold = {"id": "case-2", "kind": "legal", "start": 0.0, "end": 5.0, "reason": "order 2"}
    (tmp_path / HOLDS_FILE).write_text(json.dumps({"holds": [hold]}))
    time.sleep(RECHECK_S + 0.1)
    assert store.covers(0.0, 1.0)


def test_when_the_file_cannot_be_written_a_pin_holds_in_memory_and_a_hold_fails(
    tmp_path: Path,
) -> None:
    """A full disk is not made here: a file where the ring's folder should be makes the
    atomic write fail with an OSError the same way (the e2e disk-full test has the real one)."""
    folder = tmp_path / "ring"
    store = HoldStore(folder)
    folder.write_text("not a folder")
    store.pin("alert-1", 0.0, 10.0)
    assert store.covers(5.0, 6.0)
    with pytest.raises(OSError):
        store.hold("case-1", 20.0, 30.0, "order 1")
    assert not store.covers(25.0, 26.0)
