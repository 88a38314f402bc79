"""`make demo` keeps its edge config: a zone the console applied (through the edge's real
command handler, which rewrites the file) survives the next run's derivation, with its version;
a changed configs/cameras.yaml starts again from it, the old file set aside."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitewatch.contract import messages as m
from sitewatch.edge.commands import apply_command
from sitewatch.edge.config.load import load_config
from tests.support.e2e_support import e2e_model

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "samples"))  # demo.py imports its siblings by name
import demo  # noqa: E402

DRAWN = {
    "id": "rest",
    "name": "休息区",
    "kind": "mask",
    "points": [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]],
}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(demo, "STATE", tmp_path / "demo")
    return tmp_path / "demo"


def _derive(base: Path, rtsp_port: int) -> Path:
    return demo.derive_config(base, None, rtsp_port, 18830, e2e_model())


def _apply_zone(path: Path) -> None:
    """The change the console sends, applied by the edge's own handler (it writes the file)."""
    config = load_config(path)
    camera = config.camera("cam-gate")
    cmd = m.ConfigCommand(
        request_id=uuid.uuid4(),
        site_id=config.site.id,
        camera_id="cam-gate",
        base_version=str(config.version),
        issued_by="operator",
        issued_at=datetime.now(UTC),
        zones=[
            *(m.ZoneSpec.model_validate(z.model_dump(mode="json")) for z in camera.zones),
            m.ZoneSpec.model_validate(DRAWN),
        ],
    )
    out = apply_command(config, path, cmd)
    assert out.applied, out.reason


def test_the_console_s_change_survives_the_next_run(state: Path, tmp_path: Path) -> None:
    base = tmp_path / "cameras.yaml"
    base.write_text((REPO / "configs" / "cameras.yaml").read_text(encoding="utf-8"))
    first = _derive(base, 8554)
    assert load_config(first).version == 1
    _apply_zone(first)
    assert load_config(first).version == 2

    again = _derive(base, 18554)  # the next `make demo`, the cameras on another port
    config = load_config(again)
    assert config.version == 2
    assert {z.id: z.name for z in config.camera("cam-gate").zones}["rest"] == "休息区"
    assert config.camera("cam-gate").detect.startswith("rtsp://127.0.0.1:18554/")
    assert config.mqtt.port == 18830
    assert not again.with_name("cameras.yaml.old").exists()

    # configs/cameras.yaml edited: the derived file starts again from it, the old one kept
    base.write_text(base.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    fresh = load_config(_derive(base, 8554))
    assert fresh.version == 1
    assert "rest" not in [z.id for z in fresh.camera("cam-gate").zones]
    old = load_config(state / "cameras.yaml.old")
    assert old.version == 2
