"""The headers of an edge's video upload (sitewatch.console.video.upload.Upload): what is
refused with which status, and that the text checked from the body's SHA-256 is the contract's
``video_upload_text`` over the body (literal headers, no services)."""

from __future__ import annotations

import hashlib
from uuid import UUID

import pytest

from sitewatch.console.domain.errors import ConsoleError
from sitewatch.console.video.upload import Upload
from sitewatch.contract.signing import video_upload_text

RID = UUID("0b7e0c1e-4a53-4c7e-9f3e-2f1c5d9a8b70")
GOOD = {
    "x-sitewatch-site": "north",
    "x-sitewatch-part": "range",
    "x-sitewatch-seq": "0",
    "x-sitewatch-time": "1764921600.25",  # Unix seconds, the edge's clock
    "x-sitewatch-end": "1764921660.5",
    "x-sitewatch-sent": "1764921700.125",
    "x-sitewatch-signature": "c2ln",
}


def test_the_checked_text_is_the_contract_s_over_the_body() -> None:
    body = b"\x00\x00\x00\x18ftypisom" + bytes(100)
    up = Upload.of(GOOD)
    assert (up.part, up.time, up.end, up.sent) == (
        "range",
        1764921600.25,
        1764921660.5,
        1764921700.125,
    )
    expected = video_upload_text("north", str(RID), "range", 0, up.time, up.end, up.sent, body)
    assert up.text(RID, hashlib.sha256(body).hexdigest()) == expected


def test_end_belongs_to_range_parts_only() -> None:
    up = Upload.of({**GOOD, "x-sitewatch-part": "media", "x-sitewatch-seq": "7"})
    assert (up.part, up.seq, up.end) == ("media", 7, None)


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"x-sitewatch-signature": ""}, 401, "X-SiteWatch-Signature"),
        ({"x-sitewatch-site": ""}, 400, "X-SiteWatch-Site"),
        ({"x-sitewatch-part": "audio"}, 400, "'audio'"),
        ({"x-sitewatch-seq": "1.5"}, 400, "X-SiteWatch-Seq as a finite number, got '1.5'"),
        ({"x-sitewatch-time": "nan"}, 400, "X-SiteWatch-Time as a finite number"),
        ({"x-sitewatch-end": "inf"}, 400, "X-SiteWatch-End"),
        ({"x-sitewatch-end": ""}, 400, "X-SiteWatch-End"),
    ],
)
def test_a_bad_header_is_refused_saying_which(
    change: dict[str, str], status: int, says: str
) -> None:
    with pytest.raises(ConsoleError) as caught:
        Upload.of({**GOOD, **change})
    assert (caught.value.status, caught.value.code) == (status, "video.upload_refused")
    assert says in str(caught.value)
