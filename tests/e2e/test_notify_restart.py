"""A console process killed (SIGKILL) in the middle of a burst of notifications, restarted:
every notification reaches the receiver, none is lost, and none comes twice except those of
the one message whose answer the dead console never read (at least once: the receiver
dedupes them on their ids, as the webhook's docs say).

Real parts: ``sitewatch server`` as a subprocess on a SQLite file, a real local webhook
receiver that checks the signature. The alerts are written into the console's database by
the test, as the MQTT ingest would store them (the ingest is not what is under test).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from sitewatch.console.settings import Settings
from sitewatch.console.store.db import Database
from sitewatch.console.store.models import Notification, NotifyRoute
from tests.support.console_support import seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers

REPO = Path(__file__).resolve().parents[2]
ALERTS = 200


@dataclass
class Seed:
    """What seed_alert needs: settings and something with ``db``."""

    settings: Settings
    db: Database

    @property
    def state(self) -> Seed:
        return self


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    # a slow receiver: a message is recorded, then answered 50 ms later, so a kill often
    # falls between the two (the console's at-least-once window)
    yield from serve_receivers(Receivers(delay_s=0.05))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_console(tmp_path: Path, settings: Settings, log_name: str) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": settings.database_url,
        "SITEWATCH_EVIDENCE_DIR": str(settings.evidence_dir),
        "SITEWATCH_SIGNING_KEY_FILE": str(settings.signing_key_file),
        "SITEWATCH_MQTT_HOST": "",
        "SITEWATCH_NOTIFY_POLL_S": "0.05",
        "SITEWATCH_NOTIFY_LEASE_S": "2",
    }
    log = (tmp_path / log_name).open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, sitewatch.cli; sys.exit(sitewatch.cli.main())",
            "server",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:  # migrations, then listening
        assert proc.poll() is None, (tmp_path / log_name).read_text()[-2000:]
        assert time.monotonic() < deadline, "the console did not start within 60 s"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)


def test_a_console_killed_mid_burst_loses_and_repeats_no_notification(
    tmp_path: Path, rx: Receivers
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
        evidence_dir=tmp_path / "evidence",
        signing_key_file=tmp_path / "console.key",
        mqtt_host=None,
    )
    first = start_console(tmp_path, settings, "first.log")
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            s.add(
                NotifyRoute(
                    name="town platform",
                    channel="webhook",
                    sites=["*"],
                    rate_per_min=600,
                    target={"url": f"{rx.base}/webhook", "secret": rx.webhook_secret},
                )
            )
        seed = Seed(settings, db)
        stop = threading.Event()

        def burst() -> None:  # 200 alerts over about 5 s, on while the console dies
            for i in range(ALERTS):
                now = datetime.now(UTC)
                seed_alert(seed, "north", f"cam{i:03d}", started_at=now, received_at=now)
                time.sleep(0.025)
            stop.set()

        writer = threading.Thread(target=burst)
        writer.start()
        while len(rx.accepted) < 5:  # mid-burst: some messages out, most alerts still to come
            assert first.poll() is None and not stop.is_set(), "burst over before the kill"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        before = len(rx.accepted)
        writer.join(timeout=60)
        second = start_console(tmp_path, settings, "second.log")
        try:
            deadline = time.monotonic() + 90
            while True:
                with db.session() as s:
                    sent = s.scalar(select(func.count()).where(Notification.state == "sent"))
                if sent == ALERTS:
                    break
                assert time.monotonic() < deadline, f"only {sent} of {ALERTS} sent after restart"
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        db.close()
    messages = [r.body for r in rx.accepted]
    got = Counter(item["id"] for m in messages for item in m["notifications"])
    assert len(got) == ALERTS, f"lost: {ALERTS - len(got)} notifications never arrived"
    twice = {i for i, n in got.items() if n > 1}
    in_flight = [
        {item["id"] for item in m["notifications"]} for m in messages[:before]
    ]  # what the first console sent: only its last message may lack a recorded answer
    assert max(got.values()) <= 2
    assert not twice or any(twice <= ids for ids in in_flight[-1:]), (
        f"{sorted(twice)} came twice but were not all in the message the console died sending"
    )
    print(f"messages {len(messages)} ({before} before the kill); sent twice: {len(twice)}")
    assert not rx.refused
