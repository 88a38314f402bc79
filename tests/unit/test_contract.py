"""The MQTT message contract: round trips, refusals that explain themselves, topics, docs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from paho.mqtt.client import topic_matches_sub
from pydantic import ValidationError

from sitewatch.contract import messages as m
from sitewatch.contract import schema

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
SHA = "ab" * 32


def alert(**changes: Any) -> m.AlertEvent:
    fields: dict[str, Any] = {
        "id": UUID("6f1c2d4e-0000-4000-8000-000000000001"),
        "seq": 0,
        "event": "start",
        "site_id": "north-yard",
        "camera_id": "gate_2",
        "rule": "no_helmet",
        "track_id": 17,
        "zone_id": "scaffold",
        "label": "head",
        "score": 0.81,
        "box": (0.1, 0.2, 0.3, 0.5),
        "started_at": T0,
        "last_seen_at": T0 + timedelta(seconds=3),
        "sent_at": T0 + timedelta(seconds=3),
        "evidence": [
            m.EvidenceFile(
                kind="snapshot", name="a1.jpg", sha256=SHA, size_bytes=5, content_type="image/jpeg"
            ),
            m.EvidenceFile(
                kind="clip",
                name="a1.mp4",
                sha256=SHA,
                size_bytes=9,
                content_type="video/mp4",
                duration_s=12.5,
            ),
        ],
        "config_version": "c7",
    }
    return m.AlertEvent(**(fields | changes))


SAMPLES: list[m.Message] = [
    alert(),
    alert(seq=3, event="end", ended_at=T0 + timedelta(seconds=9)),
    m.CameraStatus(
        site_id="s1",
        camera_id="c1",
        state="stalled",
        fps_in=0.0,
        fps_analysed=0.0,
        frames_dropped=4,
        reconnects=2,
        last_frame_at=None,
        error="no frames for 10 s",
        at=T0,
    ),
    m.EdgeStatus(
        site_id="s1",
        state="online",
        software_version="0.1.0",
        config_version="c7",
        started_at=T0,
        cameras=3,
        at=T0,
    ),
    m.EdgeStats(
        site_id="s1",
        at=T0,
        interval_s=60.0,
        cameras=[
            m.CameraStats(
                camera_id="c1",
                state="online",
                fps_in=25.0,
                fps_analysed=5.0,
                frames_dropped=1,
                reconnects=0,
            )
        ],
        batches=120,
        batch_size_mean=2.5,
        inference_ms_p50=11.0,
        inference_ms_p95=19.5,
        frames_dropped_stale=3,
        outbox_depth=0,
        disk_hours_left=None,
    ),
    m.ConfigCommand(
        request_id=UUID(int=7),
        site_id="s1",
        camera_id="c1",
        base_version="c7",
        issued_by="ana@example.com",
        issued_at=T0,
        zones=[
            m.ZoneSpec(id="z1", kind="helmet_required", points=[(0, 0), (1, 0), (1, 1)]),
        ],
        rules={"smoking": {"min_score": 0.5, "active_hours": [{"start": "07:00", "end": "18:00"}]}},
    ),
    m.ConfigResult(
        request_id=UUID(int=7), site_id="s1", status="refused", version="c7", reason="stale", at=T0
    ),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(message: m.Message) -> None:
    payload = m.encode(message)
    assert json.loads(payload)["schema"] == message.SCHEMA
    assert b": " not in payload  # compact
    assert m.decode(payload) == message
    assert m.decode(payload, type(message)) == message


def _alert_dict() -> dict[str, Any]:
    return dict(json.loads(m.encode(alert())))


def _edit(**changes: Any) -> bytes:
    data = _alert_dict()
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "expected_fragments"),
    [
        (b"\xff not json", ["not JSON", "one of sitewatch.alert/1"]),
        (b"[1, 2]", ["got schema None"]),
        (_edit(schema=KeyError), ["got schema None", "predates"]),
        (_edit(schema="sitewatch.bogus/1"), ["unknown message type sitewatch.bogus/1"]),
        (
            _edit(schema="sitewatch.alert/2"),
            ["expected sitewatch.alert/1 or older", "newer sitewatch.alert/2", "upgrade this"],
        ),
        (_edit(schema="sitewatch.alert/0"), ["no longer read", "upgrade the sender"]),
        (_edit(camera_id=KeyError), ["camera_id: Field required", "fix the sender"]),
        (_edit(colour="red"), ["colour: Extra inputs are not permitted", "'red'"]),
        (_edit(score=1.5), ["score: Input should be less than or equal to 1", "1.5"]),
        (_edit(started_at="2025-05-01T08:00:00"), ["started_at: Input should have timezone"]),
    ],
)
def test_decode_refuses_with_reasons(payload: bytes, expected_fragments: list[str]) -> None:
    with pytest.raises(m.ContractError) as caught:
        m.decode(payload)
    for fragment in expected_fragments:
        assert fragment in str(caught.value)


def test_decode_names_nested_field_paths() -> None:
    data = _alert_dict()
    data["evidence"][1]["sha256"] = "XYZ"
    with pytest.raises(m.ContractError, match=r"evidence\.1\.sha256: String should match"):
        m.decode(json.dumps(data).encode())


def test_decode_refuses_the_wrong_message_for_the_topic() -> None:
    with pytest.raises(m.ContractError) as caught:
        m.decode(m.encode(alert()), m.CameraStatus)
    assert "expected sitewatch.camera_status/1, got sitewatch.alert/1" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"seq": 1}, "seq is 0 exactly on 'start'"),
        ({"event": "update"}, "seq is 0 exactly on 'start'"),
        ({"seq": 2, "event": "end"}, "ended_at is set exactly on 'end'"),
        ({"ended_at": T0}, "ended_at is set exactly on 'end'"),
        ({"box": (0.5, 0.2, 0.3, 0.5)}, "x1 <= x2"),
        ({"last_seen_at": T0 - timedelta(seconds=1)}, "last_seen_at"),
        ({"site_id": "North Yard"}, "String should match pattern"),
        ({"site_id": "a/b"}, "String should match pattern"),
    ],
)
def test_alert_lifecycle_rules(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        alert(**changes)


def test_other_model_rules() -> None:
    with pytest.raises(ValidationError, match="duration_s is only for clips"):
        m.EvidenceFile(
            kind="snapshot",
            name="a.jpg",
            sha256=SHA,
            size_bytes=1,
            content_type="image/jpeg",
            duration_s=1.0,
        )
    with pytest.raises(ValidationError, match="String should match pattern"):
        m.EvidenceFile(
            kind="snapshot", name="../a.jpg", sha256=SHA, size_bytes=1, content_type="image/jpeg"
        )
    result: dict[str, Any] = {"request_id": UUID(int=1), "site_id": "s", "version": "v", "at": T0}
    with pytest.raises(ValidationError, match="reason is required when refused"):
        m.ConfigResult(status="refused", **result)
    with pytest.raises(ValidationError, match="reason is required when refused"):
        m.ConfigResult(status="applied", reason="why", **result)
    zone = m.ZoneSpec(id="z", kind="mask", points=[(0, 0), (1, 0), (0, 1)])
    with pytest.raises(ValidationError, match=r"repeated: \['z'\]"):
        m.ConfigCommand.model_validate(
            json.loads(m.encode(SAMPLES[5])) | {"zones": [zone.model_dump()] * 2}
        )
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        m.ZoneSpec(id="z", kind="mask", points=[(0, 0), (640, 0), (0, 1)])
    with pytest.raises(ValidationError, match="frozen"):
        alert().seq = 5  # type: ignore[misc]


def test_last_will_is_the_offline_twin() -> None:
    online = SAMPLES[3]
    assert isinstance(online, m.EdgeStatus)
    will = m.last_will(online)
    assert will.state == "offline"
    assert will.model_dump(exclude={"state"}) == online.model_dump(exclude={"state"})


def test_edge_status_time_zone_is_optional_and_checked() -> None:
    """Old edges (and old retained statuses) send no ``timezone``: they still parse, as None;
    a new edge's zone makes the round trip; a zone that is not an IANA name is refused."""
    with_zone = SAMPLES[3].model_copy(update={"timezone": "Asia/Shanghai"})
    assert m.decode(m.encode(with_zone), m.EdgeStatus).timezone == "Asia/Shanghai"
    old = json.loads(m.encode(SAMPLES[3]))
    del old["timezone"]
    assert m.decode(json.dumps(old).encode(), m.EdgeStatus) == SAMPLES[3]
    assert SAMPLES[3].timezone is None
    for bad in ("Mars/Olympus", "UTC+8", ""):
        with pytest.raises(m.ContractError, match="timezone"):
            m.decode(json.dumps(old | {"timezone": bad}).encode(), m.EdgeStatus)
    with pytest.raises(ValidationError, match="IANA time zone name such as Asia/Shanghai"):
        m.EdgeStatus.model_validate(old | {"timezone": "Mars/Olympus"})


