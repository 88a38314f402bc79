"""The console's reading of the recording-index topic: one retained index per camera and
stream; a stream other than detect or record, or a malformed camera id, is refused before
anything is stored."""

from __future__ import annotations

import pytest

from sitewatch.console.ingest.topics import TopicError, route
from sitewatch.contract import messages as m


def test_each_stream_has_its_own_topic_and_route() -> None:
    for stream in ("detect", "record"):
        got = route("sitewatch", m.recording_index("sitewatch", "north", "gate", stream))
        assert (got.kind, got.site_id, got.camera_id, got.name) == (
            "recording_index", "north", "gate", stream,
        )  # fmt: skip


@pytest.mark.parametrize(
    "topic",
    [
        "sitewatch/north/cameras/gate/recordings/main",
        "sitewatch/north/cameras/gate/recordings",
        "sitewatch/north/cameras/Gate!/recordings/detect",
    ],
)
def test_a_forged_or_malformed_recordings_topic_is_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        route("sitewatch", topic)


def test_the_contract_refuses_an_unknown_stream() -> None:
    with pytest.raises(ValueError, match="'detect' or 'record'"):
        m.recording_index("sitewatch", "north", "gate", "main")
