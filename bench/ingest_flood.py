"""Console memory under a flood of QoS 0 messages: the peak RSS of a process running the
console's MQTT ingest while another client publishes N messages of 1 MiB at QoS 0.

    .venv/bin/python -m bench.ingest_flood [--messages 1500] [--size 1048576]

Not a test: a measurement, reported in bench/RESULTS.md ("Console ingest under a flood").
One real mosquitto; each mode runs a fresh console process (``--serve``: a migrated SQLite
file, an evidence folder, ``sitewatch.console.ingest.service.Ingest``), so its peak RSS
(``VmHWM``) is its own:

* **idle**: no flood (the console's resting size, the floor);
* **bounded**: the ingest as it ships (queue bound ``ingest_queue_bytes``, 64 MiB; QoS 0
  messages beyond it dropped and counted);
* **unbounded**: the same code with the bound set beyond the flood (1 TiB, a billion
  messages): the queue as it was before the bound.

The flood goes to evidence topics of one site, each message a new alert's 1 MiB file: the
costliest thing a message can ask of the worker (a file written and fsynced), so the worker
falls behind the network and the queue fills. Messages of another kind larger than 256 KiB
are refused on arrival whatever the bound (tested in tests/component/test_server_ingest_flood.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

HOST = "127.0.0.1"
MODES = ("idle", "bounded", "unbounded")


def serve(mode: str, port: int, folder: Path) -> None:
    """The console's ingest in this process; answers 'status' lines on stdin until EOF."""
    from sitewatch.console.events import EventHub
    from sitewatch.console.ingest.service import Ingest
    from sitewatch.console.settings import Settings
    from sitewatch.console.store.db import Database, migrate

    extra: dict[str, Any] = {}
    if mode == "unbounded":
        extra = {"ingest_queue_bytes": 1 << 40, "ingest_queue_messages": 10**9}
    settings = Settings(
        database_url=f"sqlite:///{folder / 'console.db'}",
        evidence_dir=folder / "evidence",
        mqtt_host=HOST,
        mqtt_port=port,
        mqtt_client_id=f"bench-{mode}-{uuid.uuid4().hex[:6]}",
        **extra,
    )
    db = Database(settings.database_url)
    migrate(db.engine)
    ingest = Ingest(settings, db, EventHub())
    ingest.start()
    assert ingest.wait_ready(20.0), "ingest did not subscribe in 20 s"
    print("ready", flush=True)
    for _ in sys.stdin:
        memory = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                memory[key] = int(value.split()[0]) / 1024  # kB -> MiB
        status = {
            "received": ingest.received,
            "handled": ingest.handled,
            "dropped": ingest.dropped,
            "rejected": ingest.rejected,
            "evicted": ingest.evidence_evicted,
            "queue_peak_mib": ingest.queue.peak_bytes / (1 << 20),
            "peak_rss_mib": memory["VmHWM"],
            "rss_mib": memory["VmRSS"],
        }
        print(json.dumps(status), flush=True)
    ingest.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if binary is None:
        raise SystemExit("the bench needs mosquitto: apt-get install mosquitto")
    port = free_port()
    config = folder / "mosquitto.conf"
    lines = [f"listener {port} {HOST}", "allow_anonymous true", "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")
    config.write_text("\n".join(lines) + "\n")
    log = (folder / "mosquitto.log").open("ab")
    broker = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return broker, port
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"mosquitto did not listen on {port}") from None
            time.sleep(0.05)


def flood(port: int, count: int, size: int) -> float:
    """Publish ``count`` QoS 0 messages of ``size`` bytes; seconds it took."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{uuid.uuid4().hex[:6]}")
    client.connect(HOST, port)
    client.loop_start()
    payload = os.urandom(size)
    started = time.perf_counter()
    for _ in range(count):
        topic = f"sitewatch/flood/evidence/{uuid.uuid4()}/clip.mp4"
        client.publish(topic, payload, qos=0).wait_for_publish(30)
    took = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return took


def run_mode(mode: str, port: int, count: int, size: int, folder: Path) -> dict[str, Any]:
    folder.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest_flood", "--serve", mode, "--port", str(port),
         "--folder", str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready", f"{mode}: the console did not start"

        def status() -> dict[str, Any]:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("status\n")
            child.stdin.flush()
            return dict(json.loads(child.stdout.readline()))

        sent = 0 if mode == "idle" else count
        took = flood(port, sent, size) if sent else 0.0
        deadline = time.monotonic() + 600
        now = status()
        while now["received"] < sent or now["handled"] + now["dropped"] < now["received"]:
            if time.monotonic() > deadline:
                raise SystemExit(f"{mode}: the console handled {now} in 600 s")
            time.sleep(0.2)
            now = status()
        return {"mode": mode, "sent": sent, "publish_s": took, **now}
    finally:
        child.stdin.close()
        child.wait(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per message")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="ingest-flood-") as tmp:
        root = Path(tmp)
        broker, port = start_broker(root)
        try:
            rows = [run_mode(mode, port, args.messages, args.size, root / mode) for mode in MODES]
        finally:
            broker.terminate()
            broker.wait(10)
    print(f"{args.messages} QoS 0 messages of {args.size} bytes on evidence topics\n")
    print(
        "| console | peak RSS MiB | RSS after MiB | queue peak MiB | received | dropped | "
        "handled | flood s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['peak_rss_mib']:.0f} | {r['rss_mib']:.0f} | "
            f"{r['queue_peak_mib']:.0f} | {r['received']} | {r['dropped']} | {r['handled']} | "
            f"{r['publish_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