@pytest.mark.parametrize("model", [m.CameraStatus, m.EdgeStatus])
def test_warnings_are_optional_coded_and_bounded(model: type[m.Message]) -> None:
    """An older edge sends no ``warnings`` (parsed as none) or plain strings (code ``other``);
    a warning makes the round trip with its code and params; a forged or broken one cannot push
    more than 8, text longer than 1000 characters, an odd code or param, or anything else."""
    sample = next(s for s in SAMPLES if isinstance(s, model))
    old = json.loads(m.encode(sample))
    del old["warnings"]
    assert m.decode(json.dumps(old).encode(), model) == sample
    plain = m.decode(json.dumps(old | {"warnings": ["turn tile_look off"]}).encode(), model)
    assert plain.warnings == [m.EdgeWarning(code="other", text="turn tile_look off")]
    said = [m.edge_warning("tile_look.model", model="m.onnx")]
    coded = model.model_validate(old | {"warnings": said})
    assert m.decode(m.encode(coded), model).warnings == said
    good = said[0].model_dump()
    for bad in (
        [good] * 9,
        ["x" * 1001],
        [""],
        [7],
        "one string",
        [{"html": "<b>"}],
        [good | {"code": "<b>x</b>"}],
        [good | {"params": {"<b>": "x"}}],
        [good | {"params": {"model": "m" * 201}}],
        [good | {"params": {f"p{i}": "x" for i in range(9)}}],
        [good | {"html": "<b>"}],
    ):
        with pytest.raises(m.ContractError, match="warnings"):
            m.decode(json.dumps(old | {"warnings": bad}).encode(), model)


