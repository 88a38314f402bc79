"""Evidence work runs at a low CPU priority; detection and everything else keep theirs.

Real threads and real child processes: Linux keeps a nice value per thread, and a process
started from a thread inherits that thread's value (what ``sitewatch.edge.publish.delivery`` relies
on).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.publish.delivery import EVIDENCE_NICE, AlertDelivery, lower_priority
from sitewatch.edge.publish.outbox import Outbox


def _thread_nice(tid: int) -> int:
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of stat: nice


def test_a_lowered_thread_starts_low_priority_processes_and_leaves_the_others_alone() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, object] = {}

    def evidence_thread() -> None:
        seen["lowered"] = lower_priority()
        seen["thread"] = _thread_nice(threading.get_native_id())
        seen["child"] = subprocess.run(["nice"], capture_output=True, text=True).stdout.strip()

    t = threading.Thread(target=evidence_thread)
    t.start()
    t.join(10)
    assert seen == {"lowered": True, "thread": EVIDENCE_NICE, "child": str(EVIDENCE_NICE)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    child = subprocess.run(["nice"], capture_output=True, text=True).stdout.strip()
    assert child == str(before), "a process started from another thread must keep its priority"


def test_the_clip_thread_of_alert_delivery_runs_at_the_evidence_priority(tmp_path: Path) -> None:
    main = threading.main_thread().native_id or 0
    before = _thread_nice(main)
    delivery = AlertDelivery(
        site_id="s1",
        prefix="sitewatch",
        outbox=Outbox(tmp_path / "outbox.db"),
        store=EvidenceIndex(tmp_path / "index.db"),
        evidence_dir=tmp_path,
        tz="UTC",
        pre_roll_s=1.0,
        post_roll_s=1.0,
        rings={},
        config_version=lambda: "v1",
    ).start()
    try:
        clips = next(t for t in threading.enumerate() if t.name == "clips")
        deadline = time.monotonic() + 5.0
        while _thread_nice(clips.native_id or 0) != EVIDENCE_NICE:
            assert time.monotonic() < deadline, "the clip thread never lowered its priority"
            time.sleep(0.01)
        assert _thread_nice(main) == before, "only the clip thread is lowered"
    finally:
        delivery.stop(timeout_s=5.0)
