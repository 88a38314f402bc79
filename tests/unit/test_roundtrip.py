"""The config editor keeps an operator's file as it was, whatever its comments say."""

from __future__ import annotations

import yaml

from sitewatch.edge.config.roundtrip import edit_text, set_value

TEXT = """\
version: 1
cameras:
  # a comment that ends like a key:
  - id: cam-a
    detect: rtsp://h/a
    zones:
      # the zones of this camera:
      - id: gate
        points: [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
  - id: cam-b
    detect: rtsp://h/b
"""


def test_a_comment_ending_in_a_colon_before_a_list_keeps_its_layout() -> None:
    def edit(doc: object) -> None:
        set_value(doc, "version", 2)  # type: ignore[arg-type]
        set_value(doc["cameras"][1], "detect_fps", 1)  # type: ignore[index]

    out = edit_text(TEXT, edit)
    assert yaml.safe_load(out)["cameras"][1] == {
        "id": "cam-b",
        "detect": "rtsp://h/b",
        "detect_fps": 1,
    }
    assert out == TEXT.replace("version: 1", "version: 2") + "    detect_fps: 1\n"