def test_restricted_zone_is_an_added_word_in_version_1() -> None:
    """The third rule and its zone kind widen the word lists of the same schema versions: its
    messages make the round trip as alert/1 and config_command/1; a word no version has is
    still refused, naming the field."""
    entered = alert(rule="restricted_zone", label="person", zone_id="crane-load")
    assert m.decode(m.encode(entered), m.AlertEvent) == entered
    assert entered.schema_id == "sitewatch.alert/1"
    zone = {"id": "crane-load", "kind": "restricted", "points": [[0, 0], [1, 0], [1, 1]]}
    sample = next(s for s in SAMPLES if isinstance(s, m.ConfigCommand))
    cmd = sample.model_copy(update={"zones": [m.ZoneSpec.model_validate(zone)]})
    assert m.decode(m.encode(cmd), m.ConfigCommand).zones[0].kind == "restricted"
    payload = json.loads(m.encode(entered)) | {"rule": "no_vest"}
    with pytest.raises(m.ContractError, match="rule"):
        m.decode(json.dumps(payload).encode(), m.AlertEvent)


def test_topics() -> None:
    assert m.alerts("sitewatch", "north") == "sitewatch/north/alerts"
    assert m.camera_status("acme/sw", "north", "gate") == "acme/sw/north/cameras/gate/status"
    assert m.edge_status("sitewatch", "north") == "sitewatch/north/edge/status"
    assert m.stats("sitewatch", "north") == "sitewatch/north/stats"
    assert m.config_command("sitewatch", "north") == "sitewatch/north/config/set"
    assert m.config_result("sitewatch", "north") == "sitewatch/north/config/result"
    assert m.alerts("sitewatch", m.ANY) == "sitewatch/+/alerts"
    for bad_site in ("", "a/b", "a+", "#"):
        with pytest.raises(ValueError, match="one non-empty topic level"):
            m.alerts("sitewatch", bad_site)
    with pytest.raises(ValueError, match="topic prefix"):
        m.stats("sitewatch/", "north")


def test_console_subscriptions_cover_what_edges_publish_and_nothing_else() -> None:
    filters = m.console_subscriptions("sw")
    published = [
        m.alerts("sw", "s1"),
        m.camera_status("sw", "s1", "c1"),
        m.edge_status("sw", "s1"),
        m.stats("sw", "s1"),
        m.config_result("sw", "s1"),
        m.camera_config("sw", "s1", "c1"),
        m.camera_snapshot("sw", "s1", "c1"),
    ]
    for topic in published:
        assert sum(topic_matches_sub(f, topic) for f in filters) == 1, topic
    assert not any(topic_matches_sub(f, m.config_command("sw", "s1")) for f in filters)
    assert {m.model_for(t.schema) for t in m.topic_table()} == set(m.MESSAGES)


