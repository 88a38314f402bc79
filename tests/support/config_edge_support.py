"""A real edge for the console's config tests: gst-rtsp-server cameras, the real model, an
``InProcessWorker`` on a config written by ``e2e_support.write_config``, registered at the
served console with its key and taking the console's signed commands.

    from tests.support.config_edge_support import ConfigEdge
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract.signing import load_or_create_key, public_key_text
from tests.support.browser_support import Served
from tests.support.compose import BARE_HEAD, compose_clip
from tests.support.e2e_support import SITE, WHOLE, InProcessWorker, camera, write_config, zone
from tests.support.mqtt_broker import Mosquitto
from tests.support.rtsp_server import RtspServer, _check_gstreamer

CAMERA = "cam-gate"
FIRST_ZONES = [zone("gate", "helmet_required", WHOLE)]


class ConfigEdge:
    """The edge of ``site``: its config file, an RTSP server (mounts ``gate`` and ``yard``)
    and, while running, its worker. Version 1 runs camera :data:`CAMERA` on ``gate``."""

    def __init__(self, folder: Path, mqtt: Mosquitto, served: Served, site: str = SITE) -> None:
        _check_gstreamer()
        self.site = site
        assert served.state.signing_key is not None, "the console started without its key"
        self.folder, self.port = folder, mqtt.port
        self.console_key = public_key_text(served.state.signing_key)
        edge_key = load_or_create_key(folder / "edge.key")  # where write_config keeps it
        with served.state.db.session() as s:
            s.add(
                BrokerAccount(
                    username=f"edge-{site}", role="edge", site_id=site,
                    password_hash="$7$unused", public_key=public_key_text(edge_key),
                )
            )  # fmt: skip
        clip = compose_clip(BARE_HEAD, 12.0, (2.0, 8.0))
        self.rtsp = RtspServer({"gate": clip, "yard": clip})
        self.rtsp.start()
        self.config = self.write_version_1()
        self.worker: InProcessWorker | None = None

    def write_version_1(self) -> Path:
        cameras: list[dict[str, Any]] = [camera(CAMERA, self.rtsp.url("gate"), FIRST_ZONES)]
        path = write_config(self.folder, self.port, cameras, console_public_key=self.console_key)
        if self.site != SITE:  # another site of the same console: no test sees another's rows
            data = yaml.safe_load(path.read_text())
            data["site"]["id"] = self.site
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def start(self) -> None:
        self.worker = InProcessWorker(self.config)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop()
        self.rtsp.stop()