def test_json_schemas_in_docs_are_up_to_date() -> None:
    stale = schema.stale(REPO / "docs" / "schemas")
    assert stale == [], (
        f"run `python -m sitewatch.contract.schema --out docs/schemas`; stale: {stale}"
    )


def test_stale_schema_check_notices_changes(tmp_path: Path) -> None:
    schema.write(tmp_path)
    assert schema.stale(tmp_path) == []
    path = tmp_path / "sitewatch.alert.v1.schema.json"
    path.write_text(path.read_text().replace('"seq"', '"sequence"'))
    (tmp_path / "sitewatch.alert.v0.schema.json").write_text("{}")
    (tmp_path / "README.md").unlink()
    assert schema.stale(tmp_path) == [
        "README.md",
        "sitewatch.alert.v0.schema.json",
        "sitewatch.alert.v1.schema.json",
    ]
    assert schema.main(["--out", str(tmp_path), "--check"]) == 1
    assert schema.main(["--out", str(tmp_path)]) == 0
    assert schema.stale(tmp_path) == []


@pytest.mark.parametrize("model", m.MESSAGES, ids=lambda t: t.__name__)
def test_json_schema_requires_the_schema_field_and_forbids_extras(model: type[m.Message]) -> None:
    doc = json.loads((REPO / "docs" / "schemas" / schema.file_name(model)).read_text())
    assert doc["required"][0] == "schema"
    assert doc["properties"]["schema"]["const"] == model.SCHEMA
    assert doc["additionalProperties"] is False
    described = [name for name, prop in doc["properties"].items() if "description" in prop]
    assert described == list(doc["properties"])


BOW_TIE = [(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)]


@pytest.mark.parametrize(
    ("points", "words"),
    [
        (BOW_TIE, "edge 1 (corner 1 to 2) crossing edge 3 (corner 3 to 4), a bow-tie"),
        ([(0.1, 0.1), (0.9, 0.1), (0.1, 0.1), (0.5, 0.9)], "corner 3 at the same place as"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "lie on one line"),
        ([(0.1, 0.1), (0.9, 0.1), (0.5, 0.1), (0.5, 0.9)], "edge 1 (corner 1 to 2) crossing"),
    ],
)
def test_a_zone_that_is_no_simple_polygon_is_refused_with_the_geometry_words(
    points: list[tuple[float, float]], words: str
) -> None:
    """The contract's ZoneSpec refuses with exactly the text of core.geometry.polygon_problem
    (the edge's config and the console's editor say the same)."""
    from sitewatch.core.geometry import polygon_problem

    problem = polygon_problem(points)
    assert problem is not None and words in problem
    with pytest.raises(ValidationError) as err:
        m.ZoneSpec(id="z", kind="helmet_required", points=points)
    assert problem in str(err.value)
    payload = json.dumps(
        {"id": "z", "kind": "helmet_required", "points": [list(p) for p in points]}
    )
    with pytest.raises(ValidationError, match="polygon"):
        m.ZoneSpec.model_validate_json(payload)


def test_a_simple_polygon_in_any_direction_is_a_zone() -> None:
    square = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
    concave = [(0.1, 0.1), (0.9, 0.1), (0.5, 0.5), (0.9, 0.9), (0.1, 0.9)]
    for points in (square, square[::-1], concave, concave[::-1]):
        assert m.ZoneSpec(id="z", kind="mask", points=points).points == points


def test_polygon_faults_have_codes_and_fields_for_the_editor_to_translate() -> None:
    """The console's editor mirrors these codes (its own zh-CN/en words, same fields)."""
    from sitewatch.core.geometry import POLYGON_MESSAGES, polygon_fault

    assert set(POLYGON_MESSAGES) == {"repeated_corner", "no_area", "edges_cross"}
    assert polygon_fault(BOW_TIE) == ("edges_cross", {"a": 1, "a_next": 2, "b": 3, "b_next": 4})
    assert polygon_fault([(0.2, 0.2), (0.8, 0.2), (0.8, 0.2), (0.2, 0.8)]) == (
        "repeated_corner",
        {"first": 2, "second": 3, "x": 0.8, "y": 0.2},
    )
    assert polygon_fault([(0.0, 0.0), (0.001, 0.0), (0.0, 0.001)]) == ("no_area", {})
    closing = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.5, 0.1)]  # back onto edge 1
    fault = polygon_fault(closing)
    assert fault is not None and fault[0] == "edges_cross"
